// Bounded redelivery on both buses (src/bus/redelivery.ts), on the real
// in-process bus and a real Kafka broker: a record the consumer cannot handle
// reaches the dead-letter store with the error after max_attempts, the
// records around it are handled once each and in order, and the consumer
// goes on; an outage (a retriable error) is waited out, never dead-lettered;
// health names the consumer while it fails; a stop is not held up by backoff.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MemoryBus } from '../src/bus/memory.js';
import type { Bus, BusMessage } from '../src/bus/types.js';
import { topicNames } from '../src/bus/types.js';
import { setupKafka } from '../src/bus/kafka-setup.js';
import { KafkaBus } from '../src/bus/kafka.js';
import { TrailwatchError } from '../src/errors.js';
import type { TwEvent } from '../src/event.js';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { distributedConfig, uniqueName } from './distributed-helpers.js';
import { waitFor } from './helpers.js';

interface Rec {
  n: number;
  poison?: boolean;
}
type Dlq = TwEvent & { trailwatch: { dlq: { group: string; topic: string; reason: string; attempts: number; original: string; stage: string } } };

interface Harness {
  bus: Bus;
  topic: string;
  /** Dead letters stored so far. */
  dead(): Dlq[];
  metrics: Metrics;
  close(): Promise<void>;
}

const MAX_ATTEMPTS = 3;
const records = (from: number, to: number, poison: number[] = []): BusMessage<Rec>[] =>
  Array.from({ length: to - from }, (_, i) => ({ key: 'k', value: { n: from + i, ...(poison.includes(from + i) ? { poison: true } : {}) } }));

/** `maxBackoffMs` caps the wait between deliveries (backoff has full jitter, so a sum of waits varies). */
function suite(name: string, make: (maxBackoffMs?: number) => Promise<Harness>, timeoutMs: number) {
  describe(`bus > ${name} > bounded redelivery`, () => {
    it('dead-letters the one record a consumer cannot handle, with the error, and handles the rest once, in order', async () => {
      const h = await make();
      const handled: number[] = [];
      let poisonCalls = 0;
      const sub = await h.bus.subscribe<Rec>({
        topics: [h.topic],
        group: 'poison',
        handler: async (batch) => {
          // All or nothing per delivery, as a sink writing one batch is.
          const bad = batch.find((m) => m.value.poison);
          if (bad) {
            poisonCalls++;
            throw new TypeError(`cannot read record ${bad.value.n}`);
          }
          for (const m of batch) handled.push(m.value.n);
        },
      });
      try {
        await h.bus.publish(h.topic, records(0, 40, [17]));
        await waitFor(() => h.dead().length === 1 && handled.length === 39, { timeoutMs, what: 'the dead letter and the other 39 records' });
        // The consumer goes on after it.
        await h.bus.publish(h.topic, records(40, 45));
        await waitFor(() => handled.length === 44, { timeoutMs, what: 'records published after the poison' });
        assert.deepEqual(handled, [...Array.from({ length: 17 }, (_, i) => i), ...Array.from({ length: 27 }, (_, i) => 18 + i)]);
        const d = h.dead()[0];
        assert.equal(d.event.kind, 'pipeline_error');
        assert.equal(d.trailwatch.dlq.group, 'poison');
        assert.equal(d.trailwatch.dlq.topic, h.topic);
        assert.match(d.trailwatch.dlq.reason, /cannot read record 17/);
        assert.deepEqual(JSON.parse(d.trailwatch.dlq.original), { n: 17, poison: true });
        assert.ok(d.trailwatch.dlq.attempts > MAX_ATTEMPTS, `attempts ${d.trailwatch.dlq.attempts}`);
        // Bounded: max_attempts for its batch, then one delivery per halving down to the record alone.
        assert.ok(poisonCalls <= MAX_ATTEMPTS + Math.ceil(Math.log2(40)) + 1, `deliveries holding the poison: ${poisonCalls}`);
        assert.equal(d.trailwatch.dlq.attempts, poisonCalls);
        assert.equal(h.bus.health?.().ok, true, 'healthy again once the poison is out');
        assert.match(await h.metrics.text(), /trailwatch_bus_dead_letter_records_total\{group="poison",topic="[^"]+"\} 1/);
      } finally {
        await sub.stop();
        await h.close();
      }
    });

    it('waits out an outage (a retriable error) however long it lasts, dead-letters nothing, and reports the consumer failing meanwhile', async () => {
      // Short waits here: nine failures at up to 5 s each could outlast the timeout.
      const h = await make(200);
      const handled: number[] = [];
      let failuresLeft = MAX_ATTEMPTS * 3;
      const sub = await h.bus.subscribe<Rec>({
        topics: [h.topic],
        group: 'outage',
        handler: async (batch) => {
          if (failuresLeft > 0) {
            failuresLeft--;
            throw new TrailwatchError('TW_TEST_DOWN', 'store is down', { retriable: true });
          }
          for (const m of batch) handled.push(m.value.n);
        },
      });
      try {
        await h.bus.publish(h.topic, records(0, 10));
        const failing = await waitFor(() => (h.bus.health?.().ok === false ? h.bus.health!().failing : undefined), { timeoutMs, what: 'the consumer reported failing' });
        assert.deepEqual(
          (failing as { group: string; transient: boolean; error: string }[]).map((f) => [f.group, f.transient, f.error]),
          [['outage', true, 'store is down']],
        );
        await waitFor(() => handled.length === 10, { timeoutMs, what: 'every record once the store is back' });
        assert.deepEqual(handled, Array.from({ length: 10 }, (_, i) => i));
        assert.equal(failuresLeft, 0);
        assert.equal(h.dead().length, 0);
        assert.equal(h.bus.health?.().ok, true);
      } finally {
        await sub.stop();
        await h.close();
      }
    });

    it('stops a consumer stuck on an outage without waiting out its backoff, and commits nothing of the batch', async () => {
      const h = await make();
      let calls = 0;
      const sub = await h.bus.subscribe<Rec>({
        topics: [h.topic],
        group: 'stuck',
        handler: async () => {
          calls++;
          throw new TrailwatchError('TW_TEST_DOWN', 'store is down', { retriable: true });
        },
      });
      await h.bus.publish(h.topic, records(0, 3));
      await waitFor(() => calls >= 4, { timeoutMs, what: 'a few failed deliveries' });
      const t0 = Date.now();
      await sub.stop();
      const took = Date.now() - t0;
      // max_backoff_ms is 5 s here: a stop waiting it out would take that long.
      assert.ok(took < 4000, `stop took ${took} ms`);
      assert.equal(h.dead().length, 0);
      await h.close();
    });
  });
}

suite(
  'memory',
  async (maxBackoffMs = 5000) => {
    const dead: Dlq[] = [];
    const metrics = new Metrics({ defaults: false });
    const bus = new MemoryBus(
      { capacity: 1000, batch_size: 40 },
      { redelivery: { max_attempts: MAX_ATTEMPTS, max_backoff_ms: maxBackoffMs }, deadLetters: { topic: 'dlq', write: async (r) => void dead.push(...(r as Dlq[])) }, log: silentLogger(), metrics },
    );
    return { bus, topic: 'raw', dead: () => dead, metrics, close: () => bus.close() };
  },
  10_000,
);

describe('bus > kafka > bounded redelivery', () => {
  const prefix = uniqueName('tw-redeliver');
  const config = distributedConfig(prefix);
  before(() => setupKafka(config, silentLogger()).then(() => undefined));
  after(() => undefined);

  it('dead-letters the record whose output Kafka will never take (over message.max.bytes) instead of retrying it forever; the rest go on', async () => {
    const topics = topicNames(prefix);
    const bus = new KafkaBus(config.bus.kafka, silentLogger(), { groupPrefix: `${prefix}.${uniqueName('g')}`, dlqTopic: topics.dlq, redelivery: { max_attempts: MAX_ATTEMPTS, max_backoff_ms: 200 } });
    const input = `${prefix}.${uniqueName('in')}`;
    const output = `${prefix}.${uniqueName('out')}`;
    const dead: Dlq[] = [];
    const out: number[] = [];
    const subs = [
      await bus.subscribe<Dlq>({ topics: [topics.dlq], group: uniqueName('dlq'), handler: async (b) => void dead.push(...b.map((m) => m.value).filter((v) => v.trailwatch.dlq.topic === input)) }),
      await bus.subscribe<Rec & { blob?: string }>({ topics: [output], group: uniqueName('out'), handler: async (b) => void out.push(...b.map((m) => m.value.n)) }),
      // A stage that publishes what it makes of each record, as the rules stage does.
      // Record 5 makes 1.2 MB of incompressible text: over Kafka's 1 MiB even after lz4.
      await bus.subscribe<Rec>({
        topics: [input],
        group: uniqueName('stage'),
        handler: async (b) => bus.publish(output, b.map((m) => ({ key: 'k', value: { n: m.value.n, ...(m.value.poison ? { blob: randomBytes(900_000).toString('base64') } : {}) } }))),
      }),
    ];
    try {
      await bus.publish(input, records(0, 12, [5]));
      // At least once: what a failed delivery had already published is published again on redelivery.
      await waitFor(() => dead.length === 1 && new Set(out).size === 11, { timeoutMs: 60_000, what: 'the dead letter and the 11 other records' }).catch((err: Error) => {
        throw new Error(`${err.message}: ${dead.length} dead, ${out.length} out, first ${JSON.stringify(out.slice(0, 30))}`);
      });
      assert.deepEqual([...new Set(out)].sort((a, b) => a - b), [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11]);
      assert.match(dead[0].trailwatch.dlq.reason, /message\.max\.bytes/);
      assert.deepEqual(JSON.parse(dead[0].trailwatch.dlq.original), { n: 5, poison: true });
      await waitFor(() => bus.health().ok, { timeoutMs: 10_000, what: 'healthy once the record is out' });
    } finally {
      for (const sub of subs) await sub.stop();
      await bus.close();
    }
  });

  suite(
    'kafka',
    async (maxBackoffMs = 5000) => {
      const metrics = new Metrics({ defaults: false });
      const topics = topicNames(prefix);
      const bus = new KafkaBus(config.bus.kafka, silentLogger(), { groupPrefix: `${prefix}.${uniqueName('g')}`, dlqTopic: topics.dlq, metrics, redelivery: { max_attempts: MAX_ATTEMPTS, max_backoff_ms: maxBackoffMs } });
      // A topic of its own per case, so each starts empty; the DLQ read by its own group.
      const topic = `${prefix}.${uniqueName('t')}`;
      const dead: Dlq[] = [];
      const dlqGroup = uniqueName('dlq');
      const dsub = await bus.subscribe<Dlq>({ topics: [topics.dlq], group: dlqGroup, handler: async (b) => void dead.push(...b.map((m) => m.value).filter((v) => v.trailwatch.dlq.topic === topic)) });
      return {
        bus,
        topic,
        dead: () => dead,
        metrics,
        close: async () => {
          await dsub.stop();
          await bus.close();
        },
      };
    },
    60_000,
  );
});
