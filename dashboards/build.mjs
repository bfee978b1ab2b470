#!/usr/bin/env node
// Generates dashboards/*.json (Grafana dashboard JSON model, schemaVersion 39).
// Edit this file, then `node dashboards/build.mjs`; the JSON is committed so
// Grafana provisioning reads it directly. Elasticsearch panels use the
// datasource variable ${ds}; Pipeline health uses ${prom}.
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const ES = { type: 'elasticsearch', uid: '${ds}' };
const PROM = { type: 'prometheus', uid: '${prom}' };
const TIME = '@timestamp';

// ---- query model -----------------------------------------------------------
const dateHistogram = (id = '2') => ({ id, type: 'date_histogram', field: TIME, settings: { interval: 'auto', min_doc_count: '0', trimEdges: '0' } });
const terms = (id, field, size = 10, extra = {}) => ({ id, type: 'terms', field, settings: { size: String(size), order: 'desc', orderBy: '_count', min_doc_count: '1', ...extra } });
const count = (id = '1') => ({ id, type: 'count' });
const rawData = (size = 100) => ({ id: '1', type: 'raw_data', settings: { size: String(size) } });
const sum = (id, field) => ({ id, type: 'sum', field });
const cardinality = (id, field) => ({ id, type: 'cardinality', field });

function es(query, bucketAggs, metrics = [count()], refId = 'A', alias) {
  return { refId, datasource: ES, query, alias, bucketAggs, metrics, timeField: TIME };
}

// ---- panels ----------------------------------------------------------------
let nextId = 1;
function panel(type, title, targets, gridPos, extra = {}) {
  return { id: nextId++, type, title, datasource: targets[0].datasource, gridPos, targets, fieldConfig: { defaults: {}, overrides: [] }, options: {}, ...extra };
}
const timeseries = (title, targets, gridPos, extra = {}) =>
  panel('timeseries', title, targets, gridPos, {
    fieldConfig: { defaults: { custom: { drawStyle: 'bars', fillOpacity: 60, stacking: { mode: 'normal', group: 'A' } }, unit: 'short' }, overrides: [] },
    options: { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'desc' } },
    ...extra,
  });
const stat = (title, targets, gridPos, extra = {}) =>
  panel('stat', title, targets, gridPos, { options: { reduceOptions: { calcs: ['sum'], fields: '', values: false }, colorMode: 'value', graphMode: 'area', textMode: 'auto' }, ...extra });
const bars = (title, targets, gridPos, extra = {}) =>
  panel('barchart', title, targets, gridPos, { options: { orientation: 'horizontal', showValue: 'auto', legend: { showLegend: false, displayMode: 'list', placement: 'bottom' }, xTickLabelMaxLength: 40 }, ...extra });
const pie = (title, targets, gridPos) => panel('piechart', title, targets, gridPos, { options: { reduceOptions: { calcs: ['sum'], fields: '', values: true }, pieType: 'donut', legend: { displayMode: 'table', placement: 'right', values: ['value'] } } });
function table(title, targets, gridPos, { columns, rename = {}, links = [] } = {}) {
  const overrides = links.map((l) => ({ matcher: { id: 'byName', options: l.field }, properties: [{ id: 'links', value: [{ title: l.title, url: l.url, targetBlank: true }] }] }));
  const transformations = columns
    ? [{ id: 'organize', options: { includeByName: Object.fromEntries(columns.map((c) => [c, true])), indexByName: Object.fromEntries(columns.map((c, i) => [c, i])), renameByName: rename, excludeByName: {} } }]
    : [];
  return panel('table', title, targets, gridPos, { fieldConfig: { defaults: { custom: { filterable: true } }, overrides }, options: { showHeader: true, cellHeight: 'sm', footer: { show: false } }, transformations });
}
const row = (title, y) => ({ id: nextId++, type: 'row', title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
const g = (x, y, w, h) => ({ x, y, w, h });

// ---- dashboard -------------------------------------------------------------
const dsVar = { name: 'ds', label: 'Elasticsearch', type: 'datasource', query: 'elasticsearch', current: { text: 'trailwatch', value: 'trailwatch-es' }, hide: 0, refresh: 1, regex: '', options: [], includeAll: false, multi: false };
const promVar = { name: 'prom', label: 'Prometheus', type: 'datasource', query: 'prometheus', current: { text: 'trailwatch-prometheus', value: 'trailwatch-prom' }, hide: 0, refresh: 1, regex: '', options: [], includeAll: false, multi: false };
const consoleVar = {
  name: 'console_url',
  label: 'Console URL',
  description: 'trailwatch web console (web.public_url); session links go to <console_url>/sessions/<id>',
  type: 'textbox',
  query: 'http://localhost:8081',
  current: { text: 'http://localhost:8081', value: 'http://localhost:8081' },
  options: [{ selected: true, text: 'http://localhost:8081', value: 'http://localhost:8081' }],
  hide: 0,
};

function dashboard(uid, title, description, panels, vars = [dsVar], extra = {}) {
  return {
    uid,
    title,
    description,
    tags: ['trailwatch'],
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: '1m',
    time: { from: 'now-24h', to: 'now' },
    timepicker: {},
    timezone: 'utc',
    fiscalYearStartMonth: 0,
    liveNow: false,
    weekStart: '',
    annotations: { list: [{ builtIn: 1, datasource: { type: 'grafana', uid: '-- Grafana --' }, enable: true, hide: true, iconColor: 'rgba(0, 211, 255, 1)', name: 'Annotations & Alerts', type: 'dashboard' }] },
    links: [{ title: 'trailwatch', type: 'dashboards', tags: ['trailwatch'], asDropdown: true, includeVars: false, keepTime: true, targetBlank: false, icon: 'external link', tooltip: '', url: '' }],
    templating: { list: vars },
    panels,
    ...extra,
  };
}

const LOGIN = 'event.category:authentication AND event.type:start';
const FAILED = `${LOGIN} AND event.outcome:failure`;
const SUCCESS = `${LOGIN} AND event.outcome:success`;
const ALERTS = 'event.kind:alert';
const GW = 'event.dataset:"trailwatch.gateway"';
const SESSION_LINK = '${console_url}/sessions/${__data.fields.session}';

function authentication() {
  nextId = 1;
  return dashboard('trailwatch-authentication', 'trailwatch · Authentication', 'Failed and successful logins, where they come from, who they target, and the brute-force and spraying alerts.', [
    stat('Failed logins', [es(FAILED, [dateHistogram()])], g(0, 0, 6, 4), { fieldConfig: { defaults: { color: { mode: 'fixed', fixedColor: 'red' } }, overrides: [] } }),
    stat('Successful logins', [es(SUCCESS, [dateHistogram()])], g(6, 0, 6, 4), { fieldConfig: { defaults: { color: { mode: 'fixed', fixedColor: 'green' } }, overrides: [] } }),
    stat('Attacking sources', [es(FAILED, [], [cardinality('1', 'source.ip')])], g(12, 0, 6, 4), { options: { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'none', textMode: 'auto' } }),
    stat('Brute-force and spraying alerts', [es(`${ALERTS} AND rule.category:authentication`, [dateHistogram()])], g(18, 0, 6, 4), { fieldConfig: { defaults: { color: { mode: 'fixed', fixedColor: 'orange' } }, overrides: [] } }),
    timeseries('Logins over time by outcome', [es(LOGIN, [terms('3', 'event.outcome', 5), dateHistogram()], [count()], 'A', '{{term event.outcome}}')], g(0, 4, 24, 8)),
    bars('Top sources of failed logins', [es(FAILED, [terms('2', 'source.ip', 10)])], g(0, 12, 8, 9)),
    bars('Top targeted users', [es(FAILED, [terms('2', 'user.name', 10)])], g(8, 12, 8, 9)),
    bars('Top targeted hosts', [es(FAILED, [terms('2', 'host.name', 10)])], g(16, 12, 8, 9)),
    table('Brute-force and spraying alerts', [es(`${ALERTS} AND rule.category:authentication`, [], [rawData(200)])], g(0, 21, 24, 9), {
      columns: ['@timestamp', 'rule.name', 'trailwatch.alert.severity', 'source.ip', 'trailwatch.alert.count', 'related.user', 'related.hosts', 'message'],
    }),
  ]);
}

function alerts() {
  nextId = 1;
  return dashboard('trailwatch-alerts', 'trailwatch · Alerts', 'Every alert by rule, severity and host, with links to the recorded session when there is one.', [
    timeseries('Alerts over time by severity', [es(ALERTS, [terms('3', 'trailwatch.alert.severity', 4), dateHistogram()], [count()], 'A', '{{term trailwatch.alert.severity}}')], g(0, 0, 16, 8)),
    pie('By severity', [es(ALERTS, [terms('2', 'trailwatch.alert.severity', 4)])], g(16, 0, 8, 8)),
    bars('By rule', [es(ALERTS, [terms('2', 'rule.name.keyword', 20)])], g(0, 8, 12, 9)),
    bars('By host', [es(ALERTS, [terms('2', 'host.name', 20)])], g(12, 8, 12, 9)),
    table('Alerts', [es(ALERTS, [], [rawData(500)])], g(0, 17, 24, 12), {
      columns: ['@timestamp', 'trailwatch.alert.severity', 'rule.name', 'rule.id', 'host.name', 'source.ip', 'user.name', 'trailwatch.session.id', 'trailwatch.session.offset', 'message'],
      rename: { 'trailwatch.session.id': 'session', 'trailwatch.session.offset': 'offset' },
      links: [{ field: 'session', title: 'Play the session at this moment', url: '${console_url}/sessions/${__data.fields.session}?t=${__data.fields.offset}' }],
    }),
  ], [dsVar, consoleVar]);
}

function sessions() {
  nextId = 1;
  const START = `${GW} AND event.action:gateway-session-start`;
  const CMD = `${GW} AND event.action:(gateway-command OR gateway-command-blocked)`;
  const BLOCKED = `${GW} AND event.action:gateway-command-blocked`;
  const TERMINATED = `${GW} AND event.action:gateway-session-terminated`;
  return dashboard('trailwatch-sessions', 'trailwatch · Privileged sessions', 'Sessions through the gateway: who went where, what they ran, what was blocked. Each session links to its playback in the web console.', [
    timeseries('Sessions over time by operator', [es(START, [terms('3', 'trailwatch.session.operator', 10), dateHistogram()], [count()], 'A', '{{term trailwatch.session.operator}}')], g(0, 0, 16, 8)),
    stat('Blocked commands', [es(BLOCKED, [dateHistogram()])], g(16, 0, 8, 8), { fieldConfig: { defaults: { color: { mode: 'fixed', fixedColor: 'red' } }, overrides: [] } }),
    bars('Sessions by operator', [es(START, [terms('2', 'trailwatch.session.operator', 20)])], g(0, 8, 8, 9)),
    bars('Sessions by target', [es(START, [terms('2', 'trailwatch.session.target', 20)])], g(8, 8, 8, 9)),
    bars('Sessions by account', [es(START, [terms('2', 'trailwatch.session.account', 20)])], g(16, 8, 8, 9)),
    table('Sessions', [es(START, [], [rawData(500)])], g(0, 17, 24, 10), {
      columns: ['@timestamp', 'trailwatch.session.id', 'trailwatch.session.operator', 'trailwatch.session.account', 'trailwatch.session.target', 'source.ip'],
      rename: { 'trailwatch.session.id': 'session' },
      links: [{ field: 'session', title: 'Play this session', url: SESSION_LINK }],
    }),
    table('Commands', [es(CMD, [], [rawData(500)])], g(0, 27, 24, 10), {
      columns: ['@timestamp', 'trailwatch.session.operator', 'trailwatch.session.account', 'trailwatch.session.target', 'event.action', 'process.command_line', 'trailwatch.session.id', 'trailwatch.session.offset'],
      rename: { 'trailwatch.session.id': 'session', 'trailwatch.session.offset': 'offset' },
      links: [{ field: 'process.command_line', title: 'Play from this command', url: '${console_url}/sessions/${__data.fields.session}?t=${__data.fields.offset}' }],
    }),
    table('Sessions ended by an administrator', [es(TERMINATED, [], [rawData(200)])], g(0, 37, 24, 8), {
      columns: ['@timestamp', 'trailwatch.termination.by', 'event.reason', 'trailwatch.session.operator', 'trailwatch.session.account', 'trailwatch.session.target', 'trailwatch.session.id'],
      rename: { 'trailwatch.termination.by': 'ended by', 'event.reason': 'reason', 'trailwatch.session.id': 'session' },
      links: [{ field: 'session', title: 'Play this session', url: SESSION_LINK }],
    }),
    table('Blocked commands by operator', [es(BLOCKED, [terms('2', 'process.command_line.keyword', 50), terms('3', 'trailwatch.session.operator', 10)])], g(0, 37, 24, 8)),
  ], [dsVar, consoleVar]);
}

function transfers() {
  nextId = 1;
  const T = `${GW} AND event.action:gateway-transfer`;
  return dashboard('trailwatch-transfers', 'trailwatch · File transfers', 'SFTP transfers through the gateway: requests, approvals and denials, bytes moved, and the SHA-256 of each file.', [
    stat('Requests', [es(`${T} AND trailwatch.transfer.status:requested`, [dateHistogram()])], g(0, 0, 6, 4)),
    stat('Approved', [es(`${T} AND trailwatch.transfer.status:approved`, [dateHistogram()])], g(6, 0, 6, 4), { fieldConfig: { defaults: { color: { mode: 'fixed', fixedColor: 'green' } }, overrides: [] } }),
    stat('Denied', [es(`${T} AND trailwatch.transfer.status:(denied OR refused)`, [dateHistogram()])], g(12, 0, 6, 4), { fieldConfig: { defaults: { color: { mode: 'fixed', fixedColor: 'red' } }, overrides: [] } }),
    stat('Bytes transferred', [es(`${T} AND trailwatch.transfer.status:completed`, [dateHistogram()], [sum('1', 'file.size')])], g(18, 0, 6, 4), { fieldConfig: { defaults: { unit: 'bytes' }, overrides: [] } }),
    timeseries('Transfers over time by status', [es(T, [terms('3', 'trailwatch.transfer.status', 6), dateHistogram()], [count()], 'A', '{{term trailwatch.transfer.status}}')], g(0, 4, 12, 8)),
    timeseries('Bytes by direction', [es(`${T} AND trailwatch.transfer.status:completed`, [terms('3', 'trailwatch.transfer.direction', 2), dateHistogram()], [sum('1', 'file.size')], 'A', '{{term trailwatch.transfer.direction}}')], g(12, 4, 12, 8), { fieldConfig: { defaults: { unit: 'bytes', custom: { drawStyle: 'bars', fillOpacity: 60 } }, overrides: [] } }),
    table('Transfers', [es(T, [], [rawData(500)])], g(0, 12, 24, 12), {
      columns: ['@timestamp', 'trailwatch.transfer.status', 'trailwatch.transfer.direction', 'trailwatch.session.operator', 'trailwatch.session.account', 'trailwatch.session.target', 'file.path', 'file.size', 'file.hash.sha256', 'trailwatch.session.id'],
      rename: { 'trailwatch.session.id': 'session' },
      links: [{ field: 'session', title: 'Play the session', url: SESSION_LINK }],
    }),
  ], [dsVar, consoleVar]);
}

function collation() {
  nextId = 1;
  const L = 'event.action:ssh-login AND event.outcome:success AND trailwatch.collation.verdict:*';
  return dashboard('trailwatch-collation', 'trailwatch · Collation', 'Logins to managed accounts: through the gateway, or direct (someone used a credential the gateway does not control).', [
    timeseries('Logins to managed accounts by path', [es(L, [terms('3', 'trailwatch.collation.verdict', 3), dateHistogram()], [count()], 'A', '{{term trailwatch.collation.verdict}}')], g(0, 0, 16, 8)),
    stat('Direct logins', [es(`${L} AND trailwatch.collation.verdict:direct`, [dateHistogram()])], g(16, 0, 8, 8), { fieldConfig: { defaults: { color: { mode: 'fixed', fixedColor: 'red' } }, overrides: [] } }),
    table('Per account', [es(L, [terms('2', 'user.name', 50), terms('3', 'trailwatch.collation.verdict', 3)])], g(0, 8, 12, 10)),
    table('Per host', [es(L, [terms('2', 'host.name', 50), terms('3', 'trailwatch.collation.verdict', 3)])], g(12, 8, 12, 10)),
    table('Direct logins', [es(`${L} AND trailwatch.collation.verdict:direct`, [], [rawData(200)])], g(0, 18, 24, 9), {
      columns: ['@timestamp', 'host.name', 'user.name', 'source.ip', 'trailwatch.auth.method', 'message'],
    }),
  ]);
}

function prom(expr, legendFormat, refId = 'A') {
  return { refId, datasource: PROM, expr, legendFormat, range: true, editorMode: 'code' };
}
const RI = '[$__rate_interval]';

function pipelineHealth() {
  nextId = 1;
  const ts = (title, targets, gp, unit = 'short') => ({ ...timeseries(title, targets, gp), fieldConfig: { defaults: { unit, custom: { drawStyle: 'line', fillOpacity: 10 } }, overrides: [] } });
  return dashboard('trailwatch-pipeline', 'trailwatch · Pipeline health', 'Ingest rates, drops, lag and delivery failures, from the Prometheus metrics every trailwatch process exposes on /metrics.', [
    row('Ingest', 0),
    ts('Syslog messages received /s', [prom(`sum by (transport) (rate(trailwatch_syslog_received_messages_total${RI}))`, '{{transport}}')], g(0, 1, 8, 8), 'reqps'),
    ts('Session-log and journal events received /s', [prom(`sum(rate(trailwatch_session_log_received_events_total${RI}))`, 'session-log'), prom(`sum(rate(trailwatch_journal_received_entries_total${RI}))`, 'journal', 'B')], g(8, 1, 8, 8), 'reqps'),
    ts('Open syslog connections', [prom('sum by (transport) (trailwatch_syslog_connections)', '{{transport}}')], g(16, 1, 8, 8)),
    row('Losses', 9),
    ts('Dropped messages /s', [prom(`sum by (reason) (rate(trailwatch_syslog_dropped_messages_total${RI}))`, 'syslog {{reason}}'), prom(`sum by (reason) (rate(trailwatch_session_log_refused_requests_total${RI}))`, 'session-log refused {{reason}}', 'B'), prom(`sum by (outcome) (rate(trailwatch_journal_requests_total{outcome!="accepted"}${RI}))`, 'journal upload {{outcome}}', 'C')], g(0, 10, 12, 8), 'reqps'),
    ts('Kept but unparsed /s', [prom(`sum(rate(trailwatch_syslog_unparsed_messages_total${RI}))`, 'syslog unparsed'), prom(`sum(rate(trailwatch_syslog_truncated_messages_total${RI}))`, 'syslog truncated', 'B'), prom(`sum(rate(trailwatch_session_log_invalid_lines_total${RI}))`, 'session-log invalid', 'C'), prom(`sum(rate(trailwatch_journal_unparsed_entries_total${RI}))`, 'journal unparsed', 'D'), prom(`sum(rate(trailwatch_journal_truncated_entries_total${RI}))`, 'journal truncated', 'E')], g(12, 10, 12, 8), 'reqps'),
    row('Processing and lag', 18),
    ts('Rules: events processed /s', [prom(`sum(rate(trailwatch_rules_processed_events_total${RI}))`, 'embedded'), prom(`sum(rate(trailwatch_rules_decoded_events_total${RI}))`, 'rules.decode', 'B'), prom(`sum(rate(trailwatch_rules_detect_events_total${RI}))`, 'rules.detect', 'C')], g(0, 19, 8, 8), 'reqps'),
    ts('Alerts raised /s by rule', [prom(`sum by (rule) (rate(trailwatch_rules_alerts_total${RI}))`, '{{rule}}')], g(8, 19, 8, 8), 'reqps'),
    ts('Consumer lag (messages)', [prom('max by (group, topic) (trailwatch_bus_consumer_lag_messages)', '{{group}} {{topic}}')], g(16, 19, 8, 8)),
    row('Delivery', 27),
    ts('Sink writes /s', [prom(`sum by (sink, kind) (rate(trailwatch_sink_written_events_total${RI}))`, '{{sink}} {{kind}}'), prom(`sum by (result) (rate(trailwatch_elasticsearch_documents_total{result!="dead_letter"}${RI}))`, 'elasticsearch {{result}}', 'B')], g(0, 28, 8, 8), 'reqps'),
    ts('Sink failures /s', [prom(`sum(rate(trailwatch_elasticsearch_documents_total{result="dead_letter"}${RI}))`, 'elasticsearch dead-lettered'), prom(`sum(rate(trailwatch_elasticsearch_retried_documents_total${RI}))`, 'elasticsearch retried', 'B'), prom(`sum by (receiver, outcome) (rate(trailwatch_webhook_deliveries_total{outcome=~"failed|gone|disabled"}${RI}))`, 'webhook {{receiver}} {{outcome}}', 'C')], g(8, 28, 8, 8), 'reqps'),
    ts('Webhook deliveries /s by outcome', [prom(`sum by (outcome, receiver) (rate(trailwatch_webhook_deliveries_total${RI}))`, '{{receiver}} {{outcome}}')], g(16, 28, 8, 8), 'reqps'),
    ts('Webhook delivery latency p95', [prom(`histogram_quantile(0.95, sum by (le, receiver) (rate(trailwatch_webhook_delivery_duration_seconds_bucket${RI})))`, '{{receiver}}')], g(0, 36, 12, 8), 's'),
    ts('Process memory (RSS)', [prom('trailwatch_process_resident_memory_bytes', '{{instance}}')], g(12, 36, 12, 8), 'bytes'),
  ], [promVar]);
}

const out = {
  'authentication.json': authentication(),
  'alerts.json': alerts(),
  'sessions.json': sessions(),
  'transfers.json': transfers(),
  'collation.json': collation(),
  'pipeline-health.json': pipelineHealth(),
};
// an output folder may be given (the tests compare a fresh build with the committed JSON)
const dir = process.argv[2] ? pathToFileURL(resolve(process.argv[2]) + '/') : new URL('.', import.meta.url);
mkdirSync(dir, { recursive: true });
for (const [name, d] of Object.entries(out)) writeFileSync(new URL(name, dir), JSON.stringify(d, null, 2) + '\n');
if (!process.argv[2]) console.log(`wrote ${Object.keys(out).length} dashboards`);
