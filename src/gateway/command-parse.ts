// Command lines understood as bash understands them: tree-sitter-bash (WASM,
// loaded once from node_modules at import) gives the syntax tree; words are
// unquoted and unescaped here, brace-expanded, and every simple command found
// anywhere in the line (lists, pipelines, subshells, groups, substitutions,
// function bodies) is handed to command-wrappers.ts, which follows sudo, env,
// sh -c, eval, xargs and the like to the command that really runs.
// What cannot be known before the line runs (a command name made by a
// substitution, a pipe into a shell) is reported as `unresolved`.
import { createRequire } from 'node:module';
import { Language, Parser, type Node } from 'web-tree-sitter';
import { resolveArgv, type Arg, type SimpleCommand } from './command-wrappers.js';

export type { SimpleCommand } from './command-wrappers.js';

export interface ParsedLine {
  /** Every simple command the line runs, wrappers included (`sudo rm x` gives sudo and rm). */
  commands: SimpleCommand[];
  /** Why part of the line cannot be known before it runs; empty when all of it can. */
  unresolved: string[];
}

const require = createRequire(import.meta.url);
await Parser.init();
const parser = new Parser();
parser.setLanguage(await Language.load(require.resolve('tree-sitter-bash/tree-sitter-bash.wasm')));

/** Nested `sh -c` / `eval` strings followed this deep; deeper is unresolved. */
const MAX_DEPTH = 8;
/** Longest line parsed; the rest is not looked at (and the line is unresolved). */
const MAX_LINE = 64 * 1024;
/** Most words one brace expansion may give. */
const MAX_BRACE = 64;

/** Parse one command line. Never throws: what cannot be parsed is reported as unresolved. */
export function parseCommandLine(line: string): ParsedLine {
  const out: ParsedLine = { commands: [], unresolved: [] };
  parseInto(line, out, 0);
  return out;
}

function parseInto(text: string, out: ParsedLine, depth: number): void {
  if (depth > MAX_DEPTH) return void out.unresolved.push('nested too deep');
  if (text.length > MAX_LINE) {
    out.unresolved.push('line too long to parse');
    text = text.slice(0, MAX_LINE);
  }
  const tree = parser.parse(text);
  if (!tree) return void out.unresolved.push('could not be parsed');
  try {
    walk(tree.rootNode, out, depth);
  } finally {
    tree.delete();
  }
}

/** Visit every node; each `command` is resolved, and its children still visited (substitutions in arguments run too). */
function walk(root: Node, out: ParsedLine, depth: number): void {
  const stack: Node[] = [root];
  const piped = new Set<number>();
  const done = new Set<number>();
  while (stack.length) {
    const n = stack.pop()!;
    if (n.type === 'command' && !done.has(n.id)) command(n, piped.has(n.id), out, depth);
    else if (n.type === 'ERROR') braceWord(n, done, out, depth);
    else if (n.type === 'pipeline') markPiped(n, piped);
    for (let i = n.namedChildCount - 1; i >= 0; i--) stack.push(n.namedChild(i)!);
  }
}

/** Commands fed by a pipe: all but the first stage (by node id: Node objects are made afresh on each access). */
function markPiped(p: Node, piped: Set<number>): void {
  const stages = p.namedChildren.filter((c): c is Node => !!c);
  for (let i = 1; i < stages.length; i++) {
    let s: Node | null = stages[i];
    if (s.type === 'redirected_statement') s = s.namedChild(0);
    if (s?.type === 'command') piped.add(s.id);
  }
}

function command(n: Node, fedByPipe: boolean, out: ParsedLine, depth: number, prefix?: Seg): void {
  const nameNode = n.childForFieldName('name');
  if (!nameNode) return; // assignments only
  const words = wordsOf([nameNode.namedChild(0) ?? nameNode, ...n.childrenForFieldName('argument')]);
  if (prefix) words[0].unshift(prefix);
  let stdin: Arg | 'pipe' | null = fedByPipe ? 'pipe' : null;
  for (const c of n.namedChildren) {
    if (c?.type !== 'herestring_redirect') continue;
    const w = c.namedChildren.find((x) => x && x.type !== 'file_descriptor');
    if (w) stdin = expand(segmentsOf(w))[0] ?? null;
  }
  run(words, (prefix?.t ?? '') + nameNode.text, stdin, out, depth);
}

/** `{rm,-rf,/}` or `{r,}m` starting a command is brace expansion to bash, an unfinished group to tree-sitter (an ERROR node). */
function braceWord(n: Node, done: Set<number>, out: ParsedLine, depth: number): void {
  const kids = n.children.filter((c): c is Node => !!c);
  for (let i = 0; i + 1 < kids.length; i++) {
    const open = kids[i];
    const name = kids[i + 1];
    if (open.type !== '{' || name.startIndex !== open.endIndex) continue;
    if (name.type === 'command') {
      done.add(name.id);
      command(name, false, out, depth, { t: '{', q: false });
    } else if (name.type === 'command_name') {
      const first: Seg[] = [{ t: '{', q: false }, ...segmentsOf(name.namedChild(0) ?? name)];
      let end = i + 2;
      while (end < kids.length && WORDS.has(kids[end].type)) end++;
      run([first, ...wordsOf(kids.slice(i + 2, end))], open.text + name.text, null, out, depth);
    }
  }
}

const WORDS = new Set(['word', 'string', 'raw_string', 'ansi_c_string', 'translated_string', 'concatenation', 'number', 'simple_expansion', 'expansion', 'command_substitution']);

function run(words: Seg[][], nameText: string, stdin: Arg | 'pipe' | null, out: ParsedLine, depth: number): void {
  const argv = words.flatMap(expand);
  if (!argv.length) return;
  if (argv[0].dyn) return void out.unresolved.push(`command name decided when it runs: ${nameText}`);
  if (argv[0].glob) return void out.unresolved.push(`command name is a pattern: ${nameText}`);
  resolveArgv(argv, { stdin, out, parse: (text) => parseInto(text, out, depth + 1) });
}

/** Each node's segments; nodes with nothing between them are one word to bash (tree-sitter splits `'r'\\m` in two). */
function wordsOf(nodes: Node[]): Seg[][] {
  const words: Seg[][] = [];
  let end = -1;
  for (const n of nodes) {
    const segs = segmentsOf(n);
    if (n.startIndex === end && words.length) words[words.length - 1].push(...segs);
    else words.push(segs);
    end = n.endIndex;
  }
  return words;
}

/** A piece of a word: its text, whether quoting or escaping took its special meaning away, whether it is a run-time expansion. */
interface Seg {
  t: string;
  q: boolean;
  dyn?: boolean;
}

const DYNAMIC = new Set(['simple_expansion', 'expansion', 'command_substitution', 'process_substitution', 'arithmetic_expansion']);

function segmentsOf(n: Node): Seg[] {
  switch (n.type) {
    case 'word':
      return bare(n.text);
    case 'raw_string':
      return [{ t: n.text.slice(1, -1), q: true }];
    case 'ansi_c_string':
      return [{ t: ansiC(n.text.slice(2, -1)), q: true }];
    case 'string':
    case 'translated_string':
      return doubleQuoted(n);
    case 'concatenation':
      return n.namedChildren.flatMap((c) => (c ? segmentsOf(c) : []));
    default:
      if (DYNAMIC.has(n.type)) return [{ t: n.text, q: true, dyn: true }];
      return bare(n.text);
  }
}

/** An unquoted word: backslash quotes the next character; backslash-newline is removed. */
function bare(text: string): Seg[] {
  if (!text.includes('\\')) return [{ t: text, q: false }];
  const segs: Seg[] = [];
  let plain = '';
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '\\') {
      plain += text[i];
      continue;
    }
    if (plain) segs.push({ t: plain, q: false });
    plain = '';
    const next = text[++i];
    if (next !== undefined && next !== '\n') segs.push({ t: next, q: true });
  }
  if (plain) segs.push({ t: plain, q: false });
  return segs;
}

/** "…": the text between the quotes (tree-sitter leaves some of it, like a lone blank, in the quote tokens), expansions in it kept as written and dynamic. */
function doubleQuoted(n: Node): Seg[] {
  const str = n.type === 'translated_string' ? n.namedChild(0) : n;
  if (!str) return [];
  const text = str.text;
  const base = str.startIndex;
  const segs: Seg[] = [];
  let at = 1;
  const literal = (to: number) => {
    if (to > at) segs.push({ t: text.slice(at, to).replace(/\\([$`"\\\n])/g, (_m, ch: string) => (ch === '\n' ? '' : ch)), q: true });
  };
  for (const c of str.namedChildren) {
    if (!c || !DYNAMIC.has(c.type)) continue;
    literal(c.startIndex - base);
    segs.push({ t: c.text, q: true, dyn: true });
    at = c.endIndex - base;
  }
  literal(text.length - (text.length > 1 && text.endsWith('"') ? 1 : 0));
  return segs;
}

const C_ESCAPES: Record<string, string> = { a: '\x07', b: '\b', e: '\x1b', E: '\x1b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', "'": "'", '"': '"', '?': '?' };

/** The body of $'…' with its C escapes decoded. */
function ansiC(body: string): string {
  return body.replace(/\\(x[0-9a-fA-F]{1,2}|u[0-9a-fA-F]{1,4}|U[0-9a-fA-F]{1,8}|[0-7]{1,3}|c.|.)/gs, (_m, e: string) => {
    if (e[0] === 'x' || e[0] === 'u' || e[0] === 'U') return String.fromCodePoint(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8) & 0xff);
    if (e[0] === 'c') return String.fromCharCode(e.charCodeAt(1) & 0x1f);
    return C_ESCAPES[e] ?? '\\' + e;
  });
}

/** One word after brace expansion: one or more arguments. */
function expand(segs: Seg[]): Arg[] {
  const dyn = segs.some((s) => s.dyn);
  const glob = segs.some((s) => !s.q && /[*?[]/.test(s.t));
  const chars: { c: string; q: boolean }[] = [];
  for (const s of segs) for (const c of s.t) chars.push({ c, q: s.q });
  return braces(chars).map((v) => ({ v, dyn, glob }));
}

type Ch = { c: string; q: boolean };

/** Bash brace expansion of unquoted {a,b} (nested too); {x..y} sequences are left as written. */
function braces(chars: Ch[]): string[] {
  const open = chars.findIndex((x, i) => !x.q && x.c === '{' && closeOf(chars, i) > 0);
  if (open < 0) return [chars.map((x) => x.c).join('')];
  const close = closeOf(chars, open);
  const alts: Ch[][] = [];
  let depth = 0;
  let from = open + 1;
  for (let i = open + 1; i < close; i++) {
    const x = chars[i];
    if (x.q) continue;
    if (x.c === '{') depth++;
    else if (x.c === '}') depth--;
    else if (x.c === ',' && depth === 0) {
      alts.push(chars.slice(from, i));
      from = i + 1;
    }
  }
  alts.push(chars.slice(from, close));
  const out: string[] = [];
  for (const alt of alts) {
    for (const w of braces([...chars.slice(0, open), ...alt, ...chars.slice(close + 1)])) {
      if (out.length >= MAX_BRACE) return out;
      out.push(w);
    }
  }
  return out;
}

/** Index of the } closing the { at `open` when the group has a top-level comma, else -1. */
function closeOf(chars: Ch[], open: number): number {
  let depth = 0;
  let comma = false;
  for (let i = open + 1; i < chars.length; i++) {
    const x = chars[i];
    if (x.q) continue;
    if (x.c === '{') depth++;
    else if (x.c === '}') {
      if (depth === 0) return comma ? i : -1;
      depth--;
    } else if (x.c === ',' && depth === 0) comma = true;
  }
  return -1;
}
