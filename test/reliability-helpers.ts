// Helpers for the end-to-end and fault suites: private Kafka / Elasticsearch
// instances (started by test/services, so a suite may stop its own without
// disturbing the shared ones other suites use), reading a CLI child's ports,
// metrics and memory, and Elasticsearch counts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Client } from '@elastic/elasticsearch';
import { ROOT, waitFor } from './helpers.js';
import { cliEnv, distributedConfig } from './distributed-helpers.js';
import type { Config } from '../src/config.js';

interface ServicesModule {
  startElasticsearch(dir: string, o?: { timeoutMs?: number; heap?: string }): Promise<{ url: string; pid: number }>;
  stopElasticsearch(dir: string): Promise<boolean>;
  startKafka(dir: string, o?: { timeoutMs?: number }): Promise<{ brokers: string; pid: number }>;
  stopKafka(dir: string): Promise<boolean>;
}

async function services(): Promise<ServicesModule> {
  const dir = join(ROOT, 'test/services');
  const es = (await import(pathToFileURL(join(dir, 'elasticsearch.mjs')).href)) as ServicesModule;
  const kafka = (await import(pathToFileURL(join(dir, 'kafka.mjs')).href)) as ServicesModule;
  return { ...es, ...kafka };
}

/** A server this suite owns: stop() takes it down (the process is gone, its port closed), start() brings it back on the same port with its data. */
export interface PrivateServer {
  address: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A single-node Elasticsearch of our own in `dir` (a restart keeps its port and data). */
export async function privateElasticsearch(dir: string): Promise<PrivateServer> {
  const s = await services();
  const first = await s.startElasticsearch(dir, { heap: '512m' });
  const server: PrivateServer = {
    address: first.url,
    async start() {
      const r = await s.startElasticsearch(dir, { heap: '512m' });
      if (r.url !== server.address) throw new Error(`private Elasticsearch came back on ${r.url}, not ${server.address}`);
    },
    async stop() {
      await s.stopElasticsearch(dir);
    },
  };
  return server;
}

/** A single-node Kafka (KRaft) of our own in `dir` (a restart keeps its port and data). */
export async function privateKafka(dir: string): Promise<PrivateServer> {
  const s = await services();
  const first = await s.startKafka(dir);
  const server: PrivateServer = {
    address: first.brokers,
    async start() {
      const r = await s.startKafka(dir);
      if (r.brokers !== server.address) throw new Error(`private Kafka came back on ${r.brokers}, not ${server.address}`);
    },
    async stop() {
      await s.stopKafka(dir);
    },
  };
  return server;
}

/** A field of the last JSON log line with this msg (e.g. the ports a CLI child listens on). */
export function logField(logs: string, msg: string, field: string): unknown {
  const lines = logs.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    if (!lines[i].includes(`"msg":"${msg}"`)) continue;
    return (JSON.parse(lines[i]) as Record<string, unknown>)[field];
  }
  throw new Error(`no "${msg}" log line`);
}

export function httpPortOf(logs: string): number {
  return (logField(logs, 'http listening', 'http') as { port: number }).port;
}

/** Resident memory of a process, in MiB (from /proc). */
export function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) / 1024;
}

/** Sum of a Prometheus sample over every label set that includes `labels`. */
export async function metric(httpPort: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** How many documents match, after a refresh (0 while the index does not exist). */
export async function esCount(client: Client, index: string, query: object = { match_all: {} }): Promise<number> {
  await client.indices.refresh({ index, ignore_unavailable: true });
  return (await client.count({ index, ignore_unavailable: true, query })).count;
}

/** Event ids stored more than once (at most `size` of them). */
export async function duplicateIds(client: Client, index: string, query: object = { match_all: {} }, size = 10): Promise<string[]> {
  await client.indices.refresh({ index, ignore_unavailable: true });
  const r = await client.search({ index, size: 0, query, aggs: { d: { terms: { field: 'event.id', min_doc_count: 2, size } } } });
  return (r.aggregations!.d as { buckets: { key: string }[] }).buckets.map((b) => b.key);
}

/** Every distinct event.id matching the query (composite aggregation, so any number). */
export async function storedIds(client: Client, index: string, query: object = { match_all: {} }): Promise<Set<string>> {
  await client.indices.refresh({ index, ignore_unavailable: true });
  const out = new Set<string>();
  let after: Record<string, string | number | null> | undefined;
  for (;;) {
    const r = await client.search({
      index,
      size: 0,
      query,
      aggs: { ids: { composite: { size: 5000, sources: [{ id: { terms: { field: 'event.id' } } }], ...(after ? { after } : {}) } } },
    });
    const agg = r.aggregations!.ids as { buckets: { key: { id: string } }[]; after_key?: Record<string, string | number | null> };
    for (const b of agg.buckets) out.add(b.key.id);
    if (!agg.buckets.length || !agg.after_key) return out;
    after = agg.after_key;
  }
}

/** Wait until `count()` reaches `want`, then check it stays there (no late duplicates) for `settleMs`. */
export async function waitForExactly(count: () => Promise<number>, want: number, opts: { timeoutMs: number; settleMs?: number; what: string }): Promise<void> {
  await waitFor(async () => (await count()) >= want, { timeoutMs: opts.timeoutMs, intervalMs: 500, what: opts.what });
  await new Promise((r) => setTimeout(r, opts.settleMs ?? 3000));
  const n = await count();
  if (n !== want) throw new Error(`${opts.what}: expected exactly ${want}, found ${n}`);
}

/** distributedConfig on other servers (a private Kafka and/or Elasticsearch), keeping its per-prefix names. */
export function configOn(prefix: string, on: { brokers?: string; esUrl?: string }, extra: { producerBufferRecords?: number } = {}): Config {
  const base = distributedConfig(prefix);
  const kafka = base.bus.kafka;
  return distributedConfig(prefix, {
    bus: {
      type: 'kafka',
      kafka: {
        brokers: on.brokers ? on.brokers.split(',') : kafka.brokers,
        topics: { partitions: kafka.topics.partitions },
        consumer: { session_timeout_ms: kafka.consumer.session_timeout_ms, heartbeat_interval_ms: kafka.consumer.heartbeat_interval_ms },
        producer: extra.producerBufferRecords ? { buffer_records: extra.producerBufferRecords } : {},
      },
    },
    sinks: { elasticsearch: { enabled: true, url: on.esUrl ?? base.sinks.elasticsearch.url, events_data_stream: base.sinks.elasticsearch.events_data_stream, alerts_index: base.sinks.elasticsearch.alerts_index } },
  });
}

/** cliEnv for a config from configOn: the children talk to the same servers. */
export function cliEnvOn(config: Config): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...cliEnv(config), KAFKA_BROKERS: config.bus.kafka.brokers.join(','), ELASTICSEARCH_URL: config.sinks.elasticsearch.url };
  env.TRAILWATCH_BUS__KAFKA__PRODUCER__BUFFER_RECORDS = String(config.bus.kafka.producer.buffer_records);
  return env;
}
