import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Alert, TwEvent } from '../src/event.js';
import { Detector } from '../src/rules/engine.js';
import { ALLOWED_LATENESS_MS } from '../src/rules/windows.js';
import { tempDir } from './helpers.js';
import { ev, failedLogin, goodLogin, MIN, rulesFrom, T0 } from './rules/helpers.js';

const tmp = tempDir('tw-engine-');
after(() => tmp.cleanup());
let n = 0;
const rules = (yaml: string) => rulesFrom(join(tmp.dir, `r${++n}`), { 'r.yaml': yaml });

function run(det: Detector, events: TwEvent[]): Alert[] {
  const out: Alert[] = [];
  for (const e of events) det.process(e, out);
  return out;
}

const BURST = `
- rule: burst
  name: Burst
  description: failed logins per source
  kind: threshold
  severity: high
  tags: [attack.t1110.001, brute]
  condition: { field: event.outcome, equals: failure }
  group_by: [source.ip]
  threshold: 5
  window: 10m
`;

describe('rules > engine > threshold', () => {
  it('fires once at the Nth event per group and window, with the alert fields', () => {
    const det = new Detector(rules(BURST));
    const events = [
      ...Array.from({ length: 4 }, (_, i) => failedLogin(T0 + i * 1000, '203.0.113.9', `u${i}`)),
      failedLogin(T0 + 1000, '198.51.100.1'),
    ];
    assert.equal(run(det, events).length, 0);
    const fifth = failedLogin(T0 + 5000, '203.0.113.9', 'u4', { 'host.name': 'web1' });
    const [a, ...more] = run(det, [fifth]);
    assert.equal(more.length, 0);
    assert.equal(a.event.kind, 'alert');
    assert.equal(a.event.severity, 73);
    assert.deepEqual(a.rule, { id: 'burst', name: 'Burst', description: 'failed logins per source' });
    assert.deepEqual(a.threat?.technique?.id, ['T1110.001']);
    assert.deepEqual(a.tags, ['brute']);
    assert.equal(a.source?.ip, '203.0.113.9');
    assert.deepEqual(a.trailwatch.alert.group, { 'source.ip': '203.0.113.9' });
    assert.equal(a.trailwatch.alert.count, 5);
    assert.equal(a.trailwatch.alert.events.length, 5);
    assert.equal(a.trailwatch.alert.events[4], fifth.event.id);
    assert.equal(a.trailwatch.alert.first_seen, new Date(T0).toISOString());
    assert.equal(a.trailwatch.alert.last_seen, new Date(T0 + 5000).toISOString());
    assert.equal(a['@timestamp'], new Date(T0 + 5000).toISOString());
    assert.deepEqual(a.related?.user, ['u0', 'u1', 'u2', 'u3', 'u4']);
    assert.deepEqual(a.related?.ip, ['203.0.113.9']);
    assert.equal(a.host?.name, 'web1');
    assert.match(a.event.id, /^[0-9a-f]{32}$/);
  });

  it('does not re-alert for later events in the same window, and alerts again in the next', () => {
    const det = new Detector(rules(BURST));
    const burst = (start: number) => Array.from({ length: 8 }, (_, i) => failedLogin(start + i * 1000, '203.0.113.9'));
    const first = run(det, burst(T0));
    assert.equal(first.length, 1);
    const second = run(det, burst(T0 + 11 * MIN));
    assert.equal(second.length, 1);
    assert.notEqual(first[0].event.id, second[0].event.id);
  });

  it('counts across hosts and weighs "message repeated N times" by event.count', () => {
    const det = new Detector(rules(BURST));
    const alerts = run(det, [
      failedLogin(T0, '203.0.113.9', 'root', { 'host.name': 'web1' }),
      failedLogin(T0 + 1000, '203.0.113.9', 'root', { 'host.name': 'db1', 'event.count': 4 }),
    ]);
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0].trailwatch.alert.count, 5);
    assert.equal(alerts[0].host, undefined, 'host.name only when all contributing events share one');
    assert.deepEqual(alerts[0].related?.hosts, ['web1', 'db1']);
  });

  it('uses a sliding event-time window: old failures drop out', () => {
    const det = new Detector(rules(BURST));
    const spaced = Array.from({ length: 10 }, (_, i) => failedLogin(T0 + i * 3 * MIN, '203.0.113.9'));
    assert.equal(run(det, spaced).length, 0, 'never 5 within 10 minutes');
  });

  it('gives the same alerts and ids however the input is batched, and on replay', () => {
    const input = () => {
      const out: TwEvent[] = [];
      for (let i = 0; i < 300; i++) out.push(failedLogin(T0 + i * 7000, `198.51.100.${i % 7}`, `u${i % 13}`, { 'event.id': `x${i}` }));
      return out;
    };
    const one = run(new Detector(rules(BURST)), input());
    const det = new Detector(rules(BURST));
    const events = input();
    const batched: Alert[] = [];
    for (let i = 0; i < events.length; i += 17) batched.push(...run(det, events.slice(i, i + 17)));
    assert.ok(one.length > 5);
    assert.deepEqual(
      batched.map((a) => a.event.id),
      one.map((a) => a.event.id),
    );
    assert.equal(new Set(one.map((a) => a.event.id)).size, one.length, 'ids are unique');
  });

  it('skips events that lack a group key field', () => {
    const det = new Detector(rules(BURST));
    const noIp = Array.from({ length: 6 }, (_, i) => ev(T0 + i, { 'event.outcome': 'failure' }));
    assert.equal(run(det, noIp).length, 0);
  });
});

describe('rules > engine > distinct', () => {
  const SPRAY = `
- rule: spray
  name: Spray
  kind: distinct
  severity: high
  condition: { field: event.outcome, equals: failure }
  group_by: [source.ip]
  distinct: user.name
  threshold: 3
  window: 15m
`;
  it('fires on N distinct user names per source, not on repeats of one', () => {
    const det = new Detector(rules(SPRAY));
    const repeats = Array.from({ length: 10 }, (_, i) => failedLogin(T0 + i * 1000, '203.0.113.7', 'alice'));
    assert.equal(run(det, repeats).length, 0);
    const alerts = run(det, [failedLogin(T0 + 20_000, '203.0.113.7', 'bob'), failedLogin(T0 + 21_000, '203.0.113.7', 'carol')]);
    assert.equal(alerts.length, 1);
    assert.deepEqual(alerts[0].related?.user?.sort(), ['alice', 'bob', 'carol']);
    assert.equal(alerts[0].trailwatch.alert.count, 12);
  });
  it('forgets values that fell out of the window', () => {
    const det = new Detector(rules(SPRAY));
    const slow = ['a', 'b', 'c', 'd'].map((u, i) => failedLogin(T0 + i * 10 * MIN, '203.0.113.7', u));
    assert.equal(run(det, slow).length, 0);
  });
});

describe('rules > engine > sequence', () => {
  const SEQ = `
- rule: seq
  name: Success after failures
  kind: sequence
  severity: critical
  group_by: [source.ip]
  window: 10m
  steps:
    - condition: { field: event.outcome, equals: failure }
      count: 3
    - condition: { field: event.outcome, equals: success }
`;
  it('fires when the success follows enough failures, with the success context', () => {
    const det = new Detector(rules(SEQ));
    const fails = [0, 1, 2].map((i) => failedLogin(T0 + i * 1000, '203.0.113.5', 'root'));
    const ok = goodLogin(T0 + 60_000, '203.0.113.5', 'deploy');
    const alerts = run(det, [...fails, ok]);
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0].user?.name, 'deploy');
    assert.deepEqual(alerts[0].trailwatch.alert.events, [...fails, ok].map((e) => e.event.id));
  });
  it('does not fire on too few failures, on a success first, or once the window passed', () => {
    const det = new Detector(rules(SEQ));
    assert.equal(run(det, [goodLogin(T0, '192.0.2.1'), failedLogin(T0 + 1, '192.0.2.1'), failedLogin(T0 + 2, '192.0.2.1'), goodLogin(T0 + 3, '192.0.2.1')]).length, 0);
    const late = [0, 1, 2].map((i) => failedLogin(T0 + i, '192.0.2.2'));
    assert.equal(run(det, [...late, goodLogin(T0 + 11 * MIN, '192.0.2.2')]).length, 0);
  });
});

describe('rules > engine > match and absence', () => {
  it('match rules alert per event, or once per group per window with group_by', () => {
    const det = new Detector(
      rules(`
- rule: each
  name: Each
  kind: match
  severity: low
  condition: { field: process.command_line, contains: "history -c" }
- rule: deduped
  name: Deduped
  kind: match
  severity: medium
  condition: { field: user.name, equals: root }
  group_by: [source.ip]
  window: 1h
`),
    );
    const cmds = [0, 1].map((i) => ev(T0 + i, { 'process.command_line': 'bash -c "history -c"', 'user.name': 'root', 'source.ip': '192.0.2.9' }));
    const alerts = run(det, cmds);
    assert.deepEqual(alerts.map((a) => a.rule.id).sort(), ['deduped', 'each', 'each']);
    assert.equal(alerts.find((a) => a.rule.id === 'each')?.process?.command_line, 'bash -c "history -c"');
  });

  it('absence fires when a key goes silent, on event time and on tick', () => {
    const det = new Detector(
      rules(`
- rule: silent
  name: Host went silent
  kind: absence
  severity: medium
  condition: { field: host.name, exists: true }
  group_by: [host.name]
  period: 30m
`),
    );
    assert.equal(run(det, [ev(T0, { 'host.name': 'a' }), ev(T0, { 'host.name': 'b' }), ev(T0 + 20 * MIN, { 'host.name': 'b' })]).length, 0);
    const onTime = run(det, [ev(T0 + 31 * MIN, { 'host.name': 'b' })]);
    assert.deepEqual(onTime.map((a) => a.host?.name), ['a']);
    assert.equal(onTime[0]['@timestamp'], new Date(T0 + 30 * MIN).toISOString());
    assert.deepEqual(det.tick(T0 + 31 * MIN + 30 * MIN).map((a) => a.host?.name), ['b']);
    assert.equal(det.tick(T0 + 200 * MIN).length, 0, 'once per silence');
  });
});

describe('rules > engine > bounded state', () => {
  it('caps keys per rule and evicts expired windows', () => {
    const det = new Detector(rules(BURST.replace('window: 10m', 'window: 10m\n  max_keys: 1000')));
    const out: Alert[] = [];
    for (let i = 0; i < 50_000; i++) det.process(failedLogin(T0 + i, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`), out);
    assert.ok(det.stats().keys <= 1000);
    assert.ok(det.stats().evicted >= 49_000);
    // Kept for two windows plus the allowed lateness (events from a lagging partition still count), then dropped.
    for (let i = 0; i < 2048; i++) det.process(ev(T0 + 30 * MIN + i, { 'event.outcome': 'success' }), out);
    assert.ok(det.stats().keys > 0, 'kept while a late event may still arrive');
    for (let i = 0; i < 2048; i++) det.process(ev(T0 + 30 * MIN + ALLOWED_LATENESS_MS + i, { 'event.outcome': 'success' }), out);
    assert.equal(det.stats().keys, 0, 'idle windows are dropped');
  });
});

describe('rules > engine > supersedes', () => {
  // The specific rule (invalid users) is listed after the general one on
  // purpose: the loader must still run it first on each event.
  const PACK = `${BURST}
- rule: invalid-users
  name: Invalid users
  kind: threshold
  severity: critical
  condition: { field: user.name, startswith: nobody }
  group_by: [source.ip]
  threshold: 5
  window: 10m
  supersedes: [burst]
`;
  it('raises only the specific alert when the event that completes both rules arrives', () => {
    const det = new Detector(rules(PACK));
    const alerts = run(det, Array.from({ length: 10 }, (_, i) => failedLogin(T0 + i * 1000, '203.0.113.9', `nobody${i}`)));
    assert.deepEqual(alerts.map((a) => a.rule.id), ['invalid-users']);
    assert.equal(det.stats().superseded, 1);
  });

  it('still raises the general alert for another group, or when only the general rule holds', () => {
    const det = new Detector(rules(PACK));
    const alerts = run(det, [
      ...Array.from({ length: 5 }, (_, i) => failedLogin(T0 + i * 1000, '203.0.113.9', `nobody${i}`)),
      ...Array.from({ length: 5 }, (_, i) => failedLogin(T0 + i * 1000, '198.51.100.7', 'admin')),
    ]);
    assert.deepEqual(alerts.map((a) => `${a.rule.id} ${a.source?.ip}`).sort(), ['burst 198.51.100.7', 'invalid-users 203.0.113.9']);
  });

  it('does not suppress a general alert raised before the specific rule held, nor one in a later, separate window', () => {
    const det = new Detector(rules(PACK));
    const early = run(det, Array.from({ length: 5 }, (_, i) => failedLogin(T0 + i * 1000, '203.0.113.9', 'admin')));
    const specific = run(det, Array.from({ length: 5 }, (_, i) => failedLogin(T0 + 10_000 + i * 1000, '203.0.113.9', `nobody${i}`)));
    const later = run(det, Array.from({ length: 5 }, (_, i) => failedLogin(T0 + 40 * MIN + i * 1000, '203.0.113.9', 'admin')));
    assert.deepEqual([...early, ...specific, ...later].map((a) => a.rule.id), ['burst', 'invalid-users', 'burst']);
  });
});
