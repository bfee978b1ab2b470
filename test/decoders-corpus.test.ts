import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { Client } from 'ssh2';
import { baseEvent } from '../src/event.js';
import { createDecoder, ACTIONS } from '../src/rules/decoders/index.js';
import { failedAttempts, linesToEvents } from './decoders-line.js';
import { freePort, ROOT, tempDir, waitFor } from './helpers.js';

const FIXTURES = join(ROOT, 'test/fixtures');

describe('decoders > corpus > auth-mixed.log', () => {
  const expected = JSON.parse(readFileSync(join(FIXTURES, 'auth-mixed.expected.json'), 'utf8'));
  const events = linesToEvents(readFileSync(join(FIXTURES, 'auth-mixed.log'), 'utf8'));
  const d = createDecoder();
  const decoded = events.map((ev) => d.decode(ev));

  it('decodes every line without throwing and keeps every line', () => {
    assert.equal(events.length, expected.lines);
    for (const ev of events) assert.ok(ev.event.original);
    // Only the benign noise lines are unknown to the decoders.
    const unknown = events.filter((_, i) => !decoded[i]).map((ev) => ev.message ?? '');
    for (const m of unknown) assert.match(m, /^(Server listening|Received signal|alice : unable to resolve host)/);
  });
  it('counts each failed login attempt exactly once, overall and per source address', () => {
    assert.equal(failedAttempts(events), expected.failed_attempts);
    const bySource: Record<string, number> = {};
    for (const ev of events) {
      const e = ev.event;
      if (e.category?.[0] === 'authentication' && e.type?.[0] === 'start' && e.outcome === 'failure' && ev.source?.ip) {
        bySource[ev.source.ip] = (bySource[ev.source.ip] ?? 0) + (e.count ?? 1);
      }
    }
    assert.deepEqual(bySource, expected.failed_by_source);
  });
  it('finds the successful ssh logins, sudo commands and execve records', () => {
    const n = (pred: (i: number) => boolean) => events.filter((_, i) => pred(i)).length;
    assert.equal(n((i) => events[i].event.action === ACTIONS.sshLogin && events[i].event.outcome === 'success'), expected.successful_logins);
    assert.equal(n((i) => events[i].event.action === ACTIONS.sudoCommand), expected.sudo_commands);
    assert.equal(n((i) => events[i].event.action === ACTIONS.execve), expected.execve);
  });
  it('every decoded event carries the categorisation rules rely on', () => {
    for (let i = 0; i < events.length; i++) {
      if (!decoded[i]) continue;
      const e = events[i].event;
      assert.ok(e.action && e.dataset && e.category?.length && e.type?.length && e.outcome, events[i].event.original);
      assert.ok(events[i].trailwatch?.decoder);
      assert.ok(events[i].related?.hosts?.includes(events[i].host!.name!));
    }
  });
});

describe('decoders > hostile input', () => {
  it('never throws and never invents a failure from random text under known program names', () => {
    const names = ['sshd', 'sshd-session', 'sudo', 'su', 'login', 'audisp-syslog', 'kernel', 'gdm-password', undefined];
    const prefixes = ['', 'Failed ', 'Invalid user ', 'pam_unix(sshd:auth): ', 'PAM ', 'message repeated 3 times: [ ', 'type=EXECVE msg=audit(1:2): ', 'error: ', 'Connection closed by ', 'User ', 'sshd[1]: '];
    const d = createDecoder();
    fc.assert(
      fc.property(fc.constantFrom(...names), fc.constantFrom(...prefixes), fc.string({ maxLength: 200 }), (name, prefix, text) => {
        const ev = baseEvent('2024-01-01T00:00:00Z');
        ev.host = { name: 'h' };
        if (name) ev.process = { name, pid: 7 };
        ev.message = prefix + text;
        d.decode(ev);
        const c = ev.event.count;
        assert.ok(c === undefined || (Number.isInteger(c) && c > 0));
      }),
      { numRuns: 5000 },
    );
  });
  it('events without a message or host are left alone', () => {
    const ev = baseEvent('2024-01-01T00:00:00Z');
    assert.equal(createDecoder().decode(ev), false);
    ev.message = '';
    assert.equal(createDecoder().decode(ev), false);
  });
});

/** Real OpenSSH: what sshd writes for failed logins, decoded and counted. */
describe('decoders > real sshd', () => {
  let sshd: ChildProcess | undefined;
  let port = 0;
  const lines: string[] = [];
  const tmp = tempDir('tw-dec-sshd-');
  const canRun = process.getuid?.() === 0 && spawnSync('/usr/sbin/sshd', ['-V']).status !== null;

  before(async () => {
    if (!canRun) return;
    mkdirSync('/run/sshd', { recursive: true });
    const key = join(tmp.dir, 'host_ed25519');
    spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    port = await freePort();
    const cfg = join(tmp.dir, 'sshd_config');
    writeFileSync(cfg, [
      `Port ${port}`, 'ListenAddress 127.0.0.1', `HostKey ${key}`, `PidFile ${join(tmp.dir, 'sshd.pid')}`,
      'UsePAM no', 'PasswordAuthentication yes', 'KbdInteractiveAuthentication no', 'PermitRootLogin yes',
      'LogLevel INFO', 'MaxAuthTries 6', 'StrictModes no', '',
    ].join('\n'));
    sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
    let buf = '';
    sshd.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, nl).replace(/\r$/, ''));
        buf = buf.slice(nl + 1);
      }
    });
    await waitFor(() => lines.some((l) => l.startsWith('Server listening')), { what: 'sshd listening', timeoutMs: 10_000 });
  });
  after(() => {
    sshd?.kill('SIGTERM');
    tmp.cleanup();
  });

  function tryLogin(username: string, passwords: string[]): Promise<void> {
    return new Promise((resolve) => {
      const c = new Client();
      c.on('error', () => {});
      c.on('close', () => resolve());
      c.on('ready', () => c.end());
      const authHandler = passwords.length ? passwords.map((password) => ({ type: 'password' as const, username, password })) : [{ type: 'none' as const, username }];
      c.connect({ host: '127.0.0.1', port, username, authHandler, readyTimeout: 10_000, hostVerifier: () => true });
    });
  }

  it('failed passwords for an invalid user, for root, and a probe without credentials: 2 + 3 + 1 attempts', { skip: !canRun && 'needs root and openssh-server' }, async () => {
    await tryLogin('tw-nosuchuser', ['wrong-1', 'wrong-2']);
    await tryLogin('root', ['wrong-1', 'wrong-2', 'wrong-3']);
    await tryLogin('tw-probe', []);
    await waitFor(() => lines.filter((l) => /^(Connection closed|Disconnected from|Received disconnect)/.test(l)).length >= 3, { what: 'three closed connections' });
    const text = lines.map((l) => `Nov 29 10:00:00 target sshd[1]: ${l}`).join('\n');
    const d = createDecoder();
    const evs = linesToEvents(text);
    for (const ev of evs) d.decode(ev);
    assert.equal(failedAttempts(evs), 6, lines.join('\n'));
    if (process.env.TW_SHOW_SSHD) console.log(lines.join("\n"));
    const invalid = evs.filter((e) => e.event.action === ACTIONS.sshInvalidUser && e.event.type?.[0] === 'start');
    assert.deepEqual(invalid.map((e) => e.user?.name), ['tw-nosuchuser', 'tw-probe']);
    for (const ev of evs.filter((e) => e.event.outcome === 'failure')) assert.equal(ev.source?.ip ?? '127.0.0.1', '127.0.0.1');
  });
});
