// Windowed conditions that depend only on the set of events, never on the
// order they arrive in or where a reader started. An alert of a windowed rule
// belongs to the aligned bucket (floor(t / window)) of the first event of a
// qualifying span shorter than the window:
//   threshold: events weighing >= N within a span < window
//   distinct:  >= N distinct values within a span < window
//   sequence:  the steps in time order within a span < window
// and each bucket raises at most one alert per group key. Adding events can
// only make more buckets qualify, so the same events give the same alert ids
// in one process or spread over many (whatever the interleaving), and a
// worker that re-reads a window from a later offset can only raise ids the
// full input also raises. The cost: a burst straddling a bucket boundary with
// >= 2N events may raise one alert in each bucket.
//
// A key keeps the events of its last two windows plus the allowed lateness,
// sorted by (time, first step matched, event id); a copy of an event already held (same id, as a
// redelivered record is) is ignored. Every arrival checks only the windows
// that contain it, starting in its bucket or the one before.
import { NO_EVENTS, type Contrib, type Item, type KeyState } from './state.js';

/** Events held per key at most (a flood from one source beyond this loses its oldest events early). */
const MAX_KEY_EVENTS = 20_000;

/**
 * How far behind a key's latest event another event may arrive and still
 * count. Events of one key come from many raw partitions, and a partition
 * that lags (a worker restarting, catching up a backlog) delivers them late;
 * they count as long as they are within this much of the key's latest.
 * This is the default; each key carries its rule's (DetectorOptions).
 */
export const ALLOWED_LATENESS_MS = 30 * 60_000;

export function bucket(ts: number, windowMs: number): number {
  return windowMs > 0 ? Math.floor(ts / windowMs) : ts;
}

function before(a: Item, ts: number, rank: number, id: string): boolean {
  const at = a.c.ts;
  if (at !== ts) return at < ts;
  const ar = rank0(a.mask);
  if (ar !== rank) return ar < rank;
  return a.c.id < id;
}

function rank0(mask: number): number {
  return mask ? 31 - Math.clz32(mask & -mask) : 0;
}

/** Index of the first held event with time >= ts. */
export function lowerBound(st: KeyState, ts: number): number {
  const evs = st.evs;
  let lo = st.head;
  let hi = evs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (evs[mid].c.ts < ts) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Add an event to the key's window (call after KeyTable.touch). False when it
 * is a copy of one already held, or too late to count (older than the key's
 * latest event by more than a window).
 */
export function admit(st: KeyState, c: Contrib, mask: number, value: string, windowMs: number): boolean {
  const ts = c.ts;
  const horizon = st.last - 2 * windowMs - st.lateness;
  if (ts < horizon + windowMs) return false;
  evict(st, horizon);
  const evs = st.evs;
  const rank = rank0(mask);
  let pos = evs.length;
  if (pos > st.head && !before(evs[pos - 1], ts, rank, c.id)) {
    let lo = st.head;
    let hi = evs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before(evs[mid], ts, rank, c.id)) lo = mid + 1;
      else hi = mid;
    }
    pos = lo;
  }
  // A copy has the same time, so it sits next to pos (events of one time are contiguous).
  if (c.id) {
    for (let i = pos - 1; i >= st.head && evs[i].c.ts === ts; i--) if (evs[i].c.id === c.id) return false;
    for (let i = pos; i < evs.length && evs[i].c.ts === ts; i++) if (evs[i].c.id === c.id) return false;
  }
  const item: Item = { c, mask, value };
  // Most keys hold a few events: exact small arrays (a push grows an array by 16 slots at once).
  if (evs === NO_EVENTS) st.evs = [item];
  else if (pos === evs.length && pos > 0 && pos < 4) st.evs = pos === 1 ? [evs[0], item] : pos === 2 ? [evs[0], evs[1], item] : [evs[0], evs[1], evs[2], item];
  else if (pos === evs.length) evs.push(item);
  else evs.splice(pos, 0, item);
  if (mask & ~1) {
    st.later++;
    if (ts > st.laterMax) st.laterMax = ts;
  }
  if (mask & 1) {
    st.first++;
    if (ts > st.firstMax) st.firstMax = ts;
  }
  if (value) {
    const vs = (st.values ??= new Map());
    const times = vs.get(value);
    if (!times) vs.set(value, [ts]);
    else {
      let i = times.length;
      while (i > 0 && times[i - 1] > ts) i--;
      times.splice(i, 0, ts);
    }
  }
  st.suppressUntil = st.last + windowMs + st.lateness;
  if (st.evs.length - st.head > MAX_KEY_EVENTS) evict(st, st.evs[st.head].c.ts + 1);
  return true;
}

/** Drop events older than `horizon`. */
function evict(st: KeyState, horizon: number): void {
  const evs = st.evs;
  let h = st.head;
  while (h < evs.length && evs[h].c.ts < horizon) {
    const it = evs[h++];
    if (it.mask & ~1) st.later--;
    if (it.mask & 1) st.first--;
    if (it.value && st.values) {
      const times = st.values.get(it.value);
      if (times && times.length > 1) times.shift();
      else st.values.delete(it.value);
    }
  }
  if (h === evs.length) {
    st.evs = NO_EVENTS;
    st.head = 0;
  } else if (h > 64 && h * 2 > evs.length) {
    evs.copyWithin(0, h);
    evs.length -= h;
    st.head = 0;
  } else st.head = h;
}

export function hasFired(st: KeyState, b: number): boolean {
  const f = st.fired;
  if (f === null) return false;
  for (let i = f.length - 1; i >= 0; i--) if (f[i] === b) return true;
  return false;
}

/** Remember that bucket b raised its alert; forget buckets no event that may still arrive can start in. */
export function markFired(st: KeyState, b: number, windowMs: number): void {
  const f = (st.fired ??= []);
  f.push(b);
  if (f.length > 1 && f[f.length - 2] > b) f.sort((x, y) => x - y);
  const oldest = bucket(st.last - 2 * windowMs - st.lateness, windowMs) - 1;
  while (f.length > 1 && f[0] < oldest) f.shift();
}

/** Start times a window containing `ts` may have within bucket b: [lo, hi]. */
function startRange(b: number, ts: number, windowMs: number): [number, number] {
  return [Math.max(b * windowMs, ts - windowMs + 1), Math.min((b + 1) * windowMs - 1, ts)];
}

/** threshold: the [from, to) slice of a qualifying span starting in bucket b, or null. */
export function thresholdSpan(st: KeyState, b: number, ts: number, windowMs: number, n: number): [number, number] | null {
  const [lo, hi] = startRange(b, ts, windowMs);
  const evs = st.evs;
  let sum = 0;
  let i = lowerBound(st, lo);
  let j = i;
  for (; i < evs.length && evs[i].c.ts <= hi; i++) {
    const end = evs[i].c.ts + windowMs;
    while (j < evs.length && evs[j].c.ts < end) sum += evs[j++].c.w;
    if (sum >= n) return [i, j];
    sum -= evs[i].c.w;
  }
  return null;
}

/**
 * distinct: the slice of a span starting in bucket b with >= n distinct values,
 * or null. Only spans where `value` (the new event's) is not otherwise
 * present can have gained a value, which keeps a flood of one value cheap.
 */
export function distinctSpan(st: KeyState, b: number, ts: number, value: string, windowMs: number, n: number): [number, number] | null {
  const times = st.values?.get(value);
  if (!times) return null;
  let k = 0;
  while (k < times.length && times[k] < ts) k++;
  if (k + 1 < times.length && times[k + 1] === ts) return null;
  const prev = k > 0 ? times[k - 1] : -Infinity;
  const next = k + 1 < times.length ? times[k + 1] : Infinity;
  let [lo, hi] = startRange(b, ts, windowMs);
  lo = Math.max(lo, prev + 1);
  hi = Math.min(hi, next - windowMs);
  if (lo > hi) return null;
  const evs = st.evs;
  const counts = new Map<string, number>();
  let i = lowerBound(st, lo);
  let j = i;
  for (; i < evs.length && evs[i].c.ts <= hi; i++) {
    const end = evs[i].c.ts + windowMs;
    for (; j < evs.length && evs[j].c.ts < end; j++) counts.set(evs[j].value, (counts.get(evs[j].value) ?? 0) + 1);
    if (counts.size >= n) return [i, j];
    const v = evs[i].value;
    const left = counts.get(v)! - 1;
    if (left) counts.set(v, left);
    else counts.delete(v);
  }
  return null;
}

/**
 * sequence: the events of a completed chain whose first event is in bucket b,
 * or null. Checked from the earliest possible first event (a longer prefix
 * can only help a greedy in-order match); nothing to do while no later-step
 * event is at or after `ts`.
 */
export function sequenceChain(st: KeyState, b: number, ts: number, windowMs: number, counts: readonly number[]): Contrib[] | null {
  if (st.later <= 0 || st.laterMax < ts - windowMs) return null;
  const [lo, hi] = startRange(b, ts, windowMs);
  // A key that only ever matches later steps (an account that logs in all day
  // without failing) would otherwise rescan its whole window on every arrival.
  if (st.first <= 0 || st.firstMax < lo) return null;
  const evs = st.evs;
  let i = lowerBound(st, lo);
  while (i < evs.length && evs[i].c.ts <= hi && !(evs[i].mask & 1)) i++;
  if (i >= evs.length || evs[i].c.ts > hi) return null;
  const end = evs[i].c.ts + windowMs;
  const chain: Contrib[] = [];
  let stage = 0;
  let sum = 0;
  for (let j = i; j < evs.length && evs[j].c.ts < end; j++) {
    if (!(evs[j].mask & (1 << stage))) continue;
    chain.push(evs[j].c);
    sum += evs[j].c.w;
    if (sum < counts[stage]) continue;
    stage++;
    sum = 0;
    if (stage === counts.length) return chain;
  }
  return null;
}
