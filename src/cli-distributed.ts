// Subcommands of distributed mode: one stage per process on Kafka
// (`ingest`, `rules`, `sink elasticsearch`), `setup kafka|elasticsearch`, and
// `search`. Addresses come from KAFKA_BROKERS / ELASTICSEARCH_URL or the config.
import type { Command } from 'commander';
import { configOrExit, runUntilSignal } from './cli.js';
import { createLogger } from './log.js';
import { startPipeline } from './pipeline.js';
import { stageFactories } from './registry.js';
import { setupKafka } from './bus/kafka-setup.js';
import { esClient } from './sinks/elasticsearch.js';
import { setupElasticsearch } from './sinks/elasticsearch-setup.js';
import { formatTable, search } from './sinks/elasticsearch-search.js';
import { errorMessage } from './errors.js';

function port(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name} must be a port number (0-65535)`);
    return n;
  };
}

/** Run the named stages on the Kafka bus until SIGTERM/SIGINT. */
function runStages(program: Command, stages: () => string[], extra: (o: Record<string, unknown>) => Record<string, unknown> = () => ({})) {
  return async (o: { httpPort?: number } & Record<string, unknown>) => {
    const overrides: Record<string, unknown> = { bus: { type: 'kafka' }, ...extra(o) };
    if (o.httpPort !== undefined) overrides.http = { port: o.httpPort };
    const config = configOrExit(program.opts().config, overrides);
    const log = createLogger({ level: config.log_level });
    await runUntilSignal(() => startPipeline(config, { log, stages: stages() }), log);
  };
}

export function addDistributedCommands(program: Command): void {
  program
    .command('ingest')
    .description('receive syslog, journal uploads and session logs and publish them to Kafka (every ingest.* stage)')
    .option('--syslog-port <port>', 'UDP and TCP syslog port', port('--syslog-port'))
    .option('--http-port <port>', 'HTTP port for /healthz, /metrics and the session-log endpoint', port('--http-port'))
    .option('--journal-port <port>', 'journald receiver port for systemd-journal-upload', port('--journal-port'))
    .action(
      runStages(
        program,
        () => Object.keys(stageFactories).filter((n) => n.startsWith('ingest.')),
        (o) => ({
          ...(o.syslogPort !== undefined ? { syslog: { udp: { port: o.syslogPort }, tcp: { port: o.syslogPort } } } : {}),
          ...(o.journalPort !== undefined ? { journal: { port: o.journalPort } } : {}),
        }),
      ),
    );

  program
    .command('rules')
    .description('Kafka raw -> decode, enrich -> repartition by group key -> detect -> Kafka events and alerts; run several for scale')
    .option('--http-port <port>', 'HTTP port for /healthz and /metrics', port('--http-port'))
    .action(runStages(program, () => ['rules.decode', 'rules.detect']));

  const sink = program.command('sink').description('run one sink worker (elasticsearch on Kafka, webhook on the configured bus)');
  sink
    .command('elasticsearch')
    .description('Kafka events and alerts -> Elasticsearch (data stream + alerts index)')
    .option('--http-port <port>', 'HTTP port for /healthz and /metrics', port('--http-port'))
    .action(runStages(program, () => ['sink.elasticsearch'], () => ({ sinks: { elasticsearch: { enabled: true } } })));

  const setup = program.command('setup').description('create what a distributed deployment needs (idempotent)');
  setup
    .command('kafka')
    .description('create the topics (partitions, replication and retention from the config)')
    .action(async () => {
      const config = configOrExit(program.opts().config);
      const log = createLogger({ level: config.log_level });
      const r = await setupKafka(config, log);
      process.stdout.write(`created: ${r.created.join(' ') || '-'}\nexisting: ${r.existing.join(' ') || '-'}\n`);
    });
  setup
    .command('elasticsearch')
    .description('index templates (ECS mappings), the events data stream, the alerts index and the retention policy')
    .action(async () => {
      const config = configOrExit(program.opts().config);
      const log = createLogger({ level: config.log_level });
      const client = esClient(config.sinks.elasticsearch);
      try {
        const r = await setupElasticsearch(client, config.sinks.elasticsearch, log);
        process.stdout.write(`ok: data stream ${config.sinks.elasticsearch.events_data_stream}, index ${config.sinks.elasticsearch.alerts_index}, retention ${r.ilm ? 'ILM policy' : 'data stream lifecycle'}\n`);
      } finally {
        await client.close();
      }
    });

  program
    .command('search')
    .description('search events (or alerts) in Elasticsearch with a Lucene query string, newest first')
    .argument('[query]', 'Lucene query, e.g. \'event.action:"ssh_login" AND event.outcome:failure\'', '*')
    .option('--from <time>', 'from this time (ISO 8601 or date math such as now-1h)')
    .option('--to <time>', 'up to this time')
    .option('--limit <n>', 'most results (default 50)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new Error('--limit must be 1-10000');
      return n;
    })
    .option('--alerts', 'search alerts instead of events')
    .option('--ndjson', 'print one JSON document per line')
    .action(async (query: string, o: { from?: string; to?: string; limit?: number; alerts?: boolean; ndjson?: boolean }) => {
      const config = configOrExit(program.opts().config);
      const client = esClient(config.sinks.elasticsearch);
      try {
        const r = await search(client, config.sinks.elasticsearch, { query, from: o.from, to: o.to, limit: o.limit ?? 50, alerts: !!o.alerts });
        if (o.ndjson) process.stdout.write(r.hits.map((h) => JSON.stringify(h) + '\n').join(''));
        else {
          process.stdout.write(formatTable(r.hits, !!o.alerts, process.stdout.columns || 160));
          process.stderr.write(`${r.hits.length} of ${r.total}\n`);
        }
      } catch (err) {
        process.stderr.write(`trailwatch: search failed: ${errorMessage(err)}\n`);
        process.exitCode = 1;
      } finally {
        await client.close();
      }
    });
}
