import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SFTPWrapper } from 'ssh2';
import * as approvals from '../src/gateway/approvals.js';
import { runCli } from './helpers.js';
import {
  connectOperator,
  createAccount,
  operatorKey,
  removeAccount,
  sftpOf,
  startSshd,
  startTestGateway,
  tempDir,
  waitFor,
  type GatewayFixture,
  type Sshd,
} from './gateway-fixture.js';

const run = promisify(execFile);
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function put(s: SFTPWrapper, local: string, remote: string): Promise<void> {
  return new Promise((resolve, reject) => s.fastPut(local, remote, (err) => (err ? reject(err) : resolve())));
}
function get(s: SFTPWrapper, remote: string, local: string): Promise<void> {
  return new Promise((resolve, reject) => s.fastGet(remote, local, (err) => (err ? reject(err) : resolve())));
}
function rename(s: SFTPWrapper, a: string, b: string): Promise<void> {
  return new Promise((resolve, reject) => s.rename(a, b, (err) => (err ? reject(err) : resolve())));
}

describe('gateway > file transfers with approval (real sshd, sftp and scp)', () => {
  const tmp = tempDir('tw-gw-xfer-');
  const ACC = 'twt_xfer1';
  const remoteUp = `/tmp/twt_up_${process.pid}.bin`;
  const remoteDown = `/tmp/twt_down_${process.pid}.txt`;
  const remoteScp = `/tmp/twt_scp_${process.pid}.txt`;
  const secret = `/tmp/twt_secret_${process.pid}.txt`;
  let sshd: Sshd;
  let fx: GatewayFixture;
  let alice: ReturnType<typeof operatorKey>;
  const payload = Buffer.alloc(300_000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7919) & 0xff;
  const user = `alice:${ACC}@files`;

  before(async () => {
    createAccount(ACC);
    writeFileSync(remoteDown, 'download me\n');
    writeFileSync(secret, 'top secret\n');
    await run('chown', [ACC, remoteDown, secret]);
    writeFileSync(join(tmp.dir, 'payload.bin'), payload);
    sshd = await startSshd(tmp.dir);
    alice = operatorKey(tmp.dir, 'alice');
    fx = await startTestGateway(tmp.dir, {
      operators: { alice: { keys: [alice.publicKey] } },
      targets: { files: { address: '127.0.0.1', port: sshd.port, host_key: sshd.fingerprint, management: { user: 'root', private_key_file: sshd.mgmtKeyFile }, accounts: [ACC] } },
      grants: [{ operators: ['alice'], targets: ['files'], accounts: [ACC], file_transfer: 'approve' }],
    });
  });

  after(async () => {
    await fx?.stop();
    await sshd?.stop();
    removeAccount(ACC);
    for (const f of [remoteUp, remoteDown, remoteScp, secret, '/tmp/twt_renamed_' + process.pid]) rmSync(f, { force: true });
    tmp.cleanup();
  });

  it('an upload waits for approval, then succeeds with its SHA-256 logged', async () => {
    const c = await connectOperator(fx.gw.port, user, alice.privateKey);
    const s = await sftpOf(c);
    await assert.rejects(put(s, join(tmp.dir, 'payload.bin'), remoteUp), /approval pending/);
    assert.ok(!existsSync(remoteUp));
    const pending = approvals.list(fx.dataDir, 'pending');
    assert.equal(pending.length, 1);
    assert.deepEqual([pending[0].operator, pending[0].target, pending[0].path, pending[0].direction], ['alice', 'files', remoteUp, 'upload']);
    assert.ok(fx.events().some((e) => e.event.action === 'gateway-transfer' && e.trailwatch?.transfer?.status === 'requested' && e.event.kind === 'event'));
    assert.ok(fx.events().some((e) => e.event.kind === 'alert' && e.rule?.id === 'gateway-transfer-approval'));

    // The administrator approves with the CLI, on the same store.
    const r = await runCli(['approvals', 'approve', pending[0].id, '--by', 'admin'], { env: { TRAILWATCH_DATA_DIR: fx.dataDir } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /approved/);
    await waitFor(() => fx.events().some((e) => e.trailwatch?.transfer?.status === 'approved'), { what: 'approved event' });

    await put(s, join(tmp.dir, 'payload.bin'), remoteUp);
    assert.deepEqual(readFileSync(remoteUp), payload);
    const done = await waitFor(() => fx.events().find((e) => e.trailwatch?.transfer?.status === 'completed' && e.file?.path === remoteUp));
    assert.equal(done.file?.hash?.sha256, sha(payload));
    assert.equal(done.file?.size, payload.length);
    assert.equal(done.trailwatch?.transfer?.direction, 'upload');
    assert.equal(done.trailwatch?.transfer?.id, pending[0].id);
    c.end();
  });

  it('a denied download stays refused; an approval covers only its direction', async () => {
    const c = await connectOperator(fx.gw.port, user, alice.privateKey);
    const s = await sftpOf(c);
    const local = join(tmp.dir, 'down.txt');
    await assert.rejects(get(s, remoteUp, local), /approval pending/, 'upload approval does not cover download');
    await assert.rejects(get(s, remoteDown, local), /approval pending/);
    const req = approvals.list(fx.dataDir, 'pending').find((x) => x.path === remoteDown)!;
    const r = await runCli(['approvals', 'deny', req.id], { env: { TRAILWATCH_DATA_DIR: fx.dataDir } });
    assert.equal(r.code, 0, r.stderr);
    await assert.rejects(get(s, remoteDown, local), /approval pending/);
    await waitFor(() => fx.events().some((e) => e.trailwatch?.transfer?.status === 'denied'));
    c.end();
  });

  it('rename cannot move an approved file to an unapproved path, nor a secret onto an approved one', async () => {
    const c = await connectOperator(fx.gw.port, user, alice.privateKey);
    const s = await sftpOf(c);
    await assert.rejects(rename(s, remoteUp, '/tmp/twt_renamed_' + process.pid), /rename refused/);
    await assert.rejects(rename(s, secret, remoteUp), /rename refused/);
    assert.ok(existsSync(remoteUp) && existsSync(secret));
    assert.deepEqual(readFileSync(remoteUp), payload);
    c.end();
  });

  // scp and sftp would read the colon of operator:account@target as a host separator: the user goes in -o User=.
  it('legacy scp goes through the same approval, then is logged with its hash', async () => {
    const local = join(tmp.dir, 'scp.txt');
    writeFileSync(local, 'sent by legacy scp\n');
    const scp = () =>
      run('scp', ['-O', '-i', alice.file, '-P', String(fx.gw.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', `User=${user}`, local, `127.0.0.1:${remoteScp}`], { timeout: 30_000 });
    await assert.rejects(scp(), /approval pending/);
    assert.ok(!existsSync(remoteScp));
    const req = approvals.list(fx.dataDir, 'pending').find((x) => x.path === remoteScp);
    assert.ok(req, 'scp created the same kind of request');
    approvals.approve(fx.dataDir, req.id, { by: 'test' });
    await scp();
    assert.equal(readFileSync(remoteScp, 'utf8'), 'sent by legacy scp\n');
    const done = await waitFor(() => fx.events().find((e) => e.trailwatch?.transfer?.status === 'completed' && e.file?.path === remoteScp));
    assert.equal(done.file?.hash?.sha256, sha('sent by legacy scp\n'));
    assert.equal(done.event.reason, 'scp');
  });

  it('the real sftp client sees the pending message too', async () => {
    const batch = join(tmp.dir, 'batch');
    writeFileSync(batch, `get ${secret} ${join(tmp.dir, 'stolen')}\n`);
    await assert.rejects(
      run('sftp', ['-b', batch, '-i', alice.file, '-P', String(fx.gw.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', `User=${user}`, '127.0.0.1'], { timeout: 30_000 }),
      (err: Error & { stderr?: string }) => /approval pending|Permission denied/i.test(err.stderr ?? err.message),
    );
    assert.ok(!existsSync(join(tmp.dir, 'stolen')));
  });
});
