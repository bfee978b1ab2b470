// A real HTTP receiver for webhook tests: scripted answers, every request kept,
// and its own Standard Webhooks verifier (written from the spec, not from
// src/sinks/webhook/sign.ts).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { busFactories } from '../src/registry.js';
import { parseConfig } from '../src/config.js';
import { SEVERITY_SCORE, type Alert, type SeverityName } from '../src/event.js';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { startPipeline, type Running } from '../src/pipeline.js';

export interface Received {
  at: number;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
}

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export class Receiver {
  readonly requests: Received[] = [];
  /** Answers for the next requests, in order; afterwards `otherwise`. */
  script: Answer[] = [];
  otherwise: Answer = { status: 200, body: 'ok' };
  private server!: Server;
  port = 0;

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const a = this.script.shift() ?? this.otherwise;
        this.requests.push({ at: Date.now(), path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status: a.status });
        res.writeHead(a.status, a.headers ?? {});
        res.end(a.body ?? '');
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  get delivered(): Received[] {
    return this.requests.filter((r) => r.status >= 200 && r.status < 300);
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

/**
 * Standard Webhooks verification as a receiver would write it from the spec:
 * HMAC-SHA256 over "id.timestamp.body" keyed with the base64 part of whsec_,
 * any of the space-separated v1 signatures may match, timestamp within 5 minutes.
 */
export function verifyStandardWebhook(secret: string, headers: Record<string, string | string[] | undefined>, body: string, nowSec = Math.floor(Date.now() / 1000)): boolean {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sigs = headers['webhook-signature'];
  if (typeof id !== 'string' || typeof ts !== 'string' || typeof sigs !== 'string') return false;
  const t = Number(ts);
  if (!Number.isInteger(t) || Math.abs(nowSec - t) > 300) return false;
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest();
  for (const part of sigs.split(' ')) {
    const [version, sig] = part.split(',');
    if (version !== 'v1' || !sig) continue;
    const got = Buffer.from(sig, 'base64');
    if (got.length === expected.length && timingSafeEqual(got, expected)) return true;
  }
  return false;
}

let seq = 0;
export function makeAlert(o: Partial<{ id: string; rule: string; name: string; severity: SeverityName; group: Record<string, string>; host: string; tags: string[]; count: number; session: { id: string; offset: number }; message: string }> = {}): Alert {
  const now = new Date().toISOString();
  const severity = o.severity ?? 'high';
  const group = o.group ?? { 'source.ip': '203.0.113.9' };
  const a: Alert = {
    '@timestamp': now,
    event: { id: o.id ?? `alert-${process.pid}-${++seq}`, kind: 'alert', severity: SEVERITY_SCORE[severity], category: ['authentication'] },
    message: o.message ?? `5 failed logins from ${group['source.ip'] ?? 'somewhere'}`,
    rule: { id: o.rule ?? 'ssh-brute-force', name: o.name ?? 'SSH brute force', category: 'authentication' },
    tags: o.tags ?? ['brute-force'],
    source: group['source.ip'] ? { ip: group['source.ip'] } : undefined,
    trailwatch: {
      alert: { severity, group, events: ['e1', 'e2', 'e3', 'e4', 'e5'], count: o.count ?? 5, first_seen: now, last_seen: now },
    },
  };
  if (o.host) a.host = { name: o.host };
  if (o.session) a.trailwatch.session = o.session;
  return a;
}

export const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
export const SECRET2 = 'whsec_' + Buffer.alloc(32, 7).toString('base64');

/** The webhook sink alone on a fresh memory bus as `run` makes it (dead letters in data_dir/dlq; loopback receivers allowed). */
export async function startSink(dataDir: string, webhook: Record<string, unknown>, metrics = new Metrics({ defaults: false })): Promise<Running> {
  const config = parseConfig({ data_dir: dataDir, sinks: { webhook: { allow_private: true, ...webhook } } });
  return startPipeline(config, { log: silentLogger(), stages: ['sink.webhook'], http: false, bus: await busFactories.memory(config, metrics), metrics });
}

export function publish(r: Running, alerts: Alert[]): Promise<void> {
  return r.ctx.bus.publish(r.ctx.topics.alerts, alerts.map((a) => ({ key: a.event.id, value: a })));
}

