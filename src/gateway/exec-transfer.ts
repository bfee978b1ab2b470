// An exec channel whose stdin carries data is a file transfer (`ssh gw 'cat >
// /tmp/f' < f` wrote files with no approval and no record). The data sent to
// the command is counted and hashed, and recorded as an upload to
// "exec: <command>" with its size and SHA-256 when the command ends. Under a
// grant whose file_transfer is deny or approve, data is looked for before the
// command starts on the target (a short grace after the exec request): data
// there means the transfer check first (refused, or held for an approval of
// exactly this command line, like SFTP). Data that comes only later, while
// the command runs, cannot be held back: it is refused then, and the command
// is stopped. With a pty (`ssh -t`) input is keystrokes, recorded as such in
// the session's recording, not a transfer.
import { createHash, type Hash } from 'node:crypto';
import type { ClientChannel, ServerChannel } from 'ssh2';
import type { OperatorSession } from './session.js';
import { checkTransfer, transferCompleted, type TransferCheck } from './transfer.js';

/**
 * How long after the exec request the gateway looks for data on stdin: a few
 * of this client's round trips (from our channel-open confirmation to its exec
 * request), from 25 ms on loopback to 250 ms at most. OpenSSH sends what its
 * stdin holds as soon as the channel is open, right behind the exec request,
 * so data that is there when the command is asked for arrives within about one
 * round trip. A command whose input comes later is stopped when it comes.
 */
export function transferGraceMs(roundTripMs: number): number {
  return Math.min(250, Math.max(25, 10 + 4 * Math.max(0, roundTripMs)));
}

/** Whether data is waiting on the operator's stdin within `ms`, without reading it. */
function stdinCarriesData(ch: ServerChannel, ms: number): Promise<boolean> {
  if (ch.readableLength > 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      ch.removeListener('readable', onReadable);
      ch.removeListener('close', done);
      resolve(ch.readableLength > 0);
    };
    const onReadable = () => {
      // Data, or the client's EOF (ssh -n, an empty stdin): either way no need to wait longer.
      if (ch.readableLength > 0 || (ch as unknown as { _readableState?: { ended?: boolean } })._readableState?.ended) done();
    };
    const timer = setTimeout(done, ms);
    ch.on('readable', onReadable);
    ch.once('close', done);
  });
}

export interface ExecTap {
  input(d: Buffer): boolean;
  output(d: Buffer): void;
  target(t: ClientChannel): void;
  done(code: number | null): void;
}

/**
 * Decide whether the exec may start, and give the tap that counts, hashes and
 * records its stdin. Null: refused (the operator has been told).
 */
export async function execTransfer(
  s: OperatorSession,
  ch: ServerChannel,
  command: string,
  pty: boolean,
  timing: { openedAt?: number; requestedAt?: number } = {},
): Promise<ExecTap | null> {
  if (pty) return { input: () => true, output: () => undefined, target: () => undefined, done: () => undefined };
  const path = `exec: ${command}`;
  const mode = s.access!.grant.file_transfer;
  let check: TransferCheck | null = mode === 'allow' ? { ok: true } : null;
  if (!check) {
    const now = performance.now();
    const { openedAt = now, requestedAt = now } = timing;
    // The wait runs from the exec request: the target connection made meanwhile counts.
    const wait = Math.max(0, transferGraceMs(requestedAt - openedAt) - (now - requestedAt));
    if (await stdinCarriesData(ch, wait)) check = checkTransfer(s, path, 'upload', 'exec');
  }
  if (check && !check.ok) {
    ch.stderr.write(`trailwatch: input to this command is a file transfer: ${check.message}\r\n`);
    ch.exit(1);
    ch.end();
    return null;
  }
  let approval = check?.ok ? check.approval : undefined;
  let bytes = 0;
  let outBytes = 0;
  const hash: Hash = createHash('sha256');
  const outHash: Hash = createHash('sha256');
  let target: ClientChannel | null = null;
  let refused = false;
  return {
    input(d) {
      if (refused) return false;
      if (!check) {
        // Data after the command started, under a grant that does not allow transfers freely.
        check = checkTransfer(s, path, 'upload', 'exec');
        if (!check.ok) {
          refused = true;
          ch.stderr.write(`\r\ntrailwatch: input to this command is a file transfer: ${check.message}; the command is stopped\r\n`);
          target?.signal('KILL');
          target?.close();
          return false;
        }
        approval = check.approval;
      }
      bytes += d.length;
      hash.update(d);
      return true;
    },
    output(d) {
      outBytes += d.length;
      outHash.update(d);
    },
    target(t) {
      target = t;
    },
    done() {
      if (!bytes) return;
      transferCompleted(s, { path, direction: 'upload', bytes, sha256: hash.digest('hex'), via: 'exec', approval, output: { bytes: outBytes, sha256: outHash.digest('hex') } });
    },
  };
}
