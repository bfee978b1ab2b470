// The rules engine split for many workers, in process: the default pack over
// attacker traffic gives the same alert ids embedded (replay) and split into
// decode workers per host partition and detect workers per group value, in
// any interleaving, and a detect worker re-reading from a later offset after a
// crash raises no id the whole input does not.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Alert, TwEvent } from '../src/event.js';
import { rulesConfig } from '../src/rules/config.js';
import { defaultPackDir, loadRules } from '../src/rules/loader.js';
import { createPartitionedProcessor, type PartitionedProcessor } from '../src/rules/partitioned.js';
import { replay } from '../src/rules/replay.js';
import { attackLines, rawEvents, YEAR } from './distributed-traffic.js';
import { tempDir } from './helpers.js';
import { failedLogin, rulesFrom, T0 } from './rules/helpers.js';

const tmp = tempDir('tw-partitioned-');
after(() => tmp.cleanup());
const CONFIG = rulesConfig.parse({});
const PACK = loadRules([defaultPackDir()]);

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

async function replayIds(file: string): Promise<string[]> {
  let text = '';
  const out = new Writable({
    write(chunk, _e, cb) {
      text += chunk;
      cb();
    },
  });
  await replay({ input: file, format: 'syslog', rules: PACK, config: CONFIG, year: YEAR, out, alertsOnly: true });
  return text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as Alert).event.id);
}

interface Record {
  route: string;
  event: TwEvent;
}

/** Decode on `workers` processors (hosts spread by hash), chunks taken in a seeded random interleaving; returns alerts and repartition partitions. */
function decodeSplit(events: TwEvent[], workers: number, seed: number): { alerts: Alert[]; parts: Record[][] } {
  const procs = Array.from({ length: workers }, () => createPartitionedProcessor(CONFIG, { rules: PACK }));
  const queues: TwEvent[][] = Array.from({ length: workers }, () => []);
  for (const ev of events) queues[hash(ev.host!.name!) % workers].push(structuredClone(ev));
  const parts: Record[][] = Array.from({ length: workers }, () => []);
  const alerts: Alert[] = [];
  let s = seed;
  const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0);
  while (queues.some((q) => q.length)) {
    const w = next() % workers;
    const batch = queues[w].splice(0, 1 + (next() % 40));
    alerts.push(...procs[w].decode(batch));
    for (const ev of batch) for (const r of procs[w].routes(ev)) parts[hash(`${r.route}|${r.key}`) % workers].push({ route: r.route, event: structuredClone(ev) });
  }
  return { alerts, parts };
}

function detectAll(proc: PartitionedProcessor, records: Record[]): Alert[] {
  const out: Alert[] = [];
  for (let i = 0; i < records.length; i += 25) {
    const byRoute = new Map<string, TwEvent[]>();
    for (const r of records.slice(i, i + 25)) byRoute.set(r.route, [...(byRoute.get(r.route) ?? []), r.event]);
    for (const [route, evs] of byRoute) out.push(...proc.detect(route, evs));
  }
  return out;
}

const sorted = (ids: Iterable<string>) => [...new Set(ids)].sort();

describe('rules > partitioned > same alert ids as embedded', () => {
  const file = join(tmp.dir, 'attack.log');
  const lines = attackLines(2);
  writeFileSync(file, lines.join('\n') + '\n');

  it('1 and 3 decode+detect workers, in several interleavings, raise exactly the ids replay raises', async () => {
    const expected = sorted(await replayIds(file));
    assert.ok(expected.length >= 20, `the traffic raises alerts (${expected.length})`);
    for (const workers of [1, 3]) {
      for (const seed of [1, 2, 3]) {
        const { alerts, parts } = decodeSplit(rawEvents(file, lines), workers, seed);
        const ids = alerts.map((a) => a.event.id);
        for (const part of parts) ids.push(...detectAll(createPartitionedProcessor(CONFIG, { rules: PACK }), part).map((a) => a.event.id));
        assert.deepEqual(sorted(ids), expected, `${workers} workers, interleaving ${seed}`);
      }
    }
  });

  it('covers every stateful kind of the pack, and the slow attacker over several windows', async () => {
    const { alerts, parts } = decodeSplit(rawEvents(file, lines), 3, 9);
    const all = [...alerts];
    for (const part of parts) all.push(...detectAll(createPartitionedProcessor(CONFIG, { rules: PACK }), part));
    const byRule = new Map<string, number>();
    for (const a of all) byRule.set(a.rule.id, (byRule.get(a.rule.id) ?? 0) + 1);
    for (const id of ['ssh-failed-login-burst', 'ssh-invalid-user-brute-force', 'ssh-password-spraying', 'login-success-after-failures-source', 'ssh-root-login-attempt'])
      assert.ok(byRule.get(id), `${id} fired: ${JSON.stringify([...byRule])}`);
    const slow = all.filter((a) => a.trailwatch.alert.group['source.ip'] === '198.51.100.200' && a.rule.id === 'ssh-failed-login-burst');
    assert.ok(slow.length >= 3, `one alert per window for the slow attacker (${slow.length})`);
    assert.ok(!all.some((a) => a.source?.ip?.startsWith('10.0.') || a.trailwatch.alert.group['source.ip']?.startsWith('10.0.')), 'benign sources stay quiet');
  });
});

describe('rules > partitioned > crash and re-read', () => {
  it('a detect worker restarted mid-stream and re-reading from two windows back misses no id and raises no new one', async () => {
    const file = join(tmp.dir, 'crash.log');
    const lines = attackLines(3, 11);
    writeFileSync(file, lines.join('\n') + '\n');
    const expected = new Set(await replayIds(file));
    const { alerts, parts } = decodeSplit(rawEvents(file, lines), 3, 5);
    const rewind = createPartitionedProcessor(CONFIG, { rules: PACK }).windowMs();
    for (const part of parts) {
      const whole = sorted(detectAll(createPartitionedProcessor(CONFIG, { rules: PACK }), part).map((a) => a.event.id));
      for (const crashAt of [Math.floor(part.length / 3), Math.floor(part.length / 2), part.length - 7]) {
        const before = detectAll(createPartitionedProcessor(CONFIG, { rules: PACK }), part.slice(0, crashAt)).map((a) => a.event.id);
        // The new owner re-reads from the first record within the rewind (a later start than the topic's beginning).
        const at = Date.parse(part[crashAt]['event']['@timestamp']);
        let from = crashAt;
        while (from > 0 && Date.parse(part[from - 1].event['@timestamp']) >= at - rewind) from--;
        const afterIds = detectAll(createPartitionedProcessor(CONFIG, { rules: PACK }), part.slice(from)).map((a) => a.event.id);
        for (const id of afterIds) assert.ok(expected.has(id), 're-read raised an id the whole input does not');
        assert.deepEqual(sorted([...before, ...afterIds]), whole, `crash at ${crashAt} of ${part.length}, re-read from ${from}`);
        // Re-reading from any later start only ever raises a subset.
        const late = detectAll(createPartitionedProcessor(CONFIG, { rules: PACK }), part.slice(crashAt)).map((a) => a.event.id);
        for (const id of late) assert.ok(whole.includes(id));
      }
    }
    for (const a of alerts) assert.ok(expected.has(a.event.id));
  });

  it('a redelivered copy of an event is not counted twice', () => {
    const file = join(tmp.dir, 'dup.log');
    const lines = attackLines(1, 3);
    const { parts } = decodeSplit(rawEvents(file, lines), 1, 1);
    const once = sorted(detectAll(createPartitionedProcessor(CONFIG, { rules: PACK }), parts[0]).map((a) => a.event.id));
    // Every record delivered three times, the copies a little later (batches re-sent after crashes):
    // counted three times, the benign sources' two typos would make a burst.
    const twice: Record[] = [];
    parts[0].forEach((r, i) => {
      twice.push(r);
      if (i >= 5) twice.push(parts[0][i - 5], parts[0][i - 3]);
    });
    assert.deepEqual(sorted(detectAll(createPartitionedProcessor(CONFIG, { rules: PACK }), twice).map((a) => a.event.id)), once);
  });
});

describe('rules > partitioned > hot reload', () => {
  const dir = join(tmp.dir, 'reload');
  const BURST = (threshold: number) => `
- rule: local-burst
  name: Local burst
  kind: threshold
  severity: low
  condition: { field: event.outcome, equals: failure }
  group_by: [source.ip]
  threshold: ${threshold}
  window: 10m
- rule: per-user
  name: Per user
  kind: threshold
  severity: low
  condition: { field: event.outcome, equals: failure }
  group_by: [user.name]
  threshold: 3
  window: 10m
`;
  const feed = (proc: PartitionedProcessor, events: TwEvent[]): Alert[] => {
    const out = proc.decode(events);
    for (const ev of events) for (const r of proc.routes(ev)) out.push(...proc.detect(r.route, [ev]));
    return out;
  };

  it('keeps the windows of unchanged rules, applies changed ones, and routes a new group-by', () => {
    const first = rulesFrom(join(dir, 'a'), { 'r.yaml': BURST(4).split('- rule: per-user')[0] });
    const proc = createPartitionedProcessor(CONFIG, { rules: first });
    assert.deepEqual(feed(proc, [0, 1, 2].map((i) => failedLogin(T0 + i * 1000, '203.0.113.9', `u${i}`))), []);
    // Same local-burst, plus a rule grouped by user.name (a route this processor did not have).
    proc.setRules(rulesFrom(join(dir, 'b'), { 'r.yaml': BURST(4) }));
    const fourth = feed(proc, [failedLogin(T0 + 3000, '203.0.113.9', 'u3')]);
    assert.deepEqual(fourth.map((a) => a.rule.id), ['local-burst'], 'the three earlier failures are still counted');
    const perUser = feed(proc, [0, 1, 2].map((i) => failedLogin(T0 + 4000 + i, `198.51.100.${i}`, 'oracle')));
    assert.deepEqual(perUser.map((a) => a.rule.id), ['per-user'], 'the new route counts');
    // A changed definition starts afresh; a removed rule is gone.
    proc.setRules(rulesFrom(join(dir, 'c'), { 'r.yaml': BURST(2).split('- rule: per-user')[0] }));
    const after = feed(proc, [failedLogin(T0 + 9000, '203.0.113.50'), failedLogin(T0 + 9001, '203.0.113.50'), failedLogin(T0 + 9002, '198.51.100.9', 'oracle')]);
    assert.deepEqual(after.map((a) => a.rule.id), ['local-burst']);
  });

  it('asks for a longer rewind once a reload lengthens the longest window (the Kafka bus asks at each assignment)', () => {
    const proc = createPartitionedProcessor(CONFIG, { rules: rulesFrom(join(dir, 'd'), { 'r.yaml': BURST(4) }) });
    const before = proc.windowMs();
    proc.setRules(rulesFrom(join(dir, 'e'), { 'r.yaml': BURST(4).replace(/window: 10m/g, 'window: 2h') }));
    assert.equal(proc.windowMs() - before, 2 * (120 - 10) * 60_000);
  });
});
