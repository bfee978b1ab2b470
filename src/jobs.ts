// node-cron schedules: the silent-host check, the daily collation report and
// the retention sweep of embedded files. Each job is a plain method (tests and
// `trailwatch jobs run NAME` call it directly); the 'jobs' stage tracks the
// events topic and runs them on their cron schedules.
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createTask, type ScheduledTask } from 'node-cron';
import type { Bus, TopicNames } from './bus/types.js';
import type { Config } from './config.js';
import { errorMessage } from './errors.js';
import { SEVERITY_SCORE, type Alert, type TwEvent } from './event.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import type { Stage, StageContext } from './stage.js';
import { rotatedName } from './sinks/file.js';
import { effectiveReceivers } from './sinks/webhook-config.js';
import { Deliverer } from './sinks/webhook/deliver.js';
import { formatDuration, parseDuration } from './sinks/webhook/duration.js';
import { globRegex } from './sinks/webhook/matchers.js';
import { buildReport, formatReport, type CollationReport } from './jobs/report.js';
import { Tracker } from './jobs/tracker.js';
import { retainStore } from './store/index.js';

export const SILENT_HOST_RULE = 'trailwatch.host_silent';
export const JOB_NAMES = ['silent-hosts', 'collation-report', 'retention'] as const;
export type JobName = (typeof JOB_NAMES)[number];

export interface JobsDeps {
  config: Config;
  bus: Bus;
  topics: TopicNames;
  log: Logger;
  metrics: Metrics;
  now?: () => number;
}


export class Jobs {
  readonly tracker: Tracker;
  readonly now: () => number;
  private readonly thresholds: { globs: RegExp[]; ms: number }[];
  private readonly ignore: RegExp[];
  private readonly defaultThreshold: number;
  private readonly embedded: boolean;
  private deliverer?: Deliverer;
  private readonly runs;

  constructor(private readonly d: JobsDeps) {
    const j = d.config.jobs;
    this.now = d.now ?? Date.now;
    const windowMs = parseDuration(j.collation_report.window) ?? 86_400_000;
    this.tracker = new Tracker(join(d.config.data_dir, 'jobs', 'state.json'), d.config.rules.managed_accounts, windowMs + 3_600_000);
    this.thresholds = j.silent_hosts.thresholds.map((t) => ({ globs: t.hosts.map(globRegex), ms: parseDuration(t.after)! }));
    this.ignore = j.silent_hosts.ignore.map(globRegex);
    this.defaultThreshold = parseDuration(j.silent_hosts.threshold)!;
    this.embedded = d.bus.kind === 'memory';
    this.runs = d.metrics.counter('trailwatch_jobs_runs_total', 'Scheduled job runs by job and outcome.', ['job', 'outcome']);
    const name = j.collation_report.receiver;
    if (name) {
      const r = effectiveReceivers(d.config.sinks.webhook).find((x) => x.name === name);
      if (!r) throw new Error(`jobs.collation_report.receiver: no receiver named "${name}" in sinks.webhook.receivers`);
      if (r.type === 'pagerduty') throw new Error(`jobs.collation_report.receiver: "${name}" is a pagerduty receiver; reports go to generic, slack or teams receivers`);
      this.deliverer = new Deliverer({
        cfg: d.config.sinks.webhook,
        receivers: [r],
        metrics: d.metrics,
        log: d.log,
        bus: d.bus,
        topics: d.topics,
        disabledReason: () => undefined,
        onGone: async (rc) => d.log.error({ receiver: rc.name }, 'report receiver answered 410 Gone'),
      });
    }
  }

  async run(name: JobName): Promise<unknown> {
    try {
      const out = name === 'silent-hosts' ? await this.silentHosts() : name === 'collation-report' ? await this.collationReport() : await this.retention();
      this.runs.inc({ job: name, outcome: 'ok' });
      return out;
    } catch (err) {
      this.runs.inc({ job: name, outcome: 'error' });
      this.d.log.error({ job: name, err: errorMessage(err) }, 'job failed');
      throw err;
    }
  }

  thresholdFor(host: string): number | undefined {
    if (this.ignore.some((g) => g.test(host))) return undefined;
    for (const t of this.thresholds) if (t.globs.some((g) => g.test(host))) return t.ms;
    return this.defaultThreshold;
  }

  /** Hosts heard from before and silent past their threshold: one alert per silence, on the alerts topic. */
  async silentHosts(): Promise<Alert[]> {
    const now = this.now();
    const alerts: Alert[] = [];
    for (const [host, seen] of this.tracker.hosts) {
      const limit = this.thresholdFor(host);
      if (limit === undefined || now - seen.lastSeen <= limit || seen.alertedFor === seen.lastSeen) continue;
      alerts.push(this.silentAlert(host, seen.lastSeen, now, limit));
      seen.alertedFor = seen.lastSeen;
    }
    if (alerts.length) await this.d.bus.publish(this.d.topics.alerts, alerts.map((a) => ({ key: a.event.id, value: a })));
    await this.tracker.save();
    return alerts;
  }

  private silentAlert(host: string, lastSeen: number, now: number, limit: number): Alert {
    const sev = this.d.config.jobs.silent_hosts.severity;
    const first = new Date(lastSeen).toISOString();
    const ts = new Date(now).toISOString();
    return {
      '@timestamp': ts,
      // Stable id for this silence: a re-run or a restart raises the same alert, which sinks deduplicate.
      event: {
        id: createHash('sha256').update(`${SILENT_HOST_RULE}\u0000${host}\u0000${lastSeen}`).digest('hex').slice(0, 32),
        kind: 'alert',
        severity: SEVERITY_SCORE[sev],
        category: ['host'],
        type: ['info'],
        action: 'host-silent',
        dataset: 'trailwatch.jobs',
      },
      message: `${host} has sent no logs for ${formatDuration(Math.round((now - lastSeen) / 1000) * 1000)} (threshold ${formatDuration(limit)}); last heard from at ${first}`,
      host: { name: host },
      related: { hosts: [host] },
      rule: { id: SILENT_HOST_RULE, name: 'Host stopped sending logs', category: 'availability' },
      tags: ['trailwatch', 'silent-host'],
      trailwatch: { alert: { severity: sev, group: { 'host.name': host }, events: [], count: 1, first_seen: first, last_seen: ts } },
    };
  }

  /** The collation report over the window ending now: written, published as a state event, delivered. */
  async collationReport(): Promise<CollationReport> {
    const c = this.d.config.jobs.collation_report;
    const to = this.now();
    const from = to - (parseDuration(c.window) ?? 86_400_000);
    const report = buildReport(this.tracker.window(from, to), from, to, c.top_sources);
    const id = createHash('sha256').update(`collation\u0000${report.window.start}\u0000${report.window.end}`).digest('hex').slice(0, 32);
    if (this.embedded) {
      const dir = join(this.d.config.data_dir, 'reports');
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, `collation-${report.window.end.replace(/[:.]/g, '-')}.json`), JSON.stringify(report, null, 2) + '\n');
    }
    const state: TwEvent = {
      '@timestamp': report.generated_at,
      event: { id, kind: 'state', dataset: 'trailwatch.report', action: 'collation-report' },
      message: `collation report: ${report.totals.gateway} logins through the gateway, ${report.totals.direct} direct, ${report.totals.failed} failed`,
      trailwatch: { report },
    };
    await this.d.bus.publish(this.d.topics.events, [{ key: null, value: state }]);
    if (this.deliverer && c.receiver) {
      const r = c.receiver;
      await this.deliverer.deliverDocument(r, `msg_report_${id.slice(0, 24)}`, (rc) => formatReport(rc, report), { report });
    }
    return report;
  }

  /** Remove embedded NDJSON files dated before the retention period (the file store has no lifecycle of its own), and the store's old rows. */
  async retention(): Promise<string[]> {
    if (!this.embedded) return [];
    const removed = await this.removeOldFiles(this.d.config.sinks.file.retention_days);
    const stored = await retainStore(this.d.config, this.now());
    if (stored.events || stored.alerts) {
      this.d.log.info({ ...stored }, 'retention sweep removed old events and alerts from the store');
      removed.push(`store: ${stored.events} events, ${stored.alerts} alerts`);
    }
    return removed;
  }

  private async removeOldFiles(days: number): Promise<string[]> {
    if (!days) return [];
    const today = new Date(this.now()).toISOString().slice(0, 10);
    const cutoff = new Date(Date.parse(today) - days * 86_400_000).toISOString().slice(0, 10);
    const removed: string[] = [];
    for (const sub of ['events', 'alerts', 'dlq']) {
      const dir = join(this.d.config.data_dir, sub);
      for (const f of await readdir(dir).catch(() => [] as string[])) {
        const day = rotatedName(f)?.day;
        if (!day || day >= cutoff) continue;
        await rm(join(dir, f), { force: true });
        removed.push(join(sub, f));
      }
    }
    if (removed.length) this.d.log.info({ removed: removed.length, cutoff }, 'retention sweep removed old files');
    return removed;
  }
}

/** The 'jobs' stage: track the events topic, run the jobs on their schedules. */
export function createJobsStage(ctx: StageContext): Stage {
  const jobs = new Jobs(ctx);
  const j = ctx.config.jobs;
  const tasks: ScheduledTask[] = [];
  let sub: { stop(): Promise<void> } | undefined;
  let saver: NodeJS.Timeout | undefined;
  const schedule = (name: JobName, expr: string, enabled: boolean) => {
    if (!enabled) return;
    const t = createTask(expr, () => jobs.run(name).catch(() => {}), { name: `trailwatch-${name}`, noOverlap: true, timezone: j.timezone });
    tasks.push(t);
  };
  return {
    name: 'jobs',
    async start() {
      await jobs.tracker.load();
      sub = await ctx.bus.subscribe({
        topics: [ctx.topics.events],
        group: 'jobs',
        handler: async (batch) => jobs.tracker.observe(batch.map((m) => m.value), jobs.now()),
      });
      schedule('silent-hosts', j.silent_hosts.schedule, j.silent_hosts.enabled);
      schedule('collation-report', j.collation_report.schedule, j.collation_report.enabled);
      schedule('retention', j.retention.schedule, j.retention.enabled);
      for (const t of tasks) await t.start();
      saver = setInterval(() => void jobs.tracker.save().catch((err) => ctx.log.warn({ err: errorMessage(err) }, 'cannot save jobs state')), 30_000);
      saver.unref();
    },
    async stop() {
      for (const t of tasks) await t.destroy();
      if (saver) clearInterval(saver);
      await sub?.stop();
      await jobs.tracker.save();
    },
    health: () => ({ ok: true, hosts: jobs.tracker.hosts.size, schedules: tasks.map((t) => ({ name: t.name, next: t.getNextRun()?.toISOString() })) }),
  };
}
