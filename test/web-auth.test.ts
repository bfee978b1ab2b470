// Console authentication and request hygiene over real HTTP: token login,
// cookie flags, CSRF (Origin) checks, bearer tokens, throttling, escaping.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { parseConfig } from '../src/config.js';
import { stageFactories } from '../src/registry.js';
import { silentLogger } from '../src/log.js';
import { createApprovalsStore, type ApprovalsStore } from '../src/web/approvals.js';
import { Auth, newToken, sameOrigin } from '../src/web/auth.js';
import { escapeHtml, html, jsonForScript } from '../src/web/html.js';
import { buildWebServer } from '../src/web/server.js';
import * as live from '../src/gateway/live.js';
import { randomUUID } from 'node:crypto';
import { FileSessionSource } from '../src/web/sources.js';
import { runCli, tempDir } from './helpers.js';

describe('web > auth and request hygiene', () => {
  const tmp = tempDir('tw-web-auth-');
  const admin = newToken();
  let store: ApprovalsStore;
  let app: FastifyInstance;
  let base = '';
  const publicUrl = 'http://console.example:8081';

  before(async () => {
    const config = parseConfig({ data_dir: tmp.dir, web: { public_url: publicUrl, admins: [{ name: 'dana', token_sha256: admin.sha256 }] } });
    store = await createApprovalsStore(config);
    app = buildWebServer({ config: config.web, sessions: new FileSessionSource(join(tmp.dir, 'recordings')), recordingsDir: join(tmp.dir, 'recordings'), approvals: store, dataDir: tmp.dir, log: silentLogger() });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  });
  after(async () => {
    await app.close();
    tmp.cleanup();
  });

  const form = (o: Record<string, string>) => new URLSearchParams(o).toString();
  async function login(origin = publicUrl): Promise<Response> {
    return fetch(`${base}/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', origin }, body: form({ token: admin.token, next: '/approvals' }) });
  }
  async function cookie(): Promise<string> {
    const r = await login();
    assert.equal(r.status, 303);
    return r.headers.get('set-cookie')!.split(';')[0];
  }
  /** The CSRF token the console's forms carry for this login. */
  async function csrf(c: string): Promise<string> {
    const page = await (await fetch(`${base}/approvals`, { headers: { cookie: c } })).text();
    return /name="_csrf" value="([^"]+)"/.exec(page)![1];
  }
  const formPost = (token: string, more: Record<string, string> = {}) => ({ 'content-type': 'application/x-www-form-urlencoded', body: form({ _csrf: token, ...more }) });

  it('sets an HttpOnly SameSite=Strict cookie and redirects to the requested page', async () => {
    const r = await login();
    assert.equal(r.headers.get('location'), '/approvals');
    const sc = r.headers.get('set-cookie')!;
    assert.match(sc, /HttpOnly/);
    assert.match(sc, /SameSite=Strict/);
    assert.doesNotMatch(sc, /Secure/, 'plain-http public_url: no Secure flag, or the browser would drop it');
  });

  it('refuses a login posted from another origin (login CSRF)', async () => {
    const r = await login('http://evil.example');
    assert.equal(r.status, 403);
    assert.equal(r.headers.get('set-cookie'), null);
  });

  it('never redirects off-site after login', async () => {
    for (const next of ['//evil.example/x', 'https://evil.example', '/\\evil.example']) {
      const r = await fetch(`${base}/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: publicUrl }, body: form({ token: admin.token, next }) });
      assert.equal(r.headers.get('location'), '/sessions', next);
    }
  });

  it('refuses a cookie-authenticated POST without our Origin, and leaves the request pending', async () => {
    const c = await cookie();
    const token = await csrf(c);
    const { body, ...ct } = formPost(token);
    const req = await store.request({ operator: 'eve', account: 'root', target: 'db1', path: '/etc/passwd', direction: 'download' });
    for (const headers of [{ origin: 'http://evil.example' }, {}, { referer: 'http://evil.example/page' }] as Record<string, string>[]) {
      const r = await fetch(`${base}/approvals/${req.id}/approve`, { method: 'POST', redirect: 'manual', headers: { cookie: c, ...ct, ...headers }, body });
      assert.equal(r.status, 403, JSON.stringify(headers));
    }
    // Our Origin but no token, a wrong one, or another login's: refused too.
    const other = await csrf(await cookie());
    for (const t of [undefined, 'x'.repeat(43), other]) {
      const r = await fetch(`${base}/approvals/${req.id}/approve`, { method: 'POST', redirect: 'manual', headers: { cookie: c, origin: publicUrl, ...ct }, body: t === undefined ? '' : form({ _csrf: t }) });
      assert.equal(r.status, 403, String(t));
    }
    assert.equal((await store.get(req.id))?.status, 'pending');
    const ok = await fetch(`${base}/approvals/${req.id}/approve`, { method: 'POST', redirect: 'manual', headers: { cookie: c, referer: `${publicUrl}/approvals`, ...ct }, body });
    assert.equal(ok.status, 303);
    assert.equal((await store.get(req.id))?.status, 'approved');
    const again = await fetch(`${base}/approvals/${req.id}/deny`, { method: 'POST', redirect: 'manual', headers: { cookie: c, origin: publicUrl, ...ct }, body });
    assert.equal(again.status, 409, 'a decided request cannot be decided again');
    assert.equal((await store.get(req.id))?.status, 'approved');
  });

  it('accepts a bearer token from scripts, and nothing else', async () => {
    const req = await store.request({ operator: 'eve', account: 'root', target: 'db1', path: '/tmp/x', direction: 'upload' });
    const bad = await fetch(`${base}/approvals/${req.id}/deny`, { method: 'POST', redirect: 'manual', headers: { authorization: 'Bearer tw_wrong' } });
    assert.equal(bad.status, 401);
    const good = await fetch(`${base}/approvals/${req.id}/deny`, { method: 'POST', redirect: 'manual', headers: { authorization: `Bearer ${admin.token}` } });
    assert.equal(good.status, 303);
    assert.equal((await store.get(req.id))?.status, 'denied');
    assert.equal((await store.get(req.id))?.decided_by, 'dana');
  });

  it('ends a live session only for an authenticated same-origin request, and 404s one that is not live', async () => {
    const id = randomUUID();
    live.register(tmp.dir, { id, operator: 'eve', account: 'root', target: 'db1', source_ip: '198.51.100.7', started_at: new Date().toISOString() });
    const post = (headers: Record<string, string>, target = id, token?: string) =>
      fetch(`${base}/live/${target}/terminate`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: form({ reason: 'stop', ...(token ? { _csrf: token } : {}) }) });
    assert.equal((await post({})).status, 401);
    const c = await cookie();
    const token = await csrf(c);
    assert.equal((await post({ cookie: c, origin: 'http://evil.example' }, id, token)).status, 403);
    assert.equal((await post({ cookie: c, origin: publicUrl })).status, 403, 'no CSRF token');
    assert.equal(live.terminationOf(tmp.dir, id), null, 'nothing asked of the gateway yet');
    assert.equal((await post({ cookie: c, origin: publicUrl }, id, token)).status, 303);
    assert.deepEqual([live.terminationOf(tmp.dir, id)?.by, live.terminationOf(tmp.dir, id)?.reason], ['dana', 'stop']);
    const page = await (await fetch(`${base}/live`, { headers: { cookie: c } })).text();
    assert.match(page, /terminating \(dana\)/);
    assert.equal((await post({ authorization: `Bearer ${admin.token}` }, randomUUID())).status, 404);
    live.unregister(tmp.dir, id);
  });

  it('answers 401 for recordings and 404 for ids that try to leave the recordings folder', async () => {
    assert.equal((await fetch(`${base}/sessions/x/recording.cast`)).status, 401);
    const c = await cookie();
    for (const id of ['..%2F..%2Fetc%2Fpasswd', '.hidden', 'a%00b']) {
      const r = await fetch(`${base}/sessions/${id}/recording.cast`, { headers: { cookie: c } });
      assert.equal(r.status, 404, id);
    }
  });

  it('sends the CSP and hardening headers on every response', async () => {
    for (const path of ['/login', '/assets/console.js', '/sessions']) {
      const r = await fetch(`${base}${path}`, { redirect: 'manual' });
      assert.match(r.headers.get('content-security-policy') ?? '', /default-src 'none'.*script-src 'self' 'wasm-unsafe-eval'.*frame-ancestors 'none'/, path);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    }
    const player = await fetch(`${base}/assets/asciinema-player.min.js`);
    assert.equal(player.status, 200);
    assert.match(await player.text(), /AsciinemaPlayer/, 'the player is served from node_modules, not a CDN');
  });

  it('throttles repeated failed logins from one address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) {
      const r = await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: publicUrl }, body: form({ token: `tw_guess_${i}` }) });
      statuses.push(r.status);
    }
    assert.deepEqual(statuses, [...Array(10).fill(401), 429]);
    assert.equal((await login()).status, 429, 'even the right token waits out the lockout');
  });
});

describe('web > auth > sessions and tokens', () => {
  it('expires sessions after the configured lifetime', () => {
    let now = 1_000_000;
    const t = newToken();
    const auth = new Auth({ admins: [{ name: 'a', token_sha256: t.sha256 }], session_ttl_minutes: 1 }, () => now);
    const admin = auth.checkToken(t.token);
    assert.deepEqual(admin, { name: 'a' });
    const s = auth.login(admin!);
    assert.deepEqual(auth.session(s.id), { name: 'a' });
    now += 61_000;
    assert.equal(auth.session(s.id), undefined);
    assert.equal(auth.checkToken(t.sha256), undefined, 'the stored hash is not itself a token');
  });

  it('checks Origin, then Referer, and refuses when neither is present', () => {
    const ok = new Set(['https://tw.example']);
    assert.equal(sameOrigin({ origin: 'https://tw.example' }, ok), true);
    assert.equal(sameOrigin({ origin: 'https://tw.example.evil' }, ok), false);
    assert.equal(sameOrigin({ referer: 'https://tw.example/approvals' }, ok), true);
    assert.equal(sameOrigin({ referer: 'not a url' }, ok), false);
    assert.equal(sameOrigin({}, ok), false);
  });
});

describe('web > escaping', () => {
  it('escapes every interpolation and keeps nested html', () => {
    const cmd = `"><script>alert('x')</script>&`;
    assert.equal(html`<td title="${cmd}">${cmd}</td>`.value, '<td title="&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;">&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;</td>');
    assert.equal(html`<ul>${['<a>', html`<li>${'<b>'}</li>`]}</ul>`.value, '<ul>&lt;a&gt;<li>&lt;b&gt;</li></ul>');
    assert.equal(escapeHtml('`'), '&#96;');
  });

  it('keeps JSON for a script block from closing the element', () => {
    const s = jsonForScript({ c: '</script><!-- \u2028' }).value;
    assert.doesNotMatch(s, /<|>/);
    assert.deepEqual(JSON.parse(s), { c: '</script><!-- \u2028' });
  });
});

describe('web > config', () => {
  it('defaults to 127.0.0.1:8081 and checks token hashes', () => {
    const c = parseConfig({});
    assert.equal(c.web.port, 8081);
    assert.equal(c.web.host, '127.0.0.1');
    assert.equal(c.web.source, 'auto');
    assert.throws(() => parseConfig({ web: { admins: [{ name: 'x', token_sha256: 'abc' }] } }), /web\.admins\[0\]\.token_sha256: expected 64 lowercase hex/);
    assert.throws(() => parseConfig({ web: { public_url: 'ftp://x' } }), /web\.public_url/);
  });

  it('`trailwatch web` refuses to start with no administrators (exit 2)', async () => {
    const r = await runCli(['web', '--port', '0']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /web\.admins: at least one administrator/);
  });
});

describe('web > recordings on disk', () => {
  it('reads the gateway metadata when present and falls back to the cast header and markers', async () => {
    const { writeFileSync } = await import('node:fs');
    const { readSession, markersFromCast, findRecordings } = await import('../src/web/recordings.js');
    const tmp = tempDir('tw-rec-read-');
    try {
      const cast = [JSON.stringify({ version: 2, width: 80, height: 24, timestamp: 1_700_000_000 }), '[0.5,"o","$ "]', '[1.25,"m","ls -la"]', '[2,"o","x"]', '[3.5,"m","[blocked] rm -rf /"]', '[4,"o",'].join('\n');
      writeFileSync(join(tmp.dir, 'ab12-1.cast'), cast);
      assert.deepEqual(markersFromCast(cast), [{ offset: 1.25, command: 'ls -la' }, { offset: 3.5, command: 'rm -rf /', blocked: true }], 'a torn last line is skipped; [blocked] labels are blocked commands');
      assert.deepEqual(readSession(tmp.dir, 'ab12-1'), { id: 'ab12-1', recording: 'ab12-1', operator: undefined, account: undefined, target: undefined, started_at: '2023-11-14T22:13:20.000Z', ended_at: undefined, commands: markersFromCast(cast) });
      writeFileSync(join(tmp.dir, 'ab12-1.json'), JSON.stringify({ session: 'ab12', channel: 1, operator: 'op', account: 'root', target: 'h', started: '2024-01-01T00:00:00.000Z', ended: '2024-01-01T00:01:00.000Z', commands: [{ offset: 1, line: 'sudo -i', verdict: 'blocked' }, { offset: 2, line: 'id', verdict: 'alerted' }] }));
      const s = readSession(tmp.dir, 'ab12-1')!;
      assert.equal(s.id, 'ab12');
      assert.equal(s.operator, 'op');
      assert.equal(s.ended_at, '2024-01-01T00:01:00.000Z');
      assert.deepEqual(s.commands, [{ offset: 1, command: 'sudo -i', blocked: true }, { offset: 2, command: 'id' }]);
      for (const f of ['ab12-10.cast', 'ab12-2.cast', 'ab12-x.cast', 'ab123-1.cast']) writeFileSync(join(tmp.dir, f), cast);
      assert.deepEqual(findRecordings(tmp.dir, 'ab12'), ['ab12-1', 'ab12-2', 'ab12-10'], 'channels in order, no look-alikes');
      assert.throws(() => readSession(tmp.dir, '../etc/passwd'), /invalid session id/);
    } finally {
      tmp.cleanup();
    }
  });

  it('refuses a public_url with a path', () => {
    assert.throws(() => parseConfig({ web: { public_url: 'https://tw.example/console' } }), /web\.public_url: expected scheme:\/\/host\[:port\] with no path/);
    assert.equal(parseConfig({ web: { public_url: 'https://tw.example' } }).web.public_url, 'https://tw.example');
  });
});

describe('web > embedded in trailwatch run', () => {
  it('run serves the console once there is an administrator, unless web.enabled is false', () => {
    const admins = [{ name: 'x', token_sha256: 'a'.repeat(64) }];
    const inRun = (web: Record<string, unknown>) => stageFactories.web.embedded(parseConfig({ web }));
    assert.equal(inRun({}), false, 'no administrator: nobody could log in');
    assert.equal(inRun({ admins }), true);
    assert.equal(inRun({ admins, enabled: false }), false);
    assert.equal(inRun({ enabled: true }), true);
  });

  it('starts with the pipeline when web.enabled and serves the login page', async () => {
    const { startPipeline } = await import('../src/pipeline.js');
    const { freePort } = await import('./helpers.js');
    const tmp = tempDir('tw-web-run-');
    const port = await freePort();
    const t = newToken();
    const config = parseConfig({ data_dir: tmp.dir, http: { port: 0, host: '127.0.0.1' }, syslog: { udp: { enabled: false }, tcp: { enabled: false } }, journal: { enabled: false }, web: { enabled: true, port, admins: [{ name: 'x', token_sha256: t.sha256 }] } });
    const running = await startPipeline(config, { log: silentLogger() });
    try {
      const r = await fetch(`http://127.0.0.1:${port}/login`);
      assert.equal(r.status, 200);
      assert.match(await r.text(), /Access token/);
      assert.ok(running.stages.some((s) => s.name === 'web'));
    } finally {
      await running.stop();
      tmp.cleanup();
    }
  });
});
