// One explicit registry of components: names used in the config and the CLI
// mapped to their factories. No import side effects.
import type { Bus } from './bus/types.js';
import { MemoryBus } from './bus/memory.js';
import type { Config } from './config.js';
import type { Metrics } from './metrics.js';
import type { Stage, StageContext } from './stage.js';
import { createFileSinkStage, RotatingNdjson } from './sinks/file.js';
import { join } from 'node:path';
import { createRulesStage } from './rules/stage.js';
import { createWebhookStage } from './sinks/webhook.js';
import { webhookEnabled } from './sinks/webhook-config.js';
import { createJobsStage } from './jobs.js';
import { createWebStage } from './web/stage.js';
import { KafkaBus } from './bus/kafka.js';
import { preflightKafka } from './bus/kafka-connect.js';
import { topicNames } from './bus/types.js';
import { createLogger } from './log.js';
import { createRulesDecodeStage, createRulesDetectStage } from './rules/distributed.js';
import { createElasticsearchSinkStage } from './sinks/elasticsearch.js';
import { createSyslogStage, syslogEnabled } from './ingest/syslog/index.js';
import { createSessionLogStage } from './ingest/session-log.js';
import { createJournalStage } from './ingest/journal/index.js';
import { createGatewayStage } from './gateway/stage.js';
import { createStoreSinkStage } from './store/index.js';
import { storeEnabled } from './store/config.js';
import { webInRun } from './web/config.js';

export type StageFactory = (ctx: StageContext) => Stage;

export const busFactories: Record<Config['bus']['type'], (cfg: Config, metrics?: Metrics) => Promise<Bus>> = {
  memory: async (cfg, metrics) => {
    // Dead letters are kept in data_dir/dlq (the file sink's rotation and retention).
    const dlq = new RotatingNdjson(join(cfg.data_dir, 'dlq'), 'dlq', { max_file_bytes: 64 * 1024 * 1024, fsync: true });
    return new MemoryBus(cfg.bus.memory, {
      redelivery: cfg.bus.redelivery,
      deadLetters: { topic: topicNames(cfg.topic_prefix).dlq, write: (records) => dlq.write(records), close: () => dlq.close() },
      log: createLogger({ level: cfg.log_level, name: 'bus' }),
      metrics,
    });
  },
  kafka: async (cfg, metrics) => {
    const log = createLogger({ level: cfg.log_level, name: 'kafka' });
    // A wrong password or certificate stops the stage here, with the setting to fix.
    await preflightKafka(cfg.bus.kafka, log);
    return new KafkaBus(cfg.bus.kafka, log, { groupPrefix: cfg.topic_prefix, dlqTopic: topicNames(cfg.topic_prefix).dlq, metrics, redelivery: cfg.bus.redelivery });
  },
};

/** Stage factories, and whether a config enables each in embedded mode. */
export const stageFactories: Record<string, { create: StageFactory; embedded: (cfg: Config) => boolean; role: 'sink' | 'process' | 'source' }> = {
  'sink.file': { create: createFileSinkStage, embedded: (c) => c.sinks.file.enabled, role: 'sink' },
  'sink.store': { create: createStoreSinkStage, embedded: storeEnabled, role: 'sink' },
  rules: { create: createRulesStage, embedded: () => true, role: 'process' },
  'sink.webhook': { create: createWebhookStage, embedded: (c) => webhookEnabled(c.sinks.webhook), role: 'sink' },
  jobs: { create: createJobsStage, embedded: (c) => c.jobs.enabled, role: 'process' },
  web: { create: createWebStage, embedded: (c) => webInRun(c.web), role: 'source' },
  // Distributed rules (`trailwatch rules`): decode+enrich, repartition by group key, detect.
  'rules.decode': { create: (ctx) => createRulesDecodeStage(ctx), embedded: () => false, role: 'process' },
  'rules.detect': { create: (ctx) => createRulesDetectStage(ctx), embedded: () => false, role: 'process' },
  'sink.elasticsearch': { create: createElasticsearchSinkStage, embedded: (c) => c.sinks.elasticsearch.enabled, role: 'sink' },
  'ingest.syslog': { create: createSyslogStage, embedded: syslogEnabled, role: 'source' },
  'ingest.session-log': { create: createSessionLogStage, embedded: (c) => c.session_log.enabled, role: 'source' },
  'ingest.journal': { create: createJournalStage, embedded: (c) => c.journal.enabled, role: 'source' },
  gateway: { create: createGatewayStage, embedded: (c) => c.gateway.enabled, role: 'source' },
};
