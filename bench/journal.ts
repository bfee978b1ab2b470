// journald receiver benchmark, against systemd-journal-remote on the same
// machine in the same run. A journal file of N sshd/PAM entries (made with
// journal-remote from export-format text) is sent by systemd-journal-upload
// --follow=no to
//  - trailwatch `run` (journal -> rules -> NDJSON), timed from the uploader's
//    start until the events files hold N lines;
//  - systemd-journal-remote --listen-http (stores a journal file), timed until
//    the uploader exits; the entries are counted with journalctl afterwards.
// Each side runs 3 times, alternately; medians are reported, and peak RSS.
// BENCH_JOURNAL_ENTRIES sets N (default 200000).
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, createReadStream, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchRow } from './types.js';

export type { BenchRow };

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const REMOTE = '/lib/systemd/systemd-journal-remote';
const UPLOAD = '/lib/systemd/systemd-journal-upload';
const RUNS = 3;
const HOSTS = ['bastion01', 'web01', 'web02', 'db01', 'ci-runner03', 'mail01'];
const USERS = ['admin', 'test', 'oracle', 'ubuntu', 'git', 'postgres', 'user1', 'ftpuser'];

const hex = (i: number, len: number) => (i.toString(16) + 'f3a9c5e1d7b2'.repeat(6)).slice(0, len);
const b64 = (i: number) => Buffer.from(`key${i % 7}-ed25519-fingerprint-${i % 7}`).toString('base64').replace(/=+$/, '').slice(0, 43);

/**
 * Lines as OpenSSH's sshd (auth.c, auth2.c, packet.c) and pam_unix print
 * them: [MESSAGE, PRIORITY, SYSLOG_FACILITY].
 */
const LINES = [
  (ip: string, port: number, u: string) => [`Invalid user ${u} from ${ip} port ${port}`, 6, 4],
  (ip: string, port: number, u: string) => [`Failed password for invalid user ${u} from ${ip} port ${port} ssh2`, 6, 4],
  (ip: string) => [`pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=${ip}  user=root`, 5, 10],
  (ip: string, port: number) => [`Failed password for root from ${ip} port ${port} ssh2`, 6, 4],
  (ip: string, port: number) => [`Connection closed by ${ip} port ${port} [preauth]`, 6, 4],
  (ip: string, port: number, _u: string, i: number) => [`Accepted publickey for alice from ${ip} port ${port} ssh2: ED25519 SHA256:${b64(i)}`, 6, 4],
] as const;
/** One connection (one sshd pid) is one of these sequences of LINES: an invalid user, root guessing, a login. */
const CONNECTIONS = [[0, 1, 1, 4], [2, 3, 3, 4], [0, 1, 4], [2, 3, 3, 3, 4], [5]];

/** N entries of export-format text, written to `file` in slices. */
export function writeExport(file: string, n: number): void {
  const base = (Date.now() - 86_400_000) * 1000;
  writeFileSync(file, '');
  let text = '';
  for (let i = 0, conn = 0; i < n; conn++) {
    const h = conn % HOSTS.length;
    const pid = 2000 + ((conn * 37) % 60000);
    const seq = CONNECTIONS[conn % CONNECTIONS.length];
    const ip = seq.length === 1 ? `198.51.100.${conn % 250}` : `192.0.2.${(conn * 7) % 250}`;
    const port = 32768 + ((conn * 131) % 28000);
    for (let j = 0; j < seq.length && i < n; j++, i++) {
      const [msg, pri, fac] = LINES[seq[j]](ip, port, USERS[conn % USERS.length], conn);
      text +=
        `__REALTIME_TIMESTAMP=${base + i * 1500}\n__MONOTONIC_TIMESTAMP=${5_000_000 + i * 1500}\n_BOOT_ID=${hex(h + 1, 32)}\n` +
        `_HOSTNAME=${HOSTS[h]}\n_TRANSPORT=syslog\nPRIORITY=${pri}\nSYSLOG_FACILITY=${fac}\nSYSLOG_IDENTIFIER=sshd\n` +
        `SYSLOG_PID=${pid}\n_PID=${pid}\n_COMM=sshd\n_UID=0\nMESSAGE=${msg}\n\n`;
      if (text.length > 4_000_000) (appendFileSync(file, text), (text = ''));
    }
  }
  appendFileSync(file, text);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Every child still running, killed in run()'s finally whatever happened. */
const children = new Set<ChildProcess>();

function start(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; logFile?: string } = {}) {
  // A long-lived child logs to a file: a pipe we are slow to read would block it (pino writes synchronously).
  const fd = opts.logFile ? openSync(opts.logFile, 'w') : undefined;
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: fd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', fd, fd] });
  if (fd !== undefined) closeSync(fd);
  children.add(child);
  let output = '';
  child.stdout?.on('data', (d) => (output = (output + d).slice(-64_000)));
  child.stderr?.on('data', (d) => (output = (output + d).slice(-64_000)));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (children.delete(child), resolve(code)));
  });
  exited.catch(() => {});
  return { child, exited, output: () => (opts.logFile ? readFileSync(opts.logFile, 'utf8') : output) };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return void children.delete(child);
  const gone = new Promise((r) => child.once('close', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await gone;
  clearTimeout(t);
}

/** Run a command to the end; its output, or an error with it. */
async function runToEnd(cmd: string, args: string[]): Promise<string> {
  const p = start(cmd, args);
  const code = await p.exited;
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code}: ${p.output().slice(-2000)}`);
  return p.output();
}

/** Entries in the journal files of a directory (lines of `journalctl -o export` starting __CURSOR=). */
async function journalEntries(dir: string): Promise<number> {
  const child = spawn('journalctl', ['--directory', dir, '-q', '-o', 'export', '--output-fields=_BOOT_ID'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let n = 0;
  let tail = '\n';
  for await (const d of child.stdout as AsyncIterable<Buffer>) {
    const s = tail + d.toString('latin1');
    for (let i = s.indexOf('\n__CURSOR='); i >= 0; i = s.indexOf('\n__CURSOR=', i + 1)) n++;
    tail = s.slice(-9); // shorter than the marker: a match is never counted twice
  }
  return n;
}

/** systemd-journal-upload of everything in `source`, with a fresh state file; resolves with its exit time. */
async function upload(url: string, source: string, state: string): Promise<number> {
  rmSync(state, { force: true });
  const p = start(UPLOAD, ['-u', url, `--directory=${source}`, `--save-state=${state}`, '--follow=no']);
  const code = await p.exited;
  if (code !== 0) throw new Error(`journal-upload to ${url} exited ${code}: ${p.output().slice(-2000)}`);
  return performance.now();
}

/** Lines so far in every events-*.ndjson under dir, read on from where the last call stopped. */
function lineCounter(dir: string) {
  const offsets = new Map<string, number>();
  let lines = 0;
  return async () => {
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith('events-') && f.endsWith('.ndjson')) : [];
    for (const f of files) {
      const path = join(dir, f);
      const from = offsets.get(f) ?? 0;
      const size = statSync(path).size;
      if (size <= from) continue;
      for await (const b of createReadStream(path, { start: from, end: size - 1 }) as AsyncIterable<Buffer>)
        for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) lines++;
      offsets.set(f, size);
    }
    return lines;
  };
}

function vmHwmKb(pid: number): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function trailwatchRun(work: string, source: string, n: number) {
  const data = join(work, 'tw-data');
  rmSync(data, { recursive: true, force: true });
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TRAILWATCH_')));
  const tw = start(process.execPath, [CLI, 'run', '--data-dir', data, '--syslog-port', '0', '--http-port', '0', '--journal-port', '0'], {
    cwd: work,
    env: { ...env, TRAILWATCH_LOG_LEVEL: 'info' },
    logFile: join(work, 'trailwatch.log'),
  });
  try {
    const deadline = Date.now() + 30_000;
    let port = 0;
    while (!port) {
      const m = /"journalPort":(\d+)/.exec(tw.output());
      if (m) port = Number(m[1]);
      else if (tw.child.exitCode !== null || Date.now() > deadline) throw new Error(`trailwatch did not start: ${tw.output().slice(-2000)}`);
      else await sleep(20);
    }
    const count = lineCounter(join(data, 'events'));
    const t0 = performance.now();
    const up = upload(`http://127.0.0.1:${port}`, source, join(work, 'tw.state'));
    let uploaded = 0;
    up.then((t) => (uploaded = t), () => {});
    let seen = 0;
    let lastMove = performance.now();
    for (;;) {
      const c = await count();
      if (c >= n) break;
      if (c !== seen) (seen = c), (lastMove = performance.now());
      if (tw.child.exitCode !== null) throw new Error(`trailwatch exited during the upload: ${tw.output().slice(-2000)}`);
      if (uploaded && performance.now() - lastMove > 20_000) throw new Error(`trailwatch wrote ${c} of ${n} events; the uploader finished and nothing more came in 20 s: ${tw.output().slice(-1500)}`);
      await sleep(10);
    }
    const t1 = performance.now();
    await up;
    const rss = vmHwmKb(tw.child.pid!);
    const errors = tw.output().split('\n').filter((l) => /"level":(40|50|60)/.test(l) && !l.includes('session_log.token') && !l.includes('"msg":"alert: '));
    return { rate: n / ((t1 - t0) / 1000), rss, lag: t1 - uploaded, lines: await count(), errors };
  } finally {
    await stop(tw.child);
  }
}

async function referenceRun(work: string, source: string, n: number) {
  const out = join(work, 'remote-out');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out);
  const port = await freePort();
  const rj = start(REMOTE, [`--listen-http=127.0.0.1:${port}`, '--split-mode=none', `--output=${join(out, 'remote.journal')}`]);
  let rss = NaN;
  try {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ok = await new Promise<boolean>((r) => {
        const c = createConnection({ host: '127.0.0.1', port }, () => (c.destroy(), r(true)));
        c.on('error', () => r(false));
      });
      if (ok) break;
      if (rj.child.exitCode !== null || Date.now() > deadline) throw new Error(`journal-remote did not start: ${rj.output()}`);
      await sleep(20);
    }
    const t0 = performance.now();
    const t1 = await upload(`http://127.0.0.1:${port}`, source, join(work, 'remote.state'));
    rss = vmHwmKb(rj.child.pid!);
    await stop(rj.child);
    const got = await journalEntries(out);
    if (got !== n) throw new Error(`journal-remote stored ${got} of ${n} entries: ${rj.output().slice(-2000)}`);
    return { rate: n / ((t1 - t0) / 1000), rss };
  } finally {
    await stop(rj.child);
  }
}

export async function run(): Promise<BenchRow[]> {
  const n = Number(process.env.BENCH_JOURNAL_ENTRIES ?? 200_000);
  if (!Number.isInteger(n) || n < 1) throw new Error('BENCH_JOURNAL_ENTRIES must be a whole number of at least 1');
  const work = mkdtempSync(join(tmpdir(), 'tw-bench-journal-'));
  try {
    const source = join(work, 'source');
    mkdirSync(source);
    const exportFile = join(work, 'auth.export');
    writeExport(exportFile, n);
    const made = await runToEnd(REMOTE, ['--split-mode=none', `--output=${join(source, 'auth.journal')}`, exportFile]);
    if (!made.includes(`writing ${n} entries`)) throw new Error(`journal-remote did not write ${n} entries: ${made.slice(-500)}`);
    rmSync(exportFile);
    const tw: Awaited<ReturnType<typeof trailwatchRun>>[] = [];
    const ref: Awaited<ReturnType<typeof referenceRun>>[] = [];
    for (let i = 0; i < RUNS; i++) {
      tw.push(await trailwatchRun(work, source, n));
      ref.push(await referenceRun(work, source, n));
    }
    const errors = tw.flatMap((r) => r.errors);
    if (errors.length) console.error(`bench journal: trailwatch logged ${errors.length} warnings/errors, first: ${errors[0]}`);
    const extra = tw.filter((r) => r.lines !== n).map((r) => r.lines);
    const twRate = median(tw.map((r) => r.rate));
    const refRate = median(ref.map((r) => r.rate));
    const twRss = Math.max(...tw.map((r) => r.rss)) / 1024;
    const refRss = Math.max(...ref.map((r) => r.rss)) / 1024;
    const lag = median(tw.map((r) => r.lag));
    return [
      {
        bench: 'journal',
        case: `journal-upload --follow=no, ${n} sshd/PAM entries, ${HOSTS.length} hosts`,
        unit: 'entries/s',
        trailwatch: round(twRate),
        reference: round(refRate),
        referenceName: 'systemd-journal-remote -> journal file',
        ratio: round(twRate / refRate, 2),
        notes:
          `median of ${RUNS}, alternating; trailwatch decodes, runs the rules and writes NDJSON (timed to N lines in the events file, ` +
          `median ${round(lag)} ms after the uploader exited), journal-remote only stores` +
          (extra.length ? `; events lines ${extra.join('/')} (not ${n})` : ''),
      },
      {
        bench: 'journal',
        case: 'peak RSS (VmHWM) during those uploads',
        unit: 'MiB',
        trailwatch: round(twRss, 1),
        reference: round(refRss, 1),
        referenceName: 'systemd-journal-remote',
        ratio: round(twRss / refRss, 2),
        notes: `lower is better; max over ${RUNS} runs; trailwatch is the whole \`run\` pipeline process`,
      },
    ];
  } finally {
    await Promise.all([...children].map((c) => stop(c)));
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  run().then(
    (rows) => {
      console.table(rows);
      process.exit(0);
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
