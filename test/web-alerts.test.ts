// The alerts inbox in real headless Chromium against `trailwatch run`: real
// `logger` lines (and one hand-made line with a hostile host name) raise a
// brute-force alert; an analyst finds it, sees the events that raised it,
// acknowledges it with a note, resolves it in bulk; every change is in its
// history and goes out as an ECS event. Values from log lines render as text
// on every page, and a POST without the CSRF token changes nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { newToken } from '../src/web/auth.js';
import { StoreReader } from '../src/store/index.js';
import type { StoredAlert } from '../src/store/index.js';
import { freePort, startCli, tempDir, waitFor } from './helpers.js';
import { launchChromium } from './web-browser.js';

const XSS_USER = '<svg/onload=window.pwned=1>';
const XSS_HOST = '<img/src=x/onerror=window.pwned=2>';
const SOURCE = '203.0.113.77';

/** The RFC 3164 timestamp of now ("Dec  7 13:05:09"), local time as syslog writes it. */
function rfc3164Now(): string {
  const d = new Date();
  const mon = d.toLocaleString('en-US', { month: 'short' });
  const p = (n: number) => String(n).padStart(2, '0');
  return `${mon} ${String(d.getDate()).padStart(2, ' ')} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

describe('web > alerts inbox in chromium, on the embedded store of trailwatch run', () => {
  const tmp = tempDir('tw-web-alerts-');
  const admin = newToken();
  let base = '';
  let cli: ChildProcess | undefined;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  let alertId = '';
  const api = async <T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> => {
    const r = await fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${admin.token}`, ...(init.headers ?? {}) } });
    return { status: r.status, body: (await r.json()) as T };
  };
  const assertNotRun = async () => assert.equal(await page.evaluate('window.pwned'), undefined, 'no script from a log line ran');

  before(async () => {
    const [webPort, syslogPort] = [await freePort(), await freePort()];
    base = `http://127.0.0.1:${webPort}`;
    const cfg = join(tmp.dir, 'trailwatch.yaml');
    writeFileSync(
      cfg,
      JSON.stringify({
        data_dir: tmp.dir,
        log_level: 'info',
        http: { host: '127.0.0.1', port: 0 },
        syslog: { host: '127.0.0.1', udp: { enabled: false }, tcp: { port: syslogPort } },
        session_log: { enabled: false },
        store: { enabled: true },
        sinks: { webhook: { enabled: false } },
        // No web.enabled: run serves the console because there is an administrator.
        web: { port: webPort, public_url: base, admins: [{ name: 'carol', token_sha256: admin.sha256 }] },
      }),
    );
    const started = await startCli(['-c', cfg, 'run'], { ready: /syslog listening[\s\S]*web console listening|web console listening[\s\S]*syslog listening/, timeoutMs: 30_000 });
    cli = started.child;
    assert.match(started.logs(), new RegExp(`console at ${base.replace(/[.]/g, '\\.')}`), 'run says where the console is');
    // A sender can put anything in the host field: first, one line as a hostile host would write it.
    await new Promise<void>((resolve, reject) => {
      const s = connect(syslogPort, '127.0.0.1', () => s.end(`<38>${rfc3164Now()} ${XSS_HOST} sshd[4242]: Failed password for invalid user ${XSS_USER} from ${SOURCE} port 41999 ssh2\n`, () => resolve()));
      s.on('error', reject);
    });
    // sshd's "Failed %s for %s%.100s from %.200s port %d ssh2", for a user name that is markup.
    for (let i = 0; i < 4; i++)
      execFileSync('logger', ['--tcp', '-n', '127.0.0.1', '-P', String(syslogPort), '--rfc3164', '-t', 'sshd', '-i', `Failed password for invalid user ${XSS_USER} from ${SOURCE} port ${41000 + i} ssh2`]);
    const got = await waitFor(
      async () => {
        const r = await api<{ alerts: StoredAlert[] }>('/api/alerts');
        return r.body.alerts.find((a) => a.alert.source?.ip === SOURCE);
      },
      { timeoutMs: 30_000, what: () => `an alert for ${SOURCE}; logs:\n${started.logs().slice(-3000)}` },
    );
    alertId = got.alert.event.id!;
    browser = await launchChromium();
    page = await browser.ctx.newPage();
  });

  after(async () => {
    await browser?.close();
    cli?.kill('SIGTERM');
    tmp.cleanup();
  });

  it('after login the console opens on the overview; the inbox lists the alert, newest first, as text', async () => {
    await page.goto(`${base}/`);
    await page.fill('input[name=token]', admin.token);
    await page.click('form.login button[type=submit]');
    await page.waitForURL(/\/overview$|\/sessions$/);
    await page.goto(`${base}/`);
    await page.waitForURL(`${base}/overview`);
    await page.goto(`${base}/alerts`);
    const row = page.locator(`tr[data-alert="${alertId}"]`);
    assert.equal(await row.count(), 1);
    assert.equal(await row.locator('td.status').innerText(), 'new');
    assert.match(await row.innerText(), /203\.0\.113\.77/);
    await assertNotRun();
  });

  it('filters by status, rule and source address', async () => {
    const rule = (await api<{ alerts: StoredAlert[] }>(`/api/alerts`)).body.alerts.find((a) => a.alert.event.id === alertId)!.alert.rule.id;
    await page.goto(`${base}/alerts?status=resolved`);
    assert.equal(await page.locator(`tr[data-alert="${alertId}"]`).count(), 0);
    await page.goto(`${base}/alerts?rule=${encodeURIComponent(rule)}&source=${SOURCE}`);
    assert.equal(await page.locator(`tr[data-alert="${alertId}"]`).count(), 1);
    await page.goto(`${base}/alerts?source=198.51.100.1`);
    assert.equal(await page.locator('table.alerts tbody tr').count(), 0);
  });

  it('shows the events that raised it, with the hostile host name and user name as text', async () => {
    await page.goto(`${base}/alerts`);
    await page.click(`tr[data-alert="${alertId}"] a`);
    await page.waitForURL(`${base}/alerts/${encodeURIComponent(alertId)}`);
    const events = page.locator('table.events tbody tr');
    assert.equal(await events.count(), 5, 'the five failures the rule counted');
    const text = await page.locator('table.events').innerText();
    assert.ok(text.includes(XSS_HOST), 'the host name shows as written');
    assert.ok(text.includes(XSS_USER));
    assert.equal(await page.locator('table.events img, table.events svg').count(), 0, 'no element made from a log line');
    await assertNotRun();
  });

  it('acknowledges with a note: status, history and the exported ECS event', async () => {
    await page.selectOption('form.triage select[name=status]', 'acknowledged');
    await page.fill('form.triage input[name=note]', `checking ${XSS_USER}`);
    await page.click('form.triage button[type=submit]');
    await page.waitForURL(/notice=/);
    assert.match(await page.locator('dd.status').innerText(), /^acknowledged by carol/);
    const history = await page.locator('ol.history li').allInnerTexts();
    assert.equal(history.length, 1);
    assert.ok(history[0].includes('carol') && history[0].includes(`checking ${XSS_USER}`), history[0]);
    await assertNotRun();
    const viaApi = await api<{ alerts: StoredAlert[] }>('/api/alerts?status=acknowledged');
    assert.deepEqual(viaApi.body.alerts.map((a) => a.alert.event.id), [alertId]);
  });

  it('resolves a selection in bulk from the inbox', async () => {
    await page.goto(`${base}/alerts`);
    await page.check(`tr[data-alert="${alertId}"] input[type=checkbox]`);
    await page.selectOption('form.bulk select[name=status]', 'resolved');
    await page.click('form.bulk button[type=submit]');
    await page.waitForURL(/notice=/);
    assert.match(await page.locator('.notice').innerText(), /1 alert\(s\) set to resolved/);
    assert.match(await page.locator(`tr[data-alert="${alertId}"] td.status`).innerText(), /^resolved \(carol\)$/);
    const one = await api<{ history: { by: string; status: string }[] }>(`/api/alerts/${encodeURIComponent(alertId)}`);
    assert.deepEqual(one.body.history.map((h) => [h.by, h.status]), [['carol', 'acknowledged'], ['carol', 'resolved']]);
    // Each change is an event on the events topic, so the store (and Elasticsearch) have it.
    const reader = new StoreReader(join(tmp.dir, 'store', 'trailwatch.db'));
    const exported = await waitFor(() => {
      const r = reader.search({ where: 'action = ?', params: ['alert-status-changed'] }, {});
      return r.total === 2 ? r.events : undefined;
    });
    reader.close();
    assert.deepEqual(exported.map((e) => [e.user?.name, (e.trailwatch?.triage as { alert_id: string; status: string }).status, (e.trailwatch?.triage as { alert_id: string }).alert_id]), [
      ['carol', 'resolved', alertId],
      ['carol', 'acknowledged', alertId],
    ]);
  });

  it('the API changes status with the bearer token and refuses a status it does not know', async () => {
    const bad = await api<{ error: string }>(`/api/alerts/${encodeURIComponent(alertId)}/status`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 'ignored' }) });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /status must be one of new, acknowledged, resolved, false_positive/);
    const ok = await api<{ changed: { from: string; to: string }[] }>(`/api/alerts/${encodeURIComponent(alertId)}/status`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 'false_positive', note: 'test rig' }) });
    assert.deepEqual(ok.body.changed.map((c) => [c.from, c.to]), [['resolved', 'false_positive']]);
    assert.equal((await api('/api/alerts/no-such-alert/status', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 'resolved' }) })).status, 404);
  });

  it('search: the alert links its events into search; KQL on fields and free text; markup as text; errors point at the column', async () => {
    await page.goto(`${base}/alerts/${encodeURIComponent(alertId)}`);
    await page.click('a:has-text("Open in search")');
    await page.waitForURL(/\/search\?q=event\.id/);
    assert.equal(await page.locator('table.results tbody tr').count(), 5);
    const ids = await page.locator('table.results tbody tr').evaluateAll((rs) => rs.map((r) => r.getAttribute('data-event')));
    assert.equal(new Set(ids).size, 5);
    // A field query and a phrase in the message, from the query bar.
    await page.fill('form.query input[name=q]', `user.name:"${XSS_USER}" and "Failed password" and not source.port < 41002`);
    await page.click('form.query button[type=submit]');
    await page.waitForURL(/\/search\?q=user\.name/);
    // ports 41002, 41003 (logger) and 41999 (the hand-made line)
    assert.equal(await page.locator('table.results tbody tr').count(), 3);
    assert.match(await page.locator('p.total').innerText(), /^3 event\(s\)/);
    const bars = await page.locator('svg.histogram rect').evaluateAll((rs) => rs.reduce((s, r) => s + Number(r.getAttribute('data-count')), 0));
    assert.equal(bars, 3, 'the histogram counts the same matches');
    assert.ok((await page.locator('table.results').innerText()).includes(XSS_HOST));
    assert.equal(await page.locator('table.results img, table.results svg').count(), 0);
    await page.locator('table.results tbody tr').first().locator('summary').click();
    assert.match(await page.locator('table.results tbody tr').first().locator('details pre').innerText(), /"event": \{/);
    await assertNotRun();
    // A query that does not parse: the message names the column, the caret points at it.
    await page.goto(`${base}/search?q=${encodeURIComponent('user.name:(root or')}`);
    const err = await page.locator('.error').innerText();
    assert.match(err, /column \d+:/);
    const api = await fetch(`${base}/api/search?q=${encodeURIComponent('user.name:(root or')}`, { headers: { authorization: `Bearer ${admin.token}` } });
    assert.equal(api.status, 400);
    const body = (await api.json()) as { column: number; error: string };
    assert.ok(body.column > 0 && err.includes(`column ${body.column}:`));
  });

  it('the search API answers the same query with events, total and histogram', async () => {
    const r = await api<{ total: number; events: { source?: { port?: number } }[]; histogram: { count: number }[] }>(`/api/search?q=${encodeURIComponent(`source.ip:${SOURCE} and source.port >= 41003`)}&range=1h`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.events.map((e) => e.source?.port).sort(), [41003, 41999]);
    assert.equal(r.body.total, 2);
    assert.equal(r.body.histogram.reduce((s, b) => s + b.count, 0), 2);
  });

  it('the overview charts failed logins and lists the top source, the user as text, and the alert by rule', async () => {
    await page.goto(`${base}/overview`);
    await page.waitForFunction('Number(document.body.dataset.loaded) >= 1');
    assert.ok(Number(await page.locator('#failed-logins').getAttribute('data-total')) >= 5, 'the failed logins in the chart');
    assert.ok((await page.locator('#failed-logins canvas').count()) >= 1, 'drawn by uPlot');
    assert.deepEqual(await page.locator('#top-sources tbody tr').first().locator('td').allInnerTexts(), [SOURCE, '5']);
    assert.equal(await page.locator('#top-users tbody tr').first().locator('td').first().innerText(), XSS_USER);
    assert.equal(await page.locator('#top-users svg, #top-users img').count(), 0);
    const rule = await page.locator('#alerts-by-rule tbody tr').first().locator('td').allInnerTexts();
    assert.equal(rule[1], '1');
    assert.match(await page.locator('#ingest').innerText(), /messages received since start/);
    await assertNotRun();
    // A source links to its failures in search.
    await page.locator('#top-sources tbody tr a').first().click();
    await page.waitForURL(/\/search\?q=source\.ip/);
    assert.equal(await page.locator('table.results tbody tr').count(), 5);
  });

  it('a cookie POST from our origin without the CSRF token changes nothing', async () => {
    const [cookie] = await browser.ctx.cookies(base);
    const r = await fetch(`${base}/alerts/${encodeURIComponent(alertId)}/status`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: `${cookie.name}=${cookie.value}`, origin: base, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ status: 'new' }).toString(),
    });
    assert.equal(r.status, 403);
    const one = await api<{ status: string }>(`/api/alerts/${encodeURIComponent(alertId)}`);
    assert.equal(one.body.status, 'false_positive');
  });
});
