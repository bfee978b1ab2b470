// Session recording: an asciicast v2 file per shell/exec channel ("o" output,
// "i" input, "r" resize, "m" marker at every command) and a metadata JSON
// beside it. The file is capped: past max_bytes nothing more is recorded but
// a final marker, and the metadata says truncated.
//
// With a pty, typed characters the target does not echo back (passwords at
// `sudo`/`read -s`, anything after `stty -echo`) are recorded as
// "[N chars hidden]": input waits in an EchoGate until the output shows it
// (then it is written as typed) or the line ends without it (then hidden).
import { createWriteStream, mkdirSync, writeFileSync, type WriteStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { EchoGate } from './echo-gate.js';

export interface RecordingMeta {
  session: string;
  channel: number;
  operator: string;
  account: string;
  target: string;
  source_ip?: string;
  kind: 'shell' | 'exec';
  command?: string;
  started: string;
  ended?: string;
  width: number;
  height: number;
  term?: string;
  commands: { offset: number; line: string; verdict: 'allowed' | 'blocked' | 'alerted' }[];
  transfers?: unknown[];
  truncated: boolean;
  bytes: number;
  recording: string;
  exit_code?: number | null;
}

/** Where recordings go: gateway.recording.dir, default <data_dir>/gateway/recordings (the web console reads them there). */
export function recordingsDirOf(dataDir: string, recording: { dir?: string }): string {
  return resolve(recording.dir ?? join(dataDir, 'gateway', 'recordings'));
}

/** File base name of one channel's recording: <base>.cast and <base>.json. */
export function recordingBase(session: string, channel: number): string {
  return `${session}-${channel}`;
}

export type Verdict = RecordingMeta['commands'][number]['verdict'];

/** Label of a command marker: the line, prefixed "[blocked] " / "[alerted] " unless allowed. */
export function markerLabel(line: string, verdict: Verdict): string {
  return verdict === 'allowed' ? line : `[${verdict}] ${line}`;
}

export const TRUNCATED_MARKER = 'recording truncated';

/** The inverse of markerLabel; null for the truncation marker. */
export function parseMarkerLabel(label: string): { line: string; verdict: Verdict } | null {
  if (label.startsWith(TRUNCATED_MARKER)) return null;
  if (label.startsWith('[blocked] ')) return { line: label.slice(10), verdict: 'blocked' };
  if (label.startsWith('[alerted] ')) return { line: label.slice(10), verdict: 'alerted' };
  return { line: label, verdict: 'allowed' };
}

/** Room kept below the cap for the final "truncated" marker. */
const RESERVE = 512;

export class Recording {
  readonly file: string;
  readonly metaFile: string;
  readonly meta: RecordingMeta;
  private readonly out: WriteStream;
  private readonly start = process.hrtime.bigint();
  private readonly decOut = new StringDecoder('utf8');
  private readonly decIn = new StringDecoder('utf8');
  private bytes = 0;
  private capped = false;
  private closed = false;
  /** Set when the channel has a pty (the target echoes what is typed); null: input is written as it comes. */
  private readonly gate: EchoGate | null;

  constructor(
    dir: string,
    meta: Omit<RecordingMeta, 'started' | 'commands' | 'truncated' | 'bytes' | 'recording'>,
    private readonly maxBytes: number,
    /** Told about a recording that could not be written (disk full, directory gone); the session goes on. */
    private readonly onError: (err: Error) => void = () => {},
    opts: { hideUnechoed?: boolean } = {},
  ) {
    this.gate = opts.hideUnechoed ? new EchoGate((code, data, at) => this.event(code, data, at)) : null;
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    const base = recordingBase(meta.session, meta.channel);
    this.file = join(dir, `${base}.cast`);
    this.metaFile = join(dir, `${base}.json`);
    const started = new Date();
    this.meta = { ...meta, started: started.toISOString(), commands: [], truncated: false, bytes: 0, recording: `${base}.cast` };
    this.out = createWriteStream(this.file, { mode: 0o640 });
    this.out.on('error', (err) => this.fail(err));
    const header = {
      version: 2,
      width: meta.width,
      height: meta.height,
      timestamp: Math.floor(started.getTime() / 1000),
      env: { TERM: meta.term ?? 'xterm', SHELL: '/bin/sh' },
      title: `${meta.operator} → ${meta.account}@${meta.target}${meta.command ? ` $ ${meta.command}` : ''}`,
    };
    this.put(JSON.stringify(header) + '\n');
  }

  /** Seconds since the recording started (asciicast time). */
  now(): number {
    return Number(process.hrtime.bigint() - this.start) / 1e9;
  }

  output(data: Buffer): void {
    const text = this.decOut.write(data);
    if (this.gate?.waiting) this.gate.output(text, this.now());
    else this.event('o', text);
  }

  input(data: Buffer): void {
    const text = this.decIn.write(data);
    if (this.gate) this.gate.input(text, this.now());
    else this.event('i', text);
  }

  /**
   * At Enter, once the echo had its chance to arrive: what was typed on the
   * line and not echoed is written hidden. The number of characters hidden.
   */
  endLine(): number {
    return this.gate?.endLine() ?? 0;
  }

  resize(cols: number, rows: number): void {
    this.queued('r', `${cols}x${rows}`, this.now());
  }

  /** A marker at a command; also kept in the metadata (even once the file is capped). */
  command(line: string, verdict: RecordingMeta['commands'][number]['verdict'], at = this.now()): number {
    this.meta.commands.push({ offset: round(at), line, verdict });
    this.queued('m', markerLabel(line, verdict), at);
    return at;
  }

  /** An event behind any input still waiting for its echo. */
  private queued(code: 'r' | 'm', data: string, at: number): void {
    if (this.gate?.waiting) this.gate.other(code, data, at);
    else this.event(code, data, at);
  }

  get truncated(): boolean {
    return this.capped;
  }

  private event(code: string, data: string, at = this.now()): void {
    if (this.capped || this.closed || data === '') return;
    const line = `[${round(at)}, "${code}", ${JSON.stringify(data)}]\n`;
    if (this.bytes + Buffer.byteLength(line) > this.maxBytes - RESERVE) {
      this.capped = true;
      this.meta.truncated = true;
      this.put(`[${round(at)}, "m", ${JSON.stringify(`${TRUNCATED_MARKER}: size cap of ${this.maxBytes} bytes reached`)}]\n`);
      return;
    }
    this.put(line);
  }

  private put(s: string): void {
    this.bytes += Buffer.byteLength(s);
    this.out.write(s);
  }

  async close(exitCode?: number | null): Promise<void> {
    if (this.closed) return;
    this.gate?.endLine();
    this.closed = true;
    this.meta.ended = new Date().toISOString();
    this.meta.bytes = this.bytes;
    if (exitCode !== undefined) this.meta.exit_code = exitCode;
    await new Promise<void>((resolve) => {
      if (this.out.destroyed) return resolve();
      this.out.once('error', () => resolve());
      this.out.end(() => resolve());
    });
    try {
      writeFileSync(this.metaFile, JSON.stringify(this.meta, null, 2) + '\n', { mode: 0o640 });
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private failed = false;
  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.onError(err);
  }
}

function round(t: number): number {
  return Math.round(t * 1e6) / 1e6;
}
