// Assemble stages on a bus. Embedded mode runs every enabled stage in one
// process; distributed commands run one stage each. Same code path.
import type { FastifyInstance } from 'fastify';
import { topicNames } from './bus/types.js';
import type { Bus } from './bus/types.js';
import type { Config } from './config.js';
import { createHttpServer } from './http.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';
import { busFactories, stageFactories } from './registry.js';
import type { Stage, StageContext } from './stage.js';

export interface Running {
  ctx: StageContext;
  stages: Stage[];
  http: FastifyInstance | null;
  httpAddress: { host: string; port: number } | null;
  stop(): Promise<void>;
}

const ORDER = { sink: 0, process: 1, source: 2 } as const;

export async function startPipeline(
  config: Config,
  opts: { log: Logger; stages?: string[]; http?: boolean; metrics?: Metrics; bus?: Bus },
): Promise<Running> {
  const names = opts.stages ?? Object.keys(stageFactories).filter((n) => stageFactories[n].embedded(config));
  for (const n of names) if (!stageFactories[n]) throw new Error(`unknown stage "${n}"`);
  // Consumers start before producers, and stop after them.
  names.sort((a, b) => ORDER[stageFactories[a].role] - ORDER[stageFactories[b].role]);
  const metrics = opts.metrics ?? new Metrics();
  const bus = opts.bus ?? (await busFactories[config.bus.type](config, metrics));
  const ctx: StageContext = { config, bus, topics: topicNames(config.topic_prefix), metrics, log: opts.log };
  const stages: Stage[] = [];
  let http: FastifyInstance | null = null;
  let httpAddress: Running['httpAddress'] = null;
  const stopAll = async () => {
    if (http) await http.close().catch(() => {});
    for (const s of [...stages].reverse()) {
      try {
        await s.stop();
      } catch (err) {
        opts.log.error({ err, stage: s.name }, 'stage failed to stop cleanly');
      }
      if (stageFactories[s.name]?.role !== 'sink') await bus.drain();
    }
    await bus.close();
  };
  try {
    if (opts.http !== false) {
      http = createHttpServer({ metrics, stages: () => stages, bodyLimit: config.session_log.max_body_bytes, bus: () => bus.health?.() });
      ctx.http = http;
    }
    for (const n of names) {
      const s = stageFactories[n].create(ctx);
      await s.start();
      stages.push(s);
      opts.log.info({ stage: n }, 'stage started');
    }
    if (http) {
      await http.listen({ host: config.http.host, port: config.http.port });
      const a = http.server.address();
      if (a && typeof a === 'object') httpAddress = { host: a.address, port: a.port };
      opts.log.info({ http: httpAddress }, 'http listening');
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  return { ctx, stages, http, httpAddress, stop: stopAll };
}
