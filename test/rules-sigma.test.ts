import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Alert, TwEvent } from '../src/event.js';
import { Detector } from '../src/rules/engine.js';
import { loadRules } from '../src/rules/loader.js';
import { ROOT, runCli, tempDir, type RunResult } from './helpers.js';
import { ev, T0 } from './rules/helpers.js';

const FIXTURES = join(ROOT, 'test/fixtures/sigma');
const tmp = tempDir('tw-sigma-');
after(() => tmp.cleanup());

let result: RunResult;
let det: Detector;
before(async () => {
  result = await runCli(['sigma', 'convert', FIXTURES, '--out', tmp.dir]);
  det = new Detector(loadRules([tmp.dir]));
});

const fired = (e: TwEvent): string[] => {
  const out: Alert[] = [];
  det.process(e, out);
  return out.map((a) => a.rule.id);
};
const cmd = (command_line: string, extra: Record<string, unknown> = {}) =>
  ev(T0, { 'event.action': 'sudo-command', 'process.command_line': command_line, ...extra });
const execve = (args: string[]) =>
  ev(T0, { 'event.action': 'process-execve', 'event.dataset': 'auditd.log', 'process.args': args, 'process.command_line': args.join(' '), message: `type=EXECVE argc=${args.length} ${args.map((a, i) => `a${i}="${a}"`).join(' ')}` });
const ID = (n: number) => `6f0d8a52-6c1e-4d0b-9d7a-3e5b2a91c00${n}`;

describe('rules > sigma convert > reporting', () => {
  it('converts what it can, lists every rule it cannot with the reason, and exits 1', () => {
    assert.equal(result.code, 1);
    const not = (file: string, reason: RegExp) => assert.match(result.stderr, new RegExp(`NOT converted .*${file}: .*${reason.source}`));
    not('auditd_service_stop.yml', /auditd record type SERVICE_STOP is not decoded/);
    not('windows_process.yml', /product "windows" is not supported/);
    not('aggregation.yml', /aggregation/);
    not('base64offset.yml', /modifier base64offset is not supported/);
    not('file_event.yml', /category "file_event" is not supported/);
    not('unsafe_regex.yml', /nested quantifier/);
    assert.match(result.stderr, /7 converted, 6 not converted/);
  });

  it('keeps the Sigma id, title, level and ATT&CK tags', () => {
    const rule = det.rules.find((r) => r.id === ID(1))!;
    assert.equal(rule.name, 'Syslog File Removed or Emptied');
    assert.equal(rule.severity, 'high');
    assert.deepEqual(rule.techniques, ['T1070.002']);
    assert.ok(rule.tags.includes('attack.defense-evasion'));
    assert.equal(det.rules.find((r) => r.id === ID(7))!.severity, 'low', 'informational -> low');
    assert.match(readFileSync(join(tmp.dir, 'proc_creation_lnx_clear_syslog.yaml'), 'utf8'), /^# Converted from Sigma/);
  });
});

describe('rules > sigma convert > converted rules match', () => {
  it('process_creation contains, case-insensitively, only on command events', () => {
    assert.deepEqual(fired(cmd('/usr/bin/RM -F /var/log/syslog')), [ID(1)]);
    assert.deepEqual(fired(cmd('/usr/bin/tail /var/log/syslog')), []);
    assert.deepEqual(fired(ev(T0, { 'process.command_line': 'rm /var/log/syslog' })), [], 'not a command event');
  });
  it('and of two selections, a list of maps is an or, endswith', () => {
    assert.deepEqual(fired(cmd('sh -c echo aGk= | base64 -d | bash')), [ID(2)]);
    assert.deepEqual(fired(cmd('sh -c echo aGk= | base64 -d | bash -s x')), [ID(2)]);
    assert.deepEqual(fired(cmd('base64 -d /tmp/x')), []);
  });
  it('not ( … or … ) with re, endswith and a User filter', () => {
    const web = { 'process.parent.executable': '/usr/sbin/nginx', 'process.executable': '/bin/sh' };
    assert.deepEqual(fired(cmd('/bin/sh -c id', web)), [ID(3)]);
    assert.deepEqual(fired(cmd('/bin/sh -c /usr/local/bin/healthcheck.sh', web)), []);
    assert.deepEqual(fired(cmd('/bin/sh -c id', { ...web, 'user.name': 'monitor' })), []);
  });
  it('all of selection_* with windash', () => {
    assert.deepEqual(fired(cmd('/usr/sbin/iptables -F', { 'process.executable': '/usr/sbin/iptables' })), [ID(4)]);
    assert.deepEqual(fired(cmd('/usr/sbin/iptables /F', { 'process.executable': '/usr/sbin/iptables' })), [ID(4)]);
    assert.deepEqual(fired(cmd('/usr/sbin/iptables -L', { 'process.executable': '/usr/sbin/iptables' })), []);
  });
  it('auditd EXECVE a0…aN onto process.args, 1 of selection_*', () => {
    assert.deepEqual(fired(execve(['tcpdump', '-c', '100', '-i', 'eth0'])), [ID(5)]);
    assert.deepEqual(fired(execve(['tshark', '-c', '5', '-i'])), [ID(5)]);
    assert.deepEqual(fired(execve(['tcpdump', '-r', 'x.pcap'])), []);
  });
  it('auditd keywords on the message', () => {
    assert.deepEqual(fired(execve(['cat', '/root/.bash_history'])), [ID(6)]);
    assert.deepEqual(fired(execve(['cat', '/etc/hosts'])), []);
  });
  it('service keyword rules with wildcards, limited to the service process', () => {
    const sshd = (m: string, name = 'sshd') => ev(T0, { message: m, 'process.name': name });
    assert.deepEqual(fired(sshd('Did not receive identification string from 192.0.2.1 port 4000')), [ID(7)]);
    assert.deepEqual(fired(sshd('Bad protocol version identification \'GET / HTTP/1.1\' from 192.0.2.1', 'sshd-session')), [ID(7)]);
    assert.deepEqual(fired(sshd('Did not receive identification string from 192.0.2.1 port 4000', 'nginx')), []);
  });
});
