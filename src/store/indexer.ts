// The store indexes the file sink's event files; it is not handed events.
// The NDJSON files are the store's journal (as Graylog's disk journal is its
// indexer's): ingest writes them at its own pace, and the writer thread reads
// what was appended, a chunk at a time, and stores it in one transaction with
// its place in the files (store_cursor), so a restart or a kill -9 goes on
// from the last committed chunk, and nothing is stored twice (events are
// unique by id anyway). A burst faster than the store is kept on disk, not in
// memory, and is stored once the burst is over; the thread runs at a lower
// CPU priority (store.nice) so that it does not slow ingest down.
//
// Files are <dir>/events-YYYY-MM-DD[.N].ndjson, written in that order; only
// the newest one grows. Only whole lines are read. A file the file sink cut
// back after a failed write is read again from a line start (what was stored
// from it stays, once). A line that is not a JSON object (a tail torn by a
// full disk) is counted and skipped: its event is written again whole.
import { closeSync, fstatSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from 'better-sqlite3';
import type { TwEvent } from '../event.js';
import { rotatedName } from '../sinks/file.js';
import { addRow, type RowBatch } from './schema.js';

/** Bytes read (and stored in one transaction) per step. */
const CHUNK = 2 * 1024 * 1024;
/** A line longer than this has no end we wait for: it is skipped as unreadable. */
const MAX_LINE = 64 * 1024 * 1024;

interface EventFile {
  name: string;
  day: string;
  n: number;
}

function order(a: EventFile, b: EventFile): number {
  return a.day < b.day ? -1 : a.day > b.day ? 1 : a.n - b.n;
}

function parseName(name: string): EventFile | null {
  const r = rotatedName(name);
  return r && r.stream === 'events' ? { name, day: r.day, n: r.n } : null;
}

/** The event files in the order they were written. */
function eventFiles(dir: string): EventFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .map(parseName)
    .filter((f): f is EventFile => f !== null)
    .sort(order);
}

export interface IndexStep {
  /** Events stored by this step (new ones; one already stored is not counted). */
  events: number;
  /** Lines that were not a JSON object. */
  unreadable: number;
  /** Files (or parts) gone before they were stored: removed by retention, or a torn tail. */
  skipped: string[];
  /** Bytes of the files not yet read. */
  lagBytes: number;
  /** Whether more is waiting right now. */
  more: boolean;
}

type WriteEvents = (batches: RowBatch[]) => number[];

export function createIndexer(db: Database, dir: string, writeEvents: WriteEvents) {
  const getCursor = db.prepare("SELECT file, offset FROM store_cursor WHERE name = 'events'");
  const setCursor = db.prepare("INSERT INTO store_cursor(name, file, offset) VALUES ('events', ?, ?) ON CONFLICT(name) DO UPDATE SET file = excluded.file, offset = excluded.offset");
  const commit = db.transaction((batch: RowBatch, file: string, offset: number) => {
    const n = batch.docs.length ? writeEvents([batch])[0] : 0;
    setCursor.run(file, offset);
    return n;
  });

  let cursor = getCursor.get() as { file: string; offset: number } | undefined;
  if (!cursor) {
    // A new store starts where the files end now: what is already in them was
    // written before there was a store (it stays searchable with jq). Sinks
    // start before sources, so nothing newer is there yet.
    const last = eventFiles(dir).at(-1);
    cursor = last ? { file: last.name, offset: sizeOf(join(dir, last.name)) } : { file: '', offset: 0 };
    setCursor.run(cursor.file, cursor.offset);
  }

  /** Read one chunk on from the cursor and store it. */
  function step(): IndexStep {
    const out: IndexStep = { events: 0, unreadable: 0, skipped: [], lagBytes: 0, more: false };
    const files = eventFiles(dir);
    let i = files.findIndex((f) => f.name === cursor!.file);
    if (i < 0) {
      const at = parseName(cursor!.file);
      i = at ? files.findIndex((f) => order(f, at) > 0) : files.length ? 0 : -1;
      if (i < 0) return out;
      if (at) out.skipped.push(`${cursor!.file} (removed before it was stored, from byte ${cursor!.offset})`);
      move(files[i].name, 0);
    }
    const path = join(dir, files[i].name);
    const later = files.slice(i + 1).reduce((s, f) => s + sizeOf(join(dir, f.name)), 0);
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      let offset = lineStart(fd, Math.min(cursor!.offset, size));
      out.lagBytes = size - offset + later;
      if (offset >= size) {
        if (i === files.length - 1) return out;
        move(files[i + 1].name, 0); // a finished file: the file sink writes only to the newest
        out.more = true;
        return out;
      }
      let buf = read(fd, offset, Math.min(CHUNK, size - offset));
      let end = buf.lastIndexOf(10);
      while (end < 0 && buf.length < size - offset && buf.length < MAX_LINE) {
        buf = read(fd, offset, Math.min(buf.length * 4, size - offset, MAX_LINE));
        end = buf.lastIndexOf(10);
      }
      if (end < 0) {
        // No line end: a line still being written, a torn tail in a file that
        // is finished, or a line past MAX_LINE.
        if (i < files.length - 1 || buf.length >= MAX_LINE) {
          out.skipped.push(`${files[i].name} bytes ${offset}-${offset + buf.length} (no line end)`);
          out.unreadable++;
          offset += buf.length;
          if (i < files.length - 1 && offset >= size) move(files[i + 1].name, 0);
          else move(files[i].name, offset);
          out.more = true;
        }
        return out;
      }
      const batch: RowBatch = { docs: [], cols: [] };
      for (let s = 0; s <= end; ) {
        const e = buf.indexOf(10, s);
        if (e > s) {
          const line = buf.toString('utf8', s, e);
          const ev = parse(line);
          if (ev) addRow(batch, ev.event?.id ? ev : { ...ev, event: { ...(ev.event ?? {}), id: `${files[i].name}:${offset + s}` } }, line);
          else out.unreadable++;
        }
        s = e + 1;
      }
      const next = offset + end + 1;
      out.events = commit(batch, files[i].name, next);
      cursor = { file: files[i].name, offset: next };
      out.lagBytes -= end + 1;
      out.more = next < size || i < files.length - 1;
      return out;
    } finally {
      closeSync(fd);
    }
  }

  function move(file: string, offset: number): void {
    setCursor.run(file, offset);
    cursor = { file, offset };
  }

  return { step };
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function read(fd: number, at: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, at + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

/** The start of the line that holds `offset` (the offset itself when a line starts there). */
function lineStart(fd: number, offset: number): number {
  if (offset === 0 || read(fd, offset - 1, 1)[0] === 10) return offset;
  let at = offset;
  while (at > 0) {
    const from = Math.max(0, at - 65536);
    const buf = read(fd, from, at - from);
    const nl = buf.lastIndexOf(10);
    if (nl >= 0) return from + nl + 1;
    at = from;
  }
  return 0;
}

function parse(line: string): TwEvent | null {
  try {
    const v = JSON.parse(line) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as TwEvent) : null;
  } catch {
    return null;
  }
}
