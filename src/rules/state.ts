// Per-rule, per-group-key state, bounded: keys live in a Map for lookup and
// in a linked list kept roughly in order of last use, so expired windows and
// the least recently seen keys are evicted from the front in O(1). (The list
// is not the Map's own order: reaching the front of a Map walks over every
// deleted slot V8 has not compacted yet.) touch() only moves a key to the end
// once the key's time has moved on by `slack`; sweeps re-place keys that turn
// out to be fresher than their position says.
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

/** A key's events before its first one arrives (shared, never written: admit() replaces it). */
export const NO_EVENTS: Item[] = [];

/**
 * One group key's state; one shape for every kind (stable object shape).
 * Keys come and go by the hundred thousand in a long replay, so what only
 * some keys need (events, fired buckets, the group values) is made on demand.
 */
export class KeyState {
  last: number;
  /** `last` when the key was (re)inserted into the map (its position). */
  placed: number;
  /** The key is kept at least until then (sweeps), even when idle. */
  suppressUntil = -Infinity;
  /** Events of the last two windows, sorted by (time, first step, event id) from `head`; see windows.ts. */
  evs: Item[] = NO_EVENTS;
  head = 0;
  /** Window buckets that already raised their alert (ascending, pruned); null before the first. */
  fired: number[] | null = null;
  /** sequence: events in evs matching a later step, and the latest time of one. */
  later = 0;
  laterMax = -Infinity;
  /** sequence: events in evs matching the first step, and the latest time of one. */
  first = 0;
  firstMax = -Infinity;
  /** distinct: value -> sorted times of its events in evs. */
  values: Map<string, number[]> | null = null;
  /** Neighbours in the KeyTable's order of placement. */
  prev: KeyState | null = null;
  next: KeyState | null = null;

  constructor(
    public key: string,
    private groupSize: number,
    ts: number,
    /** The rule's allowed lateness (see windows.ts). */
    readonly lateness: number,
  ) {
    this.last = ts;
    this.placed = ts;
  }

  /** Make a dropped state new again for another key (KeyTable recycles them; a distinct rule's value map is kept). */
  reset(key: string, groupSize: number, ts: number): void {
    this.key = key;
    this.groupSize = groupSize;
    this.last = ts;
    this.placed = ts;
    this.suppressUntil = -Infinity;
    this.evs = NO_EVENTS;
    this.head = 0;
    this.fired = null;
    this.later = 0;
    this.laterMax = -Infinity;
    this.first = 0;
    this.firstMax = -Infinity;
    if (this.values !== null && this.values.size > 0) this.values.clear();
  }

  /** The group key's values, in group_by order. */
  get group(): string[] {
    return splitKey(this.key, this.groupSize);
  }
}

/** Dropped states kept per table for new keys (keys come and go all day; a new state each time was most of the rules' garbage). */
const SPARE = 1024;

export class KeyTable {
  private readonly map = new Map<string, KeyState>();
  private readonly spare: KeyState[] = [];
  /** Oldest placed key (the front), and the newest. */
  head: KeyState | null = null;
  private tail: KeyState | null = null;
  evicted = 0;
  constructor(
    private readonly maxKeys: number,
    private readonly slack: number,
    private readonly lateness: number,
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
    if (this.map.size >= this.maxKeys) this.evictOldest();
    st = this.spare.pop();
    if (st !== undefined) st.reset(key, groupSize, ts);
    else st = new KeyState(key, groupSize, ts, this.lateness);
    this.map.set(key, st);
    this.append(st);
    return st;
  }

  /** Move a key to the end (most recently used). */
  replace(st: KeyState): void {
    this.unlink(st);
    this.append(st);
    st.placed = st.last;
  }

  delete(key: string): void {
    const st = this.map.get(key);
    if (st === undefined) return;
    this.map.delete(key);
    this.unlink(st);
  }

  /** Delete a state nobody holds any more (evictions, sweeps) and keep it for a new key. */
  private drop(st: KeyState): void {
    this.map.delete(st.key);
    this.unlink(st);
    if (this.spare.length < SPARE) this.spare.push(st);
  }

  private append(st: KeyState): void {
    st.prev = this.tail;
    st.next = null;
    if (this.tail !== null) this.tail.next = st;
    else this.head = st;
    this.tail = st;
  }

  private unlink(st: KeyState): void {
    if (st.prev !== null) st.prev.next = st.next;
    else this.head = st.next;
    if (st.next !== null) st.next.prev = st.prev;
    else this.tail = st.prev;
    st.prev = st.next = null;
  }

  private evictOldest(): void {
    if (this.head !== null) {
      this.drop(this.head);
      this.evicted++;
    }
  }

  /** Drop keys with nothing left to remember at event time `now` (idle for a window, not suppressing). */
  sweep(now: number, windowMs: number): void {
    let budget = this.map.size;
    // A re-placed key is met again at the end, where it stops the sweep (as a Map iterator would).
    let st = this.head;
    while (st !== null) {
      if (budget-- <= 0) break;
      const next = st.next;
      if (st.last < now - windowMs && st.suppressUntil <= now) this.drop(st);
      else if (st.placed < now - windowMs && st.placed < st.last) this.replace(st);
      else break;
      st = next;
    }
  }
}

export function splitKey(key: string, n: number): string[] {
  return n === 0 ? [] : n === 1 ? [key] : key.split('\u0001');
}
