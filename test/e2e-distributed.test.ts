// The "done when", end to end with every part real and separate:
// util-linux `logger` sends ten failed sshd logins over TCP to `trailwatch
// ingest`; `trailwatch rules` decodes and detects on Kafka; `trailwatch sink
// elasticsearch` stores them; Elasticsearch and `trailwatch search` show ten
// decoded events and one brute-force alert.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { cliEnv, distributedConfig, uniqueName } from './distributed-helpers.js';
import { runCli, startCli } from './helpers.js';
import { esCount, logField, waitForExactly } from './reliability-helpers.js';
import { esClient } from '../src/sinks/elasticsearch.js';
import type { Alert, TwEvent } from '../src/event.js';

const ATTACKER = '203.0.113.7';
const USER = 'oracle';

/**
 * Ten failures for one user name that does not exist, from one source: the
 * default pack's ssh-invalid-user-brute-force (5 invalid-user attempts /
 * 10 min) fires once. They are also a failed-login burst (6 / 10 min), which
 * the brute-force rule supersedes: one attack, one alert. One user name, so
 * ssh-password-spraying (5 distinct users) must not fire; no root, no
 * success, so nothing else may either.
 */
const EXPECTED_RULES = ['ssh-invalid-user-brute-force'];

function sendWithLogger(tcpPort: number, i: number): void {
  // Half in each syslog format (and framing), as real senders differ.
  const format = i % 2 === 0 ? ['--rfc5424', '--octet-count'] : ['--rfc3164'];
  const msg = `Failed password for invalid user ${USER} from ${ATTACKER} port ${40_000 + i} ssh2`;
  const r = spawnSync('logger', ['--tcp', '--server', '127.0.0.1', '--port', String(tcpPort), ...format, '-p', 'auth.info', '-t', 'sshd', `--id=${3000 + i}`, msg], { encoding: 'utf8' });
  assert.equal(r.status, 0, `logger failed: ${r.stderr}`);
}

describe('e2e > logger -> trailwatch ingest -> Kafka -> trailwatch rules -> trailwatch sink elasticsearch', () => {
  const prefix = uniqueName('tw-e2e');
  const config = distributedConfig(prefix);
  const cfg = config.sinks.elasticsearch;
  const env = cliEnv(config);
  const client = esClient(cfg);
  const children: ChildProcess[] = [];

  before(async () => {
    for (const what of ['kafka', 'elasticsearch']) {
      const r = await runCli(['setup', what], { env });
      assert.equal(r.code, 0, `setup ${what}: ${r.stderr}`);
    }
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await client.indices.deleteDataStream({ name: cfg.events_data_stream }).catch(() => {});
    await client.indices.delete({ index: cfg.alerts_index, ignore_unavailable: true }).catch(() => {});
    await client.close();
  });

  it('ten failed logins sent with logger become ten decoded documents and one alert', async () => {
    const ingest = await startCli(['ingest', '--syslog-port', '0', '--http-port', '0'], { env, timeoutMs: 60_000 });
    children.push(ingest.child);
    const rules = await startCli(['rules', '--http-port', '0'], { env, timeoutMs: 60_000 });
    children.push(rules.child);
    const sink = await startCli(['sink', 'elasticsearch', '--http-port', '0'], { env, timeoutMs: 60_000 });
    children.push(sink.child);

    const tcpPort = logField(ingest.logs(), 'syslog listening', 'tcpPort') as number;
    for (let i = 0; i < 10; i++) sendWithLogger(tcpPort, i);

    const fromAttacker = { term: { 'source.ip': ATTACKER } };
    const events = () => esCount(client, cfg.events_data_stream, fromAttacker);
    const alerts = () => esCount(client, cfg.alerts_index);
    await waitForExactly(events, 10, { timeoutMs: 90_000, settleMs: 0, what: 'events in Elasticsearch' });
    await waitForExactly(alerts, EXPECTED_RULES.length, { timeoutMs: 60_000, settleMs: 5000, what: 'alerts in Elasticsearch' });
    assert.equal(await events(), 10, 'still ten events: none stored twice');

    const stored = await client.search<TwEvent>({ index: cfg.events_data_stream, size: 20, query: fromAttacker });
    const docs = stored.hits.hits.map((h) => h._source!);
    for (const ev of docs) {
      assert.equal(ev.event.action, 'ssh-login');
      assert.equal(ev.event.outcome, 'failure');
      assert.equal(ev.user?.name, USER);
      assert.equal(ev.source?.ip, ATTACKER);
      assert.equal(ev.log?.syslog?.appname, 'sshd');
    }
    assert.deepEqual(docs.map((d) => d.source!.port).sort(), Array.from({ length: 10 }, (_, i) => 40_000 + i), 'each logger message once');
    assert.deepEqual(new Set(docs.map((d) => d.process?.pid)), new Set(Array.from({ length: 10 }, (_, i) => 3000 + i)));

    const found = await client.search<Alert>({ index: cfg.alerts_index, size: 10 });
    const alertDocs = found.hits.hits.map((h) => h._source!);
    assert.deepEqual(alertDocs.map((a) => a.rule.id).sort(), EXPECTED_RULES);
    const eventIds = new Set(docs.map((d) => d.event.id));
    for (const a of alertDocs) {
      assert.equal(a.trailwatch.alert.group['source.ip'], ATTACKER);
      assert.equal(found.hits.hits.find((h) => h._source === a)!._id, a.event.id, 'alert stored under its deterministic id');
      for (const id of a.trailwatch.alert.events ?? []) assert.ok(eventIds.has(id), `alert ${a.rule.id} cites stored event ${id}`);
    }

    // The analyst's view of the same: trailwatch search.
    const evSearch = await runCli(['search', `source.ip:"${ATTACKER}" AND event.action:ssh-login`, '--ndjson', '--limit', '50'], { env });
    assert.equal(evSearch.code, 0, evSearch.stderr);
    const evLines = evSearch.stdout.trim().split('\n').map((l) => JSON.parse(l) as TwEvent);
    assert.equal(evLines.length, 10);
    assert.ok(evLines.every((e) => e.user?.name === USER));
    const alSearch = await runCli(['search', '--alerts', `source.ip:"${ATTACKER}"`, '--ndjson'], { env });
    assert.equal(alSearch.code, 0, alSearch.stderr);
    assert.deepEqual(
      alSearch.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as Alert).rule.id)
        .sort(),
      EXPECTED_RULES,
    );
    const table = await runCli(['search', '--alerts', `rule.id:ssh-invalid-user-brute-force`], { env });
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /ssh-invalid-user-brute-force/);
    assert.match(table.stderr, /^1 of 1$/m);
  });
});
