// The store's tables, and how an event becomes a row. The events table is
// narrow (the indexed columns only) so that counting and filtering read few
// pages; each event's JSON document is in event_docs under the same rowid.
// The rowid is the event's time: its second times 2^21 plus a sequence, so
// rowid order is time order, newest-first lists and time ranges walk the
// primary key, and every index entry (which ends in the rowid) is in time
// order too. Free text is an FTS5 index on message and event.original,
// contentless: it holds the index, not a second copy.
import type { Database } from 'better-sqlite3';
import type { TwEvent } from '../event.js';

export const SCHEMA_VERSION = 2;

/** Events one second can hold in rowid space before the next second's is borrowed. */
export const PER_SECOND = 2 ** 21;
/** The last second a rowid can name and stay a safe JS integer (2106). */
const MAX_SECOND = Math.floor(Number.MAX_SAFE_INTEGER / PER_SECOND) - 2;

/** The second an event time (ms) files under in rowid space: clamped to 1970..2106. */
export function secondOf(ms: number): number {
  return Math.min(MAX_SECOND, Math.max(0, Math.floor(ms / 1000)));
}

/**
 * Rowid bounds [lo, hi) that hold every event with from <= ts <= to. The upper
 * bound has one second of slack: a second that overflows borrows the next one's space.
 */
export function rowidRange(from: number | undefined, to: number | undefined): [number, number] {
  return [from === undefined ? 0 : secondOf(from) * PER_SECOND, (to === undefined ? MAX_SECOND + 2 : secondOf(to) + 2) * PER_SECOND];
}

// Columns whose index is chosen before the others when a query filters by
// several; the selectivities are ours (written to sqlite_stat1 below), so the
// planner does not need an ANALYZE of a store that keeps changing.
const INDEXED: [column: string, rowsPerValue: number][] = [
  ['user_name', 50],
  ['source_ip', 50],
  ['host', 2000],
  ['rule_id', 100],
  ['action', 100_000],
  ['outcome', 300_000],
];
const STAT_ROWS = 1_000_000;

const DDL = `
CREATE TABLE IF NOT EXISTS events (
  rowid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  ts INTEGER NOT NULL,
  kind TEXT, host TEXT, user_name TEXT, source_ip TEXT, outcome TEXT, action TEXT, rule_id TEXT
);
CREATE TABLE IF NOT EXISTS event_docs (rowid INTEGER PRIMARY KEY, doc TEXT NOT NULL);
${INDEXED.map(([c]) => `CREATE INDEX IF NOT EXISTS events_${c} ON events(${c}, ts) WHERE ${c} IS NOT NULL;`).join('\n')}
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
CREATE TABLE IF NOT EXISTS store_cursor (name TEXT PRIMARY KEY, file TEXT NOT NULL, offset INTEGER NOT NULL);
`;

/** Open settings every connection needs; `writer` also creates the tables. */
export function prepare(db: Database, opts: { writer: boolean; synchronous?: string }): void {
  db.pragma('busy_timeout = 5000');
  // Sorting and IN lists in memory, and a page cache that holds the indexes' hot pages.
  db.pragma('temp_store = MEMORY');
  db.pragma('cache_size = -65536');
  if (!opts.writer) return;
  // auto_vacuum must be chosen before the first table: deleted rows give their pages back.
  db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${(opts.synchronous ?? 'normal').toUpperCase()}`);
  // Checkpoints (and their fsync) are the checkpointer thread's; the writer
  // checkpoints itself only when that one falls far behind (80 MiB of log).
  db.pragma('wal_autocheckpoint = 20000');
  db.pragma('journal_size_limit = 67108864');
  db.exec(DDL);
  db.exec('ANALYZE sqlite_schema');
  const stat = db.prepare('INSERT INTO sqlite_stat1(tbl, idx, stat) VALUES (?, ?, ?)');
  db.transaction(() => {
    db.prepare("DELETE FROM sqlite_stat1 WHERE tbl = 'events'").run();
    for (const [c, n] of INDEXED) stat.run('events', `events_${c}`, `${STAT_ROWS} ${n} 1`);
    stat.run('events', 'sqlite_autoindex_events_1', `${STAT_ROWS} 1`);
  })();
  db.exec('ANALYZE sqlite_schema');
  db.pragma(`user_version = ${SCHEMA_VERSION}`);
}

/** The schema version of a store file (0: new or empty). */
export function versionOf(db: Database): number {
  return db.pragma('user_version', { simple: true }) as number;
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

/**
 * Events as the writer takes them: each event's JSON (the line as the file
 * sink wrote it) and its columns, flat, EVENT_FIELDS apiece.
 */
export interface RowBatch {
  docs: string[];
  cols: (string | number | null)[];
}

/** Columns per event in RowBatch.cols: id, ts, kind, host, user, source, outcome, action, rule, message, original. */
export const EVENT_FIELDS = 11;

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Append one event (and its JSON) to a batch. */
export function addRow(b: RowBatch, ev: TwEvent, doc: string): void {
  b.docs.push(doc);
  b.cols.push(
    String(ev.event?.id),
    timeOf(ev),
    str(ev.event?.kind),
    str(ev.host?.name),
    str(ev.user?.name),
    str(ev.source?.ip),
    str(ev.event?.outcome),
    str(ev.event?.action),
    str(ev.rule?.id),
    str(ev.message),
    str(ev.event?.original),
  );
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
