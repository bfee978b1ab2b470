// The store's tables, and how an event becomes a row. Indexed columns are
// the fields analysts filter by; every other field is read from the JSON
// document (json_extract). Free text is an FTS5 index on message and
// event.original, contentless: it holds the index, not a second copy.
import type { Database } from 'better-sqlite3';
import type { TwEvent } from '../event.js';

export const SCHEMA_VERSION = 1;

const DDL = `
CREATE TABLE IF NOT EXISTS events (
  rowid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  ts INTEGER NOT NULL,
  kind TEXT, host TEXT, user_name TEXT, source_ip TEXT, outcome TEXT, action TEXT, rule_id TEXT,
  message TEXT,
  doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_ts ON events(ts);
CREATE INDEX IF NOT EXISTS events_host ON events(host, ts);
CREATE INDEX IF NOT EXISTS events_user ON events(user_name, ts);
CREATE INDEX IF NOT EXISTS events_source ON events(source_ip, ts);
CREATE INDEX IF NOT EXISTS events_outcome ON events(outcome, ts);
CREATE INDEX IF NOT EXISTS events_action ON events(action, ts);
CREATE INDEX IF NOT EXISTS events_rule ON events(rule_id, ts);
CREATE VIRTUAL TABLE IF NOT EXISTS events_fts USING fts5(message, original, content='', contentless_delete=1);
CREATE TABLE IF NOT EXISTS alerts (
  rowid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  ts INTEGER NOT NULL,
  rule_id TEXT, rule_name TEXT, severity TEXT, host TEXT, user_name TEXT, source_ip TEXT, session_id TEXT,
  status TEXT NOT NULL DEFAULT 'new',
  status_at INTEGER, status_by TEXT,
  doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_ts ON alerts(ts);
CREATE INDEX IF NOT EXISTS alerts_status ON alerts(status, ts);
CREATE INDEX IF NOT EXISTS alerts_rule ON alerts(rule_id, ts);
CREATE TABLE IF NOT EXISTS alert_history (
  id INTEGER PRIMARY KEY,
  alert_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  by TEXT NOT NULL,
  status TEXT NOT NULL,
  note TEXT
);
CREATE INDEX IF NOT EXISTS alert_history_alert ON alert_history(alert_id, at);
`;

/** Open settings every connection needs; `writer` also creates the tables. */
export function prepare(db: Database, opts: { writer: boolean; synchronous?: string }): void {
  db.pragma('busy_timeout = 5000');
  if (!opts.writer) return;
  // auto_vacuum must be chosen before the first table: deleted rows give their pages back.
  db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${(opts.synchronous ?? 'normal').toUpperCase()}`);
  db.exec(DDL);
  db.pragma(`user_version = ${SCHEMA_VERSION}`);
}

/** ECS fields with a column of their own; what the query translator maps to columns. */
export const EVENT_COLUMNS: Record<string, string> = {
  '@timestamp': 'ts',
  'event.kind': 'kind',
  'host.name': 'host',
  'user.name': 'user_name',
  'source.ip': 'source_ip',
  'event.outcome': 'outcome',
  'event.action': 'action',
  'rule.id': 'rule_id',
};

export const ALERT_STATUSES = ['new', 'acknowledged', 'resolved', 'false_positive'] as const;
export type AlertStatus = (typeof ALERT_STATUSES)[number];

export function timeOf(ev: TwEvent): number {
  const t = Date.parse(ev['@timestamp']);
  return Number.isFinite(t) ? t : Date.now();
}

/** The values of an events row, in DDL order after rowid. */
export function eventRow(ev: TwEvent, doc: string): unknown[] {
  return [
    ev.event?.id,
    timeOf(ev),
    ev.event?.kind ?? null,
    ev.host?.name ?? null,
    ev.user?.name ?? null,
    ev.source?.ip ?? null,
    ev.event?.outcome ?? null,
    ev.event?.action ?? null,
    ev.rule?.id ?? null,
    typeof ev.message === 'string' ? ev.message : null,
    doc,
  ];
}

export function alertRow(ev: TwEvent, doc: string): unknown[] {
  return [
    ev.event?.id,
    timeOf(ev),
    ev.rule?.id ?? null,
    ev.rule?.name ?? null,
    ev.trailwatch?.alert?.severity ?? null,
    ev.host?.name ?? null,
    ev.user?.name ?? null,
    ev.source?.ip ?? null,
    ev.trailwatch?.session?.id ?? null,
    doc,
  ];
}
