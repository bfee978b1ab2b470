// State of one `unmatched` rule: events (the rule's condition) that must be
// paired with a partner event (its `partner` condition) with the same key,
// within ±window of event time. Each partner explains one event, as one
// gateway rotation explains one management login and one account login; an
// event left without a partner raises the alert once the window has passed.
//
// Pairing does not depend on which of the two arrives first. An event waits
// until the event-time clock passes its time + window, or, while nothing
// arrives to move that clock (a quiet pipeline), until the wall clock passes
// its time + 2 windows. Duplicates (an event or partner delivered twice) are
// recognised by event.id and count once.
import type { TwEvent } from '../event.js';
import type { Contrib } from './state.js';

export interface Waiting {
  key: string;
  ts: number;
  id: string;
  ev: TwEvent;
  c: Contrib;
  done: boolean;
}

interface KeyLists {
  /** Partners not yet paired: their event times. */
  partners: number[];
  /** Events waiting for a partner, oldest first. */
  waiting: Waiting[];
}

/** At most this many unpaired partners are kept per key (the oldest go first). */
const MAX_PARTNERS_PER_KEY = 64;

export class UnmatchedState {
  private readonly keys = new Map<string, KeyLists>();
  /** Every waiting event in arrival order (due order but for late arrivals; see due()). */
  private queue: Waiting[] = [];
  private qHead = 0;
  private waitingCount = 0;
  /** event.id of events and partners seen lately, so a redelivery counts once. */
  private seen = new Set<string>();
  private seenOld = new Set<string>();
  /** Waiting events pushed out by max_keys (alerted early: an attacker cannot flood one away). */
  evicted = 0;

  constructor(
    private readonly windowMs: number,
    private readonly maxKeys: number,
    /** How long an unpaired partner is kept past its window (late events may still pair with it). */
    private readonly keepMs: number,
  ) {}

  get size(): number {
    return this.keys.size + this.waitingCount;
  }

  /** Events waiting for a partner. */
  get waiting(): number {
    return this.waitingCount;
  }

  /** A repeat of an event or partner already counted? Two generations of ids, about 2 × maxKeys of them. */
  private repeat(id: string | undefined): boolean {
    if (!id) return false;
    if (this.seen.has(id) || this.seenOld.has(id)) return true;
    if (this.seen.size >= this.maxKeys) {
      this.seenOld = this.seen;
      this.seen = new Set();
    }
    this.seen.add(id);
    return false;
  }

  private lists(key: string): KeyLists {
    let l = this.keys.get(key);
    if (!l) {
      if (this.keys.size >= this.maxKeys) this.dropOldestKey();
      this.keys.set(key, (l = { partners: [], waiting: [] }));
    }
    return l;
  }

  /** An event that needs a partner. Returns an event pushed out by the cap (to alert on now), or null. */
  event(key: string, ts: number, ev: TwEvent, c: Contrib): Waiting | null {
    if (this.repeat(ev.event.id)) return null;
    const l = this.lists(key);
    const w = this.windowMs;
    let best = -1;
    for (let i = 0; i < l.partners.length; i++) {
      const d = Math.abs(l.partners[i] - ts);
      if (d <= w && (best < 0 || d < Math.abs(l.partners[best] - ts))) best = i;
    }
    if (best >= 0) {
      l.partners.splice(best, 1);
      this.forgetIfEmpty(key, l);
      return null;
    }
    const item: Waiting = { key, ts, id: ev.event.id, ev, c, done: false };
    l.waiting.push(item);
    this.queue.push(item);
    this.waitingCount++;
    if (this.waitingCount > this.maxKeys) {
      const oldest = this.nextWaiting();
      if (oldest) {
        this.settle(oldest);
        this.evicted++;
        return oldest;
      }
    }
    return null;
  }

  /** A partner event for these keys: pairs with the oldest waiting event in its window, or waits for one. */
  partner(keys: readonly string[], ts: number, id: string | undefined): void {
    if (this.repeat(id)) return;
    const w = this.windowMs;
    for (const key of keys) {
      const l = this.lists(key);
      const i = l.waiting.findIndex((x) => Math.abs(x.ts - ts) <= w);
      if (i >= 0) {
        this.settle(l.waiting[i]);
        continue;
      }
      l.partners.push(ts);
      if (l.partners.length > MAX_PARTNERS_PER_KEY) l.partners.splice(0, l.partners.length - MAX_PARTNERS_PER_KEY);
    }
  }

  /**
   * Waiting events whose window has passed: by the event clock, or by the
   * wall clock one window later. Appended to `out` in order of event time.
   */
  due(clock: number, wallMs: number, out: Waiting[]): void {
    const w = this.windowMs;
    const now = Math.max(clock, wallMs - w);
    // The queue is in arrival order; an event that arrived late (older time)
    // falls due no later than those before it, so it is only held back by them.
    while (this.qHead < this.queue.length) {
      const x = this.queue[this.qHead];
      if (x.done) {
        this.qHead++;
        continue;
      }
      if (x.ts + w > now) break;
      this.settle(x);
      this.qHead++;
      out.push(x);
    }
    if (this.qHead > 1024 && this.qHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.qHead);
      this.qHead = 0;
    }
  }

  /** Drop unpaired partners no event can pair with any more. */
  sweep(clock: number): void {
    const before = clock - this.windowMs - this.keepMs;
    for (const [key, l] of this.keys) {
      if (l.partners.length && l.partners[l.partners.length - 1] < before) l.partners.length = 0;
      else if (l.partners.length && l.partners[0] < before) l.partners = l.partners.filter((t) => t >= before);
      this.forgetIfEmpty(key, l);
    }
  }

  private nextWaiting(): Waiting | null {
    for (let i = this.qHead; i < this.queue.length; i++) if (!this.queue[i].done) return this.queue[i];
    return null;
  }

  private settle(x: Waiting): void {
    if (x.done) return;
    x.done = true;
    this.waitingCount--;
    const l = this.keys.get(x.key);
    if (!l) return;
    const i = l.waiting.indexOf(x);
    if (i >= 0) l.waiting.splice(i, 1);
    this.forgetIfEmpty(x.key, l);
  }

  private forgetIfEmpty(key: string, l: KeyLists): void {
    if (!l.partners.length && !l.waiting.length) this.keys.delete(key);
  }

  private dropOldestKey(): void {
    for (const [key, l] of this.keys) {
      // Keys with waiting events stay (they are capped, and alerted, through the queue).
      if (l.waiting.length) continue;
      this.keys.delete(key);
      return;
    }
  }
}
