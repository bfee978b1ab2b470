#!/usr/bin/env node
// The one test command (`npm test`): installs the system packages the tests
// drive for real (when missing and we are root), starts the services the
// tests need unless the environment points at running ones, then runs every
// node:test suite under dist/test.
import { spawn } from 'node:child_process';
import { ensurePackages } from './system-packages.mjs';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

// command on PATH -> Debian package that provides it
const SYSTEM = [
  ['logger', 'bsdutils'],
  ['rsyslogd', 'rsyslog'],
  ['/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so', 'rsyslog-gnutls'],
  ['certtool', 'gnutls-bin'],
  ['openssl', 'openssl'],
  ['sshd', 'openssh-server'],
  ['ssh', 'openssh-client'],
  ['chpasswd', 'passwd'],
  ['/lib/systemd/systemd-journal-remote', 'systemd-journal-remote'],
  ['/lib/systemd/systemd-journal-upload', 'systemd-journal-remote'],
  ['journalctl', 'systemd'],
  ['chromium', 'chromium'],
  ['script', 'bsdutils'],
  // the gateway policy judged on a real auditd's execs (e2e-audit-policy)
  ['auditd', 'auditd'],
  ['auditctl', 'auditd'],
  ['rsync', 'rsync'],
  ['git', 'git'],
  // sshd's X11 forwarding (gateway-forwarding)
  ['xauth', 'xauth'],
  // Kafka and Elasticsearch run from Maven Central jars (test/services)
  ['java', 'openjdk-17-jdk-headless'],
  ['javac', 'openjdk-17-jdk-headless'],
  ['mvn', 'maven'],
  ['unshare', 'util-linux'],
  ['mkfifo', 'coreutils'],
  ['unzip', 'unzip'],
  // validates docker-compose.yml (`config` needs no Docker engine)
  ['docker-compose', 'docker-compose'],
];

function ensureSystemPackages() {
  if (ensurePackages(SYSTEM, 'test').length) process.exit(1);
}

function testFiles(dir) {
  const out = [];
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) out.push(...testFiles(p));
    else if (f.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

/**
 * Kafka and Elasticsearch run for real (test/services). Unless the
 * environment points at running ones, start them (or reuse the ones a
 * previous `npm run services:up` left) and hand their addresses to the
 * tests. Suites that need them fail, not skip, when they are absent.
 */
async function ensureServices() {
  if (process.env.KAFKA_BROKERS && process.env.ELASTICSEARCH_URL) return false;
  const { ensureServices: up } = await import('./services/up.mjs');
  const env = await up();
  process.env.KAFKA_BROKERS ||= env.KAFKA_BROKERS;
  process.env.ELASTICSEARCH_URL ||= env.ELASTICSEARCH_URL;
  console.error(`test: KAFKA_BROKERS=${process.env.KAFKA_BROKERS} ELASTICSEARCH_URL=${process.env.ELASTICSEARCH_URL}`);
  return env.started;
}

ensureSystemPackages();
const only = process.argv.slice(2);
const files = only.length ? only : testFiles(join(root, 'dist/test'));
let started = false;
try {
  started = await ensureServices();
} catch (err) {
  console.error(`test: could not start Kafka/Elasticsearch: ${err.message}`);
  process.exit(1);
}
// A test file that hangs fails after TEST_TIMEOUT_MS with its name (instead
// of holding the whole run until CI's limit; node 20 applies --test-timeout to
// each file's whole run, so this is a ceiling per file: the longest file takes
// about 2 min here), a test file whose process keeps a handle open after its
// last test still ends (--test-force-exit), and the whole run has a ceiling
// well under CI's limit.
const TEST_TIMEOUT_MS = Number(process.env.TRAILWATCH_TEST_TIMEOUT_MS ?? 600_000);
const RUN_TIMEOUT_MS = Number(process.env.TRAILWATCH_RUN_TIMEOUT_MS ?? 40 * 60_000);
const args = [
  '--test',
  '--test-concurrency=2',
  `--test-timeout=${TEST_TIMEOUT_MS}`,
  '--test-force-exit',
  '--test-reporter=tap',
  '--test-reporter-destination=stdout',
  `--test-reporter=${join(root, 'test/failures-reporter.mjs')}`,
  '--test-reporter-destination=stderr',
  ...files,
];
const status = await new Promise((resolve) => {
  const child = spawn(process.execPath, args, { stdio: 'inherit', cwd: root, env: process.env, detached: true });
  const ceiling = setTimeout(() => {
    console.error(`test: the run exceeded ${RUN_TIMEOUT_MS / 60_000} min; stopping it`);
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }, RUN_TIMEOUT_MS);
  // The runner has its own process group (so the ceiling can stop the test
  // files and what they started); pass an interrupt on to it.
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { try { process.kill(-child.pid, sig); } catch { /* gone */ } });
  child.on('exit', (code) => {
    clearTimeout(ceiling);
    resolve(code ?? 1);
  });
});
// Leave services this run did not start alone; stop the ones it started
// unless asked to keep them for the next run.
if (started && !process.env.TRAILWATCH_KEEP_SERVICES) {
  const { stopServices } = await import('./services/down.mjs');
  await stopServices().catch((err) => console.error(`test: stopping services: ${err.message}`));
}
process.exit(status);
