// Syslog ingest benchmark, against rsyslog on the same machine in the same run.
//  - TCP, one connection, octet-counted RFC 3164 and RFC 5424: trailwatch
//    (listener -> framing -> parse to ECS -> in-process bus, counted at a
//    consumer) vs rsyslog (imtcp -> omfile), messages/s.
//  - UDP loss at 50k and 100k msg/s offered: trailwatch vs rsyslog imudp.
// The load comes from a separate process (bench/helpers/syslog-sender.ts).
// TW_BENCH_SYSLOG_MESSAGES sets the TCP message count (default 400000).
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryBus } from '../src/bus/memory.js';
import { topicNames } from '../src/bus/types.js';
import { parseConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { createSyslogStage } from '../src/ingest/syslog/index.js';
import type { BenchRow } from './types.js';

export type { BenchRow };

const SENDER = fileURLToPath(new URL('./helpers/syslog-sender.js', import.meta.url));
const RSYSLOGD = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].find((p) => existsSync(p));
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const BODIES = [
  (i: number) => ['sshd', `Failed password for invalid user admin${i % 97} from 203.0.113.${i % 250} port ${40000 + (i % 20000)} ssh2`, 38],
  (i: number) => ['sshd', `Accepted publickey for deploy from 198.51.100.${i % 250} port ${50000 + (i % 10000)} ssh2: ED25519 SHA256:Xy${i % 1000}abcdefghijklmnopqrstuvwx`, 38],
  (i: number) => ['sudo', `   alice : TTY=pts/${i % 9} ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx`, 85],
  (i: number) => ['CRON', `pam_unix(cron:session): session opened for user root(uid=0) by (uid=0) [${i}]`, 86],
  (i: number) => ['systemd', `Started session-${i % 5000}.scope - Session ${i % 5000} of User deploy.`, 30],
] as const;

/** The same n messages in both formats; the timestamp advances a second every 500 lines. */
export function messages(format: 'rfc3164' | 'rfc5424', n: number): string[] {
  const base = Date.now() - 3600_000;
  const out: string[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const [app, body, pri] = BODIES[i % BODIES.length](i);
    const t = new Date(base + Math.floor(i / 500) * 1000);
    const host = `web${String(i % 50).padStart(2, '0')}.example.net`;
    const pid = 1000 + (i % 30000);
    if (format === 'rfc3164') {
      const ts = `${MONTHS[t.getMonth()]} ${String(t.getDate()).padStart(2, ' ')} ${t.toTimeString().slice(0, 8)}`;
      out[i] = `<${pri}>${ts} ${host} ${app}[${pid}]: ${body}`;
    } else {
      const sd = i % 3 === 0 ? `[origin@32473 ip="192.0.2.${i % 250}" seq="${i}"]` : '-';
      out[i] = `<${pri}>1 ${t.toISOString()} ${host} ${app} ${pid} - ${sd} ${body}`;
    }
  }
  return out;
}

export function octetCounted(lines: string[]): Buffer {
  const parts: Buffer[] = [];
  for (const l of lines) {
    const b = Buffer.from(l, 'utf8');
    parts.push(Buffer.from(`${b.length} `), b);
  }
  return Buffer.concat(parts);
}

async function freePort(kind: 'tcp' | 'udp'): Promise<number> {
  if (kind === 'udp') {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const port = s.address().port;
    await new Promise<void>((r) => s.close(() => r()));
    return port;
  }
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Start the sender; resolves with the time it connected, and a promise of its end. */
export function startSender(args: string[]): Promise<{ t0: number; done: Promise<{ sent: number; seconds: number }>; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SENDER, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let started = false;
    let finish!: (v: { sent: number; seconds: number }) => void;
    let fail!: (e: Error) => void;
    const done = new Promise<{ sent: number; seconds: number }>((res, rej) => ((finish = res), (fail = rej)));
    done.catch(() => {});
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      if (!started && out.includes('connected\n')) {
        started = true;
        resolve({ t0: performance.now(), done, child });
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code === 0 && last.startsWith('{')) finish(JSON.parse(last));
      else {
        const e = new Error(`sender exited with ${code}`);
        if (!started) reject(e);
        fail(e);
      }
    });
  });
}

/** An in-process trailwatch syslog stage whose consumer counts events. */
async function trailwatch(proto: 'tcp' | 'udp') {
  const config = parseConfig({
    syslog: { host: '127.0.0.1', udp: { enabled: proto === 'udp', port: 0, ipv6: false }, tcp: { enabled: proto === 'tcp', port: 0 } },
  });
  const bus = new MemoryBus(config.bus.memory);
  const ctx = { config, bus, topics: topicNames(), metrics: new Metrics({ defaults: false }), log: silentLogger() };
  let count = 0;
  let target = Infinity;
  let reached: () => void = () => {};
  await bus.subscribe({
    topics: [ctx.topics.raw],
    group: 'bench',
    handler: async (batch) => {
      count += batch.length;
      if (count >= target) reached();
    },
  });
  const stage = createSyslogStage(ctx);
  await stage.start();
  const a = stage.addresses();
  return {
    port: proto === 'tcp' ? a.tcp!.port : a.udp[0].port,
    count: () => count,
    until: (n: number) => new Promise<void>((r) => ((target = n), (reached = r), count >= n && r())),
    async stop() {
      await stage.stop();
      await bus.close();
    },
  };
}

/** rsyslogd in its own work dir writing what it receives to out.log. */
async function rsyslog(proto: 'tcp' | 'udp', rcvbuf: number) {
  if (!RSYSLOGD) throw new Error('rsyslogd not installed');
  const dir = mkdtempSync(join(tmpdir(), 'tw-bench-rsyslog-'));
  const port = await freePort(proto);
  const out = join(dir, 'out.log');
  const input =
    proto === 'tcp'
      ? `module(load="imtcp")\ninput(type="imtcp" address="127.0.0.1" port="${port}" ruleset="bench")`
      : `module(load="imudp")\ninput(type="imudp" address="127.0.0.1" port="${port}" ruleset="bench" rcvbufSize="${rcvbuf}")`;
  writeFileSync(
    join(dir, 'rsyslog.conf'),
    `global(workDirectory="${dir}")\n${input}\nruleset(name="bench") {\n  action(type="omfile" file="${out}")\n}\n`,
  );
  const child = spawn(RSYSLOGD, ['-n', '-f', join(dir, 'rsyslog.conf'), '-i', join(dir, 'rsyslogd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  let lines = 0;
  let offset = 0;
  const countLines = async () => {
    const size = existsSync(out) ? statSync(out).size : 0;
    if (size <= offset) return lines;
    await new Promise<void>((resolve, reject) => {
      const s = createReadStream(out, { start: offset, end: size - 1 });
      s.on('data', (b) => {
        const buf = b as Buffer;
        for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) lines++;
      });
      s.on('end', resolve);
      s.on('error', reject);
    });
    offset = size;
    return lines;
  };
  // Ready when it accepts a connection (TCP) or has written a probe (UDP).
  const deadline = Date.now() + 10_000;
  let baseline = 0;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`rsyslogd exited: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`rsyslogd not ready: ${stderr}`);
    if (proto === 'tcp') {
      const ok = await new Promise<boolean>((r) => {
        const c = createConnection({ host: '127.0.0.1', port }, () => (c.destroy(), r(true)));
        c.on('error', () => r(false));
      });
      if (ok) break;
    } else {
      const s = createSocket('udp4');
      await new Promise<void>((r) => s.send('<13>probe', port, '127.0.0.1', () => r()));
      s.close();
      if ((await countLines()) > 0) {
        await sleep(300);
        baseline = await countLines();
        break;
      }
    }
    await sleep(50);
  }
  return {
    port,
    count: async () => (await countLines()) - baseline,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function tcpCase(file: string, n: number) {
  const tw = await trailwatch('tcp');
  let twRate = 0;
  try {
    const s = await startSender(['tcp', '127.0.0.1', String(tw.port), file]);
    await tw.until(n);
    twRate = n / ((performance.now() - s.t0) / 1000);
    await s.done;
  } finally {
    await tw.stop();
  }
  const rs = await rsyslog('tcp', 0);
  let rsRate = 0;
  try {
    const s = await startSender(['tcp', '127.0.0.1', String(rs.port), file]);
    while ((await rs.count()) < n) await sleep(5);
    rsRate = n / ((performance.now() - s.t0) / 1000);
    await s.done;
  } finally {
    await rs.stop();
  }
  return { twRate, rsRate };
}

/** Wait until a counter stops moving (everything in flight has landed). */
async function settle(count: () => number | Promise<number>): Promise<number> {
  let last = -1;
  for (;;) {
    const c = await count();
    if (c === last) return c;
    last = c;
    await sleep(500);
  }
}

async function udpCase(file: string, n: number, rate: number) {
  const tw = await trailwatch('udp');
  let twLoss = 0;
  let offered = 0;
  try {
    const s = await startSender(['udp', '127.0.0.1', String(tw.port), file, String(rate)]);
    const r = await s.done;
    offered = r.sent / r.seconds;
    twLoss = 1 - (await settle(tw.count)) / n;
  } finally {
    await tw.stop();
  }
  // Same effective receive buffer as trailwatch got (the kernel doubles what is asked).
  const probe = createSocket({ type: 'udp4', recvBufferSize: parseConfig({}).syslog.udp.receive_buffer_bytes });
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
  const rcvbuf = Math.floor(probe.getRecvBufferSize() / 2);
  probe.close();
  const rs = await rsyslog('udp', rcvbuf);
  let rsLoss = 0;
  let rsOffered = 0;
  try {
    const s = await startSender(['udp', '127.0.0.1', String(rs.port), file, String(rate)]);
    const r = await s.done;
    rsOffered = r.sent / r.seconds;
    rsLoss = 1 - (await settle(rs.count)) / n;
  } finally {
    await rs.stop();
  }
  return { twLoss, rsLoss, offered, rsOffered, rcvbuf };
}

const round = (x: number, d = 0) => Math.round(x * 10 ** d) / 10 ** d;

export async function run(): Promise<BenchRow[]> {
  const n = Number(process.env.TW_BENCH_SYSLOG_MESSAGES ?? 400_000);
  const dir = mkdtempSync(join(tmpdir(), 'tw-bench-syslog-'));
  const rows: BenchRow[] = [];
  try {
    for (const format of ['rfc3164', 'rfc5424'] as const) {
      const file = join(dir, `${format}.bin`);
      writeFileSync(file, octetCounted(messages(format, n)));
      // Best of two for each side: the machine is shared, and the first run warms caches for both.
      let best = { twRate: 0, rsRate: 0 };
      for (let i = 0; i < 2; i++) {
        const r = await tcpCase(file, n);
        best = { twRate: Math.max(best.twRate, r.twRate), rsRate: Math.max(best.rsRate, r.rsRate) };
      }
      rows.push({
        bench: 'syslog',
        case: `tcp ${format} octet-counted, 1 connection, ${n} msgs`,
        unit: 'msg/s',
        trailwatch: round(best.twRate),
        reference: round(best.rsRate),
        referenceName: 'rsyslog imtcp -> omfile',
        ratio: round(best.twRate / best.rsRate, 2),
        notes: 'trailwatch: parse to ECS into the in-process bus, counted at a consumer; best of 2',
      });
    }
    for (const rate of [50_000, 100_000]) {
      const count = rate * 2;
      const file = join(dir, `udp-${rate}.txt`);
      writeFileSync(file, messages('rfc3164', count).join('\n') + '\n');
      const r = await udpCase(file, count, rate);
      rows.push({
        bench: 'syslog',
        case: `udp loss at ${rate / 1000}k msg/s offered (${count} msgs)`,
        unit: '% lost',
        trailwatch: round(r.twLoss * 100, 2),
        reference: round(r.rsLoss * 100, 2),
        referenceName: 'rsyslog imudp -> omfile',
        notes: `lower is better; achieved send rate ${round(r.offered)} / ${round(r.rsOffered)} msg/s; SO_RCVBUF ${r.rcvbuf} asked of both`,
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
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
