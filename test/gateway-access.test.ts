import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import ssh2 from 'ssh2';
import { ConfigError } from '../src/errors.js';
import { generateEd25519, loadHostKey } from '../src/gateway/server.js';
import { join } from 'node:path';
import {
  connectOperator,
  createAccount,
  execOn,
  openShell,
  operatorKey,
  readTree,
  removeAccount,
  shadowHash,
  startIngester,
  startSshd,
  startTestGateway,
  tempDir,
  waitFor,
  watchCmdlines,
  type GatewayFixture,
  type Sshd,
} from './gateway-fixture.js';

const ACCOUNT = 'twt_acc1';
const TOKEN = 'test-ingest-token-123';

describe('gateway > access, rotation, proxying (real sshd, real account)', () => {
  const tmp = tempDir('tw-gw-access-');
  let sshd: Sshd;
  let fx: GatewayFixture;
  let ingester: Awaited<ReturnType<typeof startIngester>>;
  let alice: ReturnType<typeof operatorKey>;
  let bob: ReturnType<typeof operatorKey>;
  const cmdlines = watchCmdlines();

  before(async () => {
    createAccount(ACCOUNT);
    sshd = await startSshd(tmp.dir);
    ingester = await startIngester(TOKEN);
    alice = operatorKey(tmp.dir, 'alice');
    bob = operatorKey(tmp.dir, 'bob');
    fx = await startTestGateway(
      tmp.dir,
      {
        operators: { alice: { keys: [alice.publicKey], groups: ['ops'] }, bob: { keys: [bob.publicKey] } },
        targets: {
          web1: { address: '127.0.0.1', port: sshd.port, host_key: sshd.fingerprint, groups: ['web'], management: { user: 'root', private_key_file: sshd.mgmtKeyFile }, accounts: [ACCOUNT] },
        },
        grants: [{ groups: ['ops'], targets: ['group:web'], accounts: [ACCOUNT] }],
      },
      { session_log: { url: ingester.url, token: TOKEN, flush_ms: 100 } },
    );
  });

  after(async () => {
    await fx?.stop();
    await sshd?.stop();
    await ingester?.close();
    cmdlines.stop();
    removeAccount(ACCOUNT);
    tmp.cleanup();
  });

  it('logs in through the gateway with a password set for the access, and rotates it again after', async () => {
    const before = shadowHash(ACCOUNT);
    const c = await connectOperator(fx.gw.port, `alice:${ACCOUNT}@web1`, alice.privateKey);
    const sh = await openShell(c);
    await sh.waitOut(/\$ $/m);
    const during = shadowHash(ACCOUNT);
    assert.notEqual(during, before, 'password set for the access');
    assert.match(during, /^\$/, 'a real hash, not a locked account');
    sh.ch.write('echo "who=$(whoami)"\r');
    await sh.waitOut(new RegExp(`who=${ACCOUNT}`));
    sh.ch.write('exit\r');
    await sh.closed();
    c.end();
    await waitFor(() => fx.events().some((e) => e.event.action === 'gateway-rotation' && e.event.reason === 'session-end' && e.event.outcome === 'success'), { what: 'rotation after session end' });
    const afterHash = shadowHash(ACCOUNT);
    assert.notEqual(afterHash, during, 'password rotated again after the session');
    assert.equal(fx.passwords.length, 2);
    assert.ok(fx.passwords.every((p) => p.length >= 24));
  });

  it('exec requests run on the target and are commands in the session log', async () => {
    const c = await connectOperator(fx.gw.port, `alice:${ACCOUNT}@web1`, alice.privateKey);
    const r = await execOn(c, 'id -un; echo out-marker');
    c.end();
    assert.equal(r.code, 0);
    assert.match(r.stdout, new RegExp(`^${ACCOUNT}\\nout-marker`));
    const ev = await waitFor(() => fx.events().find((e) => e.event.action === 'gateway-command' && e.process?.command_line === 'id -un; echo out-marker'));
    assert.equal(ev.user?.name, ACCOUNT);
    assert.equal(ev.host?.name, 'web1');
    assert.equal(ev.source?.ip, '127.0.0.1');
    assert.equal(ev.trailwatch?.session?.operator, 'alice');
    assert.equal(ev.event.dataset, 'trailwatch.gateway');
  });

  it('works with the real ssh client and the operator:account@target user string', async () => {
    // Async: the gateway runs in this process.
    const { stdout: out } = await promisify(execFile)(
      'ssh',
      ['-i', alice.file, '-p', String(fx.gw.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', `alice:${ACCOUNT}@web1@127.0.0.1`, 'echo via-real-ssh $(id -un)'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    assert.equal(out.trim(), `via-real-ssh ${ACCOUNT}`);
  });

  it('refuses an operator without a grant, and records the failed login', async () => {
    await assert.rejects(connectOperator(fx.gw.port, `bob:${ACCOUNT}@web1`, bob.privateKey), /authentication methods failed/i);
    const ev = await waitFor(() => fx.events().find((e) => e.event.action === 'gateway-login' && e.event.outcome === 'failure' && /no grant for bob/.test(e.event.reason ?? '')));
    assert.equal(ev.source?.ip, '127.0.0.1');
  });

  it('refuses a key that is not the operator\'s', async () => {
    await assert.rejects(connectOperator(fx.gw.port, `alice:${ACCOUNT}@web1`, bob.privateKey), /authentication methods failed/i);
  });

  it('refuses port forwarding the grant does not allow', async () => {
    const c = await connectOperator(fx.gw.port, `alice:${ACCOUNT}@web1`, alice.privateKey);
    await assert.rejects(new Promise((resolve, reject) => c.forwardOut('127.0.0.1', 1234, '127.0.0.1', sshd.port, (err, s) => (err ? reject(err) : resolve(s)))));
    c.end();
  });

  it('records the session as asciicast with metadata', () => {
    const dir = join(fx.dataDir, 'gateway', 'recordings');
    const casts = readdirSync(dir).filter((f) => f.endsWith('.cast'));
    assert.ok(casts.length >= 1);
    const shellCast = casts.map((f) => readFileSync(join(dir, f), 'utf8')).find((t) => t.includes('who='))!;
    const [header, ...lines] = shellCast.trim().split('\n');
    const h = JSON.parse(header);
    assert.equal(h.version, 2);
    assert.equal(h.width, 100);
    assert.equal(h.height, 30);
    const events = lines.map((l) => JSON.parse(l) as [number, string, string]);
    assert.ok(events.some((e) => e[1] === 'o'));
    assert.ok(events.some((e) => e[1] === 'i'));
    assert.ok(events.some((e) => e[1] === 'm' && e[2] === 'echo "who=$(whoami)"'), 'marker at the command, read from the screen');
    const meta = JSON.parse(readFileSync(join(dir, casts.find((f) => readFileSync(join(dir, f), 'utf8').includes('who='))!.replace('.cast', '.json')), 'utf8'));
    assert.equal(meta.operator, 'alice');
    assert.equal(meta.truncated, false);
    assert.deepEqual(meta.commands.map((x: { line: string }) => x.line), ['echo "who=$(whoami)"', 'exit']);
  });

  it('sends events to the session-log ingester with the bearer token', async () => {
    await fx.gw.ctx.events.flush();
    assert.equal(ingester.unauthorized, 0);
    const actions = new Set(ingester.events.map((e) => e.event.action));
    for (const a of ['gateway-login', 'gateway-session-start', 'gateway-command', 'gateway-session-end', 'gateway-rotation']) assert.ok(actions.has(a), `ingester got ${a}`);
  });

  it('no password appears in any log, event, recording, output or process argument list', async () => {
    await fx.gw.ctx.events.flush();
    assert.ok(fx.passwords.length >= 4);
    const haystacks: { where: string; text: string }[] = [
      ...readTree(tmp.dir).map((f) => ({ where: f.file, text: f.text })),
      { where: 'sshd logs', text: sshd.logs() },
      { where: 'ingester', text: ingester.bodies.join('\n') },
      ...[...cmdlines.stop()].map((c) => ({ where: 'cmdline', text: c })),
    ];
    assert.ok(haystacks.some((h) => h.where.endsWith('events.ndjson')));
    assert.ok(haystacks.some((h) => h.where === 'cmdline' && h.text.includes('sshd')), 'cmdline scan saw processes');
    for (const p of fx.passwords) for (const h of haystacks) assert.ok(!h.text.includes(p), `password found in ${h.where}`);
  });
});

describe('gateway > pinned host key', () => {
  const tmp = tempDir('tw-gw-hostkey-');
  const ACC = 'twt_acc2';
  let sshd: Sshd;
  let fx: GatewayFixture;
  let alice: ReturnType<typeof operatorKey>;

  before(async () => {
    createAccount(ACC);
    sshd = await startSshd(tmp.dir);
    alice = operatorKey(tmp.dir, 'alice');
    fx = await startTestGateway(tmp.dir, {
      operators: { alice: { keys: [alice.publicKey] } },
      targets: {
        web2: { address: '127.0.0.1', port: sshd.port, host_key: 'SHA256:' + 'A'.repeat(43), management: { user: 'root', private_key_file: sshd.mgmtKeyFile }, accounts: [ACC] },
      },
      grants: [{ operators: ['alice'], targets: ['*'], accounts: ['*'] }],
    });
  });

  after(async () => {
    await fx?.stop();
    await sshd?.stop();
    removeAccount(ACC);
    tmp.cleanup();
  });

  it('refuses a target whose host key does not match, sends no password, and alerts', async () => {
    const before = shadowHash(ACC);
    const c = await connectOperator(fx.gw.port, `alice:${ACC}@web2`, alice.privateKey);
    const r = await execOn(c, 'id');
    c.end();
    assert.equal(r.code, 1);
    assert.match(r.stderr, /host key does not match/);
    assert.equal(shadowHash(ACC), before, 'chpasswd never ran');
    const mismatch = fx.events().find((e) => e.event.action === 'gateway-host-key-mismatch' && e.event.kind === 'event');
    assert.ok(mismatch);
    assert.ok(fx.events().some((e) => e.event.kind === 'alert' && e.rule?.id === 'gateway-host-key-mismatch'));
    assert.ok(fx.events().some((e) => e.event.action === 'gateway-rotation' && e.event.outcome === 'failure'));
    // sshd saw key exchanges that ended before any authentication.
    assert.doesNotMatch(sshd.logs(), /password for|Accepted publickey|Failed publickey/);
  });
});

describe('gateway > host key', () => {
  it('generates only parsable ed25519 keys (ssh2 alone loses about 1 in 256)', () => {
    // At 1 in 256, 3000 raw keys hold a broken one with probability 1 - e^-11.7.
    for (let i = 0; i < 3000; i++) {
      const kp = generateEd25519('k');
      assert.ok(!(ssh2.utils.parseKey(kp.private) instanceof Error), kp.private);
      assert.ok(!(ssh2.utils.parseKey(kp.public) instanceof Error), kp.public);
    }
  });

  it('creates the host key on first start, keeps it after, and names a key file it cannot parse', () => {
    const tmp = tempDir('tw-gw-hk-');
    try {
      const file = join(tmp.dir, 'gw', 'host_key');
      const first = loadHostKey(file);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.deepEqual(loadHostKey(file), first, 'the same key on the next start');
      writeFileSync(file, '-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n');
      assert.throws(() => loadHostKey(file), (err: ConfigError) => err instanceof ConfigError && err.issues.some((l) => l.startsWith('gateway.host_key_file:') && l.includes(file)));
    } finally {
      tmp.cleanup();
    }
  });

  it('a start that fails (port taken) leaves no policy watcher keeping the process alive', async () => {
    const tmp = tempDir('tw-gw-busy-');
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    try {
      const watchers = () => process.getActiveResourcesInfo().filter((r) => r === 'StatWatcher').length;
      const before = watchers();
      const port = (busy.address() as { port: number }).port;
      await assert.rejects(startTestGateway(tmp.dir, { operators: {}, targets: {}, grants: [] }, { port }), /EADDRINUSE/);
      assert.equal(watchers(), before);
    } finally {
      busy.close();
      tmp.cleanup();
    }
  });
});
