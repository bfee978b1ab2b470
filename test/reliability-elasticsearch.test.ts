// Elasticsearch stopped while events flow, then started again: the sink
// process keeps its Kafka offsets uncommitted while it cannot write, says so
// on /healthz, and once Elasticsearch is back stores every event exactly once.
//
// The suite owns a private Elasticsearch (test/services, its own state
// directory and port) that it stops for real, so the shared one other suites
// use at the same time is left alone; a restart keeps the port and the data.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { kafkaBus, uniqueName } from './distributed-helpers.js';
import { startCli, tempDir, waitFor } from './helpers.js';
import { cliEnvOn, configOn, duplicateIds, esCount, httpPortOf, privateElasticsearch, storedIds, waitForExactly, type PrivateServer } from './reliability-helpers.js';
import { esClient } from '../src/sinks/elasticsearch.js';
import { setupKafka } from '../src/bus/kafka-setup.js';
import { topicNames } from '../src/bus/types.js';
import { silentLogger } from '../src/log.js';
import { baseEvent, SEVERITY_SCORE, type Alert, type TwEvent } from '../src/event.js';

/** How long Elasticsearch stays down (the issue asks for 60 s). */
const OUTAGE_MS = Number(process.env.TEST_ES_OUTAGE_MS ?? 60_000);
const BATCH = 50;
const EVERY_MS = 100;

function event(i: number): TwEvent {
  const ev = baseEvent(new Date().toISOString(), undefined, `out-${i}`);
  ev.message = `Failed password for root from 198.51.100.${i % 200} port ${20_000 + i} ssh2`;
  ev.host = { name: `db-${i % 7}` };
  ev.source = { ip: `198.51.100.${i % 200}`, port: 20_000 + i };
  ev.event.action = 'ssh-login';
  ev.event.outcome = 'failure';
  return ev;
}

function alert(i: number): Alert {
  return {
    '@timestamp': new Date().toISOString(),
    event: { id: `out-alert-${i}`, kind: 'alert', severity: SEVERITY_SCORE.medium },
    rule: { id: 'outage-test', name: 'Outage test' },
    trailwatch: { alert: { severity: 'medium', group: { 'source.ip': `198.51.100.${i}` }, events: [], count: 1, first_seen: new Date().toISOString(), last_seen: new Date().toISOString() } },
  } as Alert;
}

describe('reliability > elasticsearch stopped while events flow', () => {
  const tmp = tempDir('tw-es-outage-');
  const prefix = uniqueName('tw-esout');
  let es: PrivateServer;
  let sink: { child: ChildProcess; logs: () => string } | undefined;

  before(async () => {
    es = await privateElasticsearch(`${tmp.dir}/es`);
  });
  after(async () => {
    sink?.child.kill('SIGKILL');
    await es?.stop();
    tmp.cleanup();
  });

  it(`down for ${OUTAGE_MS / 1000} s and back: every event and alert stored, none twice`, async () => {
    const config = configOn(prefix, { esUrl: es.address });
    const cfg = config.sinks.elasticsearch;
    const topics = topicNames(config.topic_prefix);
    const client = esClient(cfg);
    const bus = kafkaBus(config);
    try {
      await setupKafka(config, silentLogger());
      sink = await startCli(['sink', 'elasticsearch', '--http-port', '0'], { env: cliEnvOn(config), timeoutMs: 60_000 });
      const health = async () => (await fetch(`http://127.0.0.1:${httpPortOf(sink!.logs())}/healthz`)).status;

      // Events (and an alert now and then) keep flowing the whole time.
      let sent = 0;
      let alerts = 0;
      let flowing = true;
      const producer = (async () => {
        while (flowing) {
          const batch = Array.from({ length: BATCH }, (_, j) => ({ key: `db-${(sent + j) % 7}`, value: event(sent + j) }));
          await bus.publish(topics.events, batch);
          sent += BATCH;
          if (sent % 1000 === 0) await bus.publish(topics.alerts, [{ key: `a-${alerts}`, value: alert(alerts++) }]);
          await new Promise((r) => setTimeout(r, EVERY_MS));
        }
      })();
      const stored = () => esCount(client, cfg.events_data_stream);
      await waitFor(async () => (await stored()) > 500, { timeoutMs: 60_000, intervalMs: 250, what: 'first events stored' });

      await es.stop();
      const sentAtStop = sent;
      // The sink notices (its writes fail, /healthz turns 503) and stays up.
      await waitFor(async () => (await health()) === 503, { timeoutMs: 60_000, intervalMs: 250, what: 'sink unhealthy while Elasticsearch is down' });
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      assert.equal(sink.child.exitCode, null, 'sink still running after the outage');
      assert.ok(sent - sentAtStop >= (OUTAGE_MS / EVERY_MS) * BATCH * 0.5, `events kept flowing during the outage (${sent - sentAtStop})`);
      assert.match(sink.logs(), /elasticsearch write failed; the batch will be redelivered/);

      await es.start();
      await new Promise((r) => setTimeout(r, 3000));
      flowing = false;
      await producer;
      await bus.drain();

      await waitForExactly(stored, sent, { timeoutMs: 120_000, what: `${sent} events stored` });
      await waitForExactly(() => esCount(client, cfg.alerts_index), alerts, { timeoutMs: 30_000, settleMs: 0, what: `${alerts} alerts stored` });
      assert.deepEqual(await duplicateIds(client, cfg.events_data_stream), [], 'no event stored twice');
      const ids = await storedIds(client, cfg.events_data_stream);
      const missing = Array.from({ length: sent }, (_, i) => `out-${i}`).filter((id) => !ids.has(id));
      assert.deepEqual(missing.slice(0, 10), [], `missing ${missing.length} events`);
      await waitFor(async () => (await health()) === 200, { timeoutMs: 30_000, intervalMs: 250, what: 'sink healthy again' });
      process.stderr.write(`# elasticsearch outage ${OUTAGE_MS / 1000}s: ${sent} events (${sent - sentAtStop} after the stop), ${alerts} alerts, all stored once\n`);
    } finally {
      await bus.close();
      await client.close();
    }
  });

  it('a sink started while Elasticsearch is down installs the templates before its first write', async () => {
    const config = configOn(uniqueName('tw-esdown'), { esUrl: es.address });
    const cfg = config.sinks.elasticsearch;
    const client = esClient(cfg);
    const bus = kafkaBus(config);
    let late: { child: ChildProcess; logs: () => string } | undefined;
    try {
      await setupKafka(config, silentLogger());
      await es.stop();
      late = await startCli(['sink', 'elasticsearch', '--http-port', '0'], { env: cliEnvOn(config), timeoutMs: 60_000 });
      await bus.publish(topicNames(config.topic_prefix).events, Array.from({ length: 200 }, (_, i) => ({ key: `db-${i % 7}`, value: event(i) })));
      await waitFor(async () => (await fetch(`http://127.0.0.1:${httpPortOf(late!.logs())}/healthz`)).status === 503, { timeoutMs: 60_000, intervalMs: 250, what: 'sink unhealthy' });
      await es.start();
      await waitForExactly(() => esCount(client, cfg.events_data_stream), 200, { timeoutMs: 60_000, settleMs: 1000, what: '200 events stored' });
      // Our mappings, in a data stream: not a plain index with guessed types.
      const m = await client.indices.getMapping({ index: cfg.events_data_stream });
      const [backing, mapping] = Object.entries(m)[0];
      assert.match(backing, /^\.ds-/, 'the events landed in a data stream');
      const props = mapping.mappings.properties as Record<string, { properties?: Record<string, { type?: string }> }>;
      assert.equal(props.source.properties!.ip.type, 'ip');
      assert.equal(props.event.properties!.action.type, 'keyword');
    } finally {
      late?.child.kill('SIGKILL');
      await bus.close();
      await client.close();
    }
  });
});
