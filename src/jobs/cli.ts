// CLI for the schedules: `jobs` (the jobs stage alone on the configured bus)
// and `jobs run NAME` (one job now, result as JSON on stdout).
import type { Command } from 'commander';
import { busFactories } from '../registry.js';
import { topicNames } from '../bus/types.js';
import { createLogger } from '../log.js';
import { Metrics } from '../metrics.js';
import { startPipeline } from '../pipeline.js';
import { Jobs, JOB_NAMES, type JobName } from '../jobs.js';
import type { CliHelpers } from '../sinks/webhook/cli.js';

export function addJobsCommands(program: Command, h: CliHelpers): void {
  const jobs = program
    .command('jobs')
    .description('run the scheduled jobs (silent hosts, collation report, retention) on the configured bus')
    .action(async () => {
      const config = h.config();
      const log = createLogger({ level: config.log_level });
      await h.runUntilSignal(() => startPipeline(config, { log, stages: ['jobs'] }), log);
    });
  jobs
    .command('run <name>')
    .description(`run one job now and print its result (${JOB_NAMES.join(', ')})`)
    .action(async (name: string) => {
      if (!(JOB_NAMES as readonly string[]).includes(name)) {
        process.stderr.write(`trailwatch: unknown job "${name}" (one of ${JOB_NAMES.join(', ')})\n`);
        process.exit(2);
      }
      const config = h.config();
      const log = createLogger({ level: config.log_level });
      const bus = await busFactories[config.bus.type](config);
      try {
        const j = new Jobs({ config, bus, topics: topicNames(config.topic_prefix), log, metrics: new Metrics({ defaults: false }) });
        await j.tracker.load();
        const out = await j.run(name as JobName);
        process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      } finally {
        await bus.close();
      }
    });
}
