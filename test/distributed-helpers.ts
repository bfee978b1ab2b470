// Helpers for the suites that run on the real Kafka and Elasticsearch
// started by test/services (npm test starts them; so does npm run services:up).
import { randomBytes } from 'node:crypto';
import { loadConfig, type Config } from '../src/config.js';
import { KafkaBus } from '../src/bus/kafka.js';
import { topicNames } from '../src/bus/types.js';
import { silentLogger } from '../src/log.js';

/** The services' addresses; a suite that needs them fails (not skips) without them. */
export function services(): { brokers: string; esUrl: string } {
  const brokers = process.env.KAFKA_BROKERS;
  const esUrl = process.env.ELASTICSEARCH_URL;
  if (!brokers || !esUrl) throw new Error('KAFKA_BROKERS and ELASTICSEARCH_URL must be set: run the suite with `npm test`, or `npm run services:up` and export what it prints');
  return { brokers, esUrl };
}

/** A topic prefix / index name no other test run shares. */
export function uniqueName(what = 'tw'): string {
  return `${what}-${randomBytes(4).toString('hex')}`;
}

/** A distributed-mode config on the test services, with its own topics, groups and indices. */
export function distributedConfig(prefix: string, overrides: Record<string, unknown> = {}): Config {
  const { brokers, esUrl } = services();
  return loadConfig({
    env: { KAFKA_BROKERS: brokers, ELASTICSEARCH_URL: esUrl },
    overrides: {
      topic_prefix: prefix,
      log_level: 'warn',
      bus: { type: 'kafka', kafka: { topics: { partitions: 3 }, consumer: { session_timeout_ms: 10_000, heartbeat_interval_ms: 1000 } } },
      sinks: { elasticsearch: { enabled: true, events_data_stream: `logs-${prefix.replace(/[^a-z0-9]/g, '')}.events-default`, alerts_index: `${prefix}-alerts` } },
      ...overrides,
    },
  });
}

export function kafkaBus(config: Config): KafkaBus {
  return new KafkaBus(config.bus.kafka, silentLogger(), { groupPrefix: config.topic_prefix, dlqTopic: topicNames(config.topic_prefix).dlq });
}

/** Environment for CLI child processes on the same services and prefix. */
export function cliEnv(config: Config): NodeJS.ProcessEnv {
  const { brokers, esUrl } = services();
  return {
    KAFKA_BROKERS: brokers,
    ELASTICSEARCH_URL: esUrl,
    TRAILWATCH_TOPIC_PREFIX: config.topic_prefix,
    TRAILWATCH_LOG_LEVEL: 'info',
    TRAILWATCH_SINKS__ELASTICSEARCH__EVENTS_DATA_STREAM: config.sinks.elasticsearch.events_data_stream,
    TRAILWATCH_SINKS__ELASTICSEARCH__ALERTS_INDEX: config.sinks.elasticsearch.alerts_index,
    TRAILWATCH_BUS__KAFKA__CONSUMER__SESSION_TIMEOUT_MS: '10000',
    TRAILWATCH_BUS__KAFKA__CONSUMER__HEARTBEAT_INTERVAL_MS: '1000',
    TRAILWATCH_BUS__KAFKA__TOPICS__PARTITIONS: '3',
  };
}
