import { describe, it, after, afterEach, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Alert, TwEvent } from '../src/event.js';
import { Metrics } from '../src/metrics.js';
import type { Running } from '../src/pipeline.js';
import { Secret } from '../src/sinks/webhook/secret.js';
import { sign, signedHeaders } from '../src/sinks/webhook/sign.js';
import { tempDir, waitFor } from './helpers.js';
import { makeAlert, publish, Receiver, SECRET, SECRET2, startSink, verifyStandardWebhook } from './webhook-helpers.js';

const FAST = { group_wait: '100ms', group_interval: '200ms' };

function body(req: { body: string }) {
  return JSON.parse(req.body) as { type: string; data: { alerts: { id: string; count: number; link?: string }[]; alert_count: number; repeat: boolean } };
}

describe('sinks > webhook > standard webhooks signature', () => {
  it('matches the published spec test vector', () => {
    const sig = sign('msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}', new Secret(SECRET));
    assert.equal(sig, 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('signs with every secret during rotation, and an independent verifier accepts each', () => {
    const h = signedHeaders('msg_x', '{"a":1}', [new Secret(SECRET2), new Secret(SECRET)]);
    assert.equal(h['webhook-signature'].split(' ').length, 2);
    assert.ok(verifyStandardWebhook(SECRET, h, '{"a":1}'));
    assert.ok(verifyStandardWebhook(SECRET2, h, '{"a":1}'));
    assert.ok(!verifyStandardWebhook(SECRET, h, '{"a":2}'));
  });
});

describe('sinks > webhook > delivery', () => {
  const tmp = tempDir('tw-webhook-');
  let rx: Receiver;
  const running: Running[] = [];
  before(async () => {
    rx = await new Receiver().start();
  });
  after(async () => {
    for (const r of running) await r.stop().catch(() => {});
    await rx.close();
    tmp.cleanup();
  });
  afterEach(async () => {
    for (const r of running.splice(0)) await r.stop().catch(() => {});
  });
  const reset = () => {
    rx.requests.length = 0;
    rx.script = [];
    rx.otherwise = { status: 200, body: 'ok' };
  };

  it('retries 500, 429 and 503 honouring Retry-After (seconds and HTTP-date), then succeeds once', async () => {
    reset();
    rx.script = [
      { status: 500 },
      { status: 429, headers: { 'retry-after': '1' } },
      { status: 503, headers: { 'retry-after': new Date(Date.now() + 4000).toUTCString() } },
    ];
    const metrics = new Metrics({ defaults: false });
    const r = await startSink(
      join(tmp.dir, 'retry'),
      { receivers: [{ name: 'soc', url: rx.url(), secrets: [SECRET, SECRET2] }], route: { receiver: 'soc', ...FAST }, retry: { attempts: 5, initial: '20ms', max: '50ms' } },
      metrics,
    );
    running.push(r);
    await publish(r, [makeAlert()]);
    await waitFor(() => rx.delivered.length === 1, { what: 'delivery after retries' });
    assert.deepEqual(rx.requests.map((q) => q.status), [500, 429, 503, 200]);
    // Same webhook-id on every attempt (an idempotency key); each attempt signed afresh.
    assert.equal(new Set(rx.requests.map((q) => q.headers['webhook-id'])).size, 1);
    for (const q of rx.requests) {
      assert.ok(verifyStandardWebhook(SECRET, q.headers, q.body), 'signed with the current secret');
      assert.ok(verifyStandardWebhook(SECRET2, q.headers, q.body), 'and the rotated one');
    }
    // Retry-After: 1 s after the 429; the HTTP-date asked for ~2 s after the 503 (second resolution).
    assert.ok(rx.requests[2].at - rx.requests[1].at >= 950, `429 wait ${rx.requests[2].at - rx.requests[1].at}`);
    assert.ok(rx.requests[3].at - rx.requests[2].at >= 800, `503 wait ${rx.requests[3].at - rx.requests[2].at}`);
    await waitFor(async () => (await metrics.value('trailwatch_webhook_deliveries_total', { outcome: 'success' })) === 1);
    assert.equal(await metrics.value('trailwatch_webhook_deliveries_total', { receiver: 'soc', outcome: 'retry' }), 3);
    const b = body(rx.delivered[0]);
    assert.equal(b.type, 'trailwatch.alert');
    assert.equal(b.data.alerts[0].count, 5);
    assert.match(await metrics.text(), /trailwatch_webhook_delivery_duration_seconds_count\{route="soc",receiver="soc"\} 4/);
  });

  it('merges a burst in one group into one notification, other groups apart', async () => {
    reset();
    const r = await startSink(join(tmp.dir, 'group'), { receivers: [{ name: 'soc', url: rx.url(), secrets: [SECRET] }], route: { receiver: 'soc', group_wait: '300ms', group_interval: '10s' } });
    running.push(r);
    const burst = Array.from({ length: 5 }, () => makeAlert({ group: { 'source.ip': '198.51.100.7' } }));
    await publish(r, burst.slice(0, 3));
    await publish(r, [makeAlert({ group: { 'source.ip': '192.0.2.1' } })]);
    await publish(r, burst.slice(3));
    await waitFor(() => rx.delivered.length === 2, { what: 'two group notifications' });
    await new Promise((res) => setTimeout(res, 400));
    assert.equal(rx.requests.length, 2);
    const sizes = rx.delivered.map((q) => body(q).data.alert_count).sort();
    assert.deepEqual(sizes, [1, 5]);
  });

  it('repeats alerts still firing only every repeat_interval, not every group_interval', async () => {
    reset();
    const r = await startSink(join(tmp.dir, 'repeat'), {
      receivers: [{ name: 'soc', url: rx.url(), secrets: [SECRET] }],
      route: { receiver: 'soc', group_wait: '50ms', group_interval: '200ms', repeat_interval: '1s' },
    });
    running.push(r);
    const a = makeAlert({ id: 'still-firing' });
    const start = Date.now();
    // The rules keep re-sending the same alert id (count growing) for ~1.6 s.
    for (let i = 0; i < 16; i++) {
      await publish(r, [{ ...a, trailwatch: { ...a.trailwatch, alert: { ...a.trailwatch.alert, count: 5 + i } } }]);
      await new Promise((res) => setTimeout(res, 100));
    }
    const elapsed = Date.now() - start;
    const n = rx.delivered.length;
    assert.ok(n >= 2, `expected a repeat, got ${n}`);
    assert.ok(n <= Math.floor(elapsed / 1000) + 1, `${n} notifications in ${elapsed} ms exceeds one per repeat_interval`);
    assert.equal(body(rx.delivered[0]).data.repeat, false);
    assert.equal(body(rx.delivered[1]).data.repeat, true);
    assert.ok(rx.delivered[1].at - rx.delivered[0].at >= 950, 'repeat after repeat_interval');
    assert.ok(body(rx.delivered[1]).data.alerts[0].count > 5, 'a repeat carries the latest count');
  });

  it('a group gone quiet for resolve_timeout resolves: PagerDuty closes the incident (same dedup_key), only receivers with send_resolved hear of it', async () => {
    reset();
    const r = await startSink(join(tmp.dir, 'resolve'), {
      receivers: [
        { name: 'pd', type: 'pagerduty', url: rx.url('/v2/enqueue'), routing_key: 'R'.repeat(32), send_resolved: true },
        { name: 'soc', url: rx.url('/soc'), secrets: [SECRET] },
      ],
      route: { receiver: 'soc', group_wait: '50ms', group_interval: '200ms', routes: [{ receiver: 'pd', continue: true }, { receiver: 'soc' }] },
      resolve_timeout: '1s',
    });
    running.push(r);
    await publish(r, [makeAlert({ id: 'quiet-later' })]);
    await waitFor(() => rx.delivered.some((q) => q.path === '/v2/enqueue' && JSON.parse(q.body).event_action === 'resolve'), { timeoutMs: 10_000, what: 'the PagerDuty resolve' });
    const pd = rx.delivered.filter((q) => q.path === '/v2/enqueue').map((q) => JSON.parse(q.body));
    assert.deepEqual(pd.map((b) => b.event_action), ['trigger', 'resolve']);
    assert.equal(pd[1].dedup_key, pd[0].dedup_key, 'the resolve closes the incident the trigger opened');
    assert.equal(pd[1].routing_key, 'R'.repeat(32));
    assert.ok(rx.delivered[rx.delivered.length - 1].at - rx.delivered[0].at >= 950, 'not before resolve_timeout');
    await new Promise((res) => setTimeout(res, 800));
    const soc = rx.delivered.filter((q) => q.path === '/soc').map((q) => body(q));
    assert.deepEqual(soc.map((b) => b.type), ['trailwatch.alert'], 'no resolved message to a receiver without send_resolved');
    assert.equal(rx.delivered.filter((q) => q.path === '/v2/enqueue').length, 2, 'resolved once');
  });

  it('dead-letters what never got through: DLQ topic and data_dir/dlq, with the reason', async () => {
    reset();
    rx.otherwise = { status: 500, body: 'boom' };
    const dir = join(tmp.dir, 'dlq');
    const r = await startSink(dir, { receivers: [{ name: 'soc', url: rx.url(), secrets: [SECRET] }], route: { receiver: 'soc', ...FAST }, retry: { attempts: 3, initial: '10ms', max: '20ms' } });
    running.push(r);
    const dead: TwEvent[] = [];
    await r.ctx.bus.subscribe({ topics: [r.ctx.topics.dlq], group: 'test', handler: async (b) => void dead.push(...b.map((m) => m.value)) });
    const a = makeAlert();
    await publish(r, [a]);
    await waitFor(() => dead.length === 1, { what: 'dead letter' });
    assert.equal(rx.requests.length, 3);
    const rec = dead[0] as TwEvent & { trailwatch: { dlq: { reason: string; attempts: number; receiver: string; notification: { alerts: Alert[] } } } };
    assert.equal(rec.event.kind, 'pipeline_error');
    assert.match(rec.trailwatch.dlq.reason, /answered 500: boom/);
    assert.equal(rec.trailwatch.dlq.attempts, 3);
    assert.equal(rec.trailwatch.dlq.notification.alerts[0].event.id, a.event.id);
    const files = readdirSync(join(dir, 'dlq'));
    assert.equal(files.length, 1);
    const line = JSON.parse(readFileSync(join(dir, 'dlq', files[0]), 'utf8').trim());
    assert.equal(line.trailwatch.dlq.notification.alerts[0].event.id, a.event.id);
  });

  it('sends no duplicate after a restart, and delivers what was pending at shutdown', async () => {
    reset();
    const dir = join(tmp.dir, 'restart');
    const webhook = { receivers: [{ name: 'soc', url: rx.url(), secrets: [SECRET] }], route: { receiver: 'soc', group_wait: '100ms', group_interval: '100ms' } };
    let r = await startSink(dir, webhook);
    const a = makeAlert({ id: 'A', group: { 'source.ip': '203.0.113.1' } });
    await publish(r, [a]);
    await waitFor(() => rx.delivered.length === 1);
    // Pending at shutdown: a group waiting 5 s when the sink stops.
    const p = makeAlert({ id: 'P', severity: 'low', group: { 'source.ip': '203.0.113.2' } });
    const slow = { ...webhook, route: { ...webhook.route, group_wait: { low: '1500ms' } } };
    await r.stop();
    r = await startSink(dir, slow);
    await publish(r, [p]);
    await new Promise((res) => setTimeout(res, 200));
    await r.stop();
    assert.equal(rx.requests.length, 1, 'P was still waiting: ' + rx.requests.map((q) => q.body).join('\n'));
    r = await startSink(dir, slow);
    running.push(r);
    const b = makeAlert({ id: 'B', group: { 'source.ip': '203.0.113.3' } });
    await publish(r, [a, b]);
    await waitFor(() => rx.delivered.length === 3, { what: 'B and the pending P' });
    await new Promise((res) => setTimeout(res, 300));
    const ids = rx.delivered.flatMap((q) => body(q).data.alerts.map((x) => x.id)).sort();
    assert.deepEqual(ids, ['A', 'B', 'P']);
  });
});
