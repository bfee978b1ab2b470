// Nothing lost, nothing wedged (#17): fair TCP slots, slow senders, counted
// losses. The syslog stage in-process, fed by the real util-linux `logger`
// and by raw sockets from several loopback addresses (127.0.0.0/8 is all
// loopback on Linux, so 127.0.0.2 and 127.0.0.3 are other sources).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { MemoryBus } from '../src/bus/memory.js';
import { topicNames } from '../src/bus/types.js';
import { parseConfig } from '../src/config.js';
import type { TwEvent } from '../src/event.js';
import { Metrics } from '../src/metrics.js';
import { createSyslogStage } from '../src/ingest/syslog/index.js';
import { NOTICE_INTERVAL_MS } from '../src/ingest/syslog/notices.js';
import { tempDir, waitFor, within } from './helpers.js';

const run = promisify(execFile);
const logger = (args: string[]) => run('logger', args);

interface LogLine {
  level: number;
  msg: string;
  count?: number;
  [k: string]: unknown;
}

/** The stage on 127.0.0.1 with its log lines kept; `bus` may already have a (slow) consumer group. */
async function start(syslog: Record<string, unknown>, bus = new MemoryBus()) {
  const logs: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void logs.push(JSON.parse(s) as LogLine) });
  const metrics = new Metrics({ defaults: false });
  const config = parseConfig({ syslog: { host: '127.0.0.1', udp: { enabled: false }, tcp: { port: 0 }, ...syslog } });
  const ctx = { config, bus, topics: topicNames(), metrics, log };
  const events: TwEvent[] = [];
  await bus.subscribe<TwEvent>({ topics: [ctx.topics.raw], group: 'fairness', handler: async (batch) => void events.push(...batch.map((m) => m.value)) });
  const stage = createSyslogStage(ctx);
  await stage.start();
  const a = stage.addresses();
  let stopped = false;
  const metric = (name: string, labels?: Record<string, string>) => metrics.value(`trailwatch_syslog_${name}`, labels);
  return {
    stage,
    events,
    logs,
    metric,
    tcpPort: a.tcp?.port ?? 0,
    udpPort: a.udp[0]?.port ?? 0,
    find: (marker: string) => waitFor(() => events.find((e) => e.message?.includes(marker)), { what: marker }),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await stage.stop();
      await bus.drain();
      await bus.close();
    },
  };
}

interface Conn {
  s: Socket;
  /** Settles when either side closes the connection. */
  closed: Promise<void>;
  isClosed(): boolean;
}

/** A TCP connection to the stage from localAddress. */
function connectFrom(localAddress: string, port: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, localAddress });
    let done = false;
    const closed = new Promise<void>((r) => s.once('close', () => r(void (done = true))));
    s.once('error', reject);
    s.once('connect', () => {
      s.off('error', reject);
      s.on('error', () => {}); // a refused connection is reset: its close is what the tests watch
      resolve({ s, closed, isClosed: () => done });
    });
  });
}

function octet(...msgs: string[]): Buffer {
  return Buffer.concat(msgs.map((m) => Buffer.from(`${Buffer.byteLength(m)} ${m}`)));
}

describe('ingest > syslog > fairness > connection slots', () => {
  const open: Conn[] = [];
  after(() => open.forEach((c) => c.s.destroy()));

  it('one source cannot take every slot: a second source (real logger) still gets through; at the global cap new ones are refused, open ones kept', async () => {
    const t = await start({ max_connections: 30, max_connections_per_source: 20 });
    try {
      const tcp = { transport: 'tcp' };
      const hog: Conn[] = [];
      for (let i = 0; i < 50; i++) hog.push(await connectFrom('127.0.0.2', t.tcpPort));
      open.push(...hog);
      await waitFor(async () => (await t.metric('refused_connections_total', { ...tcp, reason: 'max_connections_per_source' })) === 30, { what: '30 refused per source' });
      await waitFor(() => hog.filter((s) => s.isClosed()).length === 30, { what: 'the refused 30 closed' });
      assert.equal(await t.metric('connections', tcp), 20);

      await logger(['--tcp', '-n', '127.0.0.1', '-P', String(t.tcpPort), '--octet-count', '--rfc5424', '-t', 'fair', 'second source marker-fair-1']);
      const ev = await t.find('marker-fair-1');
      assert.match(ev.log?.source?.address ?? '', /^127\.0\.0\.1:\d+$/);
      await waitFor(async () => (await t.metric('connections', tcp)) === 20, { what: "the logger's connection closed" });
      assert.equal(t.stage.health?.().saturated, false);

      // A third source fills the global cap.
      const more: Conn[] = [];
      for (let i = 0; i < 20; i++) more.push(await connectFrom('127.0.0.3', t.tcpPort));
      open.push(...more);
      await waitFor(async () => (await t.metric('refused_connections_total', { ...tcp, reason: 'max_connections' })) === 10, { what: '10 refused at the global cap' });
      await waitFor(async () => (await t.metric('connections', tcp)) === 30, { what: '30 open' });
      const h = t.stage.health!();
      assert.equal(h.ok, true, 'saturation is reported, not unhealthy');
      assert.equal(h.saturated, true);
      assert.equal(h.connections, 30);
      assert.equal(h.sources, 2);
      assert.deepEqual(h.refused, { max_connections: 10, max_connections_per_source: 30 });

      // At the cap the logger is refused (nothing it sent is read) and nobody is evicted.
      await logger(['--tcp', '-n', '127.0.0.1', '-P', String(t.tcpPort), '--octet-count', '--rfc5424', '-t', 'fair', 'refused marker-fair-2']).catch(() => {});
      await waitFor(async () => (await t.metric('refused_connections_total', { ...tcp, reason: 'max_connections' })) === 11, { what: 'the logger refused' });
      assert.equal(hog.filter((s) => !s.isClosed()).length, 20, 'the first source keeps its 20');

      // A slot frees: the second source gets in again.
      for (const c of more) c.s.destroy();
      await waitFor(async () => (await t.metric('connections', tcp)) === 20, { what: 'the third source gone' });
      await logger(['--tcp', '-n', '127.0.0.1', '-P', String(t.tcpPort), '--octet-count', '--rfc5424', '-t', 'fair', 'again marker-fair-3']);
      await t.find('marker-fair-3');
      assert.equal(t.events.filter((e) => e.message?.includes('marker-fair-2')).length, 0, 'the refused message was never read');
      assert.equal(t.stage.health?.().saturated, false);
    } finally {
      await t.stop();
    }
  });

  it('says refusals once an interval with a count, not once each', async () => {
    const began = Date.now();
    const t = await start({ max_connections_per_source: 1 });
    const N = 40;
    try {
      open.push(await connectFrom('127.0.0.2', t.tcpPort));
      const refused: Conn[] = [];
      for (let i = 0; i < N; i++) refused.push(await connectFrom('127.0.0.2', t.tcpPort));
      await Promise.all(refused.map((s) => s.closed));
      assert.equal(await t.metric('refused_connections_total', { transport: 'tcp', reason: 'max_connections_per_source' }), N);
      const said = () => t.logs.filter((l) => l.msg.includes('max_connections_per_source reached'));
      // The first at once, then at most one line per interval that passed.
      const intervals = Math.ceil((Date.now() - began) / NOTICE_INTERVAL_MS);
      assert.ok(said().length >= 1 && said().length <= 1 + intervals, `${said().length} lines for ${N} refusals`);
      await t.stop();
      assert.equal(
        said().reduce((n, l) => n + (l.count ?? 0), 0),
        N,
        'the lines (the last said on stop) count every refusal',
      );
    } finally {
      await t.stop();
    }
  });
});

describe('ingest > syslog > fairness > slow and idle connections', () => {
  it('closes a 1 byte/s trickler (min_rate) but not a connection held back by a full bus', async () => {
    const bus = new MemoryBus({ capacity: 100, batch_size: 50 });
    let openGate!: () => void;
    const gate = new Promise<void>((r) => (openGate = r));
    const held: TwEvent[] = [];
    await bus.subscribe<TwEvent>({
      topics: [topicNames().raw],
      group: 'gated',
      handler: async (batch) => {
        await gate;
        for (const m of batch) held.push(m.value);
      },
    });
    const t = await start({ idle_timeout_ms: 0, min_rate: { bytes: 16, window_ms: 1000 } }, bus);
    let trickle: NodeJS.Timeout | undefined;
    try {
      // More than loopback socket buffers hold: the stage stops reading while the bus is full.
      const N = 60_000;
      const pad = 'p'.repeat(300);
      let data = '';
      for (let i = 0; i < N; i++) data += `<13>Jan 19 10:00:00 host app: held ${i} ${pad}\n`;
      const big = await connectFrom('127.0.0.1', t.tcpPort);
      big.s.end(data);

      const tr = await connectFrom('127.0.0.2', t.tcpPort);
      const text = '<13>Jan 19 10:00:00 h trickle: one byte a second marker-trickle';
      let sent = 0;
      trickle = setInterval(() => sent < text.length && tr.s.write(text[sent++]), 1000);
      await within(tr.closed, 30_000, () => 'the trickler closed');
      clearInterval(trickle);

      assert.equal(await t.metric('closed_connections_total', { transport: 'tcp', reason: 'slow' }), 1);
      const taken = await t.metric('received_messages_total', { transport: 'tcp' });
      assert.ok(taken < N / 2, `the big sender was held back all along (read ${taken} of ${N})`);
      assert.equal(big.isClosed(), false, 'held back by the bus is not slow');

      openGate();
      await waitFor(() => held.filter((e) => e.message?.startsWith('held ')).length === N, { timeoutMs: 60_000, what: 'all held messages' });
      // What it sent before it was closed is kept (a byte on its way when the socket closed may not be).
      await waitFor(() => held.find((e) => e.event.original && text.startsWith(e.event.original)), { what: 'what the trickler sent' });
      assert.equal(await t.metric('closed_connections_total', { transport: 'tcp', reason: 'slow' }), 1, 'only the trickler');
      assert.ok(t.logs.some((l) => l.msg.includes('below min_rate')));
    } finally {
      clearInterval(trickle);
      openGate();
      await t.stop();
    }
  });

  it('a trickle does not reset idle_timeout_ms; complete messages do', async () => {
    const t = await start({ idle_timeout_ms: 1500, min_rate: { bytes: 0 } });
    const timers: NodeJS.Timeout[] = [];
    try {
      const tr = await connectFrom('127.0.0.2', t.tcpPort);
      const chatty = await connectFrom('127.0.0.3', t.tcpPort);
      let n = 0;
      timers.push(setInterval(() => tr.s.write('x'), 100));
      timers.push(setInterval(() => chatty.s.write(`<13>Jan 19 10:00:00 h chatty: message ${n++}\n`), 200));
      await within(tr.closed, 20_000, () => 'the trickler closed as idle');
      assert.equal(chatty.isClosed(), false, 'a sender of complete messages is not idle');
      assert.equal(await t.metric('closed_connections_total', { transport: 'tcp', reason: 'idle' }), 1);
      clearInterval(timers[1]);
      await within(chatty.closed, 20_000, () => 'the quiet sender closed as idle');
      assert.equal(await t.metric('closed_connections_total', { transport: 'tcp', reason: 'idle' }), 2);
      await t.find(`message ${n - 1}`);
    } finally {
      timers.forEach(clearInterval);
      await t.stop();
    }
  });
});

describe('ingest > syslog > fairness > counted losses', () => {
  it('counts what the kernel drops on a UDP socket whose reader is stalled, as /proc/net/udp shows it', async (ctx) => {
    if (!existsSync('/proc/net/udp')) return ctx.skip('no /proc/net/udp here');
    const t = await start({ tcp: { enabled: false }, udp: { port: 0, ipv6: false, receive_buffer_bytes: 65536 } });
    const tmp = tempDir();
    try {
      const N = 5000;
      const file = join(tmp.dir, 'flood.log');
      writeFileSync(file, Array.from({ length: N }, (_, i) => `<13>Jan 19 10:00:00 h flood: datagram ${i}`).join('\n') + '\n');
      // spawnSync blocks this process (the stage's reader with it) while logger sends one datagram a line.
      const r = spawnSync('logger', ['-d', '-n', '127.0.0.1', '-P', String(t.udpPort), '-f', file]);
      assert.equal(r.status, 0, String(r.stderr));
      const kernel = procDrops(t.udpPort);
      assert.ok(kernel > 0, 'the kernel dropped some (a 64 KiB buffer holds a few hundred datagrams)');
      await waitFor(async () => (await t.metric('udp_kernel_drops_total')) === kernel, { what: `kernel drops metric = ${kernel}` });
      await waitFor(async () => (await t.metric('received_messages_total', { transport: 'udp' })) === N - kernel, { what: 'the rest received' });
      assert.equal(t.stage.health?.().udp_kernel_drops, kernel);
    } finally {
      tmp.cleanup();
      await t.stop();
    }
  });

  it('a bogus octet count (999999999) does not swallow the frames after it; what it skipped is counted', async () => {
    const t = await start({ max_message_bytes: 480 });
    try {
      const after = [1, 2, 3].map((i) => `<13>1 2024-01-19T10:00:00Z h app - - - after bogus ${i}`);
      const { s } = await connectFrom('127.0.0.1', t.tcpPort);
      s.write(octet('<13>1 2024-01-19T10:00:00Z h app - - - before bogus'));
      s.write('999999999 ' + 'x'.repeat(2000));
      s.end(octet(...after));
      await waitFor(() => t.events.some((e) => e.message === 'after bogus 3'), { what: 'the last frame' });
      assert.deepEqual(
        t.events.map((e) => e.message),
        ['before bogus', 'x'.repeat(480), 'after bogus 1', 'after bogus 2', 'after bogus 3'],
      );
      assert.ok(t.events[1].tags?.includes('truncated'), 'what the bogus count covered is kept, tagged truncated');
      assert.equal(await t.metric('framing_skipped_bytes_total', { reason: 'bogus_octet_count' }), '999999999 '.length + 2000 - 480);
      assert.equal(await t.metric('framing_errors_total', { reason: 'bogus_octet_count' }), 1);
    } finally {
      await t.stop();
    }
  });
});

/** The drops column of our UDP port's row in /proc/net/udp, read here independently of the stage. */
function procDrops(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const row = readFileSync('/proc/net/udp', 'latin1')
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .find((f) => f[1]?.endsWith(`:${hex}`));
  assert.ok(row, `no /proc/net/udp row for port ${port}`);
  return Number(row[row.length - 1]);
}
