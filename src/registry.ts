// One explicit registry of components: names used in the config and the CLI
// mapped to their factories. No import side effects.
import type { Bus } from './bus/types.js';
import { MemoryBus } from './bus/memory.js';
import type { Config } from './config.js';
import type { Stage, StageContext } from './stage.js';
import { createFileSinkStage } from './sinks/file.js';
import { createRulesStage } from './rules/stage.js';
import { createSyslogStage, syslogEnabled } from './ingest/syslog/index.js';
import { createSessionLogStage } from './ingest/session-log.js';

export type StageFactory = (ctx: StageContext) => Stage;

export const busFactories: Record<Config['bus']['type'], (cfg: Config) => Promise<Bus>> = {
  memory: async (cfg) => new MemoryBus(cfg.bus.memory),
  kafka: async () => {
    throw new Error('bus.type kafka is not available yet');
  },
};

/** Stage factories, and whether a config enables each in embedded mode. */
export const stageFactories: Record<string, { create: StageFactory; embedded: (cfg: Config) => boolean; role: 'sink' | 'process' | 'source' }> = {
  'sink.file': { create: createFileSinkStage, embedded: (c) => c.sinks.file.enabled, role: 'sink' },
  rules: { create: createRulesStage, embedded: () => true, role: 'process' },
  'ingest.syslog': { create: createSyslogStage, embedded: syslogEnabled, role: 'source' },
  'ingest.session-log': { create: createSessionLogStage, embedded: (c) => c.session_log.enabled, role: 'source' },
};
