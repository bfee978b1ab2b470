// Linux over SSH: `chpasswd` (or `sudo -n chpasswd`) run over the management
// connection with "account:password" written to its stdin, so the password
// is never in an argv or a shell string. Every connection checks the pinned
// host key during key exchange, before any authentication is attempted.
import { readFileSync } from 'node:fs';
import ssh2 from 'ssh2';
import type { Client as ClientT, ConnectConfig } from 'ssh2';
import { TrailwatchError } from '../../errors.js';
import { fingerprint, type TargetSpec } from '../policy.js';
import type { RotationDriver } from './index.js';

const { Client } = ssh2;

export interface SshOptions {
  timeoutMs: number;
}

/**
 * Connect with the host key pinned: a mismatch fails in the key exchange,
 * before the client sends any credential.
 */
export function connectPinned(target: TargetSpec, auth: Partial<ConnectConfig>, o: SshOptions): Promise<ClientT> {
  return new Promise((resolve, reject) => {
    const c = new Client();
    let seen: string | null = null;
    let done = false;
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      if (err) {
        c.end();
        reject(err);
      } else resolve(c);
    };
    c.on('ready', () => finish(null));
    c.on('error', (err: Error & { level?: string }) => {
      if (seen && seen !== target.host_key)
        return finish(new TrailwatchError('TW_HOSTKEY_MISMATCH', `host key of ${target.name} (${target.address}:${target.port}) is ${seen}, pinned ${target.host_key}`));
      const auth = err.level === 'client-authentication';
      finish(new TrailwatchError(auth ? 'TW_TARGET_AUTH' : 'TW_TARGET_CONNECT', `${target.name}: ${auth ? 'authentication failed' : err.message}`, { retriable: !auth, cause: auth ? undefined : err }));
    });
    c.on('close', () => finish(new TrailwatchError('TW_TARGET_CONNECT', `${target.name}: connection closed during setup`, { retriable: true })));
    c.connect({
      host: target.address,
      port: target.port,
      readyTimeout: o.timeoutMs,
      keepaliveInterval: 15_000,
      hostVerifier: (key: Buffer) => {
        seen = fingerprint(key);
        return seen === target.host_key;
      },
      ...auth,
    });
  });
}

/** Password login; also answers keyboard-interactive password prompts (sshd with UsePAM). */
function passwordAuth(username: string, password: string): Partial<ConnectConfig> {
  let kbdTried = false;
  return {
    username,
    authHandler: (methodsLeft: string[] | null, _partial: boolean | null, next: (m: unknown) => void) => {
      const left = methodsLeft ?? ['password', 'keyboard-interactive'];
      if (left.includes('password') && methodsLeft === null) return next({ type: 'password', username, password });
      if (left.includes('keyboard-interactive') && !kbdTried) {
        kbdTried = true;
        return next({
          type: 'keyboard-interactive',
          username,
          prompt: (_n: string, _i: string, _l: string, prompts: { prompt: string }[], finish: (answers: string[]) => void) =>
            finish(prompts.map((p) => (/password/i.test(p.prompt) ? password : ''))),
        });
      }
      return next(false);
    },
  } as Partial<ConnectConfig>;
}

export class LinuxSshDriver implements RotationDriver<ClientT> {
  readonly kind = 'linux';
  private readonly keys = new Map<string, Buffer>();

  constructor(private readonly o: SshOptions) {}

  private key(file: string): Buffer {
    let k = this.keys.get(file);
    if (!k) this.keys.set(file, (k = readFileSync(file)));
    return k;
  }

  async setPassword(target: TargetSpec, account: string, password: string): Promise<void> {
    const m = target.management;
    const mgmt = await connectPinned(target, { username: m.user, privateKey: this.key(m.private_key_file) }, this.o);
    try {
      await runWithStdin(mgmt, m.sudo ? 'sudo -n chpasswd' : 'chpasswd', `${account}:${password}\n`, target.name, password);
    } finally {
      mgmt.end();
    }
  }

  login(target: TargetSpec, account: string, password: string): Promise<ClientT> {
    return connectPinned(target, passwordAuth(account, password), this.o);
  }

  close(c: ClientT): void {
    c.end();
  }
}

/** Run a fixed command, feed stdin, require exit 0. stderr goes into the error with any secret scrubbed. */
function runWithStdin(c: ClientT, command: string, stdin: string, where: string, secret: string): Promise<void> {
  return new Promise((resolve, reject) => {
    c.exec(command, (err, stream) => {
      if (err) return reject(new TrailwatchError('TW_ROTATE_EXEC', `${where}: cannot run ${command}: ${err.message}`, { retriable: true }));
      let stderr = '';
      let code: number | null = null;
      stream.on('data', () => undefined);
      stream.stderr.on('data', (d: Buffer) => {
        if (stderr.length < 2000) stderr += d.toString('utf8');
      });
      stream.on('exit', (c: number | null) => (code = c));
      stream.on('close', () => {
        if (code === 0) return resolve();
        const msg = stderr.split(secret).join('[redacted]').trim().slice(0, 500);
        // Exit status unknown (connection lost): the password may or may not be set.
        const errCode = code === null ? 'TW_ROTATE_UNKNOWN' : 'TW_ROTATE_REFUSED';
        reject(new TrailwatchError(errCode, `${where}: ${command} exited ${code ?? 'without a status'}${msg ? `: ${msg}` : ''}`));
      });
      stream.end(stdin);
    });
  });
}
