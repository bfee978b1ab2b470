// systemd's Journal Export Format (what `systemd-journal-upload` POSTs and
// `journalctl -o export` prints), read incrementally from byte chunks:
//
//   NAME=value\n            a text field
//   NAME\n<le64 size><data>\n a binary field (data may hold newlines or any byte)
//   \n                      the end of an entry
//
// A chunk boundary may fall anywhere. An entry that breaks the format (a bad
// field name, a missing newline after binary data) is not dropped: its bytes
// up to the next blank line come out as a broken entry with the reason, and
// reading goes on from there. Fields longer than `maxFieldBytes` are cut and
// the entry marked truncated; the excess is skipped without being buffered.
import { isAscii as bufferIsAscii } from 'node:buffer';

export interface JournalEntry {
  /** First value of each field (a field may repeat in the journal; later values are in `repeated`). A Map: twice as cheap to fill as an object with computed keys. */
  fields: Map<string, string>;
  /** Later values of repeated fields, when there were any. */
  repeated?: Record<string, string[]>;
  /** Some field was longer than the limit and was cut. */
  truncated?: boolean;
  /** Set when the entry broke the format: why, and its bytes (cut at the limit) as text. */
  error?: string;
  raw?: string;
}

const NL = 10;

/** Node >= 18.15 / 19.6: a native check that a buffer is all ASCII. */
const isAscii: (b: Buffer) => boolean = bufferIsAscii ?? ((b) => b.every((c) => c < 128));

/** Journal field names: [A-Z0-9_], not starting with a digit, at most 64 bytes. */
function validName(b: Buffer, start: number, end: number): boolean {
  if (end <= start || end - start > 64) return false;
  const c0 = b[start];
  if (c0 >= 48 && c0 <= 57) return false;
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (!((c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95)) return false;
  }
  return true;
}

type Mode = 'field' | 'size' | 'data' | 'dataEnd' | 'skipLine' | 'skipData' | 'resync';

export class ExportReader {
  private buf: Buffer = Buffer.alloc(0);
  /**
   * The buffer as latin1 text (one char per byte, so offsets agree): lines
   * are found with string indexOf and names and ASCII values sliced from it,
   * far cheaper per field than Buffer calls. Values in a chunk that is not
   * all ASCII are decoded from the bytes as UTF-8.
   */
  private text = '';
  private ascii = true;
  private pos = 0;
  private mode: Mode = 'field';
  private entry: JournalEntry = { fields: new Map() };
  private hasFields = false;
  private binName = '';
  private binSize = 0;
  /** Bytes still to skip (an over-long binary value). */
  private skip = 0;
  /** Text kept of a broken entry while resynchronizing. */
  private brokenRaw = '';
  private brokenWhy = '';
  /** The byte before the buffer's first one (a blank line may straddle chunks). */
  private lastByte = NL;

  constructor(private readonly maxFieldBytes = 1024 * 1024) {}

  /** Feed one chunk; returns the entries it completed. */
  push(chunk: Buffer): JournalEntry[] {
    const out: JournalEntry[] = [];
    this.load(this.pos < this.buf.length ? Buffer.concat([this.buf.subarray(this.pos), chunk]) : chunk);
    this.run(out);
    return out;
  }

  /**
   * The input ended: the entry in progress, if any, completed (a stream may
   * end without the final blank line), or reported broken when cut mid-field.
   */
  end(): JournalEntry[] {
    const out: JournalEntry[] = [];
    const rest = this.buf.subarray(this.pos);
    this.load(Buffer.alloc(0));
    if (this.mode === 'field' && rest.length) {
      this.load(Buffer.concat([rest, Buffer.from('\n')]));
      this.run(out);
    }
    if (this.mode === 'resync') this.broken(out, this.brokenWhy, rest);
    else if (this.mode === 'size' || this.mode === 'data' || this.mode === 'skipData') {
      this.brokenRaw = this.fieldsText();
      this.broken(out, `input ended inside binary field ${this.binName}`, rest);
    } else this.finish(out);
    this.mode = 'field';
    return out;
  }

  private load(b: Buffer): void {
    this.buf = b;
    this.text = b.toString('latin1');
    this.ascii = isAscii(b);
    this.pos = 0;
  }

  private value(from: number, to: number): string {
    return this.ascii ? this.text.slice(from, to) : this.buf.toString('utf8', from, to);
  }

  private run(out: JournalEntry[]): void {
    const b = this.buf;
    const t = this.text;
    for (;;) {
      const p = this.pos;
      switch (this.mode) {
        case 'field': {
          const nl = t.indexOf('\n', p);
          if (nl < 0) {
            if (b.length - p > this.maxFieldBytes + 65) this.cutLongLine(b, p);
            return;
          }
          this.pos = nl + 1;
          if (nl === p) {
            this.finish(out);
            continue;
          }
          const eq = t.indexOf('=', p);
          if (eq >= 0 && eq < nl) {
            if (!validName(b, p, eq)) {
              this.startResync(b, p, `bad field name "${printable(b, p, eq)}"`);
              continue;
            }
            let end = nl;
            if (end - eq - 1 > this.maxFieldBytes) {
              end = eq + 1 + this.maxFieldBytes;
              this.entry.truncated = true;
            }
            this.set(t.slice(p, eq), this.value(eq + 1, end));
          } else {
            if (!validName(b, p, nl)) {
              this.startResync(b, p, `bad field name "${printable(b, p, nl)}"`);
              continue;
            }
            this.binName = t.slice(p, nl);
            this.mode = 'size';
          }
          continue;
        }
        case 'size': {
          if (b.length - p < 8) return;
          const size = b.readBigUInt64LE(p);
          this.pos = p + 8;
          if (size > BigInt(this.maxFieldBytes)) {
            this.binSize = this.maxFieldBytes;
            this.skip = Number(size - BigInt(this.maxFieldBytes));
            this.entry.truncated = true;
          } else {
            this.binSize = Number(size);
            this.skip = 0;
          }
          this.mode = 'data';
          continue;
        }
        case 'data': {
          if (b.length - p < this.binSize) return;
          this.set(this.binName, this.value(p, p + this.binSize));
          this.pos = p + this.binSize;
          this.mode = this.skip > 0 ? 'skipData' : 'dataEnd';
          continue;
        }
        case 'skipData': {
          const n = Math.min(this.skip, b.length - p);
          this.skip -= n;
          this.pos = p + n;
          if (this.skip > 0) return;
          this.mode = 'dataEnd';
          continue;
        }
        case 'dataEnd': {
          if (b.length - p < 1) return;
          if (b[p] !== NL) {
            this.startResync(b, p, `binary field ${this.binName} not followed by a newline`);
            continue;
          }
          this.pos = p + 1;
          this.mode = 'field';
          continue;
        }
        case 'skipLine': {
          const nl = t.indexOf('\n', p);
          if (nl < 0) {
            this.pos = b.length;
            return;
          }
          this.pos = nl + 1;
          this.mode = 'field';
          continue;
        }
        case 'resync': {
          // Up to the next blank line: a newline right after a newline (possibly the previous chunk's).
          let i = -1;
          if (p < b.length && b[p] === NL && (p > 0 ? b[p - 1] : this.lastByte) === NL) i = p;
          else {
            const at = t.indexOf('\n\n', p);
            if (at >= 0) i = at + 1;
          }
          if (i < 0) {
            this.keepBroken(b, p, b.length);
            if (b.length > p) this.lastByte = b[b.length - 1];
            this.pos = b.length;
            return;
          }
          this.keepBroken(b, p, i);
          this.pos = i + 1;
          this.broken(out, this.brokenWhy, Buffer.alloc(0));
          this.mode = 'field';
          continue;
        }
      }
    }
  }

  private set(name: string, value: string): void {
    const f = this.entry.fields;
    this.hasFields = true;
    if (!f.has(name)) f.set(name, value);
    else ((this.entry.repeated ??= {})[name] ??= []).push(value);
  }

  private finish(out: JournalEntry[]): void {
    if (this.hasFields) out.push(this.entry);
    this.entry = { fields: new Map() };
    this.hasFields = false;
  }

  /** A text line longer than the limit: keep its start, skip to its newline. */
  private cutLongLine(b: Buffer, p: number): void {
    const eq = this.text.indexOf('=', p);
    if (eq < 0 || eq - p > 64 || !validName(b, p, eq)) {
      this.startResync(b, p, 'a line longer than the field limit with no field name');
      return;
    }
    this.set(this.text.slice(p, eq), this.value(eq + 1, eq + 1 + this.maxFieldBytes));
    this.entry.truncated = true;
    this.pos = b.length;
    this.mode = 'skipLine';
  }

  private fieldsText(): string {
    let t = '';
    for (const [k, v] of this.entry.fields) t += `${k}=${v}\n`;
    return t.slice(0, this.maxFieldBytes);
  }

  private startResync(b: Buffer, p: number, why: string): void {
    // The fields read so far belong to the broken entry's text too.
    this.brokenRaw = this.fieldsText();
    this.brokenWhy = why;
    this.entry = { fields: new Map() };
    this.hasFields = false;
    this.lastByte = p > 0 ? b[p - 1] : NL;
    this.pos = p;
    this.mode = 'resync';
  }

  private keepBroken(b: Buffer, from: number, to: number): void {
    const room = this.maxFieldBytes - this.brokenRaw.length;
    if (room > 0) this.brokenRaw += b.toString('utf8', from, Math.min(to, from + room));
  }

  private broken(out: JournalEntry[], why: string, rest: Buffer): void {
    if (rest.length) this.keepBroken(rest, 0, rest.length);
    out.push({ fields: new Map(), error: why, raw: this.brokenRaw });
    this.brokenRaw = '';
    this.entry = { fields: new Map() };
    this.hasFields = false;
  }
}

function printable(b: Buffer, start: number, end: number): string {
  const s = b.toString('utf8', start, Math.min(end, start + 40));
  return JSON.stringify(s).slice(1, -1) + (end - start > 40 ? '…' : '');
}

/** A whole export-format text or buffer, read at once (tests, replay of small files). */
export function readExport(data: Buffer | string, maxFieldBytes?: number): JournalEntry[] {
  const r = new ExportReader(maxFieldBytes);
  const out = r.push(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  out.push(...r.end());
  return out;
}
