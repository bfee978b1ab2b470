// Issue 6 "done when", end to end with rsyslog: a real target sshd logs (AUTH,
// `-E` to a file), a real rsyslogd reads that file (imfile) and forwards it
// over TCP to `trailwatch run`, which also receives the gateway's session log
// over HTTP. A direct password login to a managed account raises the
// "did not come through the gateway" alert; a login through the gateway does
// not. A command the gateway blocks reaches the pipeline's alerts, and
// `trailwatch web` lists it on the session's page.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import ssh2 from 'ssh2';
import type { TwEvent } from '../src/event.js';
import { newToken } from '../src/web/auth.js';
import { freePort, startCli, startLoopbackRun } from './helpers.js';
import { forwardFile, type Rsyslog } from './rsyslog-helpers.js';
import { connectOperator, createAccount, execOn, openShell, operatorKey, removeAccount, startSshd, startTestGateway, tempDir, waitFor, type GatewayFixture, type Sshd } from './gateway-fixture.js';

const BYPASS_RULE = 'managed-account-direct-login'; // rules/default/collation.yaml
const HOST_BYPASS_RULE = 'gateway-host-bypass'; // rules/default/collation.yaml
/** The host-bypass rule's window, tuned down from 1m by a rule patch in the run's rules.dirs. */
const HOST_BYPASS_WINDOW_MS = 4000;
const DIRECT_FROM = '127.0.0.2'; // the gateway reaches the target from 127.0.0.1

function readNdjson(dir: string): TwEvent[] {
  if (!existsSync(dir)) return [];
  const out: TwEvent[] = [];
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.ndjson')) continue;
    for (const l of readFileSync(join(dir, f), 'utf8').split('\n')) if (l) out.push(JSON.parse(l) as TwEvent);
  }
  return out;
}

/** A key login from the gateway's own address (someone on the gateway host with the management key); resolves with the client's port. */
function keyLoginFromGatewayHost(port: number, username: string, privateKey: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' });
    sock.once('error', reject);
    sock.once('connect', () => {
      const local = sock.localPort!;
      const c = new ssh2.Client();
      c.on('ready', () => {
        c.end();
        resolve(local);
      });
      c.on('error', reject);
      c.connect({ sock, username, privateKey, hostVerifier: () => true, readyTimeout: 20_000 });
    });
  });
}

function directPasswordLogin(port: number, username: string, password: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('ready', () => {
      c.end();
      resolve();
    });
    c.on('error', reject);
    c.connect({ host: '127.0.0.1', port, localAddress: DIRECT_FROM, username, password, tryKeyboard: false, hostVerifier: () => true, readyTimeout: 20_000 });
  });
}

const bypassAlerts = (alerts: TwEvent[]) => alerts.filter((a) => a.rule?.id === BYPASS_RULE);
const mentions = (a: TwEvent, ip: string) => a.source?.ip === ip || JSON.stringify(a.trailwatch?.alert?.group ?? {}).includes(ip) || (a.related?.ip ?? []).includes(ip);

describe('e2e > collation with rsyslog: direct logins to managed accounts are alerted, gateway logins are not', () => {
  const tmp = tempDir('tw-e2e-coll-');
  const ACC = 'twt_e2ec';
  const token = randomBytes(16).toString('hex');
  const runDir = join(tmp.dir, 'run');
  const sshdLog = join(tmp.dir, 'sshd.log');
  const rulesDir = join(tmp.dir, 'rules');
  let sshd: Sshd;
  let fx: GatewayFixture;
  let run: ChildProcess | undefined;
  let web: ChildProcess | undefined;
  let rsyslog: Rsyslog | undefined;
  let bob: ReturnType<typeof operatorKey>;
  let runLogs = () => '';

  before(async () => {
    createAccount(ACC);
    const [httpPort, syslogPort] = [await freePort(), await freePort()];
    mkdirSync(rulesDir);
    writeFileSync(join(rulesDir, 'tune.yaml'), `- rule: ${HOST_BYPASS_RULE}\n  window: ${HOST_BYPASS_WINDOW_MS}ms\n`);
    // root is the gateway's management user here: listed, so its logins from the gateway are collated too
    const started = await startLoopbackRun(tmp.dir, { dataDir: runDir, httpPort, syslogPort, token, rules: { gateway_addresses: ['127.0.0.1'], managed_accounts: [ACC, 'root'], dirs: [rulesDir] } });
    run = started.child;
    runLogs = started.logs;
    sshd = await startSshd(tmp.dir, { logFile: sshdLog });
    rsyslog = forwardFile(tmp.dir, sshdLog, syslogPort);
    bob = operatorKey(tmp.dir, 'bob');
    fx = await startTestGateway(
      tmp.dir,
      {
        operators: { bob: { keys: [bob.publicKey] } },
        targets: { app1: { address: '127.0.0.1', port: sshd.port, host_key: sshd.fingerprint, management: { user: 'root', private_key_file: sshd.mgmtKeyFile }, accounts: [ACC] } },
        grants: [{ operators: ['bob'], targets: ['app1'], accounts: [ACC] }],
        command_rules: [{ id: 'no-shadow', glob: '*/etc/shadow*', action: 'block', severity: 'critical', description: 'Reading the shadow file' }],
      },
      { session_log: { url: `http://127.0.0.1:${httpPort}`, token, flush_ms: 100 } },
    );
  });

  after(async () => {
    web?.kill('SIGTERM');
    await fx?.stop();
    await rsyslog?.stop();
    await sshd?.stop();
    run?.kill('SIGTERM');
    removeAccount(ACC);
    tmp.cleanup();
  });

  const events = () => readNdjson(join(runDir, 'events'));
  const alerts = () => readNdjson(join(runDir, 'alerts'));
  const what = (w: string) => `${w}; sshd log:\n${sshd.logs().slice(-2000)}\ntrailwatch run:\n${runLogs().slice(-3000)}`;

  it('a direct password login from another address raises the bypass alert', async () => {
    const password = randomBytes(18).toString('base64url');
    execFileSync('chpasswd', [], { input: `${ACC}:${password}\n` }); // stdin, not argv
    await directPasswordLogin(sshd.port, ACC, password);
    const login = await waitFor(
      () => events().find((e) => e.event.action === 'ssh-login' && e.event.outcome === 'success' && e.user?.name === ACC && e.source?.ip === DIRECT_FROM),
      { timeoutMs: 30_000, what: what('the direct login event, via rsyslog') },
    );
    assert.equal(login.trailwatch?.collation?.verdict, 'direct');
    assert.equal(login.log?.syslog?.appname, 'sshd', 'the event came through the syslog path');
    const alert = await waitFor(() => bypassAlerts(alerts()).find((a) => mentions(a, DIRECT_FROM)), { timeoutMs: 30_000, what: what('the bypass alert') });
    assert.equal(alert.user?.name, ACC);
    assert.equal(alert.event.kind, 'alert');
  });

  it('a login through the gateway is collated as such and raises no bypass alert', async () => {
    const c = await connectOperator(fx.gw.port, `bob:${ACC}@app1`, bob.privateKey);
    const r = await execOn(c, 'id -un');
    c.end();
    assert.equal(r.stdout.trim(), ACC);
    // The session log reached the pipeline over HTTP ...
    await waitFor(() => events().find((e) => e.event.action === 'gateway-session-start' && e.trailwatch?.session?.account === ACC), { timeoutMs: 30_000, what: what('the gateway session start in the pipeline') });
    // ... and the target's own record of that login came through rsyslog, collated as the gateway's.
    const viaGateway = await waitFor(
      () => events().filter((e) => e.event.action === 'ssh-login' && e.event.outcome === 'success' && e.user?.name === ACC && e.source?.ip === '127.0.0.1'),
      { timeoutMs: 30_000, what: what('the gateway login event, via rsyslog') },
    );
    assert.ok(viaGateway.every((e) => e.trailwatch?.collation?.verdict === 'gateway'), JSON.stringify(viaGateway.map((e) => e.trailwatch?.collation)));
    // The login after it (the password rotation's verification) has been processed too, so no alert is still on its way.
    await waitFor(() => events().some((e) => e.event.action === 'gateway-session-end'), { timeoutMs: 30_000, what: what('the session end') });
    // The rotation after the session logs in as root once more; its sshd line travels through rsyslog on its own time.
    const rootLogins = await waitFor(
      () => {
        const l = events().filter((e) => e.event.action === 'ssh-login' && e.event.outcome === 'success' && e.user?.name === 'root');
        return l.length >= 2 ? l : undefined;
      },
      { timeoutMs: 30_000, what: what('the management logins before and after the session') },
    );
    assert.ok(rootLogins.every((e) => e.trailwatch?.collation?.verdict === 'gateway'), "the management logins (before and after the session) are the gateway's");
    const all = alerts();
    const bypass = bypassAlerts(all);
    assert.equal(bypass.filter((a) => mentions(a, '127.0.0.1')).length, 0, `no bypass alert for the gateway's logins: ${JSON.stringify(bypass)}`);
    assert.equal(bypass.length, 1, 'only the direct login was alerted');
    assert.deepEqual(all.filter((a) => mentions(a, '127.0.0.1')).map((a) => a.rule?.id), [], 'nothing the gateway did raised any alert');
  });

  it("a login from the gateway's own address that the gateway did not make raises the host-bypass alert; the gateway's logins pair with its rotations", async () => {
    const hostBypass = () => alerts().filter((a) => a.rule?.id === HOST_BYPASS_RULE);
    // The last test's session: each rotation names the two logins it made (management user, then the account).
    const rotations = await waitFor(
      () => {
        const r = events().filter((e) => e.event.action === 'gateway-rotation' && e.event.outcome === 'success');
        return r.length >= 2 ? r : undefined;
      },
      { timeoutMs: 30_000, what: () => what('the rotations before and after the session') },
    );
    for (const r of rotations) assert.deepEqual(r.trailwatch?.rotation?.users, ['root', ACC]);
    const gatewayLogins = events().filter((e) => e.event.action === 'ssh-login' && e.event.outcome === 'success' && e.source?.ip === '127.0.0.1');
    assert.ok(gatewayLogins.length >= 4, `two logins per rotation: ${gatewayLogins.length}`);
    // Past twice the window, an unpaired login would be alerted even with no events moving the clock.
    await sleep(2 * HOST_BYPASS_WINDOW_MS + 2000);
    assert.deepEqual(hostBypass().map((a) => a.message), [], "the gateway's own logins are all paired");
    // Someone on the gateway host uses the management key directly.
    const port = await keyLoginFromGatewayHost(sshd.port, 'root', readFileSync(sshd.mgmtKeyFile));
    const login = await waitFor(() => events().find((e) => e.event.action === 'ssh-login' && e.event.outcome === 'success' && e.source?.port === port), { timeoutMs: 30_000, what: () => what('the key login from the gateway host, via rsyslog') });
    assert.equal(login.trailwatch?.collation?.verdict, 'gateway', 'it comes from a gateway address, so the address alone does not tell');
    assert.equal(alerts().filter((a) => a.rule?.id === BYPASS_RULE && mentions(a, '127.0.0.1')).length, 0, 'the address-based rule does not see it');
    const alert = await waitFor(() => hostBypass().find((a) => a.trailwatch?.alert?.events.includes(login.event.id)), { timeoutMs: 30_000, what: () => what('the host-bypass alert') });
    assert.equal(alert.user?.name, 'root');
    assert.equal(alert.source?.ip, '127.0.0.1');
    assert.equal(hostBypass().length, 1, 'only that login');
  });

  it('a prohibited command typed through the gateway is blocked, alerted in the pipeline, and listed on the session page', async () => {
    const c = await connectOperator(fx.gw.port, `bob:${ACC}@app1`, bob.privateKey);
    const sh = await openShell(c);
    await sh.waitOut(/\$ $/m);
    sh.ch.write('cat /etc/shadow\r');
    await sh.waitOut(/command blocked by policy/);
    sh.ch.write('history -c\r'); // allowed by the gateway, but the default pack's cmd-history-tampering sees it
    sh.ch.write('exit\r');
    await sh.closed();
    c.end();

    // The gateway's own alert went session log -> raw -> rules stage -> alerts topic -> alerts file.
    const gwAlert = await waitFor(() => alerts().find((a) => a.rule?.id === 'gateway-command-no-shadow'), { timeoutMs: 30_000, what: what('the gateway command alert in the pipeline') });
    assert.equal(gwAlert.process?.command_line, 'cat /etc/shadow');
    assert.equal(gwAlert.trailwatch?.session?.account, ACC);
    assert.ok(!events().some((e) => e.event.kind === 'alert'), 'alerts are not written as events');
    const blocked = events().find((e) => e.event.action === 'gateway-command-blocked');
    assert.equal(blocked?.process?.command_line, 'cat /etc/shadow');
    const session = blocked!.trailwatch!.session!.id!;
    // The rules stage also ran the pack over the session's commands.
    const tamper = await waitFor(() => alerts().find((a) => a.rule?.id === 'cmd-history-tampering'), { timeoutMs: 30_000, what: what('cmd-history-tampering from a gateway command') });
    assert.equal(tamper.process?.command_line, 'history -c');

    // The console (same data_dir as the gateway, so the same recordings) lists the blocked command on the session page.
    const admin = newToken();
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const cfg = join(tmp.dir, 'web.yaml');
    writeFileSync(cfg, JSON.stringify({ data_dir: fx.dataDir, web: { port, public_url: base, admins: [{ name: 'erin', token_sha256: admin.sha256 }] } }));
    web = (await startCli(['-c', cfg, 'web'], { ready: /web console listening/ })).child;
    const res = await fetch(`${base}/sessions/${encodeURIComponent(session)}`, { headers: { authorization: `Bearer ${admin.token}` } });
    assert.equal(res.status, 200);
    const page = await res.text();
    assert.match(page, /<button type="button" data-index="\d+" data-offset="[\d.]+" class="blocked"><span class="at">[^<]*<\/span> <code>cat \/etc\/shadow<\/code> <em>blocked<\/em>/);
    assert.match(page, /<code>history -c<\/code>/);
  });
});
