// Shells and remote commands under the grant, and input to a remote command
// as the file transfer it is, with the real ssh client through the gateway to
// a real sshd. Issue #16 found `ssh gw 'cat > /tmp/f' < f` writing the file
// with no approval and no record, and no way to grant "no shell".
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as approvals from '../src/gateway/approvals.js';
import { transferGraceMs } from '../src/gateway/exec-transfer.js';
import { createAccount, operatorKey, removeAccount, startSshd, startTestGateway, tempDir, waitFor, type GatewayFixture, type Sshd } from './gateway-fixture.js';

const execP = promisify(execFile);
const sha = (b: string) => createHash('sha256').update(b).digest('hex');

describe('gateway > shell and exec under the grant; exec input is a transfer (real ssh, real sshd)', () => {
  const tmp = tempDir('tw-gw-exec-');
  const APPROVE = 'twt_exa';
  const DENY = 'twt_exd';
  const ALLOW = 'twt_exo';
  const out = (acc: string) => `/tmp/twt_exec_${acc}_${process.pid}.txt`;
  let sshd: Sshd;
  let fx: GatewayFixture;
  let alice: ReturnType<typeof operatorKey>;
  const local = () => join(tmp.dir, 'payload.txt');

  /** ssh through the gateway; stdin from a file, or none (-n). */
  const ssh = (acc: string, command: string | null, stdin: string | null) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const args = ['-i', alice.file, '-p', String(fx.gw.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', ...(stdin === null ? ['-n'] : []), ...(command === null ? ['-tt'] : []), `alice:${acc}@box@127.0.0.1`, ...(command === null ? [] : [command])];
      const p = execFile('ssh', args, { timeout: 30_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr }));
      if (stdin !== null) p.stdin!.end(readFileSync(stdin));
      else p.stdin!.end();
    });

  before(async () => {
    for (const a of [APPROVE, DENY, ALLOW]) createAccount(a);
    sshd = await startSshd(tmp.dir);
    alice = operatorKey(tmp.dir, 'alice');
    writeFileSync(local(), 'sent through an exec\n');
    fx = await startTestGateway(tmp.dir, {
      operators: { alice: { keys: [alice.publicKey] } },
      targets: { box: { address: '127.0.0.1', port: sshd.port, host_key: sshd.fingerprint, management: { user: 'root', private_key_file: sshd.mgmtKeyFile }, accounts: [APPROVE, DENY, ALLOW] } },
      grants: [
        { operators: ['alice'], targets: ['box'], accounts: [APPROVE], file_transfer: 'approve', shell: false },
        { operators: ['alice'], targets: ['box'], accounts: [DENY], file_transfer: 'deny', exec: { allow: ['uptime', 'cat *', 'echo *'] } },
        { operators: ['alice'], targets: ['box'], accounts: [ALLOW], file_transfer: 'allow' },
      ],
    });
  });
  after(async () => {
    await fx?.stop();
    await sshd?.stop();
    for (const a of [APPROVE, DENY, ALLOW]) {
      removeAccount(a);
      rmSync(out(a), { force: true });
    }
    tmp.cleanup();
  });

  it('a grant with shell: false refuses shells and runs commands; exec: { allow } runs only matching commands', async () => {
    const shell = await ssh(APPROVE, null, null);
    assert.equal(shell.code, 126, shell.stderr + shell.stdout);
    assert.match(shell.stdout + shell.stderr, /interactive shells are not allowed by your grant/);
    assert.deepEqual(await ssh(APPROVE, 'echo fine', null).then((r) => [r.code, r.stdout]), [0, 'fine\n']);
    assert.deepEqual(await ssh(DENY, 'echo listed', null).then((r) => [r.code, r.stdout]), [0, 'listed\n']);
    const id = await ssh(DENY, 'id', null);
    assert.equal(id.code, 126);
    assert.match(id.stderr, /this command is not in the commands your grant allows/);
    const ev = await waitFor(() => fx.events().filter((e) => e.event.action === 'gateway-command-blocked' && /not-granted/.test(e.event.reason ?? '')));
    assert.deepEqual(ev.map((e) => e.event.reason).sort(), ['exec-not-granted', 'shell-not-granted']);
  });

  it('input to a command under approve: held for an approval of that command line, then written and recorded with its hash', async () => {
    const cmd = `cat > ${out(APPROVE)}`;
    const first = await ssh(APPROVE, cmd, local());
    assert.equal(first.code, 1);
    assert.match(first.stderr, /input to this command is a file transfer: approval pending/);
    assert.ok(!existsSync(out(APPROVE)), 'the command did not run');
    const req = approvals.list(fx.dataDir, 'pending').find((r) => r.path === `exec: ${cmd}`);
    assert.ok(req, 'an approval request for exactly this command line');
    approvals.approve(fx.dataDir, req.id, { by: 'dana' });
    const second = await ssh(APPROVE, cmd, local());
    assert.equal(second.code, 0, second.stderr);
    assert.equal(readFileSync(out(APPROVE), 'utf8'), 'sent through an exec\n');
    const done = await waitFor(() => fx.events().find((e) => e.event.action === 'gateway-transfer' && e.trailwatch?.transfer?.status === 'completed' && e.file?.path === `exec: ${cmd}`));
    assert.equal(done.file?.size, 'sent through an exec\n'.length);
    assert.equal(done.file?.hash?.sha256, sha('sent through an exec\n'));
    assert.equal(done.trailwatch?.transfer?.id, req.id);
    // A command without input is not a transfer, and waits for none (-n: EOF at once).
    assert.deepEqual(await ssh(APPROVE, 'echo no-input', null).then((r) => [r.code, r.stdout]), [0, 'no-input\n']);
  });

  it('looks for input a few client round trips long: 25 ms on loopback, 250 ms at most', () => {
    assert.deepEqual([0, 0.5, 10, 30, 60, 5000, -3].map(transferGraceMs), [25, 25, 50, 130, 250, 250, 25]);
  });

  it('input that comes only once the command runs is refused then, and the command is stopped before it reads any', async () => {
    const file = `${out(APPROVE)}.late`;
    const args = ['-i', alice.file, '-p', String(fx.gw.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', `alice:${APPROVE}@box@127.0.0.1`, `echo started; cat > ${file}`];
    const p = execFile('ssh', args, { timeout: 30_000 });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d) => (stdout += d));
    p.stderr!.on('data', (d) => (stderr += d));
    const code = new Promise<number | null>((r) => p.on('exit', (c) => r(c)));
    try {
      // The grace is over once the command has printed: this input is late.
      await waitFor(() => stdout.includes('started\n'), { what: () => `the command to start (stderr: ${stderr})` });
      p.stdin!.end('late input\n');
      assert.notEqual(await code, 0);
      assert.match(stderr, /input to this command is a file transfer: approval pending.*the command is stopped/);
      assert.equal(readFileSync(file, 'utf8'), '', 'the command ran, but got none of the input');
      assert.ok(approvals.list(fx.dataDir, 'pending').some((r) => r.path === `exec: echo started; cat > ${file}`));
    } finally {
      p.kill();
      rmSync(file, { force: true });
    }
  });

  it('input to a command under deny is refused and the command never runs; under allow it runs and is recorded', async () => {
    const denied = await ssh(DENY, `cat > ${out(DENY)}`, local());
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /file transfers are not allowed by your grant/);
    assert.ok(!existsSync(out(DENY)));
    const allowed = await ssh(ALLOW, `cat > ${out(ALLOW)}; echo stored`, local());
    assert.deepEqual([allowed.code, allowed.stdout], [0, 'stored\n']);
    assert.equal(readFileSync(out(ALLOW), 'utf8'), 'sent through an exec\n');
    const done = await waitFor(() => fx.events().find((e) => e.event.action === 'gateway-transfer' && e.trailwatch?.transfer?.status === 'completed' && e.trailwatch?.session?.account === ALLOW));
    assert.equal(done.file?.hash?.sha256, sha('sent through an exec\n'));
    assert.equal((done.trailwatch?.exec as { output_sha256?: string } | undefined)?.output_sha256, sha('stored\n'));
  });
});
