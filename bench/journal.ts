// journald receiver benchmark, against systemd-journal-remote on the same
// machine in the same run. A journal file of N sshd/PAM entries (made with
// journal-remote from export-format text) is sent by systemd-journal-upload
// --follow=no to
//  - the receiver alone into the in-process bus (_journal-receiver.ts, a
//    counting consumer), timed until the uploader exits (its 202): the
//    issue's measure, and the headline row;
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
import { mainIfDirect, type BenchRow } from './types.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const RECEIVER = fileURLToPath(new URL('./_journal-receiver.js', import.meta.url));
const REMOTE = '/lib/systemd/systemd-journal-remote';
const UPLOAD = '/lib/systemd/systemd-journal-upload';
const RUNS = 3;
const HOSTS = ['bastion01', 'web01', 'web02', 'db01', 'ci-runner03', 'mail01'];
const USERS = ['admin', 'test', 'oracle', 'ubuntu', 'git', 'postgres', 'user1', 'ftpuser'];

const hex = (i: number, len: number) => (i.toString(16) + 'f3a9c5e1d7b2'.repeat(6)).slice(0, len);
const b64 = (i: number) => Buffer.from(`key${i % 7}-ed25519-fingerprint-${i % 7}`).toString('base64').replace(/=+$/, '').slice(0, 43);

/** Lines as OpenSSH's sshd (auth.c, auth2.c, packet.c) and pam_unix print them: [MESSAGE, PRIORITY, SYSLOG_FACILITY]. */
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

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
const accepts = (port: number) =>
  new Promise<boolean>((r) => {
    const c = createConnection({ host: '127.0.0.1', port }, () => (c.destroy(), r(true)));
    c.on('error', () => r(false));
  });

/** Every child still running, killed in run()'s finally whatever happened. */
const children = new Set<ChildProcess>();

function start(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; logFile?: string } = {}) {
  // A long-lived child logs to a file: a pipe we are slow to read would block it (pino writes synchronously).
  const fd = opts.logFile ? openSync(opts.logFile, 'w') : undefined;
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: fd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', fd, fd] });
  if (fd !== undefined) closeSync(fd);
  children.add(child);
  let output = '';
  for (const s of [child.stdout, child.stderr]) s?.on('data', (d) => (output = (output + d).slice(-64_000)));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (children.delete(child), resolve(code)));
  });
  exited.catch(() => {});
  return { child, exited, output: () => (opts.logFile ? readFileSync(opts.logFile, 'utf8') : output) };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return void children.delete(child);
  const gone = new Promise((r) => child.once('close', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await gone;
  clearTimeout(t);
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

/** The port a starting trailwatch process logs for its journal receiver. */
async function journalPort(p: ReturnType<typeof start>, what: string): Promise<number> {
  const deadline = Date.now() + 30_000;
  let m: RegExpExecArray | null;
  while (!(m = /"journalPort":(\d+)/.exec(p.output()))) {
    if (p.child.exitCode !== null || Date.now() > deadline) throw new Error(`${what} did not start: ${p.output().slice(-2000)}`);
    await sleep(20);
  }
  return Number(m[1]);
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
    const port = await journalPort(tw, 'trailwatch');
    const count = lineCounter(join(data, 'events'));
    const t0 = performance.now();
    const up = upload(`http://127.0.0.1:${port}`, source, join(work, 'tw.state'));
    let [uploaded, seen, lastMove, failed] = [0, 0, performance.now(), undefined as unknown];
    up.then((t) => (uploaded = t), (e) => (failed = e));
    for (;;) {
      const c = await count();
      if (c >= n) break;
      if (c !== seen) (seen = c), (lastMove = performance.now());
      if (tw.child.exitCode !== null) throw new Error(`trailwatch exited during the upload: ${tw.output().slice(-2000)}`);
      if (failed) throw failed;
      if (performance.now() - lastMove > (uploaded ? 20_000 : 120_000))
        throw new Error(`trailwatch wrote ${c} of ${n} events, none for ${uploaded ? '20 s after the uploader finished' : '120 s'}: ${tw.output().slice(-1500)}`);
      await sleep(10);
    }
    const t1 = performance.now();
    await up;
    const rss = vmHwmKb(tw.child.pid!);
    await stop(tw.child); // flushes what it holds: any events beyond n show up now
    const errors = tw.output().split('\n').filter((l) => /"level":(40|50|60)/.test(l) && !l.includes('session_log.token') && !l.includes('"msg":"alert: '));
    return { rate: n / ((t1 - t0) / 1000), rss, lag: t1 - uploaded, lines: await count(), errors };
  } finally {
    await stop(tw.child);
  }
}

/** The receiver alone into the in-process bus (a counting consumer): timed from the uploader's start to its exit. */
async function receiverRun(work: string, source: string, n: number) {
  const rx = start(process.execPath, [RECEIVER], { cwd: work, logFile: join(work, 'receiver.log') });
  try {
    const port = await journalPort(rx, 'receiver');
    const t0 = performance.now();
    const t1 = await upload(`http://127.0.0.1:${port}`, source, join(work, 'rx.state'));
    const rss = vmHwmKb(rx.child.pid!);
    rx.child.kill('SIGTERM');
    await rx.exited;
    const counted = Number(/"counted":(\d+)/.exec(rx.output())?.[1] ?? NaN);
    if (counted !== n) throw new Error(`the receiver put ${counted} of ${n} entries on the bus: ${rx.output().slice(-1500)}`);
    return { rate: n / ((t1 - t0) / 1000), rss };
  } finally {
    await stop(rx.child);
  }
}

async function referenceRun(work: string, source: string, n: number) {
  const out = join(work, 'remote-out');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out);
  const port = await freePort();
  const rj = start(REMOTE, [`--listen-http=127.0.0.1:${port}`, '--split-mode=none', `--output=${join(out, 'remote.journal')}`]);
  try {
    const deadline = Date.now() + 10_000;
    while (!(await accepts(port))) {
      if (rj.child.exitCode !== null || Date.now() > deadline) throw new Error(`journal-remote did not start: ${rj.output()}`);
      await sleep(20);
    }
    const t0 = performance.now();
    const t1 = await upload(`http://127.0.0.1:${port}`, source, join(work, 'remote.state'));
    const rss = vmHwmKb(rj.child.pid!);
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
    const made = start(REMOTE, ['--split-mode=none', `--output=${join(source, 'auth.journal')}`, exportFile]);
    if ((await made.exited) !== 0 || !made.output().includes(`writing ${n} entries`)) throw new Error(`journal-remote did not make the journal: ${made.output().slice(-500)}`);
    rmSync(exportFile);
    const tw: Awaited<ReturnType<typeof trailwatchRun>>[] = [];
    const rx: Awaited<ReturnType<typeof receiverRun>>[] = [];
    const ref: Awaited<ReturnType<typeof referenceRun>>[] = [];
    for (let i = 0; i < RUNS; i++) {
      rx.push(await receiverRun(work, source, n));
      ref.push(await referenceRun(work, source, n));
      tw.push(await trailwatchRun(work, source, n));
    }
    const errors = tw.flatMap((r) => r.errors);
    if (errors.length) console.error(`bench journal: trailwatch logged ${errors.length} warnings/errors, first: ${errors[0]}`);
    const extra = tw.filter((r) => r.lines !== n).map((r) => r.lines);
    const twRate = median(tw.map((r) => r.rate));
    const refRate = median(ref.map((r) => r.rate));
    const lag = median(tw.map((r) => r.lag));
    const rxRate = median(rx.map((r) => r.rate));
    const rows: BenchRow[] = [
      {
        bench: 'journal',
        case: `receiver into the bus: journal-upload --follow=no, ${n} sshd/PAM entries, ${HOSTS.length} hosts`,
        unit: 'entries/s',
        trailwatch: round(rxRate),
        reference: round(refRate),
        referenceName: 'systemd-journal-remote -> journal file',
        ratio: round(rxRate / refRate, 2),
        notes: `median of ${RUNS}, alternating with the reference; the 202 (uploader exit) comes once a counting consumer has every entry; peak RSS ${round(Math.max(...rx.map((r) => r.rss)) / 1024)} MiB`,
      },
      {
        bench: 'journal',
        case: `whole \`run\` pipeline: the same upload, decoded, rules, NDJSON written`,
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
    ];
    const [twRss, refRss] = [tw, ref].map((rs) => Math.max(...rs.map((r) => r.rss)) / 1024);
    rows.push({ bench: 'journal', case: 'peak RSS (VmHWM) during those uploads', unit: 'MiB', trailwatch: round(twRss, 1), reference: round(refRss, 1), referenceName: 'systemd-journal-remote', ratio: round(twRss / refRss, 2), notes: `lower is better; max over ${RUNS} runs; trailwatch is the whole \`run\` pipeline process` });
    return rows;
  } finally {
    await Promise.all([...children].map((c) => stop(c)));
    rmSync(work, { recursive: true, force: true });
  }
}

await mainIfDirect(import.meta.url, run);
