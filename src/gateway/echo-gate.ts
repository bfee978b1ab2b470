// Typed input held back from the recording until the target's output shows
// it. A terminal echoes what is typed; a program reading a secret turns the
// echo off (sudo, passwd, ssh, read -s, stty -echo). So typed characters are
// written to the recording as typed once the output brings them back (in
// order, escape sequences aside), and as "[N chars hidden]" when it does not:
// when output comes that shows none of them, when a line feed comes first, or
// when the line ends (Enter, once the echo had its time) without them.
// Everything recorded after held input waits behind it, so the file stays in
// time order. Over-hiding (type-ahead before a prompt, keys in a full-screen
// program) is the safe way to be wrong.

type Write = (code: string, data: string, at: number) => void;

const OPEN = 0;
const SHOWN = 1;
const HIDDEN = 2;

interface Entry {
  code: string;
  data: string;
  at: number;
  /** The printable characters typed (what an echo would show). */
  want: string;
  /** How many of them the output has shown so far. */
  pos: number;
  state: typeof OPEN | typeof SHOWN | typeof HIDDEN;
}

export class EchoGate {
  private readonly q: Entry[] = [];
  private hiddenOnLine = 0;

  constructor(private readonly write: Write) {}

  /** True while input waits for its echo (then everything else queues behind it). */
  get waiting(): boolean {
    return this.q.length > 0;
  }

  input(text: string, at: number): void {
    for (const piece of splitAtCR(text)) {
      const want = printables(piece);
      if (!want && !this.q.length) this.write('i', piece, at);
      else this.q.push({ code: 'i', data: piece, at, want, pos: 0, state: want ? OPEN : SHOWN });
    }
  }

  output(text: string, at: number): void {
    this.match(text);
    this.other('o', text, at);
  }

  other(code: string, data: string, at: number): void {
    this.q.push({ code, data, at, want: '', pos: 0, state: SHOWN });
    this.flush();
  }

  /** Hide what is still waiting; the number of characters hidden since the last call. */
  endLine(): number {
    for (const e of this.q) if (e.state === OPEN) this.hide(e);
    this.flush();
    const n = this.hiddenOnLine;
    this.hiddenOnLine = 0;
    return n;
  }

  /** Advance the waiting entries through this output; decide those it shows, or shows none of. */
  private match(text: string): void {
    let i = 0;
    let head = true;
    for (const e of this.q) {
      if (e.state !== OPEN) continue;
      const start = e.pos;
      let printable = false;
      let lf = false;
      while (i < text.length && e.pos < e.want.length) {
        const c = text.charCodeAt(i);
        if (c === 0x1b) {
          i = skipEscape(text, i);
          continue;
        }
        if (c === 10) {
          lf = true;
          break;
        }
        if (c >= 0x20 && c !== 0x7f) printable = true;
        if (text[i] === e.want[e.pos]) e.pos++;
        i++;
      }
      if (e.pos === e.want.length) {
        e.state = SHOWN;
        head = false;
        continue;
      }
      if (lf || (head && printable && e.pos === start)) this.hide(e);
      return;
    }
  }

  private hide(e: Entry): void {
    e.state = HIDDEN;
    this.hiddenOnLine += e.want.length;
  }

  private flush(): void {
    let n = 0;
    for (; n < this.q.length && this.q[n].state !== OPEN; n++) {
      const e = this.q[n];
      if (e.state !== HIDDEN) {
        this.write(e.code, e.data, e.at);
        continue;
      }
      let chars = e.want.length;
      while (this.q[n + 1]?.state === HIDDEN) chars += this.q[++n].want.length;
      this.write('i', `[${chars} chars hidden]`, e.at);
    }
    if (n) this.q.splice(0, n);
  }
}

/** "ab\rcd" → ["ab", "\r", "cd"]: each Enter on its own. */
function splitAtCR(text: string): string[] {
  if (!text.includes('\r')) return [text];
  return text.split(/(\r)/).filter((p) => p !== '');
}

/** The characters of typed input an echo would show: not control characters, not escape sequences (arrows, Alt-x, bracketed paste marks). */
export function printables(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; ) {
    const c = text.charCodeAt(i);
    if (c === 0x1b) i = skipEscape(text, i);
    else {
      if (c >= 0x20 && c !== 0x7f) out += text[i];
      i++;
    }
  }
  return out;
}

/** Index after the escape sequence starting at i: CSI (ESC [ … final), OSC (ESC ] … BEL or ESC \), SS3 (ESC O x), or ESC x. */
export function skipEscape(text: string, i: number): number {
  const next = text[i + 1];
  if (next === '[') {
    let j = i + 2;
    while (j < text.length && (text.charCodeAt(j) < 0x40 || text.charCodeAt(j) > 0x7e)) j++;
    return j + 1;
  }
  if (next === ']') {
    let j = i + 2;
    while (j < text.length && text[j] !== '\x07' && !(text[j] === '\x1b' && text[j + 1] === '\\')) j++;
    return text[j] === '\x07' ? j + 1 : j + 2;
  }
  if (next === 'O') return i + 3;
  return i + 2;
}
