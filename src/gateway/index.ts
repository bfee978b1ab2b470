// `trailwatch gateway`: the SSH gateway as one component. Loads the policy
// (reloadable), host key and secret key, recovers interrupted rotations,
// listens, runs the rotation sweep, and announces approval decisions.
import { unwatchFile, watchFile } from 'node:fs';
import { join, resolve } from 'node:path';
import cron from 'node-cron';
import { createHash } from 'node:crypto';
import ssh2, { type Client } from 'ssh2';
import type { Config } from '../config.js';
import { ConfigError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { GatewayContext } from './context.js';
import { GatewayEvents, type SessionRef } from './events.js';
import { ACTIONS } from '../rules/decoders/vocabulary.js';
import { loadPolicy, type Policy } from './policy.js';
import { Rotator, type RotationDriver } from './rotate/index.js';
import { LinuxSshDriver } from './rotate/linux.js';
import { recordingsDirOf } from './recording.js';
import { leftOver, unregister, type LiveSession } from './live.js';
import { MfaStore } from './mfa.js';
import { createSshServer, loadHostKey } from './server.js';
import { announceDecisions } from './transfer.js';
import { loadSecretKey, Vault } from './vault.js';

export interface RunningGateway {
  port: number;
  ctx: GatewayContext;
  /** Reload the policy file; a bad file keeps the old policy. Returns the error lines, if any. */
  reload(): string[] | null;
  stop(): Promise<void>;
}

/** Validate what can be validated before any I/O (check-config, start). */
export function validateGatewayConfig(config: Config): void {
  const expr = config.gateway.rotation.cron;
  if (expr && !cron.validate(expr)) throw new ConfigError([`gateway.rotation.cron: not a valid cron expression: ${JSON.stringify(expr)}`]);
  const sl = config.gateway.session_log;
  if (sl.url && !sessionLogToken(config))
    throw new ConfigError([
      'gateway.session_log.token: gateway.session_log.url is set but neither gateway.session_log.token nor session_log.token is; the ingester refuses requests without its token (set one shared session_log.token, or both to the same value)',
    ]);
}

/** The gateway's bearer token for the ingester: its own, else the ingester's session_log.token (one shared secret in one trailwatch.yaml). */
export function sessionLogToken(config: Config): string | undefined {
  return config.gateway.session_log.token ?? config.session_log.token;
}

/** SHA256 fingerprints of the gateway's host key, as `ssh-keygen -lf` and the ssh client print them. */
export function hostKeyFingerprints(hostKey: Buffer): string[] {
  const parsed = ssh2.utils.parseKey(hostKey);
  const keys = (Array.isArray(parsed) ? parsed : [parsed]).filter((k): k is ssh2.ParsedKey => !(k instanceof Error));
  return keys.map((k) => `${k.type} SHA256:${createHash('sha256').update(k.getPublicSSH()).digest('base64').replace(/=+$/, '')}`);
}

/** The host key a gateway with this config uses (created on first use), for `trailwatch gateway fingerprint`. */
export function gatewayHostKey(config: Config): Buffer {
  return loadHostKey(config.gateway.host_key_file ?? join(resolve(config.data_dir), 'gateway', 'host_key'));
}

export async function startGateway(
  config: Config,
  opts: { log: Logger; policyPollMs?: number; /** Wrap the rotation driver (tests observe what it does). */ driver?: (d: RotationDriver<Client>) => RotationDriver<Client> },
): Promise<RunningGateway> {
  validateGatewayConfig(config);
  const cfg = config.gateway;
  const log = opts.log.child({ component: 'gateway' });
  const dataDir = resolve(config.data_dir);
  const policyFile = resolve(cfg.policy_file);
  let policy: Policy = loadPolicy(policyFile);
  const hostKey = loadHostKey(cfg.host_key_file ?? join(dataDir, 'gateway', 'host_key'));
  // Sessions of the previous run (its processes are gone), read before any new one registers.
  const interrupted = leftOver(dataDir);
  const secretKey = loadSecretKey({ secretKey: cfg.secret_key, secretKeyFile: cfg.secret_key_file, dataDir });
  const vault = new Vault(dataDir, secretKey);
  const events = new GatewayEvents(dataDir, { ...cfg.session_log, token: sessionLogToken(config) }, log);
  const linux = new LinuxSshDriver({ timeoutMs: cfg.connect_timeout_ms });
  const driver = opts.driver ? opts.driver(linux) : linux;
  const rotator = new Rotator<Client>({ driver: () => driver, vault, events, passwordLength: cfg.password_length, log });
  const ctx: GatewayContext = {
    cfg,
    dataDir,
    log,
    events,
    policy: () => policy,
    rotator,
    recordingsDir: recordingsDirOf(dataDir, cfg.recording),
    mfa: new MfaStore(dataDir, secretKey, cfg.mfa.issuer),
    sessions: new Set(),
  };

  const reload = (): string[] | null => {
    try {
      policy = loadPolicy(policyFile);
      log.info({ file: policyFile, operators: policy.operators.size, targets: policy.targets.size }, 'gateway policy loaded');
      return null;
    } catch (err) {
      const lines = err instanceof ConfigError ? err.issues : [errorMessage(err)];
      log.error({ file: policyFile, issues: lines }, 'gateway policy not reloaded: the previous policy stays in force');
      return lines;
    }
  };
  // Nothing that keeps the process alive starts before the gateway listens:
  // a start that fails leaves nothing behind.
  let ssh: ReturnType<typeof createSshServer>;
  try {
    await rotator.recover(policy);
    await endInterrupted(ctx, interrupted);
    ssh = createSshServer(ctx, hostKey);
    const { server } = ssh;
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(cfg.port, cfg.host, () => {
        server.removeListener('error', rej);
        res();
      });
    });
  } catch (err) {
    await events.stop();
    throw err;
  }
  const { server, endAll } = ssh;
  watchFile(policyFile, { interval: opts.policyPollMs ?? 1000 }, (cur, prev) => {
    if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size) reload();
  });

  server.on('error', (err: Error) => log.error({ error: err.message }, 'gateway server error'));
  const port = (server.address() as { port: number }).port;
  // Operators compare this with what ssh shows on first connect (README: verify the gateway's key).
  // (port last: scripts and the gateway bench read `"port":N,"msg":"gateway listening"`)
  log.info({ host: cfg.host, host_key: hostKeyFingerprints(hostKey), port }, 'gateway listening');

  const sweep = cfg.rotation.cron
    ? cron.schedule(cfg.rotation.cron, async () => {
        const r = await rotator.sweep(policy);
        log.info(r, 'rotation sweep done');
      }, { name: 'gateway-rotation-sweep', noOverlap: true })
    : null;
  if (cfg.rotation.rotate_on_start) void rotator.sweep(policy);
  const announcer = setInterval(() => {
    try {
      announceDecisions(ctx);
    } catch (err) {
      log.warn({ error: errorMessage(err) }, 'cannot read approvals');
    }
    for (const s of ctx.sessions) {
      try {
        s.checkTermination();
      } catch (err) {
        log.warn({ error: errorMessage(err) }, 'cannot read session terminations');
      }
    }
  }, 1000);
  announcer.unref();

  return {
    port,
    ctx,
    reload,
    async stop() {
      clearInterval(announcer);
      unwatchFile(policyFile);
      await sweep?.stop();
      for (const s of ctx.sessions) s.close('gateway stopping');
      endAll();
      await new Promise<void>((res) => server.close(() => res()));
      await rotator.idle();
      await events.stop();
    },
  };
}

/**
 * Sessions the previous run of the gateway did not end (killed, crashed, host
 * lost power): record their end (event.reason gateway-restart) and rotate
 * their accounts, so the password set for them is dead before anyone logs in
 * again. A rotation that fails (target down) keeps its record and is tried
 * again every minute.
 */
async function endInterrupted(ctx: GatewayContext, sessions: LiveSession[]): Promise<void> {
  const pending: LiveSession[] = [];
  for (const s of sessions) {
    const session = { id: s.id, operator: s.operator, account: s.account, target: s.target, sourceIp: s.source_ip || undefined };
    if (s.connected !== false && !s.ended_at)
      ctx.events.emit({
        action: ACTIONS.gatewaySessionEnd,
        outcome: 'unknown',
        message: `${s.operator} on ${s.account}@${s.target}: session ended by a gateway restart (it was live when the gateway stopped)`,
        session,
        reason: 'gateway-restart',
      });
    if (!(await rotateFor(ctx, s, session))) pending.push(s);
  }
  if (!pending.length) return;
  const timer = setInterval(async () => {
    for (let i = pending.length - 1; i >= 0; i--) if (await rotateFor(ctx, pending[i], { id: pending[i].id, operator: pending[i].operator })) pending.splice(i, 1);
    if (!pending.length) clearInterval(timer);
  }, 60_000);
  timer.unref();
}

async function rotateFor(ctx: GatewayContext, s: LiveSession, session: SessionRef): Promise<boolean> {
  const t = ctx.policy().targets.get(s.target);
  if (!t || !t.accounts.includes(s.account)) {
    ctx.log.warn({ session: s.id, target: s.target, account: s.account }, 'interrupted session on a target/account no longer in the policy; not rotated');
    unregister(ctx.dataDir, s.id);
    return true;
  }
  try {
    await ctx.rotator.rotate(t, s.account, 'recovery', { ...session, account: s.account, target: s.target });
    unregister(ctx.dataDir, s.id);
    return true;
  } catch (err) {
    ctx.log.error({ session: s.id, target: s.target, account: s.account, error: errorMessage(err) }, 'cannot rotate the account of an interrupted session; retrying every minute');
    return false;
  }
}
