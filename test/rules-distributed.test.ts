// The distributed rules stage on real Kafka with the real default pack:
// `trailwatch rules` workers (separate processes of the built CLI) decode on
// whichever worker owns a raw partition, re-key by group value through the
// repartition topic and count on one worker per group value. One worker and
// three raise the same alert ids as `trailwatch replay` over the same lines,
// and a worker killed with SIGKILL mid-stream and restarted leaves every
// expected id on the alerts topic and no other.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { cliEnv, distributedConfig, kafkaBus, uniqueName } from './distributed-helpers.js';
import { attackLines, rawEvents, YEAR } from './distributed-traffic.js';
import { runCli, startCli, tempDir, waitFor } from './helpers.js';
import { setupKafka } from '../src/bus/kafka-setup.js';
import { topicNames } from '../src/bus/types.js';
import { silentLogger } from '../src/log.js';
import type { Alert, TwEvent } from '../src/event.js';
import type { Config } from '../src/config.js';

const tmp = tempDir('tw-rules-dist-');
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) c.kill('SIGKILL');
  tmp.cleanup();
});

async function replayIds(file: string): Promise<string[]> {
  const r = await runCli(['replay', file, '--alerts-only', '--year', String(YEAR)]);
  assert.equal(r.code, 0, r.stderr);
  return [...new Set(r.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as Alert).event.id))].sort();
}

async function startWorker(config: Config): Promise<ChildProcess> {
  const { child } = await startCli(['rules', '--http-port', '0'], { env: cliEnv(config), timeoutMs: 60_000 });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function stopWorker(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** Every alert record on the topic (duplicates of an id included). */
async function collectAlerts(config: Config) {
  const bus = kafkaBus(config);
  const ids: string[] = [];
  const rules: string[] = [];
  const sub = await bus.subscribe<Alert>({
    topics: [topicNames(config.topic_prefix).alerts],
    group: `collector-${uniqueName()}`,
    handler: async (b) => {
      for (const m of b) {
        ids.push(m.value.event.id);
        rules.push(m.value.rule.id);
      }
    },
  });
  return {
    ids,
    rules,
    async close() {
      await sub.stop();
      await bus.close();
    },
  };
}

async function publishRaw(config: Config, events: TwEvent[]): Promise<void> {
  const bus = kafkaBus(config);
  try {
    for (let i = 0; i < events.length; i += 200) {
      await bus.publish(
        topicNames(config.topic_prefix).raw,
        events.slice(i, i + 200).map((e) => ({ key: e.host!.name!, value: e })),
      );
    }
    await bus.drain();
  } finally {
    await bus.close();
  }
}

/** Wait until the topic holds every expected id, then a little longer for anything unexpected. */
async function settle(ids: string[], expected: string[], what: string): Promise<string[]> {
  await waitFor(() => expected.every((id) => ids.includes(id)), { timeoutMs: 180_000, intervalMs: 500, what: `${what} (have ${new Set(ids).size} of ${expected.length})` });
  await new Promise((r) => setTimeout(r, 5000));
  return [...new Set(ids)].sort();
}

async function runWorkers(workers: number, file: string, events: TwEvent[], expected: string[]): Promise<string[]> {
  const config = distributedConfig(uniqueName(`tw-rd${workers}`));
  await setupKafka(config, silentLogger());
  const running: ChildProcess[] = [];
  for (let w = 0; w < workers; w++) running.push(await startWorker(config));
  const alerts = await collectAlerts(config);
  try {
    await publishRaw(config, structuredClone(events));
    return await settle(alerts.ids, expected, `alerts from ${workers} workers over ${file}`);
  } finally {
    await alerts.close();
    for (const c of running) await stopWorker(c);
  }
}

describe('rules > distributed > real pack on Kafka', () => {
  it('one worker and three workers raise the same, non-empty set of alert ids as replay', async () => {
    const file = join(tmp.dir, 'attack.log');
    const lines = attackLines(2);
    writeFileSync(file, lines.join('\n') + '\n');
    const expected = await replayIds(file);
    assert.ok(expected.length >= 20, `the traffic raises alerts (${expected.length})`);
    const events = rawEvents(file, lines);
    const one = await runWorkers(1, file, events, expected);
    const three = await runWorkers(3, file, events, expected);
    assert.deepEqual(one, expected);
    assert.deepEqual(three, expected);
  });
});

describe('rules > distributed > crash', () => {
  it('a worker killed with SIGKILL mid-stream and restarted: every expected alert id, and no other, reaches the alerts topic', async () => {
    const file = join(tmp.dir, 'crash.log');
    const lines = attackLines(3, 11);
    writeFileSync(file, lines.join('\n') + '\n');
    const expected = await replayIds(file);
    const events = rawEvents(file, lines);
    const config = distributedConfig(uniqueName('tw-rdk'));
    await setupKafka(config, silentLogger());
    const workers = [await startWorker(config), await startWorker(config), await startWorker(config)];
    const alerts = await collectAlerts(config);
    try {
      const third = Math.floor(events.length / 3);
      await publishRaw(config, events.slice(0, third));
      // Mid-stream: some alerts are out, the rest of the input is still coming.
      await waitFor(() => alerts.ids.length > 0, { timeoutMs: 120_000, what: 'first alerts' });
      await stopWorker(workers[0], 'SIGKILL');
      await publishRaw(config, events.slice(third, 2 * third));
      workers[0] = await startWorker(config);
      await publishRaw(config, events.slice(2 * third));
      const got = await settle(alerts.ids, expected, 'alerts after the crash');
      assert.deepEqual(got, expected, 'no expected id missing and no unexpected id');
      assert.ok(alerts.ids.length >= expected.length);
    } finally {
      await alerts.close();
      for (const c of workers) await stopWorker(c);
    }
  });
});

describe('rules > distributed > hot reload', () => {
  it('a rule file added while `trailwatch rules` runs is loaded by both stages and raises its alerts; a broken one is refused', async () => {
    const config = distributedConfig(uniqueName('tw-rdr'));
    await setupKafka(config, silentLogger());
    const dir = join(tmp.dir, 'local-rules');
    mkdirSync(dir, { recursive: true });
    const { child, logs } = await startCli(['rules', '--http-port', '0'], { env: { ...cliEnv(config), TRAILWATCH_RULES__DIRS: JSON.stringify([dir]) }, timeoutMs: 60_000 });
    children.add(child);
    const alerts = await collectAlerts(config);
    try {
      const reloads = () => logs().split('\n').filter((l) => l.includes('"rules reloaded"')).length;
      // One stateless rule (decode stage) and one grouped by a field no shipped rule groups by (a new route for detect).
      writeFileSync(
        join(dir, 'local.yaml'),
        `- rule: local-toor
  name: Login as toor
  kind: match
  severity: low
  condition: { field: user.name, equals: toor }
- rule: local-per-port
  name: Failures per source port
  kind: threshold
  severity: low
  condition: { field: event.outcome, equals: failure }
  group_by: [source.port]
  threshold: 3
  window: 10m
`,
      );
      await waitFor(() => reloads() >= 2, { timeoutMs: 20_000, what: 'both stages reloading' });
      assert.match(logs(), /"stage":"rules.decode".*"rules reloaded"|"rules reloaded".*"stage":"rules.decode"/);
      assert.match(logs(), /"stage":"rules.detect".*"rules reloaded"|"rules reloaded".*"stage":"rules.detect"/);
      writeFileSync(join(dir, 'broken.yaml'), '- rule: x\n  kind: nonsense\n');
      await waitFor(() => /rule change refused/.test(logs()), { timeoutMs: 20_000, what: 'the broken file refused' });
      const lines = ['toor', 'admin', 'admin'].map((user, i) => `<38>Mar  3 10:00:0${i} web1 sshd[77${i}]: Failed password for ${user} from 192.0.2.77 port 50123 ssh2`);
      await publishRaw(config, rawEvents(join(tmp.dir, 'reload.log'), lines));
      await waitFor(() => {
        return alerts.rules.includes('local-toor') && alerts.rules.includes('local-per-port') ? true : undefined;
      }, { timeoutMs: 60_000, what: `alerts of the reloaded rules (have ${alerts.rules.join(', ')})` });
    } finally {
      await alerts.close();
      await stopWorker(child);
    }
  });
});
