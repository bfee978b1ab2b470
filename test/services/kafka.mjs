// A single-node Apache Kafka in KRaft mode (combined broker + controller),
// run from the Maven Central jars: `java -cp … kafka.Kafka server.properties`
// after `kafka.tools.StorageTool format`, the same classes the tarball's
// kafka-storage.sh and kafka-server-start.sh call.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { alive, freePort, javaBin, log, portFree, readState, resolveJars, spawnDetached, stopGroup, waitUntil, writeState } from './lib.mjs';

export const KAFKA_VERSION = process.env.TRAILWATCH_KAFKA_VERSION || '4.1.1';

const LOG4J2 = `status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = \${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = info
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
logger.controller.name = org.apache.kafka.controller
logger.controller.level = warn
`;

/**
 * server.properties. `extra` adds listeners beside PLAINTEXT (which stays the
 * inter-broker listener and the one the readiness probe and warm-up use):
 * `listeners` maps a name to { port, protocol }, `properties` are appended
 * last (a later key wins in a Java properties file).
 */
export function serverProperties({ port, controllerPort, dataDir, listeners = {}, properties = {} }) {
  const extra = Object.entries(listeners);
  const own = extra.map(([name, l]) => `,${name}://127.0.0.1:${l.port}`).join('');
  const protocols = extra.map(([name, l]) => `,${name}:${l.protocol}`).join('');
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}${own}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}${own}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    `listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT${protocols}`,
    `log.dirs=${dataDir}`,
    'num.partitions=1',
    'auto.create.topics.enable=true',
    // One broker: every internal topic has one replica. Fewer offsets
    // partitions make the first consumer group come up faster.
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=6',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=4',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'log.retention.hours=24',
    'log.segment.bytes=67108864',
    'num.network.threads=2',
    'num.io.threads=4',
    ...Object.entries(properties).map(([k, v]) => `${k}=${v}`),
    '',
  ].join('\n');
}

async function answers(port) {
  const { Kafka, logLevel } = await import('kafkajs');
  const kafka = new Kafka({ brokers: [`127.0.0.1:${port}`], clientId: 'services-probe', logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 1000 });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const c = await admin.describeCluster();
    return c.brokers.length > 0 && c.controller !== null;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/** Create a topic, produce to it and read it back through a consumer group. */
async function warm(port) {
  const { Kafka, logLevel } = await import('kafkajs');
  const kafka = new Kafka({ brokers: [`127.0.0.1:${port}`], clientId: 'services-warmup', logLevel: logLevel.NOTHING });
  const topic = '__trailwatch_services_warmup';
  const admin = kafka.admin();
  const producer = kafka.producer();
  const consumer = kafka.consumer({ groupId: 'trailwatch-services-warmup', sessionTimeout: 10_000, heartbeatInterval: 1000 });
  try {
    await admin.connect();
    if (!(await admin.listTopics()).includes(topic)) await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] }).catch(() => {});
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: [{ value: 'warm' }] });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const got = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no record through the consumer group within 20 s')), 20_000);
      consumer.run({ eachMessage: async () => { clearTimeout(t); resolve(true); } }).catch(reject);
    });
    return await got;
  } finally {
    await consumer.disconnect().catch(() => {});
    await producer.disconnect().catch(() => {});
    await admin.disconnect().catch(() => {});
  }
}

/** A free port not in `taken`. */
async function freePortBesides(taken) {
  for (;;) {
    const p = await freePort();
    if (!taken.includes(p)) return p;
  }
}

/**
 * Start Kafka in `dir` (or reuse the one recorded there). Returns
 * { brokers, pid, reused, listeners } where listeners maps each extra
 * listener's name to its host:port.
 *
 * Options beyond the default broker (all additive, for suites that need a
 * secured broker of their own): `listeners` { NAME: { protocol } } extra
 * listeners on free ports; `properties` { key: value } extra server
 * properties; `formatArgs` extra StorageTool format arguments (e.g.
 * --add-scram); `jvmArgs` extra JVM options.
 */
export async function startKafka(dir, { timeoutMs = 240_000, listeners = {}, properties = {}, formatArgs = [], jvmArgs = [] } = {}) {
  mkdirSync(dir, { recursive: true });
  const stateFile = join(dir, 'state.json');
  const prev = readState(stateFile);
  const extraNames = Object.keys(listeners);
  const addresses = (ports) => Object.fromEntries(extraNames.map((n) => [n, `127.0.0.1:${ports?.[n]}`]));
  if (prev && alive(prev.pid) && (await answers(prev.port).catch(() => false))) return { brokers: `127.0.0.1:${prev.port}`, pid: prev.pid, reused: true, listeners: addresses(prev.listenerPorts) };
  if (prev && alive(prev.pid)) await stopGroup(prev.pid);

  const jars = resolveJars(`kafka-${KAFKA_VERSION}`, [`org.apache.kafka:kafka_2.13:${KAFKA_VERSION}`]);
  const cp = jars.join(':');
  const dataDir = join(dir, 'data');
  const logsDir = join(dir, 'logs');
  mkdirSync(logsDir, { recursive: true });
  // Keep the previous ports (and so the data) when they are still free.
  let port = prev?.port;
  let controllerPort = prev?.controllerPort;
  let listenerPorts = prev?.listenerPorts ?? {};
  const keep = [port, controllerPort, ...extraNames.map((n) => listenerPorts[n])];
  if (keep.some((p) => !p) || !(await Promise.all(keep.map((p) => portFree(p)))).every(Boolean)) {
    port = await freePort();
    controllerPort = await freePortBesides([port]);
    listenerPorts = {};
    for (const n of extraNames) listenerPorts[n] = await freePortBesides([port, controllerPort, ...Object.values(listenerPorts)]);
    rmSync(dataDir, { recursive: true, force: true });
  }
  const extraListeners = Object.fromEntries(extraNames.map((n) => [n, { ...listeners[n], port: listenerPorts[n] }]));
  const props = join(dir, 'server.properties');
  writeFileSync(props, serverProperties({ port, controllerPort, dataDir, listeners: extraListeners, properties }));
  writeFileSync(join(dir, 'log4j2.properties'), LOG4J2);
  const jvm = ['-Xms256m', '-Xmx512m', '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-Djava.awt.headless=true', `-Dkafka.logs.dir=${logsDir}`, `-Dlog4j2.configurationFile=${join(dir, 'log4j2.properties')}`, ...jvmArgs];
  if (!existsSync(join(dataDir, 'meta.properties'))) {
    // A base64url id may start with '-', which the tool's argument parser takes for an
    // option (1 start in 64 failed); Kafka's own Uuid.randomUuid() never starts with one.
    let clusterId;
    do clusterId = randomBytes(16).toString('base64url').slice(0, 22);
    while (clusterId.startsWith('-'));
    const r = spawnSync(javaBin(), [...jvm, '-cp', cp, 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '-c', props, '--ignore-formatted', ...formatArgs], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`kafka storage format failed:\n${r.stdout}\n${r.stderr}`);
  }
  const logFile = join(logsDir, 'stdout.log');
  const pid = spawnDetached(javaBin(), [...jvm, '-cp', cp, 'kafka.Kafka', props], { cwd: dir, logFile });
  writeState(stateFile, { pid, port, controllerPort, listenerPorts, version: KAFKA_VERSION, dataDir, logsDir, startedAt: new Date().toISOString() });
  log(`kafka ${KAFKA_VERSION} starting (pid ${pid}, port ${port})`);
  await waitUntil('kafka', () => answers(port), { timeoutMs, pid, logFile: join(logsDir, 'server.log') });
  // A broker that answers metadata may still refuse group work for a while
  // (the offsets topic is created on first use). Warm it up here so the
  // first suite does not pay for it under the runner's timeouts.
  await waitUntil('kafka consumer groups', () => warm(port), { timeoutMs, pid, logFile: join(logsDir, 'server.log') });
  return { brokers: `127.0.0.1:${port}`, pid, reused: false, listeners: addresses(listenerPorts) };
}

export async function stopKafka(dir) {
  const st = readState(join(dir, 'state.json'));
  return st ? stopGroup(st.pid) : false;
}
