// Kafka bus (kafkajs) for distributed mode. Producer: idempotent, acks=all,
// records from many publish() calls batched into one request, and the records
// of one partition packed into one Kafka message (kafka-pack.ts). A
// publish resolves once the brokers hold its records; while they cannot take
// them (down, slow) records wait in a bounded buffer and further publishers
// wait too — that is how backpressure reaches a TCP sender. Consumers: one
// kafkajs consumer per subscription in the group; offsets are committed only
// after the handler resolved (at-least-once), a failing handler is retried in
// place with backoff so order is kept, within bounds (redelivery.ts).
import { Kafka, logLevel, type Admin, type Consumer, type Message, type Producer } from 'kafkajs';
import type { Bus, BusMessage, ConsumeOptions, Subscription } from './types.js';
import type { KafkaConfig } from './kafka-config.js';
import { certFailure, explainKafkaError, kafkaConnection } from './kafka-connect.js';
import { encode, KeyPartitioner, pack, unpack, type Encoded, type Unreadable } from './kafka-pack.js';
import { compressionType, registerLz4 } from './kafka-codecs.js';
import { backoffDelay, retry } from '../retry.js';
import { ConsumerFailures, deadLetterEvent, deliver, redeliveryConfig, type RedeliveryConfig } from './redelivery.js';
import { TrailwatchError, errorMessage, isRetriable } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';

interface Pending {
  topic: string;
  messages: Encoded[];
  bytes: number;
  /** Records before this index are sent (a publish larger than a request spans several). */
  next: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Records [from, to) of one publish, going out in the current request. */
interface Piece {
  p: Pending;
  from: number;
  to: number;
}

type TopicMessages = { topic: string; messages: Message[] };

function recordBytes(r: Encoded): number {
  return r.bytes;
}

/**
 * Whether waiting can help. kafkajs gives up on a broker that stays down
 * after its own few retries and wraps the connection error in
 * KafkaJSNumberOfRetriesExceeded or KafkaJSNonRetriableError (retriable:
 * false), which would make a publisher drop records on any outage longer
 * than a few seconds; the root cause decides. Wrappers without a cause
 * (invalid arguments) stay permanent, and so do TLS certificate failures,
 * which kafkajs calls retriable but only a config change fixes.
 */
export function transient(err: unknown): boolean {
  let e = err as { name?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && typeof e === 'object' && depth < 8; depth++) {
    if (e.name !== 'KafkaJSNumberOfRetriesExceeded' && e.name !== 'KafkaJSNonRetriableError') return isRetriable(e) && !certFailure(e);
    if (!e.cause || e.cause === e) return false;
    e = e.cause as typeof e;
  }
  return false;
}

/** Kafka's refusals that are a record's own fault: no wait helps (MESSAGE_TOO_LARGE: over the brokers' message.max.bytes). */
const RECORD_FAULTS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE']);

/** The error, or one of its causes, whose Kafka error code is one of `types`. */
function causeOfType(err: unknown, types: ReadonlySet<string>): { type: string } | undefined {
  let e = err as { type?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && typeof e === 'object' && depth < 8; depth++, e = e.cause as typeof e)
    if (typeof e.type === 'string' && types.has(e.type)) return e as { type: string };
  return undefined;
}

function recordFault(err: unknown): string | undefined {
  return causeOfType(err, RECORD_FAULTS)?.type;
}

/**
 * The group's refusals that mean "rejoin" (this member was dropped, or a
 * rebalance moved on without it). kafkajs rejoins when its fetch loop sees
 * one of these, but only as the protocol error itself: a commit's retrier
 * wraps it in a KafkaJSNonRetriableError without the code, and the consumer
 * then stops for good. So the commit's error is unwrapped to its cause.
 */
const REJOIN = new Set(['UNKNOWN_MEMBER_ID', 'REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'NOT_COORDINATOR_FOR_GROUP']);
export function rejoinCause(err: unknown): unknown {
  return causeOfType(err, REJOIN) ?? err;
}

/**
 * A publish that failed for good, as its publisher sees it. Retriable for a
 * consumer that publishes from its handler (the rules stages): Kafka refusing
 * is not the fault of the records being handled, so they are redelivered,
 * not dead-lettered (redelivery.ts). Except when it is: a record Kafka will
 * never take (too large) is not retriable, so the consumer finds the record
 * it came from and dead-letters it instead of retrying it forever. The
 * message keeps the cause.
 */
export function publishFailed(err: Error): Error {
  const fault = recordFault(err);
  const message = fault === 'MESSAGE_TOO_LARGE' ? `${err.message} (a record over the brokers' message.max.bytes, after compression)` : err.message;
  return new TrailwatchError((err as { code?: string }).code ?? 'TW_KAFKA_PUBLISH', message, { retriable: !fault, cause: err });
}

export function kafkaClient(cfg: KafkaConfig, log: Logger): Kafka {
  return new Kafka({
    ...kafkaConnection(cfg),
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
    logLevel: logLevel.WARN,
    // kafkajs logs through ours (pino redaction applies); its info chatter is dropped.
    logCreator: () => (entry) => {
      const { message, ...rest } = entry.log;
      const fields = { kafka: rest, namespace: entry.namespace };
      if (entry.level <= logLevel.ERROR) log.error(fields, `kafka: ${message}`);
      else log.warn(fields, `kafka: ${message}`);
    },
  });
}

export class KafkaBus implements Bus {
  readonly kind = 'kafka';
  readonly publishDepth = 4;
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private producerReady: Promise<void> | null = null;
  private admin: Admin | null = null;
  private queue: Pending[] = [];
  private queued = 0;
  private queuedBytes = 0;
  private readonly partitioners = new Map<string, { p: KeyPartitioner | null; at: number }>();
  private sending = false;
  private lingerTimer: NodeJS.Timeout | null = null;
  private spaceWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  private readonly consumers = new Set<Consumer>();
  private closed = false;
  private readonly redelivery: RedeliveryConfig;
  private readonly failures: ConsumerFailures;

  constructor(
    private readonly cfg: KafkaConfig,
    private readonly log: Logger,
    private readonly opts: { groupPrefix: string; dlqTopic: string; metrics?: Metrics; redelivery?: RedeliveryConfig },
  ) {
    if (!registerLz4(log) && cfg.producer.compression === 'lz4')
      throw new TrailwatchError('TW_KAFKA_LZ4', 'bus.kafka.producer.compression: lz4 needs the lz4-napi module, which did not load (see the warning above); choose gzip or none');
    this.kafka = kafkaClient(cfg, log);
    this.redelivery = opts.redelivery ?? redeliveryConfig.parse({});
    this.failures = new ConsumerFailures(opts.metrics);
    // Idempotence needs one request in flight; batching makes up for it.
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: true });
  }

  private connectProducer(): Promise<void> {
    if (!this.producerReady) {
      this.producerReady = this.producer.connect().catch((err) => {
        this.producerReady = null;
        throw err;
      });
    }
    return this.producerReady;
  }

  async publish<T>(topic: string, messages: BusMessage<T>[]): Promise<void> {
    if (this.closed) throw new Error(`bus closed: cannot publish to ${topic}`);
    if (!messages.length) return;
    while (this.queued >= this.cfg.producer.buffer_records) {
      await new Promise<void>((r) => this.spaceWaiters.push(r));
      if (this.closed) throw new Error(`bus closed: cannot publish to ${topic}`);
    }
    const encoded = new Array<Encoded>(messages.length);
    let bytes = 0;
    for (let i = 0; i < messages.length; i++) {
      encoded[i] = encode(messages[i]);
      bytes += recordBytes(encoded[i]);
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ topic, messages: encoded, bytes, next: 0, resolve, reject });
      this.queued += encoded.length;
      this.queuedBytes += bytes;
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.sending) return;
    const p = this.cfg.producer;
    if (this.queued >= p.batch_size || this.queuedBytes >= p.batch_bytes || p.linger_ms === 0) {
      if (this.lingerTimer) clearTimeout(this.lingerTimer);
      this.lingerTimer = null;
      void this.sendLoop();
    } else if (!this.lingerTimer) {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = null;
        void this.sendLoop();
      }, p.linger_ms);
    }
  }

  /** The next request's records: at most batch_size records and batch_bytes bytes (one record at least); a large publish spans requests. */
  private takeBatch(): Piece[] {
    const out: Piece[] = [];
    const { batch_size: maxRecords, batch_bytes: maxBytes } = this.cfg.producer;
    let n = 0;
    let bytes = 0;
    for (let qi = 0; qi < this.queue.length && n < maxRecords && bytes < maxBytes; qi++) {
      const p = this.queue[qi];
      const from = p.next;
      let to = from;
      while (to < p.messages.length && n < maxRecords) {
        const b = recordBytes(p.messages[to]);
        if (n > 0 && bytes + b > maxBytes) break;
        bytes += b;
        n++;
        to++;
      }
      if (to > from) out.push({ p, from, to });
      if (to < p.messages.length) break;
    }
    return out;
  }

  private async sendLoop(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.queue.length) {
        const pieces = this.takeBatch();
        const err = await this.sendWithRetry(pieces);
        let n = 0;
        let bytes = 0;
        for (const { p, from, to } of pieces) {
          // A failed request fails its publishes whole, their unsent rest included.
          const end = err ? p.messages.length : to;
          for (let i = p.next; i < end; i++) bytes += recordBytes(p.messages[i]);
          n += end - p.next;
          p.next = end;
          if (end < p.messages.length) continue;
          this.queue.splice(this.queue.indexOf(p), 1);
          if (err) p.reject(publishFailed(err));
          else p.resolve();
        }
        this.queued -= n;
        this.queuedBytes -= bytes;
        this.wakeSpace();
      }
    } finally {
      this.sending = false;
      const idle = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of idle) w();
    }
  }

  /**
   * The topic's partitioner, when its partition count is known; null while it
   * is not (a topic about to be auto-created): its records then go unpacked.
   * Refreshed every minute so added partitions are used.
   */
  private async partitioner(topic: string): Promise<KeyPartitioner | null> {
    const known = this.partitioners.get(topic);
    const now = Date.now();
    if (known && now - known.at < (known.p ? 60_000 : 1000)) return known.p;
    let p: KeyPartitioner | null = known?.p ?? null;
    try {
      const admin = this.getAdmin();
      await admin.connect();
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      const n = meta.topics[0]?.partitions.length ?? 0;
      if (n > 0 && n !== p?.partitions) p = new KeyPartitioner(n);
    } catch (err) {
      this.log.debug({ err: errorMessage(err), topic }, 'kafka: partitions unknown; sending records unpacked');
    }
    this.partitioners.set(topic, { p, at: now });
    return p;
  }

  private async topicMessages(pieces: Piece[]): Promise<TopicMessages[]> {
    const byTopic = new Map<string, Encoded[]>();
    for (const { p, from, to } of pieces) {
      let list = byTopic.get(p.topic);
      if (!list) byTopic.set(p.topic, (list = []));
      for (let i = from; i < to; i++) list.push(p.messages[i]);
    }
    const out: TopicMessages[] = [];
    for (const [topic, records] of byTopic) {
      const partitioner = await this.partitioner(topic);
      if (!partitioner) {
        out.push({ topic, messages: records.map((r) => ({ key: r.key, value: r.json })) });
        continue;
      }
      // Order within a partition is kept: records are appended in publish order.
      const byPartition = new Map<number, Encoded[]>();
      for (const r of records) {
        const partition = partitioner.partition(r.key);
        const list = byPartition.get(partition);
        if (list) list.push(r);
        else byPartition.set(partition, [r]);
      }
      const messages: Message[] = [];
      for (const [partition, list] of byPartition) messages.push(pack(list, partition));
      out.push({ topic, messages });
    }
    return out;
  }

  /** Send one request's records; retriable failures (broker down, leader moving) are retried until close. */
  private async sendWithRetry(pieces: Piece[]): Promise<Error | null> {
    const compression = compressionType(this.cfg.producer.compression);
    let topicMessages: TopicMessages[] | null = null;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.connectProducer();
        topicMessages ??= await this.topicMessages(pieces);
        await this.producer.sendBatch({ topicMessages, acks: -1, compression });
        if (attempt > 0) this.log.info({ attempt }, 'kafka: publishing again');
        return null;
      } catch (err) {
        if (this.closed || !transient(err)) return explainKafkaError(err, this.cfg) ?? (err instanceof Error ? err : new Error(errorMessage(err)));
        const delay = backoffDelay(attempt, { initialMs: 200, maxMs: 5000 });
        if (attempt === 0 || attempt % 10 === 0) this.log.warn({ err: errorMessage(err), attempt, held: this.queued }, 'kafka: publish failed; holding records and retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private wakeSpace(): void {
    if (!this.spaceWaiters.length || this.queued >= this.cfg.producer.buffer_records) return;
    const w = this.spaceWaiters;
    this.spaceWaiters = [];
    for (const f of w) f();
  }

  private getAdmin(): Admin {
    if (!this.admin) this.admin = this.kafka.admin();
    return this.admin;
  }

  async subscribe<T>(opts: ConsumeOptions<T>): Promise<Subscription> {
    const c = this.cfg.consumer;
    const groupId = `${this.opts.groupPrefix}.${opts.group}`;
    const consumer = this.kafka.consumer({
      groupId,
      sessionTimeout: c.session_timeout_ms,
      heartbeatInterval: c.heartbeat_interval_ms,
      maxBytes: c.max_bytes,
      maxBytesPerPartition: c.max_bytes_per_partition,
      allowAutoTopicCreation: true,
      retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 5000 },
    });
    this.consumers.add(consumer);
    // kafkajs restarts a consumer after a retriable crash; after any other it
    // stays stopped. That must not look healthy: /healthz turns degraded.
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (payload.restart || !this.consumers.has(consumer)) return;
      this.failures.failed(opts.group, opts.topics.join(','), payload.error, false);
      this.log.error({ group: opts.group, topics: opts.topics, err: errorMessage(payload.error) }, 'kafka consumer stopped after an error it does not restart from; restart the process');
    });
    await consumer.connect();
    // A topic that does not exist yet is auto-created by the first metadata request; wait for it.
    for (const topic of opts.topics) await retry(() => consumer.subscribe({ topic, fromBeginning: true }), { retries: 8, initialMs: 200, maxMs: 3000 });
    if (opts.rewindMs) this.rewindOnAssignment(consumer, groupId, opts.rewindMs);
    const lag = this.opts.metrics?.gauge('trailwatch_bus_consumer_lag_messages', 'Kafka messages behind the end of each partition, per consumer group (set per batch).', ['group', 'topic', 'partition']);
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: c.partitions_concurrently,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const msgs = batch.messages;
        // Kafka messages behind the log end: what this batch starts from, then what is left after each commit.
        const lagOf = { group: groupId, topic: batch.topic, partition: String(batch.partition) };
        const behind = (next: bigint) => lag?.set(lagOf, Math.max(0, Number(BigInt(batch.highWatermark) - next)));
        if (msgs.length) behind(BigInt(msgs[0].offset));
        const raw = opts.raw === true;
        // Records of whole Kafka messages up to batch_size go to the handler at once; the commit follows it.
        for (let start = 0; start < msgs.length; ) {
          if (!isRunning() || isStale()) return;
          const records: BusMessage<T>[] = [];
          const bad: Unreadable[] = [];
          let end = start;
          while (end < msgs.length && records.length + bad.length < c.batch_size) unpack(msgs[end++], raw, records, bad);
          const last = msgs[end - 1].offset;
          if (bad.length) await this.deadLetter(batch.topic, batch.partition, bad);
          if (records.length && !(await this.handleUntilDone(opts, records, batch.topic, { heartbeat, isRunning, isStale }))) return;
          // A member dropped while it handled the batch rejoins; the batch is delivered again (at least once).
          await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]).catch((err: unknown) => {
            const cause = rejoinCause(err);
            if (cause !== err) this.log.warn({ group: opts.group, topic: batch.topic, partition: batch.partition, err: errorMessage(err) }, 'kafka: commit refused by the group; rejoining, the batch will be delivered again');
            throw cause;
          });
          resolveOffset(last);
          behind(BigInt(last) + 1n);
          await heartbeat();
          start = end;
        }
      },
    });
    return {
      stop: async () => {
        this.consumers.delete(consumer);
        await consumer.disconnect();
      },
    };
  }

  /** Records that cannot be read go to the dead-letter topic instead of stopping the partition. */
  private async deadLetter(topic: string, partition: number, bad: Unreadable[]): Promise<void> {
    this.log.warn({ topic, partition, count: bad.length }, 'kafka: records that are not JSON sent to the dead-letter topic');
    await this.publish(
      this.opts.dlqTopic,
      bad.map((b) => ({ key: b.key, value: { reason: b.reason, topic, partition, offset: b.offset, original: b.original } })),
    );
  }

  /**
   * Bounded redelivery (redelivery.ts): a poison record goes to the dead-letter
   * topic and the partition goes on. The member heartbeats all the while, so a
   * handler slower than session_timeout_ms (a slow Elasticsearch bulk, a
   * backoff between redeliveries) does not get it dropped from its group.
   */
  private async handleUntilDone<T>(
    opts: ConsumeOptions<T>,
    batch: BusMessage<T>[],
    topic: string,
    run: { heartbeat(): Promise<void>; isRunning(): boolean; isStale(): boolean },
  ): Promise<boolean> {
    const running = () => run.isRunning() && !run.isStale() && !this.closed;
    // kafkajs sends a heartbeat only when one is due, so a tick this often costs nothing more.
    const beat = setInterval(() => void run.heartbeat().catch(() => {}), Math.max(100, Math.floor(this.cfg.consumer.heartbeat_interval_ms / 2)));
    try {
      return await deliver(
        {
          handler: opts.handler,
          group: opts.group,
          topic,
          cfg: this.redelivery,
          failures: this.failures,
          log: this.log,
          running,
          sleep: async (ms) => {
            for (const until = Date.now() + ms; running() && Date.now() < until; ) await new Promise((r) => setTimeout(r, Math.min(500, until - Date.now())));
          },
          deadLetter: (records, error, attempts) =>
            this.publish(
              this.opts.dlqTopic,
              records.map((m) => ({ key: m.key, value: deadLetterEvent(m, { group: opts.group, topic, error, attempts, bus: this.kind }) })),
            ),
        },
        batch,
      );
    } finally {
      clearInterval(beat);
    }
  }

  /** Consumers failing now (their batch being redelivered), for /healthz. */
  health(): { ok: boolean; failing: unknown[] } {
    return this.failures.health();
  }

  /**
   * After every assignment, seek each partition back to the first record
   * newer than now - rewindMs (or the committed offset, if older), so a
   * stateful consumer sees its whole window again.
   */
  private rewindOnAssignment(consumer: Consumer, groupId: string, rewind: number | (() => number)): void {
    consumer.on(consumer.events.GROUP_JOIN, async ({ payload }) => {
      try {
        const admin = this.getAdmin();
        await admin.connect();
        for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
          const rewindMs = typeof rewind === 'function' ? rewind() : rewind;
          const byTime = await admin.fetchTopicOffsetsByTimestamp(topic, Date.now() - rewindMs);
          const committed = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions ?? [];
          for (const partition of partitions) {
            const t = byTime.find((o) => o.partition === partition)?.offset;
            const c = committed.find((o) => o.partition === partition)?.offset;
            if (t === undefined || c === undefined || c === '-1') continue; // new group: fromBeginning already
            const offset = BigInt(t) < BigInt(c) ? t : c;
            consumer.seek({ topic, partition, offset });
          }
        }
      } catch (err) {
        this.log.error({ err: errorMessage(err) }, 'kafka: could not rewind for window rebuild');
      }
    });
  }

  async drain(): Promise<void> {
    while (this.queue.length || this.sending) {
      if (this.lingerTimer) {
        clearTimeout(this.lingerTimer);
        this.lingerTimer = null;
        void this.sendLoop();
      }
      await new Promise<void>((r) => this.idleWaiters.push(r));
    }
  }

  async close(): Promise<void> {
    await Promise.race([this.drain(), new Promise((r) => setTimeout(r, 10_000))]);
    this.closed = true;
    for (const w of this.spaceWaiters.splice(0)) w();
    await Promise.all([...this.consumers].map((c) => c.disconnect().catch(() => {})));
    this.consumers.clear();
    await this.producer.disconnect().catch(() => {});
    await this.admin?.disconnect().catch(() => {});
  }
}
