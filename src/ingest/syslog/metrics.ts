// The syslog receiver's counters, bound to their label values once and
// incremented per batch (a chunk or a packet burst), never per message.
import type { Counter, Gauge } from 'prom-client';
import type { Metrics } from '../../metrics.js';
import type { SyslogParser } from './parse.js';

export type Transport = 'udp' | 'tcp' | 'tls';
type Child = ReturnType<Counter<string>['labels']>;
type GaugeChild = ReturnType<Gauge<string>['labels']>;

export class SyslogMetrics {
  readonly received: Record<Transport, Child>;
  readonly bytes: Record<Transport, Child>;
  readonly connections: Record<Transport, GaugeChild>;
  readonly refused: Record<Transport, Child>;
  private readonly parsed3164: Child;
  private readonly parsed5424: Child;
  private readonly unparsed: Counter<string>;
  private readonly truncated: Counter<string>;
  private readonly dropped: Counter<string>;
  readonly framingErrors: Counter<string>;

  constructor(m: Metrics) {
    const received = m.counter('trailwatch_syslog_received_messages_total', 'Syslog messages received.', ['transport']);
    const bytes = m.counter('trailwatch_syslog_received_bytes_total', 'Syslog bytes received.', ['transport']);
    const parsed = m.counter('trailwatch_syslog_parsed_messages_total', 'Syslog messages parsed, by format.', ['format']);
    const conns = m.gauge('trailwatch_syslog_connections', 'Open syslog TCP/TLS connections.', ['transport']);
    const refused = m.counter('trailwatch_syslog_refused_connections_total', 'TCP/TLS connections refused (over max_connections).', ['transport']);
    this.unparsed = m.counter('trailwatch_syslog_unparsed_messages_total', 'Syslog messages kept unparsed (tagged "unparsed").');
    this.truncated = m.counter('trailwatch_syslog_truncated_messages_total', 'Syslog messages cut at max_message_bytes (tagged "truncated").');
    this.dropped = m.counter('trailwatch_syslog_dropped_messages_total', 'Syslog messages lost, by reason.', ['reason']);
    this.framingErrors = m.counter('trailwatch_syslog_framing_errors_total', 'Bad octet counts (the connection fell back to LF framing).');
    const by = <T>(f: (t: Transport) => T): Record<Transport, T> => ({ udp: f('udp'), tcp: f('tcp'), tls: f('tls') });
    this.received = by((t) => received.labels(t));
    this.bytes = by((t) => bytes.labels(t));
    this.connections = by((t) => conns.labels(t));
    this.refused = by((t) => refused.labels(t));
    for (const t of ['udp', 'tcp', 'tls'] as const) {
      // Present from the start, so dashboards see 0 rather than nothing.
      this.received[t].inc(0);
      this.bytes[t].inc(0);
    }
    this.parsed3164 = parsed.labels('rfc3164');
    this.parsed5424 = parsed.labels('rfc5424');
    this.parsed3164.inc(0);
    this.parsed5424.inc(0);
    this.unparsed.inc(0);
    this.truncated.inc(0);
    for (const reason of ['backpressure', 'bus_error']) this.dropped.inc({ reason }, 0);
  }

  /** Move the parser's per-batch tallies into the counters. */
  flushParser(p: SyslogParser): void {
    if (p.rfc3164) this.parsed3164.inc(p.rfc3164);
    if (p.rfc5424) this.parsed5424.inc(p.rfc5424);
    if (p.unparsed) this.unparsed.inc(p.unparsed);
    p.rfc3164 = p.rfc5424 = p.unparsed = 0;
  }

  truncate(n: number): void {
    if (n) this.truncated.inc(n);
  }

  drop(reason: string, n: number): void {
    if (n) this.dropped.inc({ reason }, n);
  }
}
