// Build alerts. The id is a hash of rule id, group key and window (the window
// bucket of the first contributing event), so the same input gives the same
// ids however it is batched, on replay and after a restart.
import * as crypto from 'node:crypto';
import { isIP } from 'node:net';
import { addTag, SEVERITY_SCORE, setField, type Alert, type SeverityName, type TwEvent } from '../event.js';
import type { CompiledRule } from './loader.js';
import type { Contrib } from './state.js';

export const MAX_ALERT_EVENTS = 100;
const MAX_RELATED = 20;

// One-shot crypto.hash (Node >= 20.12) where there is one: a Hash object per alert cost more than the digest.
const oneShot = (crypto as { hash?: (alg: string, data: string, enc: 'hex') => string }).hash;

export function alertId(ruleId: string, key: string, discriminator: string | number): string {
  const text = `${ruleId}\0${key}\0${discriminator}`;
  return (oneShot ? oneShot('sha256', text, 'hex') : crypto.createHash('sha256').update(text).digest('hex')).slice(0, 32);
}

export interface AlertInput {
  rule: CompiledRule;
  id: string;
  group: string[];
  contribs: readonly Contrib[];
  /** The event that completed the alert (context fields are copied from it for match, sequence and unmatched rules). */
  trigger: TwEvent | null;
  /** Event time the alert is about (last contributing event; for absence, when the silence became due). */
  at: number;
  window?: { start: number; end: number };
}

export function buildAlert(a: AlertInput): Alert {
  const { rule, contribs } = a;
  let count = 0;
  let first = Infinity;
  let last = -Infinity;
  const hosts = new Set<string>();
  const ips = new Set<string>();
  const users = new Set<string>();
  const ids: string[] = [];
  for (const c of contribs) {
    count += c.w;
    if (c.ts < first) first = c.ts;
    if (c.ts > last) last = c.ts;
    if (ids.length < MAX_ALERT_EVENTS) ids.push(c.id);
    if (c.host && hosts.size < MAX_RELATED) hosts.add(c.host);
    if (c.ip && ips.size < MAX_RELATED) ips.add(c.ip);
    if (c.user && users.size < MAX_RELATED) users.add(c.user);
  }
  if (!contribs.length) first = last = a.at;
  const group: Record<string, string> = {};
  for (let i = 0; i < rule.groupBy.length; i++) group[rule.groupBy[i]] = a.group[i];
  const alert = {
    '@timestamp': iso(a.at),
    event: {
      id: a.id,
      kind: 'alert',
      severity: rule.score,
      category: ['intrusion_detection'],
      type: ['indicator'],
      dataset: 'trailwatch.alert',
      module: 'trailwatch',
      action: rule.id,
    },
    message: `${rule.name}${rule.groupBy.length ? ` (${rule.groupBy.map((f, i) => `${f}=${a.group[i]}`).join(', ')})` : ''}`,
    rule: { id: rule.id, name: rule.name, description: rule.description, ...(rule.category ? { category: rule.category } : {}) },
    trailwatch: {
      alert: {
        severity: rule.severity,
        group,
        events: ids,
        count,
        first_seen: iso(first),
        last_seen: iso(last),
        ...(a.window ? { window: { start: iso(a.window.start), end: iso(a.window.end) } } : {}),
      },
    },
  } as Alert;
  if (rule.tags.length) alert.tags = [...rule.tags];
  if (rule.techniques.length) alert.threat = { framework: 'MITRE ATT&CK', technique: { id: [...rule.techniques] } };
  if (a.trigger && (rule.kind === 'match' || rule.kind === 'sequence' || rule.kind === 'unmatched')) copyContext(alert, a.trigger);
  for (const [f, v] of Object.entries(group)) setField(alert, f, f === 'source.port' ? Number(v) : v);
  for (const [f, v] of Object.entries(group)) {
    if (isIP(v)) ips.add(v);
    else if (f === 'user.name' || f === 'user.target.name') users.add(v);
    else if (f === 'host.name') hosts.add(v);
  }
  const related: NonNullable<TwEvent['related']> = {};
  if (ips.size) related.ip = [...ips];
  if (users.size) related.user = [...users];
  if (hosts.size) related.hosts = [...hosts];
  if (Object.keys(related).length) alert.related = related;
  if (hosts.size === 1 && !alert.host?.name) alert.host = { ...alert.host, name: [...hosts][0] };
  return alert;
}

const GATEWAY_RULE = /^gateway-[a-z0-9][a-z0-9-]{0,79}$/;

/**
 * The alert a gateway event asks for (trailwatch.gateway_alert), or null when
 * it asks for none or the request is malformed. Its id is computed here from
 * the rule and the event's id, in a namespace no rule of the packs can reach,
 * so whoever sends events cannot choose an alert's id (and so cannot make
 * the webhook sink drop a real alert as a duplicate of a decoy).
 */
export function gatewayAlert(ev: TwEvent): Alert | null {
  const req = ev.trailwatch?.gateway_alert as { rule?: unknown; name?: unknown; severity?: unknown } | undefined;
  if (!req || typeof req !== 'object') return null;
  const { rule, name, severity } = req;
  if (typeof rule !== 'string' || !GATEWAY_RULE.test(rule) || typeof severity !== 'string' || !Object.hasOwn(SEVERITY_SCORE, severity)) return null;
  const sev = severity as SeverityName;
  const title = typeof name === 'string' && name ? name.slice(0, 200) : rule;
  const group: Record<string, string> = {};
  const t = ev.trailwatch!;
  if (typeof t.session?.operator === 'string') group['trailwatch.session.operator'] = t.session.operator;
  if (typeof ev.host?.name === 'string') group['host.name'] = ev.host.name;
  const { gateway_alert: _request, input: _input, ...rest } = t;
  return {
    ...cloneJson(ev),
    event: { ...cloneJson(ev.event), id: alertId(`gateway:${rule}`, 'gateway', ev.event.id), kind: 'alert', severity: SEVERITY_SCORE[sev] },
    rule: { id: rule, name: title, category: 'gateway', ruleset: 'trailwatch-gateway' },
    trailwatch: {
      ...cloneJson(rest),
      alert: { severity: sev, group, events: [ev.event.id], count: 1, first_seen: ev['@timestamp'], last_seen: ev['@timestamp'] },
    },
  } as Alert;
}

/**
 * Alerts are made by the rules only (the gateway's too: from the event's
 * trailwatch.gateway_alert). A record on the raw topic that calls itself an
 * alert is read as the event it is, tagged, so it can neither skip the rules
 * nor reach the alerts topic with an id of its choosing.
 */
export function refuseAlertKind(ev: TwEvent): void {
  if (ev.event.kind !== 'alert') return;
  ev.event.kind = 'event';
  addTag(ev, 'alert_kind_refused');
}

/** Who, from where, doing what: the fields an analyst reads first. */
function copyContext(alert: Alert, ev: TwEvent): void {
  if (ev.host?.name) alert.host = { name: ev.host.name };
  if (ev.source) alert.source = { ...ev.source };
  if (ev.user) alert.user = cloneJson(ev.user);
  if (ev.process) {
    const p = ev.process;
    alert.process = {};
    if (p.name !== undefined) alert.process.name = p.name;
    if (p.pid !== undefined) alert.process.pid = p.pid;
    if (p.command_line !== undefined) alert.process.command_line = p.command_line;
    if (p.executable !== undefined) alert.process.executable = p.executable;
  }
  if (ev.trailwatch?.session) alert.trailwatch.session = { ...ev.trailwatch.session };
  if (ev.trailwatch?.collation) alert.trailwatch.collation = { ...ev.trailwatch.collation };
  if (ev.trailwatch?.policy) alert.trailwatch.policy = { ...ev.trailwatch.policy };
}

/** A copy of plain JSON data (event fields): structuredClone was most of an alert's cost. */
function cloneJson<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(cloneJson) as T;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    const x = cloneJson((v as Record<string, unknown>)[k]);
    // "__proto__" from JSON input is an own key like any other.
    if (k === '__proto__') Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
    else out[k] = x;
  }
  return out as T;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
