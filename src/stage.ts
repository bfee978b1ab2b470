// What every stage gets, and what every stage is.
import type { FastifyInstance } from 'fastify';
import type { Bus, TopicNames } from './bus/types.js';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

export interface StageContext {
  config: Config;
  bus: Bus;
  topics: TopicNames;
  metrics: Metrics;
  log: Logger;
  /** The process's HTTP server, for stages that add routes (null when HTTP is off). */
  http?: FastifyInstance;
}

export interface Stage {
  readonly name: string;
  start(): Promise<void>;
  /** Stop taking new input, flush what is held, release resources. */
  stop(): Promise<void>;
  /** Extra health detail for /healthz; throw or return ok:false when unhealthy. */
  health?(): { ok: boolean; [k: string]: unknown };
}
