// The one retry module: jittered exponential backoff ("full jitter"), used by
// every component that retries (bus redelivery, Elasticsearch, webhooks, Kafka).
import { setTimeout as sleep } from 'node:timers/promises';
import { isRetriable } from './errors.js';

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  factor?: number;
  /** 0..1: how much of the delay is random. 1 = full jitter. */
  jitter?: number;
}

export function backoffDelay(attempt: number, o: BackoffOptions = {}): number {
  const initial = o.initialMs ?? 200;
  const max = o.maxMs ?? 30_000;
  const factor = o.factor ?? 2;
  const jitter = o.jitter ?? 1;
  const cap = Math.min(max, initial * Math.pow(factor, Math.max(0, attempt)));
  return Math.round(cap * (1 - jitter) + Math.random() * cap * jitter);
}

export interface RetryOptions extends BackoffOptions {
  retries?: number;
  signal?: AbortSignal;
  /** Decide whether an error is worth another attempt; defaults to errors.isRetriable. */
  retryIf?: (err: unknown) => boolean;
  /** A server-given wait (Retry-After) overrides the computed delay when present. */
  delayFor?: (err: unknown, computed: number) => number;
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

export async function retry<T>(fn: (attempt: number) => Promise<T>, o: RetryOptions = {}): Promise<T> {
  const retries = o.retries ?? 5;
  const retryIf = o.retryIf ?? isRetriable;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= retries || !retryIf(err) || o.signal?.aborted) throw err;
      let delay = backoffDelay(attempt, o);
      if (o.delayFor) delay = o.delayFor(err, delay);
      o.onRetry?.(err, attempt + 1, delay);
      await sleep(delay, undefined, { signal: o.signal });
    }
  }
}
