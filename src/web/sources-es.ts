// Session search over gateway events in Elasticsearch: session start/end
// events give the list, gateway-command events the commands (with their
// offsets in the recording), all keyed by trailwatch.session.id.
import { Client } from '@elastic/elasticsearch';
import { ACTIONS, DATASETS } from '../rules/decoders/vocabulary.js';
import { COMMAND_FIELD } from './es-adapter.js';
import type { SessionCommand, SessionSummary } from './recordings.js';
import { validSessionId } from './recordings.js';
import type { SessionQuery, SessionSource } from './sources.js';

type Hit = { _source?: Record<string, unknown> };
type Query = Record<string, unknown>;

const COMMAND_ACTIONS = [ACTIONS.gatewayCommand, ACTIONS.gatewayCommandBlocked];

function get(o: unknown, path: string): unknown {
  if (o === null || typeof o !== 'object') return undefined;
  // documents may hold dotted keys ("trailwatch.session.id") or nested objects
  if (path in o) return (o as Record<string, unknown>)[path];
  let cur: unknown = o;
  for (const p of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

/** Escape a user string for an Elasticsearch wildcard pattern. */
export function wildcardLiteral(s: string): string {
  return s.replace(/[\\*?]/g, (c) => `\\${c}`);
}

export class ElasticsearchSessionSource implements SessionSource {
  readonly kind = 'elasticsearch' as const;
  private readonly client: Client;

  constructor(private readonly opts: { url: string; index: string; client?: Client }) {
    this.client = opts.client ?? new Client({ node: opts.url, requestTimeout: 15_000 });
  }

  async close(): Promise<void> {
    if (!this.opts.client) await this.client.close();
  }

  async search(q: SessionQuery): Promise<SessionSummary[]> {
    const limit = Math.min(q.limit ?? 100, 500);
    const base = this.filters(q);
    let ids: string[] | undefined;
    const matched = new Map<string, SessionCommand[]>();
    if (q.command) {
      const hits = await this.hits(
        [...base, { terms: { 'event.action': COMMAND_ACTIONS } }, { wildcard: { [COMMAND_FIELD]: { value: `*${wildcardLiteral(q.command)}*`, case_insensitive: true } } }],
        2000,
        'asc',
      );
      for (const h of hits) {
        const id = String(get(h._source, 'trailwatch.session.id') ?? '');
        if (!id) continue;
        let list = matched.get(id);
        if (!list) matched.set(id, (list = []));
        list.push(toCommand(h._source));
      }
      ids = [...matched.keys()];
      if (!ids.length) return [];
    }
    const startFilter: Query[] = [...base, { term: { 'event.action': ACTIONS.gatewaySessionStart } }];
    if (ids) startFilter.push({ terms: { 'trailwatch.session.id': ids } });
    const starts = await this.hits(startFilter, limit, 'desc');
    const sessions = starts.map((h) => toSummary(h._source));
    // A command search may hit a session whose start event fell outside the range: still list it.
    if (ids) for (const id of ids) if (!sessions.some((s) => s.id === id)) sessions.push({ id, commands: [] });
    await this.fillEnds(sessions);
    for (const s of sessions) if (ids) s.commands = matched.get(s.id) ?? [];
    return sessions.slice(0, limit);
  }

  async get(id: string): Promise<SessionSummary | undefined> {
    if (!validSessionId(id)) return undefined;
    const hits = await this.hits([{ term: { 'event.dataset': DATASETS.gateway } }, { term: { 'trailwatch.session.id': id } }], 10_000, 'asc');
    if (!hits.length) return undefined;
    const s: SessionSummary = { id, commands: [] };
    for (const h of hits) {
      const action = get(h._source, 'event.action');
      if (action === ACTIONS.gatewaySessionStart) Object.assign(s, { ...toSummary(h._source), commands: s.commands });
      else if (action === ACTIONS.gatewaySessionEnd) s.ended_at = String(get(h._source, '@timestamp'));
      else if (COMMAND_ACTIONS.includes(action as (typeof COMMAND_ACTIONS)[number])) s.commands.push(toCommand(h._source));
      if (!s.operator) Object.assign(s, pickSession(h._source));
      const rec = get(h._source, 'trailwatch.session.recording');
      if (!s.recording && typeof rec === 'string' && rec) s.recording = rec.replace(/\.cast$/, '');
    }
    return s;
  }

  private filters(q: SessionQuery): Query[] {
    const f: Query[] = [{ term: { 'event.dataset': DATASETS.gateway } }];
    if (q.operator) f.push({ term: { 'trailwatch.session.operator': q.operator } });
    if (q.target) f.push({ term: { 'trailwatch.session.target': q.target } });
    if (q.account) f.push({ term: { 'trailwatch.session.account': q.account } });
    if (q.from || q.to) f.push({ range: { '@timestamp': { gte: q.from?.toISOString(), lte: q.to?.toISOString() } } });
    return f;
  }

  private async hits(filter: Query[], size: number, order: 'asc' | 'desc'): Promise<Hit[]> {
    const r = await this.client.search({
      index: this.opts.index,
      size,
      ignore_unavailable: true,
      allow_no_indices: true,
      // The session log's events only: a gateway alert is a copy of its event
      // (an index pattern over events and alerts would list a command twice).
      query: { bool: { filter, must_not: [{ term: { 'event.kind': 'alert' } }] } },
      sort: [{ '@timestamp': { order, unmapped_type: 'date' } }],
    });
    return r.hits.hits as Hit[];
  }

  private async fillEnds(sessions: SessionSummary[]): Promise<void> {
    if (!sessions.length) return;
    const ends = await this.hits(
      [{ term: { 'event.dataset': DATASETS.gateway } }, { term: { 'event.action': ACTIONS.gatewaySessionEnd } }, { terms: { 'trailwatch.session.id': sessions.map((s) => s.id) } }],
      sessions.length,
      'desc',
    );
    const byId = new Map(ends.map((h) => [String(get(h._source, 'trailwatch.session.id')), String(get(h._source, '@timestamp'))]));
    for (const s of sessions) s.ended_at = byId.get(s.id) ?? s.ended_at;
  }
}

function pickSession(src: unknown): Partial<SessionSummary> {
  const v = (p: string) => {
    const x = get(src, p);
    return typeof x === 'string' && x ? x : undefined;
  };
  return { operator: v('trailwatch.session.operator'), account: v('trailwatch.session.account') ?? v('user.name'), target: v('trailwatch.session.target') ?? v('host.name') };
}

function toSummary(src: unknown): SessionSummary {
  return { id: String(get(src, 'trailwatch.session.id')), ...pickSession(src), started_at: String(get(src, '@timestamp')), commands: [] };
}

function toCommand(src: unknown): SessionCommand {
  const blocked = get(src, 'event.action') === ACTIONS.gatewayCommandBlocked;
  return { offset: Number(get(src, 'trailwatch.session.offset') ?? 0), command: String(get(src, 'process.command_line') ?? ''), ...(blocked ? { blocked } : {}) };
}
