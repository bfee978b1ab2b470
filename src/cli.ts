#!/usr/bin/env node
// trailwatch: one command, subcommands per stage and tool.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from './errors.js';
import { loadConfig, type Config } from './config.js';
import { exampleConfigYaml } from './config-doc.js';
import { createLogger } from './log.js';
import { addRulesCommands } from './rules/commands.js';
import { newToken } from './web/auth.js';
import { approvalsCommand, mfaCommand, sessionsCommand } from './gateway/cli.js';

const EXIT_CONFIG = 2;

function intArg(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`${name} must be a port number (0-65535)`);
    return n;
  };
}

/** Load config or exit 2 with `field.path: reason`. */
export function configOrExit(file: string | undefined, overrides: Record<string, unknown> = {}): Config {
  try {
    return loadConfig({ file, overrides });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`trailwatch: invalid configuration\n${err.issues.map((l) => `  ${l}`).join('\n')}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw err;
  }
}

/** Run until SIGTERM/SIGINT, then stop cleanly (flushing what is held). */
export async function runUntilSignal(start: () => Promise<{ stop(): Promise<void> }>, log: ReturnType<typeof createLogger>) {
  // Handlers go in before starting, so a signal during start-up still stops cleanly.
  const starting = start();
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    const force = setTimeout(() => {
      log.error('shutdown took too long; exiting');
      process.exit(1);
    }, 30_000);
    force.unref();
    try {
      const running = await starting;
      await running.stop();
      log.info('stopped');
      process.exit(0);
    } catch (err) {
      log.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  await starting;
}

/**
 * The command line. Modules of the services (Kafka, Elasticsearch, fastify,
 * ssh2…) load only for the commands that run them: `rulesOnly` (replay and
 * sigma, tools run on a file) leaves out the commands defined beside them.
 */
export async function buildProgram(opts: { rulesOnly?: boolean } = {}): Promise<Command> {
  const program = new Command('trailwatch')
    .description('Watch privileged access: syslog and gateway session logs, collated into alerts.')
    .option('-c, --config <file>', 'configuration file (YAML); env TRAILWATCH_CONFIG')
    .showHelpAfterError();

  program
    .command('run')
    .description('run the whole pipeline in one process (embedded bus, NDJSON files under --data-dir)')
    .option('--data-dir <dir>', 'where events, alerts and state are kept (default ./data)')
    .option('--syslog-port <port>', 'UDP and TCP syslog port (default 5514)', intArg('--syslog-port'))
    .option('--tls-port <port>', 'TLS syslog port (needs syslog.tls.cert and key in the config)', intArg('--tls-port'))
    .option('--http-port <port>', 'HTTP port for /healthz and /metrics (default 8080)', intArg('--http-port'))
    .option('--journal-port <port>', 'journald receiver port for systemd-journal-upload (default 19532)', intArg('--journal-port'))
    .action(async (o: { dataDir?: string; syslogPort?: number; tlsPort?: number; httpPort?: number; journalPort?: number }) => {
      const overrides: Record<string, unknown> = {};
      if (o.dataDir !== undefined) overrides.data_dir = o.dataDir;
      if (o.httpPort !== undefined) overrides.http = { port: o.httpPort };
      if (o.journalPort !== undefined) overrides.journal = { port: o.journalPort };
      const syslog: Record<string, unknown> = {};
      if (o.syslogPort !== undefined) Object.assign(syslog, { udp: { port: o.syslogPort }, tcp: { port: o.syslogPort } });
      if (o.tlsPort !== undefined) syslog.tls = { enabled: true, port: o.tlsPort };
      if (Object.keys(syslog).length) overrides.syslog = syslog;
      const config = configOrExit(program.opts().config, overrides);
      const log = createLogger({ level: config.log_level });
      const { startPipeline } = await import('./pipeline.js');
      await runUntilSignal(() => startPipeline(config, { log }), log);
    });

  program
    .command('web')
    .description('web console: session search and playback, transfer approvals (default http://127.0.0.1:8081)')
    .option('--host <host>', 'listen address (default web.host, 127.0.0.1)')
    .option('--port <port>', 'listen port (default web.port, 8081)', intArg('--port'))
    .action(async (o: { host?: string; port?: number }) => {
      const web: Record<string, unknown> = {};
      if (o.host !== undefined) web.host = o.host;
      if (o.port !== undefined) web.port = o.port;
      const config = configOrExit(program.opts().config, Object.keys(web).length ? { web } : {});
      const log = createLogger({ level: config.log_level });
      try {
        const { startWeb } = await import('./web/index.js');
        await runUntilSignal(() => startWeb(config, { log }), log);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        process.stderr.write(`trailwatch: invalid configuration\n${err.issues.map((l) => `  ${l}`).join('\n')}\n`);
        process.exit(EXIT_CONFIG);
      }
    });

  program
    .command('web-token')
    .description('print a new console login token and the web.admins entry (its sha256) for the config')
    .argument('<name>', 'administrator name')
    .action((name: string) => {
      const t = newToken();
      process.stdout.write(`token (give to ${name}; shown once): ${t.token}\nconfig:\n  web:\n    admins:\n      - name: ${name}\n        token_sha256: ${t.sha256}\n`);
    });

  const gatewayCmd = program.command('gateway').description('the SSH gateway (per-access password rotation, recorded sessions, approved transfers)');
  gatewayCmd
    .command('fingerprint')
    .description("print the SHA256 fingerprints of the gateway's host key (created if absent), for operators to check on first connect")
    .option('--data-dir <dir>', 'data directory of the gateway (default ./data)')
    .action(async (o: { dataDir?: string }) => {
      const config = configOrExit(program.opts().config, o.dataDir !== undefined ? { data_dir: o.dataDir } : {});
      const { gatewayHostKey, hostKeyFingerprints } = await import('./gateway/index.js');
      for (const f of hostKeyFingerprints(gatewayHostKey(config))) process.stdout.write(`${f}\n`);
    });
  gatewayCmd
    .command('serve', { isDefault: true })
    .description('run the SSH gateway (the default: `trailwatch gateway [options]`)')
    .option('--data-dir <dir>', 'where the host key, recordings, approvals and events are kept (default ./data)')
    .option('--port <port>', 'gateway SSH port (default 2222)', intArg('--port'))
    .option('--policy <file>', 'policy YAML (default ./gateway-policy.yaml)')
    .action(async (o: { dataDir?: string; port?: number; policy?: string }) => {
      const gateway: Record<string, unknown> = {};
      if (o.port !== undefined) gateway.port = o.port;
      if (o.policy !== undefined) gateway.policy_file = o.policy;
      const overrides: Record<string, unknown> = { gateway };
      if (o.dataDir !== undefined) overrides.data_dir = o.dataDir;
      const config = configOrExit(program.opts().config, overrides);
      const log = createLogger({ level: config.log_level });
      const { startGateway } = await import('./gateway/index.js');
      let gw: Awaited<ReturnType<typeof startGateway>>;
      try {
        gw = await startGateway(config, { log });
      } catch (err) {
        if (err instanceof ConfigError) {
          process.stderr.write(`trailwatch: invalid gateway configuration\n${err.issues.map((l) => `  ${l}`).join('\n')}\n`);
          process.exit(EXIT_CONFIG);
        }
        throw err;
      }
      process.on('SIGHUP', () => void gw.reload());
      await runUntilSignal(async () => gw, log);
    });

  program.addCommand(approvalsCommand(() => configOrExit(program.opts().config)));
  program.addCommand(mfaCommand(() => configOrExit(program.opts().config)));
  program.addCommand(sessionsCommand(() => configOrExit(program.opts().config)));

  program
    .command('check-config')
    .description('validate the configuration and print the effective config as JSON (secrets redacted)')
    .option('--example', 'print the documented example config (every field, its meaning and default) instead')
    .action((o: { example?: boolean }) => {
      if (o.example) {
        process.stdout.write(exampleConfigYaml());
        return;
      }
      const config = configOrExit(program.opts().config);
      process.stdout.write(JSON.stringify(redactConfig(config), null, 2) + '\n');
    });

  if (!opts.rulesOnly) {
    const [{ addDistributedCommands }, { addWebhookCommands }, { addJobsCommands }] = await Promise.all([
      import('./cli-distributed.js'),
      import('./sinks/webhook/cli.js'),
      import('./jobs/cli.js'),
    ]);
    // Distributed commands first: they create `sink`, which the webhook commands extend.
    addDistributedCommands(program);
    const helpers = { config: () => configOrExit(program.opts().config), runUntilSignal };
    addWebhookCommands(program, helpers);
    addJobsCommands(program, helpers);
  }
  addRulesCommands(program);
  return program;
}

const SECRET_KEYS = /(secret|password|token|api_key|key_passphrase|passphrase)$/i;
export function redactConfig(v: unknown): unknown {
  if (v && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') return (v as { toJSON(): unknown }).toJSON();
  if (Array.isArray(v)) return v.map(redactConfig);
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, SECRET_KEYS.test(k) && x !== undefined && typeof x !== 'object' ? '[redacted]' : redactConfig(x)]));
  return v;
}

export { Option };

function invokedDirectly(): boolean {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}
/** `replay` and `sigma`: the first argument that is not a global option. */
function rulesTool(argv: string[]): boolean {
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-c' || a === '--config') i++;
    else if (!a.startsWith('-')) return a === 'replay' || a === 'sigma';
    else if (!a.startsWith('--config=')) return false;
  }
  return false;
}

const isMain = invokedDirectly();
if (isMain) {
  buildProgram({ rulesOnly: rulesTool(process.argv) })
    .then((program) => program.parseAsync(process.argv))
    .catch((err) => {
      process.stderr.write(`trailwatch: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
}
