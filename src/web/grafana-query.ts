// Grafana's Elasticsearch query model (Lucene query + bucketAggs + metrics +
// timeField) translated into the _search request Grafana's backend sends, so
// the dashboards can be proven against a real Elasticsearch without Grafana.
// Follows pkg/tsdb/elasticsearch's request builder for the parts we use.

export interface GrafanaEsTarget {
  refId?: string;
  query?: string;
  timeField: string;
  bucketAggs?: { id: string; type: string; field?: string; settings?: Record<string, unknown> }[];
  metrics?: { id: string; type: string; field?: string; hide?: boolean; settings?: Record<string, unknown> }[];
  datasource?: { type?: string; uid?: string };
}

export interface TimeRange {
  from: number;
  to: number;
}

const RAW = new Set(['raw_data', 'raw_document', 'logs']);
const SIMPLE_METRICS = new Set(['avg', 'sum', 'min', 'max', 'cardinality', 'value_count', 'extended_stats']);

export class UnsupportedQuery extends Error {}

function num(v: unknown, dflt: number): number {
  const n = typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : NaN;
  return Number.isFinite(n) ? n : dflt;
}

/** Grafana's "auto" interval: about 100 buckets over the range, rounded to a friendly size. */
export function autoInterval(r: TimeRange): string {
  const ms = Math.max(1, (r.to - r.from) / 100);
  const steps: [number, string][] = [[1e3, '1s'], [1e4, '10s'], [3e4, '30s'], [6e4, '1m'], [3e5, '5m'], [6e5, '10m'], [18e5, '30m'], [36e5, '1h'], [108e5, '3h'], [432e5, '12h'], [864e5, '1d'], [6048e5, '7d']];
  for (const [limit, name] of steps) if (ms <= limit) return name;
  return '30d';
}

function bucketAgg(b: NonNullable<GrafanaEsTarget['bucketAggs']>[number], r: TimeRange): Record<string, unknown> {
  const s = b.settings ?? {};
  switch (b.type) {
    case 'terms': {
      const orderBy = String(s.orderBy ?? '_count');
      return { terms: { field: b.field, size: num(s.size, 10) || 500, order: { [orderBy === '_term' ? '_key' : orderBy]: String(s.order ?? 'desc') }, min_doc_count: num(s.min_doc_count, 1) } };
    }
    case 'date_histogram': {
      const interval = String(s.interval ?? 'auto');
      return { date_histogram: { field: b.field, fixed_interval: interval === 'auto' ? autoInterval(r) : interval, min_doc_count: num(s.min_doc_count, 0), extended_bounds: { min: r.from, max: r.to }, format: 'epoch_millis' } };
    }
    case 'histogram':
      return { histogram: { field: b.field, interval: num(s.interval, 1000), min_doc_count: num(s.min_doc_count, 0) } };
    case 'filters': {
      const filters = (s.filters as { query: string; label?: string }[] | undefined) ?? [{ query: '*' }];
      return { filters: { filters: Object.fromEntries(filters.map((f) => [f.label || f.query, { query_string: { query: f.query || '*', analyze_wildcard: true } }])) } };
    }
    default:
      throw new UnsupportedQuery(`bucket aggregation "${b.type}" is not translated`);
  }
}

function metricAgg(m: NonNullable<GrafanaEsTarget['metrics']>[number]): Record<string, unknown> {
  if (SIMPLE_METRICS.has(m.type)) return { [m.type]: { field: m.field } };
  if (m.type === 'percentiles') return { percentiles: { field: m.field, percents: (m.settings?.percents as unknown[] | undefined)?.map(Number) ?? [25, 50, 75, 95, 99] } };
  throw new UnsupportedQuery(`metric "${m.type}" is not translated`);
}

/** The _search body for one panel target over a time range. */
export function toSearchRequest(t: GrafanaEsTarget, r: TimeRange): Record<string, unknown> {
  if (/\$\w|\$\{/.test(t.query ?? '')) throw new UnsupportedQuery(`template variables in the Lucene query are not translated: ${t.query}`);
  const filter: Record<string, unknown>[] = [{ range: { [t.timeField]: { gte: r.from, lte: r.to, format: 'epoch_millis' } } }];
  const q = (t.query ?? '').trim();
  if (q && q !== '*') filter.push({ query_string: { analyze_wildcard: true, query: q } });
  const query = { bool: { filter } };
  const metrics = t.metrics?.length ? t.metrics : [{ id: '1', type: 'count' }];
  const raw = metrics.find((m) => RAW.has(m.type));
  if (raw) return { size: num(raw.settings?.size, 500), query, sort: [{ [t.timeField]: { order: 'desc', unmapped_type: 'boolean' } }, { _doc: { order: 'desc' } }] };
  const root: Record<string, unknown> = {};
  let cur = root;
  for (const b of t.bucketAggs ?? []) {
    const agg = bucketAgg(b, r);
    cur[b.id] = agg;
    cur = (agg.aggs = {}) as Record<string, unknown>;
  }
  for (const m of metrics) if (m.type !== 'count') cur[m.id] = metricAgg(m);
  return { size: 0, query, aggs: root };
}

type Aggs = Record<string, unknown>;

/** Does a _search response hold something a panel would draw (a non-empty bucket, a non-zero value, a hit)? */
export function responseHasData(t: GrafanaEsTarget, res: { hits?: { hits?: unknown[] }; aggregations?: Aggs }): boolean {
  const metrics = t.metrics?.length ? t.metrics : [{ id: '1', type: 'count' }];
  if (metrics.some((m) => RAW.has(m.type))) return (res.hits?.hits?.length ?? 0) > 0;
  const buckets = t.bucketAggs ?? [];
  const leaf = (node: Aggs & { doc_count?: number }): boolean =>
    metrics.some((m) => {
      if (m.type === 'count') return (node.doc_count ?? 0) > 0;
      const v = (node[m.id] as { value?: number | null; values?: Record<string, number | null> } | undefined) ?? {};
      return (typeof v.value === 'number' && v.value > 0) || Object.values(v.values ?? {}).some((x) => typeof x === 'number');
    });
  const walk = (node: Aggs & { doc_count?: number }, depth: number): boolean => {
    if (depth === buckets.length) return leaf(node);
    const agg = node[buckets[depth].id] as { buckets?: unknown } | undefined;
    if (!agg?.buckets) return false;
    const list = Array.isArray(agg.buckets) ? agg.buckets : Object.values(agg.buckets as Record<string, unknown>);
    return (list as (Aggs & { doc_count?: number })[]).some((b) => walk(b, depth + 1));
  };
  const top = { ...(res.aggregations ?? {}), doc_count: (res as { hits?: { total?: { value?: number } } }).hits?.total?.value };
  return walk(top, 0);
}

/** Field names a Lucene query string refers to (`field:value`), quoted text ignored. */
export function luceneFields(q: string): string[] {
  const unquoted = q.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const out = new Set<string>();
  for (const m of unquoted.matchAll(/(?:^|[\s(!+-])([A-Za-z@_][A-Za-z0-9@_.]*)\s*:/g)) out.add(m[1]);
  return [...out];
}

export interface FieldUse {
  field: string;
  /** How the panel uses it: the type of aggregation, "query", "time" or "column". */
  use: string;
}

/** Every field a target uses, with how it is used. */
export function targetFields(t: GrafanaEsTarget): FieldUse[] {
  const out: FieldUse[] = [{ field: t.timeField, use: 'time' }];
  for (const f of luceneFields(t.query ?? '')) out.push({ field: f, use: 'query' });
  for (const b of t.bucketAggs ?? []) if (b.field) out.push({ field: b.field, use: b.type });
  for (const m of t.metrics ?? []) if (m.field) out.push({ field: m.field, use: m.type });
  return out;
}

export interface DashboardPanel {
  id?: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: (GrafanaEsTarget & { expr?: string })[];
  panels?: DashboardPanel[];
  transformations?: { id: string; options?: Record<string, unknown> }[];
  fieldConfig?: { overrides?: { matcher: { id: string; options: string }; properties: { id: string; value: unknown }[] }[] };
}

/** Panels of a dashboard, rows flattened. */
export function allPanels(d: { panels?: DashboardPanel[] }): DashboardPanel[] {
  const out: DashboardPanel[] = [];
  for (const p of d.panels ?? []) {
    if (p.type === 'row') out.push(...(p.panels ?? []));
    else out.push(p);
  }
  return out;
}
