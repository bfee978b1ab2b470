// Reading replay's input: lines out of a text stream, and a first look at a
// file to learn how far back in time its lines ever go (replay then holds
// only that much lateness in its windows instead of the live default).
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { SyslogParser, type Receipt } from '../ingest/syslog/parse.js';
import { monthAt, TimestampReader } from '../ingest/syslog/timestamp.js';

/** Read size: below V8's large-object size, so chunks (and the lines sliced from them) die young. */
export const READ_CHUNK = 64 * 1024;

/**
 * Split a text stream into lines (LF or CRLF; a last line without LF counts).
 * `take` returns true when `flush` must be awaited before the next line;
 * `stop` is asked once per chunk.
 */
export async function eachLine(stream: Readable, take: (line: string) => boolean, flush: () => Promise<void>, stop?: () => boolean): Promise<void> {
  // Per chunk, with the stream's own backpressure (readline's async iterator
  // reads ahead without bound and costs a promise per line). A line that spans
  // two chunks is joined on its own: joining the whole remainder to the next
  // chunk copied every chunk once more.
  stream.setEncoding('utf8');
  let rest = '';
  for await (const chunk of stream as AsyncIterable<string>) {
    let nl = chunk.indexOf('\n');
    if (nl < 0) {
      rest += chunk;
      continue;
    }
    if (take(trimCr(rest ? rest + chunk.slice(0, nl) : chunk.slice(0, nl)))) await flush();
    let start = nl + 1;
    while ((nl = chunk.indexOf('\n', start)) >= 0) {
      if (take(nl > start && chunk.charCodeAt(nl - 1) === 13 ? chunk.slice(start, nl - 1) : chunk.slice(start, nl))) await flush();
      start = nl + 1;
    }
    rest = chunk.slice(start);
    if (stop?.()) return;
  }
  if (rest) take(trimCr(rest));
}

function trimCr(line: string): string {
  return line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line;
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
export async function timeRegression(path: string, year: (month: number) => number, cap: number, startTime: string): Promise<number | null> {
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
  const stream = createReadStream(path, { highWaterMark: READ_CHUNK });
  await eachLine(stream, take, async () => {}, () => unsure || worst >= cap);
  stream.destroy();
  if (unsure) return null;
  return Math.min(worst, cap);
}
