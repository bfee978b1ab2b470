// How every bus hands a batch to a consumer's handler, and what it does when
// the handler keeps failing. Two kinds of failure:
//  - transient (errors.isRetriable: a sink's store is down, the disk is full):
//    the same batch is redelivered with backoff for as long as it takes; the
//    records wait on the bus (backpressure), nothing is dropped;
//  - anything else (a record the code cannot handle: a TypeError, a stack
//    overflow on a hostile record): after max_attempts deliveries the batch is
//    split in halves, the halves that go through are done, and halves that
//    fail again are split until the single records that fail are found. Those
//    go to the dead-letter store with the error, and the consumer goes on.
// While a consumer is failing, the bus's health() names it (/healthz says
// degraded). Records of a batch holding a poison record may be handled more
// than once: at most max_attempts + ceil(log2(batch size)) times, which the
// at-least-once handlers tolerate (deterministic ids).
import { z } from 'zod';
import { isRetriable, errorMessage } from '../errors.js';
import { backoffDelay } from '../retry.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { newEventId, type TwEvent } from '../event.js';
import type { BusMessage, ConsumeOptions } from './types.js';

export const redeliveryConfig = z
  .strictObject({
    max_attempts: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(5)
      .describe(
        'Deliveries of a batch whose handler fails with an error a retry cannot fix, before the batch is split to find the failing records; those go to the dead-letter store (<prefix>.dlq, and data_dir/dlq in embedded mode) and the stage goes on. Transient errors (a sink that is down, a full disk) are retried without limit.',
      ),
    max_backoff_ms: z.number().int().min(10).default(5000).describe('Longest wait between two deliveries of a failing batch.'),
  })
  .prefault({})
  .describe('Redelivery of batches whose consumer fails.');
export type RedeliveryConfig = z.infer<typeof redeliveryConfig>;

/** What a dead-lettered record becomes: an ECS event naming the consumer, the error and the record. */
export function deadLetterEvent(m: BusMessage<unknown>, d: { group: string; topic: string; error: unknown; attempts: number; bus: string }): TwEvent {
  const now = new Date().toISOString();
  const reason = errorMessage(d.error);
  const id = m.id ?? eventIdOf(m.value);
  return {
    '@timestamp': now,
    event: { id: newEventId(), kind: 'pipeline_error', dataset: 'trailwatch.bus', reason, created: now },
    message: `consumer ${d.group} could not handle a record of ${d.topic}: ${reason}`,
    trailwatch: {
      dlq: {
        stage: `bus.${d.bus}`,
        group: d.group,
        topic: d.topic,
        reason,
        attempts: d.attempts,
        key: m.key,
        ...(id ? { event_id: id } : {}),
        original: boundedJson(m.json ?? m.value),
      },
    },
  };
}

function eventIdOf(v: unknown): string | undefined {
  try {
    const id = (v as { event?: { id?: unknown } } | null)?.event?.id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

const MAX_DEPTH = 64;
/**
 * Characters of the original record kept in a dead letter: at most 768 KiB
 * of UTF-8, so the dead letter itself fits a Kafka message (1 MiB by
 * default) even when the record did not.
 */
const MAX_ORIGINAL = 256 * 1024;

/**
 * The record as JSON text, whatever it is: nesting past MAX_DEPTH and text
 * past MAX_ORIGINAL are cut (a record that overflowed a consumer's stack must
 * not overflow the dead-letter writer's too).
 */
export function boundedJson(v: unknown): string {
  if (typeof v === 'string') return v.length > MAX_ORIGINAL ? v.slice(0, MAX_ORIGINAL) : v;
  if (Buffer.isBuffer(v)) return v.subarray(0, MAX_ORIGINAL).toString('utf8');
  const cut = (x: unknown, depth: number): unknown => {
    if (x === null || typeof x !== 'object') return x;
    if (depth >= MAX_DEPTH) return '[nested too deep]';
    if (Array.isArray(x)) return x.map((y) => cut(y, depth + 1));
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(x)) o[k] = cut((x as Record<string, unknown>)[k], depth + 1);
    return o;
  };
  let text: string;
  try {
    text = JSON.stringify(cut(v, 0)) ?? String(v);
  } catch (err) {
    text = `[not serializable: ${errorMessage(err)}]`;
  }
  return text.length > MAX_ORIGINAL ? text.slice(0, MAX_ORIGINAL) : text;
}

interface Failing {
  group: string;
  topic: string;
  attempts: number;
  transient: boolean;
  error: string;
  since: string;
}

/** A bus's consumers that are failing now, and the metrics of failures and dead letters. */
export class ConsumerFailures {
  private readonly failing = new Map<string, Failing>();
  private readonly failures;
  private readonly dead;
  constructor(metrics?: Metrics) {
    this.failures = metrics?.counter('trailwatch_bus_handler_failures_total', 'Failed deliveries of a batch to a consumer, by kind (transient: retried until it works; permanent: bounded, then split and dead-lettered).', ['group', 'topic', 'kind']);
    this.dead = metrics?.counter('trailwatch_bus_dead_letter_records_total', 'Records a consumer could not handle, sent to the dead-letter store.', ['group', 'topic']);
  }
  failed(group: string, topic: string, err: unknown, transient: boolean): Failing {
    const k = `${group}\0${topic}`;
    let f = this.failing.get(k);
    if (!f) this.failing.set(k, (f = { group, topic, attempts: 0, transient, error: '', since: new Date().toISOString() }));
    f.attempts++;
    f.transient = transient;
    f.error = errorMessage(err);
    this.failures?.inc({ group, topic, kind: transient ? 'transient' : 'permanent' });
    return f;
  }
  recovered(group: string, topic: string): void {
    if (this.failing.size) this.failing.delete(`${group}\0${topic}`);
  }
  deadLettered(group: string, topic: string, n: number): void {
    this.dead?.inc({ group, topic }, n);
  }
  /** For /healthz: ok while no consumer is failing. */
  health(): { ok: boolean; failing: Failing[] } {
    const failing = [...this.failing.values()];
    return { ok: failing.length === 0, failing };
  }
}

export interface DeliveryContext<T> {
  handler: ConsumeOptions<T>['handler'];
  group: string;
  topic: string;
  cfg: RedeliveryConfig;
  failures: ConsumerFailures;
  log: Logger | undefined;
  /** False once the subscription stops (or the partition moved away): give up without committing. */
  running(): boolean;
  /** Waits ms (a Kafka consumer heartbeats meanwhile); should return early once running() is false. */
  sleep(ms: number): Promise<void>;
  /** Stores records a consumer cannot handle. Resolves once they are stored. */
  deadLetter(records: BusMessage<T>[], err: unknown, attempts: number): Promise<void>;
}

/**
 * Hand `batch` to the handler until it is done: handled, or its poison
 * records dead-lettered and the rest handled. False when the subscription
 * stopped first (the batch is then not done and must not be committed).
 */
export async function deliver<T>(c: DeliveryContext<T>, batch: BusMessage<T>[]): Promise<boolean> {
  const done = await deliverUntil(c, batch, c.cfg.max_attempts);
  if (done) c.failures.recovered(c.group, c.topic);
  return done;
}

async function deliverUntil<T>(c: DeliveryContext<T>, batch: BusMessage<T>[], maxAttempts: number, prior = 0): Promise<boolean> {
  let permanent = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      await c.handler(batch, c.topic);
      return true;
    } catch (err) {
      if (!c.running()) return false;
      const transient = isRetriable(err);
      const f = c.failures.failed(c.group, c.topic, err, transient);
      if (!transient && ++permanent >= maxAttempts) return isolate(c, batch, err, prior + permanent);
      if (attempt === 0 || f.attempts % 10 === 0)
        c.log?.warn({ err: errorMessage(err), group: c.group, topic: c.topic, records: batch.length, attempt, transient }, 'consumer failed; redelivering the batch');
      await c.sleep(backoffDelay(attempt, { initialMs: 50, maxMs: c.cfg.max_backoff_ms }));
      if (!c.running()) return false;
    }
  }
}

/** Split a batch that keeps failing until the records that fail alone are found; dead-letter those. */
async function isolate<T>(c: DeliveryContext<T>, batch: BusMessage<T>[], err: unknown, attempts: number): Promise<boolean> {
  if (batch.length === 1) {
    c.log?.error({ err: errorMessage(err), group: c.group, topic: c.topic, attempts, id: batch[0].id ?? eventIdOf(batch[0].value) }, 'consumer cannot handle a record; sent to the dead-letter store');
    // The dead-letter store itself may be failing (a full disk): wait for it, never drop.
    for (let i = 0; ; i++) {
      try {
        await c.deadLetter(batch, err, attempts);
        break;
      } catch (e) {
        if (!c.running()) return false;
        if (i % 10 === 0) c.log?.error({ err: errorMessage(e), group: c.group, topic: c.topic }, 'cannot store a dead letter; retrying');
        await c.sleep(backoffDelay(i, { initialMs: 50, maxMs: c.cfg.max_backoff_ms }));
      }
    }
    c.failures.deadLettered(c.group, c.topic, 1);
    return true;
  }
  // Each half gets one delivery of its own (a transient failure still waits
  // as long as it takes); a half that fails for good is split again.
  const mid = batch.length >>> 1;
  for (const half of [batch.slice(0, mid), batch.slice(mid)]) if (!(await deliverUntil(c, half, 1, attempts))) return false;
  return true;
}
