// Per-rule, per-group-key state, bounded: keys live in a Map kept roughly in
// order of last use, so expired windows and the least recently seen keys are
// evicted from the front in amortised O(1). Moving a key to the end costs a
// delete and an insert, so touch() only does it once the key's time has moved
// on by `slack`; sweeps re-place keys that turn out to be fresher than their
// position says.
import type { TwEvent } from '../event.js';

/** What an alert needs to remember of one contributing event. */
export interface Contrib {
  ts: number;
  w: number;
  id: string;
  host: string | undefined;
  ip: string | undefined;
  user: string | undefined;
}

export function contrib(ev: TwEvent, ts: number): Contrib {
  const c = ev.event.count;
  return {
    ts,
    w: typeof c === 'number' && c > 0 ? c : 1,
    id: ev.event.id,
    host: ev.host?.name,
    ip: ev.source?.ip,
    user: ev.user?.name,
  };
}

/** One event in a key's window: its contribution, which sequence steps it matches (bit i: step i), its distinct value. */
export interface Item {
  c: Contrib;
  mask: number;
  value: string;
}

/** One group key's state; one shape for every kind (stable object shape). */
export interface KeyState {
  key: string;
  group: string[];
  last: number;
  /** `last` when the key was (re)inserted into the map (its position). */
  placed: number;
  /** The key is kept at least until then (sweeps), even when idle. */
  suppressUntil: number;
  /** Events of the last two windows, sorted by (time, first step, event id) from `head`; see windows.ts. */
  evs: Item[];
  head: number;
  /** Window buckets that already raised their alert (ascending, pruned). */
  fired: number[];
  /** sequence: events in evs matching a later step, and the latest time of one. */
  later: number;
  laterMax: number;
  /** sequence: events in evs matching the first step, and the latest time of one. */
  first: number;
  firstMax: number;
  /** distinct: value -> sorted times of its events in evs. */
  values: Map<string, number[]> | null;
}

export class KeyTable {
  readonly map = new Map<string, KeyState>();
  evicted = 0;
  constructor(
    private readonly maxKeys: number,
    private readonly slack: number,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string): KeyState | undefined {
    return this.map.get(key);
  }

  /** Get or create the key's state and mark it most recently used. */
  touch(key: string, groupSize: number, ts: number): KeyState {
    let st = this.map.get(key);
    if (st) {
      if (ts > st.last) st.last = ts;
      if (st.last - st.placed > this.slack) this.replace(st);
      return st;
    }
    st = { key, group: splitKey(key, groupSize), last: ts, placed: ts, suppressUntil: -Infinity, evs: [], head: 0, fired: [], later: 0, laterMax: -Infinity, first: 0, firstMax: -Infinity, values: null };
    if (this.map.size >= this.maxKeys) this.evictOldest();
    this.map.set(key, st);
    return st;
  }

  /** Move a key to the end (most recently used). */
  replace(st: KeyState): void {
    this.map.delete(st.key);
    this.map.set(st.key, st);
    st.placed = st.last;
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  private evictOldest(): void {
    const first = this.map.keys().next();
    if (!first.done) {
      this.map.delete(first.value);
      this.evicted++;
    }
  }

  /** Drop keys with nothing left to remember at event time `now` (idle for a window, not suppressing). */
  sweep(now: number, windowMs: number): void {
    let budget = this.map.size;
    for (const st of this.map.values()) {
      if (budget-- <= 0) break;
      if (st.last < now - windowMs && st.suppressUntil <= now) this.map.delete(st.key);
      else if (st.placed < now - windowMs && st.placed < st.last) this.replace(st);
      else break;
    }
  }
}

export function splitKey(key: string, n: number): string[] {
  return n === 0 ? [] : n === 1 ? [key] : key.split('\u0001');
}
