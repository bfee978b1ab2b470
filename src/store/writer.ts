// The store's writer, on a worker thread of its own: SQLite writes are
// synchronous, and a batch of a thousand events with its FTS rows would
// otherwise hold the event loop that reads syslog. One writer per database
// (SQLite has one at a time anyway); the console's status changes come here
// too. Messages: write, status, retain, close (see StoreRequest).
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import type { TwEvent } from '../event.js';
import { alertRow, eventRow, prepare, type AlertStatus } from './schema.js';

export type StoreRequest =
  | { op: 'write'; kind: 'event' | 'alert'; docs: TwEvent[] }
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
  | { seq: number; ok: true; inserted?: number; changed?: StatusChange[]; deleted?: { events: number; alerts: number }; bytes?: number }
  | { seq: number; ok: false; error: string; code?: string };

/** Live bytes of the database: pages in use, not the free list. */
export function liveBytes(db: Database.Database): number {
  const pages = db.pragma('page_count', { simple: true }) as number;
  const free = db.pragma('freelist_count', { simple: true }) as number;
  return (pages - free) * (db.pragma('page_size', { simple: true }) as number);
}

export function openWriter(path: string, synchronous: string) {
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  prepare(db, { writer: true, synchronous });
  const insertEvent = db.prepare(
    'INSERT INTO events(id, ts, kind, host, user_name, source_ip, outcome, action, rule_id, message, doc) VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING RETURNING rowid',
  );
  const insertFts = db.prepare('INSERT INTO events_fts(rowid, message, original) VALUES (?,?,?)');
  const upsertAlert = db.prepare(
    `INSERT INTO alerts(id, ts, rule_id, rule_name, severity, host, user_name, source_ip, session_id, doc) VALUES (?,?,?,?,?,?,?,?,?,?)
     ON CONFLICT(id) DO UPDATE SET ts=excluded.ts, rule_id=excluded.rule_id, rule_name=excluded.rule_name, severity=excluded.severity, host=excluded.host,
       user_name=excluded.user_name, source_ip=excluded.source_ip, session_id=excluded.session_id, doc=excluded.doc`,
  );
  const alertStatus = db.prepare('SELECT status, rule_id FROM alerts WHERE id = ?');
  const setStatus = db.prepare('UPDATE alerts SET status = ?, status_at = ?, status_by = ? WHERE id = ?');
  const addHistory = db.prepare('INSERT INTO alert_history(alert_id, at, by, status, note) VALUES (?,?,?,?,?)');
  const oldestEvents = db.prepare('SELECT rowid FROM events ORDER BY ts LIMIT ?');
  const countEvents = db.prepare('SELECT count(*) AS n FROM events');

  const deleteEventRows = (rowids: number[]) => {
    for (let i = 0; i < rowids.length; i += 500) {
      const chunk = rowids.slice(i, i + 500);
      const marks = chunk.map(() => '?').join(',');
      db.prepare(`DELETE FROM events_fts WHERE rowid IN (${marks})`).run(...chunk);
      db.prepare(`DELETE FROM events WHERE rowid IN (${marks})`).run(...chunk);
    }
  };

  const write = db.transaction((kind: 'event' | 'alert', docs: TwEvent[]) => {
    let inserted = 0;
    for (const ev of docs) {
      if (!ev || typeof ev !== 'object') continue;
      if (!ev.event?.id) ev.event = { ...(ev.event ?? {}), id: randomUUID() } as TwEvent['event'];
      const doc = JSON.stringify(ev);
      if (kind === 'alert') {
        upsertAlert.run(...alertRow(ev, doc));
        inserted++;
        continue;
      }
      const r = insertEvent.get(...eventRow(ev, doc)) as { rowid: number } | undefined;
      if (!r) continue; // a redelivered event: stored once
      inserted++;
      const message = typeof ev.message === 'string' ? ev.message : null;
      const original = typeof ev.event.original === 'string' ? ev.event.original : null;
      if (message !== null || original !== null) insertFts.run(r.rowid, message, original);
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
        const old = db.prepare('SELECT rowid FROM events WHERE ts < ?').pluck().all(cutoffMs) as number[];
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

  return { db, write, status, retain, close: () => db.close() };
}

// As a worker: serve the parent's requests in order.
if (parentPort && workerData?.trailwatchStore) {
  const port = parentPort;
  const { path, synchronous } = workerData as { path: string; synchronous: string };
  let w: ReturnType<typeof openWriter> | null = null;
  try {
    w = openWriter(path, synchronous);
  } catch (err) {
    port.postMessage({ seq: 0, ok: false, error: (err as Error).message, code: (err as { code?: string }).code } satisfies StoreReply);
  }
  if (w) port.postMessage({ seq: 0, ok: true } satisfies StoreReply);
  port.on('message', ({ seq, req }: { seq: number; req: StoreRequest }) => {
    if (!w) return port.postMessage({ seq, ok: false, error: 'the store is not open' } satisfies StoreReply);
    try {
      if (req.op === 'write') return port.postMessage({ seq, ok: true, inserted: w.write(req.kind, req.docs) } satisfies StoreReply);
      if (req.op === 'status') return port.postMessage({ seq, ok: true, changed: w.status(req.ids, req.status, req.by, req.note, req.at) } satisfies StoreReply);
      if (req.op === 'retain') return port.postMessage({ seq, ok: true, deleted: w.retain(req.cutoffMs, req.maxBytes), bytes: liveBytes(w.db) } satisfies StoreReply);
      w.close();
      w = null;
      port.postMessage({ seq, ok: true } satisfies StoreReply);
    } catch (err) {
      port.postMessage({ seq, ok: false, error: (err as Error).message, code: (err as { code?: string }).code } satisfies StoreReply);
    }
  });
}
