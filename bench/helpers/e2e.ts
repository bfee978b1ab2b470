// End to end on the real services, every stage its own process of the built CLI:
//   syslog TCP -> trailwatch ingest -> Kafka -> trailwatch rules -> Kafka
//   -> trailwatch sink elasticsearch -> Elasticsearch
// 1. Sustained events/s: N octet-counted RFC 5424 lines from a sender process,
//    timed from its connect until the last of the N is searchable; the ceiling is
//    a direct bulk loader of the same (stored, decoded) documents into a data
//    stream of the same template in the same Elasticsearch.
// 2. Detection latency at a fixed offered rate: background lines paced at RATE/s
//    with a burst of six failed logins from a fresh source address every
//    BURST_EVERY_MS; latency = the burst's alert document (ssh-failed-login-burst,
//    that source.ip) found in Elasticsearch minus the send time of its last line.
// TW_BENCH_E2E_EVENTS sets N (default 50000); TW_BENCH_E2E_DEBUG=1 prints each
// burst's latency in send order to stderr.
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Client } from '@elastic/elasticsearch';
import { cliEnv, distributedConfig, uniqueName } from '../../test/distributed-helpers.js';
import { runCli, startCli } from '../../test/helpers.js';
import { esCount, logField } from '../../test/reliability-helpers.js';
import { esClient, type BulkDoc } from '../../src/sinks/elasticsearch.js';
import { directLoad } from './direct-load.js';
import type { Config } from '../../src/config.js';
import type { TwEvent } from '../../src/event.js';
import { messages, octetCounted, startSender } from '../syslog.js';
import type { BenchRow } from '../types.js';

const RATE = 5000;
const BURSTS = 20;
const BURST_EVERY_MS = 2500;
const WARMUP_MS = 3000;
const RULE = 'ssh-failed-login-burst';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Pipeline {
  config: Config;
  client: Client;
  tcpPort: number;
  stop(): Promise<void>;
}

async function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Set up topics and templates for a fresh prefix, then start ingest, rules and the ES sink as separate processes. */
async function startPipeline(): Promise<Pipeline> {
  const config = distributedConfig(uniqueName('bench-e2e'));
  const env = cliEnv(config);
  for (const what of ['kafka', 'elasticsearch']) {
    const r = await runCli(['setup', what], { env });
    if (r.code !== 0) throw new Error(`setup ${what}: ${r.stderr}`);
  }
  const children: ChildProcess[] = [];
  const start = async (args: string[]) => {
    const c = await startCli([...args, '--http-port', '0'], { env, timeoutMs: 60_000 });
    children.push(c.child);
    return c;
  };
  const ingest = await start(['ingest', '--syslog-port', '0']);
  const tcpPort = logField(ingest.logs(), 'syslog listening', 'tcpPort') as number;
  await start(['rules']);
  await start(['sink', 'elasticsearch']);
  const client = esClient(config.sinks.elasticsearch);
  return {
    config,
    client,
    tcpPort,
    async stop() {
      // SIGTERM first so each stage shuts down as in production (and a --cpu-prof child writes its profile).
      await Promise.all(children.map((c) => stopChild(c)));
      const cfg = config.sinks.elasticsearch;
      await client.indices.deleteDataStream({ name: cfg.events_data_stream.replace(/-[^-]+$/, '-*') }).catch(() => {});
      await client.indices.delete({ index: cfg.alerts_index, ignore_unavailable: true }).catch(() => {});
      await client.close();
    },
  };
}

/** Events/s from a sender's connect until the N-th document is searchable. */
async function sustained(p: Pipeline, n: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'tw-bench-e2e-'));
  try {
    const file = join(dir, 'lines');
    writeFileSync(file, octetCounted(messages('rfc5424', n)));
    const ds = p.config.sinks.elasticsearch.events_data_stream;
    const s = await startSender(['tcp', '127.0.0.1', String(p.tcpPort), file]);
    while ((await esCount(p.client, ds)) < n) await sleep(100);
    const rate = n / ((performance.now() - s.t0) / 1000);
    await s.done;
    return rate;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The same documents the pipeline stored, bulk-loaded straight into a sibling data stream (same template). */
async function directCeiling(p: Pipeline, n: number): Promise<number> {
  const ds = p.config.sinks.elasticsearch.events_data_stream;
  const sample = await p.client.search<TwEvent>({ index: ds, size: 2000 });
  const src = sample.hits.hits.map((h) => h._source!);
  const target = ds.replace(/-[^-]+$/, '-direct');
  const docs = new Array<BulkDoc>(n);
  for (let i = 0; i < n; i++) {
    const doc = structuredClone(src[i % src.length]);
    doc.event.id = `direct-${i}`;
    docs[i] = { index: target, op: 'create', id: doc.event.id, doc };
  }
  const cfg = p.config.sinks.elasticsearch;
  const t = performance.now();
  const step = cfg.bulk.flush_records;
  // The same concurrency the sink uses: `concurrency` bulk requests in flight.
  for (let i = 0; i < n; i += step * cfg.bulk.concurrency) {
    const parts: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(n, i + step * cfg.bulk.concurrency); j += step) parts.push(directLoad(p.client, cfg, docs.slice(j, j + step)));
    await Promise.all(parts);
  }
  while ((await esCount(p.client, target)) < n) await sleep(50);
  return n / ((performance.now() - t) / 1000);
}

function frame(line: string): string {
  return `${Buffer.byteLength(line)} ${line}`;
}

function burstLines(b: number, ip: string): string {
  let out = '';
  const ts = new Date().toISOString();
  for (let i = 0; i < 6; i++) out += frame(`<38>1 ${ts} bastion${b % 4} sshd ${7000 + b * 10 + i} - - Failed password for root from ${ip} port ${41000 + i} ssh2`);
  return out;
}

/** Poll the alerts index for the pending bursts' alerts; resolves when all are found or the deadline passes. */
async function pollAlerts(p: Pipeline, sent: Map<string, number>, found: Map<string, number>, until: () => boolean): Promise<void> {
  const index = p.config.sinks.elasticsearch.alerts_index;
  while (!until()) {
    const pending = [...sent.keys()].filter((ip) => !found.has(ip));
    if (pending.length) {
      await p.client.indices.refresh({ index, ignore_unavailable: true });
      const r = await p.client.search<{ source?: { ip?: string } }>({ index, ignore_unavailable: true, size: pending.length, query: { bool: { filter: [{ term: { 'rule.id': RULE } }, { terms: { 'source.ip': pending } }] } } });
      const now = performance.now();
      for (const h of r.hits.hits) {
        const ip = h._source?.source?.ip;
        if (ip && sent.has(ip) && !found.has(ip)) found.set(ip, now - sent.get(ip)!);
      }
    }
    await sleep(20);
  }
}

async function write(sock: Socket, data: string): Promise<void> {
  if (!sock.write(data)) await new Promise((r) => sock.once('drain', r));
}

/** Receipt -> alert latencies (ms) of BURSTS bursts riding on RATE/s of background traffic. */
async function detectionLatency(p: Pipeline): Promise<{ latencies: number[]; offered: number }> {
  const sock = connect({ host: '127.0.0.1', port: p.tcpPort });
  await new Promise<void>((res, rej) => sock.once('connect', () => res()).once('error', rej));
  const total = Math.ceil(((WARMUP_MS + BURSTS * BURST_EVERY_MS) / 1000) * RATE);
  const bg = messages('rfc5424', total).map(frame);
  const sent = new Map<string, number>();
  const found = new Map<string, number>();
  let sending = true;
  let deadline = Infinity;
  const poller = pollAlerts(p, sent, found, () => (!sending && found.size === sent.size) || (!sending && performance.now() > deadline));
  const t0 = performance.now();
  let i = 0;
  let b = 0;
  while (i < total || b < BURSTS) {
    const elapsed = performance.now() - t0;
    const due = Math.min(total, Math.floor((elapsed / 1000) * RATE));
    if (due > i) {
      await write(sock, bg.slice(i, due).join(''));
      i = due;
    }
    if (b < BURSTS && elapsed >= WARMUP_MS + b * BURST_EVERY_MS) {
      // A fresh source per burst (10.200.x.y never appears in the background).
      const ip = `10.200.${Math.floor(b / 250)}.${(b % 250) + 1}`;
      await write(sock, burstLines(b, ip));
      sent.set(ip, performance.now());
      b++;
    }
    await sleep(5);
  }
  const offered = total / ((performance.now() - t0) / 1000);
  sending = false;
  deadline = performance.now() + 15_000;
  await poller;
  sock.end();
  if (process.env.TW_BENCH_E2E_DEBUG) console.error('latencies in send order (ms):', [...sent.keys()].map((ip) => Math.round(found.get(ip) ?? -1)).join(' '));
  const missing = BURSTS - found.size;
  if (missing) throw new Error(`${missing} of ${BURSTS} burst alerts not in Elasticsearch within 15 s of the last send`);
  return { latencies: [...found.values()].sort((x, y) => x - y), offered };
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

export async function e2eRows(): Promise<BenchRow[]> {
  const n = Number(process.env.TW_BENCH_E2E_EVENTS ?? 50_000);
  const p = await startPipeline();
  try {
    const rate = await sustained(p, n);
    const ceiling = await directCeiling(p, n);
    const { latencies, offered } = await detectionLatency(p);
    const shape = 'ingest, rules, sink as 3 CLI processes; Kafka + ES on the same 2 cores';
    return [
      { bench: 'pipeline', case: `e2e syslog TCP -> ingest -> Kafka -> rules -> Kafka -> ES sink (${n} events)`, unit: 'events/s', trailwatch: Math.round(rate), reference: Math.round(ceiling), referenceName: 'direct bulk loader, same docs, same ES', ratio: rate / ceiling, notes: `goal >= 0.8x; ${shape}` },
      { bench: 'pipeline', case: `e2e detection latency p50 at ${Math.round(offered)} events/s offered`, unit: 'ms', trailwatch: Math.round(percentile(latencies, 0.5)), notes: `lower is better; last line of a 6-failure burst sent -> ${RULE} alert searchable (forced refresh, 20 ms polls); ${latencies.length} bursts` },
      { bench: 'pipeline', case: `e2e detection latency p99 at ${Math.round(offered)} events/s offered`, unit: 'ms', trailwatch: Math.round(percentile(latencies, 0.99)), notes: `lower is better; goal <= 1000 ms; max of ${latencies.length} = p99` },
    ];
  } finally {
    await p.stop();
  }
}
