// Command lines read from the screen, not from keystrokes: the target's output
// feeds an emulated terminal (@xterm/headless) and at Enter the logical line
// under the cursor is read back. History recall, tab completion and line
// editing are thus seen as the shell shows them.
//
// Where the command starts: when the first key of a new line is typed, the
// cursor position is taken at exactly that point of the output stream (a
// zero-length write whose callback runs after the output received so far and
// before anything that arrives later), i.e. just after the prompt. At Enter,
// if the cursor is still on the logical line that position is on, the command
// is the text from there. Otherwise (type-ahead before the prompt appeared, a
// redrawn or cleared screen) the line is taken after its first "$ ", "# ",
// "% " or "> " — the usual prompt ends.
import xterm from '@xterm/headless';

type Term = InstanceType<typeof xterm.Terminal>;

/** A client that sends no size (ssh -tt without a local terminal sends 0x0) gets what programs on the target then assume: 80x24. */
const cols = (n: number) => (n > 0 ? Math.max(n, 2) : 80);
const rows = (n: number) => (n > 0 ? n : 24);

const PROMPT_END = /^.*?[$#%>] /;
const REVERSE_SEARCH = /^\((?:failed )?reverse-i-search\)`[^']*': (.*)$/;

export class CommandReader {
  private readonly term: Term;
  private promptAt: { x: number; y: number } | null = null;
  private marking = false;

  constructor(c: number, r: number) {
    this.term = new xterm.Terminal({ cols: cols(c), rows: rows(r), scrollback: 200, allowProposedApi: true });
  }

  output(data: Buffer): void {
    this.term.write(data);
  }

  resize(c: number, r: number): void {
    this.term.resize(cols(c), rows(r));
  }

  /** Full-screen programs (editors, pagers) use the alternate screen: Enter there is not a command. */
  get fullScreen(): boolean {
    return this.term.buffer.active.type === 'alternate';
  }

  /** Called on each key typed; the first one of a line marks where the command starts. */
  keyTyped(): void {
    if (this.promptAt || this.marking) return;
    this.marking = true;
    this.term.write('', () => {
      const b = this.term.buffer.active;
      this.promptAt = { x: b.cursorX, y: b.baseY + b.cursorY };
      this.marking = false;
    });
  }

  private flush(): Promise<void> {
    return new Promise((resolve) => this.term.write('', resolve));
  }

  /** At Enter: the command line as shown on the screen (trimmed; "" when there is none). */
  async readLine(): Promise<string> {
    return (await this.read()).line;
  }

  /** At Enter: the command line as shown, and the prompt before it on the screen ("" when not known). */
  async read(): Promise<{ line: string; prompt: string }> {
    await this.flush();
    const b = this.term.buffer.active;
    const cy = b.baseY + b.cursorY;
    let start = cy;
    while (start > 0 && b.getLine(start)?.isWrapped) start--;
    let end = cy;
    while (b.getLine(end + 1)?.isWrapped) end++;
    const at = this.promptAt;
    this.promptAt = null;
    let whole = '';
    let skip = 0;
    for (let y = start; y <= end; y++) {
      const line = b.getLine(y);
      if (!line) continue;
      const text = line.translateToString(y === end);
      // Columns before the prompt mark; cells map to string offsets except after wide characters (rare in prompts).
      if (at && y < at.y) skip += text.length;
      else if (at && y === at.y) skip += Math.min(at.x, text.length);
      whole += text;
    }
    const rs = REVERSE_SEARCH.exec(whole.trim());
    if (rs) return { line: rs[1].trim(), prompt: '' };
    if (at !== null && at.y >= start && at.y <= end) return { line: whole.slice(skip).trim(), prompt: whole.slice(0, skip) };
    return { line: whole.replace(PROMPT_END, '').trim(), prompt: PROMPT_END.exec(whole)?.[0] ?? '' };
  }

  dispose(): void {
    this.term.dispose();
  }
}
