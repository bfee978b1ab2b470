import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { GatewayEvents } from '../src/gateway/events.js';
import { LoginLimiter } from '../src/gateway/context.js';
import { parsePolicy } from '../src/gateway/policy.js';
import { Recording } from '../src/gateway/recording.js';
import { generatePassword } from '../src/gateway/rotate/index.js';
import { loadSecretKey, Vault } from '../src/gateway/vault.js';
import { silentLogger } from '../src/log.js';
import { ConfigError } from '../src/errors.js';
import { createAccount, removeAccount, shadowHash, startIngester, startSshd, startTestGateway, tempDir, waitFor, type Sshd } from './gateway-fixture.js';

describe('gateway > vault keeps pending passwords encrypted', () => {
  const tmp = tempDir('tw-gw-vault-');
  after(() => tmp.cleanup());

  it('round-trips candidates, never stores them in clear, files 0600', () => {
    const key = loadSecretKey({ dataDir: tmp.dir });
    const keyFile = join(tmp.dir, 'gateway', 'secret.key');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.deepEqual(loadSecretKey({ dataDir: tmp.dir }), key, 'the same key next start');
    const v = new Vault(tmp.dir, key);
    const a = generatePassword(32);
    const b = generatePassword(32);
    v.putPending('web1', 'deploy', a);
    v.putPending('web1', 'deploy', b);
    assert.deepEqual(v.getPending('web1', 'deploy'), [a, b]);
    v.dropLatest('web1', 'deploy');
    assert.deepEqual(v.getPending('web1', 'deploy'), [a]);
    const dir = join(tmp.dir, 'gateway', 'pending');
    const f = join(dir, readdirSync(dir)[0]);
    assert.equal(statSync(f).mode & 0o777, 0o600);
    assert.ok(!readFileSync(f, 'utf8').includes(a));
    assert.deepEqual(v.listPending().map((p) => [p.target, p.account]), [['web1', 'deploy']]);
    // a different key cannot read it (GCM authentication)
    assert.throws(() => new Vault(tmp.dir, Buffer.alloc(32, 1)).getPending('web1', 'deploy'));
    v.clearPending('web1', 'deploy');
    assert.deepEqual(v.listPending(), []);
  });

  it('passwords are long and drawn from a chpasswd-safe alphabet', () => {
    const p = generatePassword(24);
    assert.equal(p.length, 24);
    assert.doesNotMatch(p, /[:\s'"\\]/);
    assert.notEqual(generatePassword(24), p);
  });
});

describe('gateway > policy validation', () => {
  it('reports bad fields with their path', () => {
    assert.throws(
      () => parsePolicy('targets:\n  web1:\n    address: x\n    host_key: MD5:aa\n    management: { user: root, private_key_file: /k }\n    accounts: [deploy]\n', 'p.yaml'),
      (e: ConfigError) => e.issues.some((l) => l.startsWith('p.yaml: targets.web1.host_key:')),
    );
    assert.throws(() => parsePolicy('command_rules: [{ id: x, regex: "(", action: block }]', 'p.yaml'), /regex does not compile/);
    assert.throws(() => parsePolicy('operators: { a: { keys: ["ssh-ed25519 nope"] } }', 'p.yaml'), /cannot parse key/);
  });

  it('time windows limit grants (UTC)', () => {
    const p = parsePolicy(
      `targets:
  t: { address: h, host_key: "SHA256:${'A'.repeat(43)}", management: { user: root, private_key_file: /k }, accounts: [a] }
operators: {}
grants:
  - { operators: [x], targets: ["*"], accounts: ["*"], windows: [{ days: [mon], from: "08:00", to: "18:00" }] }
`,
      'p.yaml',
    );
    p.operators.set('x', { groups: new Set(), keys: new Set() });
    assert.ok(p.authorize('x', 't', 'a', new Date('2024-01-01T09:00:00Z')), 'Monday 09:00');
    assert.equal(p.authorize('x', 't', 'a', new Date('2024-01-01T19:00:00Z')), null, 'Monday 19:00');
    assert.equal(p.authorize('x', 't', 'a', new Date('2024-01-02T09:00:00Z')), null, 'Tuesday');
  });
});

describe('gateway > login rate limit', () => {
  it('blocks a source after max_failures within the window, then lets it go', () => {
    const l = new LoginLimiter({ max_failures: 3, window_seconds: 60, block_seconds: 10 });
    assert.equal(l.fail('1.2.3.4', 0), false);
    assert.equal(l.fail('1.2.3.4', 1000), false);
    assert.equal(l.fail('1.2.3.4', 2000), true);
    assert.equal(l.blocked('1.2.3.4', 3000), true);
    assert.equal(l.blocked('5.6.7.8', 3000), false);
    assert.equal(l.blocked('1.2.3.4', 13_000), false);
  });
});

describe('gateway > recording size cap', () => {
  const tmp = tempDir('tw-gw-rec-');
  after(() => tmp.cleanup());

  it('stops at the cap with a visible marker and says truncated', async () => {
    const r = new Recording(tmp.dir, { session: 's1', channel: 1, operator: 'o', account: 'a', target: 't', kind: 'shell', width: 80, height: 24 }, 8192);
    for (let i = 0; i < 200; i++) r.output(Buffer.from(`line ${i} `.repeat(10)));
    r.command('ls', 'allowed');
    await r.close(0);
    const text = readFileSync(r.file, 'utf8');
    assert.ok(Buffer.byteLength(text) <= 8192);
    assert.match(text.trim().split('\n').at(-1)!, /"m", "recording truncated: size cap of 8192 bytes reached"/);
    const meta = JSON.parse(readFileSync(r.metaFile, 'utf8'));
    assert.equal(meta.truncated, true);
    assert.deepEqual(meta.commands.map((c: { line: string }) => c.line), ['ls'], 'commands still kept in the metadata');
  });

  it('a recording whose directory vanished reports the error once and never rejects or crashes the session', async () => {
    const dir = join(tmp.dir, 'gone');
    const errors: Error[] = [];
    const r = new Recording(dir, { session: 's2', channel: 1, operator: 'o', account: 'a', target: 't', kind: 'shell', width: 80, height: 24 }, 8192, (e) => errors.push(e));
    r.output(Buffer.from('hello'));
    rmSync(dir, { recursive: true, force: true });
    await r.close(0);
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /ENOENT/);
  });
});

describe('gateway > session-log spool when the ingester is unreachable', () => {
  const tmp = tempDir('tw-gw-spool-');
  after(() => tmp.cleanup());

  it('spools, then sends the spool first once the ingester answers', async () => {
    const ing = await startIngester('tok');
    const url = ing.url;
    await ing.close(); // unreachable now
    const ev = new GatewayEvents(tmp.dir, { url, token: 'tok', batch_max: 10, flush_ms: 60_000 }, silentLogger());
    ev.emit({ action: 'gateway-login', outcome: 'failure', message: 'first', sourceIp: '192.0.2.1' });
    await ev.flush();
    const spool = join(tmp.dir, 'gateway', 'spool.ndjson');
    assert.match(readFileSync(spool, 'utf8'), /"first"/);
    // the ingester comes back on the same port
    const { createServer } = await import('node:http');
    const got: string[] = [];
    const srv = createServer((req, res) => {
      let b = '';
      req.on('data', (d) => (b += d)).on('end', () => {
        assert.equal(req.headers.authorization, 'Bearer tok');
        got.push(b);
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((r) => srv.listen(Number(new URL(url).port), '127.0.0.1', r));
    ev.emit({ action: 'gateway-login', outcome: 'success', message: 'second', operator: 'alice' });
    await ev.stop();
    srv.close();
    const lines = got.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((e) => e.message), ['first', 'second']);
    assert.equal(lines[0].event.dataset, 'trailwatch.gateway');
    assert.throws(() => statSync(spool), 'spool emptied');
    assert.equal(readFileSync(join(tmp.dir, 'gateway', 'events.ndjson'), 'utf8').trim().split('\n').length, 2, 'both also kept locally');
  });
});

describe('gateway > recovery and sweep (real sshd)', () => {
  const tmp = tempDir('tw-gw-recover-');
  const ACC = 'twt_rec1';
  let sshd: Sshd;

  before(async () => {
    createAccount(ACC);
    sshd = await startSshd(tmp.dir);
  });
  after(async () => {
    await sshd?.stop();
    removeAccount(ACC);
    tmp.cleanup();
  });

  it('a rotation left pending by a crash is redone over the management key at start; the sweep rotates every account', async () => {
    const dataDir = join(tmp.dir, 'data');
    // The state a crash between chpasswd and verification leaves behind.
    new Vault(dataDir, loadSecretKey({ dataDir })).putPending('srv', ACC, generatePassword(32));
    const before = shadowHash(ACC);
    const fx = await startTestGateway(tmp.dir, {
      targets: { srv: { address: '127.0.0.1', port: sshd.port, host_key: sshd.fingerprint, management: { user: 'root', private_key_file: sshd.mgmtKeyFile }, accounts: [ACC] } },
    });
    try {
      assert.notEqual(shadowHash(ACC), before);
      assert.deepEqual(new Vault(dataDir, loadSecretKey({ dataDir })).listPending(), []);
      const local = readFileSync(join(dataDir, 'gateway', 'events.ndjson'), 'utf8');
      assert.match(local, /"reason":"recovery"/);
      const mid = shadowHash(ACC);
      const r = await fx.gw.ctx.rotator.sweep(fx.gw.ctx.policy());
      assert.deepEqual(r, { ok: 1, failed: 0 });
      assert.notEqual(shadowHash(ACC), mid);
      await waitFor(() => fx.events().some((e) => e.event.reason === 'sweep'));
    } finally {
      await fx.stop();
    }
  });
});
