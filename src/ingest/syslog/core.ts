// What every syslog listener shares: the parser, the counters, and the one
// way onto the bus. A Batcher is one ordered stream of batches (a TCP
// connection, a UDP socket) with at most one publish in flight; the listener
// decides what to do while it waits (pause the socket, or buffer and drop).
import { addTag, type TwEvent } from '../../event.js';
import type { BusMessage } from '../../bus/types.js';
import type { StageContext } from '../../stage.js';
import type { SyslogConfig } from './config.js';
import { SyslogMetrics } from './metrics.js';
import { Notices } from './notices.js';
import { SyslogParser, type Receipt } from './parse.js';

export class Ingest {
  readonly parser: SyslogParser;
  readonly metrics: SyslogMetrics;
  /** Warnings a sender can cause at will, at most one line an interval per kind. */
  readonly notices: Notices;
  private readonly inflight = new Set<Promise<void>>();
  private busErrorLogged = false;

  constructor(
    readonly ctx: StageContext,
    readonly cfg: SyslogConfig,
  ) {
    this.parser = new SyslogParser({ defaultYearFrom: cfg.default_year_from, timezone: cfg.rfc3164_timezone });
    this.metrics = new SyslogMetrics(ctx.metrics);
    this.notices = new Notices(ctx.log);
  }

  /** Parse framed lines into bus messages (appended to out), tagging the truncated ones. */
  parseInto(lines: readonly string[], truncated: readonly number[], r: Receipt, out: BusMessage<TwEvent>[]): void {
    let t = 0;
    for (let i = 0; i < lines.length; i++) {
      const ev = this.parser.parse(lines[i], r);
      if (t < truncated.length && truncated[t] === i) {
        addTag(ev, 'truncated');
        t++;
      }
      out.push({ key: ev.host?.name ?? null, value: ev });
    }
    this.metrics.flushParser(this.parser);
    this.metrics.truncate(truncated.length);
  }

  /** Publish one batch; never rejects (a failure is counted as dropped and logged once). */
  publish(messages: BusMessage<TwEvent>[]): Promise<void> {
    const p = this.ctx.bus.publish(this.ctx.topics.raw, messages).then(
      () => {
        this.inflight.delete(p);
      },
      (err: unknown) => {
        this.inflight.delete(p);
        this.metrics.drop('bus_error', messages.length);
        if (!this.busErrorLogged) {
          this.busErrorLogged = true;
          this.ctx.log.error({ err, count: messages.length }, 'syslog: bus refused a batch; messages dropped (counted)');
        }
      },
    );
    this.inflight.add(p);
    return p;
  }

  /** Resolves once every publish started so far has settled. */
  async idle(): Promise<void> {
    while (this.inflight.size) await Promise.all([...this.inflight]);
  }
}

/** A receipt for one batch from one peer. */
export function receipt(input: string, peer: string, peerHost: string, nowMs = Date.now()): Receipt {
  return { nowMs, created: new Date(nowMs).toISOString(), input, peer, peerHost };
}

/** "ip:port", with IPv6 addresses in brackets; IPv4-mapped IPv6 shown as IPv4. */
export function peerOf(address: string | undefined, port: number | undefined): { peer: string; host: string } {
  let host = address ?? 'unknown';
  if (host.startsWith('::ffff:') && host.indexOf('.') > 0) host = host.slice(7);
  const peer = host.includes(':') ? `[${host}]:${port ?? 0}` : `${host}:${port ?? 0}`;
  return { peer, host };
}
