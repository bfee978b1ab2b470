#!/usr/bin/env node
// The one test command (`npm test`): installs the system packages the tests
// drive for real (when missing and we are root), starts the services the
// tests need unless the environment points at running ones, then runs every
// node:test suite under dist/test.
import { spawnSync } from 'node:child_process';
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
];

function have(cmd) {
  if (cmd.startsWith('/')) return existsSync(cmd);
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', ...(process.env.PATH ?? '').split(':')]) if (existsSync(join(dir, cmd))) return true;
  return false;
}

function ensureSystemPackages() {
  const missing = [...new Set(SYSTEM.filter(([c]) => !have(c)).map(([, p]) => p))];
  if (!missing.length) return;
  if (process.getuid?.() !== 0) {
    console.error(`test: missing system packages ${missing.join(' ')}; install them (apt-get install ${missing.join(' ')}) or run as root`);
    process.exit(1);
  }
  console.error(`test: installing ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  if (r.status !== 0) process.exit(r.status ?? 1);
  r = spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
  if (r.status !== 0) process.exit(r.status ?? 1);
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

ensureSystemPackages();
const only = process.argv.slice(2);
const files = only.length ? only : testFiles(join(root, 'dist/test'));
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...files], { stdio: 'inherit', cwd: root, env: process.env });
process.exit(r.status ?? 1);
