// Legacy scp (`scp -O`, which runs `scp -t PATH` / `scp -f PATH` as an exec
// request) goes through the same approval check as SFTP; the file records in
// the scp stream are parsed so each file is logged with bytes and SHA-256.
// Recursive scp is refused in approve mode: an approval covers one path.
import { createHash, type Hash } from 'node:crypto';
import { basename, posix } from 'node:path';
import type { Client, ServerChannel, SFTPWrapper } from 'ssh2';
import type { Direction } from './approvals.js';
import type { Recording } from './recording.js';
import type { OperatorSession } from './session.js';
import { pipeExec } from './shell.js';
import { checkTransfer, canonicalPath, transferCompleted, withSftp } from './transfer.js';

function isDirectory(sftp: SFTPWrapper, path: string): Promise<boolean> {
  return new Promise((resolve) => sftp.stat(path, (err, st) => resolve(!err && st.isDirectory())));
}

export function isScp(command: string): boolean {
  return /^\s*(\S*\/)?scp\s/.test(command);
}

interface ScpCommand {
  direction: Direction;
  recursive: boolean;
  path: string;
}

export function parseScp(command: string): ScpCommand | null {
  const words = command.trim().split(/\s+/).slice(1);
  let direction: Direction | null = null;
  let recursive = false;
  let i = 0;
  for (; i < words.length && words[i].startsWith('-'); i++) {
    const w = words[i];
    if (w === '--') {
      i++;
      break;
    }
    if (w.includes('t')) direction = 'upload';
    if (w.includes('f')) direction = 'download';
    if (w.includes('r')) recursive = true;
  }
  const path = unquote(words.slice(i).join(' '));
  if (!direction || !path) return null;
  return { direction, recursive, path };
}

function unquote(s: string): string {
  if (s.length >= 2 && (s[0] === "'" || s[0] === '"') && s[s.length - 1] === s[0]) return s.slice(1, -1);
  return s;
}

export async function handleScp(s: OperatorSession, target: Client, ch: ServerChannel, rec: Recording, command: string, onInput?: () => void): Promise<void> {
  const refuse = (msg: string) => {
    // scp's protocol: a leading \x01 byte is a warning/error line shown to the user.
    ch.write(`\x01trailwatch: ${msg}\n`);
    ch.stderr.write(`trailwatch: ${msg}\r\n`);
    ch.exit(1);
    ch.end();
    void rec.close(1);
  };
  const scp = parseScp(command);
  if (!scp) return refuse('cannot understand this scp request; use sftp');
  const mode = s.access!.grant.file_transfer;
  if (mode === 'approve' && scp.recursive) return refuse('recursive scp cannot be approved; transfer files one by one (sftp)');
  const { path, dir } = await withSftp(target, async (sftp) => {
    const p = await canonicalPath(sftp, scp.path);
    return { path: p, dir: await isDirectory(sftp, p) };
  }).catch(() => ({ path: scp.path, dir: false }));
  const verdict = checkTransfer(s, path, scp.direction, 'scp');
  if (!verdict.ok) return refuse(verdict.message);
  rec.command(command, 'allowed');
  const tap = new ScpTap((name, bytes, sha256) =>
    transferCompleted(s, { path: dir ? posix.join(path, basename(name)) : path, direction: scp.direction, bytes, sha256, via: 'scp', approval: verdict.approval }),
  );
  const feed = (d: Buffer) => tap.feed(d);
  pipeExec(target, ch, { pty: null, env: {}, onInput }, command, rec, {
    record: false,
    ...(scp.direction === 'upload' ? { input: feed } : { output: feed }),
  });
}

/** Reads the source side of an scp stream: "C<mode> <size> <name>\n", size bytes, "\0". */
export class ScpTap {
  private line = '';
  private remaining = -1;
  private name = '';
  private size = 0;
  private hash: Hash | null = null;
  private skipNul = false;

  constructor(private readonly onFile: (name: string, bytes: number, sha256: string) => void) {}

  feed(d: Buffer): void {
    let i = 0;
    while (i < d.length) {
      if (this.remaining > 0) {
        const n = Math.min(this.remaining, d.length - i);
        this.hash!.update(d.subarray(i, i + n));
        this.remaining -= n;
        i += n;
        if (this.remaining === 0) {
          this.onFile(this.name, this.size, this.hash!.digest('hex'));
          this.hash = null;
          this.remaining = -1;
          this.skipNul = true;
        }
        continue;
      }
      const b = d[i++];
      if (this.skipNul && b === 0) {
        this.skipNul = false;
        continue;
      }
      this.skipNul = false;
      if (b !== 10) {
        if (this.line.length < 4096) this.line += String.fromCharCode(b);
        continue;
      }
      this.control(this.line);
      this.line = '';
    }
  }

  private control(line: string): void {
    const m = /^C[0-7]{4} (\d+) (.+)$/.exec(line);
    if (!m) return; // T (times), D/E (directories) and acks carry no file data
    this.size = Number(m[1]);
    this.name = m[2];
    this.hash = createHash('sha256');
    this.remaining = this.size;
    if (this.size === 0) {
      this.onFile(this.name, 0, this.hash.digest('hex'));
      this.hash = null;
      this.remaining = -1;
      this.skipNul = true;
    }
  }
}
