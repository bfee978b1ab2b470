// CLI subcommands of the rules area: `replay` and `sigma convert`.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { configOrExit } from '../cli.js';
import { loadRules, RuleLoadError, ruleDirs } from './loader.js';
import { formatSummary, replay, type ReplayOptions } from './replay.js';
import { REPLAY_FORMATS } from './replay-journal.js';
import { convertSigma } from './sigma.js';

const EXIT_USAGE = 2;

function yearArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1970 || n > 9999) throw new InvalidArgumentError('--year must be a four-digit year');
  return n;
}

const collect = (v: string, prev: string[]) => [...prev, v];

const MAX_LINE_BYTES = 64 * 1024 * 1024;
function bytesArg(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > MAX_LINE_BYTES) throw new InvalidArgumentError(`--max-line-bytes must be a whole number of bytes from 1 to ${MAX_LINE_BYTES}`);
  return n;
}

export function addRulesCommands(program: Command): void {
  program
    .command('replay')
    .description('run a log file through the decoders and rules on event time; NDJSON events then alerts on stdout')
    .argument('<file>', 'log file (auth.log, RFC 3164/5424 lines, ECS NDJSON, journalctl -o export or -o json); - for stdin')
    .option('--format <format>', 'auto | syslog | ndjson | journal-export | journal-json (auto: guessed from the first line)', 'auto')
    .option('--rules <dir>', 'add a rules directory (repeatable)', collect, [] as string[])
    .option('--no-default-rules', 'do not load the default rule pack')
    .option('--summary', 'print counts per decoder, outcome and rule on stderr')
    .option('--alerts-only', 'write only the alerts, not every event')
    .option('--year <yyyy>', "year of year-less timestamps (default: the file's mtime year)", yearArg)
    .option('--max-line-bytes <n>', 'cut longer lines (journal export: field values) there, tagged truncated (default: what the live input keeps: syslog.max_message_bytes, session_log.max_body_bytes for NDJSON, journal.max_field_bytes)', bytesArg)
    .action(async (file: string, o: { format: string; rules: string[]; defaultRules: boolean; summary?: boolean; alertsOnly?: boolean; year?: number; maxLineBytes?: number }) => {
      if (!REPLAY_FORMATS.includes(o.format)) {
        process.stderr.write(`trailwatch replay: --format must be one of ${REPLAY_FORMATS.join(', ')}\n`);
        process.exit(EXIT_USAGE);
      }
      const config = configOrExit(program.opts().config);
      const rulesCfg = { ...config.rules, default_pack: config.rules.default_pack && o.defaultRules, dirs: [...config.rules.dirs, ...o.rules] };
      let rules;
      try {
        rules = loadRules(ruleDirs(rulesCfg));
      } catch (err) {
        if (!(err instanceof RuleLoadError)) throw err;
        process.stderr.write(`trailwatch replay: ${err.message}\n`);
        process.exit(EXIT_USAGE);
      }
      process.stdout.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE') process.exit(0);
        throw err;
      });
      const m = o.maxLineBytes;
      const limits = m ? { syslog: m, ndjson: m, journal: m, source: '--max-line-bytes' } : { syslog: config.syslog.max_message_bytes, ndjson: config.session_log.max_body_bytes, journal: config.journal.max_field_bytes };
      const summary = await replay({ input: file, format: o.format as ReplayOptions['format'], rules, config: rulesCfg, year: o.year, out: process.stdout, alertsOnly: o.alertsOnly, summary: !!o.summary, limits });
      if (o.summary) process.stderr.write(formatSummary(summary));
    });

  const sigma = program.command('sigma').description('Sigma rule tools');
  sigma
    .command('convert')
    .description('convert Sigma rules (files or directories) into trailwatch rule files')
    .argument('<paths...>', 'Sigma rule files (.yml/.yaml) or directories of them')
    .requiredOption('--out <dir>', 'where to write the converted rule files')
    .option('--strict', 'exit 1 when any rule could not be converted (default: report them and exit 0)')
    .action((paths: string[], o: { out: string; strict?: boolean }) => {
      const r = convertSigma(paths, o.out);
      for (const c of r.converted) process.stderr.write(`converted ${c.source} -> ${c.output} (${c.ruleId})\n`);
      for (const s of r.skipped) process.stderr.write(`NOT converted ${s.source}: ${s.reason}\n`);
      process.stderr.write(`${r.converted.length} converted, ${r.skipped.length} not converted\n`);
      process.exit(o.strict && r.skipped.length ? 1 : 0);
    });
}
