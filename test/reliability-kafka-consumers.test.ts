// The Kafka broker stopped and started again (same port, same data) under
// `trailwatch rules` and `trailwatch sink elasticsearch`: both consumers keep
// going once it is back, and Elasticsearch ends up with every event once and
// exactly the alert ids `trailwatch replay` raises over the same lines.
//
// The suite owns a private broker (test/services, its own state directory and
// port) that it stops for real; the shared one and Elasticsearch stay up.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { kafkaBus, uniqueName } from './distributed-helpers.js';
import { attackLines, rawEvents, YEAR } from './distributed-traffic.js';
import { runCli, startCli, tempDir, waitFor } from './helpers.js';
import { cliEnvOn, configOn, duplicateIds, esCount, privateKafka, storedIds, waitForExactly, type PrivateServer } from './reliability-helpers.js';
import { esClient } from '../src/sinks/elasticsearch.js';
import { setupKafka } from '../src/bus/kafka-setup.js';
import { topicNames } from '../src/bus/types.js';
import { silentLogger } from '../src/log.js';
import type { Alert } from '../src/event.js';

const OUTAGE_MS = Number(process.env.TEST_KAFKA_OUTAGE_MS ?? 15_000);

describe('reliability > kafka broker restarted under the rules and sink consumers', () => {
  const tmp = tempDir('tw-kafka-restart-');
  const prefix = uniqueName('tw-krst');
  const children: ChildProcess[] = [];
  let kafka: PrivateServer;

  before(async () => {
    kafka = await privateKafka(`${tmp.dir}/kafka`);
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await kafka?.stop();
    tmp.cleanup();
  });

  it('every event stored once and the replay alert ids, with lines published before, during and after the outage', async () => {
    const config = configOn(prefix, { brokers: kafka.address });
    const cfg = config.sinks.elasticsearch;
    const topics = topicNames(config.topic_prefix);
    const lines = attackLines(1, 11);
    const file = join(tmp.dir, 'auth.log');
    writeFileSync(file, lines.join('\n') + '\n');
    const events = rawEvents(file, lines);
    const replay = await runCli(['replay', file, '--alerts-only', '--year', String(YEAR)]);
    assert.equal(replay.code, 0, replay.stderr);
    const expected = [...new Set(replay.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as Alert).event.id))].sort();
    assert.ok(expected.length > 0, 'the traffic raises alerts');

    await setupKafka(config, silentLogger());
    for (const args of [['rules'], ['sink', 'elasticsearch']]) children.push((await startCli([...args, '--http-port', '0'], { env: cliEnvOn(config), timeoutMs: 60_000 })).child);
    const client = esClient(cfg);
    const stored = () => esCount(client, cfg.events_data_stream);
    const third = Math.floor(events.length / 3);
    const publish = async (from: number, to: number) => {
      const bus = kafkaBus(config);
      try {
        for (let i = from; i < to; i += 100) await bus.publish(topics.raw, events.slice(i, Math.min(to, i + 100)).map((e) => ({ key: e.host?.name ?? null, value: e })));
      } finally {
        await bus.close();
      }
    };
    try {
      await publish(0, third);
      await waitFor(async () => (await stored()) >= third, { timeoutMs: 60_000, intervalMs: 250, what: 'first third stored' });

      await kafka.stop();
      // The consumers lose the broker mid-stream; a publisher meanwhile holds its records until it is back.
      const during = publish(third, 2 * third);
      await new Promise((r) => setTimeout(r, OUTAGE_MS));
      for (const c of children) assert.equal(c.exitCode, null, 'rules and sink still running while the broker is down');
      await kafka.start();
      await during;
      await publish(2 * third, events.length);

      await waitForExactly(stored, events.length, { timeoutMs: 180_000, what: `${events.length} events stored` });
      assert.deepEqual(await duplicateIds(client, cfg.events_data_stream), [], 'no event stored twice');
      const ids = await storedIds(client, cfg.events_data_stream);
      assert.deepEqual(events.map((e) => e.event.id).filter((id) => !ids.has(id)).slice(0, 10), [], 'no event missing');
      await waitFor(async () => (await esCount(client, cfg.alerts_index)) >= expected.length, { timeoutMs: 120_000, intervalMs: 500, what: `${expected.length} alerts stored` });
      const alertIds = [...(await storedIds(client, cfg.alerts_index))].sort();
      assert.deepEqual(alertIds, expected, 'the replay alert ids, no other');
    } finally {
      await client.close();
    }
  });
});
