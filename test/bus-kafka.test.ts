import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Kafka, logLevel } from 'kafkajs';
import { distributedConfig, kafkaBus, services, uniqueName } from './distributed-helpers.js';
import { setupKafka } from '../src/bus/kafka-setup.js';
import { silentLogger } from '../src/log.js';
import { waitFor } from './helpers.js';
import type { BusMessage } from '../src/bus/types.js';
import { KafkaBus } from '../src/bus/kafka.js';
import { Metrics } from '../src/metrics.js';

describe('bus > kafka', () => {
  const prefix = uniqueName('tw-bus');
  const config = distributedConfig(prefix);
  const admin = new Kafka({ brokers: services().brokers.split(','), logLevel: logLevel.NOTHING }).admin();

  before(async () => {
    await admin.connect();
    await setupKafka(config, silentLogger());
  });
  after(async () => {
    await admin.disconnect();
  });

  it('setup kafka creates every topic with the configured partitions, and is idempotent', async () => {
    const again = await setupKafka(config, silentLogger());
    assert.deepEqual(again.created, []);
    const meta = await admin.fetchTopicMetadata({ topics: [`${prefix}.raw`, `${prefix}.events`, `${prefix}.alerts`, `${prefix}.dlq`, `${prefix}.rules-repartition`] });
    for (const t of meta.topics) assert.equal(t.partitions.length, 3, t.name);
  });

  it('delivers every record once to a group, in order per key, after many small publishes are batched', async () => {
    const bus = kafkaBus(config);
    const topic = `${prefix}.raw`;
    const seen = new Map<string, number[]>();
    let total = 0;
    const sub = await bus.subscribe<{ n: number }>({
      topics: [topic],
      group: 'order',
      handler: async (batch) => {
        for (const m of batch) {
          const list = seen.get(m.key!) ?? [];
          list.push(m.value.n);
          seen.set(m.key!, list);
          total++;
        }
      },
    });
    const sends: Promise<void>[] = [];
    for (let n = 0; n < 1000; n++) sends.push(bus.publish(topic, [{ key: `host-${n % 7}`, value: { n } }]));
    await Promise.all(sends);
    await waitFor(() => total >= 1000, { timeoutMs: 30_000, what: '1000 records' });
    await sub.stop();
    assert.equal(total, 1000);
    for (const [key, list] of seen) assert.deepEqual(list, [...list].sort((a, b) => a - b), `order for ${key}`);
    await bus.close();
  });

  it('reports consumer lag per group and partition: behind while a batch is held, none once committed', async () => {
    const metrics = new Metrics({ defaults: false });
    const bus = new KafkaBus(config.bus.kafka, silentLogger(), { groupPrefix: prefix, dlqTopic: `${prefix}.dlq`, metrics });
    const topic = `${prefix}.lag`; // its own topic (auto-created): the dead-letter test counts what is on .alerts
    // Ten separate publishes to one key: ten Kafka messages on one partition.
    for (let n = 0; n < 10; n++) await bus.publish(topic, [{ key: 'one-key', value: { n } }]);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let seen = 0;
    const sub = await bus.subscribe<{ n: number }>({
      topics: [topic],
      group: 'lag',
      handler: async (batch) => {
        seen += batch.length;
        await held;
      },
    });
    const lag = () => metrics.value('trailwatch_bus_consumer_lag_messages', { group: `${prefix}.lag`, topic });
    await waitFor(async () => seen > 0 && (await lag()) > 0, { timeoutMs: 30_000, what: 'lag reported while the batch is held' });
    assert.ok((await lag()) <= 10);
    release();
    await waitFor(async () => seen === 10 && (await lag()) === 0, { timeoutMs: 30_000, what: 'no lag once every record is committed' });
    await sub.stop();
    await bus.close();
  });

  it('redelivers a batch whose handler failed, and commits only after success', async () => {
    const bus = kafkaBus(config);
    const topic = `${prefix}.events`;
    await bus.publish(topic, Array.from({ length: 50 }, (_, n): BusMessage<{ n: number }> => ({ key: 'h', value: { n } })));
    let failures = 0;
    const got: number[] = [];
    const sub = await bus.subscribe<{ n: number }>({
      topics: [topic],
      group: 'flaky',
      handler: async (batch) => {
        if (failures < 2) {
          failures++;
          throw new Error('downstream unavailable');
        }
        for (const m of batch) got.push(m.value.n);
      },
    });
    await waitFor(() => got.length >= 50, { timeoutMs: 30_000, what: 'redelivered records' });
    await sub.stop();
    assert.equal(failures, 2);
    assert.deepEqual(got, Array.from({ length: 50 }, (_, n) => n));
    // The 50 records travel packed in fewer Kafka messages: the commit covers all of them, no more.
    const offsets = await admin.fetchOffsets({ groupId: `${prefix}.flaky`, topics: [topic] });
    const committed = offsets[0].partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
    const end = (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
    assert.ok(end >= 1 && end < 50, `packed into ${end} Kafka messages`);
    assert.equal(committed, end, 'committed offsets cover exactly the handled records');
    // A new member of the group starts after the committed records: nothing again.
    let again = 0;
    const sub2 = await bus.subscribe({ topics: [topic], group: 'flaky', handler: async (b) => void (again += b.length) });
    await new Promise((r) => setTimeout(r, 3000));
    await sub2.stop();
    assert.equal(again, 0);
    await bus.close();
  });

  describe('a member slower than the session timeout', () => {
    // 6 s is the least session timeout a broker allows by default.
    const slow = distributedConfig(prefix, { bus: { type: 'kafka', kafka: { topics: { partitions: 3 }, consumer: { session_timeout_ms: 6000, heartbeat_interval_ms: 1000 } } } });
    const group = (name: string) => `${prefix}.${name}`;
    const committed = async (name: string, topic: string) =>
      (await admin.fetchOffsets({ groupId: group(name), topics: [topic] }))[0].partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);

    it('stays in its group while a handler takes longer than session_timeout_ms: handled once, committed, healthy', async () => {
      const bus = kafkaBus(slow);
      const topic = `${prefix}.slow-handler`;
      await bus.publish(topic, Array.from({ length: 20 }, (_, n): BusMessage<{ n: number }> => ({ key: 'k', value: { n } })));
      const got: number[] = [];
      const sub = await bus.subscribe<{ n: number }>({
        topics: [topic],
        group: 'slow-handler',
        handler: async (batch) => {
          if (!got.length) await new Promise((r) => setTimeout(r, 9000)); // 1.5 session timeouts, as a slow bulk request
          for (const m of batch) got.push(m.value.n);
        },
      });
      const end = async () => (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
      await waitFor(async () => got.length >= 20 && (await committed('slow-handler', topic)) === (await end()), { timeoutMs: 40_000, what: () => `20 records handled and committed (got ${got.length})` });
      assert.deepEqual(got, Array.from({ length: 20 }, (_, n) => n), 'each record handled once: the member was never dropped');
      assert.equal(bus.health().ok, true);
      await sub.stop();
      await bus.close();
    });

    it('a member dropped while its handler blocked rejoins: the batch comes again, later records are consumed, health stays ok', async () => {
      const bus = kafkaBus(slow);
      const topic = `${prefix}.dropped-member`;
      await bus.publish(topic, Array.from({ length: 10 }, (_, n): BusMessage<{ n: number }> => ({ key: 'k', value: { n } })));
      const got: number[] = [];
      let blocked = false;
      const sub = await bus.subscribe<{ n: number }>({
        topics: [topic],
        group: 'dropped-member',
        handler: async (batch) => {
          if (!blocked) {
            // A stalled process (CPU starvation, a long GC): no timer runs, no heartbeat goes out, the group drops it.
            blocked = true;
            const until = Date.now() + 9000;
            while (Date.now() < until);
          }
          for (const m of batch) got.push(m.value.n);
        },
      });
      await waitFor(() => got.length >= 20, { timeoutMs: 60_000, what: () => `the first batch delivered again after the rejoin (got ${got.join(',')})` });
      assert.deepEqual(got.slice(0, 10), got.slice(10, 20), 'the same records, again');
      await bus.publish(topic, [{ key: 'k', value: { n: 10 } }]);
      await waitFor(() => got.includes(10), { timeoutMs: 30_000, what: 'a record published after the rejoin' });
      assert.equal(bus.health().ok, true, JSON.stringify(bus.health()));
      await sub.stop();
      await bus.close();
    });
  });

  it('packs records: a publish larger than one request arrives whole, in order per key, in few Kafka messages', async () => {
    const kafka = config.bus.kafka;
    const bus = new KafkaBus({ ...kafka, producer: { ...kafka.producer, batch_bytes: 4096 } }, silentLogger(), { groupPrefix: prefix, dlqTopic: `${prefix}.dlq` });
    const topic = `${prefix}.rules-repartition`;
    const sent = Array.from({ length: 600 }, (_, n): BusMessage<{ n: number; pad: string }> => ({ key: `k${n % 5}`, value: { n, pad: 'x'.repeat(40) } }));
    await bus.publish(topic, sent);
    const got = new Map<string, number[]>();
    let total = 0;
    const sub = await bus.subscribe<{ n: number }>({
      topics: [topic],
      group: 'pack',
      handler: async (batch) => {
        for (const m of batch) got.set(m.key!, [...(got.get(m.key!) ?? []), m.value.n]);
        total += batch.length;
      },
    });
    await waitFor(() => total >= 600, { timeoutMs: 30_000, what: '600 records' });
    await sub.stop();
    await bus.close();
    assert.equal(total, 600);
    for (let k = 0; k < 5; k++) assert.deepEqual(got.get(`k${k}`), Array.from({ length: 120 }, (_, i) => i * 5 + k), `k${k} in order`);
    const messages = (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
    assert.ok(messages > 1 && messages < 100, `600 records in ${messages} Kafka messages (4 KiB requests)`);
  });

  it('gives a raw subscriber each record\'s JSON bytes and id, parsing a value only when read', async () => {
    const bus = kafkaBus(config);
    const topic = `${prefix}.events`; // also holds the records of the redelivery test: told apart by id
    await bus.publish(topic, [
      { key: 'h', value: { event: { id: 'e-1' }, n: 1 }, id: 'e-1' },
      { key: 'h', value: { event: { id: 'e-2' }, n: 2 }, id: 'e-2' },
    ]);
    const got: BusMessage<{ n: number }>[] = [];
    const sub = await bus.subscribe<{ n: number }>({ topics: [topic], group: 'raw', raw: true, handler: async (b) => void got.push(...b.filter((m) => m.id?.startsWith('e-'))) });
    await waitFor(() => got.length >= 2, { timeoutMs: 30_000, what: 'raw records' });
    await sub.stop();
    await bus.close();
    assert.deepEqual(
      got.map((m) => [m.key, m.id, Buffer.isBuffer(m.json) ? m.json.toString() : null, m.value.n]),
      [
        ['h', 'e-1', '{"event":{"id":"e-1"},"n":1}', 1],
        ['h', 'e-2', '{"event":{"id":"e-2"},"n":2}', 2],
      ],
    );
  });

  it('sends records that are not JSON to the dead-letter topic and goes on', async () => {
    const producer = new Kafka({ brokers: services().brokers.split(','), logLevel: logLevel.NOTHING }).producer();
    await producer.connect();
    const topic = `${prefix}.alerts`;
    await producer.send({ topic, messages: [{ key: 'k', value: 'not json {' }, { key: 'k', value: JSON.stringify({ ok: true }) }] });
    await producer.disconnect();
    const bus = kafkaBus(config);
    const good: unknown[] = [];
    const dead: { reason: string; original: string }[] = [];
    const s1 = await bus.subscribe({ topics: [topic], group: 'json', handler: async (b) => void good.push(...b.map((m) => m.value)) });
    const s2 = await bus.subscribe<{ reason: string; original: string }>({ topics: [`${prefix}.dlq`], group: 'dlq', handler: async (b) => void dead.push(...b.map((m) => m.value)) });
    await waitFor(() => good.length === 1 && dead.length === 1, { timeoutMs: 30_000, what: 'good and dead records' });
    await s1.stop();
    await s2.stop();
    assert.deepEqual(good, [{ ok: true }]);
    assert.match(dead[0].reason, /not JSON/);
    assert.equal(dead[0].original, 'not json {');
    await bus.close();
  });
});
