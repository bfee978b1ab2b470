// The line as typed, kept beside the one read from the screen: when the
// target does not echo (stty -echo, a password prompt) the screen shows
// nothing and this is all there is. It applies the basic line-editing keys
// (Backspace/DEL, Ctrl-U, Ctrl-W, Ctrl-C); any other key that edits or
// recalls (arrows, Tab, Ctrl-R, Ctrl-A, …) makes it inexact: what the shell
// holds is then not known from the keys alone.

import { skipEscape } from './echo-gate.js';

const MAX = 64 * 1024;

export class TypedLine {
  private text = '';
  private exact = true;

  feed(s: string): void {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 0x1b) i = this.escape(s, i);
      else if (c === 0x7f || c === 0x08) this.text = [...this.text].slice(0, -1).join('');
      else if (c === 0x15 || c === 0x03) this.clear();
      else if (c === 0x17) this.text = this.text.replace(/\S*\s*$/, '');
      else if (c < 0x20) this.exact = false;
      else if (this.text.length < MAX) this.text += s[i];
    }
  }

  /** The line so far, and forget it (at Enter). */
  take(): { text: string; exact: boolean } {
    const r = { text: this.text, exact: this.exact };
    this.clear();
    return r;
  }

  private clear(): void {
    this.text = '';
    this.exact = true;
  }

  /** Bracketed-paste marks (ESC [200~ / [201~) are harmless; any other sequence edits the line in ways not followed here. */
  private escape(s: string, i: number): number {
    const end = skipEscape(s, i);
    if (!/^\x1b\[20[01]~$/.test(s.slice(i, end))) this.exact = false;
    return end - 1;
  }
}
