// One operator connection: resolves the access (from the user string or the
// menu), rotates and connects to the target once, serves the operator's
// channels (shell, exec, sftp, granted forwardings) over that one target
// connection, and rotates again when the operator leaves.
import { randomUUID } from 'node:crypto';
import type { Client, Connection, PseudoTtyInfo, ServerChannel, Session, SFTPWrapper, TcpipBindInfo } from 'ssh2';
import { errorMessage } from '../errors.js';
import { ACTIONS } from '../rules/decoders/vocabulary.js';
import type { GatewayContext } from './context.js';
import type { SessionRef } from './events.js';
import { channelAllowed, type Access } from './policy.js';
import { isScp } from './scp.js';
import type { UserSpec } from './server.js';
import { runExec, runShell, type ChannelInfo } from './shell.js';
import { serveSftp } from './sftp.js';
import { showMenu } from './menu.js';
import { Forwardings } from './forwarding.js';
import * as live from './live.js';
import type { Termination } from './live.js';

export class OperatorSession {
  readonly id = randomUUID();
  readonly ref: SessionRef;
  readonly forwarding = new Forwardings(this);
  access: Access | null = null;
  private target: Promise<Client> | null = null;
  private connected = false;
  private channels = 0;
  private ended = false;
  /** Registered in the live-session store (between target connect and end). */
  private live = false;
  private terminated = false;
  /** When the session reached its target (max_session_seconds counts from here), and the operator's last input. */
  private startedAt = 0;
  private lastInput = Date.now();
  private warned: 'idle-timeout' | 'max-duration' | null = null;
  /** Open shell and exec channels, told why when an administrator ends the session. */
  private readonly open = new Set<ServerChannel>();

  constructor(
    readonly ctx: GatewayContext,
    readonly client: Connection,
    readonly user: UserSpec,
    source: { ip: string; port: number },
  ) {
    this.ref = { id: this.id, operator: user.operator, sourceIp: source.ip, sourcePort: source.port };
    if (user.target) this.setAccess(ctx.policy().authorize(user.operator, user.target, user.account!));
    client.on('session', (accept) => this.onSession(accept()));
    client.on('tcpip', (accept, reject, info) => this.forwarding.direct(accept, reject, info));
    client.on('request', (accept, reject, name, info) => this.forwarding.request(accept, reject, name, info as TcpipBindInfo));
    client.on('close', () => void this.end());
  }

  setAccess(a: Access | null): void {
    this.access = a;
    if (!a) return;
    Object.assign(this.ref, { account: a.account, target: a.target.name, targetAddress: a.target.address });
  }

  /** The target connection: rotate, verify, connect (once per operator connection). */
  connect(): Promise<Client> {
    if (!this.access) return Promise.reject(new Error('no access chosen'));
    if (!this.target) {
      const a = this.access;
      // Recorded before the password changes: a gateway killed from here on
      // rotates this account at its next start and records the session's end.
      this.recordLive(a, false);
      this.target = this.ctx.rotator.rotate(a.target, a.account, 'access', this.ref, true).then((c) => {
        this.connected = true;
        this.startedAt = this.lastInput = Date.now();
        this.forwarding.attach(c!);
        c!.on('close', () => this.close('target connection closed'));
        c!.on('error', (err) => this.ctx.log.warn({ session: this.id, error: err.message }, 'target connection error'));
        this.ctx.events.emit({
          action: ACTIONS.gatewaySessionStart,
          outcome: 'success',
          message: `${this.user.operator} connected to ${a.account}@${a.target.name} through the gateway`,
          session: this.ref,
        });
        this.recordLive(a, true);
        return c!;
      });
    }
    return this.target;
  }

  nextChannel(): number {
    return ++this.channels;
  }

  private onSession(s: Session): void {
    const info: ChannelInfo = { pty: null, env: {}, forward: this.forwarding.forChannel(), openedAt: performance.now() };
    s.on('pty', (accept, _reject, p: PseudoTtyInfo) => {
      info.pty = p;
      accept?.();
    });
    s.on('env', (accept, _reject, e) => {
      if (/^(LANG|LC_[A-Z]+|TZ)$/.test(e.key)) info.env[e.key] = e.val;
      accept?.();
    });
    s.on('window-change', (accept, _reject, w) => {
      if (info.pty) Object.assign(info.pty, { cols: w.cols, rows: w.rows, width: w.width, height: w.height });
      info.onResize?.(w.cols, w.rows, w.width, w.height);
      accept?.();
    });
    s.on('auth-agent', (accept, reject) => this.forwarding.agentRequest(accept, reject, info.forward!));
    s.on('x11', (accept, reject, x) => this.forwarding.x11Request(accept, reject, info.forward!, x));
    s.on('signal', (accept, _reject, sig) => {
      info.onSignal?.(sig.name);
      accept?.();
    });
    s.on('shell', (accept, reject) => void this.start(accept, reject, info, null));
    s.on('exec', (accept, reject, e) => {
      info.requestedAt = performance.now();
      void this.start(accept, reject, info, e.command);
    });
    s.on('sftp', (accept, reject) => void this.startSftp(accept, reject));
    s.on('subsystem', (_accept, reject, sub) => {
      this.refused(`subsystem ${sub.name}`);
      reject?.();
    });
  }

  private async start(accept: () => ServerChannel, reject: () => void, info: ChannelInfo, command: string | null): Promise<void> {
    const ch = accept();
    this.open.add(ch);
    // (not a 'data' listener here: that would start the stream before its consumer is attached)
    info.onInput = () => this.touch();
    ch.on('close', () => this.open.delete(ch));
    for (const n of info.forward?.notices ?? []) ch.stderr.write(n);
    if (!this.access) {
      if (command !== null) return fail(ch, 'trailwatch: say which account and target: ssh operator:account@target@gateway\r\n');
      const chosen = await showMenu(this, ch, info);
      if (!chosen) return;
      this.setAccess(chosen);
    }
    // scp is a file transfer (file_transfer decides), not a remote command.
    const refusal = command !== null && isScp(command) ? null : channelAllowed(this.access!.grant, command);
    if (refusal) {
      const a = this.access!;
      this.ctx.events.emit({
        action: ACTIONS.gatewayCommandBlocked,
        outcome: 'failure',
        message: `${this.user.operator} on ${a.account}@${a.target.name}: ${command === null ? 'shell' : command} refused: ${refusal}`,
        session: this.ref,
        ...(command !== null ? { commandLine: command } : {}),
        reason: command === null ? 'shell-not-granted' : 'exec-not-granted',
      });
      ch.stderr.write(`trailwatch: ${refusal}\r\n`);
      ch.exit(126);
      return void ch.end();
    }
    let target: Client;
    try {
      target = await this.connect();
    } catch (err) {
      return fail(ch, `trailwatch: access to ${this.access!.account}@${this.access!.target.name} refused: ${publicReason(err)}\r\n`);
    }
    if (command === null) runShell(this, target, ch, info);
    else runExec(this, target, ch, info, command);
    void reject;
  }

  private async startSftp(accept: () => SFTPWrapper, reject: () => void): Promise<void> {
    const a = this.access;
    if (!a || a.grant.file_transfer === 'deny') {
      this.ctx.events.emit({
        action: ACTIONS.gatewayTransfer,
        outcome: 'failure',
        message: `${this.user.operator}: file transfer refused (${a ? 'grant has file_transfer: deny' : 'no account chosen'})`,
        session: this.ref,
        transfer: { status: 'refused', mode: a?.grant.file_transfer ?? 'deny' },
      });
      return reject();
    }
    // Accept now: OpenSSH's sftp sends its INIT without waiting for the reply.
    // Requests wait in the proxy until the target side is ready.
    const op = accept();
    // Every SFTP request is the operator doing something.
    for (const n of ['OPEN', 'READ', 'WRITE', 'OPENDIR', 'READDIR', 'STAT', 'LSTAT', 'REALPATH', 'REMOVE', 'RENAME', 'MKDIR', 'RMDIR']) op.on(n, () => this.touch());
    const target = this.connect().then(
      (t) => new Promise<SFTPWrapper>((resolve, rej) => t.sftp((err, ts) => (err ? rej(err) : resolve(ts)))),
    );
    serveSftp(this, op, target);
  }

  private refused(what: string): void {
    this.ctx.log.info({ session: this.id, operator: this.user.operator }, `refused ${what}`);
  }

  close(reason: string): void {
    this.ctx.log.debug({ session: this.id, reason }, 'closing operator session');
    this.client.end();
  }

  checkTermination(): void {
    if (!this.live || this.terminated) return;
    const t = live.terminationOf(this.ctx.dataDir, this.id);
    if (t) return this.terminate(t);
    this.checkLimits(Date.now());
  }

  /** The operator did something: the idle clock starts again. */
  touch(): void {
    this.lastInput = Date.now();
    if (this.warned === 'idle-timeout') this.warned = null;
  }

  /**
   * The grant's idle timeout and maximum duration (checked every second):
   * a warning on the operator's terminals a while before (a minute, or half
   * the limit when that is shorter), then the end, with an event saying why.
   */
  private checkLimits(now: number): void {
    const g = this.access?.grant;
    if (!g || !this.connected || this.startedAt === 0) return;
    const limits: [number, 'idle-timeout' | 'max-duration', number][] = [];
    if (g.idle_timeout_seconds) limits.push([this.lastInput + g.idle_timeout_seconds * 1000, 'idle-timeout', g.idle_timeout_seconds * 1000]);
    if (g.max_session_seconds) limits.push([this.startedAt + g.max_session_seconds * 1000, 'max-duration', g.max_session_seconds * 1000]);
    if (!limits.length) return;
    const [due, why, span] = limits.sort((a, b) => a[0] - b[0])[0];
    const a = this.access!;
    if (now >= due) {
      this.terminated = true;
      const what = why === 'idle-timeout' ? `idle for ${g.idle_timeout_seconds} s` : `open for ${g.max_session_seconds} s, the most its grant allows`;
      for (const ch of this.open) ch.stderr.write(`\r\ntrailwatch: this session has ended: ${what}\r\n`);
      this.ctx.events.emit({
        action: ACTIONS.gatewaySessionTerminated,
        outcome: 'success',
        message: `session of ${this.user.operator} on ${a.account}@${a.target.name} ended by the gateway: ${what}`,
        session: this.ref,
        reason: why,
        extra: { termination: { by: 'gateway', requested_at: new Date(now).toISOString() } },
      });
      setImmediate(() => this.close(why));
      return;
    }
    const lead = Math.min(60_000, span / 2);
    if (now >= due - lead && this.warned !== why) {
      this.warned = why;
      const left = Math.ceil((due - now) / 1000);
      const text = why === 'idle-timeout' ? `this session ends in ${left} s unless you type something (idle timeout)` : `this session ends in ${left} s (maximum session length)`;
      for (const ch of this.open) ch.stderr.write(`\r\ntrailwatch: ${text}\r\n`);
    }
  }

  /** An administrator ended the session: tell the operator, record it, disconnect (the session end rotates as usual). */
  private terminate(t: Termination): void {
    this.terminated = true;
    const a = this.access!;
    // Printable text only: the reason comes from a web form and lands on the operator's terminal.
    const plain = (x: string) => x.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
    for (const ch of this.open) ch.stderr.write(`\r\ntrailwatch: this session was terminated by ${plain(t.by)}: ${plain(t.reason)}\r\n`);
    this.ctx.events.emit({
      action: ACTIONS.gatewaySessionTerminated,
      outcome: 'success',
      message: `session of ${this.user.operator} on ${a.account}@${a.target.name} terminated by ${t.by}: ${t.reason}`,
      session: this.ref,
      reason: t.reason,
      extra: { termination: { by: t.by, requested_at: t.requested_at } },
    });
    this.ctx.log.info({ session: this.id, by: t.by, reason: t.reason }, 'session terminated by an administrator');
    // Let the notices go out ahead of the disconnect.
    setImmediate(() => this.close(`terminated by ${t.by}`));
  }

  private recordLive(a: Access, connected: boolean): void {
    try {
      live.register(this.ctx.dataDir, { id: this.id, operator: this.user.operator, account: a.account, target: a.target.name, source_ip: this.ref.sourceIp ?? '', started_at: new Date().toISOString(), connected });
      this.live = true;
    } catch (err) {
      // The session goes on; it just cannot be listed or ended from the CLI and console, nor undone after a crash.
      this.ctx.log.error({ session: this.id, error: errorMessage(err) }, 'cannot record the live session');
    }
  }

  private unregisterLive(): void {
    if (!this.live) return;
    this.live = false;
    try {
      live.unregister(this.ctx.dataDir, this.id);
    } catch (err) {
      this.ctx.log.error({ session: this.id, error: errorMessage(err) }, 'cannot remove the live session record');
    }
  }

  /** The operator left: close the target, then rotate so the password just used is dead. */
  private async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    const t = this.target;
    if (!t || !this.access) return;
    let client: Client | null = null;
    try {
      client = await t;
    } catch {
      // The access rotation failed: nothing was used, and a rotation left half done is the vault's to recover.
      this.unregisterLive();
      return;
    }
    this.forwarding.closeAll();
    client.end();
    if (!this.connected) return this.unregisterLive();
    this.ctx.events.emit({ action: ACTIONS.gatewaySessionEnd, outcome: 'success', message: `${this.user.operator} left ${this.access.account}@${this.access.target.name}`, session: this.ref });
    if (this.live)
      try {
        live.markEnded(this.ctx.dataDir, this.id);
      } catch (err) {
        this.ctx.log.error({ session: this.id, error: errorMessage(err) }, 'cannot mark the live session ended');
      }
    const rotated = await this.ctx.rotator.rotate(this.access.target, this.access.account, 'session-end', this.ref).then(
      () => true,
      (err) => {
        this.ctx.log.error({ session: this.id, error: errorMessage(err) }, 'rotation after session end failed');
        return false;
      },
    );
    // Kept when the rotation failed, so the next start (or the next try) rotates the account.
    if (rotated) this.unregisterLive();
  }
}

function publicReason(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === 'TW_HOSTKEY_MISMATCH') return 'the target host key does not match the pinned key (administrators alerted)';
  return 'password rotation failed (administrators alerted)';
}

function fail(ch: ServerChannel, msg: string): void {
  ch.stderr.write(msg);
  ch.exit(1);
  ch.end();
}
