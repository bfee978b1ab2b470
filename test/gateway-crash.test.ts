// `trailwatch gateway` (the built CLI) killed with SIGKILL in the middle of a
// session against a real sshd: the password it set for that session stays
// valid until the gateway starts again; at that start it rotates the account
// before serving anyone and records the session's end (event.reason
// gateway-restart) — issue #16 found the password left valid for good and
// the live-session file gone without a session-end event.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { TwEvent } from '../src/event.js';
import { connectOperator, createAccount, operatorKey, openShell, removeAccount, shadowHash, startSshd, tempDir, waitFor, type Sshd } from './gateway-fixture.js';
import { freePort, ndjsonRecords, startCli } from './helpers.js';

describe('gateway > killed mid-session: the next start rotates the account and ends the session', () => {
  const tmp = tempDir('tw-gw-crash-');
  const ACC = 'twt_crash1';
  let sshd: Sshd;
  let cfg = '';
  let port = 0;
  let alice: ReturnType<typeof operatorKey>;
  const children: Awaited<ReturnType<typeof startCli>>[] = [];
  const events = () => ndjsonRecords<TwEvent>(readFileSync(join(tmp.dir, 'data', 'gateway', 'events.ndjson'), 'utf8'));
  const start = async () => {
    const c = await startCli(['-c', cfg, 'gateway'], { ready: /gateway listening/, timeoutMs: 60_000 });
    children.push(c);
    return c;
  };

  before(async () => {
    createAccount(ACC);
    sshd = await startSshd(tmp.dir);
    alice = operatorKey(tmp.dir, 'alice');
    port = await freePort();
    const policy = join(tmp.dir, 'policy.yaml');
    writeFileSync(
      policy,
      stringify({
        operators: { alice: { keys: [alice.publicKey] } },
        targets: { db1: { address: '127.0.0.1', port: sshd.port, host_key: sshd.fingerprint, management: { user: 'root', private_key_file: sshd.mgmtKeyFile }, accounts: [ACC] } },
        grants: [{ operators: ['alice'], targets: ['db1'], accounts: [ACC] }],
      }),
    );
    cfg = join(tmp.dir, 'trailwatch.yaml');
    writeFileSync(cfg, stringify({ data_dir: join(tmp.dir, 'data'), gateway: { host: '127.0.0.1', port, policy_file: policy, rotation: { cron: '' } } }));
  });
  after(async () => {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    await sshd?.stop();
    removeAccount(ACC);
    tmp.cleanup();
  });

  it('SIGKILL with a session open, then a restart: the session password is replaced before the gateway serves, and the session has its end', async () => {
    const first = await start();
    const c = await connectOperator(port, `alice:${ACC}@db1`, alice.privateKey);
    const sh = await openShell(c);
    sh.ch.write('echo in-session-$((6*7))\r');
    await sh.waitOut(/in-session-42/);
    const sessionId = await waitFor(() => events().find((e) => e.event.action === 'gateway-session-start')?.trailwatch?.session?.id);
    const during = shadowHash(ACC);
    assert.ok(during && !during.startsWith('!'), 'the session password is set');

    const exited = new Promise((r) => first.child.once('exit', r));
    first.child.kill('SIGKILL');
    await exited;
    c.end();
    // Nothing rotates it while the gateway is down: this is what the restart must undo.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(shadowHash(ACC), during, 'the password set for the session is still the account password');

    await start();
    // By the time it listens, the account has a new password and the session its end.
    assert.notEqual(shadowHash(ACC), during, 'rotated at start');
    const ends = events().filter((e) => e.event.action === 'gateway-session-end' && e.trailwatch?.session?.id === sessionId);
    assert.equal(ends.length, 1);
    assert.equal(ends[0].event.reason, 'gateway-restart');
    assert.equal(ends[0].trailwatch?.session?.account, ACC);
    assert.ok(events().some((e) => e.event.action === 'gateway-rotation' && e.event.reason === 'recovery' && e.trailwatch?.session?.id === sessionId));

    // A second restart has nothing left to undo.
    const after1 = shadowHash(ACC);
    const second = children.at(-1)!;
    const gone = new Promise((r) => second.child.once('exit', r));
    second.child.kill('SIGTERM');
    await gone;
    await start();
    assert.equal(shadowHash(ACC), after1);
    assert.equal(events().filter((e) => e.event.action === 'gateway-session-end' && e.trailwatch?.session?.id === sessionId).length, 1);
  });
});
