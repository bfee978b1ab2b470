// The overview (`/overview`, the start page with a store): what the Grafana
// dashboards show, for sites without Grafana. The page is a frame; its script
// (web/overview.js, charts by uPlot served from the package) reads
// /api/overview every 10 s. Everything is computed from the embedded store.
import type { FastifyInstance } from 'fastify';
import { parseKql } from '../query/kql.js';
import { toSql } from '../query/sql.js';
import { SILENT_HOST_RULE } from '../jobs.js';
import type { StoreReader } from '../store/index.js';
import { html } from './html.js';
import { layout } from './pages.js';
import { STORE_SQL_TARGET } from './search.js';

// The dashboards' own filters (dashboards/build.mjs), in the console's KQL.
const FAILED = 'event.category:authentication and event.type:start and event.outcome:failure';
const BLOCKED = 'event.action:gateway-command-blocked';
const SESSIONS = 'event.action:gateway-session-start';
const RANGES: Record<string, number> = { '1h': 3600_000, '24h': 86_400_000, '7d': 7 * 86_400_000 };

const where = (q: string) => toSql(parseKql(q), STORE_SQL_TARGET);

export interface IngestStats {
  /** Counter totals the process has (messages received, dropped), for rates computed by the page. */
  received: number;
  dropped: number;
}

export function overview(reader: StoreReader, rangeName: string, now = Date.now(), ingest?: () => Promise<IngestStats>) {
  const span = RANGES[rangeName] ?? RANGES['24h'];
  const range = { from: new Date(now - span), to: new Date(now) };
  const failed = where(FAILED);
  const blocked = where(BLOCKED);
  const sessions = where(SESSIONS);
  return (async () => ({
    from: range.from.toISOString(),
    to: range.to.toISOString(),
    failedLogins: reader.histogram(failed, range.from, range.to, 48),
    topSources: reader.top(failed, 'source_ip', range),
    topUsers: reader.top(failed, 'user_name', range),
    alertsByRule: reader.alertsByRule(range),
    blockedCommands: reader.search(blocked, range, 10).events.map((e) => ({ at: e['@timestamp'], user: e.user?.name, host: e.host?.name, command: e.process?.command_line ?? e.message, session: e.trailwatch?.session?.id })),
    gatewaySessions: reader.histogram(sessions, range.from, range.to, 48),
    silentHosts: reader.alerts({ rule: SILENT_HOST_RULE, from: range.from, limit: 20 }).map((a) => ({ at: a.alert['@timestamp'], host: a.alert.host?.name ?? a.alert.trailwatch.alert.group['host.name'], status: a.status })),
    events: reader.histogram({ where: '1=1', params: [] }, range.from, range.to, 48),
    ingest: ingest ? await ingest() : undefined,
  }))();
}

export function registerOverviewRoutes(app: FastifyInstance, o: { reader?: StoreReader; ingest?: () => Promise<IngestStats> }): void {
  app.get('/overview', async (req, reply) =>
    reply.type('text/html; charset=utf-8').send(
      layout(
        'Overview',
        html`<h1>Overview</h1>
<form method="get" action="/overview" class="search"><label>Range <select name="range" id="range">${Object.keys(RANGES).map((r) => html`<option value="${r}"${r === ((req.query as Record<string, unknown>).range ?? '24h') ? html` selected` : ''}>last ${r}</option>`)}</select></label><button type="submit">Show</button> <span class="muted" id="updated"></span></form>
${o.reader?.available() ? '' : html`<p class="error" role="alert">The overview reads the embedded store (trailwatch run keeps it unless store.enabled is false): this console has none. Use the Grafana dashboards.</p>`}
<div class="overview">
<section><h2>Failed logins</h2><div class="chart" id="failed-logins"></div></section>
<section><h2>Events</h2><div class="chart" id="events"></div><p class="muted" id="ingest"></p></section>
<section><h2>Top sources of failed logins</h2><table class="top" id="top-sources"><thead><tr><th>Source</th><th>Failures</th></tr></thead><tbody></tbody></table></section>
<section><h2>Top users in failed logins</h2><table class="top" id="top-users"><thead><tr><th>User</th><th>Failures</th></tr></thead><tbody></tbody></table></section>
<section><h2>Alerts by rule</h2><table class="top" id="alerts-by-rule"><thead><tr><th>Rule</th><th>Alerts</th></tr></thead><tbody></tbody></table></section>
<section><h2>Gateway sessions</h2><div class="chart" id="gateway-sessions"></div></section>
<section><h2>Prohibited commands</h2><table class="top" id="blocked-commands"><thead><tr><th>Time</th><th>User</th><th>Host</th><th>Command</th></tr></thead><tbody></tbody></table></section>
<section><h2>Silent hosts</h2><table class="top" id="silent-hosts"><thead><tr><th>Since</th><th>Host</th><th>Status</th></tr></thead><tbody></tbody></table></section>
</div>
<script src="/assets/uPlot.iife.min.js"></script>
<script src="/assets/overview.js"></script>`,
        req.viewer!,
        { styles: ['uPlot.min.css'] },
      ),
    ),
  );

  app.get('/api/overview', async (req, reply) => {
    if (!o.reader?.available()) return reply.code(503).send({ error: 'no embedded store' });
    const range = String((req.query as Record<string, unknown>).range ?? '24h');
    return overview(o.reader, range, Date.now(), o.ingest);
  });
}
