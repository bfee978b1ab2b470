// The distributed rules stage on real Kafka: decode on whichever worker owns a
// raw partition, re-key by group value through the repartition topic, count
// on one worker per group value. A small threshold processor stands in for
// the rules engine (src/rules/processor.ts) until it has createPartitionedProcessor.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { distributedConfig, kafkaBus, uniqueName } from './distributed-helpers.js';
import { waitFor } from './helpers.js';
import { setupKafka } from '../src/bus/kafka-setup.js';
import { createRulesDecodeStage, createRulesDetectStage, type PartitionedProcessor } from '../src/rules/distributed.js';
import { topicNames } from '../src/bus/types.js';
import { Metrics } from '../src/metrics.js';
import { silentLogger } from '../src/log.js';
import { baseEvent, SEVERITY_SCORE, type Alert, type TwEvent } from '../src/event.js';
import type { Config } from '../src/config.js';
import type { Stage } from '../src/stage.js';

const WINDOW_MS = 60_000;
const THRESHOLD = 5;

/** Five failed logins from one source IP within a tumbling minute raise one alert with a deterministic id. */
function thresholdProcessor(): PartitionedProcessor {
  const counts = new Map<string, number>();
  const alert = (ip: string, window: number, last: TwEvent): Alert => ({
    '@timestamp': last['@timestamp'],
    event: { id: `brute-force:${ip}:${window}`, kind: 'alert', severity: SEVERITY_SCORE.high },
    rule: { id: 'brute-force', name: 'Brute force' },
    trailwatch: { alert: { severity: 'high', group: { 'source.ip': ip }, events: [], count: THRESHOLD, first_seen: last['@timestamp'], last_seen: last['@timestamp'] } },
  });
  return {
    decode: (batch) => {
      for (const ev of batch) ev.event.action = 'ssh_login';
      return [];
    },
    routes: (ev) => (ev.event.outcome === 'failure' && ev.source?.ip ? [{ route: 'source.ip', key: ev.source.ip }] : []),
    detect: (route, batch) => {
      const out: Alert[] = [];
      for (const ev of batch) {
        const ip = ev.source!.ip!;
        const window = Math.floor(Date.parse(ev['@timestamp']) / WINDOW_MS) * WINDOW_MS;
        const k = `${route}|${ip}|${window}`;
        const n = (counts.get(k) ?? 0) + 1;
        counts.set(k, n);
        if (n === THRESHOLD) out.push(alert(ip, window, ev));
      }
      return out;
    },
    tick: () => [],
    windowMs: () => WINDOW_MS,
  };
}

/** 20 attacking IPs, 7 failures each, every failure on a different one of 50 hosts. */
function input(): TwEvent[] {
  const out: TwEvent[] = [];
  const t0 = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS + 1000;
  let i = 0;
  for (let a = 0; a < 20; a++)
    for (let f = 0; f < 7; f++) {
      const ev = baseEvent(new Date(t0 + f * 100).toISOString(), undefined, `raw-${a}-${f}`);
      ev.host = { name: `host-${i++ % 50}` };
      ev.source = { ip: `198.51.100.${a}` };
      ev.event.outcome = 'failure';
      out.push(ev);
    }
  // Benign successes on the same hosts.
  for (let h = 0; h < 50; h++) {
    const ev = baseEvent(new Date(t0).toISOString(), undefined, `ok-${h}`);
    ev.host = { name: `host-${h}` };
    ev.source = { ip: '192.0.2.1' };
    ev.event.outcome = 'success';
    out.push(ev);
  }
  return out;
}

async function runWorkers(config: Config, workers: number, events: TwEvent[]): Promise<Set<string>> {
  await setupKafka(config, silentLogger());
  const topics = topicNames(config.topic_prefix);
  const running: { stages: Stage[]; bus: ReturnType<typeof kafkaBus> }[] = [];
  for (let w = 0; w < workers; w++) {
    const bus = kafkaBus(config);
    const ctx = { config, bus, topics, metrics: new Metrics({ defaults: false }), log: silentLogger() };
    const proc = thresholdProcessor();
    const stages = [createRulesDetectStage(ctx, proc), createRulesDecodeStage(ctx, proc)];
    for (const s of stages) await s.start();
    running.push({ stages, bus });
  }
  const collector = kafkaBus(config);
  const ids = new Set<string>();
  let received = 0;
  const sub = await collector.subscribe<Alert>({
    topics: [topics.alerts],
    group: 'test-collector',
    handler: async (b) => {
      for (const m of b) ids.add(m.value.event.id);
      received += b.length;
    },
  });
  await collector.publish(topics.raw, events.map((e) => ({ key: e.host!.name!, value: e })));
  await waitFor(() => ids.size >= 20, { timeoutMs: 90_000, what: `alerts from ${workers} workers (have ${ids.size})` });
  await new Promise((r) => setTimeout(r, 3000)); // anything extra would show up now
  await sub.stop();
  await collector.close();
  for (const r of running) {
    for (const s of r.stages) await s.stop();
    await r.bus.close();
  }
  // A rebalance replays a window, so an alert may be published again: with the same id.
  assert.ok(received >= ids.size);
  return ids;
}

describe('rules > distributed > repartition by group key', () => {
  it('one worker and three workers raise the same alert ids for attackers spread over 50 hosts', async () => {
    const events = input();
    const one = await runWorkers(distributedConfig(uniqueName('tw-r1')), 1, structuredClone(events));
    const three = await runWorkers(distributedConfig(uniqueName('tw-r3')), 3, structuredClone(events));
    assert.equal(one.size, 20);
    assert.deepEqual([...three].sort(), [...one].sort());
  });
});
