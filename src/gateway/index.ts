// `trailwatch gateway`: the SSH gateway as one component. Loads the policy
// (reloadable), host key and secret key, recovers interrupted rotations,
// listens, runs the rotation sweep, and announces approval decisions.
import { unwatchFile, watchFile } from 'node:fs';
import { join, resolve } from 'node:path';
import cron from 'node-cron';
import type { Client } from 'ssh2';
import type { Config } from '../config.js';
import { ConfigError, errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import type { GatewayContext } from './context.js';
import { GatewayEvents } from './events.js';
import { loadPolicy, type Policy } from './policy.js';
import { Rotator, type RotationDriver } from './rotate/index.js';
import { LinuxSshDriver } from './rotate/linux.js';
import { recordingsDirOf } from './recording.js';
import { reset as resetLive } from './live.js';
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
  resetLive(dataDir);
  const secretKey = loadSecretKey({ secretKey: cfg.secret_key, secretKeyFile: cfg.secret_key_file, dataDir });
  const vault = new Vault(dataDir, secretKey);
  const events = new GatewayEvents(dataDir, cfg.session_log, log);
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
  log.info({ host: cfg.host, port }, 'gateway listening');

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
