// In-process bus for embedded mode: bounded queues per (topic, group), batches
// delivered in order, redelivered on handler failure within bounds
// (redelivery.ts: a poison record goes to the dead-letter store, the consumer
// goes on). Publishing into a full queue waits, so a slow sink slows TCP
// senders instead of growing memory.
import { z } from 'zod';
import type { Bus, BusMessage, ConsumeOptions, Subscription } from './types.js';
import type { TwEvent } from '../event.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { ConsumerFailures, deadLetterEvent, deliver, redeliveryConfig, type RedeliveryConfig } from './redelivery.js';

export const memoryBusConfig = z
  .strictObject({
    capacity: z
      .number()
      .int()
      .min(1)
      .default(50_000)
      .describe('Records a topic may hold per consumer group before publishers wait (backpressure).'),
    batch_size: z.number().int().min(1).default(1000).describe('Most records handed to a consumer at once.'),
  })
  .describe('In-process bus (embedded mode).');
export type MemoryBusConfig = z.infer<typeof memoryBusConfig>;

class GroupQueue {
  items: BusMessage<unknown>[] = [];
  head = 0;
  busy = false;
  handlers: ConsumeOptions<unknown>['handler'][] = [];
  next = 0;
  idleWaiters: (() => void)[] = [];
  /** Records ever put in / committed out of this queue, and who waits for a count to be committed. */
  enqueued = 0;
  committed = 0;
  commitWaiters: { target: number; resolve: () => void; reject: (err: Error) => void }[] = [];
  constructor(
    readonly topic: string,
    readonly group: string,
  ) {}
  get length(): number {
    return this.items.length - this.head;
  }
  take(n: number): BusMessage<unknown>[] {
    const end = Math.min(this.items.length, this.head + n);
    const batch = this.items.slice(this.head, end);
    return batch;
  }
  commit(n: number): void {
    this.committed += n;
    if (this.commitWaiters.length) {
      const still: GroupQueue['commitWaiters'] = [];
      for (const w of this.commitWaiters) (w.target <= this.committed ? w.resolve : () => still.push(w))();
      this.commitWaiters = still;
    }
    this.head += n;
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

export interface MemoryBusOptions {
  redelivery?: RedeliveryConfig;
  /**
   * The dead-letter store: records a consumer cannot handle, and whatever is
   * published to `topic`, are written here (data_dir/dlq in embedded mode),
   * and queued too only for groups that consume the topic. Without it they
   * are queued on the topic like any record.
   */
  deadLetters?: { topic: string; write(records: readonly TwEvent[]): Promise<void>; close?(): Promise<void> };
  log?: Logger;
  metrics?: Metrics;
}

export class MemoryBus implements Bus {
  readonly kind = 'memory';
  readonly publishDepth = 1;
  private readonly topics = new Map<string, Map<string, GroupQueue>>();
  private spaceWaiters: (() => void)[] = [];
  private closed = false;
  private readonly redelivery: RedeliveryConfig;
  private readonly failures: ConsumerFailures;

  constructor(
    private readonly cfg: MemoryBusConfig = { capacity: 50_000, batch_size: 1000 },
    private readonly opts: MemoryBusOptions = {},
  ) {
    this.redelivery = opts.redelivery ?? redeliveryConfig.parse({});
    this.failures = new ConsumerFailures(opts.metrics);
  }

  /** Consumers failing now (their batch being redelivered), for /healthz. */
  health(): { ok: boolean; failing: unknown[] } {
    return this.failures.health();
  }

  private groups(topic: string): Map<string, GroupQueue> {
    let g = this.topics.get(topic);
    if (!g) this.topics.set(topic, (g = new Map()));
    return g;
  }

  /** Records of the topic not yet handled by its slowest consumer group. */
  pending(topic: string): number {
    let n = 0;
    for (const q of this.groups(topic).values()) if (q.length > n) n = q.length;
    return n;
  }

  private full(topic: string): boolean {
    for (const q of this.groups(topic).values()) if (q.length >= this.cfg.capacity) return true;
    return false;
  }

  async publish<T>(topic: string, messages: BusMessage<T>[]): Promise<void> {
    if (this.closed) throw new Error(`bus closed: cannot publish to ${topic}`);
    const dl = this.opts.deadLetters;
    if (dl && topic === dl.topic) {
      await dl.write(messages.map((m) => m.value as TwEvent));
      if (!this.groups(topic).size) return;
    }
    while (this.full(topic)) {
      await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
      if (this.closed) throw new Error(`bus closed: cannot publish to ${topic}`);
    }
    // Records published to a topic nobody consumes yet are kept for the first group.
    const groups = this.groups(topic);
    if (groups.size === 0) groups.set('', new GroupQueue(topic, ''));
    for (const q of groups.values()) {
      for (let i = 0; i < messages.length; i++) q.items.push(messages[i] as BusMessage<unknown>);
      q.enqueued += messages.length;
      this.pump(q);
    }
  }

  async subscribe<T>(opts: ConsumeOptions<T>): Promise<Subscription> {
    const handler = opts.handler as ConsumeOptions<unknown>['handler'];
    const queues: GroupQueue[] = [];
    for (const topic of opts.topics) {
      const groups = this.groups(topic);
      let q = groups.get(opts.group);
      if (!q) {
        // The first group inherits what was published before anyone subscribed.
        const pending = groups.get('');
        q = new GroupQueue(topic, opts.group);
        if (pending) {
          q.items = pending.items.slice(pending.head);
          q.enqueued = q.items.length;
          groups.delete('');
        }
        groups.set(opts.group, q);
      }
      q.handlers.push(handler);
      queues.push(q);
      this.pump(q);
    }
    return {
      stop: async () => {
        for (const q of queues) {
          q.handlers = q.handlers.filter((h) => h !== handler);
          if (q.busy) await new Promise<void>((r) => q.idleWaiters.push(r));
        }
      },
    };
  }

  private pump(q: GroupQueue): void {
    if (q.busy || q.length === 0 || q.handlers.length === 0) return;
    q.busy = true;
    const handler = q.handlers[q.next++ % q.handlers.length];
    const batch = q.take(this.cfg.batch_size);
    const running = () => !this.closed && q.handlers.includes(handler);
    // Deliver on the next tick so publishers never run consumer code synchronously.
    setImmediate(() => {
      deliver(
        {
          handler,
          group: q.group,
          topic: q.topic,
          cfg: this.redelivery,
          failures: this.failures,
          log: this.opts.log,
          running,
          sleep: async (ms) => {
            // In slices, so a stopping subscription is not held up by a long backoff.
            for (const until = Date.now() + ms; running() && Date.now() < until; ) await new Promise((r) => setTimeout(r, Math.min(50, until - Date.now())));
          },
          deadLetter: (records, error, attempts) => this.deadLetter(q, records, error, attempts),
        },
        batch,
      ).then(
        (done) => {
          if (done) q.commit(batch.length);
          this.release(q);
        },
        (err) => {
          // deliver() only throws on a bug of its own: keep the batch and try again later.
          this.opts.log?.error({ err, topic: q.topic, group: q.group }, 'bus: delivery failed; retrying');
          setTimeout(() => this.release(q), this.redelivery.max_backoff_ms);
        },
      );
    });
  }

  private async deadLetter(q: GroupQueue, records: BusMessage<unknown>[], error: unknown, attempts: number): Promise<void> {
    const dead = records.map((m) => ({ key: m.key, value: deadLetterEvent(m, { group: q.group, topic: q.topic, error, attempts, bus: this.kind }) }));
    const topic = this.opts.deadLetters?.topic;
    if (topic && topic !== q.topic) await this.publish(topic, dead);
    else this.opts.log?.error({ records: dead.map((d) => d.value) }, 'bus: no dead-letter store; the record is logged here only');
  }

  private release(q: GroupQueue): void {
    q.busy = false;
    if (this.spaceWaiters.length) {
      const waiters = this.spaceWaiters;
      this.spaceWaiters = [];
      for (const w of waiters) w();
    }
    if (q.length === 0 || q.handlers.length === 0) {
      const idle = q.idleWaiters;
      q.idleWaiters = [];
      for (const w of idle) w();
    }
    this.pump(q);
  }

  /**
   * Resolves once every record published to `topic` so far has been handled
   * by each consumer group of it, and then what was published anywhere up to
   * that moment (the outputs of those handlers among it): accepted input is
   * then as safe as the sinks made it. Unlike drain() it waits for a fixed
   * set of records, so a steady stream from other senders cannot delay it
   * without bound. Rejects after `timeoutMs`.
   */
  async settled(topic: string, timeoutMs = 60_000): Promise<void> {
    const waitFor = (queues: GroupQueue[]) =>
      Promise.all(
        queues.map((q) => {
          const target = q.enqueued;
          if (q.committed >= target) return undefined;
          return new Promise<void>((resolve, reject) => q.commitWaiters.push({ target, resolve, reject }));
        }),
      );
    const consumed = (qs: Iterable<GroupQueue>) => [...qs].filter((q) => q.handlers.length > 0);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`bus: records on ${topic} not handled within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([
        (async () => {
          await waitFor(consumed(this.groups(topic).values()));
          const all: GroupQueue[] = [];
          for (const [t, groups] of this.topics) if (t !== topic) all.push(...consumed(groups.values()));
          await waitFor(all);
        })(),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async drain(): Promise<void> {
    // Consumers may publish downstream, so repeat until every queue is idle.
    for (;;) {
      const pending: Promise<void>[] = [];
      for (const groups of this.topics.values())
        for (const q of groups.values())
          if (q.handlers.length && (q.busy || q.length)) pending.push(new Promise((r) => q.idleWaiters.push(r)));
      if (!pending.length) return;
      await Promise.all(pending);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const groups of this.topics.values())
      for (const q of groups.values()) {
        for (const w of q.commitWaiters) w.reject(new Error('bus closed before the records were handled'));
        q.commitWaiters = [];
      }
    const waiters = this.spaceWaiters;
    this.spaceWaiters = [];
    for (const w of waiters) w();
    await this.opts.deadLetters?.close?.();
  }
}
