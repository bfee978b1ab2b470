// jobs: node-cron schedules for the silent-host check, the daily collation
// report and the retention sweep. Cron expressions (5 fields, or 6 with
// seconds first) are checked at load with node-cron's own validator.
import { validateDetailed } from 'node-cron';
import { z } from 'zod';
import { parseDuration } from './sinks/webhook/duration.js';

const cron = (def: string) =>
  z
    .string()
    .default(def)
    .superRefine((s, ctx) => {
      const v = validateDetailed(s);
      if (!v.valid) ctx.addIssue({ code: 'custom', message: `invalid cron expression "${s}": ${v.errors.map((e) => `${e.field}: ${e.message}`).join('; ') || 'unparseable'}` });
    });
const duration = (def: string) => z.string().default(def).refine((s) => parseDuration(s) !== undefined, { message: 'not a duration (e.g. 15m, 1h, 24h)' });

export const jobsConfig = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Run the scheduled jobs in the embedded pipeline (or with `trailwatch jobs`).'),
    timezone: z.string().optional().describe('IANA time zone for the schedules (default: the process time zone).'),
    silent_hosts: z
      .strictObject({
        enabled: z.boolean().default(true).describe("Run the silent-host check."),
        schedule: cron('* * * * *').describe('When to check (default every minute).'),
        threshold: duration('30m').describe('A host that sent logs before and nothing for this long raises an alert (default 30m).'),
        thresholds: z
          .array(z.strictObject({ hosts: z.array(z.string()).min(1).describe('Host globs.'), after: duration('30m').describe('Silence threshold for these hosts.') }))
          .default([])
          .describe('Per-host-glob thresholds; the first whose globs match a host wins.'),
        ignore: z.array(z.string()).default([]).describe('Host globs never checked (laptops, hosts being retired).'),
        severity: z.enum(['low', 'medium', 'high', 'critical']).default('high').describe('Severity of the alert (default high: stopping logging is often an attacker\'s first move).'),
      })
      .prefault({})
      .describe('Silent-host check.'),
    collation_report: z
      .strictObject({
        enabled: z.boolean().default(true).describe("Build and send the collation report."),
        schedule: cron('0 7 * * *').describe('When to send the report (default daily 07:00).'),
        window: duration('24h').describe('Period the report covers, ending when it runs (default 24h).'),
        receiver: z.string().optional().describe('A sinks.webhook receiver (generic, slack or teams) that gets the report.'),
        top_sources: z.number().int().min(1).max(100).default(5).describe('Source addresses listed per account.'),
      })
      .prefault({})
      .describe('Daily collation report: per managed account, logins through the gateway vs direct, failed logins, top sources.'),
    retention: z
      .strictObject({
        enabled: z.boolean().default(true).describe("Run the retention sweep."),
        schedule: cron('17 3 * * *').describe('When to sweep (default daily 03:17).'),
      })
      .prefault({})
      .describe('Removes embedded NDJSON files (events, alerts, dlq) older than sinks.file.retention_days.'),
  })
  .prefault({})
  .describe('Scheduled jobs (node-cron).');
export type JobsConfig = z.infer<typeof jobsConfig>;

/** Checks that span sections (the report's receiver lives in sinks.webhook); run by the root config schema. */
export function crossCheckJobs(c: { jobs: JobsConfig; sinks: { webhook: { receivers: { name: string; type: string }[]; quick_start?: { url?: unknown } } } }): { path: string[]; message: string }[] {
  const name = c.jobs.collation_report.receiver;
  if (!name) return [];
  const path = ['jobs', 'collation_report', 'receiver'];
  const r = c.sinks.webhook.receivers.find((x) => x.name === name);
  if (!r && !(name === 'env' && c.sinks.webhook.quick_start?.url)) return [{ path, message: `no receiver named "${name}" in sinks.webhook.receivers` }];
  if (r?.type === 'pagerduty') return [{ path, message: `"${name}" is a pagerduty receiver; reports go to generic, slack or teams receivers` }];
  return [];
}
