// The web console: fastify, server-rendered pages, asciinema-player served
// from node_modules (no CDN), cookie or bearer auth, strict CSP.
import { createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from '../log.js';
import { ApprovalConflict, ApprovalNotFound, type ApprovalsStore } from './approvals.js';
import { Auth, clearCookie, COOKIE, parseCookies, sameOrigin, sessionCookie, type Admin } from './auth.js';
import type { WebConfig } from './config.js';
import { approvalsPage, loginPage, messagePage, playbackPage, sessionsPage, type Viewer } from './pages.js';
import { parseTime, str } from './html.js';
import { registerLiveRoutes } from './live-routes.js';
import { registerAlertRoutes, type ConsoleStore } from './alerts.js';
import { registerSearchRoutes, type EventSearch } from './search.js';
import { registerOverviewRoutes, type IngestStats } from './overview.js';
import type { TwEvent } from '../event.js';
import { findRecordings, openRecording, readSession, validSessionId } from './recordings.js';
import type { SessionQuery, SessionSource } from './sources.js';

export const CSP = [
  "default-src 'none'",
  // the player's terminal emulator is WebAssembly
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

const require = createRequire(import.meta.url);
const ASSETS: Record<string, { file: string; type: string }> = {
  'asciinema-player.min.js': { file: require.resolve('asciinema-player/dist/bundle/asciinema-player.min.js'), type: 'text/javascript; charset=utf-8' },
  'asciinema-player.css': { file: require.resolve('asciinema-player/dist/bundle/asciinema-player.css'), type: 'text/css; charset=utf-8' },
  'uPlot.iife.min.js': { file: require.resolve('uplot/dist/uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  'uPlot.min.css': { file: require.resolve('uplot/dist/uPlot.min.css'), type: 'text/css; charset=utf-8' },
  'overview.js': { file: fileURLToPath(new URL('../../../web/overview.js', import.meta.url)), type: 'text/javascript; charset=utf-8' },
  'console.js': { file: fileURLToPath(new URL('../../../web/console.js', import.meta.url)), type: 'text/javascript; charset=utf-8' },
  'console.css': { file: fileURLToPath(new URL('../../../web/console.css', import.meta.url)), type: 'text/css; charset=utf-8' },
};

declare module 'fastify' {
  interface FastifyRequest {
    admin?: Admin;
    viaCookie?: boolean;
    /** The login session id, when authenticated by cookie (its CSRF token derives from it). */
    sessionId?: string;
    viewer?: Viewer;
  }
}

export interface WebServerOptions {
  config: WebConfig;
  sessions: SessionSource;
  recordingsDir: string;
  approvals: ApprovalsStore;
  /** The gateway's data_dir (live sessions); without it the Live page is empty. */
  dataDir?: string;
  log: Logger;
  auth?: Auth;
  /** The embedded store: the alerts inbox and event search (absent: those pages say why they are empty). */
  store?: ConsoleStore;
  /** The process's ingest counters for the overview (inside run). */
  ingest?: () => Promise<IngestStats>;
  /** Event search: the store, or Elasticsearch. */
  search?: EventSearch;
  /** Publishes the console's own events (triage changes) to the events topic; absent when run alone. */
  publish?: (events: TwEvent[]) => Promise<void>;
}

const PUBLIC = new Set(['/login', '/healthz', '/favicon.ico']);



export function parseSessionQuery(q: Record<string, unknown>): SessionQuery {
  return { command: str(q.q), operator: str(q.operator), account: str(q.account), target: str(q.target), from: parseTime(q.from), to: parseTime(q.to) };
}

/** The asked-for recording if it is one of the session's, else the source's, else the first. */
function pickRecording(recordings: string[], asked?: string, known?: string): string | undefined {
  if (asked && recordings.includes(asked)) return asked;
  if (known && recordings.includes(known)) return known;
  return recordings[0];
}

/** Only same-site relative paths survive as a post-login redirect. */
function safeNext(v: unknown): string {
  const s = typeof v === 'string' ? v : '';
  return /^\/(?![/\\])[^\s]*$/.test(s) ? s : '/sessions';
}

export function buildWebServer(opts: WebServerOptions): FastifyInstance {
  const { config, log } = opts;
  const auth = opts.auth ?? new Auth(config);
  const origins = new Set([new URL(config.public_url).origin]);
  const secure = config.public_url.startsWith('https:');
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024, trustProxy: false });

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    // A repeated name (the inbox's checkboxes) becomes a list.
    const out: Record<string, string | string[]> = {};
    for (const [k, v] of new URLSearchParams(body as string)) {
      const had = out[k];
      out[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
    }
    done(null, out);
  });

  app.addHook('onSend', async (_req, reply) => {
    reply.header('content-security-policy', CSP);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'same-origin');
    reply.header('x-frame-options', 'DENY');
    reply.header('cross-origin-opener-policy', 'same-origin');
    if (!reply.getHeader('cache-control')) reply.header('cache-control', 'no-store');
  });

  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0];
    if (PUBLIC.has(path) || path.startsWith('/assets/')) return;
    const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (bearer) {
      req.admin = auth.checkToken(bearer[1]);
    } else {
      req.sessionId = parseCookies(req.headers.cookie)[COOKIE];
      req.admin = auth.session(req.sessionId);
      req.viaCookie = true;
    }
    if (!req.admin) {
      if (req.method === 'GET' && !path.endsWith('.cast')) return reply.redirect(`/login?next=${encodeURIComponent(req.url)}`, 303);
      return reply.code(401).type('text/plain').send('authentication required');
    }
    req.viewer = { name: req.admin.name, csrf: req.viaCookie && req.sessionId ? auth.csrfToken(req.sessionId) : '' };
    if (req.method !== 'GET' && req.method !== 'HEAD' && req.viaCookie && !sameOrigin(req.headers, origins)) {
      log.warn({ path, origin: req.headers.origin }, 'web: cross-origin POST refused');
      return reply.code(403).type('text/plain').send('cross-origin request refused');
    }
  });

  // CSRF: a browser's state change carries the session's token as well as our
  // Origin (checked above), so a page elsewhere cannot make one. Bearer
  // tokens are not ambient credentials: scripts need no CSRF token.
  app.addHook('preHandler', async (req, reply) => {
    if (req.method === 'GET' || req.method === 'HEAD' || !req.viaCookie || !req.admin) return;
    const body = req.body as Record<string, unknown> | undefined;
    const token = (body && typeof body === 'object' ? body._csrf : undefined) ?? req.headers['x-csrf-token'];
    if (!auth.checkCsrf(req.sessionId, token)) {
      log.warn({ path: req.url.split('?')[0], admin: req.admin.name }, 'web: POST without a valid CSRF token refused');
      return reply.code(403).type('text/plain').send('missing or wrong CSRF token: reload the page and try again');
    }
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/favicon.ico', async (_req, reply) => reply.code(204).send());

  app.get('/assets/:name', async (req, reply) => {
    const a = ASSETS[(req.params as { name: string }).name];
    if (!a) return reply.code(404).type('text/plain').send('not found');
    reply.header('cache-control', 'public, max-age=3600');
    return reply.type(a.type).send(createReadStream(a.file));
  });

  app.get('/login', async (req, reply) => reply.type('text/html; charset=utf-8').send(loginPage({ next: safeNext((req.query as Record<string, unknown>).next) })));

  app.post('/login', async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const next = safeNext(body.next);
    // login CSRF: a foreign page must not log the browser in as someone else
    if (!sameOrigin(req.headers, origins)) return reply.code(403).type('text/plain').send('cross-origin request refused');
    const addr = req.socket.remoteAddress ?? '?';
    if (auth.throttled(addr)) return reply.code(429).type('text/html; charset=utf-8').send(loginPage({ next, error: 'Too many failed logins; try again later.' }));
    const admin = auth.checkToken(typeof body.token === 'string' ? body.token : '');
    if (!admin) {
      auth.recordFailure(addr);
      log.warn({ addr }, 'web: failed login');
      return reply.code(401).type('text/html; charset=utf-8').send(loginPage({ next, error: 'Unknown token.' }));
    }
    const s = auth.login(admin);
    log.info({ admin: admin.name, addr }, 'web: login');
    return reply.header('set-cookie', sessionCookie(s.id, s.maxAgeSeconds, secure)).redirect(next, 303);
  });

  app.post('/logout', async (req, reply) => {
    auth.logout(parseCookies(req.headers.cookie)[COOKIE]);
    return reply.header('set-cookie', clearCookie(secure)).redirect('/login', 303);
  });

  app.get('/', async (_req, reply) => reply.redirect(opts.store?.reader.available() ? '/overview' : '/sessions', 303));

  app.get('/sessions', async (req, reply) => {
    const q = parseSessionQuery(req.query as Record<string, unknown>);
    let results: Awaited<ReturnType<SessionSource['search']>> = [];
    let error: string | undefined;
    try {
      results = await opts.sessions.search(q);
    } catch (err) {
      log.error({ err }, 'web: session search failed');
      error = 'Search failed: the session store is unavailable. Try again shortly.';
    }
    return reply.type('text/html; charset=utf-8').send(sessionsPage(q, results, req.viewer!, opts.sessions.kind, error));
  });

  app.get('/sessions/:id', async (req, reply) => {
    const { id } = req.params as { id: string };
    const q = req.query as Record<string, unknown>;
    const rec = typeof q.rec === 'string' ? q.rec : undefined;
    let s = validSessionId(id) ? await opts.sessions.get(id, rec) : undefined;
    if (!s) return reply.code(404).type('text/html; charset=utf-8').send(messagePage('Not found', 'No such session.', req.viewer!));
    const t = Number(q.t);
    const recordings = findRecordings(opts.recordingsDir, id);
    // An alert link carries only the session and the offset: with several
    // channels, play the one that has a command at that moment.
    const atCommand = !rec && Number.isFinite(t) && recordings.length > 1 ? recordings.find((r) => readSession(opts.recordingsDir, r)?.commands.some((c) => Math.abs(c.offset - t) < 0.01)) : undefined;
    const chosen = pickRecording(recordings, rec ?? atCommand, s.recording);
    if (chosen && chosen !== s.recording && opts.sessions.kind === 'files') s = (await opts.sessions.get(id, chosen)) ?? s;
    return reply.type('text/html; charset=utf-8').send(playbackPage(s, Number.isFinite(t) && t >= 0 ? t : undefined, req.viewer!, { recordings, chosen }));
  });

  app.get('/sessions/:id/recording.cast', async (req, reply) => {
    const { id } = req.params as { id: string };
    const rec = (req.query as Record<string, unknown>).rec;
    const base = pickRecording(findRecordings(opts.recordingsDir, id), typeof rec === 'string' ? rec : undefined);
    const file = base ? openRecording(opts.recordingsDir, base) : undefined;
    if (!file) return reply.code(404).type('text/plain').send('no recording');
    return reply.type('application/x-asciicast; charset=utf-8').send(file.stream);
  });

  app.get('/approvals', async (req, reply) => {
    const all = await opts.approvals.list();
    // (oldest first: pending in the order they came in, decided newest first below)
    const pending = all.filter((r) => r.status === 'pending');
    const decided = all.filter((r) => r.status !== 'pending').reverse().slice(0, 50);
    const notice = str((req.query as Record<string, unknown>).notice);
    return reply.type('text/html; charset=utf-8').send(approvalsPage(pending, decided, req.viewer!, notice));
  });

  const decide = (verb: 'approve' | 'deny') => async (req: FastifyRequest, reply: FastifyReply) => {
    const { id } = req.params as { id: string };
    try {
      const r = verb === 'approve' ? await opts.approvals.approve(id, req.admin!.name) : await opts.approvals.deny(id, req.admin!.name);
      log.info({ admin: req.admin!.name, request: r.id, status: r.status }, 'web: transfer decision');
      return reply.redirect(`/approvals?notice=${encodeURIComponent(`${r.status}: ${r.path}`)}`, 303);
    } catch (err) {
      if (err instanceof ApprovalNotFound) return reply.code(404).type('text/html; charset=utf-8').send(messagePage('Not found', err.message, req.viewer!));
      if (err instanceof ApprovalConflict) return reply.code(409).type('text/html; charset=utf-8').send(messagePage('Already decided', err.message, req.viewer!));
      throw err;
    }
  };
  app.post('/approvals/:id/approve', decide('approve'));
  app.post('/approvals/:id/deny', decide('deny'));

  registerLiveRoutes(app, { dataDir: opts.dataDir, recordingsDir: opts.recordingsDir, log });
  registerAlertRoutes(app, { store: opts.store, publish: opts.publish, log });
  registerSearchRoutes(app, { search: opts.search, log });
  registerOverviewRoutes(app, { reader: opts.store?.reader, ingest: opts.ingest });

  app.setErrorHandler((err, req, reply) => {
    log.error({ err, path: req.url.split('?')[0] }, 'web: request failed');
    const code = (err as { statusCode?: number }).statusCode;
    reply.code(code && code >= 400 && code < 500 ? code : 500).type('text/plain').send(code && code < 500 ? 'bad request' : 'internal error');
  });

  return app;
}

/** Read a static asset (for tests and the CLI's startup check). */
export function assetPath(name: string): string | undefined {
  return ASSETS[name]?.file;
}
