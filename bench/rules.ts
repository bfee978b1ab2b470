// Rules benchmark: decode + the full default pack over a generated 1M-line
// auth.log through the replay path, against `fail2ban-regex FILE sshd` on the
// same file in the same run: lines/s for both, the ratio, peak memory (VmHWM),
// and both tools' failure counts side by side.
// TW_BENCH_RULES_LINES sets the line count (default 1000000).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { rulesConfig } from '../src/rules/config.js';
import { defaultPackDir, loadRules } from '../src/rules/loader.js';
import { replay } from '../src/rules/replay.js';
import { writeAuthLog } from './helpers/authlog.js';
import type { BenchRow } from './types.js';

export type { BenchRow };

const SELF = fileURLToPath(import.meta.url);
const FAIL2BAN = ['/usr/bin/fail2ban-regex', '/usr/local/bin/fail2ban-regex'].find((p) => existsSync(p));
const SSHD_FILTER = '/etc/fail2ban/filter.d/sshd.conf';

interface Measured {
  lines: number;
  seconds: number;
  peakMiB: number;
  failures: number;
  alerts?: number;
}

function vmhwmMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.memoryUsage().rss / 2 ** 20;
}

/** In a child process (clean peak RSS): replay the file with the default pack. */
async function child(file: string, alertsOnly: boolean): Promise<void> {
  const rules = loadRules([defaultPackDir()]);
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const start = process.hrtime.bigint();
  const s = await replay({ input: file, format: 'syslog', rules, config: rulesConfig.parse({}), year: 2024, out: sink, alertsOnly, summary: false });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const m: Measured = { lines: s.lines, seconds, peakMiB: vmhwmMiB(), failures: s.failedAttempts, alerts: s.alerts };
  process.stdout.write(JSON.stringify(m) + '\n');
}

function runChild(file: string, alertsOnly: boolean): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [SELF, '--child', file, alertsOnly ? 'alerts' : 'events'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`bench child exited ${code}`))));
  });
}

/** fail2ban-regex under /usr/bin/time for its peak RSS. */
function runFail2ban(file: string): Measured | null {
  if (!FAIL2BAN || !existsSync(SSHD_FILTER)) return null;
  const time = existsSync('/usr/bin/time');
  const args = time ? ['-f', 'TW_MAXRSS_KB=%M', FAIL2BAN, file, SSHD_FILTER] : [file, SSHD_FILTER];
  const start = process.hrtime.bigint();
  const r = spawnSync(time ? '/usr/bin/time' : FAIL2BAN, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const text = `${r.stdout}\n${r.stderr}`;
  const lines = /Lines: (\d+) lines, (\d+) ignored, (\d+) matched/.exec(text);
  if (!lines) throw new Error(`could not read fail2ban-regex output:\n${text.slice(-2000)}`);
  const rss = /TW_MAXRSS_KB=(\d+)/.exec(text);
  return { lines: Number(lines[1]), seconds, peakMiB: rss ? Number(rss[1]) / 1024 : NaN, failures: Number(lines[3]) };
}

export async function run(): Promise<BenchRow[]> {
  const lines = Number(process.env.TW_BENCH_RULES_LINES ?? 1_000_000);
  const dir = mkdtempSync(join(tmpdir(), 'tw-bench-rules-'));
  const file = join(dir, 'auth.log');
  try {
    await writeAuthLog(file, lines);
    const alertsOnly = await runChild(file, true);
    const full = await runChild(file, false);
    const f2b = runFail2ban(file);
    const rate = (m: Measured) => m.lines / m.seconds;
    const rows: BenchRow[] = [];
    const ref = f2b ? { reference: rate(f2b), referenceName: 'fail2ban-regex sshd', ratio: rate(alertsOnly) / rate(f2b) } : {};
    rows.push({ bench: 'rules', case: `replay ${lines} auth.log lines, decode + default pack (alerts only)`, unit: 'lines/s', trailwatch: rate(alertsOnly), ...ref, notes: `${alertsOnly.alerts} alerts` });
    rows.push({
      bench: 'rules',
      case: `replay ${lines} lines, every event written as NDJSON`,
      unit: 'lines/s',
      trailwatch: rate(full),
      ...(f2b ? { reference: rate(f2b), referenceName: 'fail2ban-regex sshd', ratio: rate(full) / rate(f2b) } : {}),
    });
    rows.push({
      bench: 'rules',
      case: 'peak memory (VmHWM)',
      unit: 'MiB',
      trailwatch: Math.max(alertsOnly.peakMiB, full.peakMiB),
      ...(f2b ? { reference: f2b.peakMiB, referenceName: 'fail2ban-regex sshd', ratio: f2b.peakMiB / Math.max(alertsOnly.peakMiB, full.peakMiB) } : {}),
      notes: 'lower is better; ratio = fail2ban / trailwatch; goal <= 300 MiB',
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

if (process.argv[2] === '--child') await child(process.argv[3], process.argv[4] === 'alerts');
else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const row of await run()) console.log(JSON.stringify(row));
}
