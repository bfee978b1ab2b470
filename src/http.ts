// The HTTP port every process opens: /healthz and /metrics, plus routes that
// stages add (the session-log ingester, the web console).
import Fastify, { type FastifyInstance } from 'fastify';
import type { Metrics } from './metrics.js';
import type { Stage } from './stage.js';

export function createHttpServer(opts: {
  metrics: Metrics;
  stages: () => Stage[];
  bodyLimit?: number;
  /** The bus's view: consumers whose batches are failing (status "degraded"). */
  bus?: () => { ok: boolean; failing: unknown[] } | undefined;
}): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: opts.bodyLimit ?? 8 * 1024 * 1024 });
  app.get('/healthz', async (_req, reply) => {
    const stages: Record<string, unknown> = {};
    let ok = true;
    for (const s of opts.stages()) {
      try {
        const h = s.health ? s.health() : { ok: true };
        stages[s.name] = h;
        if (!h.ok) ok = false;
      } catch (err) {
        ok = false;
        stages[s.name] = { ok: false, error: (err as Error).message };
      }
    }
    // A stage that reports itself unhealthy makes the process unhealthy; a
    // consumer whose batch keeps failing (being redelivered, or split to find a
    // poison record) makes it degraded. Both answer 503.
    const bus = opts.bus?.();
    const degraded = ok && bus !== undefined && !bus.ok;
    reply.code(ok && !degraded ? 200 : 503);
    return { status: !ok ? 'unhealthy' : degraded ? 'degraded' : 'ok', stages, ...(bus ? { bus } : {}) };
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', opts.metrics.registry.contentType);
    return opts.metrics.text();
  });
  return app;
}
