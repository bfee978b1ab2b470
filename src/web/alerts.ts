// The alerts inbox: pages and their JSON API, on the embedded store.
// A status change is kept in the store's history and published as an ECS
// event (event.action alert-status-changed) on the events topic, so it is
// in the NDJSON files, the store and Elasticsearch like any other event.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TwEvent } from '../event.js';
import type { Logger } from '../log.js';
import { ALERT_STATUSES, type AlertFilter, type AlertStatus, type StatusChange, type StoreReader } from '../store/index.js';
import { parseTime, str } from './html.js';
import { alertPage, alertsPage } from './pages-alerts.js';
import { messagePage } from './pages.js';

export interface ConsoleStore {
  reader: StoreReader;
  changeStatus(ids: string[], status: AlertStatus, by: string, note?: string): Promise<StatusChange[]>;
}

export const ALERT_STATUS_ACTION = 'alert-status-changed';

const UNAVAILABLE = 'The alerts inbox reads the embedded store, which this console has not got: run it inside `trailwatch run` (store.enabled, the default), or give it the same data_dir.';


export function parseAlertFilter(q: Record<string, unknown>): AlertFilter {
  const status = str(q.status);
  const limit = Number(q.limit);
  return {
    status: status && (ALERT_STATUSES as readonly string[]).includes(status) ? status : undefined,
    rule: str(q.rule),
    severity: str(q.severity),
    host: str(q.host),
    user: str(q.user),
    source: str(q.source),
    from: parseTime(q.from),
    to: parseTime(q.to),
    limit: Number.isFinite(limit) && limit > 0 ? Math.min(limit, 1000) : 200,
  };
}

/** The ECS event that records one triage change. */
export function statusEvent(c: StatusChange, by: string, note: string | undefined, at = new Date()): TwEvent {
  return {
    '@timestamp': at.toISOString(),
    event: { id: randomUUID(), kind: 'event', category: ['configuration'], type: ['change'], action: ALERT_STATUS_ACTION, outcome: 'success', dataset: 'trailwatch.triage' },
    user: { name: by },
    ...(c.rule_id ? { rule: { id: c.rule_id } } : {}),
    message: `${by} set alert ${c.id} from ${c.from} to ${c.to}${note ? `: ${note}` : ''}`,
    trailwatch: { triage: { alert_id: c.id, from: c.from, status: c.to, ...(note ? { note } : {}) } },
  } as TwEvent;
}

function asIds(v: unknown): string[] {
  const list = Array.isArray(v) ? v : v === undefined ? [] : [v];
  return list.filter((x): x is string => typeof x === 'string' && x.length > 0 && x.length <= 200).slice(0, 1000);
}

export function registerAlertRoutes(app: FastifyInstance, opts: { store?: ConsoleStore; publish?: (events: TwEvent[]) => Promise<void>; log: Logger }): void {
  // A store whose file does not exist (a console beside Elasticsearch) is no store: say so rather than show an empty inbox.
  const o = { ...opts, get store() { return opts.store?.reader.available() ? opts.store : undefined; } };
  const html = (reply: FastifyReply) => reply.type('text/html; charset=utf-8');

  const change = async (req: FastifyRequest, ids: string[], status: unknown, note: unknown): Promise<StatusChange[] | string> => {
    if (!o.store) return UNAVAILABLE;
    if (typeof status !== 'string' || !(ALERT_STATUSES as readonly string[]).includes(status)) return `status must be one of ${ALERT_STATUSES.join(', ')}`;
    if (!ids.length) return 'no alert selected';
    const n = str(note);
    const by = req.admin!.name;
    const changed = await o.store.changeStatus(ids, status as AlertStatus, by, n);
    o.log.info({ admin: by, alerts: changed.length, status }, 'web: alert status changed');
    // The store has the change; the export may lag (a full bus) but is not lost with the request.
    if (changed.length && o.publish) await o.publish(changed.map((c) => statusEvent(c, by, n)));
    return changed;
  };

  app.get('/alerts', async (req, reply) => {
    const f = parseAlertFilter(req.query as Record<string, unknown>);
    const r = o.store?.reader;
    const alerts = r ? r.alerts(f) : [];
    const menus = { rules: r ? r.alertValues('rule_id') : [], severities: r ? r.alertValues('severity') : [] };
    return html(reply).send(alertsPage(f, alerts, menus, req.viewer!, str((req.query as Record<string, unknown>).notice), r ? undefined : UNAVAILABLE));
  });

  app.get('/alerts/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    const a = o.store?.reader.alert(id);
    if (!a) return html(reply).code(404).send(messagePage('Not found', o.store ? 'No such alert in the store.' : UNAVAILABLE, req.viewer!));
    const events = o.store!.reader.eventsByIds(a.alert.trailwatch.alert.events ?? []);
    return html(reply).send(alertPage(a, events, req.viewer!));
  });

  const formChange = (ids: (req: FastifyRequest) => string[], back: (req: FastifyRequest) => string) => async (req: FastifyRequest, reply: FastifyReply) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const r = await change(req, ids(req), body.status, body.note);
    if (typeof r === 'string') return html(reply).code(400).send(messagePage('Not changed', r, req.viewer!));
    return reply.redirect(`${back(req)}?notice=${encodeURIComponent(`${r.length} alert(s) set to ${String(body.status).replace('_', ' ')}`)}`, 303);
  };
  app.post('/alerts/status', formChange((req) => asIds((req.body as Record<string, unknown> | undefined)?.id), () => '/alerts'));
  app.post(
    '/alerts/:id/status',
    formChange(
      (req) => [(req.params as { id: string }).id],
      (req) => `/alerts/${encodeURIComponent((req.params as { id: string }).id)}`,
    ),
  );

  // JSON API (console token as `Authorization: Bearer`, or the page's cookie plus x-csrf-token).
  app.get('/api/alerts', async (req, reply) => {
    if (!o.store) return reply.code(503).send({ error: UNAVAILABLE });
    return { alerts: o.store.reader.alerts(parseAlertFilter(req.query as Record<string, unknown>)) };
  });
  app.get('/api/alerts/:id', async (req, reply) => {
    const a = o.store?.reader.alert((req.params as { id: string }).id);
    if (!a) return reply.code(o.store ? 404 : 503).send({ error: o.store ? 'no such alert' : UNAVAILABLE });
    return { ...a, events: o.store!.reader.eventsByIds(a.alert.trailwatch.alert.events ?? []) };
  });
  app.post('/api/alerts/:id/status', async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const r = await change(req, [(req.params as { id: string }).id], body.status, body.note);
    if (typeof r === 'string') return reply.code(o.store ? 400 : 503).send({ error: r });
    if (!r.length) return reply.code(404).send({ error: 'no such alert' });
    return { changed: r };
  });
}
