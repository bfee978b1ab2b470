// The Elasticsearch sink's per-item retry, against the real Elasticsearch
// behind a real HTTP proxy that refuses part of the work: the first bulk
// request as a whole (HTTP 429), and on their first attempts some documents
// with 429 (es_rejected_execution_exception, as a full write queue answers)
// or 503 (unavailable shard), some twice. The refused items are sent again,
// alone, and every document is stored exactly once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { distributedConfig, kafkaBus, uniqueName } from './distributed-helpers.js';
import { startCli } from './helpers.js';
import { cliEnvOn, configOn, duplicateIds, esCount, httpPortOf, metric, storedIds, waitForExactly } from './reliability-helpers.js';
import { esClient } from '../src/sinks/elasticsearch.js';
import { setupKafka } from '../src/bus/kafka-setup.js';
import { setupElasticsearch } from '../src/sinks/elasticsearch-setup.js';
import { topicNames } from '../src/bus/types.js';
import { silentLogger } from '../src/log.js';
import { baseEvent, SEVERITY_SCORE, type Alert, type TwEvent } from '../src/event.js';

const EVENTS = 1200;
const ALERTS = 30;

/** How many times the proxy refuses a document before letting it through, and with which status. */
function refusals(id: string): { times: number; status: 429 | 503 } {
  const n = Number(/(\d+)$/.exec(id)?.[1] ?? -1);
  if (n < 0) return { times: 0, status: 429 };
  if (n % 49 === 0) return { times: 2, status: 429 };
  if (n % 7 === 0) return { times: 1, status: 429 };
  if (n % 11 === 0) return { times: 1, status: 503 };
  return { times: 0, status: 429 };
}

interface ProxyStats {
  bulkRequests: number;
  wholeRejected: number;
  itemRefusals: number;
  /** Times each document id reached the proxy in a bulk request that was not refused whole. */
  attempts: Map<string, number>;
  refusedIds: Set<string>;
  /** Documents of the request refused whole (redelivered from Kafka later). */
  wholeRejectedIds: string[];
  /** Bulk requests that carried nothing but documents refused before: the per-item retries. */
  retryOnlyRequests: number;
}

/** An HTTP proxy to Elasticsearch that rewrites _bulk answers as described above. */
function bulkRefusingProxy(target: string): { server: Server; stats: ProxyStats; url: () => string } {
  const stats: ProxyStats = { bulkRequests: 0, wholeRejected: 0, itemRefusals: 0, attempts: new Map(), refusedIds: new Set(), wholeRejectedIds: [], retryOnlyRequests: 0 };
  const forward = async (req: IncomingMessage, body: Buffer) => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'content-length' && k !== 'connection') headers[k] = v;
    return fetch(new URL(req.url!, target), { method: req.method, headers, body: body.length ? body : undefined });
  };
  const send = async (res: ServerResponse, upstream: Response, body?: string) => {
    const headers: Record<string, string> = {};
    upstream.headers.forEach((v, k) => {
      if (k !== 'content-length' && k !== 'content-encoding' && k !== 'transfer-encoding' && k !== 'connection') headers[k] = v;
    });
    const out = body ?? Buffer.from(await upstream.arrayBuffer());
    res.writeHead(upstream.status, headers).end(out);
  };
  const bulk = async (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    stats.bulkRequests++;
    const lines = body.toString('utf8').split('\n').filter(Boolean);
    if (stats.bulkRequests === 1) {
      stats.wholeRejected++;
      for (let i = 0; i < lines.length; i += 2) stats.wholeRejectedIds.push(Object.values(JSON.parse(lines[i]) as Record<string, { _id: string }>)[0]._id);
      const error = { type: 'es_rejected_execution_exception', reason: 'rejected by the test proxy: whole request' };
      res.writeHead(429, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' }).end(JSON.stringify({ error: { ...error, root_cause: [error] }, status: 429 }));
      return;
    }
    const pairs: { action: string; doc: string; op: string; meta: { _index: string; _id: string }; refuse: 0 | 429 | 503 }[] = [];
    for (let i = 0; i < lines.length; i += 2) {
      const action = JSON.parse(lines[i]) as Record<string, { _index: string; _id: string }>;
      const op = Object.keys(action)[0];
      const meta = action[op];
      const attempt = (stats.attempts.get(meta._id) ?? 0) + 1;
      stats.attempts.set(meta._id, attempt);
      const r = refusals(meta._id);
      pairs.push({ action: lines[i], doc: lines[i + 1], op, meta, refuse: attempt <= r.times ? r.status : 0 });
    }
    if (pairs.every((p) => stats.refusedIds.has(p.meta._id))) stats.retryOnlyRequests++;
    const passed = pairs.filter((p) => !p.refuse);
    let items: Record<string, unknown>[] = [];
    let upstream: Response | undefined;
    if (passed.length) {
      upstream = await forward(req, Buffer.from(passed.map((p) => `${p.action}\n${p.doc}\n`).join('')));
      if (upstream.status !== 200) return send(res, upstream);
      items = ((await upstream.json()) as { items: Record<string, unknown>[] }).items;
    }
    let errors = items.some((it) => ((Object.values(it)[0] as { status: number }).status ?? 200) >= 300);
    const merged: Record<string, unknown>[] = [];
    let k = 0;
    for (const p of pairs) {
      if (!p.refuse) {
        merged.push(items[k++]);
        continue;
      }
      errors = true;
      stats.itemRefusals++;
      stats.refusedIds.add(p.meta._id);
      const error =
        p.refuse === 429
          ? { type: 'es_rejected_execution_exception', reason: 'rejected execution (test proxy): write queue full' }
          : { type: 'unavailable_shards_exception', reason: 'primary shard is not active (test proxy)' };
      merged.push({ [p.op]: { _index: p.meta._index, _id: p.meta._id, status: p.refuse, error } });
    }
    res.writeHead(200, { 'content-type': 'application/json', 'x-elastic-product': 'Elasticsearch' }).end(JSON.stringify({ took: 1, errors, items: merged }));
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const path = new URL(req.url!, 'http://x').pathname;
      const work = req.method === 'POST' && path.endsWith('/_bulk') ? bulk(req, res, body) : forward(req, body).then((u) => send(res, u));
      work.catch((err: Error) => res.writeHead(502, { 'content-type': 'text/plain' }).end(`test proxy: ${err.message}`));
    });
  });
  return { server, stats, url: () => `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function event(i: number): TwEvent {
  const ev = baseEvent(new Date().toISOString(), undefined, `retry-${i}`);
  ev.message = `Failed password for invalid user test from 192.0.2.${i % 250} port ${10_000 + i} ssh2`;
  ev.host = { name: `app-${i % 4}` };
  ev.source = { ip: `192.0.2.${i % 250}` };
  ev.event.action = 'ssh-login';
  ev.event.outcome = 'failure';
  return ev;
}

function alert(i: number): Alert {
  const now = new Date().toISOString();
  return {
    '@timestamp': now,
    event: { id: `retry-alert-${i}`, kind: 'alert', severity: SEVERITY_SCORE.high },
    rule: { id: 'retry-test', name: 'Retry test' },
    trailwatch: { alert: { severity: 'high', group: { 'source.ip': `192.0.2.${i}` }, events: [], count: 1, first_seen: now, last_seen: now } },
  } as Alert;
}

describe('reliability > sinks > elasticsearch retries 429/5xx items', () => {
  const prefix = uniqueName('tw-es429');
  const esUrl = distributedConfig(prefix).sinks.elasticsearch.url;
  const proxy = bulkRefusingProxy(esUrl);
  let sink: { child: ChildProcess; logs: () => string } | undefined;

  before(async () => {
    await new Promise<void>((r) => proxy.server.listen(0, '127.0.0.1', r));
  });
  after(async () => {
    sink?.child.kill('SIGKILL');
    proxy.server.closeAllConnections();
    await new Promise((r) => proxy.server.close(r));
  });

  it('refused items are retried alone until stored, each exactly once', async () => {
    const config = configOn(prefix, { esUrl: proxy.url() });
    const cfg = config.sinks.elasticsearch;
    const direct = esClient({ ...cfg, url: esUrl });
    const bus = kafkaBus(config);
    const topics = topicNames(config.topic_prefix);
    try {
      await setupKafka(config, silentLogger());
      await setupElasticsearch(direct, cfg, silentLogger());
      // Short retry delays: the test proves the retries, not the backoff's length.
      const env = { ...cliEnvOn(config), TRAILWATCH_SINKS__ELASTICSEARCH__BULK__RETRY_INITIAL_MS: '50', TRAILWATCH_SINKS__ELASTICSEARCH__BULK__RETRY_MAX_MS: '500' };
      sink = await startCli(['sink', 'elasticsearch', '--http-port', '0'], { env, timeoutMs: 60_000 });
      for (let i = 0; i < EVENTS; i += 100) await bus.publish(topics.events, Array.from({ length: 100 }, (_, j) => ({ key: `app-${(i + j) % 4}`, value: event(i + j) })));
      await bus.publish(topics.alerts, Array.from({ length: ALERTS }, (_, i) => ({ key: `a-${i}`, value: alert(i) })));
      await bus.drain();

      await waitForExactly(() => esCount(direct, cfg.events_data_stream), EVENTS, { timeoutMs: 90_000, what: `${EVENTS} events` });
      await waitForExactly(() => esCount(direct, cfg.alerts_index), ALERTS, { timeoutMs: 30_000, settleMs: 0, what: `${ALERTS} alerts` });
      assert.deepEqual(await duplicateIds(direct, cfg.events_data_stream), [], 'no event stored twice');
      const ids = await storedIds(direct, cfg.events_data_stream);
      assert.equal(ids.size, EVENTS);

      const s = proxy.stats;
      assert.equal(s.wholeRejected, 1);
      const expectedRefusals = [...Array(EVENTS).keys()].reduce((n, i) => n + refusals(`retry-${i}`).times, 0) + [...Array(ALERTS).keys()].reduce((n, i) => n + refusals(`retry-alert-${i}`).times, 0);
      assert.equal(s.itemRefusals, expectedRefusals, 'every planned refusal happened');
      for (const id of s.refusedIds) assert.ok(s.attempts.get(id)! > refusals(id).times, `${id} sent again after its refusal`);
      // Retried alone: requests carrying only refused documents, and no accepted document sent again.
      assert.ok(s.retryOnlyRequests >= 3, `${s.retryOnlyRequests} retry-only bulk requests`);
      const metricsPort = httpPortOf(sink.logs());
      assert.equal(await metric(metricsPort, 'trailwatch_elasticsearch_retried_documents_total'), expectedRefusals, 'each refused item retried once per refusal');
      assert.equal(await metric(metricsPort, 'trailwatch_elasticsearch_documents_total', { result: 'dead_letter' }), 0);
      const resent = [...s.attempts].filter(([id, n]) => n > refusals(id).times + 1).map(([id]) => id);
      assert.deepEqual(resent.slice(0, 10), [], `${resent.length} documents sent again after Elasticsearch had accepted them`);
      // The request refused whole was not retried by the bulk helper but redelivered from Kafka (offsets uncommitted).
      assert.ok(s.wholeRejectedIds.length > 0);
      for (const id of s.wholeRejectedIds) assert.ok(s.attempts.has(id) && ids.has(id), `${id} from the request refused whole sent again and stored`);
      process.stderr.write(
        `# 429/503 proxy: ${s.bulkRequests} bulk requests (1 refused whole, its ${s.wholeRejectedIds.length} documents redelivered), ${s.itemRefusals} item refusals on ${s.refusedIds.size} documents retried in ${s.retryOnlyRequests} retry-only requests; ${EVENTS} events + ${ALERTS} alerts stored once\n`,
      );
    } finally {
      await direct.indices.deleteDataStream({ name: cfg.events_data_stream }).catch(() => {});
      await direct.indices.delete({ index: cfg.alerts_index, ignore_unavailable: true }).catch(() => {});
      await bus.close();
      await direct.close();
    }
  });
});
