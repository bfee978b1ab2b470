import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { CommandReader } from '../src/gateway/terminal.js';
import {
  connectOperator,
  createAccount,
  execOn,
  openShell,
  operatorKey,
  removeAccount,
  startSshd,
  startTestGateway,
  tempDir,
  waitFor,
  type GatewayFixture,
  type Sshd,
} from './gateway-fixture.js';

describe('gateway > command lines are read from the emulated screen', () => {
  const feed = async (r: CommandReader, s: string) => r.output(Buffer.from(s));

  it('takes the text after the prompt position marked at the first key', async () => {
    const r = new CommandReader(80, 24);
    await feed(r, 'Welcome\r\nuser@host:~$ ');
    r.keyTyped();
    await feed(r, 'ls -la /tmp');
    assert.equal(await r.readLine(), 'ls -la /tmp');
  });

  it('sees history recall and line editing as the shell shows them', async () => {
    const r = new CommandReader(80, 24);
    await feed(r, 'h$ ');
    r.keyTyped();
    // typed "rm x", then backspaced twice and typed "-i y"
    await feed(r, 'rm x\b \b');
    await feed(r, 'y');
    assert.equal(await r.readLine(), 'rm y');
  });

  it('joins a command wrapped over several rows', async () => {
    const r = new CommandReader(20, 10);
    await feed(r, 'p$ ');
    r.keyTyped();
    const cmd = 'echo ' + 'x'.repeat(40);
    await feed(r, cmd);
    assert.equal(await r.readLine(), cmd);
  });

  it('falls back to the text after the prompt end when typing started before the prompt', async () => {
    const r = new CommandReader(80, 24);
    await feed(r, 'h$ ls\r\n');
    r.keyTyped(); // type-ahead while ls still prints
    await feed(r, 'a  b  c\r\nh$ whoami');
    assert.equal(await r.readLine(), 'whoami');
  });

  it('reads the match of a reverse history search', async () => {
    const r = new CommandReader(80, 24);
    await feed(r, 'h$ ');
    r.keyTyped();
    await feed(r, "\r(reverse-i-search)`sys': systemctl restart nginx");
    assert.equal(await r.readLine(), 'systemctl restart nginx');
  });

  it('knows when a full-screen program is running', async () => {
    const r = new CommandReader(80, 24);
    await feed(r, '\x1b[?1049h');
    await new Promise((res) => setTimeout(res, 10));
    await r.readLine();
    assert.equal(r.fullScreen, true);
  });
});

describe('gateway > prohibited commands (real sshd)', () => {
  const tmp = tempDir('tw-gw-cmd-');
  const ACC = 'twt_cmd1';
  const canary = `/tmp/twt_canary_${process.pid}`;
  let sshd: Sshd;
  let fx: GatewayFixture;
  let alice: ReturnType<typeof operatorKey>;

  before(async () => {
    createAccount(ACC);
    writeFileSync(canary, 'still here');
    sshd = await startSshd(tmp.dir);
    alice = operatorKey(tmp.dir, 'alice');
    fx = await startTestGateway(tmp.dir, {
      operators: { alice: { keys: [alice.publicKey] } },
      targets: { db1: { address: '127.0.0.1', port: sshd.port, host_key: sshd.fingerprint, groups: ['db'], management: { user: 'root', private_key_file: sshd.mgmtKeyFile }, accounts: [ACC] } },
      grants: [{ operators: ['alice'], targets: ['*'], accounts: ['*'] }],
      command_rules: [
        { id: 'rm-canary', regex: '^rm\\s+(-\\S+\\s+)*/tmp/twt_canary', action: 'block', severity: 'critical', description: 'Deleting the canary' },
        { id: 'whoami', glob: 'whoami*', action: 'alert', targets: ['db'], severity: 'low' },
        { id: 'not-db', glob: 'uptime', action: 'block', targets: ['web'] },
      ],
    });
  });

  after(async () => {
    await fx?.stop();
    await sshd?.stop();
    removeAccount(ACC);
    tmp.cleanup();
  });

  it('blocks a prohibited command at Enter, tells the operator, alerts, and the shell goes on', async () => {
    const c = await connectOperator(fx.gw.port, `alice:${ACC}@db1`, alice.privateKey);
    const sh = await openShell(c);
    await sh.waitOut(/\$ $/m);
    sh.ch.write(`rm -f ${canary}\r`);
    await sh.waitOut(/command blocked by policy/);
    sh.ch.write('echo after-$((40+2))\r');
    await sh.waitOut(/after-42/);
    assert.ok(existsSync(canary), 'the command never ran');
    const blocked = fx.events().find((e) => e.event.action === 'gateway-command-blocked');
    assert.equal(blocked?.process?.command_line, `rm -f ${canary}`);
    assert.equal(blocked?.trailwatch?.session?.account, ACC);
    assert.equal(typeof blocked?.trailwatch?.session?.offset, 'number');
    const alert = fx.events().find((e) => e.event.kind === 'alert' && e.rule?.id === 'gateway-command-rm-canary');
    assert.equal(alert?.rule?.name, 'Deleting the canary');
    assert.equal(alert?.event.severity, 99);

    // alert rule: runs, and alerts
    sh.ch.write('whoami\r');
    await sh.waitOut(new RegExp(`\\r${ACC}\\r\\n`));
    await waitFor(() => fx.events().some((e) => e.event.kind === 'alert' && e.rule?.id === 'gateway-command-whoami'));
    // a rule for another target group does not apply here
    sh.ch.write('uptime\r');
    await sh.waitOut(/load average/);
    sh.ch.write('exit\r');
    await sh.closed();
    c.end();
    const cmds = fx.events().filter((e) => e.event.action === 'gateway-command' && e.event.kind === 'event').map((e) => e.process?.command_line);
    assert.deepEqual(cmds, ['echo after-$((40+2))', 'whoami', 'uptime', 'exit']);
  });

  it('blocks a prohibited exec request with exit status 126', async () => {
    const c = await connectOperator(fx.gw.port, `alice:${ACC}@db1`, alice.privateKey);
    const r = await execOn(c, `rm -rf ${canary}`);
    c.end();
    assert.equal(r.code, 126);
    assert.match(r.stderr, /blocked by policy/);
    assert.ok(existsSync(canary));
  });

  it('reloads the policy on change and keeps the old one when the new file is bad', async () => {
    writeFileSync(fx.policyFile, 'operators: [not, a, map]\n');
    const bad = fx.gw.reload();
    assert.ok(bad && bad.some((l) => l.includes('operators')), String(bad));
    assert.ok(fx.gw.ctx.policy().targets.has('db1'), 'old policy kept');
  });
});
