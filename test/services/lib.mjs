// Shared plumbing for the test services: where state lives, resolving jars
// from Maven Central into the local Maven repository (~/.m2), free ports,
// process liveness, and recorded state. No Docker: the real servers run from
// their published jars on loopback.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function servicesDir() {
  return process.env.TRAILWATCH_SERVICES_DIR || join(homedir(), '.cache', 'trailwatch', 'services');
}

/** Resolved classpaths are shared by every services dir (private instances in fault tests too). */
function classpathCache() {
  return process.env.TRAILWATCH_CLASSPATH_CACHE || join(homedir(), '.cache', 'trailwatch', 'classpath');
}

export function log(msg) {
  process.stderr.write(`services: ${msg}\n`);
}

export function javaBin() {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

export function jdkTool(name) {
  if (process.env.JAVA_HOME) return join(process.env.JAVA_HOME, 'bin', name);
  return name;
}

/**
 * Resolve Maven coordinates (with their runtime dependencies) to a list of jar
 * paths. The first run downloads into ~/.m2; later runs read the cached list.
 */
export function resolveJars(name, coords) {
  const dir = join(classpathCache(), name);
  mkdirSync(dir, { recursive: true });
  const cpFile = join(dir, 'cp.txt');
  if (existsSync(cpFile)) {
    const jars = readFileSync(cpFile, 'utf8').trim().split(':').filter(Boolean);
    if (jars.length && jars.every((j) => existsSync(j))) return jars;
  }
  const deps = coords
    .map((c) => {
      const [g, a, v] = c.split(':');
      return `<dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${v}</version></dependency>`;
    })
    .join('');
  writeFileSync(
    join(dir, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>` +
      `<groupId>trailwatch.services</groupId><artifactId>${name.replace(/[^A-Za-z0-9_.-]/g, '-')}</artifactId><version>1</version>` +
      `<packaging>pom</packaging><dependencies>${deps}</dependencies></project>\n`,
  );
  log(`resolving ${coords.join(', ')} with Maven (first run downloads from Maven Central)`);
  const r = spawnSync('mvn', ['-q', '-B', 'dependency:build-classpath', `-Dmdep.outputFile=${cpFile}.tmp`, '-Dmdep.includeScope=runtime'], {
    cwd: dir,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`mvn failed resolving ${coords.join(', ')}:\n${r.stdout}\n${r.stderr}`);
  renameSync(`${cpFile}.tmp`, cpFile);
  return readFileSync(cpFile, 'utf8').trim().split(':').filter(Boolean);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export function portFree(port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export function tcpOpen(port, host = '127.0.0.1', timeoutMs = 1000) {
  return new Promise((resolve) => {
    const sock = connect({ port, host });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

export function alive(pid) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0); treat it as dead.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return true;
  }
}

export function readState(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

export function writeState(file, state) {
  writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2) + '\n');
  renameSync(`${file}.tmp`, file);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Start a long-lived process in its own process group, output to a log file. */
export function spawnDetached(cmd, args, { cwd, logFile, env }) {
  const out = openSync(logFile, 'a');
  const child = spawn(cmd, args, { cwd, env: env ?? process.env, detached: true, stdio: ['ignore', out, out] });
  child.unref();
  return child.pid;
}

export async function waitUntil(what, fn, { timeoutMs, pid, logFile }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn().catch(() => false)) return;
    if (pid && !alive(pid)) throw new Error(`${what} exited during startup; see ${logFile}:\n${tail(logFile)}`);
    if (Date.now() > deadline) throw new Error(`${what} did not answer within ${timeoutMs / 1000}s; see ${logFile}:\n${tail(logFile)}`);
    await sleep(250);
  }
}

export function tail(file, lines = 30) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Whether any process of the group is still running. The leader may exit
 * first (Elasticsearch's launcher shell dies on SIGTERM while the JVM is
 * still shutting down and holding its ports and data directory).
 */
export function groupAlive(pgid) {
  if (!pgid) return false;
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  // Only zombies left (a leader nobody reaped yet) count as gone.
  try {
    for (const p of readdirSync('/proc')) {
      if (!/^\d+$/.test(p)) continue;
      let stat;
      try {
        stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      } catch {
        continue;
      }
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) === pgid && f[0] !== 'Z') return true;
    }
    return false;
  } catch {
    return alive(pgid);
  }
}

/** Stop a recorded process group: SIGTERM, then SIGKILL after a grace period; returns once every member is gone. */
export async function stopGroup(pgid, { graceMs = 20_000 } = {}) {
  if (!pgid || !groupAlive(pgid)) return false;
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {
    return false;
  }
  const deadline = Date.now() + graceMs;
  while (groupAlive(pgid) && Date.now() < deadline) await sleep(200);
  if (groupAlive(pgid)) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {}
    while (groupAlive(pgid)) await sleep(100);
  }
  return true;
}
