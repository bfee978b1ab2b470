// The store's writer, on a worker thread of its own: SQLite writes are
// synchronous, and a transaction of a thousand events with their FTS rows
// would otherwise hold the event loop that reads syslog. One writer per
// database (SQLite has one at a time anyway). It stores the events the file
// sink appends to its files (indexer.ts) and serves requests: alerts, the
// console's status changes, retention (see StoreRequest). A second thread,
// the checkpointer, moves the write-ahead log into the database and pays its
// fsync, so the writer does not wait on the disk.
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readlinkSync, renameSync, statSync } from 'node:fs';
import { setPriority } from 'node:os';
import { dirname } from 'node:path';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { TwEvent } from '../event.js';
import { createIndexer } from './indexer.js';
import { alertRow, EVENT_FIELDS, PER_SECOND, prepare, rowidRange, SCHEMA_VERSION, secondOf, versionOf, type AlertStatus, type RowBatch } from './schema.js';

export type StoreRequest =
  | { op: 'write'; kind: 'event'; batch: RowBatch }
  | { op: 'write'; kind: 'alert'; docs: TwEvent[] }
  | { op: 'status'; ids: string[]; status: AlertStatus; by: string; note?: string; at: number }
  | { op: 'retain'; cutoffMs: number | null; maxBytes: number }
  | { op: 'close' };

export interface StatusChange {
  id: string;
  from: string;
  to: AlertStatus;
  rule_id: string | null;
}

export type StoreReply =
  | { seq: number; ok: true; inserted?: number; changed?: StatusChange[]; deleted?: { events: number; alerts: number }; bytes?: number; movedAside?: string | null }
  | { seq: number; ok: false; error: string; code?: string };

/** What the indexer did since its last report (seq -1): events stored, lines skipped, bytes still to read, or why it cannot store. */
export interface IndexProgress {
  seq: -1;
  events: number;
  unreadable: number;
  skipped: string[];
  lagBytes: number;
  error: string | null;
}

/** Live bytes of the database: pages in use, not the free list. */
export function liveBytes(db: Database.Database): number {
  const pages = db.pragma('page_count', { simple: true }) as number;
  const free = db.pragma('freelist_count', { simple: true }) as number;
  return (pages - free) * (db.pragma('page_size', { simple: true }) as number);
}

/**
 * A store file from an older build (schema 1: one wide events table) is moved
 * aside, not migrated: its events are in the NDJSON files too. Returns where it went.
 */
function moveAsideOld(path: string): string | null {
  if (!existsSync(path) || !statSync(path).isFile()) return null;
  const db = new Database(path, { readonly: true, fileMustExist: true });
  const v = versionOf(db);
  db.close();
  if (v === 0 || v === SCHEMA_VERSION) return null;
  const to = `${path}.v${v}-${Date.now()}`;
  for (const ext of ['', '-wal', '-shm']) if (existsSync(path + ext)) renameSync(path + ext, to + ext);
  return to;
}

export function openWriter(path: string, synchronous: string) {
  mkdirSync(dirname(path), { recursive: true });
  const movedAside = moveAsideOld(path);
  const db = new Database(path);
  prepare(db, { writer: true, synchronous });
  const insertEvent = db.prepare(
    'INSERT INTO events(rowid, id, ts, kind, host, user_name, source_ip, outcome, action, rule_id) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING',
  );
  const insertDoc = db.prepare('INSERT INTO event_docs(rowid, doc) VALUES (?,?)');
  const insertFts = db.prepare('INSERT INTO events_fts(rowid, message, original) VALUES (?,?,?)');
  const lastInSecond = db.prepare('SELECT max(rowid) FROM events WHERE rowid >= ? AND rowid < ?').pluck();
  const upsertAlert = db.prepare(
    `INSERT INTO alerts(id, ts, rule_id, rule_name, severity, host, user_name, source_ip, session_id, doc) VALUES (?,?,?,?,?,?,?,?,?,?)
     ON CONFLICT(id) DO UPDATE SET ts=excluded.ts, rule_id=excluded.rule_id, rule_name=excluded.rule_name, severity=excluded.severity, host=excluded.host,
       user_name=excluded.user_name, source_ip=excluded.source_ip, session_id=excluded.session_id, doc=excluded.doc`,
  );
  const alertStatus = db.prepare('SELECT status, rule_id FROM alerts WHERE id = ?');
  const setStatus = db.prepare('UPDATE alerts SET status = ?, status_at = ?, status_by = ? WHERE id = ?');
  const addHistory = db.prepare('INSERT INTO alert_history(alert_id, at, by, status, note) VALUES (?,?,?,?,?)');
  const oldestEvents = db.prepare('SELECT rowid FROM events ORDER BY rowid LIMIT ?');
  const countEvents = db.prepare('SELECT count(*) AS n FROM events');

  const deleteEventRows = (rowids: number[]) => {
    for (let i = 0; i < rowids.length; i += 500) {
      const chunk = rowids.slice(i, i + 500);
      const marks = chunk.map(() => '?').join(',');
      db.prepare(`DELETE FROM events_fts WHERE rowid IN (${marks})`).run(...chunk);
      db.prepare(`DELETE FROM event_docs WHERE rowid IN (${marks})`).run(...chunk);
      db.prepare(`DELETE FROM events WHERE rowid IN (${marks})`).run(...chunk);
    }
  };

  // The next free rowid of each recent second (see schema.ts): time order, and no two events share one.
  const next = new Map<number, number>();
  const rowidFor = (ts: number): number => {
    const sec = secondOf(ts);
    let r = next.get(sec);
    if (r === undefined) {
      if (next.size > 4096) next.clear();
      const last = lastInSecond.get(sec * PER_SECOND, (sec + 1) * PER_SECOND) as number | null;
      r = last === null ? sec * PER_SECOND : last + 1;
    }
    next.set(sec, r + 1);
    return r;
  };
  const insertOne = (cols: RowBatch['cols'], o: number): number | null => {
    const id = cols[o] as string;
    const ts = cols[o + 1] as number;
    for (let attempt = 0; ; attempt++) {
      const rowid = rowidFor(ts);
      try {
        return insertEvent.run(rowid, id, ts, cols[o + 2], cols[o + 3], cols[o + 4], cols[o + 5], cols[o + 6], cols[o + 7], cols[o + 8]).changes ? rowid : null;
      } catch (err) {
        // A second that overflowed into this one's space: look again from what is there.
        if ((err as { code?: string }).code !== 'SQLITE_CONSTRAINT_PRIMARYKEY' || attempt > 2) throw err;
        const sec = secondOf(ts);
        const last = lastInSecond.get(sec * PER_SECOND, rowidRange(ts, ts)[1]) as number | null;
        next.set(sec, (last ?? sec * PER_SECOND) + 1);
      }
    }
  };

  const writeEvents = db.transaction((batches: RowBatch[]) => {
    const inserted: number[] = [];
    for (const { docs, cols } of batches) {
      let n = 0;
      for (let i = 0, o = 0; i < docs.length; i++, o += EVENT_FIELDS) {
        const rowid = insertOne(cols, o);
        if (rowid === null) continue; // a redelivered event: stored once
        n++;
        insertDoc.run(rowid, docs[i]);
        const message = cols[o + 9];
        const original = cols[o + 10];
        if (message !== null || original !== null) insertFts.run(rowid, message, original);
      }
      inserted.push(n);
    }
    return inserted;
  });

  const writeAlerts = db.transaction((docs: TwEvent[]) => {
    let inserted = 0;
    for (const ev of docs) {
      if (!ev || typeof ev !== 'object') continue;
      if (!ev.event?.id) ev.event = { ...(ev.event ?? {}), id: randomUUID() } as TwEvent['event'];
      upsertAlert.run(...alertRow(ev, JSON.stringify(ev)));
      inserted++;
    }
    return inserted;
  });

  const status = db.transaction((ids: string[], to: AlertStatus, by: string, note: string | undefined, at: number) => {
    const changed: StatusChange[] = [];
    for (const id of ids) {
      const cur = alertStatus.get(id) as { status: string; rule_id: string | null } | undefined;
      if (!cur) continue;
      setStatus.run(to, at, by, id);
      addHistory.run(id, at, by, to, note ?? null);
      changed.push({ id, from: cur.status, to, rule_id: cur.rule_id });
    }
    return changed;
  });

  const retain = (cutoffMs: number | null, maxBytes: number) => {
    let events = 0;
    let alerts = 0;
    if (cutoffMs !== null) {
      db.transaction(() => {
        const old = db.prepare('SELECT rowid FROM events WHERE rowid < ? AND ts < ?').pluck().all(rowidRange(cutoffMs, cutoffMs)[1], cutoffMs) as number[];
        deleteEventRows(old);
        events += old.length;
        const a = db.prepare('SELECT id FROM alerts WHERE ts < ?').pluck().all(cutoffMs) as string[];
        for (const id of a) db.prepare('DELETE FROM alert_history WHERE alert_id = ?').run(id);
        alerts += db.prepare('DELETE FROM alerts WHERE ts < ?').run(cutoffMs).changes;
      })();
    }
    // Over the size bound: the oldest events, the share the excess is (then a tenth at a time), until 10 % under.
    let live = liveBytes(db);
    if (live > maxBytes) {
      for (let round = 0; round < 50 && live > maxBytes * 0.9; round++) {
        const n = (countEvents.get() as { n: number }).n;
        if (!n) break;
        const share = round === 0 ? 1 - (maxBytes * 0.9) / live : 0.1;
        const rows = oldestEvents.pluck().all(Math.max(1, Math.ceil(n * share))) as number[];
        db.transaction(() => deleteEventRows(rows))();
        events += rows.length;
        live = liveBytes(db);
      }
    }
    if (events || alerts) db.pragma('incremental_vacuum');
    return { events, alerts };
  };

  return { db, movedAside, writeEvents, writeAlerts, status, retain, close: () => db.close() };
}

type Envelope = { seq: number; req: StoreRequest };

/** Serve the parent's requests in order. */
function serve(port: MessagePort, w: ReturnType<typeof openWriter>): void {
  let open = true;
  port.on('message', ({ seq, req }: Envelope) => {
    if (!open) return port.postMessage({ seq, ok: false, error: 'the store is not open' } satisfies StoreReply);
    try {
      if (req.op === 'write') port.postMessage({ seq, ok: true, inserted: req.kind === 'alert' ? w.writeAlerts(req.docs) : w.writeEvents([req.batch])[0] } satisfies StoreReply);
      else if (req.op === 'status') port.postMessage({ seq, ok: true, changed: w.status(req.ids, req.status, req.by, req.note, req.at) } satisfies StoreReply);
      else if (req.op === 'retain') port.postMessage({ seq, ok: true, deleted: w.retain(req.cutoffMs, req.maxBytes), bytes: liveBytes(w.db) } satisfies StoreReply);
      else {
        open = false;
        w.close();
        port.postMessage({ seq, ok: true } satisfies StoreReply);
      }
    } catch (err) {
      port.postMessage({ seq, ok: false, error: (err as Error).message, code: (err as { code?: string }).code } satisfies StoreReply);
    }
  });
}

/**
 * Store what the file sink appends, a chunk at a time, between requests:
 * at once while there is more, every POLL_MS when it has caught up, and
 * after RETRY_MS when the store cannot write (a full disk).
 */
function index(port: MessagePort, indexer: ReturnType<typeof createIndexer>): { stop(): void } {
  const POLL_MS = 100;
  const RETRY_MS = 1000;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let lastLag = -1;
  let lastError: string | null = null;
  const tick = () => {
    if (stopped) return;
    try {
      const r = indexer.step();
      if (r.events || r.unreadable || r.skipped.length || r.lagBytes !== lastLag || lastError !== null)
        port.postMessage({ seq: -1, events: r.events, unreadable: r.unreadable, skipped: r.skipped, lagBytes: r.lagBytes, error: null } satisfies IndexProgress);
      lastLag = r.lagBytes;
      lastError = null;
      if (r.more) setImmediate(tick); // after any requests waiting (stop() stops it through `stopped`)
      else timer = setTimeout(tick, POLL_MS);
    } catch (err) {
      const error = (err as Error).message;
      if (error !== lastError) port.postMessage({ seq: -1, events: 0, unreadable: 0, skipped: [], lagBytes: lastLag, error } satisfies IndexProgress);
      lastError = error;
      timer = setTimeout(tick, RETRY_MS);
    }
  };
  tick();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/** Lower this thread's CPU priority (Linux: the nice value is per thread). Best effort. */
function renice(nice: number): void {
  if (!nice) return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid)) setPriority(tid, nice);
  } catch {
    /* not Linux, or not allowed: the thread keeps the process's priority */
  }
}

/** The checkpointer: copies the log into the database (with its fsync) while the writer goes on. */
function checkpoint(path: string, synchronous: string): void {
  const db = new Database(path, { fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  db.pragma(`synchronous = ${synchronous.toUpperCase()}`);
  const tick = () => {
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      /* busy or gone: the next tick tries again; the writer's own autocheckpoint is the backstop */
    }
  };
  setInterval(tick, 250);
}

// As a worker: the writer, or the checkpointer.
if (parentPort && workerData?.trailwatchCheckpoint) {
  const { path, synchronous, nice } = workerData as { path: string; synchronous: string; nice?: number };
  renice(nice ?? 0);
  checkpoint(path, synchronous);
} else if (parentPort && workerData?.trailwatchStore) {
  const port = parentPort;
  const { path, synchronous, eventsDir, nice } = workerData as { path: string; synchronous: string; eventsDir?: string; nice?: number };
  try {
    const w = openWriter(path, synchronous);
    // The indexer takes its place in the files before the stage hears the store is open: what the file sink writes after that is stored.
    const indexer = eventsDir ? createIndexer(w.db, eventsDir, w.writeEvents) : null;
    port.postMessage({ seq: 0, ok: true, movedAside: w.movedAside } satisfies StoreReply);
    if (indexer) {
      renice(nice ?? 0);
      const indexing = index(port, indexer);
      port.on('message', ({ req }: Envelope) => req.op === 'close' && indexing.stop());
    }
    serve(port, w);
  } catch (err) {
    port.postMessage({ seq: 0, ok: false, error: (err as Error).message, code: (err as { code?: string }).code } satisfies StoreReply);
    port.on('message', ({ seq }: Envelope) => port.postMessage({ seq, ok: false, error: 'the store is not open' } satisfies StoreReply));
  }
}
