// One converted Sigma process_creation rule against every source of process
// starts: the gateway's command events (as its buildEvent makes them, after
// the trip over the session log as JSON), sudo's syslog line, auditd's
// SYSCALL+EXECVE records, and a plain ECS process-start document from any ECS
// shipper through `trailwatch replay --format ndjson`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Alert, TwEvent } from '../src/event.js';
import { buildEvent } from '../src/gateway/events.js';
import { ACTIONS } from '../src/rules/decoders/vocabulary.js';
import { rulesConfig } from '../src/rules/config.js';
import { loadRules } from '../src/rules/loader.js';
import { createProcessor, type Processor } from '../src/rules/processor.js';
import { ROOT, runCli, tempDir } from './helpers.js';
import { failedAttempts, lineToEvent } from './decoders-line.js';

const RULE = join(ROOT, 'test/fixtures/sigma/proc_creation_lnx_clear_syslog.yml');
const ID = '6f0d8a52-6c1e-4d0b-9d7a-3e5b2a91c001';
const CMD = 'rm -f /var/log/syslog';
const tmp = tempDir('tw-sigma-src-');
after(() => tmp.cleanup());

let rulesDir: string;
let proc: Processor;
before(async () => {
  rulesDir = join(tmp.dir, 'rules');
  const r = await runCli(['sigma', 'convert', RULE, '--out', rulesDir]);
  assert.equal(r.code, 0, r.stderr);
  proc = createProcessor(rulesConfig.parse({ default_pack: false }), { rules: loadRules([rulesDir]) });
});

const run = (...evs: TwEvent[]): Alert[] => proc.process(evs);
const ids = (alerts: Alert[]) => alerts.map((a) => a.rule.id);
/** As the session-log ingest gets it: JSON over HTTP. */
const wire = (ev: TwEvent): TwEvent => JSON.parse(JSON.stringify(ev));
const session = { id: 'sess-1', operator: 'olga', account: 'deploy', target: 'db1', sourceIp: '10.9.0.4' };

describe('rules > sigma > one process_creation rule, every source', () => {
  it('a gateway command, typed or blocked, is a process start; a blocked one is no login attempt', () => {
    const typed = wire(buildEvent({ action: ACTIONS.gatewayCommand, message: CMD, session, commandLine: CMD, offset: 3.2 }, 'gw1'));
    assert.deepEqual([typed.event.category, typed.event.type], [['process'], ['start']], 'as the gateway writes it');
    assert.deepEqual(ids(run(typed)), [ID]);
    assert.deepEqual([typed.process?.name, typed.process?.args], ['rm', ['rm', '-f', '/var/log/syslog']]);

    const blocked = wire(buildEvent({ action: ACTIONS.gatewayCommandBlocked, outcome: 'failure', message: CMD, session, commandLine: CMD }, 'gw1'));
    assert.deepEqual(ids(run(blocked)), [ID]);
    assert.deepEqual([blocked.event.category, blocked.event.type, blocked.event.outcome], [['process', 'intrusion_detection'], ['start', 'denied'], 'failure']);
    assert.equal(failedAttempts([typed, blocked]), 0);

    const other = wire(buildEvent({ action: ACTIONS.gatewayCommand, message: 'tail /var/log/syslog', session, commandLine: 'tail /var/log/syslog' }, 'gw1'));
    assert.deepEqual(ids(run(other)), []);
  });

  it('a sudo command line: the command is the process, sudo its parent', () => {
    const line = (cmd: string) => lineToEvent(`Mar  3 10:00:00 web1 sudo[4242]:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=${cmd}`);
    const ev = line(`/usr/bin/${CMD}`);
    assert.deepEqual(ids(run(ev)), [ID]);
    assert.deepEqual(
      [ev.process?.executable, ev.process?.name, ev.process?.parent, ev.process?.working_directory, ev.user?.name, ev.user?.target?.name],
      ['/usr/bin/rm', 'rm', { name: 'sudo', pid: 4242 }, '/home/alice', 'alice', 'root'],
    );
    assert.deepEqual(ids(run(line('/usr/bin/tail /var/log/syslog'))), []);
    const refused = lineToEvent(`Mar  3 10:00:00 web1 sudo[4243]: mallory : user NOT in sudoers ; TTY=pts/2 ; PWD=/home/mallory ; USER=root ; COMMAND=/usr/bin/${CMD}`);
    assert.deepEqual(ids(run(refused)), [], 'sudo refused it: no process started');
  });

  it("auditd SYSCALL + EXECVE: exe, args, uid, and the parent's exe from the execve it made", () => {
    const sc = (serial: number, ppid: number, pid: number, comm: string, exe: string) =>
      `Mar  3 10:00:00 web1 audisp-syslog: type=SYSCALL msg=audit(1709460000.123:${serial}): arch=c000003e syscall=59 success=yes exit=0 a0=55d5f9c0e2a0 a1=55d5f9c0e300 a2=55d5f9c0e318 a3=0 items=2 ppid=${ppid} pid=${pid} auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="${comm}" exe="${exe}" key="exec"`;
    const ex = (serial: number, args: string) => `Mar  3 10:00:00 web1 audisp-syslog: type=EXECVE msg=audit(1709460000.123:${serial}): argc=${args.split(' ').length} ${args.split(' ').map((a, i) => `a${i}="${a}"`).join(' ')}`;
    const evs = [sc(41, 1, 700, 'bash', '/usr/bin/bash'), ex(41, 'bash'), sc(42, 700, 701, 'rm', '/usr/bin/rm'), ex(42, CMD)].map((l) => lineToEvent(l));
    const alerts = run(...evs);
    assert.deepEqual(ids(alerts), [ID]);
    const start = evs[3];
    assert.equal(alerts[0].trailwatch.alert.events[0], start.event.id, 'the EXECVE is the process start');
    assert.deepEqual([start.event.category, start.event.type], [['process'], ['start']]);
    assert.deepEqual(
      [start.process?.executable, start.process?.command_line, start.process?.pid, start.process?.parent, start.user?.id],
      ['/usr/bin/rm', CMD, 701, { pid: 700, executable: '/usr/bin/bash', name: 'bash' }, '0'],
    );
    assert.deepEqual(evs[2].event.type, ['info'], 'the SYSCALL record is not a second start');
  });

  it('a plain ECS process start through `replay --format ndjson` fires it; an end or another command does not', async () => {
    const ecs = (id: string, type: string, cmd: string) => ({
      '@timestamp': '2024-03-03T10:00:00.000Z',
      event: { id, kind: 'event', category: ['process'], type: [type], action: 'executed', dataset: 'auditd.log', module: 'auditd' },
      host: { name: 'web2' },
      process: {
        pid: 3100, executable: '/usr/bin/rm', name: 'rm', command_line: cmd, args: cmd.split(' '), working_directory: '/root',
        parent: { pid: 3000, executable: '/usr/bin/bash', name: 'bash' },
      },
      user: { name: 'root', id: '0' },
    });
    const file = join(tmp.dir, 'ecs.ndjson');
    writeFileSync(file, [ecs('p-start', 'start', CMD), ecs('p-end', 'end', CMD), ecs('p-other', 'start', 'rm -f /tmp/x')].map((d) => JSON.stringify(d)).join('\n') + '\n');
    const r = await runCli(['replay', file, '--format', 'ndjson', '--no-default-rules', '--rules', rulesDir, '--alerts-only']);
    assert.equal(r.code, 0, r.stderr);
    const alerts = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Alert);
    assert.deepEqual(alerts.map((a) => [a.rule.id, a.trailwatch.alert.events]), [[ID, ['p-start']]]);
  });
});
