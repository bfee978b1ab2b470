// Interactive shells and exec requests, proxied to the target. Shell input is
// forwarded key by key; at Enter the line is held, read from the emulated
// screen, checked against the command rules, then Enter is forwarded, or the
// line is cleared on the target (Ctrl-U, Ctrl-C) and the operator told.
//
// A line whose keys the target did not echo (stty -echo, a password prompt)
// is taken from the keys instead (TypedLine). At a shell prompt (the screen
// before it ends in $, # or %) it is a command: checked, and its event and
// marker carry its text. Anywhere else it is treated as a secret: still
// checked (definite rule matches only), but its text is never recorded or
// sent; a hit is reported as "[N chars hidden]", and nothing else is.
import type { Client, ClientChannel, PseudoTtyInfo, ServerChannel } from 'ssh2';
import { setTimeout as sleep } from 'node:timers/promises';
import { ACTIONS } from '../rules/decoders/vocabulary.js';
import { checkCommand, type CheckOptions, type CommandCheck } from './policy.js';
import { Recording } from './recording.js';
import { CommandReader } from './terminal.js';
import { TypedLine } from './typed-line.js';
import type { OperatorSession } from './session.js';
import { handleScp, isScp } from './scp.js';
import { openForwarded, type ChannelForwarding } from './forwarding.js';
import { exitCode, sendExit, watchExit } from './channel-exit.js';
import { execTransfer } from './exec-transfer.js';

export interface ChannelInfo {
  pty: PseudoTtyInfo | null;
  env: Record<string, string>;
  onResize?: (cols: number, rows: number, width: number, height: number) => void;
  onSignal?: (name: string) => void;
  /** Agent / X11 forwarding the operator asked for on this channel (and the grant allowed). */
  forward?: ChannelForwarding;
  /** Called on every chunk of input from the operator (the session's idle clock). */
  onInput?: () => void;
  /** performance.now() when the channel was confirmed, and when its shell/exec request came: one client round trip apart. */
  openedAt?: number;
  requestedAt?: number;
}

const CLEAR_LINE = Buffer.from('\x15\x03');
const ECHO_QUIET_MS = 5;
/** The screen before a line typed with echo off ends like a shell prompt. */
const SHELL_PROMPT = /[$#%]$/;

function newRecording(s: OperatorSession, info: ChannelInfo, kind: 'shell' | 'exec', command?: string): Recording {
  const a = s.access!;
  return new Recording(
    s.ctx.recordingsDir,
    { session: s.id, channel: s.nextChannel(), operator: s.user.operator, account: a.account, target: a.target.name, source_ip: s.ref.sourceIp, kind, command, width: info.pty?.cols ?? 80, height: info.pty?.rows ?? 24, term: info.pty?.term },
    s.ctx.cfg.recording.max_bytes,
    (err) => s.ctx.log.error({ err: err.message, session: s.id }, 'recording could not be written'),
    { hideUnechoed: !!info.pty },
  );
}

type Verdict = 'allowed' | 'blocked' | 'alerted';

interface JudgeOptions extends CheckOptions {
  /** Text to log instead of the line (a secret's "[N chars hidden]"). */
  shown?: string;
  /** Log nothing when no rule has anything to say. */
  quietIfAllowed?: boolean;
}

/** Log a command (event + marker) and decide what happens to it. */
function judge(s: OperatorSession, rec: Recording, check: CommandCheck, command: string, o: JudgeOptions = {}): Verdict {
  const hit = checkCommand(check, command, o);
  const verdict = !hit ? 'allowed' : hit.spec.action === 'block' ? 'blocked' : 'alerted';
  if (!hit && o.quietIfAllowed) return verdict;
  const line = o.shown ?? command;
  const why = hit?.detail ? ` (${hit.detail})` : '';
  const offset = rec.command(line, verdict);
  const session = { ...s.ref, recording: rec.meta.recording };
  if (verdict === 'blocked') {
    s.ctx.events.emit({
      action: ACTIONS.gatewayCommandBlocked,
      outcome: 'failure',
      message: `blocked command by ${s.user.operator} on ${s.access!.account}@${s.access!.target.name}: ${line}${why}`,
      session,
      offset,
      commandLine: line,
      reason: hit!.spec.id,
      alert: { rule: `gateway-command-${hit!.spec.id}`, name: hit!.spec.description ?? `Prohibited command (${hit!.spec.id})`, severity: hit!.spec.severity },
    });
  } else {
    s.ctx.events.emit({
      action: ACTIONS.gatewayCommand,
      outcome: 'success',
      message: `${s.user.operator} ran on ${s.access!.account}@${s.access!.target.name}: ${line}${why}`,
      session,
      offset,
      commandLine: line,
      ...(hit ? { reason: hit.spec.id, alert: { rule: `gateway-command-${hit.spec.id}`, name: hit.spec.description ?? `Watched command (${hit.spec.id})`, severity: hit.spec.severity } } : {}),
    });
  }
  return verdict;
}

export function runShell(s: OperatorSession, target: Client, ch: ServerChannel, info: ChannelInfo): void {
  const pty = info.pty;
  const win = pty ? { term: pty.term, cols: pty.cols, rows: pty.rows, width: pty.width, height: pty.height } : false;
  const warn = (m: string) => ch.stderr.write(m);
  openForwarded(info.forward, warn, (o, cb) => target.shell(win, { env: info.env, ...o }, cb), (err, t) => {
    if (err) {
      ch.stderr.write(`trailwatch: cannot open a shell on the target: ${err.message}\r\n`);
      ch.exit(1);
      return ch.end();
    }
    new ShellProxy(s, ch, t, info, newRecording(s, info, 'shell'));
  });
}

class ShellProxy {
  private readonly reader: CommandReader | null;
  private readonly typedLine = new TypedLine();
  private readonly check: CommandCheck;
  private readonly queue: Buffer[] = [];
  private busy = false;
  private lastOutputAt = 0;
  private lastTypedAt = 0;
  private typedSinceEnter = false;
  /** Without a pty nothing is echoed: the typed line itself is the command. */
  private rawLine = '';

  constructor(
    private readonly s: OperatorSession,
    private readonly ch: ServerChannel,
    private readonly t: ClientChannel,
    private readonly info: ChannelInfo,
    private readonly rec: Recording,
  ) {
    this.reader = info.pty ? new CommandReader(info.pty.cols, info.pty.rows) : null;
    this.check = s.ctx.policy().commandCheckFor(s.access!.target);
    info.onResize = (cols, rows, width, height) => {
      t.setWindow(rows, cols, height, width);
      rec.resize(cols, rows);
      this.reader?.resize(cols, rows);
    };
    info.onSignal = (name) => t.signal(name);
    t.on('data', (d: Buffer) => {
      this.lastOutputAt = performance.now();
      ch.write(d);
      rec.output(d);
      this.reader?.output(d);
    });
    t.stderr.on('data', (d: Buffer) => {
      ch.stderr.write(d);
      rec.output(d);
    });
    const exit = watchExit(t);
    t.on('close', () => {
      sendExit(ch, exit());
      ch.end();
      this.reader?.dispose();
      void rec.close(exitCode(exit()));
    });
    ch.on('data', (d: Buffer) => this.onInput(d));
    ch.on('end', () => t.end());
    ch.on('close', () => t.close());
  }

  private onInput(d: Buffer): void {
    this.info.onInput?.();
    if (this.busy) this.queue.push(d);
    else void this.process(d);
  }

  /** Forward input up to each Enter; hold at the Enter until it is judged. */
  private async process(first: Buffer): Promise<void> {
    this.busy = true;
    let d: Buffer | undefined = first;
    while (d) {
      let rest: Buffer | null = d;
      while (rest && rest.length) {
        const i = enterIndex(rest, this.reader?.fullScreen ?? false);
        if (i < 0) {
          this.typed(rest);
          break;
        }
        if (i > 0) this.typed(rest.subarray(0, i));
        const enter = rest.subarray(i, i + 1);
        rest = rest.subarray(i + 1);
        const go = await this.enter();
        this.rec.input(enter);
        if (go) this.t.write(enter);
      }
      d = this.queue.shift();
    }
    this.busy = false;
  }

  private typed(b: Buffer): void {
    this.lastTypedAt = performance.now();
    this.typedSinceEnter = true;
    this.rec.input(b);
    if (this.reader) {
      this.reader.keyTyped();
      this.typedLine.feed(b.toString('utf8'));
    } else this.rawLine = (this.rawLine + b.toString('utf8')).slice(-4096);
    this.t.write(b);
  }

  /** Judge the line; true to forward the Enter. */
  private async enter(): Promise<boolean> {
    const typed = this.typedSinceEnter;
    this.typedSinceEnter = false;
    if (!this.reader) {
      const line = this.rawLine.trim();
      this.rawLine = '';
      return !line || this.go(judge(this.s, this.rec, this.check, line));
    }
    if (typed) await this.settle();
    const screen = await this.reader.read();
    const hidden = this.rec.endLine();
    const keys = this.typedLine.take();
    if (!hidden || (screen.line && (!keys.exact || screen.line.includes(keys.text.trim())))) return !screen.line || this.go(judge(this.s, this.rec, this.check, screen.line));
    // What was typed did not come back: the keys are the line.
    const text = keys.text.trim();
    if (SHELL_PROMPT.test((screen.prompt + screen.line).trimEnd())) {
      if (!text && keys.exact) return true;
      return this.go(judge(this.s, this.rec, this.check, text, { unknown: keys.exact ? undefined : 'typed with echo off and edited with keys the gateway cannot follow' }));
    }
    return !text || this.go(judge(this.s, this.rec, this.check, text, { definiteOnly: true, shown: `[${hidden} chars hidden]`, quietIfAllowed: true }));
  }

  /** True to forward the Enter; for a blocked line, clear it on the target and tell the operator. */
  private go(verdict: Verdict): boolean {
    if (verdict !== 'blocked') return true;
    this.t.write(CLEAR_LINE);
    const msg = `\r\n\x1b[1;31mtrailwatch: command blocked by policy; this has been reported.\x1b[0m\r\n`;
    this.ch.write(msg);
    this.rec.output(Buffer.from(msg));
    return false;
  }

  /** Wait (at most command_hold_ms) for the echo of what was typed to arrive and go quiet. */
  private async settle(): Promise<void> {
    const deadline = performance.now() + this.s.ctx.cfg.command_hold_ms;
    for (;;) {
      const now = performance.now();
      if (now >= deadline) return;
      if (this.lastOutputAt >= this.lastTypedAt && now - this.lastOutputAt >= ECHO_QUIET_MS) return;
      await sleep(2);
    }
  }
}

/** Index of the first Enter (CR, or LF without a pty) outside full-screen programs. */
function enterIndex(b: Buffer, fullScreen: boolean): number {
  if (fullScreen) return -1;
  for (let i = 0; i < b.length; i++) if (b[i] === 13 || b[i] === 10) return i;
  return -1;
}

export function runExec(s: OperatorSession, target: Client, ch: ServerChannel, info: ChannelInfo, command: string): void {
  const rec = newRecording(s, info, 'exec', command);
  if (isScp(command)) return void handleScp(s, target, ch, rec, command, info.onInput);
  const verdict = judge(s, rec, s.ctx.policy().commandCheckFor(s.access!.target), command);
  if (verdict === 'blocked') {
    ch.stderr.write('trailwatch: command blocked by policy; this has been reported.\r\n');
    ch.exit(126);
    ch.end();
    void rec.close(126);
    return;
  }
  // Input to a command is a file transfer: counted, hashed, recorded, and under approval where the grant says so.
  void execTransfer(s, ch, command, info.pty !== null, info).then((tap) => {
    if (tap) pipeExec(target, ch, info, command, rec, tap);
    else void rec.close(1);
  });
}

export function pipeExec(
  target: Client,
  ch: ServerChannel,
  info: ChannelInfo,
  command: string,
  rec: Recording,
  tap?: { record?: boolean; input?: (d: Buffer) => boolean | void; output?: (d: Buffer) => void; done?: (code: number | null) => void; target?: (t: ClientChannel) => void },
): void {
  const pty = info.pty ? { term: info.pty.term, cols: info.pty.cols, rows: info.pty.rows, width: info.pty.width, height: info.pty.height } : undefined;
  const record = tap?.record !== false;
  const warn = (m: string) => ch.stderr.write(m);
  openForwarded(info.forward, warn, (o, cb) => target.exec(command, { env: info.env, ...(pty ? { pty } : {}), ...o }, cb), (err, t) => {
    if (err) {
      ch.stderr.write(`trailwatch: cannot run the command on the target: ${err.message}\r\n`);
      ch.exit(1);
      ch.end();
      void rec.close(1);
      return;
    }
    info.onResize = (cols, rows, width, height) => {
      t.setWindow(rows, cols, height, width);
      rec.resize(cols, rows);
    };
    info.onSignal = (name) => t.signal(name);
    t.on('data', (d: Buffer) => {
      tap?.output?.(d);
      ch.write(d);
      if (record) rec.output(d);
    });
    t.stderr.on('data', (d: Buffer) => {
      ch.stderr.write(d);
      rec.output(d);
    });
    tap?.target?.(t);
    ch.on('data', (d: Buffer) => {
      info.onInput?.();
      if (tap?.input?.(d) === false) return;
      if (record) rec.input(d);
      t.write(d);
    });
    // A stream left paused while the gateway looked for input (exec-transfer.ts) flows again.
    ch.resume();
    ch.on('end', () => t.end());
    const exit = watchExit(t);
    t.on('close', () => {
      const code = exitCode(exit());
      tap?.done?.(code);
      sendExit(ch, exit());
      ch.end();
      void rec.close(code);
    });
  });
}
