// SFTP terminated at the gateway: an SFTP server towards the operator, an
// SFTP client towards the target as the rotated account. Every open of a file
// passes the transfer check (approval in approve mode); the data of each file
// is hashed in offset order as it passes, and logged at close.
import { createHash, type Hash } from 'node:crypto';
import ssh2 from 'ssh2';
import type { Attributes, FileEntry, SFTPWrapper } from 'ssh2';
import { ACTIONS } from '../rules/decoders/vocabulary.js';
import type { Direction } from './approvals.js';
import type { OperatorSession } from './session.js';
import { canonicalPath, checkTransfer, transferCompleted } from './transfer.js';

const { STATUS_CODE, OPEN_MODE } = ssh2.utils.sftp;
const WRITING = OPEN_MODE.WRITE | OPEN_MODE.APPEND | OPEN_MODE.CREAT | OPEN_MODE.TRUNC;
/** Out-of-order chunks kept for hashing before giving up on a whole-file hash. */
const MAX_PENDING_BYTES = 32 * 1024 * 1024;

interface OpenFile {
  th: Buffer;
  dir: boolean;
  path: string;
  direction: Direction;
  approval?: string;
  hash: Hash;
  next: number;
  pending: Map<number, Buffer>;
  pendingBytes: number;
  partial: boolean;
}

type Cb<T> = (err: (Error & { code?: number }) | null | undefined, v: T) => void;

/** What ssh2's server-side SFTP object keeps of its channel (it sends only a close by itself). */
interface SftpChannel {
  _protocol: { exitStatus(chan: number, status: number): void; channelEOF(chan: number): void };
  outgoing: { id: number; state: string };
}

/**
 * End the operator's SFTP channel as OpenSSH's sshd does when sftp-server
 * exits: exit-status, EOF, close. Without the exit status `scp` (SFTP mode)
 * reports failure after a good copy.
 */
function finish(op: SFTPWrapper, code: number): void {
  const c = op as unknown as SftpChannel;
  if (c.outgoing.state === 'open') {
    c._protocol.exitStatus(c.outgoing.id, code);
    c._protocol.channelEOF(c.outgoing.id);
    c.outgoing.state = 'eof';
  }
  op.end();
}

export function serveSftp(s: OperatorSession, op: SFTPWrapper, target: Promise<SFTPWrapper>): void {
  // The client may send EOF before the target side is ready (`ssh -s gw sftp </dev/null`).
  let clientEnded = false;
  const earlyEnd = () => (clientEnded = true);
  op.once('end', earlyEnd);
  target.then(
    (t) => {
      op.removeListener('end', earlyEnd);
      const proxy = new SftpProxy(s, op, t);
      if (clientEnded) proxy.clientEnded();
    },
    () => finish(op, 1),
  );
  // Until the target is ready, requests are held in order (ssh2 answers unhandled ones itself).
  const held: [string, unknown[]][] = [];
  const names = ['OPEN', 'OPENDIR', 'READ', 'WRITE', 'CLOSE', 'FSTAT', 'FSETSTAT', 'READDIR', 'STAT', 'LSTAT', 'REALPATH', 'READLINK', 'MKDIR', 'RMDIR', 'SETSTAT', 'REMOVE', 'RENAME', 'SYMLINK', 'EXTENDED'];
  const holders = names.map((n) => [n, (...args: unknown[]) => held.push([n, args])] as const);
  for (const [n, h] of holders) op.on(n, h);
  void target
    .then(() => {
      for (const [n, h] of holders) op.removeListener(n, h);
      for (const [n, args] of held) op.emit(n, ...args);
    })
    .catch(() => undefined);
}

class SftpProxy {
  private readonly handles = new Map<number, OpenFile>();
  private nextHandle = 1;

  constructor(
    private readonly s: OperatorSession,
    private readonly op: SFTPWrapper,
    private readonly t: SFTPWrapper,
  ) {
    op.on('OPEN', (id: number, path: string, flags: number, attrs: Attributes) => void this.open(id, path, flags, attrs));
    op.on('OPENDIR', (id: number, path: string) => t.opendir(path, this.reply(id, (h: Buffer) => op.handle(id, this.track(h, path, true)))));
    op.on('READ', (id: number, h: Buffer, offset: number, len: number) => this.read(id, h, offset, len));
    op.on('WRITE', (id: number, h: Buffer, offset: number, data: Buffer) => this.write(id, h, offset, data));
    op.on('CLOSE', (id: number, h: Buffer) => this.close(id, h));
    op.on('FSTAT', (id: number, h: Buffer) => this.withHandle(id, h, (f) => t.fstat(f.th, this.reply(id, (a: Attributes) => op.attrs(id, a)))));
    op.on('FSETSTAT', (id: number, h: Buffer, attrs: Attributes) => this.withHandle(id, h, (f) => t.fsetstat(f.th, attrs, this.ok(id))));
    op.on('READDIR', (id: number, h: Buffer) => this.withHandle(id, h, (f) => (t.readdir as unknown as (h: Buffer, o: object, cb: Cb<FileEntry[]>) => void)(f.th, { full: true }, this.reply(id, (l: FileEntry[]) => op.name(id, l)))));
    op.on('STAT', (id: number, path: string) => t.stat(path, this.reply(id, (a: Attributes) => op.attrs(id, a))));
    op.on('LSTAT', (id: number, path: string) => t.lstat(path, this.reply(id, (a: Attributes) => op.attrs(id, a))));
    op.on('REALPATH', (id: number, path: string) => t.realpath(path, this.reply(id, (p: string) => op.name(id, [{ filename: p, longname: p, attrs: {} as Attributes }]))));
    op.on('READLINK', (id: number, path: string) => t.readlink(path, this.reply(id, (p: string) => op.name(id, [{ filename: p, longname: p, attrs: {} as Attributes }]))));
    op.on('MKDIR', (id: number, path: string, attrs: Attributes) => t.mkdir(path, attrs, this.ok(id)));
    op.on('RMDIR', (id: number, path: string) => t.rmdir(path, this.ok(id)));
    op.on('SETSTAT', (id: number, path: string, attrs: Attributes) => void this.modify(id, 'change attributes of', [path], (cb) => t.setstat(path, attrs, cb)));
    op.on('REMOVE', (id: number, path: string) => void this.modify(id, 'remove', [path], (cb) => t.unlink(path, cb)));
    op.on('RENAME', (id: number, from: string, to: string) => void this.modify(id, 'rename', [from, to], (cb) => t.rename(from, to, cb)));
    op.on('SYMLINK', (id: number, target: string, link: string) => void this.modify(id, 'symlink', [link], (cb) => t.symlink(target, link, cb), true));
    // Extensions (posix-rename, hardlink, copy-data, …) are not advertised; refuse any that come.
    op.on('EXTENDED', (id: number) => op.status(id, STATUS_CODE.OP_UNSUPPORTED, 'extension not supported by the gateway'));
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      for (const f of this.handles.values()) t.close(f.th, () => undefined);
      this.handles.clear();
      t.end();
    };
    this.done = done;
    op.on('close', done);
    // The client sent EOF and waits for us, as for sftp-server exiting 0.
    op.on('end', () => this.clientEnded());
    // The target's SFTP went away first: tell the client, as a failed server.
    t.on('close', () => {
      if (finished) return;
      done();
      finish(op, 1);
    });
  }

  private readonly done: () => void;

  clientEnded(): void {
    this.done();
    finish(this.op, 0);
  }

  private get mode() {
    return this.s.access!.grant.file_transfer;
  }

  private reply<T>(id: number, then: (v: T) => void): Cb<T> {
    return (err, v) => {
      if (err) return this.fail(id, err);
      then(v);
    };
  }

  private ok(id: number): (err?: Error | null) => void {
    return (err) => (err ? this.fail(id, err) : this.op.status(id, STATUS_CODE.OK));
  }

  private fail(id: number, err: Error & { code?: number }): void {
    const code = typeof err.code === 'number' ? err.code : STATUS_CODE.FAILURE;
    this.op.status(id, code, err.message);
  }

  private track(th: Buffer, path: string, dir: boolean, direction: Direction = 'download', approval?: string): Buffer {
    const n = this.nextHandle++;
    this.handles.set(n, { th, dir, path, direction, approval, hash: createHash('sha256'), next: 0, pending: new Map(), pendingBytes: 0, partial: false });
    const h = Buffer.alloc(4);
    h.writeUInt32BE(n);
    return h;
  }

  private withHandle(id: number, h: Buffer, fn: (f: OpenFile) => void): void {
    const f = h.length === 4 ? this.handles.get(h.readUInt32BE(0)) : undefined;
    if (!f) return this.op.status(id, STATUS_CODE.FAILURE, 'invalid handle');
    fn(f);
  }

  private async open(id: number, raw: string, flags: number, attrs: Attributes): Promise<void> {
    let path: string;
    try {
      path = await canonicalPath(this.t, raw);
    } catch (err) {
      return this.fail(id, err as Error);
    }
    const writes = (flags & WRITING) !== 0;
    const directions: Direction[] = writes ? ((flags & OPEN_MODE.READ) !== 0 ? ['upload', 'download'] : ['upload']) : ['download'];
    let approval: string | undefined;
    for (const d of directions) {
      const c = checkTransfer(this.s, path, d, 'sftp');
      if (!c.ok) return this.op.status(id, STATUS_CODE.PERMISSION_DENIED, c.message);
      approval ??= c.approval;
    }
    this.t.open(path, flags, attrs, this.reply(id, (th: Buffer) => this.op.handle(id, this.track(th, path, false, directions[0], approval))));
  }

  private read(id: number, h: Buffer, offset: number, len: number): void {
    this.withHandle(id, h, (f) =>
      this.t.read(f.th, Buffer.allocUnsafe(len), 0, len, offset, (err, n, data) => {
        if (err) return this.fail(id, err);
        if (n === 0) return this.op.status(id, STATUS_CODE.EOF);
        const chunk = data.subarray(0, n);
        hashChunk(f, offset, chunk);
        this.op.data(id, chunk);
      }),
    );
  }

  private write(id: number, h: Buffer, offset: number, data: Buffer): void {
    this.withHandle(id, h, (f) => {
      if (f.direction !== 'upload') return this.op.status(id, STATUS_CODE.PERMISSION_DENIED, 'file not opened for writing');
      hashChunk(f, offset, data);
      this.t.write(f.th, data, 0, data.length, offset, this.ok(id));
    });
  }

  private close(id: number, h: Buffer): void {
    this.withHandle(id, h, (f) => {
      this.handles.delete(h.readUInt32BE(0));
      this.t.close(f.th, (err) => {
        if (err) this.fail(id, err);
        else this.op.status(id, STATUS_CODE.OK);
        if (f.dir) return;
        const partial = f.partial || f.pending.size > 0;
        transferCompleted(this.s, { path: f.path, direction: f.direction, bytes: f.next, sha256: partial ? null : f.hash.digest('hex'), via: 'sftp', approval: f.approval, partial });
      });
    });
  }

  /**
   * Operations that change the target's files. In approve mode each path must
   * have a live upload approval (so a rename cannot move an approved file over
   * /etc/passwd, nor move a secret onto an approved download path); symlinks
   * are refused outright there.
   */
  private async modify(id: number, what: string, paths: string[], run: (cb: (err?: Error | null) => void) => void, refuseInApprove = false): Promise<void> {
    if (this.mode === 'approve') {
      const denied = refuseInApprove ? `${what} is not allowed in approve mode` : await this.unapproved(paths);
      if (denied) {
        this.s.ctx.events.emit({
          action: ACTIONS.gatewayTransfer,
          outcome: 'failure',
          message: `${this.s.user.operator}: ${what} ${paths.join(' -> ')} refused: ${denied}`,
          session: this.s.ref,
          file: { path: paths[paths.length - 1] },
          transfer: { direction: 'upload', status: 'refused', mode: 'approve' },
          reason: what,
        });
        return this.op.status(id, STATUS_CODE.PERMISSION_DENIED, `trailwatch: ${what} refused: ${denied}`);
      }
    }
    run(this.ok(id));
  }

  private async unapproved(paths: string[]): Promise<string | null> {
    for (const p of paths) {
      const path = await canonicalPath(this.t, p).catch(() => p);
      const c = checkTransfer(this.s, path, 'upload', 'sftp');
      if (!c.ok) return c.message;
    }
    return null;
  }
}

/** Feed the hash in offset order; out-of-order chunks wait (bounded). */
function hashChunk(f: OpenFile, offset: number, data: Buffer): void {
  if (f.partial) return;
  if (offset === f.next) {
    f.hash.update(data);
    f.next += data.length;
    let nextChunk: Buffer | undefined;
    while ((nextChunk = f.pending.get(f.next))) {
      f.pending.delete(f.next);
      f.pendingBytes -= nextChunk.length;
      f.hash.update(nextChunk);
      f.next += nextChunk.length;
    }
  } else if (offset > f.next && f.pendingBytes + data.length <= MAX_PENDING_BYTES) {
    f.pending.set(offset, Buffer.from(data));
    f.pendingBytes += data.length;
  } else {
    f.partial = true;
  }
}
