// Distributed pipeline benchmarks on the real Kafka and Elasticsearch
// (started by test/services unless KAFKA_BROKERS / ELASTICSEARCH_URL are set):
//   - publish -> Kafka through the bus (batched, gzip, acks=all, idempotent)
//     against kafkajs' own producer sending the same batches;
//   - Kafka -> Elasticsearch through the sink stage against a direct bulk
//     loader of the same documents into the same Elasticsearch.
//   - end to end, syslog TCP -> ingest -> rules -> ES sink as separate CLI
//     processes: sustained events/s and detection latency (bench/helpers/e2e.ts).
// TW_BENCH_PIPELINE_CASES=publish,sink,e2e picks cases (default all).
import { randomBytes } from 'node:crypto';
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import { loadConfig, type Config } from '../src/config.js';
import { KafkaBus } from '../src/bus/kafka.js';
import { topicNames, type TopicNames } from '../src/bus/types.js';
import { silentLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';
import { baseEvent, type TwEvent } from '../src/event.js';
import { createElasticsearchSinkStage, esClient } from '../src/sinks/elasticsearch.js';
import { directLoad } from './helpers/direct-load.js';
import { setupElasticsearch } from '../src/sinks/elasticsearch-setup.js';
import { setupKafka } from '../src/bus/kafka-setup.js';
import { e2eRows } from './helpers/e2e.js';
import { mainIfDirect, type BenchRow } from './types.js';

export type { BenchRow };

async function servicesEnv(): Promise<{ brokers: string; esUrl: string }> {
  if (!process.env.KAFKA_BROKERS || !process.env.ELASTICSEARCH_URL) {
    // @ts-ignore: plain ESM script outside the TypeScript project
    const { ensureServices } = (await import(new URL('../../test/services/up.mjs', import.meta.url).href)) as { ensureServices(): Promise<{ KAFKA_BROKERS: string; ELASTICSEARCH_URL: string }> };
    const env = await ensureServices();
    process.env.KAFKA_BROKERS = env.KAFKA_BROKERS;
    process.env.ELASTICSEARCH_URL = env.ELASTICSEARCH_URL;
  }
  return { brokers: process.env.KAFKA_BROKERS!, esUrl: process.env.ELASTICSEARCH_URL! };
}

function events(n: number, tag: string): TwEvent[] {
  const out = new Array<TwEvent>(n);
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    const ev = baseEvent(new Date(now + i).toISOString(), `<38>Jan  1 00:00:00 web-${i % 50} sshd[123]: Failed password for root from 203.0.113.${i % 250} port 22 ssh2`, `${tag}-${i}`);
    ev.host = { name: `web-${i % 50}` };
    ev.source = { ip: `203.0.113.${i % 250}` };
    ev.event.action = 'ssh_login';
    ev.event.outcome = 'failure';
    ev.message = `Failed password for root from 203.0.113.${i % 250} port 22 ssh2`;
    out[i] = ev;
  }
  return out;
}

export async function run(): Promise<BenchRow[]> {
  const { brokers, esUrl } = await servicesEnv();
  const prefix = `bench-${randomBytes(3).toString('hex')}`;
  const config = loadConfig({ env: { ...process.env, KAFKA_BROKERS: brokers, ELASTICSEARCH_URL: esUrl }, overrides: { topic_prefix: prefix, log_level: 'warn', sinks: { elasticsearch: { events_data_stream: `logs-${prefix.replace(/-/g, '')}.events-default`, alerts_index: `${prefix}-alerts` } } } });
  await setupKafka(config, silentLogger());
  const topics = topicNames(prefix);
  const rows: BenchRow[] = [];
  const cases = new Set((process.env.TW_BENCH_PIPELINE_CASES ?? 'publish,sink,e2e').split(','));
  const bus = new KafkaBus(config.bus.kafka, silentLogger(), { groupPrefix: prefix, dlqTopic: topics.dlq });
  if (cases.has('publish')) rows.push(await publishCase(brokers, bus, topics.raw, topics.events, config.bus.kafka.producer.compression));
  if (cases.has('sink')) rows.push(await sinkCase(config, bus, topics));
  await bus.close();
  if (cases.has('e2e')) rows.push(...(await e2eRows()));
  return rows;
}

/** 1. publish -> Kafka: the bus against kafkajs' own producer sending the same events. */
async function publishCase(brokers: string, bus: KafkaBus, topic: string, refTopic: string, compression: string): Promise<BenchRow> {
  const N = 100_000;
  const batch = 500;
  const evs = events(N, 'k');
  await bus.publish(topic, [{ key: 'warm', value: evs[0] }]);
  let t = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < N; i += batch) pending.push(bus.publish(topic, evs.slice(i, i + batch).map((e) => ({ key: e.host!.name!, value: e }))));
  await Promise.all(pending);
  const busRate = N / ((performance.now() - t) / 1000);
  const producer = new Kafka({ brokers: brokers.split(','), logLevel: logLevel.NOTHING }).producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  t = performance.now();
  for (let i = 0; i < N; i += 2000)
    await producer.send({ topic: refTopic, acks: -1, compression: CompressionTypes.GZIP, messages: evs.slice(i, i + 2000).map((e) => ({ key: e.host!.name!, value: JSON.stringify(e) })) });
  const rawRate = N / ((performance.now() - t) / 1000);
  await producer.disconnect();
  const c = compression;
  return { bench: 'pipeline', case: `publish -> Kafka (${c}, acks=all, idempotent)`, unit: 'msg/s', trailwatch: Math.round(busRate), reference: Math.round(rawRate), referenceName: 'kafkajs producer, 2000-record sends, gzip', ratio: busRate / rawRate, notes: 'records packed per partition (src/bus/kafka-pack.ts)' };
}

/** 2. Kafka -> Elasticsearch: the sink stage against a direct bulk loader of the same documents. */
async function sinkCase(config: Config, bus: KafkaBus, topics: TopicNames): Promise<BenchRow> {
  const prefix = config.topic_prefix;
  const client = esClient(config.sinks.elasticsearch);
  await setupElasticsearch(client, config.sinks.elasticsearch, silentLogger());
  const M = 20_000;
  const ctx = { config, bus, topics, metrics: new Metrics({ defaults: false }), log: silentLogger() };
  // Only M of the N events: a fresh topic holding exactly M.
  const esTopics = { ...topics, events: `${prefix}.bench-events`, alerts: topics.alerts };
  const docs = events(M, 's');
  await bus.publish(esTopics.events, docs.map((e) => ({ key: e.host!.name!, value: e })));
  let t = performance.now();
  const sink = createElasticsearchSinkStage({ ...ctx, topics: esTopics });
  await sink.start();
  const ds = config.sinks.elasticsearch.events_data_stream;
  for (;;) {
    await client.indices.refresh({ index: ds, ignore_unavailable: true });
    const c = await client.count({ index: ds, ignore_unavailable: true });
    if (c.count >= M) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const sinkRate = M / ((performance.now() - t) / 1000);
  await sink.stop();
  const direct = events(M, 'd').map((e) => ({ index: ds.replace(/-default$/, '-direct'), op: 'create' as const, id: e.event.id, doc: e }));
  t = performance.now();
  for (let i = 0; i < M; i += 2000) await directLoad(client, config.sinks.elasticsearch, direct.slice(i, i + 2000));
  const directRate = M / ((performance.now() - t) / 1000);
  await client.indices.deleteDataStream({ name: `logs-${prefix.replace(/-/g, '')}*` }).catch(() => {});
  await client.close();
  return { bench: 'pipeline', case: 'Kafka -> Elasticsearch sink', unit: 'events/s', trailwatch: Math.round(sinkRate), reference: Math.round(directRate), referenceName: 'direct bulk loader, same ES', ratio: sinkRate / directRate, notes: 'includes consumer group join' };
}

await mainIfDirect(import.meta.url, run);
