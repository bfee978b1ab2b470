// CLI for the webhook sink: `sink webhook` (the stage alone on the configured
// bus), `silence add|list|expire`, `webhook new-secret`.
import { userInfo } from 'node:os';
import { InvalidArgumentError, type Command } from 'commander';
import type { Config } from '../../config.js';
import { createLogger } from '../../log.js';
import { startPipeline } from '../../pipeline.js';
import { parseDuration } from './duration.js';
import { compileHostGroups } from './matchers.js';
import { addSilence, expireSilence, isActive, readSilences, silencesFile } from './silences.js';
import { newSecret } from './sign.js';

export interface CliHelpers {
  config(): Config;
  runUntilSignal(start: () => Promise<{ stop(): Promise<void> }>, log: ReturnType<typeof createLogger>): Promise<void>;
}

function durationArg(v: string): number {
  const ms = parseDuration(v);
  if (!ms) throw new InvalidArgumentError('a duration like 30m, 2h, 1d');
  return ms;
}

function fail(msg: string): never {
  process.stderr.write(`trailwatch: ${msg}\n`);
  process.exit(1);
}

export function addWebhookCommands(program: Command, h: CliHelpers): void {
  const sink = program.commands.find((c) => c.name() === 'sink') ?? program.command('sink').description('run one sink stage on the configured bus');
  sink
    .command('webhook')
    .description('deliver alerts from the alerts topic to the configured webhook receivers (consumer group sink-webhook)')
    .option('--http-port <port>', 'HTTP port for /healthz and /metrics (default http.port)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('--http-port must be a port number (0-65535)');
      return n;
    })
    .action(async (o: { httpPort?: number }) => {
      const config = h.config();
      if (o.httpPort !== undefined) config.http.port = o.httpPort;
      const log = createLogger({ level: config.log_level });
      await h.runUntilSignal(() => startPipeline(config, { log, stages: ['sink.webhook'] }), log);
    });

  const silence = program.command('silence').description('mute webhook notifications for alerts matching all matchers, for a while');
  silence
    .command('add')
    .description('add a silence (prints its id)')
    .requiredOption('-m, --matcher <matcher...>', 'name=value, name!=value, name=~regex, severity<=medium, host_group=NAME (repeatable; all must hold)')
    .requiredOption('--for <duration>', 'how long (e.g. 2h)', durationArg)
    .requiredOption('--comment <text>', 'why (shown in silence list)')
    .option('--author <name>', 'who (default the current user)')
    .action((o: { matcher: string[]; for: number; comment: string; author?: string }) => {
      const config = h.config();
      try {
        const s = addSilence(silencesFile(config.data_dir), {
          matchers: o.matcher,
          durationMs: o.for,
          comment: o.comment,
          createdBy: o.author ?? userInfo().username,
          hostGroups: compileHostGroups(config.sinks.webhook.host_groups),
        });
        process.stdout.write(`${s.id}\n`);
      } catch (err) {
        fail((err as Error).message);
      }
    });
  silence
    .command('list')
    .description('list active silences (--all: also expired ones)')
    .option('--all', 'include expired silences')
    .option('--json', 'print JSON')
    .action((o: { all?: boolean; json?: boolean }) => {
      const now = Date.now();
      const list = readSilences(silencesFile(h.config().data_dir)).filter((s) => o.all || isActive(s, now));
      if (o.json) return void process.stdout.write(JSON.stringify(list, null, 2) + '\n');
      for (const s of list) {
        const state = isActive(s, now) ? 'active' : 'expired';
        process.stdout.write(`${s.id}  ${state}  until ${s.expired_at ?? s.ends_at}  ${s.matchers.join(' ')}  by ${s.created_by}: ${s.comment}\n`);
      }
    });
  silence
    .command('expire <id>')
    .description('end a silence now (a unique id prefix of 8+ characters will do)')
    .action((id: string) => {
      const s = expireSilence(silencesFile(h.config().data_dir), id);
      if (!s) fail(`no silence ${id}`);
      process.stdout.write(`expired ${s.id}\n`);
    });

  const webhook = program.command('webhook').description('webhook helpers');
  webhook
    .command('new-secret')
    .description('print a fresh Standard Webhooks signing secret (whsec_…) for a generic receiver')
    .action(() => void process.stdout.write(newSecret() + '\n'));
}
