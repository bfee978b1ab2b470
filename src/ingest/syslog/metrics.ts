// The syslog receiver's counters, bound to their label values once and
// incremented per batch (a chunk or a packet burst), never per message.
import type { Counter, Gauge } from 'prom-client';
import type { Metrics } from '../../metrics.js';
import type { SyslogParser } from './parse.js';
import type { Framer } from './framing.js';

export type Transport = 'udp' | 'tcp' | 'tls';
/** Why a TCP/TLS connection was refused at accept. */
export type Refusal = 'max_connections' | 'max_connections_per_source';
/** Why we closed a TCP/TLS connection. */
export type Closing = 'idle' | 'slow';
type Child = ReturnType<Counter<string>['labels']>;
type GaugeChild = ReturnType<Gauge<string>['labels']>;
export type Stream = 'tcp' | 'tls';

export class SyslogMetrics {
  readonly received: Record<Transport, Child>;
  readonly bytes: Record<Transport, Child>;
  readonly connections: Record<Transport, GaugeChild>;
  readonly refused: Counter<string>;
  readonly closed: Counter<string>;
  readonly kernelDrops: Counter<string>;
  private readonly parsed3164: Child;
  private readonly parsed5424: Child;
  private readonly unparsed: Counter<string>;
  private readonly truncated: Counter<string>;
  private readonly dropped: Counter<string>;
  private readonly framingErrors: Counter<string>;
  private readonly skipped: Counter<string>;

  constructor(m: Metrics) {
    const received = m.counter('trailwatch_syslog_received_messages_total', 'Syslog messages received.', ['transport']);
    const bytes = m.counter('trailwatch_syslog_received_bytes_total', 'Syslog bytes received.', ['transport']);
    const parsed = m.counter('trailwatch_syslog_parsed_messages_total', 'Syslog messages parsed, by format.', ['format']);
    const conns = m.gauge('trailwatch_syslog_connections', 'Open syslog TCP/TLS connections.', ['transport']);
    this.refused = m.counter('trailwatch_syslog_refused_connections_total', 'TCP/TLS connections refused at accept, by reason (max_connections, max_connections_per_source).', ['transport', 'reason']);
    this.closed = m.counter('trailwatch_syslog_closed_connections_total', 'TCP/TLS connections closed by the receiver, by reason (idle: no complete message for idle_timeout_ms; slow: below min_rate in the middle of a message).', ['transport', 'reason']);
    this.kernelDrops = m.counter('trailwatch_syslog_udp_kernel_drops_total', 'UDP datagrams the kernel dropped on our sockets (receive buffer full), from /proc/net/udp{,6}; stays 0 where /proc is absent.');
    this.unparsed = m.counter('trailwatch_syslog_unparsed_messages_total', 'Syslog messages kept unparsed (tagged "unparsed").');
    this.truncated = m.counter('trailwatch_syslog_truncated_messages_total', 'Syslog messages cut at max_message_bytes (tagged "truncated").');
    this.dropped = m.counter('trailwatch_syslog_dropped_messages_total', 'Syslog messages lost, by reason.', ['reason']);
    this.framingErrors = m.counter('trailwatch_syslog_framing_errors_total', 'Broken octet counts on TCP/TLS, by reason (bad_octet_count: not a number; bogus_octet_count: over max_message_bytes, and a later frame start came first).', ['reason']);
    this.skipped = m.counter('trailwatch_syslog_framing_skipped_bytes_total', 'TCP/TLS bytes in no message, by reason (too_long: past max_message_bytes; bogus_octet_count: header and excess of a bogus count).', ['reason']);
    const by = <T>(f: (t: Transport) => T): Record<Transport, T> => ({ udp: f('udp'), tcp: f('tcp'), tls: f('tls') });
    this.received = by((t) => received.labels(t));
    this.bytes = by((t) => bytes.labels(t));
    this.connections = by((t) => conns.labels(t));
    for (const t of ['udp', 'tcp', 'tls'] as const) {
      // Present from the start, so dashboards see 0 rather than nothing.
      this.received[t].inc(0);
      this.bytes[t].inc(0);
    }
    for (const transport of ['tcp', 'tls'] as const) {
      for (const reason of ['max_connections', 'max_connections_per_source']) this.refused.inc({ transport, reason }, 0);
      for (const reason of ['idle', 'slow']) this.closed.inc({ transport, reason }, 0);
    }
    this.parsed3164 = parsed.labels('rfc3164');
    this.parsed5424 = parsed.labels('rfc5424');
    this.parsed3164.inc(0);
    this.parsed5424.inc(0);
    this.unparsed.inc(0);
    this.truncated.inc(0);
    this.kernelDrops.inc(0);
    for (const reason of ['backpressure', 'bus_error']) this.dropped.inc({ reason }, 0);
    for (const reason of ['bad_octet_count', 'bogus_octet_count']) this.framingErrors.inc({ reason }, 0);
    for (const reason of ['too_long', 'bogus_octet_count']) this.skipped.inc({ reason }, 0);
  }

  refuse(transport: Stream, reason: Refusal): void {
    this.refused.inc({ transport, reason });
  }

  close(transport: Stream, reason: Closing): void {
    this.closed.inc({ transport, reason });
  }

  /** Move the parser's per-batch tallies into the counters. */
  flushParser(p: SyslogParser): void {
    if (p.rfc3164) this.parsed3164.inc(p.rfc3164);
    if (p.rfc5424) this.parsed5424.inc(p.rfc5424);
    if (p.unparsed) this.unparsed.inc(p.unparsed);
    p.rfc3164 = p.rfc5424 = p.unparsed = 0;
  }

  /** Move a framer's tallies into the counters (the caller checks `f.noted` first). */
  flushFramer(f: Framer): void {
    if (f.badCounts) this.framingErrors.inc({ reason: 'bad_octet_count' }, f.badCounts);
    if (f.bogusCounts) this.framingErrors.inc({ reason: 'bogus_octet_count' }, f.bogusCounts);
    if (f.skippedTooLong) this.skipped.inc({ reason: 'too_long' }, f.skippedTooLong);
    if (f.skippedBogus) this.skipped.inc({ reason: 'bogus_octet_count' }, f.skippedBogus);
    f.badCounts = f.bogusCounts = f.skippedTooLong = f.skippedBogus = 0;
    f.noted = false;
  }

  truncate(n: number): void {
    if (n) this.truncated.inc(n);
  }

  drop(reason: string, n: number): void {
    if (n) this.dropped.inc({ reason }, n);
  }
}
