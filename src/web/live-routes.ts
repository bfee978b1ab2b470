// The console's Live page: sessions open on the gateway now (the gateway's
// live-session store, src/gateway/live.ts), watching one as it happens
// (live-feed.ts over server-sent events), and ending one.
import type { FastifyInstance } from 'fastify';
import { TrailwatchError } from '../errors.js';
import * as live from '../gateway/live.js';
import type { Logger } from '../log.js';
import { CastFollower, sse } from './live-feed.js';
import { livePage, messagePage, watchPage } from './pages.js';
import { findRecordings, recordingPaths } from './recordings.js';
import { str } from './html.js';

export function registerLiveRoutes(app: FastifyInstance, o: { dataDir?: string; recordingsDir: string; log: Logger }): void {
  const { log } = o;
  app.get('/live', async (req, reply) => {
    const sessions = o.dataDir ? live.list(o.dataDir) : [];
    return reply.type('text/html; charset=utf-8').send(livePage(sessions, req.viewer!, str((req.query as Record<string, unknown>).notice)));
  });

  const feeds = new Set<() => void>();
  const liveSession = (id: string) => (o.dataDir ? live.get(o.dataDir, id) : null);

  app.get('/live/:id/watch', async (req, reply) => {
    const s = liveSession((req.params as { id: string }).id);
    if (!s) return reply.code(404).type('text/html; charset=utf-8').send(messagePage('Not live', 'No such live session: it may have ended. Its recording is under Sessions.', req.viewer!));
    return reply.type('text/html; charset=utf-8').send(watchPage(s, req.viewer!));
  });

  // Server-sent events for asciinema-player's eventsource driver (live-feed.ts).
  app.get('/live/:id/feed', async (req, reply) => {
    const { id } = req.params as { id: string };
    if (!liveSession(id)) return reply.code(404).type('text/plain').send('no such live session');
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    let follower: CastFollower | undefined;
    let ticks = 0;
    const tick = () => {
      // The first channel that records a terminal (shell or exec): the one the operator sees.
      if (!follower) {
        const rec = findRecordings(o.recordingsDir, id)[0];
        if (rec) follower = new CastFollower(recordingPaths(o.recordingsDir, rec).cast);
      }
      for (const e of follower?.poll() ?? []) reply.raw.write(sse(e));
      if (++ticks % 4 === 0 && !liveSession(id)) {
        reply.raw.write(sse({ event: 'done', data: '{}' }));
        stop();
      }
    };
    const timer = setInterval(tick, 250);
    const stop = () => {
      clearInterval(timer);
      feeds.delete(stop);
      reply.raw.end();
    };
    feeds.add(stop);
    req.raw.on('close', () => {
      clearInterval(timer);
      feeds.delete(stop);
    });
    tick();
  });
  // A stream stays open while its session runs: end them so the console can stop.
  app.addHook('preClose', async () => {
    for (const stop of [...feeds]) stop();
  });

  app.post('/live/:id/terminate', async (req, reply) => {
    const { id } = req.params as { id: string };
    const reason = str((req.body as Record<string, unknown> | undefined)?.reason);
    try {
      if (!o.dataDir) throw new TrailwatchError('TW_SESSION_NOT_LIVE', `no live session ${id}`);
      const s = live.requestTermination(o.dataDir, id, { by: req.admin!.name, reason });
      log.info({ admin: req.admin!.name, session: s.id, reason: s.termination?.reason }, 'web: session termination requested');
      return reply.redirect(`/live?notice=${encodeURIComponent(`terminating the session of ${s.operator} on ${s.account}@${s.target}`)}`, 303);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'TW_SESSION_NOT_LIVE' || code === 'TW_SESSION_ID') return reply.code(404).type('text/html; charset=utf-8').send(messagePage('Not found', (err as Error).message, req.viewer!));
      throw err;
    }
  });
}
