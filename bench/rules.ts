// Rules benchmark: `trailwatch replay` (decode + the full default pack, event
// time) over a generated 1M-line auth.log, against `fail2ban-regex FILE sshd`
// on the same file in the same run. Both are measured the same way: a whole
// process from spawn to exit (start-up, rule loading and output included),
// peak RSS from /usr/bin/time, failure counts from each tool's own summary.
// TW_BENCH_RULES_LINES sets the line count (default 1000000);
// TW_BENCH_RULES_RUNS runs each tool that many times and keeps the fastest
// run of each (default 1; the machine may be shared).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeAuthLog } from './helpers/authlog.js';
import type { BenchRow } from './types.js';

export type { BenchRow };

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const FAIL2BAN = ['/usr/bin/fail2ban-regex', '/usr/local/bin/fail2ban-regex'].find((p) => existsSync(p));
const SSHD_FILTER = '/etc/fail2ban/filter.d/sshd.conf';
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

interface Measured {
  lines: number;
  seconds: number;
  cpu: number;
  peakMiB: number;
  failures: number;
  alerts?: number;
}

interface Finished {
  seconds: number;
  /** User + system CPU seconds (NaN without /usr/bin/time). */
  cpu: number;
  peakMiB: number;
  stdout: string;
  stderr: string;
}

/** Run a command to its end (stdout to /dev/null unless kept), under /usr/bin/time for its peak RSS. */
function timed(cmd: string, args: string[], keepStdout: boolean): Promise<Finished> {
  const argv = TIME ? ['-f', 'TW_MAXRSS_KB=%M TW_CPU_S=%U+%S', cmd, ...args] : args;
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const p = spawn(TIME ?? cmd, argv, { stdio: ['ignore', keepStdout ? 'pipe' : 'ignore', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout?.on('data', (d) => (stdout += d));
    p.stderr!.on('data', (d) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      if (code !== 0) return reject(new Error(`${cmd} exited ${code}: ${stderr.slice(-2000)}`));
      const rss = /TW_MAXRSS_KB=(\d+)/.exec(stderr);
      const cpu = /TW_CPU_S=([\d.]+)\+([\d.]+)/.exec(stderr);
      resolve({ seconds, cpu: cpu ? Number(cpu[1]) + Number(cpu[2]) : NaN, peakMiB: rss ? Number(rss[1]) / 1024 : NaN, stdout, stderr });
    });
  });
}

/** `trailwatch replay FILE --summary`, every event or only the alerts. */
async function runTrailwatch(file: string, alertsOnly: boolean): Promise<Measured> {
  const args = [CLI, 'replay', file, '--year', '2024', '--summary', ...(alertsOnly ? ['--alerts-only'] : [])];
  const r = await timed(process.execPath, args, false);
  const s = /lines: (\d+) {2}alerts: (\d+)(?: \(\+\d+ superseded\))? {2}login attempts: (\d+) failed/.exec(r.stderr);
  if (!s) throw new Error(`could not read the replay summary:\n${r.stderr.slice(-2000)}`);
  return { lines: Number(s[1]), seconds: r.seconds, cpu: r.cpu, peakMiB: r.peakMiB, failures: Number(s[3]), alerts: Number(s[2]) };
}

async function runFail2ban(file: string): Promise<Measured | null> {
  if (!FAIL2BAN || !existsSync(SSHD_FILTER)) return null;
  const r = await timed(FAIL2BAN, [file, SSHD_FILTER], true);
  const text = `${r.stdout}\n${r.stderr}`;
  const lines = /Lines: (\d+) lines, (\d+) ignored, (\d+) matched/.exec(text);
  if (!lines) throw new Error(`could not read fail2ban-regex output:\n${text.slice(-2000)}`);
  return { lines: Number(lines[1]), seconds: r.seconds, cpu: r.cpu, peakMiB: r.peakMiB, failures: Number(lines[3]) };
}

/** The fastest of `runs` runs (the peak memory of that run). */
async function best<T extends Measured | null>(runs: number, once: () => Promise<T>): Promise<T> {
  let b = await once();
  for (let i = 1; i < runs && b; i++) {
    const m = await once();
    if (m && m.seconds < b.seconds) b = m;
  }
  return b;
}

export async function run(): Promise<BenchRow[]> {
  const lines = Number(process.env.TW_BENCH_RULES_LINES ?? 1_000_000);
  const runs = Math.max(1, Number(process.env.TW_BENCH_RULES_RUNS ?? 1));
  const dir = mkdtempSync(join(tmpdir(), 'tw-bench-rules-'));
  const file = join(dir, 'auth.log');
  try {
    await writeAuthLog(file, lines);
    const alertsOnly = await best(runs, () => runTrailwatch(file, true));
    const full = await best(runs, () => runTrailwatch(file, false));
    const f2b = await best(runs, () => runFail2ban(file));
    const rate = (m: Measured) => m.lines / m.seconds;
    const ref = (m: Measured) => (f2b ? { reference: rate(f2b), referenceName: 'fail2ban-regex sshd', ratio: rate(m) / rate(f2b) } : {});
    const secs = (m: Measured) => `${m.seconds.toFixed(2)} s (${m.cpu.toFixed(2)} s CPU)`;
    const rows: BenchRow[] = [];
    rows.push({
      bench: 'rules',
      case: `replay ${lines} auth.log lines, decode + default pack (alerts only)`,
      unit: 'lines/s',
      trailwatch: rate(alertsOnly),
      ...ref(alertsOnly),
      notes: `${alertsOnly.alerts} alerts; whole processes, start-up included: ${secs(alertsOnly)}${f2b ? ` vs ${secs(f2b)}` : ''}`,
    });
    rows.push({
      bench: 'rules',
      case: `replay ${lines} lines, every event written as NDJSON`,
      unit: 'lines/s',
      trailwatch: rate(full),
      ...ref(full),
      notes: `${secs(full)}; output to /dev/null`,
    });
    const peak = Math.max(alertsOnly.peakMiB, full.peakMiB);
    rows.push({
      bench: 'rules',
      case: 'peak memory (max RSS)',
      unit: 'MiB',
      trailwatch: peak,
      ...(f2b ? { reference: f2b.peakMiB, referenceName: 'fail2ban-regex sshd', ratio: f2b.peakMiB / peak } : {}),
      notes: `lower is better; ratio = fail2ban / trailwatch; goal <= 300 MiB (alerts only ${alertsOnly.peakMiB.toFixed(0)}, every event ${full.peakMiB.toFixed(0)})`,
    });
    rows.push({
      bench: 'rules',
      case: 'failed login attempts found',
      unit: 'count',
      trailwatch: alertsOnly.failures,
      ...(f2b ? { reference: f2b.failures, referenceName: 'fail2ban-regex sshd (matched lines)', ratio: alertsOnly.failures / f2b.failures } : {}),
      notes: 'trailwatch: authentication start events with outcome failure, weighted by "message repeated N times"; fail2ban: lines its sshd filter matched',
    });
    if (!f2b) rows.forEach((r) => (r.notes = `${r.notes ? `${r.notes}; ` : ''}fail2ban-regex not installed`));
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const row of await run()) console.log(JSON.stringify(row));
}
