// The embedded event store: SQLite (better-sqlite3) in WAL mode, written on a
// worker thread (writer.ts) started by the `sink.store` stage, read by the
// console on its own read-only connection (WAL: readers never wait for the
// writer). Events come from the file sink's files (indexer.ts), alerts from
// the alerts topic.
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Config } from '../config.js';
import { storeEnabled } from './config.js';
import { TrailwatchError, errorMessage } from '../errors.js';
import type { Alert, TwEvent } from '../event.js';
import type { Stage, StageContext } from '../stage.js';
import { addRow, ALERT_STATUSES, prepare, rowidRange, type AlertStatus, type RowBatch } from './schema.js';
import type { IndexProgress, StatusChange, StoreReply, StoreRequest } from './writer.js';

export { ALERT_STATUSES, EVENT_COLUMNS, type AlertStatus } from './schema.js';
export type { StatusChange } from './writer.js';
export { storeEnabled };

export function storePath(config: Pick<Config, 'data_dir' | 'store'>): string {
  return resolve(config.store.path ?? join(config.data_dir, 'store', 'trailwatch.db'));
}

/** The writer thread, as promises. Failures are retriable: the bus holds the batch and redelivers it. */
export class StoreWriter {
  private readonly worker: Worker;
  private checkpointer: Worker | null = null;
  /** Where an older build's store file was moved when this one opened (see writer.ts). */
  movedAside: string | null = null;
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (r: StoreReply & { ok: true }) => void; reject: (e: Error) => void }>();
  private readonly ready: Promise<void>;
  private dead: Error | null = null;

  /**
   * With `index`, the writer also stores what the file sink appends to the
   * event files in `index.dir` (at CPU priority `index.nice`), and reports it
   * to `index.progress`.
   */
  constructor(
    readonly path: string,
    synchronous = 'normal',
    index?: { dir: string; nice: number; progress: (p: IndexProgress) => void },
  ) {
    this.worker = new Worker(new URL('./writer.js', import.meta.url), { workerData: { trailwatchStore: true, path, synchronous, eventsDir: index?.dir, nice: index?.nice } });
    this.ready = new Promise((res, rej) =>
      this.waiting.set(0, {
        resolve: (r) => {
          this.movedAside = r.movedAside ?? null;
          this.checkpointer = new Worker(new URL('./writer.js', import.meta.url), { workerData: { trailwatchCheckpoint: true, path, synchronous, nice: index?.nice } });
          this.checkpointer.unref();
          res();
        },
        reject: rej,
      }),
    );
    this.worker.on('message', (r: StoreReply | IndexProgress) => {
      if (r.seq === -1) return index?.progress(r as IndexProgress);
      const w = this.waiting.get(r.seq);
      if (!w) return;
      this.waiting.delete(r.seq);
      if ((r as StoreReply).ok) w.resolve(r as StoreReply & { ok: true });
      else w.reject(new TrailwatchError('TW_STORE_WRITE', `store ${this.path}: ${(r as StoreReply & { ok: false }).error}`, { retriable: true }));
    });
    const fail = (err: Error) => {
      this.dead = err;
      for (const w of this.waiting.values()) w.reject(new TrailwatchError('TW_STORE_WRITE', `store writer stopped: ${err.message}`, { retriable: true }));
      this.waiting.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
  }

  /** Resolves once the database is open (tables created); rejects with the reason it cannot be. */
  open(): Promise<void> {
    return this.ready;
  }

  request(req: StoreRequest): Promise<StoreReply & { ok: true }> {
    if (this.dead) return Promise.reject(new TrailwatchError('TW_STORE_WRITE', `store writer stopped: ${this.dead.message}`, { retriable: true }));
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      this.worker.postMessage({ seq, req });
    });
  }

  /** Write events or alerts, one transaction (the stage writes alerts; events it indexes from the files). */
  write(kind: 'event' | 'alert', events: TwEvent[]): Promise<StoreReply & { ok: true }> {
    if (kind === 'alert') return this.request({ op: 'write', kind, docs: events });
    const batch: RowBatch = { docs: [], cols: [] };
    for (const ev of events) {
      if (!ev || typeof ev !== 'object') continue;
      if (ev.event?.id) addRow(batch, ev, JSON.stringify(ev));
      else {
        const withId = { ...ev, event: { ...(ev.event ?? {}), id: randomUUID() } } as TwEvent;
        addRow(batch, withId, JSON.stringify(withId));
      }
    }
    return this.request({ op: 'write', kind, batch });
  }

  /** Stop the threads at once, without closing the database (what a kill does to it). */
  async terminate(): Promise<void> {
    await this.checkpointer?.terminate();
    await this.worker.terminate();
  }

  async close(): Promise<void> {
    await this.checkpointer?.terminate();
    if (!this.dead) await this.request({ op: 'close' }).catch(() => {});
    await this.worker.terminate();
  }
}

/** Writers open in this process, by database path: the retention job and the console use them rather than a second writer. */
const writers = new Map<string, StoreWriter>();

export function activeWriter(path: string): StoreWriter | undefined {
  return writers.get(path);
}

export interface AlertFilter {
  status?: string;
  rule?: string;
  severity?: string;
  host?: string;
  user?: string;
  source?: string;
  from?: Date;
  to?: Date;
  limit?: number;
}

export interface StoredAlert {
  alert: Alert;
  status: AlertStatus;
  status_at?: string;
  status_by?: string;
}

export interface AlertHistoryEntry {
  at: string;
  by: string;
  status: AlertStatus;
  note?: string;
}

interface AlertRowOut {
  doc: string;
  status: AlertStatus;
  status_at: number | null;
  status_by: string | null;
}

const iso = (ms: number | null) => (ms === null ? undefined : new Date(ms).toISOString());

function toStored(r: AlertRowOut): StoredAlert {
  return { alert: JSON.parse(r.doc) as Alert, status: r.status, status_at: iso(r.status_at), status_by: r.status_by ?? undefined };
}

/** Read-only queries for the console. Opens the database when it exists (the writer may start later). */
export class StoreReader {
  private db: Database.Database | null = null;

  constructor(readonly path: string) {}

  /** Whether there is a store to read (the writer creates the file when it starts). */
  available(): boolean {
    return this.db !== null || existsSync(this.path);
  }

  private conn(): Database.Database | null {
    if (this.db) return this.db;
    if (!existsSync(this.path)) return null;
    this.db = new Database(this.path, { readonly: true, fileMustExist: true });
    prepare(this.db, { writer: false });
    return this.db;
  }

  alerts(f: AlertFilter): StoredAlert[] {
    const db = this.conn();
    if (!db) return [];
    const where: string[] = [];
    const params: (string | number)[] = [];
    const eq = (col: string, v: string | undefined) => {
      if (v === undefined) return;
      where.push(`${col} = ?`);
      params.push(v);
    };
    eq('status', f.status);
    eq('rule_id', f.rule);
    eq('severity', f.severity);
    eq('host', f.host);
    eq('user_name', f.user);
    eq('source_ip', f.source);
    if (f.from) where.push('ts >= ?') && params.push(f.from.getTime());
    if (f.to) where.push('ts <= ?') && params.push(f.to.getTime());
    const sql = `SELECT doc, status, status_at, status_by FROM alerts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ts DESC, rowid DESC LIMIT ?`;
    return (db.prepare(sql).all(...params, Math.min(Math.max(1, f.limit ?? 100), 1000)) as AlertRowOut[]).map(toStored);
  }

  alert(id: string): (StoredAlert & { history: AlertHistoryEntry[] }) | undefined {
    const db = this.conn();
    if (!db) return undefined;
    const r = db.prepare('SELECT doc, status, status_at, status_by FROM alerts WHERE id = ?').get(id) as AlertRowOut | undefined;
    if (!r) return undefined;
    const history = (db.prepare('SELECT at, by, status, note FROM alert_history WHERE alert_id = ? ORDER BY at, id').all(id) as { at: number; by: string; status: AlertStatus; note: string | null }[]).map(
      (h) => ({ at: iso(h.at)!, by: h.by, status: h.status, ...(h.note ? { note: h.note } : {}) }),
    );
    return { ...toStored(r), history };
  }

  /** Distinct values of an alerts column, for the filter menus. */
  alertValues(column: 'rule_id' | 'severity'): string[] {
    const db = this.conn();
    if (!db) return [];
    return db.prepare(`SELECT DISTINCT ${column} FROM alerts WHERE ${column} IS NOT NULL ORDER BY 1 LIMIT 200`).pluck().all() as string[];
  }

  eventsByIds(ids: string[]): TwEvent[] {
    const db = this.conn();
    if (!db || !ids.length) return [];
    const got = db.prepare(`SELECT d.doc FROM events e JOIN event_docs d ON d.rowid = e.rowid WHERE e.id IN (${ids.map(() => '?').join(',')}) ORDER BY e.rowid`).pluck().all(...ids) as string[];
    return got.map((d) => JSON.parse(d) as TwEvent);
  }

  /** Events matching a translated query (src/query/sql.ts), newest first, with the total. */
  search(q: { where: string; params: (string | number)[] }, range: { from?: Date; to?: Date }, limit = 100): { events: TwEvent[]; total: number } {
    const db = this.conn();
    if (!db) return { events: [], total: 0 };
    const { where, params } = this.ranged(q, range);
    const total = (db.prepare(`SELECT count(*) FROM events e WHERE ${where}`).pluck().get(...params) as number) ?? 0;
    // Newest first is rowid order (the rowid is the time: schema.ts): the primary key, or an index read backwards.
    const docs = db
      .prepare(`SELECT d.doc FROM events e JOIN event_docs d ON d.rowid = e.rowid WHERE ${where} ORDER BY e.rowid DESC LIMIT ?`)
      .pluck()
      .all(...params, Math.min(Math.max(1, limit), 1000)) as string[];
    return { events: docs.map((d) => JSON.parse(d) as TwEvent), total };
  }

  /** Matches per time bucket over [from, to]. */
  histogram(q: { where: string; params: (string | number)[] }, from: Date, to: Date, buckets = 60): { start: string; count: number }[] {
    const db = this.conn();
    const span = Math.max(1, to.getTime() - from.getTime());
    const step = Math.max(1000, Math.ceil(span / buckets / 1000) * 1000);
    const start = Math.floor(from.getTime() / step) * step;
    const out = new Map<number, number>();
    if (db) {
      const { where, params } = this.ranged(q, { from, to });
      const rows = db.prepare(`SELECT CAST((ts - ?) / ? AS INTEGER) AS b, count(*) AS n FROM events e WHERE ${where} GROUP BY b`).all(start, step, ...params) as { b: number; n: number }[];
      for (const r of rows) out.set(r.b, r.n);
    }
    const res: { start: string; count: number }[] = [];
    for (let b = 0, t = start; t <= to.getTime(); b++, t += step) res.push({ start: new Date(t).toISOString(), count: out.get(b) ?? 0 });
    return res;
  }

  /** The most frequent values of an indexed column among the matching events. */
  top(q: { where: string; params: (string | number)[] }, column: 'source_ip' | 'user_name' | 'host' | 'action', range: { from: Date; to: Date }, limit = 10): { value: string; count: number }[] {
    const db = this.conn();
    if (!db) return [];
    const { where, params } = this.ranged(q, range);
    return db.prepare(`SELECT ${column} AS value, count(*) AS count FROM events e WHERE ${where} AND ${column} IS NOT NULL GROUP BY ${column} ORDER BY count DESC, value LIMIT ?`).all(...params, limit) as { value: string; count: number }[];
  }

  /** Alerts per rule in a time range, most first. */
  alertsByRule(range: { from: Date; to: Date }): { rule: string; name: string; count: number }[] {
    const db = this.conn();
    if (!db) return [];
    return db
      .prepare('SELECT rule_id AS rule, max(rule_name) AS name, count(*) AS count FROM alerts WHERE ts >= ? AND ts <= ? GROUP BY rule_id ORDER BY count DESC, rule LIMIT 50')
      .all(range.from.getTime(), range.to.getTime()) as { rule: string; name: string; count: number }[];
  }

  private ranged(q: { where: string; params: (string | number)[] }, range: { from?: Date; to?: Date }) {
    const parts = [`(${q.where})`];
    const params = [...q.params];
    const [lo, hi] = rowidRange(range.from?.getTime(), range.to?.getTime());
    parts.push('e.rowid >= ? AND e.rowid < ?') && params.push(lo, hi);
    if (range.from) parts.push('ts >= ?') && params.push(range.from.getTime());
    if (range.to) parts.push('ts <= ?') && params.push(range.to.getTime());
    return { where: parts.join(' AND '), params };
  }

  close(): void {
    this.db?.close();
    this.db = null;
  }
}

/** Change alerts' status through this process's writer, or a writer of our own (the console run alone). */
export async function changeAlertStatus(config: Config, ids: string[], status: AlertStatus, by: string, note?: string): Promise<StatusChange[]> {
  if (!ALERT_STATUSES.includes(status)) throw new TrailwatchError('TW_BAD_REQUEST', `unknown status ${status}`);
  const path = storePath(config);
  return (await request(config, path, { op: 'status', ids, status, by, note, at: Date.now() })).changed ?? [];
}

/** A request to this process's writer of the store, or to a writer of our own for it. */
async function request(config: Config, path: string, req: StoreRequest): Promise<StoreReply & { ok: true }> {
  const live = activeWriter(path);
  if (live) return live.request(req);
  const own = new StoreWriter(path, config.store.synchronous);
  try {
    await own.open();
    return await own.request(req);
  } finally {
    await own.close();
  }
}

/** Retention: by age (retention_days), then by size (max_bytes). */
export async function retainStore(config: Config, now = Date.now()): Promise<{ events: number; alerts: number }> {
  const path = storePath(config);
  if (!storeEnabled(config) || !existsSync(path)) return { events: 0, alerts: 0 };
  const days = config.store.retention_days;
  const req: StoreRequest = { op: 'retain', cutoffMs: days ? now - days * 86_400_000 : null, maxBytes: config.store.max_bytes };
  return (await request(config, path, req)).deleted ?? { events: 0, alerts: 0 };
}

/**
 * `sink.store`: the writer thread, which stores the events the file sink
 * writes to <data_dir>/events (indexer.ts: on disk, a burst waits for the
 * store instead of holding ingest), and the alerts topic, a batch per
 * transaction (the bus holds a batch the store cannot write).
 */
export function createStoreSinkStage(ctx: StageContext): Stage {
  const path = storePath(ctx.config);
  const written = ctx.metrics.counter('trailwatch_sink_written_events_total', 'Events and alerts written by a sink.', ['sink', 'kind']);
  const writeErrors = ctx.metrics.counter('trailwatch_sink_write_errors_total', 'Batches a sink could not write (retried until written).', ['sink', 'kind']);
  const bytes = ctx.metrics.gauge('trailwatch_store_bytes', 'Live bytes of the embedded store (pages in use).', []);
  const lag = ctx.metrics.gauge('trailwatch_store_lag_bytes', 'Bytes of the event files the store has not stored yet.', []);
  const unreadable = ctx.metrics.counter('trailwatch_store_unreadable_lines_total', 'Lines of the event files that were not an event (torn by a failed write; the event is written again whole), or files removed before they were stored.', []);
  let writer: StoreWriter | undefined;
  let alertError: string | null = null;
  let indexError: string | null = null;
  let lagBytes = 0;
  let sizeTimer: NodeJS.Timeout | undefined;
  const subs: { stop(): Promise<void> }[] = [];
  const progress = (p: IndexProgress) => {
    if (p.error !== null) {
      if (indexError === null) ctx.log.error({ err: p.error, path }, 'store cannot write; events wait in the event files until it can');
      indexError = p.error;
      writeErrors.inc({ sink: 'store', kind: 'event' });
      return;
    }
    if (indexError !== null) ctx.log.info('store writes again');
    indexError = null;
    if (p.events) written.inc({ sink: 'store', kind: 'event' }, p.events);
    if (p.unreadable) unreadable.inc({}, p.unreadable);
    for (const what of p.skipped) ctx.log.warn({ what }, 'event file part not stored: not a whole event, or removed by retention first');
    lagBytes = p.lagBytes;
    lag.set({}, lagBytes);
  };
  const checkSize = async () => {
    try {
      const r = await writer!.request({ op: 'retain', cutoffMs: null, maxBytes: ctx.config.store.max_bytes });
      if (r.bytes !== undefined) bytes.set({}, r.bytes);
      if (r.deleted?.events) ctx.log.warn({ deleted: r.deleted.events, max_bytes: ctx.config.store.max_bytes }, 'store over store.max_bytes: oldest events deleted');
    } catch (err) {
      ctx.log.warn({ err: errorMessage(err) }, 'store size check failed');
    }
  };
  return {
    name: 'sink.store',
    async start() {
      writer = new StoreWriter(path, ctx.config.store.synchronous, { dir: join(ctx.config.data_dir, 'events'), nice: ctx.config.store.nice, progress });
      try {
        await writer.open();
      } catch (err) {
        await writer.close();
        throw new TrailwatchError('TW_STORE_OPEN', `store.path ${path}: cannot open the store: ${errorMessage(err)}`);
      }
      if (writer.movedAside) ctx.log.warn({ path, moved_to: writer.movedAside }, 'store file from an older build moved aside; a new store starts (its events are in the NDJSON files)');
      writers.set(path, writer);
      subs.push(
        await ctx.bus.subscribe({
          topics: [ctx.topics.alerts],
          group: 'sink-store',
          handler: async (batch) => {
            const docs = batch.map((m) => m.value as TwEvent);
            try {
              await writer!.write('alert', docs);
            } catch (err) {
              if (alertError === null) ctx.log.error({ err: errorMessage(err) }, 'store cannot write alerts; holding them until it can');
              alertError = errorMessage(err);
              writeErrors.inc({ sink: 'store', kind: 'alert' });
              throw err;
            }
            if (alertError !== null) ctx.log.info('store writes alerts again');
            alertError = null;
            written.inc({ sink: 'store', kind: 'alert' }, docs.length);
          },
        }),
      );
      sizeTimer = setInterval(() => void checkSize(), 60_000);
      sizeTimer.unref();
      void checkSize();
    },
    async stop() {
      if (sizeTimer) clearInterval(sizeTimer);
      for (const s of subs) await s.stop();
      writers.delete(path);
      await writer?.close();
    },
    health: () => ({ ok: alertError === null && indexError === null, lastError: alertError ?? indexError, path, lag_bytes: lagBytes }),
  };
}
