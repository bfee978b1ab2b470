// Conditions: data (YAML) compiled once into predicate functions.
//
//   { all: [c, …] }  { any: [c, …] }  { not: c }  { macro: name }
//   { field: path, <op>: value(s), nocase?: true }
//     equals | in | contains | startswith | endswith | wildcard | regex | cidr   (value, list of values, or { list: name })
//     exists: true|false      gt | gte | lt | lte: number
//
// A field holding an array (event.category, process.args, related.ip) matches
// when any element does. Errors carry the YAML path of the offending node.
import { BlockList, isIP } from 'node:net';
import { splitPath, type TwEvent } from '../event.js';
import { compileRuleRegex } from './regex-safety.js';

export type Test = (ev: TwEvent) => boolean;
export interface Compiled {
  test: Test;
  /** The event.action values this condition can match, or null when it is not limited to some. */
  actions: Set<string> | null;
}

export class ConditionError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
  }
}

export interface CompileEnv {
  lists: Map<string, (string | number)[]>;
  macros: Map<string, unknown>;
  /** Compiled macros, and the ones being compiled (to catch cycles). */
  macroCache: Map<string, Compiled>;
  resolving: Set<string>;
  /** Where each macro is defined ("file[index]"), for error messages. */
  where?: Map<string, string>;
}

export function newEnv(lists: CompileEnv['lists'], macros: CompileEnv['macros']): CompileEnv {
  return { lists, macros, macroCache: new Map(), resolving: new Set() };
}

const STRING_OPS = ['equals', 'in', 'contains', 'startswith', 'endswith', 'wildcard', 'regex', 'cidr'] as const;
const NUMBER_OPS = ['gt', 'gte', 'lt', 'lte'] as const;
const OPS = [...STRING_OPS, ...NUMBER_OPS, 'exists'] as const;
type Op = (typeof OPS)[number];

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

export function compileCondition(raw: unknown, env: CompileEnv, path: string): Compiled {
  if (!isObj(raw)) throw new ConditionError(path, 'a condition must be a mapping (all/any/not/macro or field + operator)');
  const keys = Object.keys(raw);
  if ('all' in raw || 'any' in raw) {
    const k = 'all' in raw ? 'all' : 'any';
    if (keys.length !== 1) throw new ConditionError(path, `"${k}" must be alone in its mapping (found ${keys.join(', ')})`);
    const items = raw[k];
    if (!Array.isArray(items) || !items.length) throw new ConditionError(`${path}.${k}`, 'expected a non-empty list of conditions');
    const parts = items.map((c, i) => compileCondition(c, env, `${path}.${k}[${i}]`));
    return k === 'all' ? allOf(parts) : anyOf(parts);
  }
  if ('not' in raw) {
    if (keys.length !== 1) throw new ConditionError(path, '"not" must be alone in its mapping');
    const inner = compileCondition(raw.not, env, `${path}.not`).test;
    return { test: (ev) => !inner(ev), actions: null };
  }
  if ('macro' in raw) {
    if (keys.length !== 1) throw new ConditionError(path, '"macro" must be alone in its mapping');
    return compileMacro(String(raw.macro), env, path);
  }
  if ('field' in raw) return compileFieldTest(raw, env, path);
  throw new ConditionError(path, `unknown condition (keys ${keys.join(', ') || 'none'}); expected all, any, not, macro or field`);
}

function allOf(parts: Compiled[]): Compiled {
  let actions: Set<string> | null = null;
  for (const p of parts) {
    const pa = p.actions;
    if (pa) actions = actions ? new Set([...actions].filter((a: string) => pa.has(a))) : pa;
  }
  const tests = parts.map((p) => p.test);
  if (tests.length === 1) return { test: tests[0], actions };
  if (tests.length === 2) {
    const [a, b] = tests;
    return { test: (ev) => a(ev) && b(ev), actions };
  }
  return {
    test: (ev) => {
      for (let i = 0; i < tests.length; i++) if (!tests[i](ev)) return false;
      return true;
    },
    actions,
  };
}

function anyOf(parts: Compiled[]): Compiled {
  const actions = parts.every((p) => p.actions) ? new Set(parts.flatMap((p) => [...p.actions!])) : null;
  const tests = parts.map((p) => p.test);
  if (tests.length === 1) return { test: tests[0], actions };
  return {
    test: (ev) => {
      for (let i = 0; i < tests.length; i++) if (tests[i](ev)) return true;
      return false;
    },
    actions,
  };
}

function compileMacro(name: string, env: CompileEnv, path: string): Compiled {
  const done = env.macroCache.get(name);
  if (done) return done;
  if (!env.macros.has(name)) throw new ConditionError(path, `unknown macro "${name}"`);
  if (env.resolving.has(name)) throw new ConditionError(path, `macro "${name}" refers to itself (${[...env.resolving, name].join(' -> ')})`);
  env.resolving.add(name);
  try {
    const c = compileCondition(env.macros.get(name), env, `${env.where?.get(name) ?? ''} macro ${name}`.trim());
    const memo = { test: memoized(c.test), actions: c.actions };
    env.macroCache.set(name, memo);
    return memo;
  } finally {
    env.resolving.delete(name);
  }
}

/**
 * Several rules use the same macro on the same event (every login rule asks
 * "is this a failed login?"): remember the answer for the last event seen.
 */
function memoized(test: Test): Test {
  let last: TwEvent | null = null;
  let result = false;
  return (ev) => {
    if (ev !== last) {
      result = test(ev);
      last = ev;
    }
    return result;
  };
}

function compileFieldTest(raw: Record<string, unknown>, env: CompileEnv, path: string): Compiled {
  const field = raw.field;
  if (typeof field !== 'string' || !field) throw new ConditionError(`${path}.field`, 'expected a field path such as source.ip');
  const nocase = raw.nocase === true;
  const ops = Object.keys(raw).filter((k) => k !== 'field' && k !== 'nocase');
  const unknown = ops.filter((k) => !(OPS as readonly string[]).includes(k));
  if (unknown.length) throw new ConditionError(path, `unknown operator "${unknown[0]}" (expected one of ${OPS.join(', ')})`);
  if (ops.length !== 1) throw new ConditionError(path, `a field test takes exactly one operator (found ${ops.length ? ops.join(', ') : 'none'})`);
  if ('nocase' in raw && typeof raw.nocase !== 'boolean') throw new ConditionError(`${path}.nocase`, 'expected true or false');
  const op = ops[0] as Op;
  const get = getter(field);
  const at = `${path}.${op}`;
  if (op === 'exists') {
    if (typeof raw.exists !== 'boolean') throw new ConditionError(at, 'expected true or false');
    const want = raw.exists;
    return { test: (ev) => present(get(ev)) === want, actions: null };
  }
  if ((NUMBER_OPS as readonly string[]).includes(op)) {
    const n = raw[op];
    if (typeof n !== 'number' || !Number.isFinite(n)) throw new ConditionError(at, 'expected a number');
    return { test: numberTest(get, op, n), actions: null };
  }
  const values = op === 'in' && typeof raw.in === 'string' ? listValues(raw.in, env, at) : resolveValues(raw[op], env, at);
  if (!values.length) throw new ConditionError(at, 'no values to compare with');
  const test = stringTest(op, values, nocase, at);
  const actions = field === 'event.action' && (op === 'equals' || op === 'in') && !nocase ? new Set(values) : null;
  return { test: (ev) => anyString(get(ev), test), actions };
}

function stringTest(op: Op, values: string[], nocase: boolean, at: string): (s: string) => boolean {
  const vals = nocase ? values.map((v) => v.toLowerCase()) : values;
  const fold = nocase ? (s: string) => s.toLowerCase() : (s: string) => s;
  switch (op) {
    case 'equals':
    case 'in': {
      // The hot case (event.action, event.outcome, …): no folding, often one value.
      if (!nocase && vals.length === 1) {
        const v = vals[0];
        return (s) => s === v;
      }
      const set = new Set(vals);
      return nocase ? (s) => set.has(s.toLowerCase()) : (s) => set.has(s);
    }
    case 'contains':
      return (s) => {
        const f = fold(s);
        for (let i = 0; i < vals.length; i++) if (f.includes(vals[i])) return true;
        return false;
      };
    case 'startswith':
      return (s) => {
        const f = fold(s);
        for (let i = 0; i < vals.length; i++) if (f.startsWith(vals[i])) return true;
        return false;
      };
    case 'endswith':
      return (s) => {
        const f = fold(s);
        for (let i = 0; i < vals.length; i++) if (f.endsWith(vals[i])) return true;
        return false;
      };
    case 'wildcard': {
      const re = new RegExp(`^(?:${values.map(globToRegex).join('|')})$`, nocase ? 'is' : 's');
      return (s) => re.test(s);
    }
    case 'regex': {
      const res = values.map((p, i) => {
        try {
          return compileRuleRegex(p, nocase);
        } catch (err) {
          throw new ConditionError(values.length > 1 ? `${at}[${i}]` : at, `regex ${JSON.stringify(p)} refused: ${(err as Error).message}`);
        }
      });
      return (s) => {
        for (let i = 0; i < res.length; i++) if (res[i].test(s)) return true;
        return false;
      };
    }
    case 'cidr':
      return cidrTest(values, at);
    default:
      throw new ConditionError(at, `operator ${op} does not take strings`);
  }
}

/** `*` any run, `?` one character, `\*` `\?` `\\` literal. */
export function globToRegex(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '\\' && i + 1 < glob.length && '*?\\'.includes(glob[i + 1])) out += '\\' + glob[++i];
    else if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else out += c.replace(/[.+^${}()|[\]\\/-]/g, '\\$&');
  }
  return out;
}

function cidrTest(values: string[], at: string): (s: string) => boolean {
  const bl = new BlockList();
  for (const v of values) {
    const [addr, bits] = v.split('/');
    const fam = isIP(addr);
    if (!fam) throw new ConditionError(at, `"${v}" is not an IP address or CIDR`);
    const prefix = bits === undefined ? (fam === 4 ? 32 : 128) : Number(bits);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > (fam === 4 ? 32 : 128)) throw new ConditionError(at, `"${v}" has a bad prefix length`);
    bl.addSubnet(addr, prefix, fam === 4 ? 'ipv4' : 'ipv6');
  }
  return (s) => {
    const fam = isIP(s);
    return fam !== 0 && bl.check(s, fam === 4 ? 'ipv4' : 'ipv6');
  };
}

function numberTest(get: (ev: TwEvent) => unknown, op: Op, n: number): Test {
  const num = (v: unknown) => (typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN);
  switch (op) {
    case 'gt':
      return (ev) => num(get(ev)) > n;
    case 'gte':
      return (ev) => num(get(ev)) >= n;
    case 'lt':
      return (ev) => num(get(ev)) < n;
    default:
      return (ev) => num(get(ev)) <= n;
  }
}

function listValues(name: string, env: CompileEnv, at: string): string[] {
  const l = env.lists.get(name);
  if (!l) throw new ConditionError(at, `unknown list "${name}"`);
  return l.map(String);
}

function resolveValues(raw: unknown, env: CompileEnv, at: string): string[] {
  if (typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean') return [String(raw)];
  if (isObj(raw) && Object.keys(raw).length === 1 && typeof raw.list === 'string') return listValues(raw.list, env, at);
  if (Array.isArray(raw)) return raw.flatMap((v, i) => resolveValues(v, env, `${at}[${i}]`));
  throw new ConditionError(at, 'expected a value, a list of values or { list: name }');
}

function present(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0);
}

function anyString(v: unknown, pred: (s: string) => boolean): boolean {
  if (typeof v === 'string') return pred(v);
  if (typeof v === 'number' || typeof v === 'boolean') return pred(String(v));
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if ((typeof x === 'string' || typeof x === 'number') && pred(String(x))) return true;
    }
  }
  return false;
}

/** A fast accessor for a dotted path (specialised for short paths, the common case). */
export function getter(path: string): (ev: TwEvent) => unknown {
  const p = splitPath(path);
  const o = (x: unknown) => (x !== null && typeof x === 'object' ? (x as Record<string, unknown>) : undefined);
  if (p.length === 1) return (ev) => (ev as unknown as Record<string, unknown>)[p[0]];
  if (p.length === 2) return (ev) => o((ev as unknown as Record<string, unknown>)[p[0]])?.[p[1]];
  if (p.length === 3) return (ev) => o(o((ev as unknown as Record<string, unknown>)[p[0]])?.[p[1]])?.[p[2]];
  return (ev) => {
    let cur: unknown = ev;
    for (let i = 0; i < p.length; i++) {
      const c = o(cur);
      if (!c) return undefined;
      cur = c[p[i]];
    }
    return cur;
  };
}
