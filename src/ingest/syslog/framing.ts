// RFC 6587 framing of a TCP/TLS byte stream, detected per connection:
// octet counting ("123 <msg>") when the stream starts with a non-zero digit,
// otherwise non-transparent framing (LF or NUL terminated). Frames over the
// size limit are cut (at a UTF-8 boundary) and flagged; the rest of such a
// frame is skipped, and counted.
//
// Broken octet counts, and how the stream gets back in step:
// - A count over the limit may be honest (an oversized message) or bogus
//   ("999999999 "). Its body is read as usual (the first max bytes kept) while
//   watching for the start of a later frame: a plausible header "NNN <PRI>"
//   (1-9 digits not preceded by a digit, NNN at most the limit, PRI 0-191) or
//   "<PRI>" right after an LF. Found before the count runs out: the count was
//   bogus; the body so far is one frame tagged truncated, the header and the
//   bytes past the limit are counted as skipped, and framing resumes there
//   (octet counting, or LF lines until the next plausible header). Not found:
//   the count was honest and the stream is in step where it ends. A bogus
//   count costs the bytes up to the next frame start, never the connection.
// - A header that is not a number: if no good count came before it (an LF
//   stream starting with a digit, "2024-01-15T..."), the connection is LF
//   framed from there on. After good counts, the bytes are read as LF lines
//   until the next plausible header, where octet counting resumes.
// A valid frame is lost (its bytes then end up inside another frame) only
// when the garbage before it itself looks like a header.

import { isAscii } from 'node:buffer';

const LF = 10;
const CR = 13;
const NUL = 0;
const SPACE = 32;
const LT = 60;
const GT = 62;

const UNKNOWN = 0;
const OCTET = 1;
const NONTRANSPARENT = 2;
// LF lines after a bad count, watching for the next plausible header.
const RESYNC = 3;

// What a look at the bytes says: a match, none, or the bytes end too soon to tell.
const FOUND = 1;
const NO = 0;
const MORE = -1;

// Kinds of frame start found while resynchronising.
const HEADER = 1;
const LINES = 2;
const PARTIAL = 3;

interface Start {
  at: number;
  kind: number;
}

export class Framer {
  /** Frames decoded since the last `take()`, with the indexes of truncated ones. */
  lines: string[] = [];
  truncated: number[] = [];
  // Tallies for the listener's metrics; it zeroes them (and `noted`) after reading.
  /** Headers that were not a number. */
  badCounts = 0;
  /** Counts over the limit that a later frame start proved bogus. */
  bogusCounts = 0;
  /** Bytes past max_message_bytes of a frame or line (honest but too long). */
  skippedTooLong = 0;
  /** Bytes of bogus counts: the header, and the body past the limit. */
  skippedBogus = 0;
  /** One of the tallies moved. */
  noted = false;
  private mode = UNKNOWN;
  // Bytes of the frame in progress that arrived in earlier chunks.
  private parts: Buffer[] = [];
  private partLen = 0;
  // LF mode: the current line went past the limit; skip to its end.
  private skipping = false;
  // Octet mode: the length being read, then the body bytes still to come.
  private lenAcc = 0;
  private lenDigits = 0;
  private headerLen = 0;
  private need = -1;
  // The count being read is over the limit (honest or bogus: see the top).
  private over = false;
  private overSkipped = 0;
  // A good count was read on this connection (a bad one after it is garbage, not LF framing).
  private counted = false;
  // While resynchronising: the byte before the next one is a digit; the end of
  // the last chunk that may begin a frame start (kept for the next chunk); the
  // connection closed (no more bytes to wait for).
  private prevDigit = false;
  private tail: Buffer | null = null;
  private final = false;
  // The chunk being framed and, when it is all ASCII (the usual case), its
  // text: frames are then slices of one string instead of one decode each.
  private chunk: Buffer | null = null;
  private chunkText: string | null = null;

  constructor(private readonly maxBytes: number) {}

  get framing(): 'octet-counting' | 'non-transparent' | 'unknown' {
    return this.mode === OCTET ? 'octet-counting' : this.mode === UNKNOWN ? 'unknown' : 'non-transparent';
  }

  /** The sender is in the middle of a frame (bytes of it are held or skipped). */
  get midFrame(): boolean {
    return this.partLen > 0 || this.need >= 0 || this.lenDigits > 0 || this.skipping || this.tail !== null;
  }

  push(chunk: Buffer): void {
    if (this.mode === UNKNOWN) {
      if (!chunk.length) return;
      const c = chunk[0];
      this.mode = c >= 49 && c <= 57 ? OCTET : NONTRANSPARENT;
    }
    if (this.tail !== null) {
      chunk = Buffer.concat([this.tail, chunk]);
      this.tail = null;
    }
    this.chunk = chunk;
    this.chunkText = chunk.length >= 1024 && isAscii(chunk) ? chunk.toString('latin1') : null;
    let pos = 0;
    while (pos < chunk.length) {
      if (this.mode === OCTET) pos = this.pushOctet(chunk, pos);
      else if (this.mode === RESYNC) pos = this.pushResync(chunk, pos);
      else {
        this.pushLines(chunk, pos, chunk.length);
        break;
      }
    }
    this.chunk = this.chunkText = null;
  }

  /** The connection closed: whatever is held becomes a last frame (flagged truncated if a count said more was due). */
  end(): void {
    if (this.tail !== null) {
      const t = this.tail;
      this.tail = null;
      this.final = true;
      this.push(t);
    }
    if (this.mode === OCTET) {
      if (this.over) this.endOver(false);
      else if (this.need >= 0) {
        if (this.partLen > 0) this.emitParts(null, 0, 0, true);
      } else if (this.lenDigits > 0) {
        this.lines.push(this.digits());
      }
    } else if (this.partLen > 0 && !this.skipping) this.emitParts(null, 0, 0, false);
    this.parts = [];
    this.partLen = 0;
    this.need = -1;
    this.lenDigits = 0;
    this.skipping = false;
  }

  take(): void {
    this.lines = [];
    this.truncated = [];
  }

  private pushOctet(chunk: Buffer, pos: number): number {
    const len = chunk.length;
    while (pos < len) {
      if (this.need < 0) {
        const c = chunk[pos];
        if (c >= 48 && c <= 57 && this.lenDigits < 9 && (c !== 48 || this.lenDigits > 0)) {
          this.lenAcc = this.lenAcc * 10 + c - 48;
          this.lenDigits++;
          pos++;
          continue;
        }
        if (c === SPACE && this.lenDigits > 0) {
          this.need = this.lenAcc;
          this.headerLen = this.lenDigits + 1;
          this.lenAcc = 0;
          this.lenDigits = 0;
          this.over = this.need > this.maxBytes;
          if (this.over) this.prevDigit = false;
          else this.counted = true;
          pos++;
          continue;
        }
        // Some senders end octet-counted frames with a newline too.
        if ((c === LF || c === CR || c === NUL) && this.lenDigits === 0) {
          pos++;
          continue;
        }
        this.badHeader();
        return pos;
      }
      if (this.over) {
        pos = this.overBody(chunk, pos);
        if (this.mode !== OCTET) return pos;
        continue;
      }
      const avail = len - pos;
      if (avail < this.need) {
        this.hold(chunk.subarray(pos, len));
        this.need -= avail;
        return len;
      }
      const end = pos + this.need;
      this.need = -1;
      if (this.partLen === 0) this.emitSlice(chunk, pos, end);
      else this.emitParts(chunk, pos, end, false);
      pos = end;
    }
    return pos;
  }

  /** Not a count: LF framing from here (no good count yet), or garbage until the next plausible header. */
  private badHeader(): void {
    this.badCounts++;
    this.noted = true;
    this.mode = this.counted ? RESYNC : NONTRANSPARENT;
    this.prevDigit = this.lenDigits > 0;
    if (this.lenDigits > 0) this.hold(Buffer.from(this.digits(), 'latin1'));
    this.lenDigits = 0;
    this.lenAcc = 0;
  }

  /** Body bytes of a count over the limit, up to the count's end or a frame start (see the top). */
  private overBody(chunk: Buffer, pos: number): number {
    const len = chunk.length;
    const end = len - pos > this.need ? pos + this.need : len;
    const s = frameStart(chunk, pos, end, this.prevDigit, this.maxBytes, true, end === len && !this.final);
    const stop = s ? s.at : end;
    this.holdBody(chunk, pos, stop);
    this.need -= stop - pos;
    if (stop > pos) this.prevDigit = isDigit(chunk[stop - 1]);
    if (!s) {
      if (this.need === 0) this.endOver(false);
      return end;
    }
    if (s.kind === PARTIAL) {
      this.tail = Buffer.from(chunk.subarray(stop));
      return len;
    }
    this.endOver(true);
    if (s.kind === LINES) this.mode = RESYNC;
    return stop;
  }

  /** The over-limit frame ends: the count ran out (honest) or a frame start came first (bogus). */
  private endOver(bogus: boolean): void {
    if (bogus) {
      this.bogusCounts++;
      this.skippedBogus += this.headerLen + this.overSkipped;
    } else this.skippedTooLong += this.overSkipped;
    this.noted = true;
    this.over = false;
    this.overSkipped = 0;
    this.need = -1;
    if (this.partLen > 0) this.emitParts(null, 0, 0, true);
  }

  /** Garbage after a bad count: LF lines up to the next plausible header. */
  private pushResync(chunk: Buffer, pos: number): number {
    const len = chunk.length;
    const s = frameStart(chunk, pos, len, this.prevDigit, this.maxBytes, false, !this.final);
    const stop = s ? s.at : len;
    if (stop > pos) {
      this.pushLines(chunk, pos, stop);
      this.prevDigit = isDigit(chunk[stop - 1]);
    }
    if (!s) return len;
    if (s.kind === PARTIAL) {
      this.tail = Buffer.from(chunk.subarray(stop));
      return len;
    }
    // Back in step: the garbage line in progress ends here.
    if (this.partLen > 0 && !this.skipping) this.emitParts(null, 0, 0, false);
    this.skipping = false;
    this.mode = OCTET;
    return stop;
  }

  private digits(): string {
    return String(this.lenAcc).padStart(this.lenDigits, '0');
  }

  /** Keep body bytes of an over-limit frame, up to the limit; count the rest. */
  private holdBody(chunk: Buffer, start: number, end: number): void {
    const room = Math.max(0, this.maxBytes - this.partLen);
    if (end - start > room) {
      this.overSkipped += end - start - room;
      end = start + room;
    }
    if (end > start) this.hold(chunk.subarray(start, end));
  }

  private hold(b: Buffer): void {
    // Copy: a view would pin the whole (64 KiB) socket chunk.
    this.parts.push(Buffer.from(b));
    this.partLen += b.length;
  }

  private skip(n: number): void {
    this.skippedTooLong += n;
    this.noted = true;
  }

  /** Lines of chunk[pos, stop). */
  private pushLines(chunk: Buffer, pos: number, stop: number): void {
    let nul = indexIn(chunk, NUL, pos, stop);
    while (pos < stop) {
      let end = indexIn(chunk, LF, pos, stop);
      if (nul >= 0 && nul < pos) nul = indexIn(chunk, NUL, pos, stop);
      if (nul >= 0 && (end < 0 || nul < end)) end = nul;
      if (end < 0) {
        if (this.skipping) this.skip(stop - pos);
        else {
          this.hold(chunk.subarray(pos, stop));
          if (this.partLen > this.maxBytes) {
            this.emitParts(null, 0, 0, true);
            this.skipping = true;
          }
        }
        return;
      }
      if (this.skipping) {
        this.skip(end - pos);
        this.skipping = false;
      } else if (this.partLen) this.emitParts(chunk, pos, end, false);
      else this.emitSlice(chunk, pos, end);
      pos = end + 1;
    }
  }

  /** Emit held parts plus chunk[start,end) as one frame. */
  private emitParts(chunk: Buffer | null, start: number, end: number, truncated: boolean): void {
    if (chunk && end > start) this.parts.push(chunk.subarray(start, end));
    const buf = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
    this.parts = [];
    this.partLen = 0;
    this.emitSlice(buf, 0, buf.length, truncated);
  }

  private emitSlice(buf: Buffer, start: number, end: number, truncated = false): void {
    // A trailing newline is framing, not content (rsyslog's protocol-23 template ends in LF
    // even when octet counting; rsyslog drops it on reception too).
    if (end > start && buf[end - 1] === LF && this.mode === OCTET) end--;
    if (end > start && buf[end - 1] === CR) end--;
    if (end - start > this.maxBytes) {
      const cut = cutUtf8(buf, start, start + this.maxBytes);
      this.skip(end - cut);
      end = cut;
      truncated = true;
    }
    if (end <= start && !truncated) return; // empty line between frames: not a message
    if (truncated) this.truncated.push(this.lines.length);
    this.lines.push(buf === this.chunk && this.chunkText !== null ? this.chunkText.slice(start, end) : buf.toString('utf8', start, end));
  }
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** indexOf bounded by stop (a view only when stop is short of the end, so the LF path stays one call). */
function indexIn(buf: Buffer, byte: number, pos: number, stop: number): number {
  if (stop === buf.length) return buf.indexOf(byte, pos);
  const i = buf.subarray(pos, stop).indexOf(byte);
  return i < 0 ? -1 : pos + i;
}

/** "<PRI>" at buf[i] (PRI 0-191). */
function priAt(buf: Buffer, i: number, end: number): number {
  if (i >= end) return MORE;
  if (buf[i] !== LT) return NO;
  let p = 0;
  for (let k = 0; ; k++) {
    const j = i + 1 + k;
    if (j >= end) return MORE;
    const c = buf[j];
    if (c === GT) return k > 0 && p <= 191 ? FOUND : NO;
    if (k === 3 || !isDigit(c)) return NO;
    p = p * 10 + c - 48;
  }
}

/** "NNN <PRI>" at buf[i], buf[i] a digit 1-9: NNN 1-9 digits, at most max. */
function headerAt(buf: Buffer, i: number, end: number, max: number): number {
  let n = 0;
  let j = i;
  for (; j < end && isDigit(buf[j]); j++) {
    if (j - i === 9) return NO;
    n = n * 10 + buf[j] - 48;
  }
  if (j >= end) return MORE;
  if (buf[j] !== SPACE || n > max) return NO;
  return priAt(buf, j + 1, end);
}

/**
 * The first frame start in buf[from, end): a plausible header, or (lines)
 * "<PRI>" after an LF; or, when canWait, where the bytes may yet become one.
 */
function frameStart(buf: Buffer, from: number, end: number, prevDigit: boolean, max: number, lines: boolean, canWait: boolean): Start | null {
  for (let i = from; i < end; i++) {
    const c = buf[i];
    if (c >= 49 && c <= 57) {
      if (i === from ? prevDigit : isDigit(buf[i - 1])) continue;
      const r = headerAt(buf, i, end, max);
      if (r === FOUND) return { at: i, kind: HEADER };
      if (r === MORE && canWait) return { at: i, kind: PARTIAL };
    } else if (lines && c === LF) {
      const r = priAt(buf, i + 1, end);
      if (r === FOUND) return { at: i + 1, kind: LINES };
      if (r === MORE && canWait) return { at: i, kind: PARTIAL };
    }
  }
  return null;
}

/** Back off `end` so it does not split a UTF-8 sequence (at most 3 bytes). */
export function cutUtf8(buf: Buffer, start: number, end: number): number {
  let e = end;
  while (e > start && end - e < 3 && (buf[e] & 0xc0) === 0x80) e--;
  return (buf[e] & 0xc0) === 0x80 ? end : e;
}
