// Detection on event time. Rules are indexed by the event.action values they
// can match, so an event is only tested against rules that could fire on it.
// Each rule keeps its own bounded key table (see state.ts); windowed rules
// decide on the set of events in their windows, whatever the arrival order
// (see windows.ts), so any number of workers raise the same alert ids.
import type { Alert, TwEvent } from '../event.js';
import { alertId, buildAlert } from './alert.js';
import type { CompiledRule, RuleSet } from './loader.js';
import { contrib, KeyTable, splitKey, type Contrib, type KeyState } from './state.js';
import { UnmatchedState, type Waiting } from './unmatched.js';
import { admit, ALLOWED_LATENESS_MS, bucket, distinctSpan, hasFired, markFired, sequenceChain, thresholdSpan } from './windows.js';

class Runtime {
  readonly keys: KeyTable;
  nextSweep = -Infinity;
  nextDue = Infinity; // absence: earliest time a key can fall silent
  stepCounts: number[] | null = null; // sequence: each step's count
  supersededBy: Runtime[] = []; // rules whose alert for a group makes this one's redundant
  readonly unmatched: UnmatchedState | null = null; // unmatched: events waiting for a partner, partners waiting for an event
  constructor(
    readonly rule: CompiledRule,
    latenessMs: number,
  ) {
    const span = rule.kind === 'absence' ? rule.periodMs : rule.windowMs;
    this.keys = new KeyTable(rule.maxKeys, Math.min(60_000, span / 8), latenessMs);
    if (rule.kind === 'sequence') this.stepCounts = rule.steps.map((s) => s.count);
    if (rule.kind === 'unmatched') this.unmatched = new UnmatchedState(rule.windowMs, rule.maxKeys, latenessMs);
  }
}

export interface DetectorOptions {
  /**
   * How far behind a key's latest event another may arrive and still count
   * (default ALLOWED_LATENESS_MS). Replay passes how far its file actually
   * goes back in time, when that is less: the same alerts, less state.
   */
  latenessMs?: number;
}

export interface DetectorStats {
  rules: number;
  keys: number;
  evicted: number;
  /** Alerts not raised because a more specific rule already alerted for the group. */
  superseded: number;
}

export class Detector {
  private runtimes: Runtime[] = [];
  private byAction = new Map<string, Runtime[]>();
  private always: Runtime[] = [];
  private absence: Runtime[] = [];
  private stateful: Runtime[] = [];
  private unmatched: Runtime[] = [];
  /** Event-time clock: the latest @timestamp seen. */
  clock = -Infinity;
  private seen = 0;
  private superseded = 0;
  private contribEv: TwEvent | null = null;
  private contrib: Contrib | null = null;
  // Consecutive events mostly share a timestamp string: parse it once.
  private lastStamp = '';
  private lastMs = NaN;

  private readonly lateness: number;

  constructor(set?: RuleSet, opts: DetectorOptions = {}) {
    this.lateness = opts.latenessMs ?? ALLOWED_LATENESS_MS;
    if (set) this.setRules(set);
  }

  get rules(): readonly CompiledRule[] {
    return this.runtimes.map((r) => r.rule);
  }

  /** Swap the rule set; rules whose definition did not change keep their state. */
  setRules(set: RuleSet): void {
    const old = new Map(this.runtimes.map((r) => [r.rule.id, r]));
    this.runtimes = set.rules.map((rule) => {
      const prev = old.get(rule.id);
      return prev && prev.rule.fingerprint === rule.fingerprint ? prev : new Runtime(rule, this.lateness);
    });
    const byId = new Map(this.runtimes.map((r) => [r.rule.id, r]));
    for (const r of this.runtimes) r.supersededBy = [];
    for (const rule of set.rules) for (const s of rule.supersedes) byId.get(s.id)?.supersededBy.push(byId.get(rule.id)!);
    this.always = this.runtimes.filter((r) => !r.rule.actions);
    this.absence = this.runtimes.filter((r) => r.rule.kind === 'absence');
    this.stateful = this.runtimes.filter((r) => r.rule.kind !== 'absence' && r.rule.kind !== 'unmatched' && (r.rule.kind !== 'match' || r.rule.windowMs > 0));
    this.unmatched = this.runtimes.filter((r) => r.rule.kind === 'unmatched');
    this.byAction = new Map();
    const actions = new Set(this.runtimes.flatMap((r) => [...(r.rule.actions ?? [])]));
    for (const a of actions) this.byAction.set(a, this.runtimes.filter((r) => !r.rule.actions || r.rule.actions.has(a)));
  }

  stats(): DetectorStats {
    let keys = 0;
    let evicted = 0;
    for (const r of this.runtimes) {
      keys += r.keys.size + (r.unmatched?.size ?? 0);
      evicted += r.keys.evicted + (r.unmatched?.evicted ?? 0);
    }
    return { rules: this.runtimes.length, keys, evicted, superseded: this.superseded };
  }

  /** Run one event through the rules; alerts are appended to `out`. */
  process(ev: TwEvent, out: Alert[]): void {
    if (ev.event.kind === 'alert') return;
    const stamp = ev['@timestamp'];
    if (stamp !== this.lastStamp) {
      this.lastStamp = stamp;
      this.lastMs = Date.parse(stamp);
    }
    let ts = this.lastMs;
    if (Number.isNaN(ts)) ts = this.clock === -Infinity ? 0 : this.clock;
    if (ts > this.clock) this.clock = ts;
    const action = ev.event.action;
    const list = action === undefined ? this.always : (this.byAction.get(action) ?? this.always);
    for (let i = 0; i < list.length; i++) this.onEvent(list[i], ev, ts, out);
    for (let i = 0; i < this.absence.length; i++) if (this.clock >= this.absence[i].nextDue) this.expireAbsence(this.absence[i], this.clock, out);
    for (let i = 0; i < this.unmatched.length; i++) this.expireUnmatched(this.unmatched[i], -Infinity, out);
    if ((++this.seen & 1023) === 0) this.sweep();
  }

  /** Wall-clock tick: absence rules fall due; idle state is dropped. */
  tick(nowMs: number): Alert[] {
    const out: Alert[] = [];
    const now = Math.max(nowMs, this.clock);
    for (const r of this.absence) if (now >= r.nextDue) this.expireAbsence(r, now, out);
    for (const r of this.unmatched) this.expireUnmatched(r, nowMs, out);
    this.sweep();
    return out;
  }

  private sweep(): void {
    for (const r of this.stateful) {
      if (this.clock < r.nextSweep) continue;
      r.keys.sweep(this.clock, r.rule.windowMs);
      r.nextSweep = this.clock + Math.max(1000, r.rule.windowMs / 4);
    }
    for (const r of this.unmatched) r.unmatched!.sweep(this.clock);
  }

  private onEvent(r: Runtime, ev: TwEvent, ts: number, out: Alert[]): void {
    const rule = r.rule;
    if (rule.kind === 'sequence') return this.onSequence(r, ev, ts, out);
    if (rule.kind === 'unmatched') return this.onUnmatched(r, ev, ts, out);
    if (!rule.test(ev)) return;
    const key = groupKey(rule, ev);
    if (key === null) return;
    switch (rule.kind) {
      case 'match':
        return this.onMatch(r, ev, ts, key, out);
      case 'threshold':
        return this.onThreshold(r, ev, ts, key, out);
      case 'distinct':
        return this.onDistinct(r, ev, ts, key, out);
      case 'absence':
        return this.onAbsence(r, ts, key);
    }
  }

  private onMatch(r: Runtime, ev: TwEvent, ts: number, key: string, out: Alert[]): void {
    const rule = r.rule;
    const group = splitKey(key, rule.groupBy.length);
    if (rule.windowMs <= 0) {
      out.push(buildAlert({ rule, id: alertId(rule.id, '', ev.event.id), group, contribs: [this.contribOf(ev, ts)], trigger: ev, at: ts }));
      return;
    }
    // Once per group per aligned window bucket: which event comes first does not matter.
    const st = r.keys.touch(key, rule.groupBy.length, ts);
    const b = bucket(ts, rule.windowMs);
    if (hasFired(st, b)) return;
    markFired(st, b, rule.windowMs);
    if (st.suppressUntil < st.last + rule.windowMs) st.suppressUntil = st.last + rule.windowMs;
    if (r.supersededBy.length && this.isSuperseded(r, key, ts, ts)) return;
    const window = { start: ts, end: ts + rule.windowMs };
    out.push(buildAlert({ rule, id: alertId(rule.id, key, b), group, contribs: [this.contribOf(ev, ts)], trigger: ev, at: ts, window }));
  }

  /** One Contrib per event, shared by every rule it counts for (they never change it). */
  private contribOf(ev: TwEvent, ts: number): Contrib {
    if (ev !== this.contribEv) {
      this.contribEv = ev;
      this.contrib = contrib(ev, ts);
    }
    return this.contrib!;
  }

  private onThreshold(r: Runtime, ev: TwEvent, ts: number, key: string, out: Alert[]): void {
    const rule = r.rule;
    const w = rule.windowMs;
    const st = r.keys.touch(key, rule.groupBy.length, ts);
    if (!admit(st, this.contribOf(ev, ts), 1, '', w)) return;
    for (let b = bucket(ts - w + 1, w); b <= bucket(ts, w); b++) {
      if (hasFired(st, b)) continue;
      const span = thresholdSpan(st, b, ts, w, rule.threshold);
      if (span) this.fireWindowed(r, st, b, spanContribs(st, span), ev, ts, out);
    }
  }

  private onDistinct(r: Runtime, ev: TwEvent, ts: number, key: string, out: Alert[]): void {
    const rule = r.rule;
    const raw = rule.distinctGet!(ev);
    if (raw === undefined || raw === null || raw === '') return;
    const value = String(raw);
    const w = rule.windowMs;
    const st = r.keys.touch(key, rule.groupBy.length, ts);
    if (!admit(st, this.contribOf(ev, ts), 1, value, w)) return;
    for (let b = bucket(ts - w + 1, w); b <= bucket(ts, w); b++) {
      if (hasFired(st, b)) continue;
      const span = distinctSpan(st, b, ts, value, w, rule.threshold);
      if (span) this.fireWindowed(r, st, b, spanContribs(st, span), ev, ts, out);
    }
  }

  private onSequence(r: Runtime, ev: TwEvent, ts: number, out: Alert[]): void {
    const rule = r.rule;
    const steps = rule.steps;
    let mask = 0;
    for (let s = 0; s < steps.length; s++) if (steps[s].test(ev)) mask |= 1 << s;
    if (!mask) return;
    const key = groupKey(rule, ev);
    if (key === null) return;
    const w = rule.windowMs;
    const st = r.keys.touch(key, rule.groupBy.length, ts);
    if (!admit(st, this.contribOf(ev, ts), mask, '', w)) return;
    const counts = r.stepCounts!;
    for (let b = bucket(ts - w + 1, w); b <= bucket(ts, w); b++) {
      if (hasFired(st, b)) continue;
      const chain = sequenceChain(st, b, ts, w, counts);
      if (chain) this.fireWindowed(r, st, b, chain, ev, ts, out);
    }
  }

  private fireWindowed(r: Runtime, st: KeyState, b: number, contribs: Contrib[], ev: TwEvent, ts: number, out: Alert[]): void {
    const rule = r.rule;
    markFired(st, b, rule.windowMs);
    let first = Infinity;
    let last = -Infinity;
    for (const c of contribs) {
      if (c.ts < first) first = c.ts;
      if (c.ts > last) last = c.ts;
    }
    if (r.supersededBy.length && this.isSuperseded(r, st.key, first, last)) return;
    out.push(
      buildAlert({
        rule,
        id: alertId(rule.id, st.key, b),
        group: st.group,
        contribs,
        trigger: ev,
        at: Math.max(ts, last),
        window: { start: first, end: first + rule.windowMs },
      }),
    );
  }

  /**
   * Has a rule that supersedes r alerted for this group in a window touching
   * [first, last]? Its alert's span started in a fired bucket b, so it covers
   * at most [b, b + 2) windows. Superseding rules run first on each event
   * (the loader orders them), so the event completing both counts for it.
   */
  private isSuperseded(r: Runtime, key: string, first: number, last: number): boolean {
    for (const s of r.supersededBy) {
      const fired = s.keys.get(key)?.fired;
      if (!fired) continue;
      const w = s.rule.windowMs;
      for (const b of fired) {
        if (b * w <= last && (b + 2) * w > first) {
          this.superseded++;
          return true;
        }
      }
    }
    return false;
  }

  private onUnmatched(r: Runtime, ev: TwEvent, ts: number, out: Alert[]): void {
    const rule = r.rule;
    const p = rule.partner!;
    if (p.test(ev)) {
      const keys = partnerKeys(p.groupGet, ev);
      if (keys.length) r.unmatched!.partner(keys, ts, ev.event.id);
    }
    if (!rule.test(ev)) return;
    const key = groupKey(rule, ev);
    if (key === null) return;
    const pushed = r.unmatched!.event(key, ts, ev, contrib(ev, ts));
    if (pushed) out.push(this.unmatchedAlert(r, pushed));
  }

  private expireUnmatched(r: Runtime, wallMs: number, out: Alert[]): void {
    const u = r.unmatched!;
    if (!u.waiting) return;
    const due: Waiting[] = [];
    u.due(this.clock, wallMs, due);
    for (const x of due) out.push(this.unmatchedAlert(r, x));
  }

  private unmatchedAlert(r: Runtime, x: Waiting): Alert {
    const rule = r.rule;
    const w = rule.windowMs;
    return buildAlert({ rule, id: alertId(rule.id, x.key, x.id || x.ts), group: splitKey(x.key, rule.groupBy.length), contribs: [x.c], trigger: x.ev, at: x.ts + w, window: { start: x.ts - w, end: x.ts + w } });
  }

  private onAbsence(r: Runtime, ts: number, key: string): void {
    const st = r.keys.touch(key, r.rule.groupBy.length, ts);
    if (r.nextDue === Infinity || r.keys.size === 1) r.nextDue = st.last + r.rule.periodMs;
  }

  private expireAbsence(r: Runtime, now: number, out: Alert[]): void {
    const period = r.rule.periodMs;
    let next = Infinity;
    let budget = r.keys.size;
    for (let st = r.keys.head, nx: KeyState | null; st !== null; st = nx) {
      nx = st.next;
      if (budget-- <= 0) break;
      if (st.last + period > now) {
        if (st.placed + period <= now && st.placed < st.last) {
          r.keys.replace(st);
          continue;
        }
        next = st.last + period;
        break;
      }
      r.keys.delete(st.key);
      const due = st.last + period;
      const quiet = { ts: st.last, w: 1, id: '', host: undefined, ip: undefined, user: undefined };
      const a = buildAlert({ rule: r.rule, id: alertId(r.rule.id, st.key, st.last), group: st.group, contribs: [quiet], trigger: null, at: due, window: { start: st.last, end: due } });
      a.trailwatch.alert.events = [];
      a.trailwatch.alert.count = 0;
      out.push(a);
    }
    // Out of budget with keys left: look again shortly rather than never.
    r.nextDue = next === Infinity && r.keys.size ? now + Math.min(period, 1000) : next;
  }
}

function spanContribs(st: KeyState, [from, to]: [number, number]): Contrib[] {
  const out = new Array<Contrib>(to - from);
  for (let i = from; i < to; i++) out[i - from] = st.evs[i].c;
  return out;
}

/** A partner's keys: a field holding a list gives one key per value (every combination, for several fields). */
export function partnerKeys(gets: ((ev: unknown) => unknown)[], ev: TwEvent): string[] {
  let keys = [''];
  for (let i = 0; i < gets.length; i++) {
    const raw = gets[i](ev);
    const values = (Array.isArray(raw) ? raw : [raw]).filter((v) => v !== undefined && v !== null && v !== '').map(String);
    if (!values.length) return [];
    const next: string[] = [];
    for (const k of keys) for (const v of values) next.push(i ? `${k}\u0001${v}` : v);
    keys = next;
  }
  return keys;
}

/** The group key (values joined by \u0001), or null when the event lacks one (it does not count). */
function groupKey(rule: CompiledRule, ev: TwEvent): string | null {
  const gets = rule.groupGet;
  if (gets.length === 1) {
    const v = gets[0](ev);
    return v === undefined || v === null || v === '' ? null : typeof v === 'string' ? v : String(v);
  }
  let key = '';
  for (let i = 0; i < gets.length; i++) {
    const v = gets[i](ev);
    if (v === undefined || v === null || v === '') return null;
    key += (i ? '\u0001' : '') + (typeof v === 'string' ? v : String(v));
  }
  return key;
}
