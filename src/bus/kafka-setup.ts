// `trailwatch setup kafka`: create the topics with the configured partitions,
// replication and retention. Existing topics are left as they are (and
// reported), so running it again is harmless.
import { topicNames } from './types.js';
import { kafkaClient, transient } from './kafka.js';
import { preflightKafka } from './kafka-connect.js';
import { retry } from '../retry.js';
import { errorMessage } from '../errors.js';
import { repartitionTopic } from '../rules/distributed.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';

/** Every topic trailwatch uses, and what each record's key is. */
export function allTopics(prefix: string): { name: string; key: string }[] {
  const t = topicNames(prefix);
  return [
    { name: t.raw, key: 'host' },
    { name: t.events, key: 'host' },
    { name: t.alerts, key: 'alert group (rule id and group values)' },
    { name: t.dlq, key: 'the original key' },
    { name: repartitionTopic(prefix), key: 'stateful grouping|group value (e.g. source.ip|203.0.113.9)' },
  ];
}

/**
 * Create what is missing. A broker that has just started may time out or
 * lack a controller for a few seconds: transient errors are retried for
 * about half a minute before giving up.
 */
export async function setupKafka(config: Config, log: Logger): Promise<{ created: string[]; existing: string[] }> {
  // A misconfiguration (credentials, certificates, TLS on the wrong port) fails here at once, naming the setting.
  await preflightKafka(config.bus.kafka, log);
  return retry(() => setupOnce(config, log), {
    retries: 6,
    initialMs: 500,
    maxMs: 8000,
    retryIf: transient,
    onRetry: (err, attempt, delayMs) => log.warn({ err: errorMessage(err), attempt, delayMs }, 'kafka setup: retrying'),
  });
}

async function setupOnce(config: Config, log: Logger): Promise<{ created: string[]; existing: string[] }> {
  const cfg = config.bus.kafka;
  const admin = kafkaClient(cfg, log).admin();
  await admin.connect();
  try {
    const have = new Set(await admin.listTopics());
    const topics = allTopics(config.topic_prefix);
    const missing = topics.filter((t) => !have.has(t.name));
    if (missing.length) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((t) => ({
          topic: t.name,
          numPartitions: cfg.topics.partitions,
          replicationFactor: cfg.topics.replication_factor,
          configEntries: [
            { name: 'retention.ms', value: String(cfg.topics.retention_ms) },
            // With replicas, acks=all means "at least two copies" rather than "whatever is in sync".
            { name: 'min.insync.replicas', value: String(Math.min(2, cfg.topics.replication_factor)) },
          ],
        })),
      });
    }
    for (const t of topics) log.info({ topic: t.name, key: t.key, created: !have.has(t.name) }, 'kafka topic');
    return { created: missing.map((t) => t.name), existing: topics.filter((t) => have.has(t.name)).map((t) => t.name) };
  } finally {
    await admin.disconnect();
  }
}
