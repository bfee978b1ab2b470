// Replay of journal exports: `journalctl -o export` (the Journal Export
// Format, what systemd-journal-upload sends) and `journalctl -o json` (one
// JSON object per line), read into the same events the journald receiver
// makes, so a replayed journal gives what the live upload gave. And the
// guess `--format auto` makes from a file's first bytes.
import { openSync, readSync, closeSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { TwEvent } from '../event.js';
import { ExportReader, type JournalEntry } from '../ingest/journal/export-format.js';
import { entryFromJson, journalEvent, type JournalReceipt } from '../ingest/journal/event.js';

export type ReplayFormat = 'syslog' | 'ndjson' | 'journal-export' | 'journal-json';
export const REPLAY_FORMATS: readonly string[] = ['auto', 'syslog', 'ndjson', 'journal-export', 'journal-json'];

const JOURNAL_KEYS = ['__CURSOR', '__REALTIME_TIMESTAMP', '_BOOT_ID', '_HOSTNAME', 'MESSAGE', 'SYSLOG_IDENTIFIER', 'PRIORITY'];

/** What a file holds, from its first line: JSON (journal or ECS), export-format fields, else syslog lines. */
export function detectFormat(head: string): ReplayFormat {
  const start = head.search(/\S/);
  if (start < 0) return 'syslog';
  let nl = head.indexOf('\n', start);
  if (nl < 0) nl = head.length;
  const first = head.slice(start, nl);
  if (first.startsWith('{')) {
    try {
      const o = JSON.parse(first) as Record<string, unknown>;
      if (o && typeof o === 'object' && !('event' in o) && !('@timestamp' in o) && JOURNAL_KEYS.some((k) => k in o)) return 'journal-json';
    } catch {
      // A first line cut at the peek size is still JSON: decide by its keys.
      if (JOURNAL_KEYS.some((k) => first.includes(`"${k}":`)) && !first.includes('"@timestamp":')) return 'journal-json';
    }
    return 'ndjson';
  }
  if (/^[A-Z_][A-Z0-9_]*[=\n]/.test(first + '\n') && JOURNAL_KEYS.some((k) => head.includes(`\n${k}=`) || head.startsWith(`${k}=`, start))) return 'journal-export';
  return 'syslog';
}

/** The first bytes of a file, for detectFormat. */
export function peekFile(path: string, bytes = 4096): string {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(bytes);
    const n = readSync(fd, b, 0, bytes, 0);
    return b.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
}

const receipt: JournalReceipt = { created: '', input: 'replay', peer: '', peerHost: '' };

/** An entry as replay writes it: id from the cursor (as live) or the entry number, no receipt fields. */
export function journalReplayEvent(entry: JournalEntry, id: string, fallbackTime: string): TwEvent {
  receipt.created = fallbackTime;
  const ev = journalEvent(entry, receipt);
  if (!entry.fields.has('__CURSOR')) ev.event.id = id;
  delete ev.event.created;
  if (ev.host && !ev.host.name) delete ev.host;
  if (ev.trailwatch?.input) delete ev.trailwatch.input.peer;
  delete ev.log?.source;
  return ev;
}

/** A `journalctl -o json` line; a line that is not a JSON object is an entry broken with the reason. */
export function entryFromJsonLine(line: string): JournalEntry | undefined {
  if (!line.trim()) return undefined;
  try {
    const o = JSON.parse(line) as unknown;
    if (o && typeof o === 'object' && !Array.isArray(o)) return entryFromJson(o as Record<string, unknown>);
    return { fields: new Map(), error: 'not a JSON object', raw: line };
  } catch (err) {
    return { fields: new Map(), error: `not JSON: ${(err as Error).message}`, raw: line };
  }
}

/**
 * Export-format entries out of a byte stream; `take` returns true when
 * `flush` must be awaited. It also gets the bytes read before and after the
 * chunk that completed the entry: where the entry ends.
 */
export async function eachExportEntry(
  stream: Readable,
  take: (e: JournalEntry, from: number, to: number) => boolean,
  flush: () => Promise<void>,
  maxFieldBytes?: number,
): Promise<void> {
  const reader = new ExportReader(maxFieldBytes);
  let read = 0;
  for await (const data of stream as AsyncIterable<Buffer | string>) {
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    const from = read;
    read += chunk.length;
    let wait = false;
    for (const e of reader.push(chunk)) if (take(e, from, read)) wait = true;
    if (wait) await flush();
  }
  for (const e of reader.end()) take(e, read, read);
}

/**
 * Line numbers of byte offsets in a file, counted forward only when asked
 * (for the few notices that name a line): at most one more read of the file,
 * opened on first use, and only a regular file (a FIFO would lose what it reads).
 */
export class FileLines {
  private fd: number | null = null;
  private pos = 0;
  private line = 1;
  private readonly buf = Buffer.alloc(64 * 1024);

  constructor(private readonly path: string) {}

  /** The line the byte at `offset` is on (offsets asked in order); undefined when the input is not a regular file. */
  at(offset: number): number | undefined {
    if (this.fd === null) {
      if (!statSync(this.path).isFile()) return undefined;
      this.fd = openSync(this.path, 'r');
    }
    while (this.pos < offset) {
      const n = readSync(this.fd, this.buf, 0, Math.min(this.buf.length, offset - this.pos), this.pos);
      if (n <= 0) break;
      for (let i = this.buf.indexOf(10); i >= 0 && i < n; i = this.buf.indexOf(10, i + 1)) this.line++;
      this.pos += n;
    }
    return this.line;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
