// `trailwatch web`: start the console from the effective config.
import { resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../log.js';
import { createApprovalsStore, type ApprovalsStore } from './approvals.js';
import { buildWebServer } from './server.js';
import { createSessionSource, recordingsDir, type SessionSource } from './sources.js';
import { changeAlertStatus, StoreReader, storeEnabled, storePath } from '../store/index.js';
import { eventsIndexPattern } from './es-adapter.js';
import { elasticsearchSearch, storeSearch, type EventSearch } from './search.js';
import type { IngestStats } from './overview.js';
import type { TwEvent } from '../event.js';

export interface RunningWeb {
  app: FastifyInstance;
  url: string;
  stop(): Promise<void>;
}

export async function startWeb(
  config: Config,
  opts: { log: Logger; sessions?: SessionSource; approvals?: ApprovalsStore; publish?: (events: TwEvent[]) => Promise<void>; ingest?: () => Promise<IngestStats> },
): Promise<RunningWeb> {
  if (!config.web.admins.length) throw new ConfigError(['web.admins: at least one administrator is needed to run the console (see `trailwatch web-token`)']);
  const sessions = opts.sessions ?? createSessionSource(config);
  const reader = storeEnabled(config) ? new StoreReader(storePath(config)) : undefined;
  // Inside `run` the store has the events; a console beside a distributed pipeline asks Elasticsearch.
  const search: EventSearch | undefined =
    reader && (config.bus.type === 'memory' || !config.sinks.elasticsearch.enabled)
      ? storeSearch(reader)
      : config.sinks.elasticsearch.enabled
        ? elasticsearchSearch({ url: config.sinks.elasticsearch.url, index: eventsIndexPattern(config) })
        : undefined;
  const app = buildWebServer({
    config: config.web,
    sessions,
    recordingsDir: recordingsDir(config),
    approvals: opts.approvals ?? (await createApprovalsStore(config)),
    dataDir: resolve(config.data_dir),
    log: opts.log,
    store: reader ? { reader, changeStatus: (ids, status, by, note) => changeAlertStatus(config, ids, status, by, note) } : undefined,
    publish: opts.publish,
    ingest: opts.ingest,
    search,
  });
  await app.listen({ host: config.web.host, port: config.web.port });
  const a = app.server.address();
  const port = a && typeof a === 'object' ? a.port : config.web.port;
  const url = `http://${config.web.host.includes(':') ? `[${config.web.host}]` : config.web.host}:${port}`;
  opts.log.info({ url, public_url: config.web.public_url, source: sessions.kind }, 'web console listening');
  return {
    app,
    url,
    stop: async () => {
      await app.close();
      await sessions.close?.();
      reader?.close();
      await search?.close?.();
    },
  };
}
