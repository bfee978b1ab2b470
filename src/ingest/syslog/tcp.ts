// TCP (RFC 6587) and TLS (RFC 5425) listeners. One Connection per socket:
// frames each chunk, parses the frames, publishes them as one batch. While a
// publish waits on a full bus the socket is paused, so the kernel's window
// closes and the sender slows down instead of our memory growing. Slots are
// shared fairly (limits.ts); a sweep closes connections that deliver no
// complete message for idle_timeout_ms, or crawl through one (min_rate).
import { createServer as createNetServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import type { TwEvent } from '../../event.js';
import type { BusMessage } from '../../bus/types.js';
import { TrailwatchError, errorMessage } from '../../errors.js';
import { Framer } from './framing.js';
import { Ingest, peerOf, receipt } from './core.js';
import type { ConnectionLimit } from './limits.js';
import type { Closing, Stream } from './metrics.js';
import type { SyslogConfig } from './config.js';

// On stop, how long open connections may keep sending what they have.
const DRAIN_MAX_MS = 2000;
const DRAIN_QUIET_MS = 250;

class Connection {
  private readonly framer: Framer;
  private readonly peer: string;
  private readonly host: string;
  private inflight = 0;
  /** Batches of this connection that may be on their way to the bus at once (Bus.publishDepth). */
  private readonly depth: number;
  private backlog: BusMessage<TwEvent>[] = [];
  private lastData = Date.now();
  // For the sweep (check()): the last complete message, the window of min_rate.
  private lastFrame = this.lastData;
  private windowStart = this.lastData;
  private windowBytes = 0;
  private midAtWindow = false;
  private waited = false;

  constructor(
    private readonly core: Ingest,
    readonly socket: Socket,
    private readonly transport: Stream,
  ) {
    this.framer = new Framer(core.cfg.max_message_bytes);
    this.depth = Math.max(1, core.ctx.bus.publishDepth);
    const p = peerOf(socket.remoteAddress, socket.remotePort);
    this.peer = p.peer;
    this.host = p.host;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.finish());
    socket.on('error', (err) => core.ctx.log.debug({ err, peer: this.peer }, 'syslog connection error'));
  }

  /**
   * The sweep's question: should this connection go? Idle: no complete
   * message for idle_timeout_ms (bytes of an unfinished one do not count).
   * Slow: in the middle of a message at two window ends in a row, with fewer
   * than min_rate.bytes in the second window. Quiet senders between messages
   * are left to the idle rule (closing them would cost their next message).
   * Waiting on the bus is neither: the clocks start again when it ends.
   */
  check(now: number): Closing | null {
    const cfg = this.core.cfg;
    if (this.inflight > 0 || this.waited) {
      this.waited = false;
      this.lastFrame = this.windowStart = now;
      this.windowBytes = 0;
      this.midAtWindow = false;
      return null;
    }
    if (cfg.idle_timeout_ms > 0 && now - this.lastFrame >= cfg.idle_timeout_ms) return 'idle';
    if (cfg.min_rate.bytes > 0 && now - this.windowStart >= cfg.min_rate.window_ms) {
      const mid = this.framer.midFrame;
      const slow = mid && this.midAtWindow && this.windowBytes < cfg.min_rate.bytes;
      this.midAtWindow = mid;
      this.windowStart = now;
      this.windowBytes = 0;
      if (slow) return 'slow';
    }
    return null;
  }

  close(reason: Closing): void {
    this.core.metrics.close(this.transport, reason);
    if (reason === 'slow') this.core.notices.warn('closed:slow', { peer: this.peer, transport: this.transport, min_rate: this.core.cfg.min_rate }, 'syslog: connections below min_rate in the middle of a message closed');
    else this.core.ctx.log.debug({ peer: this.peer }, 'syslog connection idle; closing');
    this.finish();
    this.socket.destroy();
  }

  /**
   * Stopping: read what the peer already sent (until it closes, falls quiet
   * for quietMs, or maxMs pass), then flush and close.
   */
  async drain(maxMs: number, quietMs: number): Promise<void> {
    const deadline = Date.now() + maxMs;
    while (!this.socket.destroyed && !this.socket.readableEnded && Date.now() < deadline && Date.now() - this.lastData < quietMs)
      await new Promise((r) => setTimeout(r, 20));
    this.finish();
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.lastData = Date.now();
    this.windowBytes += chunk.length;
    const m = this.core.metrics;
    m.bytes[this.transport].inc(chunk.length);
    this.framer.push(chunk);
    this.flushFrames();
  }

  /** The peer closed (or we are stopping): what the framer holds is the last frame. */
  finish(): void {
    this.framer.end();
    this.flushFrames();
  }

  private flushFrames(): void {
    const f = this.framer;
    if (f.noted) {
      if (f.badCounts || f.bogusCounts) this.core.notices.warn('framing', { peer: this.peer }, 'syslog: broken octet count; what it covered is kept, framing resumes at the next frame start');
      this.core.metrics.flushFramer(f);
    }
    if (!f.lines.length) return;
    this.lastFrame = this.lastData;
    this.core.metrics.received[this.transport].inc(f.lines.length);
    // At the in-flight limit (the socket is paused) frames still buffered by the stream join the backlog.
    const full = this.inflight >= this.depth;
    const out: BusMessage<TwEvent>[] = full ? this.backlog : [];
    this.core.parseInto(f.lines, f.truncated, receipt(this.transport, this.peer, this.host), out);
    f.take();
    if (!full) this.send(out);
  }

  // Up to `depth` batches of one connection may be on their way to the bus at
  // once (the bus keeps their order): Kafka's 4 hide its round trip; the
  // in-process bus's 1 keeps the old pause. At the limit the socket pauses
  // until a publish lands and the event loop has turned once: the bus (or the
  // kernel, when it is full) holds what we have not taken, and in-process
  // consumers get their turn between our chunks, so the queue stays short and
  // events die young (with 4 in flight on the memory bus the queue grew and
  // TCP ingest ran at half its rate).
  private send(batch: BusMessage<TwEvent>[]): void {
    this.inflight++;
    this.waited = true;
    if (this.inflight >= this.depth) this.socket.pause();
    void this.core.publish(batch).then(() => {
      this.inflight--;
      if (this.backlog.length) {
        const next = this.backlog;
        this.backlog = [];
        this.send(next);
        return;
      }
      if (this.inflight === this.depth - 1) setImmediate(this.resume);
    });
  }

  private readonly resume = (): void => {
    if (this.inflight < this.depth && !this.socket.destroyed) this.socket.resume();
  };
}

export interface StreamListener {
  server: Server;
  address(): AddressInfo;
  /** Stop accepting; flush and close every open connection. */
  close(): Promise<void>;
}

function track(core: Ingest, server: Server, transport: Stream, limit: ConnectionLimit, conns: Set<Connection>): void {
  // 'connection' fires for the raw socket (before any TLS handshake): refuse here.
  server.on('connection', (raw: Socket) => {
    const source = peerOf(raw.remoteAddress, raw.remotePort).host;
    const why = limit.admit(source);
    if (why) {
      core.metrics.refuse(transport, why);
      core.notices.warn(`refused:${why}`, { transport, source, open: limit.open, max_connections: limit.max, max_connections_per_source: limit.perSource }, `syslog: ${why} reached; connections refused`);
      raw.destroy();
      return;
    }
    core.metrics.connections[transport].inc();
    raw.once('close', () => {
      limit.release(source);
      core.metrics.connections[transport].dec();
    });
    if (transport === 'tcp') {
      const c = new Connection(core, raw, transport);
      conns.add(c);
      raw.once('close', () => conns.delete(c));
    }
  });
}

/** How often the sweep runs: a quarter of the shortest rule's span, within [20 ms, 1 s]; 0 when both rules are off. */
function sweepEvery(cfg: SyslogConfig): number {
  const spans = [cfg.idle_timeout_ms, cfg.min_rate.bytes > 0 ? cfg.min_rate.window_ms : 0].filter((x) => x > 0);
  return spans.length ? Math.min(1000, Math.max(20, Math.min(...spans) / 4)) : 0;
}

function sweep(core: Ingest, conns: Set<Connection>): NodeJS.Timeout | undefined {
  const every = sweepEvery(core.cfg);
  if (!every) return undefined;
  return setInterval(() => {
    const now = Date.now();
    for (const c of conns) {
      const why = c.check(now);
      if (why) c.close(why);
    }
  }, every).unref();
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function listener(core: Ingest, server: Server, conns: Set<Connection>): StreamListener {
  const sweeper = sweep(core, conns);
  return {
    server,
    address: () => server.address() as AddressInfo,
    async close() {
      clearInterval(sweeper);
      const closed = new Promise<void>((r) => server.close(() => r()));
      await Promise.all([...conns].map((c) => c.drain(DRAIN_MAX_MS, DRAIN_QUIET_MS)));
      await closed;
    },
  };
}

export async function startTcp(core: Ingest, limit: ConnectionLimit): Promise<StreamListener> {
  const conns = new Set<Connection>();
  const server = createNetServer({ noDelay: true });
  track(core, server, 'tcp', limit, conns);
  await listen(server, core.cfg.host, core.cfg.tcp.port);
  return listener(core, server, conns);
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new TrailwatchError('TW_SYSLOG_TLS', `syslog.tls.${what}: cannot read ${file}: ${errorMessage(err)}`);
  }
}

export async function startTls(core: Ingest, limit: ConnectionLimit): Promise<StreamListener> {
  const t = core.cfg.tls;
  const conns = new Set<Connection>();
  const server = createTlsServer({
    cert: readPem(t.cert!, 'cert'),
    key: readPem(t.key!, 'key'),
    ca: t.ca ? readPem(t.ca, 'ca') : undefined,
    requestCert: !!t.ca,
    rejectUnauthorized: t.require_client_cert,
  });
  track(core, server, 'tls', limit, conns);
  server.on('secureConnection', (s: TLSSocket) => {
    const c = new Connection(core, s, 'tls');
    conns.add(c);
    s.once('close', () => conns.delete(c));
  });
  server.on('tlsClientError', (err, s) => {
    core.ctx.log.warn({ err: errorMessage(err), peer: peerOf(s.remoteAddress, s.remotePort).peer }, 'syslog: TLS handshake failed');
  });
  await listen(server, core.cfg.host, t.port);
  return listener(core, server, conns);
}
