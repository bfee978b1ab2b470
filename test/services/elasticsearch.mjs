// A single-node Elasticsearch 8 run from the Maven Central jars: the server
// jar and its dependencies on the module path, the transport-netty4 module
// (HTTP) under modules/, and the entitlement bridge patched into java.base as
// the distribution's launcher does. Elastic does not publish the launcher
// (server-cli) or the entitlement agent, so this file plays the launcher:
// it writes the ServerArgs the server reads from stdin with the server's own
// classes, and builds the few-line agent jar that hands the JVM's
// Instrumentation to the entitlement library.
//
// What this server lacks next to the distribution: x-pack (security is off
// because it is absent; no ILM) and the other modules (painless, ingest,
// data-streams REST API). trailwatch's setup copes: see src/sinks/elasticsearch-setup.ts.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { alive, freePort, groupAlive, javaBin, jdkTool, log, portFree, readState, resolveJars, spawnDetached, stopGroup, waitUntil, writeState } from './lib.mjs';

export const ES_VERSION = process.env.TRAILWATCH_ES_VERSION || '8.19.21';

const LOG4J2 = `status = error
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] [%node_name]%marker %m%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
logger.deprecation.name = org.elasticsearch.deprecation
logger.deprecation.level = error
`;

// Writes the binary ServerArgs that org.elasticsearch.bootstrap.Elasticsearch reads from stdin.
const WRITE_SERVER_ARGS = `
import java.nio.file.*;
import org.elasticsearch.bootstrap.ServerArgs;
import org.elasticsearch.common.io.stream.OutputStreamStreamOutput;
import org.elasticsearch.common.settings.KeyStoreWrapper;
import org.elasticsearch.common.settings.Settings;
public class WriteServerArgs {
  public static void main(String[] a) throws Exception {
    Path home = Path.of(a[0]);
    // The launcher, not the server, reads elasticsearch.yml: hand over the final settings.
    Settings settings = Settings.builder().loadFromPath(Path.of(a[1]).resolve("elasticsearch.yml")).put("path.home", home.toString()).build();
    ServerArgs args = new ServerArgs(false, false, null, KeyStoreWrapper.create(), settings, Path.of(a[1]), Path.of(a[2]));
    try (var out = new OutputStreamStreamOutput(Files.newOutputStream(Path.of(a[3])))) { args.writeTo(out); }
  }
}
`;

// The distribution's optional ANSI console (not published): "no console", as when output is not a terminal.
const NO_CONSOLE = `
package org.elasticsearch.io.ansi;
public final class AnsiConsoleLoader implements java.util.function.Supplier<Object> {
  public Object get() { return null; }
}
`;

const AGENT = `
package trailwatch.esagent;
import java.lang.instrument.Instrumentation;
public final class Agent {
  public static void agentmain(String initClass, Instrumentation inst) throws Exception {
    Class.forName(initClass).getMethod("initialize", Instrumentation.class).invoke(null, inst);
  }
}
`;

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${what} failed:\n${r.stdout}\n${r.stderr}`);
}

/** Lay out ES_HOME (config, modules, entitlement agent) once per version; returns paths. */
function layout(dir) {
  const home = join(dir, `home-${ES_VERSION}`);
  const server = resolveJars(`elasticsearch-${ES_VERSION}`, [`org.elasticsearch:elasticsearch:${ES_VERSION}`]);
  const bridge = resolveJars(`elasticsearch-entitlement-bridge-${ES_VERSION}`, [`org.elasticsearch:elasticsearch-entitlement-bridge:${ES_VERSION}`]).find((j) =>
    basename(j).startsWith('elasticsearch-entitlement-bridge-'),
  );
  const netty = resolveJars(`transport-netty4-${ES_VERSION}`, [`org.elasticsearch.plugin:transport-netty4:${ES_VERSION}`]);
  const done = join(home, '.complete');
  if (!existsSync(done)) {
    rmSync(home, { recursive: true, force: true });
    for (const d of ['config', 'plugins', 'logs', 'tmp', 'modules/transport-netty4', 'lib/entitlement-agent', 'lib/tools/ansi-console', 'build']) mkdirSync(join(home, d), { recursive: true });
    // The module gets its own jars only: anything the server already has would be jar hell.
    const serverNames = new Set(server.map((j) => basename(j)));
    for (const j of netty) if (!serverNames.has(basename(j))) copyFileSync(j, join(home, 'modules/transport-netty4', basename(j)));
    const pluginJar = netty.find((j) => basename(j).startsWith('transport-netty4-'));
    const descriptor = spawnSync('unzip', ['-p', pluginJar, 'META-INF/es-plugins/transport-netty4/plugin-descriptor.properties'], { encoding: 'utf8' }).stdout;
    if (!descriptor.includes('classname=')) throw new Error('transport-netty4 jar has no plugin descriptor');
    writeFileSync(join(home, 'modules/transport-netty4/plugin-descriptor.properties'), descriptor);
    const policy = spawnSync('unzip', ['-p', pluginJar, 'META-INF/es-plugins/transport-netty4/entitlement-policy.yaml'], { encoding: 'utf8' }).stdout;
    if (policy) writeFileSync(join(home, 'modules/transport-netty4/entitlement-policy.yaml'), policy);
    writeFileSync(join(home, 'config/log4j2.properties'), LOG4J2);
    writeFileSync(join(home, 'config/jvm.options'), '# not read: test/services/elasticsearch.mjs passes the JVM options\n');
    // The entitlement agent: one class calling the library's initialize(Instrumentation).
    const build = join(home, 'build');
    writeFileSync(join(build, 'Agent.java'), AGENT);
    run(jdkTool('javac'), ['-d', join(build, 'classes'), join(build, 'Agent.java')], 'javac (entitlement agent)');
    writeFileSync(join(build, 'MANIFEST.MF'), 'Agent-Class: trailwatch.esagent.Agent\nCan-Redefine-Classes: true\nCan-Retransform-Classes: true\n');
    run(jdkTool('jar'), ['cfm', join(home, 'lib/entitlement-agent/trailwatch-entitlement-agent.jar'), join(build, 'MANIFEST.MF'), '-C', join(build, 'classes'), '.'], 'jar (entitlement agent)');
    writeFileSync(join(build, 'AnsiConsoleLoader.java'), NO_CONSOLE);
    run(jdkTool('javac'), ['-d', join(build, 'console'), join(build, 'AnsiConsoleLoader.java')], 'javac (console stub)');
    run(jdkTool('jar'), ['cf', join(home, 'lib/tools/ansi-console/trailwatch-no-console.jar'), '-C', join(build, 'console'), '.'], 'jar (console stub)');
    writeFileSync(join(build, 'WriteServerArgs.java'), WRITE_SERVER_ARGS);
    writeFileSync(done, new Date().toISOString() + '\n');
  }
  return { home, server, bridge };
}

function esYml({ httpPort, transportPort, dataDir, logsDir }) {
  return [
    'cluster.name: trailwatch-test',
    'node.name: trailwatch-test-1',
    `path.data: ${dataDir}`,
    `path.logs: ${logsDir}`,
    'network.host: 127.0.0.1',
    `http.port: ${httpPort}`,
    `transport.port: ${transportPort}`,
    'discovery.type: single-node',
    // A test machine's disk may be fuller than production watermarks allow.
    'cluster.routing.allocation.disk.threshold_enabled: false',
    'action.destructive_requires_name: false',
    '',
  ].join('\n');
}

async function answers(port) {
  const res = await fetch(`http://127.0.0.1:${port}/_cluster/health?wait_for_status=yellow&timeout=2s`, { signal: AbortSignal.timeout(5000) });
  await res.arrayBuffer();
  return res.status === 200;
}

/** Start Elasticsearch in `dir` (or reuse the one recorded there). Returns { url, pid, reused }. */
export async function startElasticsearch(dir, { timeoutMs = 180_000, heap = '1g' } = {}) {
  mkdirSync(dir, { recursive: true });
  const stateFile = join(dir, 'state.json');
  const prev = readState(stateFile);
  if (prev && alive(prev.pgid) && (await answers(prev.httpPort).catch(() => false))) return { url: `http://127.0.0.1:${prev.httpPort}`, pid: prev.pgid, reused: true };
  if (prev && groupAlive(prev.pgid)) await stopGroup(prev.pgid);

  const { home, server, bridge } = layout(join(dir, '..', '.es-home'));
  const dataDir = join(dir, 'data');
  const logsDir = join(dir, 'logs');
  const confDir = join(dir, 'config');
  const tmpDir = join(dir, 'tmp');
  for (const d of [dataDir, logsDir, confDir, tmpDir]) mkdirSync(d, { recursive: true });
  let httpPort = prev?.httpPort;
  let transportPort = prev?.transportPort;
  if (!httpPort || !transportPort || !(await portFree(httpPort)) || !(await portFree(transportPort))) {
    httpPort = await freePort();
    do transportPort = await freePort();
    while (transportPort === httpPort);
  }
  // Per-instance config dir; modules and agent come from the shared home.
  writeFileSync(join(confDir, 'elasticsearch.yml'), esYml({ httpPort, transportPort, dataDir, logsDir }));
  writeFileSync(join(confDir, 'log4j2.properties'), readFileSync(join(home, 'config/log4j2.properties')));
  const argsFile = join(dir, 'server-args.bin');
  const modulePath = server.join(':');
  run(javaBin(), ['-cp', modulePath, join(home, 'build/WriteServerArgs.java'), home, confDir, logsDir, argsFile], 'writing Elasticsearch ServerArgs');

  const jvm = [
    `-Xms${heap === '1g' ? '512m' : heap}`,
    `-Xmx${heap}`,
    '-XX:+UseG1GC',
    '-Xss1m',
    '-Djava.awt.headless=true',
    '-Dfile.encoding=UTF-8',
    '-Djna.nosys=true',
    '-XX:-OmitStackTraceInFastThrow',
    '-Dio.netty.noUnsafe=true',
    '-Dio.netty.noKeySetOptimization=true',
    '-Dio.netty.recycler.maxCapacityPerThread=0',
    '-Dlog4j.shutdownHookEnabled=false',
    '-Dlog4j2.disable.jmx=true',
    '-Dlog4j2.formatMsgNoLookups=true',
    '-Djava.locale.providers=CLDR',
    '-Des.networkaddress.cache.ttl=60',
    '-Des.networkaddress.cache.negative.ttl=10',
    '-Des.distribution.type=tar',
    `-Des.path.home=${home}`,
    `-Des.path.conf=${confDir}`,
    `-Djava.io.tmpdir=${tmpDir}`,
    '-Des.entitlements.enabled=true',
    '-Djdk.attach.allowAttachSelf=true',
    `--patch-module=java.base=${bridge}`,
    '--add-exports=java.base/org.elasticsearch.entitlement.bridge=org.elasticsearch.entitlement,java.logging,java.net.http,java.naming,jdk.net',
    '--module-path',
    modulePath,
    '--add-modules=jdk.net',
    '--add-modules=ALL-MODULE-PATH',
    '-m',
    'org.elasticsearch.server/org.elasticsearch.bootstrap.Elasticsearch',
  ];
  // The server reads its arguments from stdin, then treats end-of-stdin as
  // "the launcher died, shut down". The shell plays the launcher: it holds
  // the write end of a FIFO open for exactly as long as the server runs, and
  // leads the process group that down.mjs signals.
  // Elasticsearch refuses to run as root. As root (CI, containers), run it in
  // a fresh user namespace where our uid is mapped to 1000: it sees an unprivileged uid,
  // while the files it touches stay ours.
  const prefix = process.getuid?.() === 0 ? ['unshare', '--user', '--map-user=1000', '--map-group=1000'] : [];
  const quoted = [...prefix, javaBin(), ...jvm].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const fifo = join(dir, 'stdin.fifo');
  rmSync(fifo, { force: true });
  run('mkfifo', [fifo], 'mkfifo');
  const script = `${quoted} < '${fifo}' & pid=$!; exec 3> '${fifo}'; cat '${argsFile}' >&3; echo $pid > '${join(dir, 'java.pid')}'; wait $pid`;
  const logFile = join(logsDir, 'stdout.log');
  const env = { ...process.env, LIBFFI_TMPDIR: tmpDir, ES_TMPDIR: tmpDir };
  const pgid = spawnDetached('/bin/sh', ['-c', script], { cwd: dir, logFile, env });
  writeState(stateFile, { pgid, httpPort, transportPort, version: ES_VERSION, dataDir, logsDir, startedAt: new Date().toISOString() });
  log(`elasticsearch ${ES_VERSION} starting (process group ${pgid}, http port ${httpPort})`);
  await waitUntil('elasticsearch', () => answers(httpPort), { timeoutMs, pid: pgid, logFile });
  return { url: `http://127.0.0.1:${httpPort}`, pid: pgid, reused: false };
}

export async function stopElasticsearch(dir) {
  const st = readState(join(dir, 'state.json'));
  return st ? stopGroup(st.pgid) : false;
}
