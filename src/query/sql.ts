// KQL AST -> a SQLite WHERE clause over the event store. Values only ever
// travel as `?` parameters; field names are checked against FIELD_NAME
// before they become JSON paths, and FTS5 queries are built from quoted FTS5
// strings, so nothing an analyst types is read as SQL or FTS5 syntax.
//
// Semantics, chosen to agree with what es.ts asks of Elasticsearch:
// - keyword fields: exact, case-sensitive; `val*` is a case-insensitive LIKE
//   (ASCII case only: SQLite's LIKE); a JSON array matches if any element does;
//   a number-looking value also matches JSON numbers, true/false JSON booleans.
// - message and event.original (full text, through FTS5): a value matches as
//   a sequence of words, case-insensitively; `val*` matches words starting with
//   val. Other patterns there fall back to LIKE over the whole text.
// - time fields hold epoch milliseconds: dates are converted, and a partial
//   date covers its span as Elasticsearch reads it (`@timestamp:2026-12-01`
//   is that day; `<= 2026-12-01` includes it, `< 2026-12-01` does not; see
//   timeSpan for years and months, where Elasticsearch is less obvious).
// - `not x` holds whenever x does not, including when the field is missing.
import { FIELD_NAME, KqlError, kqlColumn, type KqlMatch, type KqlNode, type KqlRange, type KqlValue } from './kql.js';

export interface SqlTarget {
  /** ECS field → SQL column expression for fields stored in their own (indexed) column, e.g. {'@timestamp': 'ts', 'user.name': 'user_name'}. */
  columns: Record<string, string>;
  /** Column holding the whole event JSON: other fields are read with json_extract(doc, '$."user"."name"'). */
  doc: string;
  /** FTS5 table for free text, searched with `<rowid> IN (SELECT rowid FROM <fts> WHERE <fts> MATCH ?)`. */
  fts: string;
  /** How the queried table's rowid is named in the statement (default `rowid`; `e.rowid` where the table is aliased). */
  rowid?: string;
  /** Fields whose values are epoch milliseconds in SQL (the ts column): values given as dates are converted. */
  timeFields: string[];
  /** Full-text fields → their column in the FTS5 table. Default: message → message, event.original → original. */
  textColumns?: Record<string, string>;
}

export interface SqlWhere {
  where: string;
  params: (string | number)[];
}

export const DEFAULT_TEXT_COLUMNS: Readonly<Record<string, string>> = { message: 'message', 'event.original': 'original' };

const NUMBER = /^-?\d+(\.\d+)?$/;
// unicode61's token characters (its default categories "L* N* Co"): a value with none matches nothing
const TOKEN_CHAR = /[\p{L}\p{N}\p{Co}]/u;
const SQL_OP = { '>': '>', '>=': '>=', '<': '<', '<=': '<=' } as const;

export function toSql(node: KqlNode, t: SqlTarget): SqlWhere {
  const params: (string | number)[] = [];
  return { where: new Builder(t, params).node(node), params };
}

type Pred = (x: string, type: string) => string;

class Builder {
  private readonly text: Record<string, string>;
  constructor(
    private readonly t: SqlTarget,
    private readonly params: (string | number)[],
  ) {
    this.text = t.textColumns ?? DEFAULT_TEXT_COLUMNS;
  }

  node(n: KqlNode): string {
    switch (n.type) {
      case 'all':
        return '1=1';
      case 'and':
      case 'or':
        return balanced(n.children.map((c) => this.node(c)), n.type === 'and' ? 'AND' : 'OR');
      case 'not':
        // NULL (a missing field) must count as false before it is negated
        return `(NOT COALESCE(${this.node(n.child)}, 0))`;
      case 'text':
        return this.freeText(n.value);
      case 'match':
        return this.match(n);
      case 'exists':
        return this.exists(n.field);
      case 'range':
        return this.range(n);
    }
  }

  private bind(v: string | number): string {
    this.params.push(v);
    return '?';
  }

  private column(field: string): string | undefined {
    return Object.hasOwn(this.t.columns, field) ? this.t.columns[field] : undefined;
  }

  private path(field: string, node: KqlNode): string {
    if (!FIELD_NAME.test(field)) throw new KqlError(kqlColumn(node) ?? 1, `"${field}" is not a field name`);
    return `'$${field.split('.').map((s) => `."${s}"`).join('')}'`;
  }

  /** A predicate on the field's value, or on any element when it is a JSON array. */
  private anyValue(field: string, node: KqlNode, pred: Pred): string {
    const p = this.path(field, node);
    const doc = this.t.doc;
    const scalar = pred(`json_extract(${doc}, ${p})`, `json_type(${doc}, ${p})`);
    const element = pred('je.value', 'je.type');
    return `(${scalar} OR (json_type(${doc}, ${p}) = 'array' AND EXISTS (SELECT 1 FROM json_each(${doc}, ${p}) AS je WHERE ${element})))`;
  }

  /** The field's scalar value, as an SQL expression. */
  private scalar(field: string, node: KqlNode): string {
    return this.column(field) ?? `json_extract(${this.t.doc}, ${this.path(field, node)})`;
  }

  private match(n: KqlMatch): string {
    const { field, value } = n;
    if (Object.hasOwn(this.text, field)) return this.textMatch(n, this.text[field]);
    if (this.t.timeFields.includes(field)) {
      if (value.kind === 'wildcard') throw new KqlError(kqlColumn(n) ?? 1, `"${field}" is a time: give a date or epoch milliseconds, not a pattern`);
      const [lo, hi] = this.time(n, value.text);
      const x = this.scalar(field, n);
      return lo === hi ? `(${x} = ${this.bind(lo)})` : `(${x} BETWEEN ${this.bind(lo)} AND ${this.bind(hi)})`;
    }
    const col = this.column(field);
    if (value.kind === 'wildcard') {
      const pattern = likePattern(value.parts);
      if (col) return `(${col} LIKE ${this.bind(pattern)} ESCAPE '\\')`;
      return this.anyValue(field, n, (x, type) => `(${type} IN ('text', 'integer', 'real') AND ${x} LIKE ${this.bind(pattern)} ESCAPE '\\')`);
    }
    const v = value.text;
    if (col) return `(${col} = ${this.bind(v)})`; // the column's affinity converts the parameter
    return this.anyValue(field, n, (x, type) => {
      let sql = `(${type} = 'text' AND ${x} = ${this.bind(v)})`;
      if (NUMBER.test(v)) sql += ` OR (${type} IN ('integer', 'real') AND ${x} = ${this.bind(Number(v))})`;
      if (v === 'true' || v === 'false') sql += ` OR ${type} = ${this.bind(v)}`;
      return `(${sql})`;
    });
  }

  private ftsMatch(query: string): string {
    return `(${this.t.rowid ?? 'rowid'} IN (SELECT rowid FROM ${this.t.fts} WHERE ${this.t.fts} MATCH ${this.bind(query)}))`;
  }

  /** An FTS5 query for a value; false when the value has no words (it matches nothing); undefined when FTS5 cannot say it (then LIKE does). */
  private ftsQuery(value: KqlValue): string | false | undefined {
    if (value.kind !== 'wildcard') return TOKEN_CHAR.test(value.text) && ftsString(value.text);
    const [prefix, rest] = value.parts;
    if (value.parts.length === 2 && rest === '' && TOKEN_CHAR.test(prefix)) return `${ftsString(prefix)}*`;
    return undefined;
  }

  private textMatch(n: KqlMatch, ftsColumn: string): string {
    const q = this.ftsQuery(n.value);
    if (q === false) return '(0)';
    if (q !== undefined) return this.ftsMatch(`{${ftsColumn}} : ${q}`);
    return `(${this.scalar(n.field, n)} LIKE ${this.bind(likePattern((n.value as { parts: string[] }).parts))} ESCAPE '\\')`;
  }

  private freeText(value: KqlValue): string {
    const q = this.ftsQuery(value);
    if (q === false) return '(0)';
    if (q !== undefined) return this.ftsMatch(q);
    const pattern = likePattern((value as { parts: string[] }).parts);
    const probe: KqlNode = { type: 'all' };
    return balanced(
      Object.keys(this.text).map((f) => `(${this.scalar(f, probe)} LIKE ${this.bind(pattern)} ESCAPE '\\')`),
      'OR',
    );
  }

  private exists(field: string): string {
    const col = this.column(field);
    if (col) return `(${col} IS NOT NULL)`;
    const p = this.path(field, { type: 'exists', field });
    const type = `json_type(${this.t.doc}, ${p})`;
    // Elasticsearch: null and [] are not values
    return `(${type} NOT IN ('null', 'array') OR (${type} = 'array' AND json_array_length(${this.t.doc}, ${p}) > 0))`;
  }

  private range(n: KqlRange): string {
    const { field, op, value } = n;
    const sqlOp = SQL_OP[op];
    if (this.t.timeFields.includes(field)) {
      const [lo, hi] = this.time(n, value);
      // > and <= compare with the end of the span the date names, >= and < with its start
      return `(${this.scalar(field, n)} ${sqlOp} ${this.bind(op === '>' || op === '<=' ? hi : lo)})`;
    }
    const col = this.column(field);
    if (col) return `(${col} ${sqlOp} ${this.bind(value)})`;
    return this.anyValue(field, n, (x, type) => {
      // a number compares with numbers, and as a string with strings (a keyword field in Elasticsearch)
      // (parameters are bound in the order their `?` appear)
      const num = NUMBER.test(value) ? `(${type} IN ('integer', 'real') AND ${x} ${sqlOp} ${this.bind(Number(value))}) OR ` : '';
      return `(${num}(${type} = 'text' AND ${x} ${sqlOp} ${this.bind(value)}))`;
    });
  }

  private time(n: KqlNode, value: string): [number, number] {
    const span = timeSpan(value);
    if (!span) throw new KqlError(kqlColumn(n) ?? 1, `expected a date (2026-12-01, 2026-12-01T10:00:00Z) or epoch milliseconds, not "${value}"`);
    return span;
  }
}

/** Join with parentheses in a balanced tree: SQLite refuses expressions nested over 1000 deep, and a long flat "or" would be. */
function balanced(parts: string[], op: 'AND' | 'OR'): string {
  if (parts.length === 1) return parts[0];
  const mid = parts.length >> 1;
  return `(${balanced(parts.slice(0, mid), op)} ${op} ${balanced(parts.slice(mid), op)})`;
}

function ftsString(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

function likePattern(parts: string[]): string {
  return parts.map((p) => p.replace(/[\\%_]/g, '\\$&')).join('%');
}

// Elasticsearch's default date format, strict_date_optional_time||epoch_millis
const ISO = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?$/;

/**
 * The first and last millisecond a date names, as Elasticsearch reads it
 * (checked against 8.19): `2026-12-01` is that day, `2026-12-01T10:00` that
 * minute, `…T10:00:00` that second. A bare year or year-month names only its
 * first day (Elasticsearch fills the missing month and day with 1 even when it
 * rounds up), and exactly four digits are a year; other integers are epoch
 * milliseconds.
 */
export function timeSpan(value: string): [number, number] | undefined {
  const m = ISO.exec(value);
  if (!m) {
    if (!/^-?\d{1,16}$/.test(value)) return undefined;
    const ms = Number(value);
    return [ms, ms];
  }
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y);
  const month = mo === undefined ? 1 : Number(mo);
  const day = d === undefined ? 1 : Number(d);
  const hour = Number(h ?? 0);
  const minute = Number(mi ?? 0);
  const second = Number(s ?? 0);
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59) return undefined;
  const ms = frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, '0'));
  const offset = zone === undefined || zone === 'Z' ? 0 : zoneOffset(zone);
  if (offset === undefined) return undefined;
  const lo = utc(year, month - 1, day, hour, minute, second, ms) - offset;
  if (frac !== undefined) return [lo, lo];
  const length = s !== undefined ? 1000 : mi !== undefined ? 60_000 : h !== undefined ? 3_600_000 : 86_400_000;
  return [lo, lo + length - 1];
}

function zoneOffset(zone: string): number | undefined {
  const hh = Number(zone.slice(1, 3));
  const mm = zone.length > 3 ? Number(zone.slice(-2)) : 0;
  if (hh > 18 || mm > 59) return undefined;
  return (zone[0] === '-' ? -1 : 1) * (hh * 60 + mm) * 60_000;
}

function daysIn(year: number, month: number): number {
  return new Date(utc(year, month, 0, 0, 0, 0, 0)).getUTCDate();
}

/** Date.UTC without its two-digit-year rule (years 0–99 are not 1900–1999 here). */
function utc(year: number, month: number, day: number, h: number, mi: number, s: number, ms: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month, day);
  d.setUTCHours(h, mi, s, ms);
  return d.getTime();
}
