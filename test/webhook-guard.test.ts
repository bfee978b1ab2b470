import { describe, it, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/config.js';
import type { TwEvent } from '../src/event.js';
import { createLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { startPipeline, type Running } from '../src/pipeline.js';
import { RECEIVER_GONE_RULE } from '../src/sinks/webhook.js';
import { classifyAddress, addressAllowed, checkHost } from '../src/sinks/webhook/ssrf.js';
import { tempDir, waitFor } from './helpers.js';
import { makeAlert, publish, Receiver, SECRET, startSink, verifyStandardWebhook } from './webhook-helpers.js';

function allFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? allFiles(join(dir, e.name)) : [join(dir, e.name)]));
}

describe('sinks > webhook > ssrf guard', () => {
  it('classifies link-local, metadata, loopback, private and public addresses', () => {
    assert.equal(classifyAddress('169.254.169.254'), 'metadata');
    assert.equal(classifyAddress('fd00:ec2::254'), 'metadata');
    assert.equal(classifyAddress('169.254.10.1'), 'link-local');
    assert.equal(classifyAddress('fe80::1'), 'link-local');
    assert.equal(classifyAddress('127.0.0.1'), 'loopback');
    assert.equal(classifyAddress('::ffff:127.0.0.1'), 'loopback');
    assert.equal(classifyAddress('::ffff:a9fe:a9fe'), 'metadata');
    assert.equal(classifyAddress('10.1.2.3'), 'private');
    assert.equal(classifyAddress('fd12::1'), 'private');
    assert.equal(classifyAddress('0.0.0.0'), 'forbidden');
    assert.equal(classifyAddress('93.184.216.34'), 'public');
    const strict = { allowPrivate: false, allowLinkLocal: false };
    const priv = { allowPrivate: true, allowLinkLocal: false };
    assert.ok(!addressAllowed('127.0.0.1', strict) && addressAllowed('127.0.0.1', priv));
    assert.ok(!addressAllowed('169.254.169.254', priv), 'allow_private does not open metadata');
    assert.throws(() => checkHost('metadata.google.internal', priv), /refused/);
    assert.throws(() => checkHost('[fe80::1]', priv), /link-local/);
  });

  const tmp = tempDir('tw-webhook-guard-');
  const running: Running[] = [];
  const receivers: Receiver[] = [];
  afterEach(async () => {
    for (const r of running.splice(0)) await r.stop().catch(() => {});
  });
  after(async () => {
    for (const r of receivers) await r.close();
    tmp.cleanup();
  });

  it('refuses a loopback receiver unless allow_private, without sending anything', async () => {
    const rx = await new Receiver().start();
    receivers.push(rx);
    const r = await startSink(join(tmp.dir, 'ssrf'), { allow_private: false, receivers: [{ name: 'soc', url: rx.url(), secrets: [SECRET] }], route: { receiver: 'soc', group_wait: '50ms' } });
    running.push(r);
    const dead: TwEvent[] = [];
    await r.ctx.bus.subscribe({ topics: [r.ctx.topics.dlq], group: 't', handler: async (b) => void dead.push(...b.map((m) => m.value)) });
    await publish(r, [makeAlert()]);
    await waitFor(() => dead.length === 1, { what: 'dead letter' });
    assert.match(String(dead[0].event.reason), /refused to connect to 127\.0\.0\.1 \(loopback address\).*allow_private/);
    assert.equal(rx.requests.length, 0);
  });

  it('410 disables the receiver and raises an alert through the other routes', async () => {
    const gone = await new Receiver().start();
    const other = await new Receiver().start();
    receivers.push(gone, other);
    gone.otherwise = { status: 410, body: 'channel_is_archived' };
    const metrics = new Metrics({ defaults: false });
    const r = await startSink(
      join(tmp.dir, 'gone'),
      {
        receivers: [
          { name: 'old', url: gone.url(), secrets: [SECRET] },
          { name: 'soc', url: other.url(), secrets: [SECRET] },
        ],
        route: { receiver: 'soc', group_wait: '50ms', group_interval: '100ms', routes: [{ receiver: 'old', matchers: ['rule.id=ssh-brute-force'] }] },
      },
      metrics,
    );
    running.push(r);
    await publish(r, [makeAlert()]);
    await waitFor(() => other.delivered.length === 1, { what: 'the receiver-gone alert' });
    const b = JSON.parse(other.delivered[0].body);
    assert.equal(b.data.alerts[0].rule.id, RECEIVER_GONE_RULE);
    assert.deepEqual(b.data.alerts[0].group, { 'webhook.receiver': 'old' });
    assert.equal(gone.requests.length, 1, '410 is not retried');
    // Later alerts for the disabled receiver go straight to the DLQ.
    await publish(r, [makeAlert({ group: { 'source.ip': '192.0.2.200' } })]);
    await waitFor(async () => (await metrics.value('trailwatch_webhook_deliveries_total', { receiver: 'old', outcome: 'disabled' })) === 1);
    assert.equal(gone.requests.length, 1);
    assert.equal(r.stages[0].health!().disabled_receivers instanceof Array, true);
    assert.deepEqual(r.stages[0].health!().disabled_receivers, ['old']);
  });

  it('keeps secrets out of logs, errors, the DLQ and state files', async () => {
    const slack = await new Receiver().start();
    const pd = await new Receiver().start();
    receivers.push(slack, pd);
    const slackToken = 'XoXbSeCrEtToKeN123456';
    const routingKey = 'R0UTINGKEYsecret0123456789abcdef';
    slack.otherwise = { status: 500, body: 'rollup_error' };
    // A receiver that echoes the request body in its error (PagerDuty's body carries the routing key).
    pd.otherwise = { status: 400, body: `invalid event: {"routing_key":"${routingKey}"}` };
    const dir = join(tmp.dir, 'secrets');
    const logFile = join(dir, 'log.ndjson');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    const config = loadConfig({
      env: {},
      overrides: {
        data_dir: dir,
        sinks: {
          webhook: {
            allow_private: true,
            receivers: [
              { name: 'chat', type: 'slack', url: slack.url(`/services/T000/B000/${slackToken}`) },
              { name: 'pd', type: 'pagerduty', url: pd.url('/v2/enqueue'), routing_key: routingKey },
              { name: 'soc', url: 'http://127.0.0.1:1/h', secrets: [SECRET] },
            ],
            route: { receiver: 'soc', group_wait: '20ms', routes: [{ receiver: 'chat', continue: true }, { receiver: 'pd' }] },
            retry: { attempts: 2, initial: '10ms', max: '10ms' },
          },
        },
      },
    });
    const log = createLogger({ level: 'trace', destination: logFile });
    const r = await startPipeline(config, { log, stages: ['sink.webhook'], http: false });
    running.push(r);
    const dead: TwEvent[] = [];
    await r.ctx.bus.subscribe({ topics: [r.ctx.topics.dlq], group: 't', handler: async (b) => void dead.push(...b.map((m) => m.value)) });
    await publish(r, [makeAlert()]);
    await waitFor(() => dead.length === 2, { what: 'both dead letters' });
    log.info({ config }, 'config as a careless caller might log it');
    await r.stop();
    running.length = 0;
    const everything = [JSON.stringify(dead), JSON.stringify(config), String(config.sinks.webhook.receivers[0].url), ...allFiles(dir).map((f) => readFileSync(f, 'utf8'))].join('\n');
    assert.match(everything, /answered 400/, 'the PagerDuty failure was recorded');
    for (const s of [slackToken, routingKey, SECRET.slice(6)]) assert.ok(!everything.includes(s), `secret leaked: ${s.slice(0, 4)}…`);
    assert.equal(pd.requests.length, 1, '400 is not retried');
    assert.equal(JSON.parse(pd.requests[0].body).routing_key, routingKey, 'the receiver itself got the key');
  });
});

describe('sinks > webhook > quick start', () => {
  const tmp = tempDir('tw-webhook-qs-');
  let rx: Receiver;
  let r: Running | undefined;
  after(async () => {
    await r?.stop();
    await rx?.close();
    tmp.cleanup();
  });

  it('with only TRAILWATCH_WEBHOOK_URL and _SECRET, a burst becomes one signed alert even if the first attempt fails', async () => {
    rx = await new Receiver().start();
    rx.script = [{ status: 500 }];
    const config = loadConfig({
      env: {
        TRAILWATCH_WEBHOOK_URL: rx.url('/trailwatch'),
        TRAILWATCH_WEBHOOK_SECRET: SECRET,
        TRAILWATCH_DATA_DIR: tmp.dir,
        TRAILWATCH_HTTP__PORT: '0',
        TRAILWATCH_HTTP__HOST: '127.0.0.1',
        // The receiver runs on loopback, which the SSRF guard refuses by default.
        TRAILWATCH_SINKS__WEBHOOK__ALLOW_PRIVATE: 'true',
      },
    });
    r = await startPipeline(config, { log: createLogger({ level: 'silent' }) });
    assert.ok(r.stages.some((s) => s.name === 'sink.webhook'), 'the quick start enables the webhook sink');
    // Stand-in for the rule engine: the alerts a burst of failed logins raises.
    const burst = Array.from({ length: 4 }, (_, i) => makeAlert({ count: 5 + i }));
    await publish(r, burst);
    await waitFor(() => rx.delivered.length === 1, { timeoutMs: 20_000, what: 'the signed alert' });
    await new Promise((res) => setTimeout(res, 1500));
    assert.equal(rx.delivered.length, 1);
    assert.equal(rx.requests.length, 2);
    const q = rx.delivered[0];
    assert.ok(verifyStandardWebhook(SECRET, q.headers, q.body));
    assert.equal(JSON.parse(q.body).data.alert_count, 4);
  });
});
