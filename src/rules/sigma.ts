// `trailwatch sigma convert`: Sigma rules -> trailwatch match rules.
// Supported: logsource linux process_creation (fields mapped to ECS process.*,
// matched on any ECS process start: event.category process and event.type
// start, whichever decoder or shipper made it), service auditd (any record:
// type onto auditd.record_type, the record's own fields onto auditd.data.*),
// keyword searches (matched on message); modifiers contains/startswith/endswith/all/re/cidr/windash/
// cased/exists/gt/gte/lt/lte; conditions and/or/not, parentheses, `1 of x*`,
// `all of them`. Anything else is reported with the reason, never dropped.
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { compileCondition, ConditionError, newEnv } from './conditions.js';
import { parseSigmaCondition, SigmaError } from './sigma-condition.js';

type Node = Record<string, unknown>;

/** An ECS process start (event.category and event.type are arrays: any element matches). */
const PROCESS_START: Node[] = [
  { field: 'event.category', equals: 'process' },
  { field: 'event.type', equals: 'start' },
];
/** An auditd field name as auditd writes it (a0, exe, nametype, SYSCALL, …). */
const AUDITD_FIELD = /^[A-Za-z][A-Za-z0-9_-]*$/;
export const PROCESS_CREATION_FIELDS: Record<string, string> = {
  Image: 'process.executable',
  CommandLine: 'process.command_line',
  ParentImage: 'process.parent.executable',
  ParentCommandLine: 'process.parent.command_line',
  User: 'user.name',
  CurrentDirectory: 'process.working_directory',
  ProcessId: 'process.pid',
  ParentProcessId: 'process.parent.pid',
};
const SERVICE_PROCESS: Record<string, string[]> = { sshd: ['sshd', 'sshd-session'], sudo: ['sudo'], su: ['su'], cron: ['cron', 'CRON', 'crond'] };
const LEVELS: Record<string, string> = { informational: 'low', low: 'low', medium: 'medium', high: 'high', critical: 'critical' };
const WINDASH = ['-', '/', '\u2013', '\u2014', '\u2015'];

export interface ConvertResult {
  converted: { source: string; output: string; ruleId: string }[];
  skipped: { source: string; reason: string }[];
}

export function convertSigma(paths: string[], outDir: string): ConvertResult {
  const result: ConvertResult = { converted: [], skipped: [] };
  mkdirSync(outDir, { recursive: true });
  for (const file of sigmaFiles(paths, result)) {
    try {
      const entry = convertFile(file);
      const output = join(outDir, `${basename(file, extname(file))}.yaml`);
      writeFileSync(output, `# Converted from Sigma: ${basename(file)}\n${stringify([entry], { lineWidth: 0 })}`);
      result.converted.push({ source: file, output, ruleId: String(entry.rule) });
    } catch (err) {
      if (!(err instanceof SigmaError)) throw err;
      result.skipped.push({ source: file, reason: err.message });
    }
  }
  return result;
}

function sigmaFiles(paths: string[], result: ConvertResult): string[] {
  const out: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch {
      result.skipped.push({ source: p, reason: 'no such file or directory' });
      continue;
    }
    if (st.isDirectory())
      out.push(...sigmaFiles(readdirSync(p).sort().filter((n) => statSync(join(p, n)).isDirectory() || /\.ya?ml$/.test(n)).map((n) => join(p, n)), result));
    else out.push(p);
  }
  return out;
}

/** One Sigma file -> one trailwatch rule entry; throws SigmaError with the reason. */
export function convertFile(file: string): Node {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  if (docs.length !== 1) throw new SigmaError(`${docs.length} YAML documents (rule collections / action: global are not supported)`);
  if (docs[0].errors.length) throw new SigmaError(`YAML: ${docs[0].errors[0].message.split('\n')[0]}`);
  return convertRule(docs[0].toJS() as Node);
}

export function convertRule(s: Node): Node {
  if (!s || typeof s !== 'object') throw new SigmaError('not a Sigma rule (expected a mapping)');
  if (typeof s.title !== 'string') throw new SigmaError('missing title');
  if (typeof s.id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._:-]*$/.test(s.id)) throw new SigmaError('missing or unusable id (the Sigma id becomes rule.id)');
  const detection = s.detection as Node | undefined;
  if (!detection || typeof detection !== 'object') throw new SigmaError('missing detection');
  const source = logsource((s.logsource ?? {}) as Node);
  const searches = new Map<string, Node>();
  for (const [name, value] of Object.entries(detection)) {
    if (name === 'condition' || name === 'timeframe') continue;
    searches.set(name, search(name, value, source));
  }
  if ('timeframe' in detection) throw new SigmaError('timeframe (correlation) is not supported');
  const cond = detection.condition;
  const conds = Array.isArray(cond) ? cond : [cond];
  if (!conds.length || conds.some((c) => typeof c !== 'string')) throw new SigmaError('detection.condition must be a string or a list of strings');
  const parts = conds.map((c) => parseSigmaCondition(c as string, searches));
  const detect = parts.length === 1 ? parts[0] : { any: parts };
  const condition = source.base.length ? { all: [...source.base, detect] } : detect;
  try {
    compileCondition(condition, newEnv(new Map(), new Map()), 'condition');
  } catch (err) {
    if (err instanceof ConditionError) throw new SigmaError(err.message);
    throw err;
  }
  const level = typeof s.level === 'string' ? LEVELS[s.level.toLowerCase()] : undefined;
  if (!level) throw new SigmaError(`level "${String(s.level)}" is not one of ${Object.keys(LEVELS).join(', ')}`);
  const entry: Node = {
    rule: s.id,
    name: s.title,
    description: typeof s.description === 'string' ? s.description.trim() : '',
    kind: 'match',
    severity: level,
    tags: Array.isArray(s.tags) ? s.tags.map(String) : [],
    category: 'sigma',
  };
  if (Array.isArray(s.references)) entry.references = s.references.map(String);
  if (typeof s.author === 'string') entry.author = s.author;
  entry.condition = condition;
  return entry;
}

interface Source {
  kind: 'process_creation' | 'auditd' | 'keywords';
  base: Node[];
}

function logsource(ls: Node): Source {
  const product = ls.product === undefined ? undefined : String(ls.product).toLowerCase();
  if (product !== undefined && product !== 'linux') throw new SigmaError(`logsource product "${product}" is not supported (linux only)`);
  if (ls.category === 'process_creation') return { kind: 'process_creation', base: PROCESS_START.map((n) => ({ ...n })) };
  if (ls.category !== undefined) throw new SigmaError(`logsource category "${String(ls.category)}" is not supported (process_creation only)`);
  if (ls.service === 'auditd') return { kind: 'auditd', base: [{ field: 'event.dataset', equals: 'auditd.log' }] };
  if (ls.service === undefined || ls.service === 'auth' || ls.service === 'syslog') return { kind: 'keywords', base: [] };
  const procs = SERVICE_PROCESS[String(ls.service)];
  if (!procs) throw new SigmaError(`logsource service "${String(ls.service)}" is not supported`);
  // The syslog program: decoders set process.name to the process an event is about (sudo's command).
  return { kind: 'keywords', base: [{ any: [{ field: 'log.syslog.appname', in: procs }, { field: 'process.name', in: procs }] }] };
}

function search(name: string, value: unknown, source: Source): Node {
  const at = `detection.${name}`;
  if (typeof value === 'string' || typeof value === 'number') return keywords([value], [], at, source);
  if (Array.isArray(value)) {
    if (!value.length) throw new SigmaError(`${at}: empty list`);
    if (value.every((v) => typeof v === 'string' || typeof v === 'number')) return keywords(value as (string | number)[], [], at, source);
    if (value.every((v) => v && typeof v === 'object' && !Array.isArray(v))) {
      const maps = value.map((v, i) => fieldMap(v as Node, source, `${at}[${i}]`));
      return maps.length === 1 ? maps[0] : { any: maps };
    }
    throw new SigmaError(`${at}: a list must hold only keywords or only field maps`);
  }
  if (value && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0].startsWith('|')) {
      const v = (value as Node)[keys[0]];
      return keywords((Array.isArray(v) ? v : [v]) as (string | number)[], keys[0].slice(1).split('|'), at, source);
    }
    return fieldMap(value as Node, source, at);
  }
  throw new SigmaError(`${at}: unsupported value ${JSON.stringify(value)}`);
}

/** auditd writes arguments and titles with blanks in hex: keywords also look at them decoded. */
const AUDITD_TEXT = ['message', 'process.command_line', 'process.title'];

function keywords(values: (string | number)[], mods: string[], at: string, source: Source): Node {
  const all = mods.includes('all');
  const rest = mods.filter((m) => m !== 'all');
  if (source.kind !== 'auditd') return valueTests('message', ['contains', ...rest], values, all, at);
  const one = (v: string | number) => ({ any: AUDITD_TEXT.map((f) => valueTests(f, ['contains', ...rest], [v], false, at)) });
  return values.length === 1 ? one(values[0]) : { [all ? 'all' : 'any']: values.map(one) };
}

function fieldMap(map: Node, source: Source, at: string): Node {
  const tests: Node[] = [];
  for (const [key, raw] of Object.entries(map)) {
    const [name, ...mods] = key.split('|');
    const where = `${at}.${key}`;
    const values = Array.isArray(raw) ? raw : [raw];
    if (!values.length) throw new SigmaError(`${where}: empty value list`);
    if (source.kind === 'auditd' && (name === 'syscall' || name === 'SYSCALL')) {
      // Raw logs write the number (syscall=59), enriched ones add the name (SYSCALL=execve): either.
      const both = ['auditd.data.syscall', 'auditd.data.SYSCALL'].map((f) => valueTests(f, mods, values, mods.includes('all'), where));
      tests.push({ any: both });
      continue;
    }
    const field = mapField(name, source, where);
    tests.push(valueTests(field, mods, values, mods.includes('all'), where));
  }
  if (!tests.length) throw new SigmaError(`${at}: empty selection`);
  return tests.length === 1 ? tests[0] : { all: tests };
}

function mapField(name: string, source: Source, where: string): string {
  if (source.kind === 'process_creation') {
    const f = PROCESS_CREATION_FIELDS[name];
    if (!f) throw new SigmaError(`${where}: field ${name} has no ECS mapping here (known: ${Object.keys(PROCESS_CREATION_FIELDS).join(', ')})`);
    return f;
  }
  if (source.kind === 'auditd') {
    if (name === 'type') return 'auditd.record_type';
    if (AUDITD_FIELD.test(name)) return `auditd.data.${name}`;
    throw new SigmaError(`${where}: "${name}" is not an auditd field name`);
  }
  throw new SigmaError(`${where}: field ${name} is not available for this logsource (keywords only)`);
}

const UNSUPPORTED_MODS = new Set(['base64', 'base64offset', 'utf16le', 'utf16be', 'utf16', 'wide', 'expand', 'fieldref']);

function valueTests(field: string, mods: string[], values: unknown[], all: boolean, where: string): Node {
  const m = new Set(mods.filter((x) => x !== 'all'));
  for (const x of m) if (UNSUPPORTED_MODS.has(x)) throw new SigmaError(`${where}: modifier ${x} is not supported`);
  const nocase = !m.has('cased');
  m.delete('cased');
  if (m.has('exists')) return { field, exists: values[0] === true || values[0] === 'true' };
  for (const op of ['gt', 'gte', 'lt', 'lte'])
    if (m.has(op)) {
      const n = Number(values[0]);
      if (values.length !== 1 || !Number.isFinite(n)) throw new SigmaError(`${where}: |${op} takes one number`);
      return { field, [op]: n };
    }
  if (m.has('re')) return regexTests(field, [...m], values, all, where);
  if (m.has('cidr')) return combine(values.map((v) => ({ field, cidr: String(v) })), all);
  let vals = values;
  if (m.has('windash')) vals = values.flatMap((v) => (typeof v === 'string' ? windash(v) : [v]));
  m.delete('windash');
  const pos = m.has('contains') ? 'contains' : m.has('startswith') ? 'startswith' : m.has('endswith') ? 'endswith' : 'equals';
  m.delete(pos);
  if (m.size) throw new SigmaError(`${where}: modifier ${[...m].join('|')} is not supported`);
  const nodes = vals.map((v) => stringTest(field, pos, v, nocase, where));
  return combine(nodes, all);
}

function stringTest(field: string, pos: string, v: unknown, nocase: boolean, where: string): Node {
  if (v === null) return { field, exists: false };
  if (typeof v === 'number' || typeof v === 'boolean') return { field, equals: String(v) };
  if (typeof v !== 'string') throw new SigmaError(`${where}: unsupported value ${JSON.stringify(v)}`);
  const hasWild = /(^|[^\\])[*?]/.test(v);
  const plain = unescape(v);
  const node: Node = { field };
  if (!hasWild && pos !== 'equals') node[pos] = plain;
  else if (!hasWild) node.equals = plain;
  else node.wildcard = pos === 'contains' ? `*${v}*` : pos === 'startswith' ? `${v}*` : pos === 'endswith' ? `*${v}` : v;
  if (nocase) node.nocase = true;
  return node;
}

function regexTests(field: string, mods: string[], values: unknown[], all: boolean, where: string): Node {
  const flags = mods.filter((x) => x !== 're');
  if (flags.some((f) => f !== 'i')) throw new SigmaError(`${where}: regex flags ${flags.join('|')} are not supported (only i)`);
  return combine(
    values.map((v) => ({ field, regex: String(v), ...(flags.includes('i') ? { nocase: true } : {}) })),
    all,
  );
}

/** Merge same-operator tests into one node with a value list when OR-ing. */
function combine(nodes: Node[], all: boolean): Node {
  if (nodes.length === 1) return nodes[0];
  if (all) return { all: nodes };
  const merged = new Map<string, Node>();
  const rest: Node[] = [];
  for (const n of nodes) {
    const op = Object.keys(n).find((k) => k !== 'field' && k !== 'nocase')!;
    if (op === 'exists' || ['gt', 'gte', 'lt', 'lte'].includes(op)) {
      rest.push(n);
      continue;
    }
    const key = `${op}\0${n.nocase ? 1 : 0}`;
    const m = merged.get(key);
    if (m) (m[op] as unknown[]).push(n[op]);
    else merged.set(key, { ...n, [op]: [n[op]] });
  }
  const out = [...merged.values(), ...rest];
  return out.length === 1 ? out[0] : { any: out };
}

function windash(v: string): string[] {
  if (!/(^|\s)-/.test(v)) return [v];
  return WINDASH.map((d) => v.replace(/(^|\s)-/g, `$1${d}`));
}

function unescape(v: string): string {
  return v.replace(/\\([*?\\])/g, '$1');
}
