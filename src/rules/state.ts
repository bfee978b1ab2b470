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

/** One group key's state; one shape for every kind (stable object shape). */
export interface KeyState {
  key: string;
  group: string[];
  last: number;
  /** `last` when the key was (re)inserted into the map (its position). */
  placed: number;
  suppressUntil: number;
  /** Contributions in the window (threshold; sequence step 1), oldest first from `head`. */
  items: Contrib[];
  head: number;
  sum: number;
  /** distinct: value -> latest contribution, ordered by last seen. */
  distinct: Map<string, Contrib> | null;
  /** sequence: index of the next step to satisfy (0 until step 1 holds), its weight so far, later steps' events. */
  stage: number;
  stageSum: number;
  later: Contrib[];
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
    st = { key, group: splitKey(key, groupSize), last: ts, placed: ts, suppressUntil: -Infinity, items: [], head: 0, sum: 0, distinct: null, stage: 0, stageSum: 0, later: [] };
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

/** Drop contributions older than `cutoff` from the front of st.items. */
export function evictItems(st: KeyState, cutoff: number): void {
  const items = st.items;
  let h = st.head;
  while (h < items.length && items[h].ts < cutoff) st.sum -= items[h++].w;
  if (h === items.length) {
    items.length = 0;
    st.head = 0;
    st.sum = 0;
  } else if (h > 64 && h * 2 > items.length) {
    items.splice(0, h);
    st.head = 0;
  } else st.head = h;
}

export function liveItems(st: KeyState): Contrib[] {
  return st.head ? st.items.slice(st.head) : st.items.slice();
}

export function clearItems(st: KeyState): void {
  st.items = [];
  st.head = 0;
  st.sum = 0;
}

export function splitKey(key: string, n: number): string[] {
  return n === 0 ? [] : n === 1 ? [key] : key.split('\u0001');
}
