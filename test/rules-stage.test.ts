import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../src/config.js';
import type { Alert, TwEvent } from '../src/event.js';
import { alertId } from '../src/rules/alert.js';
import { createLogger } from '../src/log.js';
import { startPipeline } from '../src/pipeline.js';
import { tempDir, waitFor } from './helpers.js';
import { ev, failedLogin, goodLogin, T0 } from './rules/helpers.js';

const tmp = tempDir('tw-stage-');
after(() => tmp.cleanup());

function alertsOnDisk(dataDir: string): TwEvent[] {
  const dir = join(dataDir, 'alerts');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) =>
    readFileSync(join(dir, f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as TwEvent),
  );
}

describe('rules > stage > embedded run', () => {
  it('raises alerts live (alerts topic, data dir, console), collates, and hot-reloads user rules', async () => {
    const dataDir = join(tmp.dir, 'data');
    const userRules = join(tmp.dir, 'rules');
    mkdirSync(userRules, { recursive: true });
    const logFile = join(tmp.dir, 'run.log');
    const config = parseConfig({ data_dir: dataDir, journal: { port: 0 }, rules: { dirs: [userRules], gateway_addresses: ['10.0.9.10'], managed_accounts: ['ops'] } });
    const running = await startPipeline(config, { log: createLogger({ level: 'info', destination: logFile }), http: false });
    const publish = (events: TwEvent[]) => running.ctx.bus.publish(running.ctx.topics.raw, events.map((e) => ({ key: null, value: e })));
    try {
      await publish([
        ...Array.from({ length: 6 }, (_, i) => failedLogin(T0 + i * 1000, '203.0.113.9', 'admin')),
        goodLogin(T0 + 9000, '192.0.2.44', 'ops'),
        goodLogin(T0 + 9500, '10.0.9.10', 'ops'),
      ]);
      const rules = (await waitFor(() => {
        const ids = alertsOnDisk(dataDir).map((a) => a.rule!.id);
        return ids.includes('managed-account-direct-login') && ids.includes('ssh-failed-login-burst') ? ids : undefined;
      }, { what: 'alerts in the data dir' })) as string[];
      assert.equal(rules.filter((r) => r === 'managed-account-direct-login').length, 1, 'the login via the gateway is not an alert');
      const log = readFileSync(logFile, 'utf8');
      assert.match(log, /"level":40.*"rule":"ssh-failed-login-burst".*"group":\{"source.ip":"203.0.113.9"\}/);

      writeFileSync(join(userRules, 'local.yaml'), '- rule: local-root\n  name: Local root\n  kind: match\n  severity: low\n  tags: [T1078]\n  condition: { field: user.name, equals: toor }\n');
      await waitFor(() => /"msg":"rules reloaded"/.test(readFileSync(logFile, 'utf8')), { what: 'reload' });
      writeFileSync(join(userRules, 'broken.yaml'), '- rule: x\n  kind: nonsense\n');
      await waitFor(() => /rule change refused/.test(readFileSync(logFile, 'utf8')), { what: 'refusal' });
      assert.match(readFileSync(logFile, 'utf8'), /broken\.yaml: \[0\]\.kind/);
      await publish([ev(T0 + 20_000, { 'user.name': 'toor' })]);
      await waitFor(() => alertsOnDisk(dataDir).some((a) => a.rule!.id === 'local-root'), { what: 'alert from the reloaded rule (the bad file did not unload it)' });
    } finally {
      await running.stop();
    }
  });
});

describe('rules > stage > alerts the gateway asks for', () => {
  it('raises the alert a gateway event asks for, with an id trailwatch computes; a record calling itself an alert is only an event', async () => {
    const dataDir = join(tmp.dir, 'data-pass');
    const config = parseConfig({ data_dir: dataDir, rules: { default_pack: false } });
    const running = await startPipeline(config, { log: createLogger({ level: 'silent' }), http: false, stages: ['rules'] });
    const seen: { topic: string; value: TwEvent }[] = [];
    const sub = await running.ctx.bus.subscribe({
      topics: [running.ctx.topics.events, running.ctx.topics.alerts],
      group: 'probe',
      handler: async (batch, topic) => void seen.push(...batch.map((m) => ({ topic, value: m.value }))),
    });
    try {
      const at = new Date(T0).toISOString();
      const blocked = {
        '@timestamp': at,
        event: { id: '3b1e9d2c-7a4f-4c1e-9b2a-5d6e7f8a9b0c', kind: 'event', dataset: 'trailwatch.gateway', action: 'gateway-command-blocked' },
        host: { name: 'db1' },
        trailwatch: { session: { id: 's1', operator: 'olga' }, gateway_alert: { rule: 'gateway-command-rm-rf', name: 'Prohibited command', severity: 'high' } },
      } as TwEvent;
      const forged = {
        '@timestamp': at,
        event: { id: 'decoy-id', kind: 'alert', severity: 73 },
        rule: { id: 'ssh-brute-force', name: 'decoy' },
        trailwatch: { alert: { severity: 'high', group: {}, events: [], count: 1, first_seen: at, last_seen: at } },
      } as TwEvent;
      const badRequest = { '@timestamp': at, event: { id: 'e3', kind: 'event' }, trailwatch: { gateway_alert: { rule: 'ssh-brute-force', name: 'x', severity: 'high' } } } as TwEvent;
      await running.ctx.bus.publish(running.ctx.topics.raw, [blocked, forged, badRequest, ev(T0, { message: 'plain line' })].map((value) => ({ key: null, value })));
      await running.ctx.bus.drain();
      const alerts = seen.filter((s) => s.topic === running.ctx.topics.alerts).map((s) => s.value as Alert);
      assert.equal(alerts.length, 1, 'only the gateway event with a well-formed request raises an alert');
      const a = alerts[0];
      assert.equal(a.rule.id, 'gateway-command-rm-rf');
      assert.equal(a.event.id, alertId('gateway:gateway-command-rm-rf', 'gateway', blocked.event.id));
      assert.deepEqual(a.trailwatch.alert.events, [blocked.event.id]);
      assert.deepEqual(a.trailwatch.alert.group, { 'trailwatch.session.operator': 'olga', 'host.name': 'db1' });
      assert.equal(a.trailwatch.gateway_alert, undefined);
      const events = seen.filter((s) => s.topic === running.ctx.topics.events).map((s) => s.value);
      assert.equal(events.length, 4, 'every record is an event, the forged alert too');
      const f = events.find((e) => e.event.id === 'decoy-id')!;
      assert.equal(f.event.kind, 'event');
      assert.ok(f.tags?.includes('alert_kind_refused'));
    } finally {
      await sub.stop();
      await running.stop();
    }
  });
});
