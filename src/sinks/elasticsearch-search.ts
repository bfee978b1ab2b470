// `trailwatch search 'QUERY'`: a Lucene query string over events (or alerts),
// newest first, printed as a table for a terminal or NDJSON for pipes.
import type { Client } from '@elastic/elasticsearch';
import type { ElasticsearchConfig } from './elasticsearch-config.js';
import { getField, type TwEvent } from '../event.js';

export interface SearchOptions {
  query: string;
  from?: string;
  to?: string;
  limit: number;
  alerts: boolean;
}

export async function search(client: Client, cfg: ElasticsearchConfig, o: SearchOptions): Promise<{ total: number; hits: TwEvent[] }> {
  const range: Record<string, string> = {};
  if (o.from) range.gte = o.from;
  if (o.to) range.lte = o.to;
  const filter = Object.keys(range).length ? [{ range: { '@timestamp': range } }] : [];
  const res = await client.search<TwEvent>({
    index: o.alerts ? cfg.alerts_index : cfg.events_data_stream,
    size: o.limit,
    sort: [{ '@timestamp': { order: 'desc' } }],
    track_total_hits: true,
    ignore_unavailable: true,
    query: { bool: { must: [{ query_string: { query: o.query || '*', default_field: '*', lenient: true } }], filter } },
  });
  const total = typeof res.hits.total === 'number' ? res.hits.total : (res.hits.total?.value ?? 0);
  return { total, hits: res.hits.hits.map((h) => h._source!).filter(Boolean) };
}

const EVENT_COLUMNS = ['@timestamp', 'host.name', 'event.action', 'event.outcome', 'user.name', 'source.ip', 'message'];
const ALERT_COLUMNS = ['@timestamp', 'rule.id', 'trailwatch.alert.severity', 'trailwatch.alert.count', 'trailwatch.alert.group', 'event.id'];

function cell(v: unknown): string {
  if (v === undefined || v === null) return '-';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return s.replace(/\s+/g, ' ');
}

export function formatTable(hits: TwEvent[], alerts: boolean, width = 160): string {
  const cols = alerts ? ALERT_COLUMNS : EVENT_COLUMNS;
  const rows = hits.map((h) => cols.map((c) => cell(getField(h, c))));
  const widths = cols.map((c, i) => Math.min(40, Math.max(c.length, ...rows.map((r) => r[i].length))));
  // The last column takes what is left of the terminal.
  const used = widths.slice(0, -1).reduce((a, b) => a + b + 2, 0);
  widths[widths.length - 1] = Math.max(10, width - used);
  const fit = (s: string, w: number) => (s.length > w ? s.slice(0, w - 1) + '…' : s.padEnd(w));
  const line = (r: string[]) => r.map((s, i) => fit(s, widths[i])).join('  ').trimEnd();
  return [line(cols), ...rows.map(line)].join('\n') + '\n';
}
