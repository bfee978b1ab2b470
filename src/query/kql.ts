// The analyst console's query language: the part of Kibana's KQL analysts
// type every day (field:value, "phrases", val*, field:*, value lists, ranges,
// and / or / not, free text), parsed into a small AST that sql.ts and es.ts
// translate. Queries arrive in URLs, so the parser is bounded (length and
// nesting) and every failure is a KqlError naming the column and what it
// expected there. Differences from Kibana: words side by side are joined with
// an implicit "and" (Kibana reads `john smith` as one value), and after
// `field:` or a range operator `:`, `<` and `>` are ordinary characters, so
// `source.ip:2001:db8::1` and `@timestamp >= 2026-12-01T10:00:00Z` need no quoting.
import { TrailwatchError } from '../errors.js';

/** A value as written: a bare word, a "quoted phrase", or a word with `*` wildcards. */
export type KqlValue =
  | { kind: 'term'; text: string }
  | { kind: 'phrase'; text: string }
  /** The literal text around each `*`: `ad*n*` is ['ad', 'n', '']. Inner parts are never empty, and never all parts. */
  | { kind: 'wildcard'; parts: string[] };

export type RangeOp = '>' | '>=' | '<' | '<=';

/** The empty query (and a bare `*`): every event. */
export interface KqlAll {
  type: 'all';
}
export interface KqlAnd {
  type: 'and';
  children: KqlNode[];
}
export interface KqlOr {
  type: 'or';
  children: KqlNode[];
}
export interface KqlNot {
  type: 'not';
  child: KqlNode;
}
/** `field:value`; a value list `field:(a or b)` becomes and / or / not over these. */
export interface KqlMatch {
  type: 'match';
  field: string;
  value: KqlValue;
}
/** A value with no field: searched in message and event.original. */
export interface KqlText {
  type: 'text';
  value: KqlValue;
}
/** `field:*` */
export interface KqlExists {
  type: 'exists';
  field: string;
}
export interface KqlRange {
  type: 'range';
  field: string;
  op: RangeOp;
  /** As written; the translations decide whether it is a number, a date or a string. */
  value: string;
}
export type KqlNode = KqlAll | KqlAnd | KqlOr | KqlNot | KqlMatch | KqlText | KqlExists | KqlRange;

export const MAX_QUERY_LENGTH = 4096;
export const MAX_QUERY_DEPTH = 32;
export const FIELD_NAME = /^[A-Za-z0-9_.@-]+$/;

/** A query that cannot be parsed (or translated): `column` is 1-based, in UTF-16 code units. */
export class KqlError extends TrailwatchError {
  constructor(
    readonly column: number,
    readonly reason: string,
  ) {
    super('TW_QUERY', `column ${column}: ${reason}`);
    this.name = 'KqlError';
  }
}

// Where each value of a parsed match / range started, for errors found later
// (a date the SQL translation cannot read). Kept off the AST so that ASTs
// compare equal whatever the spacing of the text they came from.
const columns = new WeakMap<KqlNode, number>();

/** The column of a node's value in the text it was parsed from, if it came from parseKql. */
export function kqlColumn(node: KqlNode): number | undefined {
  return columns.get(node);
}

type Mode = 'free' | 'value';
type Token =
  | { kind: 'end' | 'lparen' | 'rparen' | 'colon'; start: number; end: number }
  | { kind: 'range'; op: RangeOp; start: number; end: number }
  | { kind: 'phrase'; text: string; start: number; end: number }
  | { kind: 'word'; raw: string; text: string; parts: string[] | null; keyword: 'and' | 'or' | 'not' | null; start: number; end: number };

const WS = /\s/;
const SPECIAL = '\\():<>"*';
const KEYWORD = /^(and|or|not)$/i;
const ESCAPED_KEYWORD = /^(and|not|or)/i;

/** Parse a query; the empty query is { type: 'all' }. Throws KqlError. */
export function parseKql(text: string): KqlNode {
  if (text.length > MAX_QUERY_LENGTH) throw new KqlError(MAX_QUERY_LENGTH + 1, `the query is longer than ${MAX_QUERY_LENGTH} characters`);
  return new Parser(text).query();
}

class Parser {
  private pos = 0;
  private depth = 0;
  constructor(private readonly s: string) {}

  query(): KqlNode {
    if (this.peek('free').kind === 'end') return { type: 'all' };
    const node = this.or(null);
    const t = this.peek('free');
    if (t.kind === 'rparen') throw new KqlError(t.start + 1, '")" has no matching "("');
    return node;
  }

  /** `field` is set inside a value list `field:( … )`. */
  private or(field: string | null, after?: string): KqlNode {
    const children = [this.and(field, after)];
    for (let t = this.peek(mode(field)); t.kind === 'word' && t.keyword === 'or'; t = this.peek(mode(field))) {
      this.pos = t.end;
      children.push(this.and(field, 'or'));
    }
    return children.length === 1 ? children[0] : { type: 'or', children };
  }

  private and(field: string | null, after?: string): KqlNode {
    const children = [this.not(field, after)];
    for (;;) {
      const t = this.peek(mode(field));
      if (t.kind === 'end' || t.kind === 'rparen' || (t.kind === 'word' && t.keyword === 'or')) break;
      if (t.kind === 'word' && t.keyword === 'and') {
        this.pos = t.end;
        children.push(this.not(field, 'and'));
      } else children.push(this.not(field)); // side by side: an implicit "and"
    }
    return children.length === 1 ? children[0] : { type: 'and', children };
  }

  private not(field: string | null, after?: string): KqlNode {
    const t = this.peek(mode(field));
    if (t.kind === 'word' && t.keyword === 'not') {
      this.pos = t.end;
      this.enter(t.start);
      const child = this.not(field, 'not');
      this.depth--;
      return { type: 'not', child };
    }
    return this.primary(field, after);
  }

  private primary(field: string | null, after?: string): KqlNode {
    const t = this.peek(mode(field));
    if (t.kind === 'lparen') return this.group(t, field);
    if (t.kind === 'phrase' || (t.kind === 'word' && !t.keyword)) {
      this.pos = t.end;
      if (field !== null) return this.valueNode(field, t);
      if (t.kind === 'word') {
        const next = this.peek('free');
        if (next.kind === 'colon' || next.kind === 'range') return this.fieldExpression(t, next);
      }
      return this.valueNode(null, t);
    }
    if (t.kind === 'colon' || t.kind === 'range') throw new KqlError(t.start + 1, `expected a field name before "${this.s.slice(t.start, t.end)}"`);
    if (t.kind === 'rparen' && after === undefined && field === null) throw new KqlError(t.start + 1, '")" has no matching "("');
    const what = field === null ? 'a query' : 'a value';
    const where = after === undefined ? '' : ` after "${after}"`;
    throw new KqlError(t.start + 1, `expected ${what}${where}${found(this.s, t)}`);
  }

  private group(open: Token, field: string | null): KqlNode {
    this.pos = open.end;
    this.enter(open.start);
    const node = this.or(field, '(');
    const close = this.peek(mode(field));
    if (close.kind !== 'rparen') throw new KqlError(open.start + 1, '"(" is not closed');
    this.pos = close.end;
    this.depth--;
    return node;
  }

  private fieldExpression(name: Extract<Token, { kind: 'word' }>, op: Token): KqlNode {
    if (name.raw !== name.text || name.parts || !FIELD_NAME.test(name.raw)) {
      throw new KqlError(name.start + 1, `"${name.raw}" is not a field name (letters, digits, "_", ".", "@" and "-")`);
    }
    const field = name.raw;
    this.pos = op.end;
    const t = this.peek('value');
    if (op.kind === 'colon') {
      if (t.kind === 'lparen') return this.group(t, field);
      if (t.kind === 'phrase' || (t.kind === 'word' && !t.keyword)) {
        this.pos = t.end;
        return this.valueNode(field, t);
      }
      throw new KqlError(t.start + 1, `expected a value after "${field}:"${found(this.s, t)}`);
    }
    const rop = (op as Extract<Token, { kind: 'range' }>).op;
    if (t.kind === 'word' && t.parts && !t.keyword) throw new KqlError(t.start + 1, `a range takes a single value, not a pattern with "*"`);
    if (t.kind !== 'phrase' && !(t.kind === 'word' && !t.keyword)) throw new KqlError(t.start + 1, `expected a value after "${field} ${rop}"${found(this.s, t)}`);
    this.pos = t.end;
    const node: KqlRange = { type: 'range', field, op: rop, value: t.text };
    columns.set(node, t.start + 1);
    return node;
  }

  private valueNode(field: string | null, t: Extract<Token, { kind: 'word' | 'phrase' }>): KqlNode {
    let value: KqlValue;
    if (t.kind === 'phrase') value = { kind: 'phrase', text: t.text };
    else if (!t.parts) value = { kind: 'term', text: t.text };
    else {
      // `a**b` is `a*b`; a value of stars alone is "exists" (or everything, without a field)
      const parts = [t.parts[0], ...t.parts.slice(1, -1).filter((p) => p !== ''), t.parts[t.parts.length - 1]];
      if (parts.every((p) => p === '')) return field === null ? { type: 'all' } : { type: 'exists', field };
      value = { kind: 'wildcard', parts };
    }
    const node: KqlNode = field === null ? { type: 'text', value } : { type: 'match', field, value };
    columns.set(node, t.start + 1);
    return node;
  }

  private enter(start: number): void {
    if (++this.depth > MAX_QUERY_DEPTH) throw new KqlError(start + 1, `the query nests deeper than ${MAX_QUERY_DEPTH} levels of parentheses and "not"`);
  }

  private peek(m: Mode): Token {
    const s = this.s;
    let i = this.pos;
    while (i < s.length && WS.test(s[i])) i++;
    if (i >= s.length) return { kind: 'end', start: s.length, end: s.length };
    const c = s[i];
    if (c === '(') return { kind: 'lparen', start: i, end: i + 1 };
    if (c === ')') return { kind: 'rparen', start: i, end: i + 1 };
    if (c === '"') return this.phrase(i);
    if (m === 'free') {
      if (c === ':') return { kind: 'colon', start: i, end: i + 1 };
      if (c === '<' || c === '>') {
        const eq = s[i + 1] === '=';
        return { kind: 'range', op: (eq ? `${c}=` : c) as RangeOp, start: i, end: i + (eq ? 2 : 1) };
      }
    }
    return this.word(i, m);
  }

  private phrase(start: number): Token {
    const s = this.s;
    let text = '';
    for (let i = start + 1; i < s.length; i++) {
      const c = s[i];
      if (c === '"') return { kind: 'phrase', text, start, end: i + 1 };
      // only \" and \\ are escapes inside quotes: C:\Users stays as typed
      if (c === '\\' && (s[i + 1] === '"' || s[i + 1] === '\\')) text += s[++i];
      else text += c;
    }
    throw new KqlError(start + 1, 'the quote is not closed');
  }

  private word(start: number, m: Mode): Token {
    const s = this.s;
    let cur = '';
    let parts: string[] | null = null;
    let i = start;
    while (i < s.length) {
      const c = s[i];
      if (WS.test(c) || c === '(' || c === ')' || c === '"') break;
      if (m === 'free' && (c === ':' || c === '<' || c === '>')) break;
      if (c === '*') {
        (parts ??= []).push(cur);
        cur = '';
        i++;
      } else if (c === '\\') {
        const d = s[i + 1];
        if (d === undefined) throw new KqlError(i + 1, 'the query ends with "\\"; write "\\\\" for a backslash');
        const kw = ESCAPED_KEYWORD.exec(s.slice(i + 1, i + 4));
        if (SPECIAL.includes(d) || WS.test(d)) {
          cur += d;
          i += 2;
        } else if (kw) {
          cur += kw[0];
          i += 1 + kw[0].length;
        } else throw new KqlError(i + 1, `"\\${d}" is not an escape: "\\" escapes \\ ( ) : < > " * a blank, and the words and / or / not`);
      } else {
        cur += c;
        i++;
      }
    }
    const raw = s.slice(start, i);
    if (parts) parts.push(cur);
    const keyword = KEYWORD.test(raw) ? (raw.toLowerCase() as 'and' | 'or' | 'not') : null;
    return { kind: 'word', raw, text: parts ? parts.join('*') : cur, parts, keyword, start, end: i };
  }
}

const mode = (field: string | null): Mode => (field === null ? 'free' : 'value');

function found(s: string, t: Token): string {
  if (t.kind === 'end') return '';
  if (t.kind === 'phrase') return ', found a quoted phrase';
  return `, found "${s.slice(t.start, t.end)}"`;
}

/** A canonical query text that parses back to the same AST. */
export function formatKql(node: KqlNode): string {
  switch (node.type) {
    case 'all':
      return '*';
    case 'and':
      return node.children.map((c) => (c.type === 'and' || c.type === 'or' ? `(${formatKql(c)})` : formatKql(c))).join(' and ');
    case 'or':
      return node.children.map((c) => (c.type === 'or' ? `(${formatKql(c)})` : formatKql(c))).join(' or ');
    case 'not':
      return `not ${node.child.type === 'and' || node.child.type === 'or' ? `(${formatKql(node.child)})` : formatKql(node.child)}`;
    case 'text':
      return formatValue(node.value, 'free');
    case 'match':
      return `${node.field}:${formatValue(node.value, 'value')}`;
    case 'exists':
      return `${node.field}:*`;
    case 'range':
      return `${node.field} ${node.op} ${node.value === '' ? '""' : escapeWord(node.value, 'value', true)}`;
  }
}

function formatValue(v: KqlValue, m: Mode): string {
  if (v.kind === 'phrase') return `"${v.text.replace(/[\\"]/g, '\\$&')}"`;
  if (v.kind === 'term') return escapeWord(v.text, m, true);
  return v.parts.map((p) => escapeWord(p, m, false)).join('*');
}

function escapeWord(text: string, m: Mode, whole: boolean): string {
  let out = '';
  for (const c of text) {
    const special = c === ':' || c === '<' || c === '>' ? m === 'free' : SPECIAL.includes(c) || WS.test(c);
    out += special ? `\\${c}` : c;
  }
  return whole && KEYWORD.test(out) ? `\\${out}` : out;
}
