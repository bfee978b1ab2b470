// bus.kafka.tls and bus.kafka.sasl against a broker that requires them: a
// private single-node Kafka (test/kafka-secure-broker.ts) with a SASL_SSL
// listener (SCRAM-SHA-512, certificate from a test CA), a SASL_SSL listener
// whose certificate another CA signed, and an SSL listener that requires
// client certificates. The password reaches the CLI only through
// TRAILWATCH_BUS__KAFKA__SASL__PASSWORD, and every output of every CLI run
// here is searched for it at the end.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { KafkaBus } from '../src/bus/kafka.js';
import { topicNames } from '../src/bus/types.js';
import { loadConfig, type Config } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { uniqueName } from './distributed-helpers.js';
import { CLI, runCli, startCli, tempDir, waitFor, type RunResult, CHILD_ENV } from './helpers.js';
import { logField } from './reliability-helpers.js';
import { startSecureBroker, type SecureBroker } from './kafka-secure-broker.js';

const WRONG_PASSWORD = 'tw-wrong-password-5e1f0c';

describe('bus > kafka > TLS and SASL (SCRAM-SHA-512) on a secured broker', { timeout: 150_000 }, () => {
  const tmp = tempDir('tw-kafka-secure-');
  const prefix = uniqueName('tw-sec');
  let broker: SecureBroker | undefined;
  /** Everything every CLI run printed, for the secret check at the end. */
  const outputs: string[] = [];
  const children: ChildProcess[] = [];
  const buses: KafkaBus[] = [];

  before(async () => {
    broker = await startSecureBroker(tmp.dir);
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(buses.map((b) => b.close().catch(() => {})));
    await broker?.stop();
    tmp.cleanup();
  });

  const b = () => broker!;
  /** CLI environment for the SASL_SSL listener; `over` replaces or (with undefined) removes variables. */
  function env(over: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
    const e: NodeJS.ProcessEnv = {
      KAFKA_BROKERS: b().secure,
      TRAILWATCH_TOPIC_PREFIX: prefix,
      TRAILWATCH_LOG_LEVEL: 'debug',
      TRAILWATCH_BUS__KAFKA__TLS__ENABLED: 'true',
      TRAILWATCH_BUS__KAFKA__TLS__CA_FILE: b().caFile,
      TRAILWATCH_BUS__KAFKA__SASL__MECHANISM: 'scram-sha-512',
      TRAILWATCH_BUS__KAFKA__SASL__USERNAME: b().user,
      TRAILWATCH_BUS__KAFKA__SASL__PASSWORD: b().password,
    };
    for (const [k, v] of Object.entries(over)) {
      if (v === undefined) delete e[k];
      else e[k] = v;
    }
    return e;
  }
  async function cli(args: string[], e: NodeJS.ProcessEnv): Promise<RunResult> {
    const r = await runCli(args, { env: e });
    outputs.push(`$ trailwatch ${args.join(' ')}\n${r.stdout}\n${r.stderr}`);
    return r;
  }
  /** A CLI that must exit on its own with status 1 (fail fast); killed and reported if still running after `limitMs`. */
  async function exits(args: string[], e: NodeJS.ProcessEnv, limitMs = 30_000): Promise<RunResult> {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...CHILD_ENV, ...process.env, ...e }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    clearTimeout(timer);
    outputs.push(`$ trailwatch ${args.join(' ')}\n${stdout}\n${stderr}`);
    assert.equal(signal, null, `trailwatch ${args[0]} kept running (retrying?) instead of failing:\n${stderr.slice(-2000)}`);
    assert.equal(code, 1, stderr);
    return { code, stdout, stderr };
  }
  /** A loaded config for in-process buses on a listener of the secured broker. */
  function config(over: Record<string, string | undefined> = {}): Config {
    const e = env(over);
    return loadConfig({ env: e, overrides: { bus: { type: 'kafka', kafka: { consumer: { session_timeout_ms: 10_000, heartbeat_interval_ms: 1000 } } } } });
  }
  function bus(c: Config): KafkaBus {
    const k = new KafkaBus(c.bus.kafka, silentLogger(), { groupPrefix: c.topic_prefix, dlqTopic: topicNames(c.topic_prefix).dlq });
    buses.push(k);
    return k;
  }
  /** Subscribe to `topic` and collect values until `want` of them match. */
  async function collect<T>(k: KafkaBus, topic: string, group: string, want: (seen: T[]) => boolean): Promise<T[]> {
    const seen: T[] = [];
    const sub = await k.subscribe<T>({ group, topics: [topic], handler: async (batch) => void seen.push(...batch.map((m) => m.value)) });
    try {
      await waitFor(() => want(seen), { timeoutMs: 45_000, intervalMs: 200, what: `records on ${topic}` });
      return seen;
    } finally {
      await sub.stop();
    }
  }

  it('`trailwatch setup kafka` creates the topics over SASL_SSL', async () => {
    const r = await cli(['setup', 'kafka'], env());
    assert.equal(r.code, 0, r.stderr);
    const t = topicNames(prefix);
    for (const topic of [t.raw, t.events, t.alerts, t.dlq]) assert.match(r.stdout, new RegExp(`\\b${topic.replace(/\./g, '\\.')}\\b`));
  });

  it('a KafkaBus with the CA and SCRAM credentials publishes and consumes (round trip)', async () => {
    const k = bus(config());
    const topic = topicNames(prefix).events;
    const sent = Array.from({ length: 20 }, (_, i) => ({ key: `host-${i % 3}`, value: { n: i, marker: prefix } }));
    await k.publish(topic, sent);
    const got = await collect<{ n: number; marker: string }>(k, topic, 'roundtrip', (s) => s.length >= sent.length);
    assert.deepEqual(got.map((v) => v.n).sort((x, y) => x - y), sent.map((m) => m.value.n));
  });

  it('mutual TLS: the client certificate from tls.cert_file/key_file is accepted, and its absence refused clearly', async () => {
    const mtls = { KAFKA_BROKERS: b().mtls, TRAILWATCH_BUS__KAFKA__SASL__MECHANISM: 'none', TRAILWATCH_BUS__KAFKA__SASL__USERNAME: undefined, TRAILWATCH_BUS__KAFKA__SASL__PASSWORD: undefined };
    const ok = await cli(['setup', 'kafka'], env({ ...mtls, TRAILWATCH_BUS__KAFKA__TLS__CERT_FILE: b().clientCertFile, TRAILWATCH_BUS__KAFKA__TLS__KEY_FILE: b().clientKeyFile }));
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /existing: .*\.raw/, 'same cluster, topics already there');
    const refused = await cli(['setup', 'kafka'], env(mtls));
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /refused our client certificate.*bus\.kafka\.tls\.cert_file/);
  });

  it('`trailwatch ingest` over SASL_SSL: lines sent with logger land on the raw topic', async () => {
    const ingest = await startCli(['ingest', '--syslog-port', '0', '--http-port', '0'], { env: env(), timeoutMs: 60_000 });
    children.push(ingest.child);
    try {
      const tcpPort = logField(ingest.logs(), 'syslog listening', 'tcpPort') as number;
      for (let i = 0; i < 5; i++) {
        const msg = `Failed password for invalid user secure${i} from 198.51.100.${i} port ${41_000 + i} ssh2 ${prefix}`;
        const r = spawnSync('logger', ['--tcp', '--server', '127.0.0.1', '--port', String(tcpPort), '--rfc5424', '--octet-count', '-p', 'auth.info', '-t', 'sshd', msg], { encoding: 'utf8' });
        assert.equal(r.status, 0, `logger failed: ${r.stderr}`);
      }
      type Raw = { event: { original?: string } };
      const mine = (s: Raw[]) => s.filter((e) => e.event.original?.includes(prefix));
      const got = await collect<Raw>(bus(config()), topicNames(prefix).raw, 'raw-check', (s) => mine(s).length >= 5);
      assert.deepEqual(mine(got).map((e) => /invalid user (secure\d)/.exec(e.event.original!)![1]).sort(), ['secure0', 'secure1', 'secure2', 'secure3', 'secure4']);
    } finally {
      ingest.child.kill('SIGTERM');
      await once(ingest.child, 'exit');
      outputs.push(ingest.logs());
    }
  });

  it('`trailwatch check-config` shows the password redacted', async () => {
    const r = await cli(['check-config'], env());
    assert.equal(r.code, 0, r.stderr);
    const kafka = (JSON.parse(r.stdout) as Config).bus.kafka;
    assert.equal(kafka.sasl.password, '[redacted]');
    assert.equal(kafka.sasl.username, b().user);
    assert.equal(kafka.tls.ca_file, b().caFile);
  });

  describe('failures users will hit: clear, fast, no secret', () => {
    it('a wrong password is a SASL authentication error (setup, and ingest exits instead of retrying)', async () => {
      const wrong = env({ TRAILWATCH_BUS__KAFKA__SASL__PASSWORD: WRONG_PASSWORD });
      const r = await cli(['setup', 'kafka'], wrong);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /SASL authentication failed for user "alice" \(scram-sha-512\)/);
      assert.match(r.stderr, /TRAILWATCH_BUS__KAFKA__SASL__PASSWORD/);
      const i = await exits(['ingest', '--syslog-port', '0', '--http-port', '0'], wrong);
      assert.match(i.stderr, /trailwatch: kafka: SASL authentication failed/);
    });

    it('a broker certificate the configured CA did not sign is a certificate error', async () => {
      const rogue = env({ KAFKA_BROKERS: b().rogue });
      const r = await cli(['setup', 'kafka'], rogue);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /TLS: the certificate of the broker at 127\.0\.0\.1:\d+ did not verify against the CA in bus\.kafka\.tls\.ca_file/);
      assert.match(r.stderr, /certificate/);
      await exits(['ingest', '--syslog-port', '0', '--http-port', '0'], rogue);
    });

    it('a publisher on a bus whose broker certificate does not verify gives up instead of holding records forever', async () => {
      const k = bus(config({ KAFKA_BROKERS: b().rogue }));
      await assert.rejects(k.publish(topicNames(prefix).raw, [{ key: null, value: { n: 1 } }]), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'TW_KAFKA_TLS_CERT');
        assert.match(err.message, /did not verify/);
        return true;
      });
    });

    it('plaintext to the TLS listener says the broker expects TLS', async () => {
      const plain = env({ TRAILWATCH_BUS__KAFKA__TLS__ENABLED: 'false' });
      const r = await cli(['setup', 'kafka'], plain);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /broker at 127\.0\.0\.1:\d+ expects TLS but bus\.kafka\.tls\.enabled is false/);
      const i = await exits(['ingest', '--syslog-port', '0', '--http-port', '0'], plain);
      assert.match(i.stderr, /expects TLS/);
    });

    it('TLS to the plaintext listener, and no SASL on the SASL listener, are named too', async () => {
      const toPlain = await cli(['setup', 'kafka'], env({ KAFKA_BROKERS: b().plaintext }));
      assert.equal(toPlain.code, 1);
      assert.match(toPlain.stderr, /does not speak TLS but bus\.kafka\.tls\.enabled is true/);
      const noSasl = await cli(['setup', 'kafka'], env({ TRAILWATCH_BUS__KAFKA__SASL__MECHANISM: 'none', TRAILWATCH_BUS__KAFKA__SASL__USERNAME: undefined, TRAILWATCH_BUS__KAFKA__SASL__PASSWORD: undefined }));
      assert.equal(noSasl.code, 1);
      assert.match(noSasl.stderr, /set bus\.kafka\.sasl/);
    });

    it('neither password appears in any CLI output (logs, errors, check-config)', () => {
      assert.ok(outputs.length >= 10, `expected the CLI runs above to have been recorded, got ${outputs.length}`);
      for (const out of outputs) {
        assert.ok(!out.includes(b().password), `the SASL password leaked:\n${out.slice(0, 3000)}`);
        assert.ok(!out.includes(WRONG_PASSWORD), `the wrong password leaked:\n${out.slice(0, 3000)}`);
      }
    });
  });
});
