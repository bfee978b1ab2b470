// Real parts for the gateway tests: an OpenSSH sshd on a loopback port with
// its own host key and config, real local accounts, operator keys, a test
// HTTP server standing in for the session-log ingester, and the gateway
// itself started in-process with a driver wrapper that remembers the
// passwords it set (so the tests can look for them everywhere).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { Client as ClientT, ClientChannel, SFTPWrapper } from 'ssh2';
import { stringify } from 'yaml';
import { parseConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { startGateway, type RunningGateway } from '../src/gateway/index.js';
import { generateEd25519 } from '../src/gateway/server.js';
import type { RotationDriver } from '../src/gateway/rotate/index.js';
import type { TwEvent } from '../src/event.js';
import { freePort, tempDir, waitFor, within } from './helpers.js';

export const PREFIX = 'twt_';

export interface Sshd {
  port: number;
  fingerprint: string;
  mgmtKeyFile: string;
  logs(): string;
  stop(): Promise<void>;
}

function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/**
 * opts.logFile: sshd logs there (`-E`, as the AUTH facility would) instead of
 * to stderr, for a real syslog daemon to pick up. opts.config: more
 * sshd_config lines (e.g. `X11Forwarding yes`).
 */
export async function startSshd(dir: string, opts: { logFile?: string; config?: string[] } = {}): Promise<Sshd> {
  mkdirSync('/run/sshd', { recursive: true });
  mkdirSync(join(dir, 'authorized_keys'), { recursive: true });
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  const fingerprint = run('ssh-keygen', ['-lf', hostKey + '.pub']).split(' ')[1];
  const mgmtKeyFile = join(dir, 'mgmt_key');
  run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', mgmtKeyFile]);
  writeFileSync(join(dir, 'authorized_keys', 'root'), readFileSync(mgmtKeyFile + '.pub'));
  const port = await freePort();
  const cfg = join(dir, 'sshd_config');
  writeFileSync(
    cfg,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}/%u`,
      'StrictModes no',
      'PubkeyAuthentication yes',
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      `AllowUsers root ${PREFIX}*`,
      'Subsystem sftp /usr/lib/openssh/sftp-server',
      'LogLevel VERBOSE',
      'SyslogFacility AUTH',
      ...(opts.config ?? []),
      '',
    ].join('\n'),
  );
  const logTo = opts.logFile ? ['-E', opts.logFile] : ['-e'];
  const child: ChildProcess = spawn('/usr/sbin/sshd', ['-D', ...logTo, '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  child.stdout!.on('data', (d) => (logs += d));
  child.stderr!.on('data', (d) => (logs += d));
  await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      }),
    { what: `sshd on ${port}; logs: ${logs}` },
  );
  return {
    port,
    fingerprint,
    mgmtKeyFile,
    logs: () => (opts.logFile ? logs + readFileSync(opts.logFile, 'utf8') : logs),
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export function createAccount(name: string): void {
  if (!name.startsWith(PREFIX)) throw new Error('test accounts must start with ' + PREFIX);
  try {
    run('userdel', ['-r', name]);
  } catch {
    // not there
  }
  run('useradd', ['-m', '-s', '/bin/bash', name]);
}

export function removeAccount(name: string): void {
  try {
    run('pkill', ['-KILL', '-u', name]);
  } catch {
    // no processes
  }
  try {
    run('userdel', ['-r', '-f', name]);
  } catch {
    // already gone
  }
}

export function shadowHash(name: string): string {
  const line = readFileSync('/etc/shadow', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(name + ':'));
  return line?.split(':')[1] ?? '';
}

export function operatorKey(dir: string, name: string): { privateKey: string; publicKey: string; file: string } {
  const kp = generateEd25519(name);
  const file = join(dir, `${name}_key`);
  writeFileSync(file, kp.private, { mode: 0o600 });
  return { privateKey: kp.private, publicKey: kp.public, file };
}

/** A stand-in for the session-log ingester: records every request. */
export async function startIngester(token: string): Promise<{ url: string; events: TwEvent[]; bodies: string[]; unauthorized: number; close(): Promise<void> }> {
  const state = { events: [] as TwEvent[], bodies: [] as string[], unauthorized: 0 };
  const srv: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (req.url !== '/v1/session-log' || req.method !== 'POST') return void res.writeHead(404).end();
      if (req.headers.authorization !== `Bearer ${token}`) {
        state.unauthorized++;
        return void res.writeHead(401).end();
      }
      state.bodies.push(body);
      for (const l of body.split('\n')) if (l) state.events.push(JSON.parse(l) as TwEvent);
      res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":true}');
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  return Object.assign(state, { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((r) => srv.close(() => r())) });
}

export interface GatewayFixture {
  dir: string;
  dataDir: string;
  gw: RunningGateway;
  policyFile: string;
  logFile: string;
  passwords: string[];
  events(): TwEvent[];
  stop(): Promise<void>;
}

/** Start the gateway in-process on a free port with this policy document. */
export async function startTestGateway(dir: string, policy: unknown, extra: Record<string, unknown> = {}): Promise<GatewayFixture> {
  const dataDir = join(dir, 'data');
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, stringify(policy));
  const logFile = join(dir, 'gateway.log');
  const config = parseConfig({ data_dir: dataDir, log_level: 'debug', gateway: { host: '127.0.0.1', port: 0, policy_file: policyFile, command_hold_ms: 400, rotation: { cron: '' }, ...extra } });
  const passwords: string[] = [];
  const events: TwEvent[] = [];
  const wrap = (d: RotationDriver<ClientT>): RotationDriver<ClientT> => ({
    kind: d.kind,
    setPassword: (t, a, p) => {
      passwords.push(p);
      return d.setPassword(t, a, p);
    },
    login: (t, a, p) => d.login(t, a, p),
    close: (c) => d.close(c),
  });
  const gw = await startGateway(config, { log: createLogger({ level: 'debug', destination: logFile }), policyPollMs: 100, driver: wrap });
  gw.ctx.events.listeners.add((e) => events.push(e));
  return { dir, dataDir, gw, policyFile, logFile, passwords, events: () => events, stop: () => gw.stop() };
}

export function connectOperator(port: number, username: string, privateKey: string): Promise<ClientT> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('ready', () => resolve(c));
    c.on('error', reject);
    c.connect({ host: '127.0.0.1', port, username, privateKey, hostVerifier: () => true, readyTimeout: 20_000 });
  });
}

export interface Shell {
  ch: ClientChannel;
  out: () => string;
  waitOut(re: RegExp, ms?: number): Promise<string>;
  /** Resolves when the channel closes (after `exit`). */
  closed(ms?: number): Promise<void>;
}

/** An interactive shell with a pty and a transcript. */
export function openShell(c: ClientT): Promise<Shell> {
  return new Promise((resolve, reject) =>
    c.shell({ term: 'xterm', cols: 100, rows: 30 }, (err, ch) => {
      if (err) return reject(err);
      let out = '';
      ch.on('data', (d: Buffer) => (out += d.toString('utf8')));
      ch.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
      const closed = new Promise<void>((r) => ch.once('close', () => r()));
      resolve({
        ch,
        out: () => out,
        waitOut: (re, ms = 15_000) => waitFor(() => re.test(out) && out, { timeoutMs: ms, what: `${re} in shell output: ${JSON.stringify(out.slice(-500))}` }),
        closed: (ms = 15_000) => within(closed, ms, () => `the shell channel to close; output: ${JSON.stringify(out.slice(-500))}`),
      });
    }),
  );
}

export function execOn(c: ClientT, command: string, ms = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  return within(
    new Promise((resolve, reject) =>
      c.exec(command, (err, ch) => {
        if (err) return reject(err);
        let code: number | null = null;
        ch.on('data', (d: Buffer) => (stdout += d));
        ch.stderr.on('data', (d: Buffer) => (stderr += d));
        ch.on('exit', (c2: number | null) => (code = c2));
        ch.on('close', () => resolve({ code, stdout, stderr }));
      }),
    ),
    ms,
    () => `exec ${JSON.stringify(command)} to end; stdout ${JSON.stringify(stdout.slice(-300))} stderr ${JSON.stringify(stderr.slice(-300))}`,
  );
}

export function sftpOf(c: ClientT): Promise<SFTPWrapper> {
  return new Promise((resolve, reject) => c.sftp((err, s) => (err ? reject(err) : resolve(s))));
}

/** Every file under a directory, as text. */
export function readTree(dir: string): { file: string; text: string }[] {
  const out: { file: string; text: string }[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else out.push({ file: p, text: readFileSync(p, 'latin1') });
    }
  };
  walk(dir);
  return out;
}

/** Collects every process command line seen while running (polls /proc). */
export function watchCmdlines(intervalMs = 10): { stop(): Set<string> } {
  const seen = new Set<string>();
  const scan = () => {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        seen.add(readFileSync(`/proc/${pid}/cmdline`, 'latin1'));
      } catch {
        // gone
      }
    }
  };
  const t = setInterval(scan, intervalMs);
  scan();
  return {
    stop() {
      clearInterval(t);
      scan();
      return seen;
    },
  };
}

export { tempDir, waitFor };
