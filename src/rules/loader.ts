// Load rule files: the default pack shipped in rules/default plus user
// directories, in that order, files sorted by name within a directory. The
// whole set is validated before it is used; every problem is reported as
// `file: [index].path: reason`.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { SEVERITY_SCORE, type SeverityName } from '../event.js';
import { TrailwatchError } from '../errors.js';
import { compileCondition, ConditionError, getter, newEnv, type CompileEnv, type Test } from './conditions.js';
import { listEntry, macroEntry, ruleEntry, type RuleDef, type RuleKind } from './schema.js';

export interface CompiledStep {
  name?: string;
  test: Test;
  count: number;
}

export interface CompiledRule {
  id: string;
  name: string;
  description: string;
  severity: SeverityName;
  score: number;
  kind: RuleKind;
  category?: string;
  techniques: string[];
  tags: string[];
  test: Test;
  steps: CompiledStep[];
  /** event.action values the rule can match (null: any). */
  actions: Set<string> | null;
  groupBy: string[];
  groupGet: ((ev: unknown) => unknown)[];
  windowMs: number;
  threshold: number;
  distinctGet: ((ev: unknown) => unknown) | null;
  periodMs: number;
  /** unmatched: the partner events and their key fields. */
  partner: { test: Test; groupBy: string[]; groupGet: ((ev: unknown) => unknown)[] } | null;
  maxKeys: number;
  file: string;
  /** Rules this one makes redundant for the same group (resolved, enabled ones only). */
  supersedes: CompiledRule[];
  /** Changes when the definition changes (state is kept across reloads only for unchanged rules). */
  fingerprint: string;
}

export interface RuleSet {
  rules: CompiledRule[];
  files: string[];
}

export class RuleLoadError extends TrailwatchError {
  constructor(readonly issues: string[]) {
    super('TW_RULES', `rules refused:\n${issues.map((i) => `  ${i}`).join('\n')}`);
    this.name = 'RuleLoadError';
  }
}

/** rules/default in the package (found relative to this module, from src/ or dist/src/). */
export function defaultPackDir(): string {
  const fromDist = fileURLToPath(new URL('../../../rules/default/', import.meta.url));
  return existsSync(fromDist) ? fromDist : fileURLToPath(new URL('../../rules/default/', import.meta.url));
}

export function ruleDirs(cfg: { default_pack: boolean; dirs: string[] }): string[] {
  return [...(cfg.default_pack ? [defaultPackDir()] : []), ...cfg.dirs];
}

export function ruleFiles(dirs: string[], issues: string[]): string[] {
  const files: string[] = [];
  for (const dir of dirs) {
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      issues.push(`${dir}: rules directory does not exist`);
      continue;
    }
    for (const f of readdirSync(dir).filter((n) => /\.ya?ml$/.test(n)).sort()) files.push(join(dir, f));
  }
  return files;
}

interface Origin {
  file: string;
  index: number;
}
const at = (o: Origin) => `${o.file}: [${o.index}]`;

/** Read, validate and compile every rule file in `dirs`; throws RuleLoadError listing every problem. */
export function loadRules(dirs: string[]): RuleSet {
  const issues: string[] = [];
  const files = ruleFiles(dirs, issues);
  const lists = new Map<string, (string | number)[]>();
  const macros = new Map<string, unknown>();
  const where = new Map<string, string>();
  const raws = new Map<string, { raw: Record<string, unknown>; origin: Origin }>();
  for (const file of files) {
    for (const [index, entry] of readEntries(file, issues)) {
      const origin = { file, index };
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
        issues.push(`${at(origin)}: expected a mapping with list:, macro: or rule:`);
        continue;
      }
      const e = entry as Record<string, unknown>;
      const kinds = ['list', 'macro', 'rule'].filter((k) => k in e);
      if (kinds.length !== 1) {
        issues.push(`${at(origin)}: an entry has exactly one of list:, macro:, rule: (found ${kinds.join(', ') || 'none'})`);
      } else if (kinds[0] === 'list') {
        const r = listEntry.safeParse(e);
        if (!r.success) issues.push(...zodIssues(r.error, origin));
        else lists.set(r.data.list, r.data.append ? [...(lists.get(r.data.list) ?? []), ...r.data.items] : r.data.items);
      } else if (kinds[0] === 'macro') {
        const r = macroEntry.safeParse(e);
        if (!r.success) issues.push(...zodIssues(r.error, origin));
        else {
          macros.set(r.data.macro, r.data.condition);
          where.set(r.data.macro, at(origin));
        }
      } else addRule(raws, e, origin, issues);
    }
  }
  const env = newEnv(lists, macros);
  env.where = where;
  for (const name of macros.keys()) tryCompile(() => compileCondition({ macro: name }, env, `${where.get(name)}.condition`), issues);
  const rules: CompiledRule[] = [];
  for (const [id, { raw, origin }] of raws) {
    const r = ruleEntry.safeParse(raw);
    if (!r.success) {
      issues.push(...zodIssues(r.error, origin));
      continue;
    }
    if (!r.data.enabled) continue;
    const c = tryCompile(() => compileRule(r.data, env, origin), issues);
    if (c) rules.push(c);
    else if (!issues.length) issues.push(`${at(origin)}: rule ${id} could not be compiled`);
  }
  if (!issues.length) linkSupersedes(rules, raws, issues);
  const ordered = issues.length ? rules : supersedingFirst(rules, issues);
  if (issues.length) throw new RuleLoadError(issues);
  return { rules: ordered, files };
}

/**
 * Resolve `supersedes:` to rules. The rules must share the group-by fields
 * (so they share a key, and in distributed mode a worker) and be windowed; a
 * superseded rule that is disabled is simply not there to suppress.
 */
function linkSupersedes(rules: CompiledRule[], raws: Map<string, { raw: Record<string, unknown>; origin: Origin }>, issues: string[]): void {
  const byId = new Map(rules.map((r) => [r.id, r]));
  for (const rule of rules) {
    const origin = raws.get(rule.id)!.origin;
    const ids = (raws.get(rule.id)!.raw.supersedes as string[] | undefined) ?? [];
    ids.forEach((id, i) => {
      const where = `${at(origin)}.supersedes[${i}]`;
      const other = byId.get(id);
      if (!other) {
        if (!raws.has(id)) issues.push(`${where}: no rule ${id}`);
        return;
      }
      if (other === rule) issues.push(`${where}: a rule cannot supersede itself`);
      else if (other.groupBy.join(',') !== rule.groupBy.join(',')) issues.push(`${where}: ${id} groups by [${other.groupBy.join(', ')}], this rule by [${rule.groupBy.join(', ')}]; superseding needs the same group_by`);
      else if (other.kind === 'absence' || other.kind === 'unmatched' || other.windowMs <= 0) issues.push(`${where}: ${id} is not a windowed rule, so there is no window to suppress it in`);
      else rule.supersedes.push(other);
    });
  }
}

/**
 * Order rules so a superseding rule sees each event before the rules it
 * supersedes (the event that completes both raises only the specific alert).
 * Reports a cycle in `issues`.
 */
function supersedingFirst(rules: CompiledRule[], issues: string[]): CompiledRule[] {
  const out: CompiledRule[] = [];
  const state = new Map<CompiledRule, 1 | 2>();
  // Depth-first on "is superseded by": every superseder of a rule goes out before it.
  const by = new Map<CompiledRule, CompiledRule[]>();
  for (const r of rules) for (const s of r.supersedes) by.set(s, [...(by.get(s) ?? []), r]);
  const visit = (r: CompiledRule, path: string[]): void => {
    const st = state.get(r);
    if (st === 2) return;
    if (st === 1) {
      issues.push(`rules: supersedes forms a cycle: ${[...path, r.id].join(' -> ')}`);
      return;
    }
    state.set(r, 1);
    for (const s of by.get(r) ?? []) visit(s, [...path, r.id]);
    state.set(r, 2);
    out.push(r);
  };
  for (const r of rules) visit(r, []);
  return out;
}

function readEntries(file: string, issues: string[]): [number, unknown][] {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    issues.push(`${file}: ${(err as Error).message.split('\n')[0]}`);
    return [];
  }
  if (doc === null || doc === undefined) return [];
  if (!Array.isArray(doc)) {
    issues.push(`${file}: a rule file is a YAML list of list:, macro: and rule: entries`);
    return [];
  }
  return doc.map((e, i) => [i, e]);
}

function addRule(raws: Map<string, { raw: Record<string, unknown>; origin: Origin }>, e: Record<string, unknown>, origin: Origin, issues: string[]) {
  const id = e.rule;
  if (typeof id !== 'string') {
    issues.push(`${at(origin)}.rule: expected the rule id (a string)`);
    return;
  }
  const prev = raws.get(id);
  if ('kind' in e || !prev) {
    if (!('kind' in e)) {
      issues.push(`${at(origin)}: rule ${id} is not defined earlier, so this entry needs kind: (a patch only tunes an existing rule)`);
      return;
    }
    raws.set(id, { raw: e, origin });
  } else {
    raws.set(id, { raw: { ...prev.raw, ...e }, origin });
  }
}

function tryCompile<T>(fn: () => T, issues: string[]): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ConditionError) {
      issues.push(err.message);
      return undefined;
    }
    throw err;
  }
}

function zodIssues(error: z.ZodError, origin: Origin): string[] {
  return error.issues.map((i) => {
    const path = i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
    const reason = i.code === 'unrecognized_keys' ? `unknown field(s) ${i.keys.map((k) => `"${k}"`).join(', ')}` : i.message;
    return `${at(origin)}${path}: ${reason}`;
  });
}

const MITRE = /^(?:attack\.)?(t\d{4}(?:\.\d{3})?)$/i;

function compileRule(def: RuleDef, env: CompileEnv, origin: Origin): CompiledRule {
  const base = `${at(origin)}`;
  const cond = def.condition === undefined ? null : compileCondition(def.condition, env, `${base}.condition`);
  const steps = (def.steps ?? []).map((s, i) => {
    const c = compileCondition(s.condition, env, `${base}.steps[${i}].condition`);
    return { name: s.name, test: c.test, count: s.count, actions: c.actions };
  });
  let actions = cond?.actions ?? null;
  if (def.kind === 'sequence') actions = steps.every((s) => s.actions) ? new Set(steps.flatMap((s) => [...s.actions!])) : null;
  const partner = def.partner ? compileCondition(def.partner.condition, env, `${base}.partner.condition`) : null;
  if (partner) actions = actions && partner.actions ? new Set([...actions, ...partner.actions]) : null;
  const partnerBy = def.partner?.group_by ?? def.group_by;
  const techniques: string[] = [];
  const tags: string[] = [];
  for (const t of def.tags) {
    const m = MITRE.exec(t);
    if (m) techniques.push(m[1].toUpperCase());
    else tags.push(t);
  }
  return {
    id: def.rule,
    name: def.name,
    description: def.description,
    severity: def.severity,
    score: SEVERITY_SCORE[def.severity],
    kind: def.kind,
    category: def.category,
    techniques,
    tags,
    test: cond?.test ?? (() => false),
    steps: steps.map(({ name, test, count }) => ({ name, test, count })),
    actions,
    groupBy: def.group_by,
    groupGet: def.group_by.map((f) => getter(f) as (ev: unknown) => unknown),
    windowMs: def.window ?? 0,
    threshold: def.threshold ?? 1,
    distinctGet: def.distinct ? (getter(def.distinct) as (ev: unknown) => unknown) : null,
    periodMs: def.period ?? 0,
    partner: partner ? { test: partner.test, groupBy: partnerBy, groupGet: partnerBy.map((f) => getter(f) as (ev: unknown) => unknown) } : null,
    maxKeys: def.max_keys,
    supersedes: [],
    file: origin.file,
    fingerprint: JSON.stringify(def),
  };
}
