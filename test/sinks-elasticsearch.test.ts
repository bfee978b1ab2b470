import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { cliEnv, distributedConfig, kafkaBus, uniqueName } from './distributed-helpers.js';
import { runCli, startCli, waitFor } from './helpers.js';
import { esClient, bulkWrite, type BulkDoc } from '../src/sinks/elasticsearch.js';
import { setupElasticsearch } from '../src/sinks/elasticsearch-setup.js';
import { setupKafka } from '../src/bus/kafka-setup.js';
import { silentLogger } from '../src/log.js';
import { baseEvent, type TwEvent } from '../src/event.js';

function event(i: number, extra: Partial<TwEvent> = {}): TwEvent {
  const ev = baseEvent(new Date(Date.UTC(2026, 0, 1, 0, 0, i % 60)).toISOString(), `line ${i}`, `ev-${i}`);
  ev.message = `Failed password for root from 203.0.113.${i % 250} port 22 ssh2`;
  ev.host = { name: `web-${i % 5}` };
  ev.source = { ip: `203.0.113.${i % 250}` };
  ev.event.action = 'ssh_login';
  ev.event.outcome = 'failure';
  const { event: evExtra, ...rest } = extra;
  return { ...ev, ...rest, event: { ...ev.event, ...evExtra } };
}

describe('sinks > elasticsearch', () => {
  const prefix = uniqueName('tw-es');
  const config = distributedConfig(prefix);
  const cfg = config.sinks.elasticsearch;
  const client = esClient(cfg);
  const count = async (index: string) => {
    await client.indices.refresh({ index, ignore_unavailable: true });
    return (await client.count({ index, ignore_unavailable: true })).count;
  };

  before(async () => {
    const r = await setupElasticsearch(client, cfg, silentLogger());
    assert.equal(typeof r.ilm, 'boolean');
  });
  after(async () => {
    await client.indices.deleteDataStream({ name: cfg.events_data_stream }).catch(() => {});
    await client.indices.delete({ index: cfg.alerts_index, ignore_unavailable: true }).catch(() => {});
    await client.close();
  });

  it('setup maps ECS fields on purpose: ip, date, keyword ids, text message with keyword subfield', async () => {
    await bulkWrite(client, cfg, [{ index: cfg.events_data_stream, op: 'create', id: 'map-1', doc: event(1) }]);
    const m = await client.indices.getMapping({ index: cfg.events_data_stream });
    const props = Object.values(m)[0].mappings.properties as Record<string, { type?: string; properties?: Record<string, { type?: string }>; fields?: Record<string, { type: string }> }>;
    assert.equal(props['@timestamp'].type, 'date');
    assert.equal(props.source.properties!.ip.type, 'ip');
    assert.equal(props.event.properties!.id.type, 'keyword');
    assert.equal(props.message.type, 'text');
    assert.equal(props.message.fields!.keyword.type, 'keyword');
    // A CIDR query works because source.ip is an ip.
    await client.indices.refresh({ index: cfg.events_data_stream });
    const r = await client.count({ index: cfg.events_data_stream, query: { term: { 'source.ip': '203.0.113.0/24' } } });
    assert.ok(r.count >= 1);
  });

  it('stores each event id once: a replayed batch creates no duplicates', async () => {
    const docs: BulkDoc[] = Array.from({ length: 300 }, (_, i) => ({ index: cfg.events_data_stream, op: 'create', id: `dup-${i}`, doc: event(i, { event: { id: `dup-${i}`, kind: 'event' } }) }));
    const first = await bulkWrite(client, cfg, docs);
    const replay = await bulkWrite(client, cfg, docs);
    assert.equal(first.stored, 300);
    assert.equal(replay.stored, 0);
    assert.equal(replay.duplicates, 300);
    const n = (await client.count({ index: cfg.events_data_stream, query: { prefix: { 'event.id': 'dup-' } } }).then(async () => {
      await client.indices.refresh({ index: cfg.events_data_stream });
      return client.count({ index: cfg.events_data_stream, query: { prefix: { 'event.id': 'dup-' } } });
    })).count;
    assert.equal(n, 300);
  });

  it('returns documents refused for good (mapping errors) as dead letters with the reason, storing the rest', async () => {
    const bad = event(7, { source: { ip: 'not-an-ip' } });
    bad.event.id = 'bad-1';
    const r = await bulkWrite(client, cfg, [
      { index: cfg.events_data_stream, op: 'create', id: 'bad-1', doc: bad },
      { index: cfg.events_data_stream, op: 'create', id: 'good-1', doc: event(8, { event: { id: 'good-1', kind: 'event' } }) },
    ]);
    assert.equal(r.stored, 1);
    assert.equal(r.dead.length, 1);
    assert.equal(r.dead[0].id, 'bad-1');
    assert.equal(r.dead[0].status, 400);
    assert.match(r.dead[0].reason, /source\.ip|parse/);
  });

  describe('trailwatch sink elasticsearch (process on Kafka)', () => {
    let sink: { child: ChildProcess; logs: () => string } | undefined;
    const env = cliEnv(config);
    before(async () => {
      await setupKafka(config, silentLogger());
    });
    after(() => {
      sink?.child.kill('SIGKILL');
    });

    it('killed with SIGKILL mid-stream and restarted: every event stored, none twice', async () => {
      const bus = kafkaBus(config);
      sink = await startCli(['sink', 'elasticsearch', '--http-port', '0'], { env, timeoutMs: 60_000 });
      const total = 6000;
      const publishing = (async () => {
        for (let i = 0; i < total; i += 200) {
          await bus.publish(config.topic_prefix + '.events', Array.from({ length: 200 }, (_, j) => ({ key: `web-${(i + j) % 5}`, value: event(i + j, { event: { id: `kill-${i + j}`, kind: 'event' } }) })));
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const killCount = async () => (await client.count({ index: cfg.events_data_stream, query: { prefix: { 'event.id': 'kill-' } } }).catch(() => ({ count: 0 }))).count;
      await waitFor(async () => (await killCount()) > 0, { timeoutMs: 60_000, what: 'first documents' });
      sink.child.kill('SIGKILL');
      await publishing;
      await bus.close();
      sink = await startCli(['sink', 'elasticsearch', '--http-port', '0'], { env, timeoutMs: 60_000 });
      await waitFor(
        async () => {
          await client.indices.refresh({ index: cfg.events_data_stream });
          return (await killCount()) >= total;
        },
        { timeoutMs: 90_000, intervalMs: 500, what: `${total} documents` },
      );
      await new Promise((r) => setTimeout(r, 2000));
      await client.indices.refresh({ index: cfg.events_data_stream });
      const n = await killCount();
      if (n !== total) {
        const dups = await client.search({ index: cfg.events_data_stream, size: 0, query: { prefix: { 'event.id': 'kill-' } }, aggs: { d: { terms: { field: 'event.id', min_doc_count: 2, size: 5 } } } });
        const hits = await client.search({ index: cfg.events_data_stream, size: 5, query: { terms: { 'event.id': ((dups.aggregations!.d as { buckets: { key: string }[] }).buckets).map((b) => b.key) } } });
        assert.fail(`expected ${total}, got ${n}: ${JSON.stringify(hits.hits.hits.map((h) => [h._index, h._id, h._source]))}`);
      }
      const dups = await client.search({ index: cfg.events_data_stream, size: 0, query: { prefix: { 'event.id': 'kill-' } }, aggs: { d: { terms: { field: 'event.id', min_doc_count: 2, size: 5 } } } });
      assert.deepEqual((dups.aggregations!.d as { buckets: unknown[] }).buckets, [], 'no event id stored twice');
    });

    it('trailwatch search prints matching events as a table and as NDJSON', async () => {
      await count(cfg.events_data_stream);
      const table = await runCli(['search', 'event.id:kill-42', '--limit', '5'], { env });
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /^@timestamp\s+host\.name\s+event\.action/);
      assert.match(table.stdout, /web-2\s+ssh_login\s+failure/);
      const nd = await runCli(['search', 'source.ip:"203.0.113.42" AND event.id:kill-*', '--ndjson', '--limit', '3'], { env });
      assert.equal(nd.code, 0, nd.stderr);
      const lines = nd.stdout.trim().split('\n').map((l) => JSON.parse(l) as TwEvent);
      assert.equal(lines.length, 3);
      for (const l of lines) assert.equal(l.source?.ip, '203.0.113.42');
    });
  });
});
