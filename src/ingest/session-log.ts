// The gateway's session-log ingester: POST /v1/session-log on the process's
// HTTP port, NDJSON of ECS events (one per line), Bearer token. Every line
// becomes an event on the raw topic; a line that is not a usable event is
// reported back (line number + reason) and still kept, tagged "unparsed".
// What the gateway does not send is not taken: alerts (the rules raise the
// gateway's from its events), ids outside the gateway's own kind, nesting
// deeper than a gateway event has, lines over max_event_bytes.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { newEventId, type TwEvent } from '../event.js';
import { nameUuid } from '../ids.js';
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

/** The nesting a gateway event has (event.*, trailwatch.session.*, file.hash.*), with room to spare. */
export const MAX_DEPTH = 16;
/** Event kinds the gateway sends. Alerts are raised by the rules, never taken from input. */
const KINDS = new Set(['event']);
const V4_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** How deep a JSON value nests (objects and arrays), without recursion; stops counting past `limit`. */
function depthOver(v: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[v, 1]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    if (d > limit) return true;
    for (const y of Array.isArray(x) ? x : Object.values(x)) if (y !== null && typeof y === 'object') stack.push([y, d + 1]);
  }
  return false;
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
  const ev = o.event as Record<string, unknown> | undefined;
  if (ev?.kind !== undefined && !KINDS.has(ev.kind as string))
    return `event.kind ${JSON.stringify(ev.kind)} is not accepted from the session log (only "event"; alerts are raised by trailwatch's rules)`;
  if (ev?.id !== undefined && (typeof ev.id !== 'string' || !ev.id || ev.id.length > 128)) return 'event.id is not a string of 1 to 128 characters';
  if ((o.trailwatch as Record<string, unknown> | undefined)?.alert !== undefined) return 'trailwatch.alert is set by trailwatch\'s rules, not accepted from the session log';
  if (depthOver(v, MAX_DEPTH)) return `nested deeper than ${MAX_DEPTH} levels`;
  return null;
}

/**
 * The gateway's ids are random (v4) UUIDs and are kept, so a batch the
 * gateway re-sends is stored once. Any other id is mapped into a namespace of
 * its own (a name-based UUID of "session-log" and the id): a sender cannot
 * take the id of another source's record (a journal cursor id, an alert's).
 */
function ownId(id: string): string {
  return V4_UUID.test(id) ? id : nameUuid(`session-log\0${id}`);
}

/** NDJSON body to events. Pure: the HTTP route and tests share it. */
export function parseSessionLog(body: string, peer: string, now = new Date(), maxEventBytes = 1024 * 1024): { events: TwEvent[]; result: SessionLogResult } {
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
    if (Buffer.byteLength(line, 'utf8') > maxEventBytes) why = `line over session_log.max_event_bytes (${maxEventBytes})`;
    else
      try {
        v = JSON.parse(line);
        why = problem(v);
      } catch (err) {
        why = `not JSON: ${(err as Error).message}`;
      }
    if (why) {
      result.invalid++;
      if (result.errors.length < MAX_REPORTED_ERRORS) result.errors.push({ line: lineNo, reason: why });
      events.push(unparsedLine(line, why, peer, created, maxEventBytes));
      continue;
    }
    const ev = v as TwEvent;
    ev.event ??= { id: newEventId(), kind: 'event' };
    ev.event.id = ev.event.id === undefined ? newEventId() : ownId(ev.event.id);
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

function unparsedLine(line: string, reason: string, peer: string, created: string, maxBytes: number): TwEvent {
  const long = Buffer.byteLength(line, 'utf8') > maxBytes;
  // Cut on a character boundary (a lone surrogate at the end is dropped too).
  const kept = long ? Buffer.from(line, 'utf8').subarray(0, maxBytes).toString('utf8').replace(/[\ud800-\udbff]?\ufffd*$/, '') : line;
  return {
    '@timestamp': created,
    event: { id: newEventId(), kind: 'event', dataset: 'session-log', original: kept, created },
    message: kept,
    tags: long ? ['unparsed', 'truncated'] : ['unparsed'],
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
      const { events, result } = parseSessionLog(body, req.ip, new Date(), cfg.max_event_bytes);
      if (events.length) {
        const msgs: BusMessage<TwEvent>[] = events.map((e) => ({ key: e.host?.name ?? null, value: e }));
        try {
          await ctx.bus.publish(ctx.topics.raw, msgs);
          // In-process bus: answer only once the sinks hold the events, so a
          // crash after the answer cannot lose what the gateway stopped spooling.
          if (ctx.bus.settled) await ctx.bus.settled(ctx.topics.raw);
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
