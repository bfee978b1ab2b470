// UDP listener (RFC 5426: one message per datagram), IPv4 and IPv6. Packets
// arriving in the same turn of the event loop are published as one batch.
// UDP cannot be paused: while a publish waits on a full bus, bursts queue up
// to a bound and beyond it are dropped, and every drop is counted.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { AddressInfo } from 'node:net';
import type { TwEvent } from '../../event.js';
import { addTag } from '../../event.js';
import type { BusMessage } from '../../bus/types.js';
import { cutUtf8 } from './framing.js';
import { Ingest, peerOf } from './core.js';
import type { Receipt } from './parse.js';

const BURST = 1000;
// Datagrams held while a publish waits on a full bus; beyond this they are dropped (and counted).
const MAX_BACKLOG = 20_000;

export class UdpListener {
  private burst: BusMessage<TwEvent>[] = [];
  private backlog: BusMessage<TwEvent>[] = [];
  private publishing = false;
  private scheduled = false;
  private bytes = 0;
  private truncated = 0;
  private readonly r: Receipt = { nowMs: 0, created: '', input: 'udp', peer: '', peerHost: '' };
  private lastPeerKey = '';
  private closed = false;

  constructor(
    private readonly core: Ingest,
    readonly socket: Socket,
  ) {
    socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => this.onMessage(msg, rinfo));
    socket.on('error', (err) => core.ctx.log.warn({ err }, 'syslog: UDP socket error'));
  }

  address(): AddressInfo {
    return this.socket.address();
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    if (!this.scheduled) {
      this.scheduled = true;
      const now = Date.now();
      this.r.nowMs = now;
      this.r.created = new Date(now).toISOString();
      setImmediate(() => this.flush());
    }
    // Same sender as the last packet (the common case): reuse the peer strings.
    const key = rinfo.address + rinfo.port;
    if (key !== this.lastPeerKey) {
      const p = peerOf(rinfo.address, rinfo.port);
      this.r.peer = p.peer;
      this.r.peerHost = p.host;
      this.lastPeerKey = key;
    }
    this.bytes += msg.length;
    let end = msg.length;
    while (end > 0 && (msg[end - 1] === 10 || msg[end - 1] === 13 || msg[end - 1] === 0)) end--;
    let cut = false;
    if (end > this.core.cfg.max_message_bytes) {
      end = cutUtf8(msg, 0, this.core.cfg.max_message_bytes);
      cut = true;
    }
    if (end === 0) return;
    const ev = this.core.parser.parse(msg.toString('utf8', 0, end), this.r);
    if (cut) {
      addTag(ev, 'truncated');
      this.truncated++;
    }
    this.burst.push({ key: ev.host?.name ?? null, value: ev });
    if (this.burst.length >= BURST) this.flush();
  }

  private flush(): void {
    this.scheduled = false;
    const m = this.core.metrics;
    if (this.bytes) m.bytes.udp.inc(this.bytes);
    this.bytes = 0;
    m.truncate(this.truncated);
    this.truncated = 0;
    m.flushParser(this.core.parser);
    const batch = this.burst;
    if (!batch.length) return;
    this.burst = [];
    m.received.udp.inc(batch.length);
    if (!this.publishing) return this.send(batch);
    const room = MAX_BACKLOG - this.backlog.length;
    if (batch.length > room) m.drop('backpressure', batch.length - Math.max(0, room));
    for (let i = 0; i < batch.length && i < room; i++) this.backlog.push(batch[i]);
  }

  private send(batch: BusMessage<TwEvent>[]): void {
    this.publishing = true;
    void this.core.publish(batch).then(() => {
      if (this.backlog.length) {
        const next = this.backlog;
        this.backlog = [];
        return this.send(next);
      }
      this.publishing = false;
    });
  }

  /** Stop receiving; publish what is held. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await new Promise<void>((r) => this.socket.close(() => r()));
    this.flush();
  }
}

function bind(type: 'udp4' | 'udp6', host: string, port: number, rcvbuf: number, ipv6Only: boolean): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type, reuseAddr: false, ipv6Only, recvBufferSize: rcvbuf });
    s.once('error', reject);
    s.bind({ address: host, port }, () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

/** The configured UDP sockets: host (v4 or v6), plus [::] on the same port when ipv6 is on. */
export async function startUdp(core: Ingest): Promise<UdpListener[]> {
  const { host, udp } = core.cfg;
  const v6Host = host.includes(':');
  const first = await bind(v6Host ? 'udp6' : 'udp4', host, udp.port, udp.receive_buffer_bytes, false);
  const out = [new UdpListener(core, first)];
  const port = first.address().port;
  core.ctx.log.debug({ requested: udp.receive_buffer_bytes, effective: first.getRecvBufferSize() }, 'syslog: UDP receive buffer');
  if (udp.ipv6 && !v6Host) {
    try {
      out.push(new UdpListener(core, await bind('udp6', '::', port, udp.receive_buffer_bytes, true)));
    } catch (err) {
      core.ctx.log.warn({ err: (err as Error).message, port }, 'syslog: no IPv6 UDP listener (IPv4 only)');
    }
  }
  return out;
}
