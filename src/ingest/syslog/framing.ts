// RFC 6587 framing of a TCP/TLS byte stream, detected per connection:
// octet counting ("123 <msg>") when the stream starts with a non-zero digit,
// otherwise non-transparent framing (LF or NUL terminated). Frames over the
// size limit are cut (at a UTF-8 boundary) and flagged; the rest of such a
// frame is skipped. A broken octet count switches the connection to LF
// framing with the bytes kept, so nothing is lost.

import { isAscii } from 'node:buffer';

const LF = 10;
const CR = 13;
const NUL = 0;
const SPACE = 32;

const UNKNOWN = 0;
const OCTET = 1;
const NONTRANSPARENT = 2;

export class Framer {
  /** Frames decoded since the last `take()`, with the indexes of truncated ones. */
  lines: string[] = [];
  truncated: number[] = [];
  /** Octet counts that were not numbers (the connection fell back to LF framing). */
  framingErrors = 0;
  private mode = UNKNOWN;
  // Bytes of the frame in progress that arrived in earlier chunks.
  private parts: Buffer[] = [];
  private partLen = 0;
  // LF mode: the current line went past the limit; skip to its end.
  private skipping = false;
  // Octet mode: the length being read, then the body bytes still to come.
  private lenAcc = 0;
  private lenDigits = 0;
  private need = -1;
  private over = false;
  // The chunk being framed and, when it is all ASCII (the usual case), its
  // text: frames are then slices of one string instead of one decode each.
  private chunk: Buffer | null = null;
  private chunkText: string | null = null;

  constructor(private readonly maxBytes: number) {}

  get framing(): 'octet-counting' | 'non-transparent' | 'unknown' {
    return this.mode === OCTET ? 'octet-counting' : this.mode === NONTRANSPARENT ? 'non-transparent' : 'unknown';
  }

  push(chunk: Buffer): void {
    let pos = 0;
    if (this.mode === UNKNOWN) {
      if (!chunk.length) return;
      const c = chunk[0];
      this.mode = c >= 49 && c <= 57 ? OCTET : NONTRANSPARENT;
    }
    this.chunk = chunk;
    this.chunkText = chunk.length >= 1024 && isAscii(chunk) ? chunk.toString('latin1') : null;
    if (this.mode === OCTET) pos = this.pushOctet(chunk, pos);
    if (pos < chunk.length && this.mode === NONTRANSPARENT) this.pushLines(chunk, pos);
    this.chunk = this.chunkText = null;
  }

  /** The connection closed: whatever is held becomes a last frame (flagged truncated if a count said more was due). */
  end(): void {
    if (this.mode === OCTET) {
      if (this.need >= 0) {
        if (this.partLen > 0) this.emitParts(null, 0, 0, true);
      } else if (this.lenDigits > 0) {
        this.lines.push(this.digits());
      }
    } else if (this.partLen > 0 && !this.skipping) this.emitParts(null, 0, 0, false);
    this.parts = [];
    this.partLen = 0;
    this.need = -1;
    this.lenDigits = 0;
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
          this.lenAcc = 0;
          this.lenDigits = 0;
          this.over = false;
          pos++;
          continue;
        }
        // Some senders end octet-counted frames with a newline too.
        if ((c === LF || c === CR || c === NUL) && this.lenDigits === 0) {
          pos++;
          continue;
        }
        // Not a count: read the rest of this connection as lines, keeping the digits.
        this.framingErrors++;
        this.mode = NONTRANSPARENT;
        if (this.lenDigits > 0) this.hold(Buffer.from(this.digits(), 'latin1'));
        this.lenDigits = 0;
        this.lenAcc = 0;
        return pos;
      }
      const avail = len - pos;
      if (avail < this.need) {
        this.holdBody(chunk, pos, len);
        this.need -= avail;
        return len;
      }
      const end = pos + this.need;
      this.need = -1;
      if (this.partLen === 0 && !this.over) {
        this.emitSlice(chunk, pos, end);
      } else {
        this.holdBody(chunk, pos, end);
        this.emitParts(null, 0, 0, this.over);
      }
      pos = end;
    }
    return pos;
  }

  private digits(): string {
    return String(this.lenAcc).padStart(this.lenDigits, '0');
  }

  /** Keep body bytes of an incomplete frame, up to the limit. */
  private holdBody(chunk: Buffer, start: number, end: number): void {
    const room = this.maxBytes - this.partLen;
    if (end - start > room) {
      end = start + Math.max(0, room);
      this.over = true;
    }
    if (end > start) this.hold(chunk.subarray(start, end));
  }

  private hold(b: Buffer): void {
    // Copy: a view would pin the whole (64 KiB) socket chunk.
    this.parts.push(Buffer.from(b));
    this.partLen += b.length;
  }

  private pushLines(chunk: Buffer, pos: number): void {
    const len = chunk.length;
    let nul = chunk.indexOf(NUL, pos);
    while (pos < len) {
      let end = chunk.indexOf(LF, pos);
      if (nul >= 0 && nul < pos) nul = chunk.indexOf(NUL, pos);
      if (nul >= 0 && (end < 0 || nul < end)) end = nul;
      if (end < 0) {
        if (!this.skipping) {
          this.hold(chunk.subarray(pos, len));
          if (this.partLen > this.maxBytes) {
            this.emitParts(null, 0, 0, true);
            this.skipping = true;
          }
        }
        return;
      }
      if (this.skipping) this.skipping = false;
      else if (this.partLen) this.emitParts(chunk, pos, end, false);
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
    this.over = false;
    this.emitSlice(buf, 0, buf.length, truncated);
  }

  private emitSlice(buf: Buffer, start: number, end: number, truncated = false): void {
    // A trailing newline is framing, not content (rsyslog's protocol-23 template ends in LF
    // even when octet counting; rsyslog drops it on reception too).
    if (end > start && buf[end - 1] === LF && this.mode === OCTET) end--;
    if (end > start && buf[end - 1] === CR) end--;
    if (end - start > this.maxBytes) {
      end = cutUtf8(buf, start, start + this.maxBytes);
      truncated = true;
    }
    if (end <= start && !truncated) return; // empty line between frames: not a message
    if (truncated) this.truncated.push(this.lines.length);
    this.lines.push(buf === this.chunk && this.chunkText !== null ? this.chunkText.slice(start, end) : buf.toString('utf8', start, end));
  }
}

/** Back off `end` so it does not split a UTF-8 sequence (at most 3 bytes). */
export function cutUtf8(buf: Buffer, start: number, end: number): number {
  let e = end;
  while (e > start && end - e < 3 && (buf[e] & 0xc0) === 0x80) e--;
  return (buf[e] & 0xc0) === 0x80 ? end : e;
}
