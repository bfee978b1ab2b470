import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryBus } from '../src/bus/memory.js';
import { topicNames } from '../src/bus/types.js';
import { parseConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { baseEvent, type Alert, type TwEvent } from '../src/event.js';
import { Jobs, SILENT_HOST_RULE } from '../src/jobs.js';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { startPipeline } from '../src/pipeline.js';
import { runCli, tempDir, waitFor } from './helpers.js';
import { Receiver, SECRET, verifyStandardWebhook } from './webhook-helpers.js';

const MIN = 60_000;

function hostEvent(host: string): TwEvent {
  const e = baseEvent(new Date().toISOString());
  e.host = { name: host };
  return e;
}

function login(account: string, outcome: 'success' | 'failure', verdict: 'gateway' | 'direct' | undefined, ip: string): TwEvent {
  const e = baseEvent(new Date().toISOString());
  e.host = { name: 'db-1' };
  e.event.category = ['authentication'];
  e.event.type = ['start'];
  e.event.outcome = outcome;
  e.user = { name: account };
  e.source = { ip };
  if (verdict) e.trailwatch = { collation: { verdict } };
  return e;
}

function setup(dir: string, raw: Record<string, unknown> = {}) {
  const config = parseConfig({ data_dir: dir, ...raw });
  const bus = new MemoryBus();
  const topics = topicNames();
  let now = Date.parse('2025-03-01T12:00:00Z');
  const jobs = new Jobs({ config, bus, topics, log: silentLogger(), metrics: new Metrics({ defaults: false }), now: () => now });
  const alerts: Alert[] = [];
  const events: TwEvent[] = [];
  void bus.subscribe({ topics: [topics.alerts], group: 't', handler: async (b) => void alerts.push(...(b.map((m) => m.value) as Alert[])) });
  void bus.subscribe<TwEvent>({ topics: [topics.events], group: 't', handler: async (b) => void events.push(...b.map((m) => m.value)) });
  return { config, bus, jobs, alerts, events, advance: (ms: number) => (now += ms), now: () => now };
}

describe('jobs > silent hosts', () => {
  const tmp = tempDir('tw-jobs-');
  after(() => tmp.cleanup());

  it('alerts once per silence, per-glob thresholds, ignored hosts never', async () => {
    const t = setup(join(tmp.dir, 'silent'), {
      jobs: { silent_hosts: { threshold: '30m', thresholds: [{ hosts: ['db-*'], after: '10m' }], ignore: ['laptop-*'] } },
    });
    t.jobs.tracker.observe([hostEvent('web-1'), hostEvent('db-1'), hostEvent('laptop-7')], t.now());
    t.advance(5 * MIN);
    assert.equal((await t.jobs.silentHosts()).length, 0);
    t.advance(10 * MIN);
    const first = await t.jobs.silentHosts();
    assert.deepEqual(first.map((a) => a.host?.name), ['db-1']);
    assert.equal(first[0].rule.id, SILENT_HOST_RULE);
    assert.equal(first[0].trailwatch.alert.severity, 'high');
    assert.match(first[0].message!, /db-1 has sent no logs for 15m \(threshold 10m\)/);
    t.advance(MIN);
    assert.equal((await t.jobs.silentHosts()).length, 0, 'no second alert for the same silence');
    t.advance(20 * MIN);
    assert.deepEqual((await t.jobs.silentHosts()).map((a) => a.host?.name), ['web-1']);
    // db-1 speaks again, then falls silent again: a new silence, a new alert with a new id.
    t.jobs.tracker.observe([hostEvent('db-1')], t.now());
    t.advance(11 * MIN);
    const again = await t.jobs.silentHosts();
    assert.deepEqual(again.map((a) => a.host?.name), ['db-1']);
    assert.notEqual(again[0].event.id, first[0].event.id);
    await t.bus.drain();
    assert.equal(t.alerts.length, 3, 'alerts go to the alerts topic');
    assert.ok(!t.alerts.some((a) => a.host?.name === 'laptop-7'));
  });

  it('remembers hosts across a restart (state under data_dir/jobs)', async () => {
    const dir = join(tmp.dir, 'persist');
    const a = setup(dir);
    a.jobs.tracker.observe([hostEvent('web-9')], a.now());
    await a.jobs.tracker.save();
    const b = setup(dir);
    await b.jobs.tracker.load();
    b.advance(31 * MIN);
    assert.deepEqual((await b.jobs.silentHosts()).map((x) => x.host?.name), ['web-9']);
  });

  it('runs on its cron schedule in the embedded pipeline', async () => {
    const dir = join(tmp.dir, 'cron');
    const config = parseConfig({
      data_dir: dir,
      jobs: { silent_hosts: { schedule: '* * * * * *', threshold: '1s' }, collation_report: { enabled: false }, retention: { enabled: false } },
    });
    const r = await startPipeline(config, { log: silentLogger(), stages: ['jobs'], http: false, bus: new MemoryBus() });
    try {
      const alerts: Alert[] = [];
      await r.ctx.bus.subscribe({ topics: [r.ctx.topics.alerts], group: 't', handler: async (b) => void alerts.push(...(b.map((m) => m.value) as Alert[])) });
      await r.ctx.bus.publish(r.ctx.topics.events, [{ key: 'h', value: hostEvent('quiet-host') }]);
      await waitFor(() => alerts.length >= 1, { timeoutMs: 10_000, what: 'a scheduled silent-host alert' });
      assert.equal(alerts[0].host?.name, 'quiet-host');
      const health = r.stages[0].health!() as unknown as { schedules: { name: string; next: string }[] };
      assert.equal(health.schedules[0].name, 'trailwatch-silent-hosts');
    } finally {
      await r.stop();
    }
  });
});

describe('jobs > collation report', () => {
  const tmp = tempDir('tw-jobs-report-');
  let rx: Receiver;
  after(async () => {
    await rx?.close();
    tmp.cleanup();
  });

  it('counts gateway vs direct logins, failures and top sources per account; writes, publishes and delivers it', async () => {
    rx = await new Receiver().start();
    rx.script = [{ status: 503 }];
    const dir = join(tmp.dir, 'r');
    const t = setup(dir, {
      rules: { managed_accounts: ['deploy'] },
      sinks: { webhook: { allow_private: true, retry: { initial: '10ms' }, receivers: [{ name: 'reports', url: rx.url(), secrets: [SECRET] }] } },
      jobs: { collation_report: { receiver: 'reports', top_sources: 2 } },
    });
    const evs = [
      login('root', 'success', 'gateway', '10.0.0.5'),
      login('root', 'success', 'gateway', '10.0.0.5'),
      login('root', 'success', 'direct', '198.51.100.4'),
      login('deploy', 'failure', undefined, '203.0.113.9'),
      login('deploy', 'failure', undefined, '203.0.113.9'),
      login('deploy', 'failure', undefined, '203.0.113.10'),
      login('deploy', 'failure', undefined, '203.0.113.11'),
      login('random-user', 'failure', undefined, '203.0.113.9'), // not managed: not in the report
    ];
    t.jobs.tracker.observe(evs, t.now() - 2 * 3_600_000);
    t.jobs.tracker.observe([login('root', 'success', 'direct', '198.51.100.4')], t.now() - 30 * 3_600_000); // outside the window
    const rep = await t.jobs.collationReport();
    assert.deepEqual(
      rep.accounts.map((a) => [a.account, a.gateway, a.direct, a.failed]),
      [
        ['root', 2, 1, 0],
        ['deploy', 0, 0, 4],
      ],
    );
    assert.deepEqual(rep.accounts[1].top_sources, [
      { ip: '203.0.113.9', count: 2 },
      { ip: '203.0.113.10', count: 1 },
    ]);
    assert.deepEqual(rep.totals, { gateway: 2, direct: 1, unknown: 0, failed: 4 });
    const files = readdirSync(join(dir, 'reports'));
    assert.equal(files.length, 1);
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'reports', files[0]), 'utf8')), rep);
    await t.bus.drain();
    const state = t.events.find((e) => e.event.kind === 'state');
    assert.deepEqual(state?.trailwatch?.report as unknown, rep);
    assert.equal(rx.delivered.length, 1);
    assert.equal(rx.requests.length, 2, 'retried after the 503');
    assert.ok(verifyStandardWebhook(SECRET, rx.delivered[0].headers, rx.delivered[0].body));
    assert.equal(JSON.parse(rx.delivered[0].body).type, 'trailwatch.report.collation');
  });
});

describe('jobs > retention and config', () => {
  const tmp = tempDir('tw-jobs-ret-');
  after(() => tmp.cleanup());

  it('removes dated NDJSON files older than retention_days, nothing else', async () => {
    const dir = join(tmp.dir, 'ret');
    const today = '2025-03-01';
    const files = ['events/events-2025-01-01.ndjson', 'events/events-2025-01-01.2.ndjson', `events/events-${today}.ndjson`, 'events/events-2025-02-25.ndjson', 'alerts/alerts-2024-12-31.ndjson', 'dlq/webhook-2025-01-02.ndjson', 'events/notes.txt'];
    for (const f of files) {
      mkdirSync(join(dir, f, '..'), { recursive: true });
      writeFileSync(join(dir, f), '{}\n');
    }
    const t = setup(dir, { sinks: { file: { retention_days: 7 } } });
    const removed = (await t.jobs.retention()).sort();
    assert.deepEqual(removed, ['alerts/alerts-2024-12-31.ndjson', 'dlq/webhook-2025-01-02.ndjson', 'events/events-2025-01-01.2.ndjson', 'events/events-2025-01-01.ndjson']);
    for (const f of [`events/events-${today}.ndjson`, 'events/events-2025-02-25.ndjson', 'events/notes.txt']) assert.ok(existsSync(join(dir, f)), f);
  });

  it('refuses a bad cron expression at load with the field path', () => {
    assert.throws(
      () => parseConfig({ jobs: { collation_report: { schedule: '0 25 * * *' } } }),
      (err: unknown) => err instanceof ConfigError && /jobs\.collation_report\.schedule: invalid cron expression "0 25 \* \* \*": hour/.test(err.issues.join('\n')),
    );
    assert.throws(() => parseConfig({ jobs: { collation_report: { receiver: 'nobody' } } }), /jobs\.collation_report\.receiver: no receiver named "nobody"/);
  });

  it('trailwatch jobs run NAME runs one job and prints the result', async () => {
    const dir = join(tmp.dir, 'cli');
    mkdirSync(join(dir, 'events'), { recursive: true });
    writeFileSync(join(dir, 'events', 'events-2000-01-01.ndjson'), '{}\n');
    const r = await runCli(['jobs', 'run', 'retention'], { env: { TRAILWATCH_DATA_DIR: dir } });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), ['events/events-2000-01-01.ndjson']);
    const bad = await runCli(['jobs', 'run', 'nope'], { env: { TRAILWATCH_DATA_DIR: dir } });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown job "nope"/);
  });
});
