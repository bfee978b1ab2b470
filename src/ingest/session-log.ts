// The gateway's session-log ingester: POST /v1/session-log on the process's
// HTTP port, NDJSON of ECS events (one per line), Bearer token. Every line
// becomes an event on the raw topic; a line that is not a usable event is
// reported back (line number + reason) and still kept, tagged "unparsed".
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { newEventId, type TwEvent } from '../event.js';
import type { BusMessage } from '../bus/types.js';
import type { Stage, StageContext } from '../stage.js';

export const SESSION_LOG_PATH = '/v1/session-log';
const MAX_REPORTED_ERRORS = 100;

export interface LineError {
  line: number;
  reason: string;
}

export interface SessionLogResult {
  accepted: number;
  invalid: number;
  errors: LineError[];
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time check of "Bearer <token>" (hashing first makes lengths equal). */
export function bearerMatches(header: string | undefined, expected: Buffer | null): boolean {
  if (!expected || !header) return false;
  const m = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
  return timingSafeEqual(digest(m), expected) && m.length > 0;
}

/** Why a parsed line is not a usable event, or null when it is. */
function problem(v: unknown): string | null {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'not a JSON object';
  const o = v as Record<string, unknown>;
  if (o.event !== undefined && (o.event === null || typeof o.event !== 'object' || Array.isArray(o.event))) return 'event is not an object';
  if (o.trailwatch !== undefined && (o.trailwatch === null || typeof o.trailwatch !== 'object' || Array.isArray(o.trailwatch)))
    return 'trailwatch is not an object';
  const ts = o['@timestamp'];
  if (ts !== undefined && (typeof ts !== 'string' || Number.isNaN(Date.parse(ts)))) return '@timestamp is not an ISO 8601 date';
  return null;
}

/** NDJSON body to events. Pure: the HTTP route and tests share it. */
export function parseSessionLog(body: string, peer: string, now = new Date()): { events: TwEvent[]; result: SessionLogResult } {
  const created = now.toISOString();
  const events: TwEvent[] = [];
  const result: SessionLogResult = { accepted: 0, invalid: 0, errors: [] };
  let lineNo = 0;
  let start = 0;
  while (start <= body.length) {
    let end = body.indexOf('\n', start);
    if (end < 0) end = body.length;
    lineNo++;
    let line = body.slice(start, end);
    start = end + 1;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (!line.trim()) continue;
    let v: unknown;
    let why: string | null;
    try {
      v = JSON.parse(line);
      why = problem(v);
    } catch (err) {
      why = `not JSON: ${(err as Error).message}`;
    }
    if (why) {
      result.invalid++;
      if (result.errors.length < MAX_REPORTED_ERRORS) result.errors.push({ line: lineNo, reason: why });
      events.push(unparsedLine(line, why, peer, created));
      continue;
    }
    const ev = v as TwEvent;
    ev.event ??= { id: newEventId(), kind: 'event' };
    ev.event.id ??= newEventId();
    ev.event.kind ??= 'event';
    ev.event.created ??= created;
    ev['@timestamp'] ??= created;
    ev.trailwatch ??= {};
    ev.trailwatch.input = { type: 'session-log', peer };
    events.push(ev);
    result.accepted++;
  }
  return { events, result };
}

function unparsedLine(line: string, reason: string, peer: string, created: string): TwEvent {
  return {
    '@timestamp': created,
    event: { id: newEventId(), kind: 'event', dataset: 'session-log', original: line, created },
    message: line,
    tags: ['unparsed'],
    trailwatch: { input: { type: 'session-log', peer }, error: reason },
  };
}

export function createSessionLogStage(ctx: StageContext): Stage {
  const cfg = ctx.config.session_log;
  const token = cfg.token ? digest(cfg.token) : null;
  const accepted = ctx.metrics.counter('trailwatch_session_log_received_events_total', 'Session-log events accepted.');
  const invalid = ctx.metrics.counter('trailwatch_session_log_invalid_lines_total', 'Session-log lines that were not events (kept, tagged "unparsed").');
  const refused = ctx.metrics.counter('trailwatch_session_log_refused_requests_total', 'Session-log requests refused, by reason.', ['reason']);
  accepted.inc(0);
  invalid.inc(0);

  const route = async (app: FastifyInstance) => {
    // NDJSON whatever the content type says: the body is read as text here.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: cfg.max_body_bytes }, (_req, body, done) => done(null, body));
    app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      if (!bearerMatches(req.headers.authorization, token)) {
        refused.inc({ reason: 'unauthorized' });
        reply.header('www-authenticate', 'Bearer');
        return reply.code(401).send({ error: token ? 'missing or wrong bearer token' : 'session_log.token is not configured' });
      }
    });
    app.setErrorHandler((err: { statusCode?: number; message: string }, _req, reply) => {
      const code = err.statusCode ?? 500;
      if (code === 413) refused.inc({ reason: 'too_large' });
      return reply.code(code).send({ error: code === 413 ? `body over session_log.max_body_bytes (${cfg.max_body_bytes})` : err.message });
    });
    app.post(SESSION_LOG_PATH, { bodyLimit: cfg.max_body_bytes }, async (req, reply) => {
      const body = typeof req.body === 'string' ? req.body : '';
      const { events, result } = parseSessionLog(body, req.ip);
      if (events.length) {
        const msgs: BusMessage<TwEvent>[] = events.map((e) => ({ key: e.host?.name ?? null, value: e }));
        try {
          await ctx.bus.publish(ctx.topics.raw, msgs);
        } catch (err) {
          ctx.log.error({ err }, 'session-log: bus refused a batch');
          return reply.code(503).send({ error: 'bus unavailable; retry later' });
        }
      }
      accepted.inc(result.accepted);
      invalid.inc(result.invalid);
      return result;
    });
  };

  return {
    name: 'ingest.session-log',
    async start() {
      if (!ctx.http) {
        ctx.log.warn('session-log: no HTTP server in this process; POST /v1/session-log is not served');
        return;
      }
      if (!token) ctx.log.warn('session-log: session_log.token is not set; every request will be refused (401)');
      await ctx.http.register(route);
    },
    async stop() {
      // The HTTP server is closed by the pipeline (in-flight requests finish first).
    },
  };
}
