// The syslog stage in-process, fed by the real util-linux `logger` and by raw sockets.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { promisify } from 'node:util';
import { MemoryBus } from '../src/bus/memory.js';
import { topicNames } from '../src/bus/types.js';
import { parseConfig } from '../src/config.js';
import type { TwEvent } from '../src/event.js';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { createSyslogStage, type SyslogStage } from '../src/ingest/syslog/index.js';
import { waitFor } from './helpers.js';

const run = promisify(execFile);

async function startStage(syslog: Record<string, unknown> = {}, bus = new MemoryBus()) {
  const config = parseConfig({
    syslog: { host: '127.0.0.1', udp: { port: 0, ipv6: true }, tcp: { port: 0 }, ...syslog },
  });
  const metrics = new Metrics({ defaults: false });
  const ctx = { config, bus, topics: topicNames(), metrics, log: silentLogger() };
  const events: TwEvent[] = [];
  const keys: (string | null)[] = [];
  await bus.subscribe<TwEvent>({
    topics: [ctx.topics.raw],
    group: 'test',
    handler: async (batch) => {
      for (const m of batch) {
        events.push(m.value);
        keys.push(m.key);
      }
    },
  });
  const stage: SyslogStage = createSyslogStage(ctx);
  await stage.start();
  const a = stage.addresses();
  return {
    stage,
    events,
    keys,
    metrics,
    tcpPort: a.tcp?.port ?? 0,
    udpPort: a.udp[0]?.port ?? 0,
    find: (marker: string) => waitFor(() => events.find((e) => e.message?.includes(marker)), { what: marker }),
    stop: async () => {
      await stage.stop();
      await bus.drain();
      await bus.close();
    },
  };
}

const logger = (args: string[]) => run('logger', args);

function ipv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp6');
    s.once('error', () => resolve(false));
    s.bind(0, '::1', () => s.close(() => resolve(true)));
  });
}

function tcpClient(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

describe('ingest > syslog > listeners with util-linux logger', () => {
  let t: Awaited<ReturnType<typeof startStage>>;
  before(async () => {
    t = await startStage();
  });
  after(() => t.stop());

  it('receives RFC 3164 over UDP (IPv4)', async () => {
    await logger(['-n', '127.0.0.1', '-P', String(t.udpPort), '-d', '--rfc3164', '-t', 'sshd', '-p', 'auth.warning', 'udp4 3164 marker-a']);
    const ev = await t.find('marker-a');
    assert.equal(ev.message, 'udp4 3164 marker-a');
    assert.equal(ev.process?.name, 'sshd');
    assert.deepEqual(ev.log?.syslog?.facility, { code: 4, name: 'auth' });
    assert.deepEqual(ev.log?.syslog?.severity, { code: 4, name: 'Warning' });
    assert.equal(ev.host?.name, hostname());
    assert.equal(ev.trailwatch?.input?.type, 'udp');
    assert.match(ev.log?.source?.address ?? '', /^127\.0\.0\.1:\d+$/);
    assert.equal(t.keys[t.events.indexOf(ev)], hostname(), 'keyed by host.name');
  });

  it('receives RFC 5424 over UDP (IPv6) when ::1 works here', async (ctx) => {
    if (!(await ipv6Loopback())) return ctx.skip('no IPv6 loopback');
    await logger(['-n', '::1', '-P', String(t.udpPort), '-d', '--rfc5424', '-t', 'app6', '--msgid', 'M6', 'udp6 5424 marker-b']);
    const ev = await t.find('marker-b');
    assert.equal(ev.log?.syslog?.version, 1);
    assert.equal(ev.log?.syslog?.msgid, 'M6');
    assert.match(ev.trailwatch?.input?.peer ?? '', /^\[::1\]:\d+$/);
  });

  it('receives RFC 5424 over TCP with LF framing', async () => {
    await logger(['-n', '127.0.0.1', '-P', String(t.tcpPort), '-T', '--rfc5424', '-t', 'tcplf', '-i', 'tcp lf marker-c']);
    const ev = await t.find('marker-c');
    assert.equal(ev.process?.name, 'tcplf');
    assert.equal(typeof ev.process?.pid, 'number');
    assert.equal(ev.trailwatch?.input?.type, 'tcp');
  });

  it('receives RFC 5424 over TCP with octet counting and structured data', async () => {
    await logger(['-n', '127.0.0.1', '-P', String(t.tcpPort), '-T', '--octet-count', '--rfc5424', '--sd-id', 'zoo@123', '--sd-param', 'tiger="hungry"', '--sd-param', 'zebra="running \\"fast\\""', '-t', 'zoo', 'octet marker-d']);
    const ev = await t.find('marker-d');
    assert.deepEqual(ev.log?.syslog?.structured_data?.['zoo@123'], { tiger: 'hungry', zebra: 'running "fast"' });
    assert.ok(ev.log?.syslog?.structured_data?.timeQuality, 'logger adds timeQuality');
    assert.equal(ev.message, 'octet marker-d');
  });

  it('receives RFC 3164 over TCP, many lines on one connection', async () => {
    const lines = Array.from({ length: 50 }, (_, i) => `bulk line ${i} marker-e`).join('\n');
    const child = execFile('logger', ['-n', '127.0.0.1', '-P', String(t.tcpPort), '-T', '--rfc3164', '-t', 'bulk']);
    child.stdin!.end(lines + '\n');
    await new Promise((r) => child.on('close', r));
    await waitFor(() => t.events.filter((e) => e.message?.endsWith('marker-e')).length === 50, { what: '50 lines' });
    const got = t.events.filter((e) => e.message?.endsWith('marker-e')).map((e) => e.message);
    assert.deepEqual(got, lines.split('\n'), 'in order');
  });

  it('keeps malformed input as tagged events and counts it', async () => {
    const s = await tcpClient(t.tcpPort);
    s.end('this is not syslog marker-f\n<13>1 2024-01-01T00:00:00Z h a - - [unterminated marker-g\n');
    const a = await t.find('marker-f');
    const b = await t.find('marker-g');
    assert.deepEqual(a.tags, ['unparsed']);
    assert.deepEqual(b.tags, ['unparsed']);
    assert.equal(b.event.original, '<13>1 2024-01-01T00:00:00Z h a - - [unterminated marker-g');
    assert.equal(b.log?.syslog?.priority, 13, 'a valid PRI is kept');
    assert.ok((await t.metrics.value('trailwatch_syslog_unparsed_messages_total')) >= 2);
  });

  it('counts what it receives, by transport and format', async () => {
    await waitFor(async () => (await t.metrics.value('trailwatch_syslog_received_messages_total', { transport: 'tcp' })) >= 54);
    assert.ok((await t.metrics.value('trailwatch_syslog_received_messages_total', { transport: 'udp' })) >= 1);
    assert.ok((await t.metrics.value('trailwatch_syslog_parsed_messages_total', { format: 'rfc5424' })) >= 2);
    assert.ok((await t.metrics.value('trailwatch_syslog_parsed_messages_total', { format: 'rfc3164' })) >= 51);
    assert.ok((await t.metrics.value('trailwatch_syslog_received_bytes_total', { transport: 'tcp' })) > 1000);
    assert.equal(await t.metrics.value('trailwatch_syslog_dropped_messages_total'), 0);
  });
});

describe('ingest > syslog > limits', () => {
  it('truncates messages over max_message_bytes and tags them', async () => {
    const t = await startStage({ max_message_bytes: 480 });
    try {
      const long = 'x'.repeat(2000);
      await logger(['-n', '127.0.0.1', '-P', String(t.tcpPort), '-T', '--octet-count', '--rfc5424', '-S', '4096', '-t', 'big', `marker-h ${long}`]);
      await logger(['-n', '127.0.0.1', '-P', String(t.udpPort), '-d', '--rfc3164', '-S', '4096', '-t', 'big', `marker-i ${long}`]);
      for (const m of ['marker-h', 'marker-i']) {
        const ev = await t.find(m);
        assert.deepEqual(ev.tags, ['truncated']);
        assert.equal(Buffer.byteLength(ev.event.original!), 480);
      }
      assert.equal(await t.metrics.value('trailwatch_syslog_truncated_messages_total'), 2);
    } finally {
      await t.stop();
    }
  });

  it('refuses connections beyond max_connections and counts them', async () => {
    const t = await startStage({ max_connections: 2 });
    try {
      const a = await tcpClient(t.tcpPort);
      const b = await tcpClient(t.tcpPort);
      const c = await tcpClient(t.tcpPort);
      await new Promise((r) => c.once('close', r));
      assert.equal(await t.metrics.value('trailwatch_syslog_refused_connections_total', { transport: 'tcp' }), 1);
      assert.equal(await t.metrics.value('trailwatch_syslog_connections', { transport: 'tcp' }), 2);
      const aClosed = new Promise((r) => a.once('close', r));
      a.end('<13>Jan 19 10:00:00 h a: still served marker-j\n');
      await t.find('marker-j');
      b.destroy();
      await aClosed;
      await waitFor(async () => (await t.metrics.value('trailwatch_syslog_connections', { transport: 'tcp' })) === 0, { what: 'connections closed' });
    } finally {
      await t.stop();
    }
  });

  it('closes connections idle longer than idle_timeout_ms', async () => {
    const t = await startStage({ idle_timeout_ms: 150 });
    try {
      const s = await tcpClient(t.tcpPort);
      const closed = new Promise((r) => s.once('close', r));
      s.write('<13>Jan 19 10:00:00 h a: partial line without newline marker-k');
      await closed;
      const ev = await t.find('marker-k');
      assert.equal(ev.process?.name, 'a', 'what was held is flushed when the connection closes');
    } finally {
      await t.stop();
    }
  });

  it('slows a TCP sender while the bus is full, and loses nothing', async () => {
    const bus = new MemoryBus({ capacity: 100, batch_size: 50 });
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const held: TwEvent[] = [];
    await bus.subscribe<TwEvent>({
      topics: [topicNames().raw],
      group: 'slow',
      handler: async (batch) => {
        await gate;
        for (const m of batch) held.push(m.value);
      },
    });
    const t = await startStage({ udp: { enabled: false } }, bus);
    try {
      // More than loopback socket buffers hold (tcp_rmem + tcp_wmem maxima are a few MiB each).
      const N = 60_000;
      const s = await tcpClient(t.tcpPort);
      const pad = 'p'.repeat(300);
      let data = '';
      for (let i = 0; i < N; i++) data += `<13>Jan 19 10:00:00 host app: message number ${i} ${pad}\n`;
      let flushed = false;
      s.end(data, () => (flushed = true));
      // The stage stops reading: the kernel buffers fill and the sender cannot finish.
      await new Promise((r) => setTimeout(r, 500));
      const taken = await t.metrics.value('trailwatch_syslog_received_messages_total', { transport: 'tcp' });
      assert.ok(taken < N / 2, `only a bounded part was read while the bus was full (read ${taken} of ${N})`);
      assert.equal(flushed, false, 'the sender is held back');
      open();
      await waitFor(() => held.length + t.events.length >= 2 * N, { timeoutMs: 30_000, what: 'all messages' });
      assert.equal(held.length, N);
      assert.deepEqual(
        held.map((e) => Number(e.message!.split(' ')[2])),
        Array.from({ length: N }, (_, i) => i),
        'all of them, in order',
      );
    } finally {
      open();
      await t.stop();
    }
  });

  it('on the in-process bus, lets consumers run between a fast sender\'s chunks: the queue stays short', async () => {
    // With several batches of a connection in flight on the memory bus, the
    // socket was read back to back and the queue ran up towards the bus's
    // capacity while the consumer waited (TCP ingest at half its rate).
    const bus = new MemoryBus({ capacity: 50_000, batch_size: 1000 });
    let most = 0;
    let seen = 0;
    let sink = 0;
    await bus.subscribe<TwEvent>({
      topics: [topicNames().raw],
      group: 'steady',
      handler: async (batch) => {
        most = Math.max(most, bus.pending(topicNames().raw));
        // Some work per event, as the rules stage does.
        for (const m of batch) sink += JSON.stringify(m.value).length;
        seen += batch.length;
      },
    });
    const t = await startStage({ udp: { enabled: false } }, bus);
    try {
      const N = 150_000;
      const s = await tcpClient(t.tcpPort);
      let data = '';
      for (let i = 0; i < N; i++) data += `<38>Jan 19 10:00:00 web1 sshd[${i}]: Failed password for root from 203.0.113.9 port ${i} ssh2\n`;
      s.end(data);
      await waitFor(() => seen >= N || undefined, { timeoutMs: 60_000, what: 'all messages' });
      assert.ok(sink > 0);
      // A socket read is at most 64 KiB: what one read holds may wait, plus one more in the stream's hands.
      const perRead = Math.ceil(65_536 / Math.min(...data.split('\n', 1000).slice(0, -1).map((l) => l.length + 1)));
      assert.ok(most <= 2 * perRead, `at most two socket reads queued (most ${most} waiting at once; one read holds up to ${perRead})`);
    } finally {
      await t.stop();
    }
  });

  it('counts UDP messages it has to drop while the bus is full (never silently)', async () => {
    const bus = new MemoryBus({ capacity: 100, batch_size: 50 });
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let delivered = 0;
    await bus.subscribe<TwEvent>({
      topics: [topicNames().raw],
      group: 'slow',
      handler: async (batch) => {
        await gate;
        delivered += batch.length;
      },
    });
    const t = await startStage({ tcp: { enabled: false }, udp: { port: 0, ipv6: false } }, bus);
    const sock = createSocket('udp4');
    try {
      const N = 40_000; // more than the 20 000 held while the bus is full
      for (let i = 0; i < N; i++) {
        sock.send(`<13>Jan 19 10:00:00 host app: datagram ${i}`, t.udpPort, '127.0.0.1');
        if (i % 100 === 0) await new Promise((r) => setTimeout(r, 2)); // paced: the kernel buffer must not be what overflows
      }
      const counted = () => Promise.all([t.metrics.value('trailwatch_syslog_received_messages_total', { transport: 'udp' }), t.metrics.value('trailwatch_syslog_dropped_messages_total', { reason: 'backpressure' })]);
      await waitFor(async () => (await counted())[1] > 0, { what: 'drops counted' });
      open();
      const [received, dropped] = await waitFor(async () => {
        const c = await counted();
        await new Promise((r) => setTimeout(r, 300));
        const again = await counted();
        return c[0] === again[0] && c[1] === again[1] && delivered === again[0] - again[1] ? again : undefined;
      }, { timeoutMs: 30_000, what: 'udp settled' });
      assert.ok(dropped > 0);
      assert.equal(delivered, received - dropped, 'every received datagram is either delivered or counted as dropped');
    } finally {
      open();
      sock.close();
      await t.stop();
    }
  });

  it('reads what a sender already sent before stopping', async () => {
    const t = await startStage({ udp: { enabled: false } });
    const s = await tcpClient(t.tcpPort);
    const N = 3000;
    let data = '';
    for (let i = 0; i < N; i++) data += `<13>Jan 19 10:00:00 host app: stop test ${i}\n`;
    await new Promise<void>((r) => s.end(data, () => r()));
    await t.stop();
    assert.equal(t.events.filter((e) => e.message?.startsWith('stop test')).length, N);
  });
});
