// KQL AST -> Elasticsearch query DSL, the way Kibana compiles KQL, with two
// changes so a query finds the same events here as in the SQLite store
// (sql.ts): free text and bare words on full-text fields match as phrases
// (SQLite reads a quoted FTS5 string as one), and matches are lenient, so a
// word against a numeric, ip, date or boolean field matches nothing instead of
// failing the search. Field types are Elasticsearch's business: dates,
// numbers and addresses are passed as written and parsed by the mapping.
// What still fails in Elasticsearch (and not in SQLite): `*` patterns on
// numeric, ip and date fields, and range bounds a numeric or date field cannot
// parse; the search answers 400 with the reason.
import type { estypes } from '@elastic/elasticsearch';
import type { KqlNode, KqlValue } from './kql.js';

type Query = estypes.QueryDslQueryContainer;

export interface EsQueryOptions {
  /** Fields free text is searched in. Default message and event.original. */
  defaultFields?: string[];
  /** Full-text (`text`) fields: bare words on them match as phrases. Default message and event.original. */
  textFields?: string[];
}

const TEXT_FIELDS = ['message', 'event.original'];
const RANGE_KEY = { '>': 'gt', '>=': 'gte', '<': 'lt', '<=': 'lte' } as const;

export function toEsQuery(node: KqlNode, opts: EsQueryOptions = {}): Query {
  return build(node, opts.defaultFields ?? TEXT_FIELDS, opts.textFields ?? TEXT_FIELDS);
}

function build(n: KqlNode, defaults: string[], text: string[]): Query {
  switch (n.type) {
    case 'all':
      return { match_all: {} };
    case 'and':
      return { bool: { must: n.children.map((c) => build(c, defaults, text)) } };
    case 'or':
      return { bool: { should: n.children.map((c) => build(c, defaults, text)), minimum_should_match: 1 } };
    case 'not':
      return { bool: { must_not: [build(n.child, defaults, text)] } };
    case 'exists':
      return { exists: { field: n.field } };
    case 'range':
      return { range: { [n.field]: { [RANGE_KEY[n.op]]: n.value } } };
    case 'match':
      return fieldValue(n.field, n.value, text.includes(n.field));
    case 'text':
      if (n.value.kind === 'wildcard') {
        const pattern = wildcardPattern(n.value.parts);
        const each = defaults.map((f): Query => ({ wildcard: { [f]: { value: pattern, case_insensitive: true } } }));
        return each.length === 1 ? each[0] : { bool: { should: each, minimum_should_match: 1 } };
      }
      return { multi_match: { query: n.value.text, fields: defaults, type: 'phrase', lenient: true } };
  }
}

function fieldValue(field: string, v: KqlValue, isText: boolean): Query {
  if (v.kind === 'wildcard') return { wildcard: { [field]: { value: wildcardPattern(v.parts), case_insensitive: true } } };
  if (isText) return { match_phrase: { [field]: { query: v.text } } };
  if (v.kind === 'term') return { match: { [field]: { query: v.text, lenient: true } } };
  // match_phrase has no `lenient`: `source.port:"abc"` would fail the whole search
  return { multi_match: { query: v.text, fields: [field], type: 'phrase', lenient: true } };
}

/** Literal parts joined by `*`, with Elasticsearch's wildcard characters in them escaped. */
function wildcardPattern(parts: string[]): string {
  return parts.map((p) => p.replace(/[\\*?]/g, '\\$&')).join('*');
}
