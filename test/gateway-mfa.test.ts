import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ssh2 from 'ssh2';
import type { Client as ClientT } from 'ssh2';
import { Secret, TOTP } from 'otpauth';
import { stringify } from 'yaml';
import { MfaStore } from '../src/gateway/mfa.js';
import { createAccount, execOn, operatorKey, readTree, removeAccount, startSshd, startTestGateway, tempDir, waitFor, type GatewayFixture, type Sshd } from './gateway-fixture.js';

const run = promisify(execFile);
const CLI = new URL('../src/cli.js', import.meta.url).pathname;

const totpOf = (secret: string) => new TOTP({ secret: Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' });

describe('gateway > second factor store', () => {
  const tmp = tempDir('tw-mfa-store-');
  after(() => tmp.cleanup());

  it('accepts the current code once, one step of drift either way, nothing else', () => {
    const key = randomBytes(32);
    const store = new MfaStore(tmp.dir, key);
    assert.equal(store.verify('alice', '123456'), 'not-enrolled');
    const { secret, uri } = store.enroll('alice');
    assert.match(uri, /^otpauth:\/\/totp\/trailwatch:alice\?/);
    assert.ok(uri.includes(`secret=${secret}`));
    const t = totpOf(secret);
    const now = Date.now();
    assert.equal(store.verify('alice', t.generate({ timestamp: now - 30_000 }), now), 'ok', 'one step late');
    assert.equal(store.verify('alice', t.generate({ timestamp: now }), now), 'ok');
    assert.equal(store.verify('alice', t.generate({ timestamp: now }), now), 'replayed', 'a code is good once');
    assert.equal(store.verify('alice', t.generate({ timestamp: now - 30_000 }), now), 'replayed', 'an older step after a newer one');
    assert.equal(new MfaStore(tmp.dir, key).verify('alice', t.generate({ timestamp: now }), now), 'replayed', 'still used after a restart');
    assert.equal(store.verify('alice', t.generate({ timestamp: now + 30_000 }), now), 'ok', 'one step early');
    assert.equal(store.verify('alice', t.generate({ timestamp: now + 90_000 }), now), 'bad', 'three steps off');
    assert.equal(store.verify('alice', 'abcdef', now), 'bad');
    assert.equal(store.verify('alice', '', now), 'bad');
    assert.deepEqual(store.list().map((e) => e.operator), ['alice']);
    assert.equal(store.remove('alice'), true);
    assert.equal(store.verify('alice', t.generate({ timestamp: now + 60_000 })), 'not-enrolled');
  });

  it('keeps the secret encrypted: not in the file, not readable with another key', () => {
    const key = randomBytes(32);
    const { secret } = new MfaStore(tmp.dir, key).enroll('bob');
    const file = readFileSync(join(tmp.dir, 'gateway', 'mfa', 'bob.json'), 'utf8');
    assert.ok(!file.includes(secret));
    assert.ok(!file.includes(Buffer.from(Secret.fromBase32(secret).bytes).toString('base64')));
    assert.throws(() => new MfaStore(tmp.dir, randomBytes(32)).verify('bob', '000000'), /auth/i);
    assert.throws(() => new MfaStore(tmp.dir, key).enroll('../x'), /not an operator name/);
  });
});

function connectWithCode(port: number, username: string, privateKey: string, code: string | null): Promise<{ client: ClientT; prompted: string[] }> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    const prompted: string[] = [];
    c.on('keyboard-interactive', (_name, _instr, _lang, prompts, finish) => {
      prompted.push(...prompts.map((p) => p.prompt));
      finish(code === null ? [] : [code]);
    });
    c.on('ready', () => resolve({ client: c, prompted }));
    c.on('error', (err) => reject(Object.assign(err, { prompted })));
    c.connect({ host: '127.0.0.1', port, username, privateKey, tryKeyboard: code !== null, hostVerifier: () => true, readyTimeout: 20_000 });
  });
}

describe('gateway > second factor at login (real sshd, real ssh client)', () => {
  const tmp = tempDir('tw-gw-mfa-');
  const tmpRequired = tempDir('tw-gw-mfa-req-');
  const ACC = 'twt_mfa1';
  let sshd: Sshd;
  let fx: GatewayFixture;
  let required: GatewayFixture;
  let alice: ReturnType<typeof operatorKey>;
  let bob: ReturnType<typeof operatorKey>;
  let aliceSecret: string;

  before(async () => {
    createAccount(ACC);
    sshd = await startSshd(tmp.dir);
    alice = operatorKey(tmp.dir, 'alice');
    bob = operatorKey(tmp.dir, 'bob');
    const policy = {
      operators: { alice: { keys: [alice.publicKey] }, bob: { keys: [bob.publicKey] } },
      targets: { db1: { address: '127.0.0.1', port: sshd.port, host_key: sshd.fingerprint, management: { user: 'root', private_key_file: sshd.mgmtKeyFile }, accounts: [ACC] } },
      grants: [{ operators: ['alice', 'bob'], targets: ['*'], accounts: ['*'] }],
    };
    fx = await startTestGateway(tmp.dir, policy);
    required = await startTestGateway(tmpRequired.dir, policy, { mfa: { mode: 'required' } });
    aliceSecret = fx.gw.ctx.mfa.enroll('alice').secret;
  });

  after(async () => {
    await fx?.stop();
    await required?.stop();
    await sshd?.stop();
    removeAccount(ACC);
    tmp.cleanup();
    tmpRequired.cleanup();
  });

  it('asks an enrolled operator for a code after the key; the real ssh client logs in with it', async () => {
    const askpass = join(tmp.dir, 'askpass.sh');
    const codeFile = join(tmp.dir, 'code');
    writeFileSync(askpass, `#!/bin/sh\necho "$1" >> ${join(tmp.dir, 'asked')}\ncat ${codeFile}\n`, { mode: 0o755 });
    writeFileSync(codeFile, totpOf(aliceSecret).generate() + '\n');
    const { stdout } = await run(
      'ssh',
      ['-i', alice.file, '-p', String(fx.gw.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'NumberOfPasswordPrompts=1', `alice:${ACC}@db1@127.0.0.1`, 'echo mfa-ok $(id -un)'],
      { encoding: 'utf8', timeout: 30_000, env: { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' } },
    );
    assert.equal(stdout.trim(), `mfa-ok ${ACC}`);
    assert.match(readFileSync(join(tmp.dir, 'asked'), 'utf8'), /One-time code/);
    const ok = await waitFor(() => fx.events().find((e) => e.event.action === 'gateway-login' && e.event.outcome === 'success' && e.trailwatch?.session?.operator === 'alice'));
    assert.match(ok.message ?? '', /one-time code/);
    // Neither the secret nor the code is in the gateway's files, log or events.
    const code = readFileSync(codeFile, 'utf8').trim();
    const haystacks = [...readTree(fx.dataDir), { file: fx.logFile, text: readFileSync(fx.logFile, 'utf8') }, { file: 'events', text: JSON.stringify(fx.events()) }];
    assert.ok(haystacks.length > 3);
    const codeToken = new RegExp(`(?<!\\d)${code}(?!\\d)`);
    for (const h of haystacks) {
      assert.ok(!h.text.includes(aliceSecret), `secret found in ${h.file}`);
      assert.ok(!codeToken.test(h.text), `code found in ${h.file}`);
    }
  });

  it('refuses a code used before, a wrong code, and no code; each is a failed login event', async () => {
    const t = totpOf(aliceSecret);
    const used = t.generate();
    // the step the real client just used (or the one after, if the clock moved on since)
    const replay = await connectWithCode(fx.gw.port, `alice:${ACC}@db1`, alice.privateKey, used).then(
      (r) => r,
      (err: Error & { prompted: string[] }) => err,
    );
    if (!(replay instanceof Error)) {
      // The clock crossed into a new step between the two logins: that code was new. Use it again now.
      replay.client.end();
      await assert.rejects(connectWithCode(fx.gw.port, `alice:${ACC}@db1`, alice.privateKey, used), /authentication methods failed/i);
    }
    await waitFor(() => fx.events().find((e) => e.event.action === 'gateway-login' && e.event.outcome === 'failure' && /already used/.test(e.event.reason ?? '')));

    const wrong = String((Number(t.generate({ timestamp: Date.now() + 3_600_000 })) + 1) % 1_000_000).padStart(6, '0');
    await assert.rejects(connectWithCode(fx.gw.port, `alice:${ACC}@db1`, alice.privateKey, wrong), /authentication methods failed/i);
    await waitFor(() => fx.events().find((e) => e.event.action === 'gateway-login' && e.event.outcome === 'failure' && /bad one-time code for operator alice/.test(e.event.reason ?? '')));

    // Key only: the client has no way to answer, the login fails.
    await assert.rejects(connectWithCode(fx.gw.port, `alice:${ACC}@db1`, alice.privateKey, null), /authentication methods failed/i);
    await waitFor(() => fx.events().find((e) => e.event.action === 'gateway-login' && e.event.outcome === 'failure' && /no one-time code given/.test(e.event.reason ?? '')));
  });

  it('never asks for a code before the key is right', async () => {
    const err = await connectWithCode(fx.gw.port, `alice:${ACC}@db1`, bob.privateKey, '000000').then(
      () => assert.fail('logged in with the wrong key'),
      (e: Error & { prompted: string[] }) => e,
    );
    assert.deepEqual(err.prompted, []);
  });

  it('lets an operator without enrolment in with the key (mode enrolled), refuses them in mode required', async () => {
    const { client } = await connectWithCode(fx.gw.port, `bob:${ACC}@db1`, bob.privateKey, null);
    const r = await execOn(client, 'id -un');
    client.end();
    assert.equal(r.stdout.trim(), ACC);
    await assert.rejects(connectWithCode(required.gw.port, `bob:${ACC}@db1`, bob.privateKey, '000000'), /authentication methods failed/i);
    await waitFor(() => required.events().find((e) => e.event.action === 'gateway-login' && e.event.outcome === 'failure' && /bob has no second factor enrolled/.test(e.event.reason ?? '')));
  });

  it('`trailwatch mfa enroll` writes the enrolment the gateway reads; unknown operators are refused', async () => {
    const cfg = join(required.dir, 'trailwatch.yaml');
    writeFileSync(cfg, stringify({ data_dir: required.dataDir, gateway: { policy_file: required.policyFile, mfa: { mode: 'required' } } }));
    const { stdout } = await run(process.execPath, [CLI, '--config', cfg, 'mfa', 'enroll', 'bob'], { encoding: 'utf8' });
    const secret = /secret: ([A-Z2-7]+)/.exec(stdout)?.[1];
    assert.ok(secret, stdout);
    assert.match(stdout, /otpauth:\/\/totp\/trailwatch:bob\?/);
    const { client } = await connectWithCode(required.gw.port, `bob:${ACC}@db1`, bob.privateKey, totpOf(secret).generate());
    const r = await execOn(client, 'id -un');
    client.end();
    assert.equal(r.stdout.trim(), ACC);
    const list = await run(process.execPath, [CLI, '--config', cfg, 'mfa', 'list'], { encoding: 'utf8' });
    assert.match(list.stdout, /^bob {2}enrolled /m);
    await assert.rejects(run(process.execPath, [CLI, '--config', cfg, 'mfa', 'enroll', 'mallory'], { encoding: 'utf8' }), (err: { code: number; stderr: string }) => err.code === 1 && /operator mallory is not in the policy/.test(err.stderr));
  });

  it('refuses, and keeps serving, when an enrolment cannot be read (another secret key)', async () => {
    const other = new MfaStore(fx.dataDir, randomBytes(32));
    other.enroll('bob'); // encrypted with a key this gateway does not have
    await assert.rejects(connectWithCode(fx.gw.port, `bob:${ACC}@db1`, bob.privateKey, '123456'), /authentication methods failed/i);
    await waitFor(() => fx.events().find((e) => e.event.action === 'gateway-login' && e.event.outcome === 'failure' && /second factor of operator bob cannot be checked/.test(e.event.reason ?? '')));
    fx.gw.ctx.mfa.remove('bob');
    const { client } = await connectWithCode(fx.gw.port, `bob:${ACC}@db1`, bob.privateKey, null);
    client.end();
  });
});

/**
 * A guesser on one connection: after every refusal it authenticates with the
 * key again and answers the next prompt, for as long as the server lets it.
 */
function guess(port: number, username: string, privateKey: string, answer: () => string, from = '127.0.0.1'): Promise<{ prompts: number; loggedIn: boolean }> {
  return new Promise((resolve) => {
    const c = new ssh2.Client();
    let prompts = 0;
    let loggedIn = false;
    let n = 0;
    c.on('keyboard-interactive', (_name, _instr, _lang, p, finish) => {
      prompts += p.length ? 1 : 0;
      finish(p.map(() => answer()));
    });
    c.on('ready', () => {
      loggedIn = true;
      c.end();
    });
    c.on('error', () => undefined);
    c.on('close', () => resolve({ prompts, loggedIn }));
    c.connect({
      host: '127.0.0.1',
      localAddress: from,
      port,
      username,
      privateKey,
      hostVerifier: () => true,
      readyTimeout: 20_000,
      // Key, code, key, code, … up to 1000 rounds.
      authHandler: (_left: unknown, _partial: unknown, next: (m: unknown) => void) => {
        if (n++ > 2000) return next(false);
        next(n % 2 ? { type: 'publickey', username, key: privateKey } : { type: 'keyboard-interactive', username, prompt: (_n: string, _i: string, _l: string, p: { prompt: string }[], f: (a: string[]) => void) => { prompts++; f(p.map(() => answer())); } });
      },
    } as never);
  });
}

describe('gateway > second factor cannot be guessed (per connection and across connections)', () => {
  const tmp = tempDir('tw-gw-mfa-guess-');
  const ACC = 'twt_mfa2';
  let sshd: Sshd;
  let fx: GatewayFixture;
  let carol: ReturnType<typeof operatorKey>;
  let dave: ReturnType<typeof operatorKey>;
  let carolSecret: string;
  let daveSecret: string;
  const refusals = (op: string) => fx.events().filter((e) => e.event.action === 'gateway-login' && e.event.outcome === 'failure' && e.trailwatch?.session?.operator === op && e.trailwatch?.auth?.mfa);
  const wrongCode = (secret: string) => String((Number(totpOf(secret).generate({ timestamp: Date.now() + 3_600_000 })) + 1) % 1_000_000).padStart(6, '0');

  before(async () => {
    createAccount(ACC);
    sshd = await startSshd(tmp.dir);
    carol = operatorKey(tmp.dir, 'carol');
    dave = operatorKey(tmp.dir, 'dave');
    fx = await startTestGateway(
      tmp.dir,
      {
        operators: { carol: { keys: [carol.publicKey] }, dave: { keys: [dave.publicKey] } },
        targets: { db1: { address: '127.0.0.1', port: sshd.port, host_key: sshd.fingerprint, management: { user: 'root', private_key_file: sshd.mgmtKeyFile }, accounts: [ACC] } },
        grants: [{ operators: ['carol', 'dave'], targets: ['*'], accounts: ['*'] }],
      },
      // The per-address login block stays out of the way: the code throttle is under test.
      { mfa: { max_tries: 3, throttle: { failures: 5, window_seconds: 600, backoff_seconds: 3, max_backoff_seconds: 60 } }, login: { max_failures: 10_000 } },
    );
    carolSecret = fx.gw.ctx.mfa.enroll('carol').secret;
    daveSecret = fx.gw.ctx.mfa.enroll('dave').secret;
  });
  after(async () => {
    await fx?.stop();
    await sshd?.stop();
    removeAccount(ACC);
    tmp.cleanup();
  });

  it('closes a connection after max_tries refused codes, however often the client authenticates again, each refusal an event', async () => {
    const r = await guess(fx.gw.port, `carol:${ACC}@db1`, carol.privateKey, () => wrongCode(carolSecret));
    assert.equal(r.loggedIn, false);
    assert.equal(r.prompts, 3, 'three codes, then the connection is closed');
    const ev = await waitFor(() => (refusals('carol').length >= 3 ? refusals('carol') : undefined));
    assert.equal(ev.length, 3);
    assert.ok(ev.every((e) => e.trailwatch?.auth?.mfa === 'bad-code' && /bad one-time code for operator carol/.test(e.event.reason ?? '')));
  });

  it('across connections: no more codes are checked once the throttle trips (a right one neither), then the backoff passes', async () => {
    const before = refusals('dave').length;
    let prompts = 0;
    // Ten connections guessing in a row (from an address of their own, as carol's refusals count for 127.0.0.1):
    // only `failures` (5) codes are looked at before the backoff.
    for (let i = 0; i < 10; i++) prompts += (await guess(fx.gw.port, `dave:${ACC}@db1`, dave.privateKey, () => wrongCode(daveSecret), '127.0.0.2')).prompts;
    assert.equal(prompts, 5, 'codes answered across 10 connections before the throttle');
    const after = refusals('dave').slice(before);
    assert.equal(after.filter((e) => e.trailwatch?.auth?.mfa === 'bad-code').length, 5);
    assert.ok(after.some((e) => e.trailwatch?.auth?.mfa === 'throttled'), 'throttled attempts are events too');
    // The right code now is not even asked for.
    const right = await guess(fx.gw.port, `dave:${ACC}@db1`, dave.privateKey, () => totpOf(daveSecret).generate(), '127.0.0.2');
    assert.equal(right.loggedIn, false);
    assert.equal(right.prompts, 0);
    // After the backoff (3 s) the operator gets in with a good code, which clears the count.
    await new Promise((r) => setTimeout(r, 3500));
    const ok = await guess(fx.gw.port, `dave:${ACC}@db1`, dave.privateKey, () => totpOf(daveSecret).generate(), '127.0.0.2');
    assert.equal(ok.loggedIn, true);
  });

  it('the real ssh client with a wrong code: the refusal says so (not "no one-time code given")', async () => {
    const askpass = join(tmp.dir, 'askpass-wrong.sh');
    writeFileSync(askpass, `#!/bin/sh\necho ${wrongCode(carolSecret)}\n`, { mode: 0o755 });
    await assert.rejects(
      run('ssh', ['-b', '127.0.0.4', '-i', carol.file, '-p', String(fx.gw.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'NumberOfPasswordPrompts=1', `carol:${ACC}@db1@127.0.0.1`, 'true'], {
        timeout: 30_000,
        env: { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' },
      }),
    );
    const mine = () => fx.events().filter((e) => e.event.action === 'gateway-login' && e.source?.ip === '127.0.0.4');
    await waitFor(() => mine().length > 0);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(mine().map((e) => e.trailwatch?.auth?.mfa ?? e.event.reason), ['bad-code']);
  });

  it('a wrong code then the right one on one connection: one refusal event, then the login', async () => {
    // dave's count was cleared by his last good login; carol's refusals above are near the throttle.
    const secret = fx.gw.ctx.mfa.enroll('dave').secret; // fresh secret, so no earlier step counts as used
    const before = refusals('dave').length;
    const answers = [wrongCode(secret), totpOf(secret).generate()];
    const r = await guess(fx.gw.port, `dave:${ACC}@db1`, dave.privateKey, () => answers.shift() ?? '000000', '127.0.0.3');
    assert.equal(r.loggedIn, true);
    assert.equal(r.prompts, 2);
    const ev = await waitFor(() => (refusals('dave').length > before ? refusals('dave').slice(before) : undefined));
    assert.equal(ev.length, 1);
    assert.equal(ev[0].trailwatch?.auth?.mfa, 'bad-code');
  });
});
