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
  it('other record types and broken records stay undecoded', () => {
    for (const msg of [
      'type=PATH msg=audit(1700000000.1:9): item=0 name="/usr/bin/ls" inode=1',
      'type=EXECVE msg=audit(1700000000.1:9): argc=0',
      'type=EXECVE msg=audit(garbage',
      'type=',
    ]) assert.equal(createDecoder().decode(lineToEvent(`Nov 29 10:00:01 h audisp-syslog: ${msg}`)), false, msg);
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
    assert.deepEqual([blocked.event.type, blocked.event.outcome], [['denied'], 'failure']);
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
