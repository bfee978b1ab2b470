// The console in real headless Chromium against `trailwatch web`: log in,
// find a session by a command it ran, play it, jump to a command marker and
// read the terminal, follow a ?t= deep link, approve a pending transfer.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Page } from 'playwright-core';
import { newToken } from '../src/web/auth.js';
import { createApprovalsStore, type ApprovalsStore } from '../src/web/approvals.js';
import { parseConfig } from '../src/config.js';
import { freePort, startCli, tempDir, waitFor } from './helpers.js';
import { launchChromium } from './web-browser.js';
import { recordShellSession, type RecordedSession } from './web-recording.js';

const playerTime = (p: Page) => p.evaluate('window.twPlayer.getCurrentTime()') as Promise<number>;

const XSS = `printf '%s\\n' '<img src=x onerror=window.pwned=1>'`;

describe('web > console in chromium', () => {
  const tmp = tempDir('tw-web-');
  // the gateway's default layout under data_dir, which the console reads by default
  const recordings = join(tmp.dir, 'gateway', 'recordings');
  let approvals: ApprovalsStore;
  const admin = newToken();
  let base = '';
  let cli: ChildProcess | undefined;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  let alice: RecordedSession;
  let second: RecordedSession;
  const cspViolations: string[] = [];

  before(async () => {
    approvals = await createApprovalsStore(parseConfig({ data_dir: tmp.dir }));
    alice = await recordShellSession(recordings, 'sess-alice-1', ['echo first-marker', 'uname -s', 'echo third-$((6*7))', XSS], { operator: 'alice', account: 'root', target: 'db1' });
    second = await recordShellSession(recordings, 'sess-alice-1', ['echo second-channel'], { operator: 'alice', account: 'root', target: 'db1', channel: 2, idleBeforeMs: 3000 });
    await recordShellSession(recordings, 'sess-bob-1', ['echo deploy-step', 'true'], { operator: 'bob', account: 'deploy', target: 'web1' });
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const cfg = join(tmp.dir, 'trailwatch.yaml');
    writeFileSync(
      cfg,
      JSON.stringify({ data_dir: tmp.dir, log_level: 'info', web: { port, public_url: base, admins: [{ name: 'carol', token_sha256: admin.sha256 }] } }),
    );
    const started = await startCli(['-c', cfg, 'web'], { ready: /web console listening/ });
    cli = started.child;
    browser = await launchChromium();
    page = await browser.ctx.newPage();
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    // every page records its CSP violations where the test can read them
    await page.addInitScript(`document.addEventListener('securitypolicyviolation', (e) => (window.__csp = window.__csp || []).push(e.violatedDirective + ' ' + e.blockedURI));`);
  });

  after(async () => {
    await browser?.close();
    cli?.kill('SIGTERM');
    tmp.cleanup();
  });

  it('sends an unauthenticated visitor to the login form and refuses a wrong token', async () => {
    await page.goto(`${base}/sessions`);
    assert.match(page.url(), /\/login\?next=%2Fsessions$/);
    await page.fill('input[name=token]', 'tw_not-the-token');
    await page.click('form.login button[type=submit]');
    assert.equal(await page.locator('.error').innerText(), 'Unknown token.');
  });

  it('logs in with the token and sets an HttpOnly SameSite=Strict cookie', async () => {
    await page.fill('input[name=token]', admin.token);
    await page.click('form.login button[type=submit]');
    await page.waitForURL(`${base}/sessions`);
    const [cookie] = await browser.ctx.cookies(base);
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(await page.evaluate('document.cookie'), '', 'the session cookie is not readable by scripts');
  });

  it('finds a session by the text of a command it ran', async () => {
    await page.fill('input[name=q]', 'UNAME');
    await page.click('form.search button[type=submit]');
    const rows = page.locator('table.sessions tbody tr');
    assert.equal(await rows.count(), 1);
    assert.equal(await rows.first().getAttribute('data-session'), 'sess-alice-1');
    assert.equal(await rows.first().locator('ul.cmds li').innerText(), 'uname -s');
    await page.fill('input[name=q]', 'deploy-step');
    await page.click('form.search button[type=submit]');
    assert.deepEqual(await page.locator('table.sessions tbody tr').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-session'))), ['sess-bob-1']);
  });

  it('filters by operator and target', async () => {
    await page.goto(`${base}/sessions?operator=alice&target=web1`);
    assert.equal(await page.locator('table.sessions tbody tr').count(), 0);
    await page.goto(`${base}/sessions?operator=bob&target=web1`);
    assert.equal(await page.locator('table.sessions tbody tr').count(), 1);
  });

  it('plays a recording and jumps to a command marker, showing the command on the terminal', async () => {
    await page.goto(`${base}/sessions/sess-alice-1`);
    const cmds = page.locator('#commands button');
    assert.deepEqual(await cmds.locator('code').allInnerTexts(), alice.commands.map((c) => c.command));
    await cmds.nth(2).click();
    const third = alice.commands[2];
    await waitFor(async () => Math.abs((await playerTime(page)) - third.offset) < 0.01, { what: 'player at the third marker' });
    const term = await waitFor(async () => {
      const t = await page.locator('#player .ap-term-text').innerText();
      return t.includes('echo third-$((6*7))') ? t : false;
    }, { what: 'command text on the terminal' });
    assert.match(term, /\$ uname -s\s+Linux/, 'output of the previous command is on screen');
    assert.doesNotMatch(term, /third-42/, 'at the marker the command has not run yet');
    assert.ok(await page.locator('#player .ap-marker-container').count() >= alice.commands.length, "the player's progress bar shows the command markers");
  });

  it("steps to the next command with the player's own marker navigation", async () => {
    await page.locator('#player .ap-term-text').focus();
    await page.keyboard.press(']');
    const fourth = alice.commands[3];
    await waitFor(async () => Math.abs((await playerTime(page)) - fourth.offset) < 0.01, { what: 'player at the fourth marker' });
    await waitFor(async () => (await page.locator('#player .ap-term-text').innerText()).includes('third-42'), { what: 'output of the third command' });
  });

  it('opens a deep link at the given second (the link alerts carry)', async () => {
    const t = alice.commands[1].offset + 0.15;
    await page.goto(`${base}/sessions/sess-alice-1?t=${t}`);
    const term = await waitFor(async () => {
      const x = await page.locator('#player .ap-term-text').innerText();
      return /uname -s\s+Linux/.test(x) ? x : false;
    }, { what: 'terminal at the deep-linked moment' });
    assert.doesNotMatch(term, /echo third/);
  });

  it("switches between a session's recordings (one per channel)", async () => {
    await page.goto(`${base}/sessions/sess-alice-1`);
    assert.equal(await page.locator('.channels strong').innerText(), 'sess-alice-1-1', 'the first channel plays by default');
    await page.click('.channels a:text("sess-alice-1-2")');
    await page.waitForURL(/rec=sess-alice-1-2/);
    assert.deepEqual(await page.locator('#commands code').allInnerTexts(), ['echo second-channel']);
    await page.locator('#commands button').first().click();
    await waitFor(async () => (await page.locator('#player .ap-term-text').innerText()).includes('second-channel'), { what: 'the second recording on the terminal' });
  });

  it("follows an alert's link (session and offset only) to the channel with a command at that moment", async () => {
    assert.ok(alice.commands.every((c) => Math.abs(c.offset - second.commands[0].offset) > 0.5), 'the channels have no command at the same moment');
    await page.goto(`${base}/sessions/sess-alice-1?t=${second.commands[0].offset}`);
    assert.equal(await page.locator('.channels strong').innerText(), 'sess-alice-1-2');
    await waitFor(async () => (await page.locator('#player .ap-term-text').innerText()).includes('echo second-channel'), { what: 'the deep-linked channel on the terminal' });
  });

  it('renders attacker-controlled command text as text, never markup', async () => {
    await page.goto(`${base}/sessions?q=onerror`);
    assert.equal(await page.locator('table.sessions img').count(), 0);
    assert.match(await page.locator('table.sessions ul.cmds').innerText(), /<img src=x onerror=window\.pwned=1>/);
    await page.goto(`${base}/sessions/sess-alice-1`);
    await page.locator('#player .ap-term-text').waitFor();
    assert.deepEqual(await page.evaluate('window.__csp || []'), [], 'the playback page runs under the CSP without violations');
    assert.equal(await page.locator('#commands img').count(), 0);
    assert.equal(await page.evaluate('window.pwned'), undefined);
    assert.deepEqual(cspViolations, [], 'no Content-Security-Policy violations on any page');
  });

  it('approves a pending transfer from the page and the store records it', async () => {
    const req = await approvals.request({ operator: 'alice', account: 'root', target: 'db1', path: '/etc/<shadow>.bak', direction: 'download', session: 'sess-alice-1' });
    const other = await approvals.request({ operator: 'bob', account: 'deploy', target: 'web1', path: '/srv/app.tar', direction: 'upload' });
    await page.goto(`${base}/approvals`);
    const row = page.locator(`table.pending tr[data-request="${req.id}"]`);
    assert.match(await row.innerText(), /alice[\s\S]*root@db1[\s\S]*\/etc\/<shadow>\.bak[\s\S]*download[\s\S]*pending/);
    await row.locator('button.approve').click();
    await page.waitForURL(/\/approvals\?notice=/);
    assert.equal((await approvals.get(req.id))?.status, 'approved');
    assert.equal((await approvals.get(req.id))?.decided_by, 'carol');
    assert.equal((await approvals.get(other.id))?.status, 'pending', 'only the clicked request changes');
    assert.match(await page.locator(`table.decided tr[data-request="${req.id}"] .status`).innerText(), /approved by carol/);
    await page.locator(`table.pending tr[data-request="${other.id}"] button.deny`).click();
    await page.waitForURL(/\/approvals\?notice=/);
    assert.equal((await approvals.get(other.id))?.status, 'denied');
  });

  it('logs out and the old cookie no longer works', async () => {
    const [before] = await browser.ctx.cookies(base);
    await page.goto(`${base}/sessions`);
    await page.click('form.logout button');
    await page.waitForURL(/\/login/);
    const r = await fetch(`${base}/sessions`, { headers: { cookie: `${before.name}=${before.value}` }, redirect: 'manual' });
    assert.equal(r.status, 303);
  });
});
