// Event search: a KQL query (src/query) over a time range, run against the
// embedded store (translated to SQL) or Elasticsearch (translated to its
// query DSL), with a histogram of the matches. One page, one JSON API.
import { Client } from '@elastic/elasticsearch';
import type { estypes } from '@elastic/elasticsearch';
import type { FastifyInstance } from 'fastify';
import type { TwEvent } from '../event.js';
import type { Logger } from '../log.js';
import { toEsQuery } from '../query/es.js';
import { KqlError, parseKql, type KqlNode } from '../query/kql.js';
import { toSql, type SqlTarget } from '../query/sql.js';
import { EVENT_COLUMNS, type StoreReader } from '../store/index.js';
import { parseTime, str } from './html.js';
import { searchPage } from './pages-search.js';

export interface SearchResult {
  events: TwEvent[];
  total: number;
  histogram: { start: string; count: number }[];
}

export interface EventSearch {
  readonly kind: 'store' | 'elasticsearch';
  available(): boolean;
  search(node: KqlNode, range: { from: Date; to: Date }, limit: number): Promise<SearchResult>;
  close?(): Promise<void>;
}

/** The store's events table is `e` in every statement; documents are in event_docs under its rowid (src/store/schema.ts). */
export const STORE_SQL_TARGET: SqlTarget = {
  columns: EVENT_COLUMNS,
  doc: '(SELECT doc FROM event_docs WHERE event_docs.rowid = e.rowid)',
  fts: 'events_fts',
  rowid: 'e.rowid',
  timeFields: ['@timestamp'],
};
const BUCKETS = 60;

export function storeSearch(reader: StoreReader): EventSearch {
  return {
    kind: 'store',
    available: () => reader.available(),
    async search(node, range, limit) {
      const q = toSql(node, STORE_SQL_TARGET);
      const { events, total } = reader.search(q, range, limit);
      return { events, total, histogram: reader.histogram(q, range.from, range.to, BUCKETS) };
    },
  };
}

export function elasticsearchSearch(opts: { url: string; index: string; client?: Client }): EventSearch {
  const client = opts.client ?? new Client({ node: opts.url, requestTimeout: 15_000 });
  return {
    kind: 'elasticsearch',
    available: () => true,
    async search(node, range, limit) {
      const span = Math.max(1000, range.to.getTime() - range.from.getTime());
      const interval = Math.max(1, Math.ceil(span / BUCKETS / 1000));
      const r = await client.search<TwEvent>({
        index: opts.index,
        size: limit,
        track_total_hits: true,
        sort: [{ '@timestamp': { order: 'desc' } }],
        query: { bool: { filter: [toEsQuery(node), { range: { '@timestamp': { gte: range.from.toISOString(), lte: range.to.toISOString() } } }] } },
        aggs: { over_time: { date_histogram: { field: '@timestamp', fixed_interval: `${interval}s`, min_doc_count: 0, extended_bounds: { min: range.from.getTime(), max: range.to.getTime() } } } },
      });
      const total = typeof r.hits.total === 'number' ? r.hits.total : (r.hits.total?.value ?? 0);
      const buckets = (r.aggregations?.over_time as estypes.AggregationsDateHistogramAggregate | undefined)?.buckets;
      const histogram = (Array.isArray(buckets) ? buckets : []).map((b) => ({ start: new Date(Number(b.key)).toISOString(), count: b.doc_count }));
      return { events: r.hits.hits.map((h) => h._source!).filter(Boolean), total, histogram };
    },
    close: () => (opts.client ? Promise.resolve() : client.close()),
  };
}

const RANGES: Record<string, number> = { '15m': 15 * 60_000, '1h': 3600_000, '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 };
export const DEFAULT_COLUMNS = ['@timestamp', 'host.name', 'user.name', 'source.ip', 'event.action', 'event.outcome', 'message'];


export interface SearchRequest {
  q: string;
  from: Date;
  to: Date;
  /** The quick range chosen, when from/to are not given. */
  range?: string;
  columns: string[];
  limit: number;
}

export function parseSearchRequest(query: Record<string, unknown>, now = Date.now()): SearchRequest {
  const to = parseTime(query.to) ?? new Date(now);
  const range = typeof query.range === 'string' && RANGES[query.range] ? query.range : '24h';
  const from = parseTime(query.from) ?? new Date(to.getTime() - RANGES[range]);
  const cols = typeof query.cols === 'string' ? query.cols.split(',').map((c) => c.trim()).filter((c) => /^[A-Za-z0-9_.@-]{1,100}$/.test(c)).slice(0, 20) : [];
  const limit = Number(query.limit);
  return {
    q: typeof query.q === 'string' ? query.q.slice(0, 4096) : '',
    from,
    to,
    range: parseTime(query.from) ? undefined : range,
    columns: cols.length ? cols : DEFAULT_COLUMNS,
    limit: Number.isFinite(limit) && limit > 0 ? Math.min(Math.floor(limit), 1000) : 100,
  };
}

const UNAVAILABLE = 'Event search reads the embedded store (the store in trailwatch run) or Elasticsearch (sinks.elasticsearch): this console has neither.';

export function registerSearchRoutes(app: FastifyInstance, o: { search?: EventSearch; log: Logger }): void {
  const run = async (r: SearchRequest): Promise<{ result?: SearchResult; error?: { message: string; column?: number } }> => {
    if (!o.search?.available()) return { error: { message: UNAVAILABLE } };
    let node: KqlNode;
    try {
      node = parseKql(r.q);
      return { result: await o.search.search(node, { from: r.from, to: r.to }, r.limit) };
    } catch (err) {
      if (err instanceof KqlError) return { error: { message: err.message, column: err.column } };
      // Elasticsearch refusing the query (a pattern on a numeric field) is the query's fault, not ours.
      const status = (err as { meta?: { statusCode?: number } }).meta?.statusCode;
      if (status === 400) return { error: { message: `Elasticsearch refused the query: ${(err as Error).message.slice(0, 300)}` } };
      o.log.error({ err }, 'web: event search failed');
      return { error: { message: 'Search failed: the event store is unavailable. Try again shortly.' } };
    }
  };

  app.get('/search', async (req, reply) => {
    const r = parseSearchRequest(req.query as Record<string, unknown>);
    const { result, error } = await run(r);
    return reply.type('text/html; charset=utf-8').code(error?.column ? 400 : 200).send(searchPage(r, result, error, req.viewer!, o.search?.kind));
  });

  app.get('/api/search', async (req, reply) => {
    const r = parseSearchRequest(req.query as Record<string, unknown>);
    const { result, error } = await run(r);
    if (error) return reply.code(error.column ? 400 : 503).send({ error: error.message, ...(error.column ? { column: error.column } : {}) });
    return { total: result!.total, events: result!.events, histogram: result!.histogram, from: r.from.toISOString(), to: r.to.toISOString() };
  });
}
