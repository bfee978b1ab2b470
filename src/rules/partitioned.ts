// The rules engine split for many workers (src/rules/distributed.ts runs it):
// decode, enrich and the single-event rules on whichever worker owns a raw
// partition; every stateful rule (threshold, distinct, sequence, absence, and
// match rules that alert once per group per window) on the worker that owns
// its group value. Rules with the same group-by fields share a route, so an
// event is re-published once per route it may count towards, keyed by its
// group value. Windowed rules decide on the set of events (windows.ts), so the
// same events raise the same alert ids as the embedded processor, in any
// interleaving, and re-reading a window only repeats ids.
import { addTag, type Alert, type TwEvent } from '../event.js';
import type { RulesConfig } from './config.js';
import { Collator } from './collation.js';
import { createDecoder } from './decoders/index.js';
import { Detector, partnerKeys } from './engine.js';
import { gatewayAlert, refuseAlertKind } from './alert.js';
import { loadRules, ruleDirs, type CompiledRule, type RuleSet } from './loader.js';
import type { PolicyAudit } from './policy-audit.js';

/** A stateful grouping an event belongs to: which rules' group-by, and the value. */
export interface RouteKey {
  route: string;
  key: string;
}

export interface PartitionedProcessor {
  /** Decode and enrich in place; return the alerts of single-event (match) rules. */
  decode(batch: TwEvent[]): Alert[];
  /** The stateful groupings this decoded event may count towards (e.g. { route: 'source.ip', key: '203.0.113.9' }). */
  routes(ev: TwEvent): RouteKey[];
  /** Run the stateful rules of one route over decoded events of that route. */
  detect(route: string, batch: TwEvent[]): Alert[];
  /** Advance the clock (window expiry, absence rules). */
  tick(now: Date): Alert[];
  /** How far back a new owner of a repartition partition re-reads (ms): two of the longest window, so every window it can still alert on is whole. */
  windowMs(): number;
  /** Hot reload: swap the rules; unchanged rules keep their windows. */
  setRules(set: RuleSet): void;
  /** Check execs against the gateway's command policy (null: none), when decoding. */
  setPolicyAudit(audit: PolicyAudit | null): void;
}

/** Single-event rules: no group state at all. */
export function isStateless(rule: CompiledRule): boolean {
  return rule.kind === 'match' && rule.windowMs <= 0;
}

interface Route {
  name: string;
  rules: CompiledRule[];
  detector: Detector;
  gets: ((ev: unknown) => unknown)[];
  /** unmatched rules: their partners' key fields (partners go to each of their keys' owners). */
  partnerGets: ((ev: unknown) => unknown)[] | null;
}

/** Rules sharing a route share its key fields (and, for unmatched rules, their partners' key fields). */
function routeName(rule: CompiledRule): string {
  const name = rule.groupBy.join(',');
  return rule.partner ? `unmatched:${name}|${rule.partner.groupBy.join(',')}` : name;
}

/** Throws RuleLoadError when the configured rules are invalid. */
export function createPartitionedProcessor(cfg: RulesConfig, opts: { rules?: RuleSet } = {}): PartitionedProcessor {
  const single = new Detector();
  let routes: Route[] = [];
  let byName = new Map<string, Route>();
  let longest = 0;
  // Swap the rule set. Detectors keep the state of rules whose definition did
  // not change (Detector.setRules), routes that remain keep their detector.
  const setRules = (set: RuleSet) => {
    single.setRules({ rules: set.rules.filter(isStateless), files: set.files });
    const byFields = new Map<string, CompiledRule[]>();
    for (const rule of set.rules) {
      if (isStateless(rule)) continue;
      const name = routeName(rule);
      const list = byFields.get(name);
      if (list) list.push(rule);
      else byFields.set(name, [rule]);
    }
    routes = [...byFields].map(([name, rules]) => {
      const prev = byName.get(name);
      if (prev) {
        prev.detector.setRules({ rules, files: set.files });
        return { ...prev, rules };
      }
      return { name, rules, detector: new Detector({ rules, files: set.files }), gets: rules[0].groupGet, partnerGets: rules[0].partner?.groupGet ?? null };
    });
    byName = new Map(routes.map((r) => [r.name, r]));
    longest = 0;
    for (const r of set.rules) longest = Math.max(longest, r.kind === 'absence' ? r.periodMs : r.windowMs);
  };
  setRules(opts.rules ?? loadRules(ruleDirs(cfg)));
  const collator = new Collator(cfg);
  const { decode } = createDecoder();
  let audit: PolicyAudit | null = null;
  return {
    decode(batch) {
      const out: Alert[] = [];
      for (let i = 0; i < batch.length; i++) {
        const ev = batch[i];
        refuseAlertKind(ev);
        const ga = gatewayAlert(ev);
        if (ga) out.push(ga);
        try {
          decode(ev);
        } catch {
          addTag(ev, 'trailwatch_decode_error');
        }
        collator.enrich(ev);
        // an exec the gateway policy blocks may wait for its session's start (policy-audit.ts)
        if (audit && audit.check(ev)) continue;
        single.process(ev, out);
      }
      if (audit) for (const ev of audit.release(Date.now())) single.process(ev, out);
      return out;
    },
    routes(ev) {
      const out: RouteKey[] = [];
      if (ev.event.kind === 'alert') return out;
      for (const r of routes) {
        if (r.partnerGets) {
          unmatchedRoutes(r, ev, out);
          continue;
        }
        if (!mayCount(r.rules, ev)) continue;
        const key = routeKey(r.gets, ev);
        if (key !== null) out.push({ route: r.name, key });
      }
      return out;
    },
    detect(route, batch) {
      const r = byName.get(route);
      const out: Alert[] = [];
      // A route this worker does not know (a rule set that differs between workers) is skipped, not fatal.
      if (!r) return out;
      for (let i = 0; i < batch.length; i++) r.detector.process(batch[i], out);
      return out;
    },
    tick(now) {
      const out: Alert[] = [];
      if (audit) for (const ev of audit.release(now.getTime())) single.process(ev, out);
      for (const r of routes) for (const a of r.detector.tick(now.getTime())) out.push(a);
      return out;
    },
    windowMs() {
      return 2 * longest + 60_000;
    },
    setRules,
    setPolicyAudit(a) {
      audit = a;
    },
  };
}

/** An unmatched route: the event goes to its key's owner, a partner to the owner of each of its keys. */
function unmatchedRoutes(r: Route, ev: TwEvent, out: RouteKey[]): void {
  const action = ev.event.action;
  let main = false;
  let partner = false;
  for (const rule of r.rules) {
    if (rule.actions && (action === undefined || !rule.actions.has(action))) continue;
    main ||= rule.test(ev);
    partner ||= rule.partner!.test(ev);
  }
  const keys = new Set<string>();
  if (main) {
    const k = routeKey(r.gets, ev);
    if (k !== null) keys.add(k);
  }
  if (partner) for (const k of partnerKeys(r.partnerGets!, ev)) keys.add(k);
  for (const key of keys) out.push({ route: r.name, key });
}

/** Whether any of the route's rules (or sequence steps) could count the event; absence counts every event with the key. */
function mayCount(rules: CompiledRule[], ev: TwEvent): boolean {
  const action = ev.event.action;
  for (const rule of rules) {
    if (rule.actions && (action === undefined || !rule.actions.has(action))) continue;
    if (rule.kind === 'sequence') {
      for (const s of rule.steps) if (s.test(ev)) return true;
    } else if (rule.test(ev)) return true;
  }
  return false;
}

function routeKey(gets: ((ev: unknown) => unknown)[], ev: TwEvent): string | null {
  let key = '';
  for (let i = 0; i < gets.length; i++) {
    const v = gets[i](ev);
    if (v === undefined || v === null || v === '') return null;
    key += (i ? '\u0001' : '') + String(v);
  }
  return key;
}
