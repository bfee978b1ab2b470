// Reading replay's input: lines out of a byte stream in bounded memory (a
// line over the live input's limit is cut as live cuts it, and said so on
// stderr), and a first look at a file to learn how far back in time its
// lines ever go (replay then holds only that much lateness in its windows
// instead of the live default).
import { isAscii } from 'node:buffer';
import { open } from 'node:fs/promises';
import { SyslogParser, type Receipt } from '../ingest/syslog/parse.js';
import { cutUtf8 } from '../ingest/syslog/framing.js';
import { monthAt, TimestampReader } from '../ingest/syslog/timestamp.js';
import type { ReplayFormat } from './replay-journal.js';

/** Read size: below V8's large-object size, so chunks (and the lines sliced from them) die young. */
export const READ_CHUNK = 64 * 1024;
/** syslog.max_message_bytes' default: what the live receiver keeps of a message. */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024;

/** Bytes kept, by what the live input that takes the format keeps; longer lines (journal export: field values) are cut and tagged truncated. */
export interface ReplayLimits {
  /** Syslog lines: syslog.max_message_bytes. */
  syslog: number;
  /** NDJSON records: session_log.max_body_bytes (what POST /v1/session-log takes). */
  ndjson: number;
  /** Journal field values (export) and journal JSON lines: journal.max_field_bytes. */
  journal: number;
  /** Named in notices as the limit's source (e.g. "--max-line-bytes"), instead of the config field. */
  source?: string;
}

export const DEFAULT_LIMITS: ReplayLimits = { syslog: DEFAULT_MAX_LINE_BYTES, ndjson: 8 * 1024 * 1024, journal: 1024 * 1024 };
export const LIMIT_FIELDS: Record<ReplayFormat, string> = {
  syslog: 'syslog.max_message_bytes',
  ndjson: 'session_log.max_body_bytes',
  'journal-export': 'journal.max_field_bytes',
  'journal-json': 'journal.max_field_bytes',
};

const MAX_NOTICES = 10;

/** Notices on stderr: the first few, then how many more. */
export class Notices {
  private count = 0;
  private cuts = 0;
  private skipped = 0;
  constructor(
    readonly where: string,
    readonly limit: string,
    private readonly send: (message: string) => void = (m) => void process.stderr.write(m),
  ) {}

  say(text: string, at?: number): void {
    if (++this.count <= MAX_NOTICES) this.send(`trailwatch replay: ${this.where}${at === undefined ? '' : `:${at}`}: ${text} (${this.limit})\n`);
  }

  /** A line (or entry) cut, `skipped` bytes of it not read into memory. */
  cut(at: number | undefined, text: string, skipped: number): void {
    this.cuts++;
    this.skipped += skipped;
    this.say(text, at);
  }

  end(): void {
    if (this.count > MAX_NOTICES)
      this.send(`trailwatch replay: ${this.where}: ${this.count - MAX_NOTICES} more notices not shown; ${this.cuts} cut in all, ${this.skipped} bytes skipped (${this.limit})\n`);
  }
}

/**
 * A file's bytes in READ_CHUNK pieces, all read into one buffer: a piece is
 * good until the next is asked for (eachLine copies what it keeps). A read
 * stream allocates a buffer per chunk; over a long line those pile up as
 * tens of MB of garbage before the GC takes them.
 */
export async function* fileChunks(path: string): AsyncGenerator<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafeSlow(READ_CHUNK);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, READ_CHUNK, null);
      if (!bytesRead) return;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

export interface LineLimit {
  /** The longest line kept, in bytes without its LF or CRLF: a longer one is cut there (at a UTF-8 boundary), the rest skipped. */
  maxBytes: number;
  /** A line was cut, once it has ended: its number (1-based), the bytes kept, and all its bytes (without the LF or CRLF). */
  onCut?(line: number, kept: number, total: number): void;
}

/**
 * Split a byte stream into lines (LF or CRLF; a last line without LF counts),
 * as UTF-8 text. `take` returns true when `flush` must be awaited before the
 * next line; its `cut` says the line was longer than the limit and is only
 * its first `maxBytes` bytes (as the syslog framer cuts, so replay gives the
 * event the live receiver gives). `stop` is asked once per chunk.
 */
export async function eachLine(
  stream: AsyncIterable<Buffer | string>,
  take: (line: string, cut: boolean, lineNo: number) => boolean,
  flush: () => Promise<void>,
  limit: LineLimit = { maxBytes: DEFAULT_MAX_LINE_BYTES },
  stop?: () => boolean,
): Promise<void> {
  // Per chunk, with the stream's own backpressure (readline's async iterator
  // reads ahead without bound and costs a promise per line). Lines are found
  // in the chunk's latin1 text (one char per byte, so lengths are bytes) and
  // sliced from it when the chunk is ASCII, decoded from the bytes when not.
  // A line that spans chunks is held as bytes, at most maxBytes + 1 of them:
  // past that it is taken cut and the rest counted, never kept.
  const max = limit.maxBytes;
  let held: Buffer[] = [];
  let heldLen = 0;
  let cutting = false;
  let cutKept = 0;
  let cutTotal = 0;
  /** While cutting: the last byte read was a CR (not counted if an LF follows). */
  let cutCr = false;
  let n = 0;
  /** A line made of held bytes and buf[0, end): taken whole, or cut. */
  const takeBytes = (buf: Buffer, end: number): boolean => {
    n++;
    let len = end;
    if (len > 0 && buf[len - 1] === 13) len--;
    if (len <= max) return take(buf.toString('utf8', 0, len), false, n);
    return takeCut(buf, 0, len, true);
  };
  /** Line n is longer than the limit: its first bytes from buf[from] are taken; reported now if it has ended, else once it does. */
  const takeCut = (buf: Buffer, from: number, total: number, ended: boolean): boolean => {
    const to = cutUtf8(buf, from, from + max);
    const wait = take(buf.toString('utf8', from, to), true, n);
    if (ended) limit.onCut?.(n, to - from, total);
    else {
      cutting = true;
      cutKept = to - from;
      cutTotal = total;
    }
    return wait;
  };
  for await (const data of stream) {
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    let start = 0;
    if (heldLen > 0 || cutting) {
      const nl = chunk.indexOf(10);
      const upTo = nl < 0 ? chunk.length : nl;
      if (cutting) {
        cutTotal += upTo;
        if (nl >= 0) {
          cutting = false;
          limit.onCut?.(n, cutKept, (nl > 0 ? chunk[nl - 1] === 13 : cutCr) ? cutTotal - 1 : cutTotal);
        } else cutCr = chunk[chunk.length - 1] === 13;
      } else if (nl >= 0 || heldLen + upTo > max + 1) {
        // The line ends here, or is already too long to be kept whole.
        const heldCr = held[held.length - 1][held[held.length - 1].length - 1] === 13;
        const buf = Buffer.concat([...held, chunk.subarray(0, Math.min(upTo, max + 1 - heldLen))]);
        let total = heldLen + upTo;
        held = [];
        heldLen = 0;
        if (total > max + 1) {
          // buf holds only the line's first max + 1 bytes.
          n++;
          if (nl >= 0 && (nl > 0 ? chunk[nl - 1] === 13 : heldCr)) total--;
          if (takeCut(buf, 0, total, nl >= 0)) await flush();
          if (nl < 0) cutCr = chunk[chunk.length - 1] === 13;
        } else if (takeBytes(buf, buf.length)) await flush();
      } else {
        held.push(Buffer.from(chunk));
        heldLen += chunk.length;
      }
      if (nl < 0) {
        if (stop?.()) return;
        continue;
      }
      start = nl + 1;
    }
    const text = chunk.toString('latin1');
    const ascii = isAscii(chunk);
    let nl;
    while ((nl = text.indexOf('\n', start)) >= 0) {
      const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      n++;
      if (end - start > max) {
        if (takeCut(chunk, start, end - start, true)) await flush();
      } else if (take(ascii ? text.slice(start, end) : chunk.toString('utf8', start, end), false, n)) await flush();
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.length - start;
      if (rest <= max + 1) {
        held.push(Buffer.from(chunk.subarray(start)));
        heldLen = rest;
      } else {
        n++;
        if (takeCut(chunk, start, rest, false)) await flush();
        cutCr = chunk[chunk.length - 1] === 13;
      }
    }
    if (stop?.()) return;
  }
  if (cutting) limit.onCut?.(n, cutKept, cutCr ? cutTotal - 1 : cutTotal);
  else if (heldLen > 0) takeBytes(Buffer.concat(held), heldLen);
}

const SP = 32;
const COLON = 58;

/** Where the syslog parser's header starts: after a valid `<PRI>` (1-3 digits, <= 191), else 0. */
function headerStart(s: string): number {
  if (s.charCodeAt(0) !== 60 /* < */) return 0;
  let v = 0;
  let i = 1;
  for (; i < 5 && i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 62 /* > */) break;
    if (c < 48 || c > 57) return 0;
    v = v * 10 + c - 48;
  }
  return s.charCodeAt(i) !== 62 || i === 1 || v > 191 ? 0 : i + 1;
}

/**
 * The @timestamp replay's parseLine gives each line, in order, without
 * building events where the line is plain RFC 3164 (the parser itself reads
 * the others). null when it cannot be sure the replay would agree: a `<…>`
 * prefix the parser does not take for a PRI, or a year-less line whose
 * month lies before an earlier line's (the parser's per-second cache is only
 * a pure function of the line while its receipt time never goes back).
 */
export class StampScanner {
  private readonly reader = new TimestampReader('nearest', 'utc');
  private readonly parser = new SyslogParser({ defaultYearFrom: 'nearest', timezone: 'utc' });
  private readonly receipt: Receipt = { nowMs: 0, created: '', input: 'replay', peer: '', peerHost: '' };
  private last: string;
  private lastNow = -Infinity;
  /**
   * The previous line's header up to the end of its time, when it took the
   * plain RFC 3164 path from the line's start (else ''): a line starting with
   * the same text (the lines of one second) has the same @timestamp. Skipping
   * `year` for it is safe: the same month twice in a row leaves a YearTracker
   * as it was.
   */
  private head = '';

  /**
   * `year` must be a fresh twin of the replay's own (same start, same
   * answers); `startTime` the replay's @timestamp for lines before the first
   * one with a time.
   */
  constructor(
    private readonly year: (month: number) => number,
    startTime: string,
  ) {
    this.last = startTime;
  }

  next(line: string): string | null {
    const h = this.head;
    if (h && line.length >= h.length && line.startsWith(h)) {
      const c = line.charCodeAt(h.length);
      if (line.length === h.length || c === SP || c === COLON) return this.last;
    }
    this.head = '';
    // parseLine's own reading of the prefix (replay-parse.ts)…
    let p = 0;
    if (line.charCodeAt(0) === 60) {
      const end = line.indexOf('>');
      if (end > 1 && end < 5) p = end + 1;
    }
    // …must be where the parser starts too.
    if (headerStart(line) !== p) return null;
    const month = monthAt(line, p);
    let nowMs: number;
    if (month > 0) {
      nowMs = Date.UTC(this.year(month - 1), month - 1, 15);
      if (nowMs < this.lastNow) return null;
      this.lastNow = nowMs;
      const r = this.reader;
      if (r.read3164(line, p, nowMs)) {
        const c = line.charCodeAt(r.end);
        if (r.end >= line.length || c === SP || c === COLON) {
          if (p === 0) this.head = line.slice(0, r.end);
          return (this.last = r.iso);
        }
      }
    } else nowMs = Date.parse(this.last);
    this.receipt.nowMs = nowMs;
    this.receipt.created = this.last;
    return (this.last = this.parser.parse(line, this.receipt)['@timestamp']);
  }
}

/**
 * How far back in time the file's lines go, as the rules engine sees them:
 * the most by which a line's @timestamp is older than the latest before it
 * (ms). Stops early, with `cap`, once it reaches `cap`; null when the file
 * cannot be read this way (see StampScanner).
 */
export async function timeRegression(path: string, year: (month: number) => number, cap: number, startTime: string, maxLineBytes = DEFAULT_MAX_LINE_BYTES): Promise<number | null> {
  const scan = new StampScanner(year, startTime);
  let clock = -Infinity;
  let worst = 0;
  let unsure = false;
  let lastStamp = '';
  let lastMs = NaN;
  const take = (line: string): boolean => {
    if (unsure || worst >= cap) return false;
    const stamp = scan.next(line);
    if (stamp === null) {
      unsure = true;
      return false;
    }
    // As the engine does (engine.ts process()): an unreadable time is the clock's.
    if (stamp !== lastStamp) {
      lastStamp = stamp;
      lastMs = Date.parse(stamp);
    }
    let ts = lastMs;
    if (Number.isNaN(ts)) ts = clock === -Infinity ? 0 : clock;
    if (clock - ts > worst) worst = clock - ts;
    if (ts > clock) clock = ts;
    return false;
  };
  await eachLine(fileChunks(path), take, async () => {}, { maxBytes: maxLineBytes }, () => unsure || worst >= cap);
  if (unsure) return null;
  return Math.min(worst, cap);
}
