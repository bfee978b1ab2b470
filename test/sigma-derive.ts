// Test helper: from a Sigma rule's own detection values, the event (ECS
// process start) or auditd record that should fire it, and a benign one that
// should not. Only for rules simple enough to invert: the searches the
// condition requires (idents joined by `and`, `all of x*`, the first of `1 of x*`, minus `not …`
// filters), each a field map (or the first of a list of maps) whose values are
// plain strings with equals/contains/startswith/endswith/all/windash/cased.
// Anything else returns null (the rule is still converted and counted).
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { PROCESS_CREATION_FIELDS } from '../src/rules/sigma.js';

type Node = Record<string, unknown>;

export interface Derived {
  id: string;
  kind: 'process_creation' | 'auditd';
  /** Field values that satisfy the rule's required selections (Sigma field -> value). */
  values: Map<string, string>;
}

const SIMPLE_MODS = new Set(['contains', 'startswith', 'endswith', 'all', 'windash', 'cased']);

export function derive(file: string): Derived | null {
  let s: Node;
  try {
    s = parse(readFileSync(file, 'utf8')) as Node;
  } catch {
    return null;
  }
  const ls = (s?.logsource ?? {}) as Node;
  const kind = ls.category === 'process_creation' ? 'process_creation' : ls.service === 'auditd' && ls.category === undefined ? 'auditd' : null;
  if (!kind || ls.product !== 'linux' || typeof s.id !== 'string') return null;
  const det = s.detection as Node;
  if (typeof det?.condition !== 'string') return null;
  const names = required(det.condition, Object.keys(det).filter((k) => k !== 'condition'));
  if (!names) return null;
  const values = new Map<string, string>();
  for (const n of names) {
    let sel = det[n];
    if (Array.isArray(sel)) sel = sel[0];
    if (!sel || typeof sel !== 'object' || Array.isArray(sel)) return null;
    for (const [key, raw] of Object.entries(sel as Node)) {
      const [field, ...mods] = key.split('|');
      if (mods.some((m) => !SIMPLE_MODS.has(m))) return null;
      if (kind === 'process_creation' && !PROCESS_CREATION_FIELDS[field]) return null;
      const vals = (Array.isArray(raw) ? raw : [raw]).map(String);
      if (!vals.length || vals.some((v) => /[*?\\]/.test(v))) return null;
      const picked = mods.includes('all') ? vals : [vals[0]];
      const pos = mods.includes('contains') ? 'contains' : mods.includes('startswith') ? 'startswith' : mods.includes('endswith') ? 'endswith' : 'equals';
      const prev = values.get(field);
      if (pos === 'equals') {
        if (prev !== undefined && prev !== picked[0]) return null;
        values.set(field, picked[0]);
      } else if (pos === 'startswith') values.set(field, picked[0] + (prev ?? ''));
      else if (pos === 'endswith') values.set(field, (prev ?? '') + picked[0]);
      else values.set(field, (prev ?? '') + picked.map((v) => ` ${v} `).join(''));
    }
  }
  return values.size ? { id: s.id, kind, values } : null;
}

/** The searches a condition needs to be true, or null when it is not of a shape this helper inverts. */
function required(cond: string, idents: string[]): string[] | null {
  let c = cond.replace(/\bnot\s+\([^()]*\)/g, '').replace(/\bnot\s+[\w*]+/g, '').trim();
  c = c.replace(/\s+and\s*$/, '').replace(/^\s*and\s+/, '');
  const out: string[] = [];
  for (const part of c.split(/\s+and\s+/)) {
    const p = part.trim();
    const of = /^(all|1) of ([\w*]+)$/.exec(p);
    if (of) {
      const re = new RegExp(`^${of[2].replace(/\*/g, '.*')}$`);
      const hits = idents.filter((i) => re.test(i) && !/^filter/.test(i));
      out.push(...(of[1] === 'all' ? hits : hits.slice(0, 1)));
    } else if (/^\w+$/.test(p) && idents.includes(p)) out.push(p);
    else return null;
  }
  return out.length ? out : null;
}

const hex = (s: string) => Buffer.from(s).toString('hex').toUpperCase();
/** An auditd value as auditd writes an untrusted string: quoted, or hex when it holds a blank, quote or control character. */
export const auditQuote = (v: string) => (/[\s"'\\\x00-\x1f\x7f-\xff]/.test(v) ? hex(v) : `"${v}"`);

/** The auditd record (audisp-syslog's format) carrying the derived values. */
export function auditLine(d: Derived, serial: number): string {
  const type = (d.values.get('type') ?? 'SYSCALL').toUpperCase();
  const fields: string[] = [];
  const enriched: string[] = [];
  if (type === 'EXECVE') {
    const n = Math.max(-1, ...[...d.values.keys()].map((k) => (/^a\d+$/.test(k) ? Number(k.slice(1)) : -1))) + 1;
    fields.push(`argc=${n}`);
    for (let i = 0; i < n; i++) fields.push(`a${i}=${auditQuote(d.values.get(`a${i}`) ?? 'x')}`);
  }
  for (const [k, v] of d.values) {
    if (k === 'type' || (type === 'EXECVE' && /^a\d+$/.test(k))) continue;
    if (k === 'syscall' || k === 'SYSCALL') {
      if (/^\d+$/.test(v)) fields.push(`syscall=${v}`);
      else enriched.push(`SYSCALL=${v}`);
    } else fields.push(`${k}=${auditQuote(v)}`);
  }
  return `type=${type} msg=audit(1709460000.000:${serial}): ${fields.join(' ')}${enriched.length ? '\x1d' + enriched.join(' ') : ''}`;
}

/** The ECS process start carrying the derived values (Sigma field -> ECS path). */
export function processStart(d: Derived, id: string): Node {
  const ev: Node = { '@timestamp': '2024-03-03T10:00:00.000Z', event: { id, kind: 'event', category: ['process'], type: ['start'] } };
  for (const [field, v] of d.values) {
    const parts = PROCESS_CREATION_FIELDS[field].split('.');
    let cur = ev;
    for (let i = 0; i < parts.length - 1; i++) cur = (cur[parts[i]] ??= {}) as Node;
    cur[parts[parts.length - 1]] = v;
  }
  return ev;
}
