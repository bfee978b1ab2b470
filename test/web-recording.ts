// A real terminal recording for the console tests: bash runs on a real pty
// under util-linux `script`, commands are typed a key at a time, and the
// input/output logs with their timing become an asciicast v2 file with an
// "m" marker at each Enter, in the gateway recorder's layout (recordingBase,
// RecordingMeta from src/gateway/recording.ts, so the two cannot drift). The
// recorder itself stamps live time, so a replayed pty log is written here.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { recordingBase, type RecordingMeta } from '../src/gateway/recording.js';
import { tempDir } from './helpers.js';

export interface RecordedSession {
  id: string;
  recording: string;
  commands: { offset: number; command: string }[];
  cast: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Convert `script -B io -T timing` (advanced format) into asciicast v2 text with command markers. */
export function scriptLogToAsciicast(io: Buffer, timing: string, header: { width: number; height: number; timestamp: number }): { cast: string; commands: { offset: number; command: string }[] } {
  let pos = io.indexOf(0x0a) + 1; // skip "Script started on ..." line
  let t = 0;
  const lines = [JSON.stringify({ version: 2, width: header.width, height: header.height, timestamp: header.timestamp, env: { TERM: 'xterm-256color', SHELL: '/bin/bash' } })];
  const commands: { offset: number; command: string }[] = [];
  const decoder = new TextDecoder('utf-8');
  let typed = '';
  for (const line of timing.split('\n')) {
    const m = /^([IO]) (\d+\.\d+) (\d+)$/.exec(line);
    if (!m) continue;
    t += Number(m[2]);
    const bytes = io.subarray(pos, pos + Number(m[3]));
    pos += Number(m[3]);
    const at = Math.round(t * 1e6) / 1e6;
    if (m[1] === 'O') {
      const text = decoder.decode(bytes, { stream: true });
      if (text) lines.push(JSON.stringify([at, 'o', text]));
      continue;
    }
    for (const ch of bytes.toString('utf8')) {
      if (ch === '\r' || ch === '\n') {
        if (typed.trim()) {
          commands.push({ offset: at, command: typed });
          lines.push(JSON.stringify([at, 'm', typed]));
        }
        typed = '';
      } else if (ch === '\x7f') typed = typed.slice(0, -1);
      else typed += ch;
    }
  }
  return { cast: lines.join('\n') + '\n', commands };
}

/**
 * Run bash on a pty, type `commands` (then exit), and write the gateway's
 * layout: <dir>/<id>-<channel>.cast and <dir>/<id>-<channel>.json with the
 * gateway's RecordingMeta fields (see src/web/recordings.ts).
 */
export async function recordShellSession(
  dir: string,
  id: string,
  commands: string[],
  meta: { operator: string; account: string; target: string; started_at?: string; channel?: number; idleBeforeMs?: number },
): Promise<RecordedSession> {
  const base = recordingBase(id, meta.channel ?? 1);
  const work = tempDir('tw-rec-');
  try {
    const io = join(work.dir, 'io.log');
    const timing = join(work.dir, 'timing.log');
    const started = meta.started_at ? new Date(meta.started_at) : new Date();
    const child = spawn('script', ['-q', '-E', 'always', '-B', io, '-T', timing, '-c', "stty cols 80 rows 24; PS1='$ ' exec bash --norc --noprofile -i"], {
      cwd: work.dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work.dir, TERM: 'xterm-256color', LANG: 'C.UTF-8' },
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    await sleep(meta.idleBeforeMs ?? 400);
    for (const cmd of [...commands, 'exit']) {
      for (const ch of cmd) {
        child.stdin!.write(ch);
        await sleep(8);
      }
      child.stdin!.write('\r');
      await sleep(250);
    }
    child.stdin!.end();
    const code = await closed;
    if (code !== 0) throw new Error(`script exited ${code}: ${stderr}`);
    const { cast, commands: marks } = scriptLogToAsciicast(readFileSync(io), readFileSync(timing, 'utf8'), { width: 80, height: 24, timestamp: Math.floor(started.getTime() / 1000) });
    const recorded = marks.filter((c) => c.command !== 'exit');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${base}.cast`), cast);
    const duration = Number(JSON.parse(cast.trimEnd().split('\n').at(-1)!)[0]);
    const m: RecordingMeta = {
      session: id,
      channel: meta.channel ?? 1,
      operator: meta.operator,
      account: meta.account,
      target: meta.target,
      kind: 'shell',
      started: started.toISOString(),
      ended: new Date(started.getTime() + duration * 1000).toISOString(),
      width: 80,
      height: 24,
      term: 'xterm-256color',
      commands: recorded.map((c) => ({ offset: c.offset, line: c.command, verdict: 'allowed' as const })),
      truncated: false,
      bytes: Buffer.byteLength(cast),
      recording: `${base}.cast`,
    };
    writeFileSync(join(dir, `${base}.json`), JSON.stringify(m));
    return { id, recording: base, commands: recorded, cast };
  } finally {
    work.cleanup();
  }
}
