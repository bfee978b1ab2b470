import { z } from 'zod';

const port = z.number().int().min(0).max(65535);

export const syslogConfig = z
  .strictObject({
    host: z.string().default('0.0.0.0').describe('Address to listen on for UDP and TCP ("::" for IPv4 and IPv6).'),
    udp: z
      .strictObject({
        enabled: z.boolean().default(true).describe("Receive syslog over UDP."),
        port: port.default(5514).describe('UDP port (RFC 5426). 0 picks a free port.'),
        ipv6: z.boolean().default(true).describe('Also listen on [::] for IPv6 senders.'),
        receive_buffer_bytes: z
          .number()
          .int()
          .min(65536)
          .default(8 * 1024 * 1024)
          .describe('SO_RCVBUF asked of the kernel; raise net.core.rmem_max to let it take effect.'),
      })
      .prefault({}),
    tcp: z
      .strictObject({
        enabled: z.boolean().default(true).describe("Receive syslog over TCP."),
        port: port.default(5514).describe('TCP port (RFC 6587: octet counting or LF/NUL framing, detected per connection).'),
      })
      .prefault({}),
    tls: z
      .strictObject({
        enabled: z.boolean().default(false).describe("Receive syslog over TLS (needs cert and key)."),
        port: port.default(6514).describe('TLS port (RFC 5425).'),
        cert: z.string().optional().describe('PEM certificate file.'),
        key: z.string().optional().describe('PEM private key file (secret).'),
        ca: z.string().optional().describe('PEM CA bundle used to verify client certificates.'),
        require_client_cert: z.boolean().default(false).describe('Refuse senders without a certificate signed by `ca`.'),
      })
      .prefault({})
      .refine((t) => !t.enabled || (t.cert && t.key), { message: 'tls.enabled needs cert and key' })
      .refine((t) => !t.require_client_cert || t.ca, { message: 'require_client_cert needs ca' }),
    max_message_bytes: z
      .number()
      .int()
      .min(480)
      .max(16 * 1024 * 1024)
      .default(64 * 1024)
      .describe('Longer messages are truncated and tagged "truncated".'),
    max_connections: z
      .number()
      .int()
      .min(1)
      .default(1024)
      .describe('TCP/TLS connections beyond this are refused and counted (new ones are refused; open ones are never evicted).'),
    max_connections_per_source: z
      .number()
      .int()
      .min(1)
      .default(64)
      .describe(
        'TCP/TLS connections one source address may hold open (loopback included); more from it are refused and counted, so one sender cannot take every slot of max_connections. Raise it for a relay that opens many connections.',
      ),
    idle_timeout_ms: z
      .number()
      .int()
      .min(0)
      .default(600_000)
      .describe(
        'Close TCP/TLS connections that deliver no complete message this long (0 = never). Bytes of an unfinished message do not count, so a trickle cannot hold a slot; a connection waiting on a full bus is not idle.',
      ),
    min_rate: z
      .strictObject({
        bytes: z
          .number()
          .int()
          .min(0)
          .default(512)
          .describe('A TCP/TLS connection in the middle of a message that delivers fewer bytes than this in window_ms (checked twice in a row) is closed as slow and counted. 0 turns the rule off.'),
        window_ms: z.number().int().min(100).default(10_000).describe('The window of min_rate.bytes.'),
      })
      .prefault({})
      .describe('Slow senders (slowloris): a connection waiting on a full bus is never slow.'),
    default_year_from: z
      .enum(['receipt', 'nearest'])
      .default('nearest')
      .describe(
        'RFC 3164 timestamps have no year. "nearest" (default): the latest year that puts the time at most a month after receipt (so Dec 31 lines received on Jan 1 keep last year); "receipt": the year of receipt.',
      ),
    rfc3164_timezone: z
      .enum(['local', 'utc'])
      .default('local')
      .describe('Zone of timestamps without an offset (RFC 3164): "local" (default, as rsyslog reads them) is the zone of the trailwatch process (TZ).'),
  })
  .prefault({})
  .describe('Syslog receiver.');

export type SyslogConfig = z.infer<typeof syslogConfig>;
