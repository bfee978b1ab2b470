// The Kafka broker stopped and started again while a sender streams syslog
// over TCP to `trailwatch ingest`: a connection has at most one publish
// pending and its socket is paused meanwhile, and all connections together
// hold at most the producer buffer (bus.kafka.producer.buffer_records), so
// the kernel's TCP window closes and the sender waits; memory stays bounded;
// once the broker is back every line sent reaches the raw topic, once.
//
// The suite owns a private broker (test/services, its own state directory
// and port) that it stops for real; the shared one is left alone. A private
// broker rather than a proxy: clients reconnect to the advertised listener,
// which a restart on the same port keeps.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';
import { uniqueName } from './distributed-helpers.js';
import { startCli, tempDir, waitFor } from './helpers.js';
import { cliEnvOn, configOn, httpPortOf, logField, metric, privateKafka, rssMiB, type PrivateServer } from './reliability-helpers.js';
import { setupKafka } from '../src/bus/kafka-setup.js';
import { topicNames, type BusMessage } from '../src/bus/types.js';
import { unpack } from '../src/bus/kafka-pack.js';
import { registerLz4 } from '../src/bus/kafka-codecs.js';
import { silentLogger } from '../src/log.js';

const OUTAGE_MS = Number(process.env.TEST_KAFKA_OUTAGE_MS ?? 30_000);
const BUFFER_RECORDS = 2000;
const RATE = 3000; // lines per second offered
const TICK_MS = 10;

function line(seq: number): string {
  return `<38>Jan  5 10:00:00 web-${seq % 9} sshd[${1000 + (seq % 50)}]: Failed password for invalid user u${seq % 97} from 198.51.100.${seq % 200} port ${30_000 + (seq % 30_000)} ssh2 seq=${seq}\n`;
}

/** The warnings and errors of a CLI child's log (its level 40+ lines), for a failure message. */
function problems(logs: string): string {
  return logs
    .split('\n')
    .filter((l) => /"level":(40|50|60)/.test(l) && !l.includes('"namespace":"BrokerPool"'))
    .slice(-15)
    .join('\n');
}

/** Streams numbered lines at RATE, waiting whenever the socket is full (so `written` is what TCP accepted). */
class Sender {
  written = 0;
  private blocked = 0;
  private blockedSince = 0;
  private running = true;
  private readonly done: Promise<void>;
  constructor(private readonly socket: Socket) {
    this.done = this.loop();
  }
  private async loop(): Promise<void> {
    const perTick = Math.round((RATE * TICK_MS) / 1000);
    while (this.running) {
      let chunk = '';
      for (let i = 0; i < perTick; i++) chunk += line(this.written + i);
      const ok = this.socket.write(chunk);
      this.written += perTick;
      if (!ok) {
        this.blockedSince = Date.now();
        await new Promise<void>((r, j) => {
          this.socket.once('drain', r);
          this.socket.once('error', j);
        });
        this.blocked += Date.now() - this.blockedSince;
        this.blockedSince = 0;
      }
      await new Promise((r) => setTimeout(r, TICK_MS));
    }
  }
  /** Time spent waiting for the socket to take more, so far. */
  get blockedMs(): number {
    return this.blocked + (this.blockedSince ? Date.now() - this.blockedSince : 0);
  }
  async stop(): Promise<number> {
    this.running = false;
    await this.done;
    await new Promise<void>((r) => this.socket.end(r));
    return this.written;
  }
}

/** Every seq= number on the raw topic (with how many times each was seen). */
async function readRaw(brokers: string, topic: string, want: number, timeoutMs: number): Promise<Map<number, number>> {
  registerLz4(silentLogger()); // the bus compresses with LZ4: a plain kafkajs consumer needs the codec too
  const kafka = new Kafka({ brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: uniqueName('verify') });
  const seen = new Map<number, number>();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        // Records travel packed, many to a Kafka message (src/bus/kafka-pack.ts).
        const records: BusMessage<unknown>[] = [];
        for (const m of batch.messages) unpack(m, true, records, []);
        for (const r of records) {
          const s = /seq=(\d+)/.exec(String(r.json));
          if (s) seen.set(Number(s[1]), (seen.get(Number(s[1])) ?? 0) + 1);
        }
      },
    });
    await waitFor(() => seen.size >= want, { timeoutMs, intervalMs: 250, what: `${want} distinct lines on ${topic}` }).catch(() => {});
    await new Promise((r) => setTimeout(r, 2000)); // late duplicates, if any
    return seen;
  } finally {
    await consumer.disconnect();
  }
}

describe('reliability > kafka stopped while TCP syslog flows', () => {
  const tmp = tempDir('tw-kafka-outage-');
  const prefix = uniqueName('tw-kout');
  let kafka: PrivateServer;
  let ingest: { child: ChildProcess; logs: () => string } | undefined;

  before(async () => {
    kafka = await privateKafka(`${tmp.dir}/kafka`);
  });
  after(async () => {
    ingest?.child.kill('SIGKILL');
    await kafka?.stop();
    tmp.cleanup();
  });

  it(`broker down for ${OUTAGE_MS / 1000} s: ingest pushes back with bounded memory and loses nothing`, async () => {
    const config = configOn(prefix, { brokers: kafka.address }, { producerBufferRecords: BUFFER_RECORDS });
    await setupKafka(config, silentLogger());
    ingest = await startCli(['ingest', '--syslog-port', '0', '--http-port', '0'], { env: cliEnvOn(config), timeoutMs: 60_000 });
    const pid = ingest.child.pid!;
    const httpPort = httpPortOf(ingest.logs());
    const received = () => metric(httpPort, 'trailwatch_syslog_received_messages_total', { transport: 'tcp' });
    const socket = connect({ host: '127.0.0.1', port: logField(ingest.logs(), 'syslog listening', 'tcpPort') as number });
    await new Promise<void>((r, j) => socket.once('connect', r).once('error', j));
    const sender = new Sender(socket);

    await waitFor(async () => (await received()) > 5 * RATE, { timeoutMs: 60_000, intervalMs: 250, what: 'ingest running' });
    const rssBefore = rssMiB(pid);
    let rssMax = rssBefore;
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, rssMiB(pid))), 250);

    const atStop = { received: await received(), written: sender.written, blockedMs: sender.blockedMs };
    await kafka.stop();
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    const atEnd = { received: await received(), written: sender.written, blockedMs: sender.blockedMs };
    await kafka.start();

    // Ingest took in at most its buffer (plus a socket read or two) while the broker was down ...
    const heldByIngest = atEnd.received - atStop.received;
    assert.ok(heldByIngest <= BUFFER_RECORDS + 2000, `ingest read ${heldByIngest} lines while Kafka was down (buffer ${BUFFER_RECORDS})`);
    // ... the sender was held back by TCP, not fed into our memory ...
    const offered = (OUTAGE_MS / 1000) * RATE;
    assert.ok(atEnd.written - atStop.written < offered * 0.8, `sender got ${atEnd.written - atStop.written} of ${offered} lines through while Kafka was down`);
    assert.ok(atEnd.blockedMs - atStop.blockedMs > OUTAGE_MS / 4, `sender blocked ${atEnd.blockedMs - atStop.blockedMs} ms`);

    // ... and once the broker is back the flow resumes.
    await waitFor(async () => (await received()) > atEnd.received + 5 * RATE, { timeoutMs: 90_000, intervalMs: 250, what: 'ingest reading again' });
    clearInterval(sampler);
    const total = await sender.stop();
    assert.ok(rssMax - rssBefore < 100, `ingest RSS grew ${Math.round(rssMax - rssBefore)} MiB (from ${Math.round(rssBefore)} MiB)`);
    await waitFor(async () => (await received()) >= total, { timeoutMs: 60_000, intervalMs: 250, what: `ingest read all ${total} lines` });
    assert.equal(await metric(httpPort, 'trailwatch_syslog_dropped_messages_total'), 0, `messages dropped; ingest errors:\n${problems(ingest.logs())}`);

    const seen = await readRaw(kafka.address, topicNames(config.topic_prefix).raw, total, 120_000);
    const missing: number[] = [];
    for (let s = 0; s < total; s++) if (!seen.has(s)) missing.push(s);
    assert.deepEqual(missing.slice(0, 20), [], `${missing.length} of ${total} lines sent over TCP missing from Kafka`);
    const twice = [...seen.values()].filter((n) => n > 1).length;
    process.stderr.write(
      `# kafka outage ${OUTAGE_MS / 1000}s: ${total} lines, all on the raw topic (${twice} twice); ingest read ${heldByIngest} during the outage ` +
        `(buffer ${BUFFER_RECORDS}); sender got ${atEnd.written - atStop.written} of ${offered} offered through, blocked ${atEnd.blockedMs - atStop.blockedMs} ms; ` +
        `ingest RSS ${Math.round(rssBefore)} -> max ${Math.round(rssMax)} MiB\n`,
    );
    assert.equal(twice, 0, 'idempotent producer: no line published twice');
  });
});
