// Kafka bus (kafkajs) for distributed mode. Producer: idempotent, acks=all,
// records from many publish() calls batched into one request, gzip. A
// publish resolves once the brokers hold its records; while they cannot take
// them (down, slow) records wait in a bounded buffer and further publishers
// wait too — that is how backpressure reaches a TCP sender. Consumers: one
// kafkajs consumer per subscription in the group; offsets are committed only
// after the handler resolved (at-least-once), a failing handler is retried in
// place with backoff so order is kept.
import { CompressionTypes, Kafka, logLevel, type Admin, type Consumer, type KafkaMessage, type Producer } from 'kafkajs';
import type { Bus, BusMessage, ConsumeOptions, Subscription } from './types.js';
import type { KafkaConfig } from './kafka-config.js';
import { certFailure, explainKafkaError, kafkaConnection } from './kafka-connect.js';
import { backoffDelay, retry } from '../retry.js';
import { errorMessage, isRetriable } from '../errors.js';
import type { Logger } from '../log.js';

interface Pending {
  topic: string;
  messages: { key: string | null; value: string }[];
  resolve: () => void;
  reject: (err: Error) => void;
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
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private producerReady: Promise<void> | null = null;
  private admin: Admin | null = null;
  private queue: Pending[] = [];
  private queued = 0;
  private sending = false;
  private lingerTimer: NodeJS.Timeout | null = null;
  private spaceWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  private readonly consumers = new Set<Consumer>();
  private closed = false;

  constructor(
    private readonly cfg: KafkaConfig,
    private readonly log: Logger,
    private readonly opts: { groupPrefix: string; dlqTopic: string },
  ) {
    this.kafka = kafkaClient(cfg, log);
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
    const encoded = new Array<{ key: string | null; value: string }>(messages.length);
    for (let i = 0; i < messages.length; i++) encoded[i] = { key: messages[i].key, value: JSON.stringify(messages[i].value) };
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ topic, messages: encoded, resolve, reject });
      this.queued += encoded.length;
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.sending) return;
    if (this.queued >= this.cfg.producer.batch_size || this.cfg.producer.linger_ms === 0) {
      if (this.lingerTimer) clearTimeout(this.lingerTimer);
      this.lingerTimer = null;
      void this.sendLoop();
    } else if (!this.lingerTimer) {
      this.lingerTimer = setTimeout(() => {
        this.lingerTimer = null;
        void this.sendLoop();
      }, this.cfg.producer.linger_ms);
    }
  }

  private takeBatch(): Pending[] {
    const out: Pending[] = [];
    let n = 0;
    while (this.queue.length && (n === 0 || n + this.queue[0].messages.length <= this.cfg.producer.batch_size)) {
      const p = this.queue.shift()!;
      n += p.messages.length;
      out.push(p);
    }
    return out;
  }

  private async sendLoop(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (this.queue.length) {
        const batch = this.takeBatch();
        const err = await this.sendWithRetry(batch);
        let n = 0;
        for (const p of batch) {
          n += p.messages.length;
          if (err) p.reject(err);
          else p.resolve();
        }
        this.queued -= n;
        this.wakeSpace();
      }
    } finally {
      this.sending = false;
      const idle = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of idle) w();
    }
  }

  /** Send one batch; retriable failures (broker down, leader moving) are retried until close. */
  private async sendWithRetry(batch: Pending[]): Promise<Error | null> {
    const byTopic = new Map<string, { key: string | null; value: string }[]>();
    for (const p of batch) {
      const list = byTopic.get(p.topic);
      if (list) for (const m of p.messages) list.push(m);
      else byTopic.set(p.topic, p.messages.slice());
    }
    const topicMessages = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
    const compression = this.cfg.producer.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.connectProducer();
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
      allowAutoTopicCreation: true,
      retry: { retries: 10, initialRetryTime: 200, maxRetryTime: 5000 },
    });
    this.consumers.add(consumer);
    await consumer.connect();
    // A topic that does not exist yet is auto-created by the first metadata request; wait for it.
    for (const topic of opts.topics) await retry(() => consumer.subscribe({ topic, fromBeginning: true }), { retries: 8, initialMs: 200, maxMs: 3000 });
    if (opts.rewindMs) this.rewindOnAssignment(consumer, groupId, opts.rewindMs);
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: c.partitions_concurrently,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const msgs = batch.messages;
        for (let start = 0; start < msgs.length; start += c.batch_size) {
          if (!isRunning() || isStale()) return;
          const chunk = msgs.slice(start, start + c.batch_size);
          const decoded = await this.decode<T>(batch.topic, batch.partition, chunk);
          if (decoded.length && !(await this.handleUntilDone(opts.handler, decoded, batch.topic, { heartbeat, isRunning, isStale }))) return;
          const last = chunk[chunk.length - 1].offset;
          await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() }]);
          resolveOffset(last);
          await heartbeat();
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

  /** Parse record values; a record that is not JSON goes to the dead-letter topic instead of stopping the partition. */
  private async decode<T>(topic: string, partition: number, chunk: KafkaMessage[]): Promise<BusMessage<T>[]> {
    const out: BusMessage<T>[] = [];
    const bad: BusMessage<unknown>[] = [];
    for (const m of chunk) {
      const text = m.value ? m.value.toString('utf8') : '';
      try {
        out.push({ key: m.key ? m.key.toString('utf8') : null, value: JSON.parse(text) as T });
      } catch (err) {
        bad.push({ key: m.key ? m.key.toString('utf8') : null, value: { reason: `not JSON: ${errorMessage(err)}`, topic, partition, offset: m.offset, original: text.slice(0, 65536) } });
      }
    }
    if (bad.length) {
      this.log.warn({ topic, partition, count: bad.length }, 'kafka: records that are not JSON sent to the dead-letter topic');
      await this.publish(this.opts.dlqTopic, bad);
    }
    return out;
  }

  private async handleUntilDone<T>(
    handler: ConsumeOptions<T>['handler'],
    batch: BusMessage<T>[],
    topic: string,
    run: { heartbeat(): Promise<void>; isRunning(): boolean; isStale(): boolean },
  ): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        await handler(batch, topic);
        return true;
      } catch (err) {
        this.log.warn({ err: errorMessage(err), topic, attempt }, 'kafka: handler failed; redelivering the batch');
        const delay = backoffDelay(attempt, { initialMs: 100, maxMs: 5000 });
        const until = Date.now() + delay;
        while (Date.now() < until) {
          if (!run.isRunning() || run.isStale()) return false;
          await new Promise((r) => setTimeout(r, Math.min(500, until - Date.now())));
          await run.heartbeat().catch(() => {});
        }
      }
    }
  }

  /**
   * After every assignment, seek each partition back to the first record
   * newer than now - rewindMs (or the committed offset, if older), so a
   * stateful consumer sees its whole window again.
   */
  private rewindOnAssignment(consumer: Consumer, groupId: string, rewindMs: number): void {
    consumer.on(consumer.events.GROUP_JOIN, async ({ payload }) => {
      try {
        const admin = this.getAdmin();
        await admin.connect();
        for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
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
