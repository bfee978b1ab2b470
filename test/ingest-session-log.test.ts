// POST /v1/session-log on a real HTTP server (startPipeline: fastify on port 0),
// events checked on the bus.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '../src/bus/memory.js';
import { topicNames } from '../src/bus/types.js';
import { parseConfig } from '../src/config.js';
import type { TwEvent } from '../src/event.js';
import { silentLogger } from '../src/log.js';
import { startPipeline, type Running } from '../src/pipeline.js';
import { bearerMatches, parseSessionLog } from '../src/ingest/session-log.js';
import { createHash } from 'node:crypto';
import { nameUuid } from '../src/ids.js';

const TOKEN = 'session-log-test-token-0123456789';

describe('ingest > session-log > POST /v1/session-log', () => {
  let running: Running;
  let url: string;
  const events: TwEvent[] = [];
  const keys: (string | null)[] = [];

  before(async () => {
    const config = parseConfig({ http: { host: '127.0.0.1', port: 0 }, session_log: { token: TOKEN, max_body_bytes: 4096 } });
    const bus = new MemoryBus();
    await bus.subscribe<TwEvent>({
      topics: [topicNames().raw],
      group: 'test',
      handler: async (batch) => {
        for (const m of batch) {
          events.push(m.value);
          keys.push(m.key);
        }
      },
    });
    running = await startPipeline(config, { log: silentLogger(), stages: ['ingest.session-log'], bus });
    url = `http://127.0.0.1:${running.httpAddress!.port}/v1/session-log`;
  });
  after(() => running.stop());

  const post = (body: string, token: string | null = TOKEN, type = 'application/x-ndjson') =>
    fetch(url, { method: 'POST', body, headers: { 'content-type': type, ...(token !== null ? { authorization: `Bearer ${token}` } : {}) } });

  it('accepts NDJSON events, fills event.id and @timestamp, marks the input, keys by host', async () => {
    const lines = [
      { '@timestamp': '2024-01-19T10:00:00.000Z', event: { kind: 'event', action: 'session-start', id: 'given-id' }, host: { name: 'gw1' }, trailwatch: { session: { id: 's1' } } },
      { event: { action: 'command' }, host: { name: 'gw1' }, process: { command_line: 'sudo -i' } },
    ];
    const res = await post(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { accepted: 2, invalid: 0, errors: [] });
    const got = events.filter((e) => e.host?.name === 'gw1');
    assert.equal(got.length, 2);
    // An id that is not the gateway's kind (a v4 UUID) is mapped into the session log's own namespace.
    assert.equal(got[0].event.id, nameUuid('session-log\0given-id'));
    assert.equal(got[0]['@timestamp'], '2024-01-19T10:00:00.000Z');
    assert.equal(got[0].trailwatch?.session?.id, 's1');
    assert.match(got[1].event.id, /^[0-9a-f-]{36}$/);
    assert.ok(!Number.isNaN(Date.parse(got[1]['@timestamp'])));
    for (const e of got) assert.equal(e.trailwatch?.input?.type, 'session-log');
    assert.equal(keys[events.indexOf(got[0])], 'gw1');
  });

  it('reports bad lines by number and reason, and still keeps them as unparsed events', async () => {
    const body = ['{"event":{"action":"ok"},"host":{"name":"gw2"}}', '{not json', '', '[1,2]', '{"event":"nope"}', '{"@timestamp":"yesterday"}'].join('\r\n');
    const res = await post(body, TOKEN, 'text/plain');
    assert.equal(res.status, 200);
    const r = (await res.json()) as { accepted: number; invalid: number; errors: { line: number; reason: string }[] };
    assert.equal(r.accepted, 1);
    assert.equal(r.invalid, 4);
    assert.deepEqual(
      r.errors.map((e) => e.line),
      [2, 4, 5, 6],
    );
    assert.match(r.errors[0].reason, /^not JSON/);
    assert.equal(r.errors[1].reason, 'not a JSON object');
    assert.equal(r.errors[2].reason, 'event is not an object');
    assert.match(r.errors[3].reason, /@timestamp/);
    const kept = events.filter((e) => e.tags?.includes('unparsed'));
    assert.ok(kept.some((e) => e.event.original === '{not json' && e.message === '{not json'));
    assert.ok(kept.every((e) => e.trailwatch?.input?.type === 'session-log' && typeof e.trailwatch?.error === 'string'));
  });

  it('answers 401 without a token or with a wrong one, and takes nothing', async () => {
    const before = events.length;
    for (const token of [null, 'wrong', TOKEN + 'x', '']) {
      const res = await post('{"event":{"action":"sneaky"}}\n', token);
      assert.equal(res.status, 401, `token ${token}`);
      const text = await res.text();
      assert.ok(!text.includes(TOKEN), 'the token never appears in a response');
    }
    const res = await fetch(url, { method: 'POST', body: '{}', headers: { authorization: `Basic ${TOKEN}` } });
    assert.equal(res.status, 401);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(events.length, before);
  });

  it('answers 413 to a body over max_body_bytes', async () => {
    const big = JSON.stringify({ message: 'x'.repeat(5000) });
    const res = await post(big);
    assert.equal(res.status, 413);
  });

  it('counts accepted, invalid and refused in /metrics', async () => {
    const text = await (await fetch(`http://127.0.0.1:${running.httpAddress!.port}/metrics`)).text();
    assert.match(text, /trailwatch_session_log_received_events_total 3/);
    assert.match(text, /trailwatch_session_log_invalid_lines_total 4/);
    assert.match(text, /trailwatch_session_log_refused_requests_total\{reason="unauthorized"\} 5/);
    assert.match(text, /trailwatch_session_log_refused_requests_total\{reason="too_large"\} 1/);
  });
});

describe('ingest > session-log > pieces', () => {
  it('compares bearer tokens by digest (any length, never equal to empty)', () => {
    const d = createHash('sha256').update('abc').digest();
    assert.equal(bearerMatches('Bearer abc', d), true);
    assert.equal(bearerMatches('Bearer abd', d), false);
    assert.equal(bearerMatches('Bearer ', createHash('sha256').update('').digest()), false);
    assert.equal(bearerMatches(undefined, d), false);
    assert.equal(bearerMatches('Bearer abc', null), false);
  });

  it('parses a body without a final newline and numbers lines from 1', () => {
    const { events, result } = parseSessionLog('{"a":1}\n\nnope', '127.0.0.1', new Date('2024-01-01T00:00:00Z'));
    assert.equal(events.length, 2);
    assert.deepEqual(result.errors.map((e) => e.line), [3]);
    assert.equal(events[0]['@timestamp'], '2024-01-01T00:00:00.000Z');
  });

  it('takes only what the gateway sends: no alert kinds, no alert fields, no deep nesting, no oversized lines', () => {
    // An object n levels deep (the event itself is one more).
    const nest = (n: number): unknown => (n === 0 ? 1 : { x: nest(n - 1) });
    const lines = [
      { event: { kind: 'alert', id: 'a1' } },
      { event: { kind: 'pipeline_error' } },
      { event: { kind: 'event' }, trailwatch: { alert: { severity: 'high' } } },
      { event: { id: 42 } },
      { event: {}, a: nest(16) },
      { event: {}, a: nest(14) },
      { event: {}, message: 'x'.repeat(3000) },
      { event: { kind: 'event', id: '3b1e9d2c-7a4f-4c1e-9b2a-5d6e7f8a9b0c' }, trailwatch: { gateway_alert: { rule: 'gateway-command-rm', name: 'n', severity: 'high' } } },
    ].map((l) => JSON.stringify(l));
    const { events, result } = parseSessionLog(lines.join('\n'), '10.0.0.5', new Date('2024-01-01T00:00:00Z'), 2048);
    assert.deepEqual(
      result.errors.map((e) => [e.line, e.reason.replace(/ \(.*$/, '')]),
      [
        [1, 'event.kind "alert" is not accepted from the session log'],
        [2, 'event.kind "pipeline_error" is not accepted from the session log'],
        [3, "trailwatch.alert is set by trailwatch's rules, not accepted from the session log"],
        [4, 'event.id is not a string of 1 to 128 characters'],
        [5, 'nested deeper than 16 levels'],
        [7, 'line over session_log.max_event_bytes'],
      ],
    );
    assert.equal(result.accepted, 2, 'line 6 (16 levels) and line 8 (a gateway event asking for an alert) are events');
    assert.equal(events.length, 8, 'every line is kept');
    const long = events[6];
    assert.deepEqual(long.tags, ['unparsed', 'truncated']);
    assert.equal(Buffer.byteLength(long.event.original!), 2048);
    assert.ok(events.every((e) => e.event.kind === 'event'));
    // The gateway's own ids (v4 UUIDs) are kept, so a re-sent batch is stored once.
    assert.equal(events[7].event.id, '3b1e9d2c-7a4f-4c1e-9b2a-5d6e7f8a9b0c');
    assert.equal(events[7].trailwatch?.gateway_alert?.rule, 'gateway-command-rm');
  });
});
