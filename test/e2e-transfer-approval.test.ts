// Issue 7 "done when", end to end: a real gateway in approve mode in front of
// a real sshd; the operator's upload with the real OpenSSH `sftp` client is
// refused pending approval; an administrator approves it in `trailwatch web`
// (same data_dir, so the same approvals store) in headless chromium; the
// operator retries and the file lands on the target, its SHA-256 logged.
// Then the administrator watches an operator's live shell, and ends another
// from the Live page.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import * as approvals from '../src/gateway/approvals.js';
import { newToken } from '../src/web/auth.js';
import { freePort, startCli } from './helpers.js';
import { connectOperator, createAccount, openShell, operatorKey, removeAccount, startSshd, startTestGateway, tempDir, waitFor, type GatewayFixture, type Sshd } from './gateway-fixture.js';
import { launchChromium } from './web-browser.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The real OpenSSH sftp client in batch mode (exits non-zero on the first failed command). */
function sftpBatch(port: number, user: string, keyFile: string, batch: string): Promise<{ code: number; out: string }> {
  const args = ['-b', '-', '-P', String(port), '-i', keyFile, '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', `User=${user}`, '127.0.0.1'];
  return new Promise((resolve) => {
    const child = execFile('sftp', args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 255) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
    child.stdin!.end(batch);
  });
}

describe('e2e > transfer approved from the web console (real gateway, sshd, sftp, chromium)', () => {
  const tmp = tempDir('tw-e2e-xfer-');
  const ACC = 'twt_e2ex';
  const remote = `/tmp/twt_e2e_up_${process.pid}.bin`;
  const payload = Buffer.alloc(200_000);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 131 + 7) & 0xff;
  const local = join(tmp.dir, 'payload.bin');
  const admin = newToken();
  let sshd: Sshd;
  let fx: GatewayFixture;
  let alice: ReturnType<typeof operatorKey>;
  let web: ChildProcess | undefined;
  let base = '';
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;

  before(async () => {
    createAccount(ACC);
    writeFileSync(local, payload);
    sshd = await startSshd(tmp.dir);
    alice = operatorKey(tmp.dir, 'alice');
    fx = await startTestGateway(tmp.dir, {
      operators: { alice: { keys: [alice.publicKey] } },
      targets: { files: { address: '127.0.0.1', port: sshd.port, host_key: sshd.fingerprint, management: { user: 'root', private_key_file: sshd.mgmtKeyFile }, accounts: [ACC] } },
      grants: [{ operators: ['alice'], targets: ['files'], accounts: [ACC], file_transfer: 'approve' }],
    });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const cfg = join(tmp.dir, 'web.yaml');
    writeFileSync(cfg, JSON.stringify({ data_dir: fx.dataDir, log_level: 'info', web: { port, public_url: base, admins: [{ name: 'dana', token_sha256: admin.sha256 }] } }));
    web = (await startCli(['-c', cfg, 'web'], { ready: /web console listening/ })).child;
    browser = await launchChromium();
    page = await browser.ctx.newPage();
  });

  const logIn = async (then: string) => {
    await page.fill('input[name=token]', admin.token);
    await page.click('form.login button[type=submit]');
    await page.waitForURL(then);
  };

  after(async () => {
    await browser?.close();
    web?.kill('SIGTERM');
    await fx?.stop();
    await sshd?.stop();
    removeAccount(ACC);
    rmSync(remote, { force: true });
    tmp.cleanup();
  });

  it('refuses the upload pending approval, the admin approves it in the page, the retry lands with its SHA-256', async () => {
    const user = `alice:${ACC}@files`;
    const first = await sftpBatch(fx.gw.port, user, alice.file, `put ${local} ${remote}\n`);
    assert.notEqual(first.code, 0, `the first upload must fail: ${first.out}`);
    assert.match(first.out, /Permission denied/, 'OpenSSH sftp reports the refusal as permission denied');
    assert.ok(!existsSync(remote), 'nothing reached the target before approval');
    const [req] = approvals.list(fx.dataDir, 'pending');
    assert.ok(req, 'a pending request was persisted');
    assert.deepEqual([req.operator, req.account, req.target, req.path, req.direction], ['alice', ACC, 'files', remote, 'upload']);

    await page.goto(`${base}/approvals`);
    assert.match(page.url(), /\/login/);
    await logIn(`${base}/approvals`);
    const row = page.locator(`table.approvals.pending tr[data-request="${req.id}"]`);
    assert.match(await row.innerText(), new RegExp(remote.replace(/[.]/g, '\\.')));
    await row.locator('button.approve').click();
    await page.waitForURL(/\/approvals\?notice=/);
    assert.equal(await page.locator(`table.approvals.decided tr[data-request="${req.id}"]`).getAttribute('data-status'), 'approved');
    const decided = approvals.get(fx.dataDir, req.id);
    assert.equal(decided.status, 'approved');
    assert.equal(decided.decided_by, 'dana');

    const second = await sftpBatch(fx.gw.port, user, alice.file, `put ${local} ${remote}\n`);
    assert.equal(second.code, 0, `the approved upload must succeed: ${second.out}`);
    assert.deepEqual(readFileSync(remote), payload, 'the file on the target has the uploaded content');
    const done = await waitFor(() => fx.events().find((e) => e.trailwatch?.transfer?.status === 'completed' && e.file?.path === remote), { what: 'completed transfer event' });
    assert.equal(done.file?.hash?.sha256, sha(payload));
    assert.equal(done.file?.size, payload.length);
    assert.equal(done.trailwatch?.transfer?.id, req.id, 'the completed transfer names the approval it used');
    await waitFor(() => fx.events().some((e) => e.trailwatch?.transfer?.status === 'approved' && e.trailwatch?.transfer?.id === req.id), { what: 'approved event from the gateway' });
  });

  it('the administrator watches a live session as it happens', async () => {
    const c = await connectOperator(fx.gw.port, `alice:${ACC}@files`, alice.privateKey);
    const sh = await openShell(c);
    await sh.waitOut(/\$ $/m);
    sh.ch.write('echo before-$((20+1))\r');
    await sh.waitOut(/before-21/);
    await page.goto(`${base}/live`);
    if (/\/login/.test(page.url())) await logIn(`${base}/live`);
    const start = await waitFor(() => [...fx.events()].reverse().find((e) => e.event.action === 'gateway-session-start'));
    await page.locator(`table.live tr[data-session="${start.trailwatch!.session!.id}"] a.watch`).click();
    await page.waitForURL(/\/live\/[^/]+\/watch$/);
    const screen = () => page.locator('#player .ap-term-text').innerText().catch(() => '');
    await waitFor(async () => (await screen()).includes('before-21'), { what: 'the screen so far in the player' });
    sh.ch.write('echo live-$((6*7))\r');
    await waitFor(async () => (await screen()).includes('live-42'), { what: 'new output followed live' });
    sh.ch.write('exit\r');
    await sh.closed();
    c.end();
  });

  it('the administrator ends a live session from the Live page; the operator is told why', async () => {
    const c = await connectOperator(fx.gw.port, `alice:${ACC}@files`, alice.privateKey);
    const sh = await openShell(c);
    await sh.waitOut(/\$ $/m);
    await page.goto(`${base}/live`);
    if (/\/login/.test(page.url())) await logIn(`${base}/live`);
    const start = await waitFor(() => [...fx.events()].reverse().find((e) => e.event.action === 'gateway-session-start'));
    const row = page.locator(`table.live tr[data-session="${start.trailwatch!.session!.id}"]`);
    assert.match(await row.innerText(), new RegExp(`alice\\s+${ACC}@files`));
    await row.locator('input[name=reason]').fill('change freeze');
    await row.locator('button[type=submit]').click();
    await page.waitForURL(/\/live\?notice=/);
    await sh.waitOut(/terminated by dana: change freeze/);
    await sh.closed();
    c.end();
    const ev = await waitFor(() => fx.events().find((e) => e.event.action === 'gateway-session-terminated'));
    assert.equal(ev.event.reason, 'change freeze');
    await page.goto(`${base}/live`);
    assert.equal(await page.locator('table.live tbody tr').count(), 0, 'the session is no longer live');
  });
});
