import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import type { LiveSession } from '../src/gateway/live.js';
import { connectOperator, createAccount, openShell, operatorKey, removeAccount, shadowHash, startSshd, startTestGateway, tempDir, waitFor, type GatewayFixture, type Sshd } from './gateway-fixture.js';

const run = promisify(execFile);
const CLI = new URL('../src/cli.js', import.meta.url).pathname;

describe('gateway > an administrator ends a live session (real sshd, CLI)', () => {
  const tmp = tempDir('tw-gw-term-');
  const ACC = 'twt_term1';
  let sshd: Sshd;
  let fx: GatewayFixture;
  let alice: ReturnType<typeof operatorKey>;
  let cfg: string;
  const cli = (...args: string[]) => run(process.execPath, [CLI, '--config', cfg, 'sessions', ...args], { encoding: 'utf8' });

  before(async () => {
    createAccount(ACC);
    sshd = await startSshd(tmp.dir);
    alice = operatorKey(tmp.dir, 'alice');
    fx = await startTestGateway(tmp.dir, {
      operators: { alice: { keys: [alice.publicKey] } },
      targets: { db1: { address: '127.0.0.1', port: sshd.port, host_key: sshd.fingerprint, management: { user: 'root', private_key_file: sshd.mgmtKeyFile }, accounts: [ACC] } },
      grants: [{ operators: ['alice'], targets: ['*'], accounts: ['*'] }],
    });
    cfg = join(tmp.dir, 'trailwatch.yaml');
    writeFileSync(cfg, stringify({ data_dir: fx.dataDir }));
  });

  after(async () => {
    await fx?.stop();
    await sshd?.stop();
    removeAccount(ACC);
    tmp.cleanup();
  });

  it('lists the session, ends it with the reason shown to the operator, records who did, and rotates the password', async () => {
    assert.match((await cli('list')).stdout, /no live sessions/);
    const c = await connectOperator(fx.gw.port, `alice:${ACC}@db1`, alice.privateKey);
    const sh = await openShell(c);
    await sh.waitOut(/\$ $/m);
    const during = shadowHash(ACC);

    const rows = JSON.parse((await cli('list', '--json')).stdout) as LiveSession[];
    assert.equal(rows.length, 1);
    assert.deepEqual({ operator: rows[0].operator, account: rows[0].account, target: rows[0].target, ip: rows[0].source_ip }, { operator: 'alice', account: ACC, target: 'db1', ip: '127.0.0.1' });
    const start = fx.events().find((e) => e.event.action === 'gateway-session-start');
    assert.equal(rows[0].id, start?.trailwatch?.session?.id);

    const out = await cli('terminate', rows[0].id, '--reason', 'incident 4711: stop now', '--by', 'carol');
    assert.match(out.stdout, /terminating/);
    await sh.waitOut(/terminated by carol: incident 4711: stop now/);
    await sh.closed();
    c.end();

    const ev = await waitFor(() => fx.events().find((e) => e.event.action === 'gateway-session-terminated'));
    assert.equal(ev.event.reason, 'incident 4711: stop now');
    assert.equal((ev.trailwatch as { termination?: { by?: string } }).termination?.by, 'carol');
    assert.equal(ev.trailwatch?.session?.id, rows[0].id);
    await waitFor(() => fx.events().some((e) => e.event.action === 'gateway-session-end'));
    await waitFor(() => fx.events().some((e) => e.event.action === 'gateway-rotation' && e.event.outcome === 'success' && /session-end/.test(e.message ?? '')), { what: 'rotation after the session end' });
    assert.notEqual(shadowHash(ACC), during, 'the password the session used is dead');
    assert.match((await cli('list')).stdout, /no live sessions/);
  });

  it('refuses a session that is not live, and an id that is not one', async () => {
    await assert.rejects(cli('terminate', randomUUID()), (err: { code: number; stderr: string }) => err.code === 1 && /no live session/.test(err.stderr));
    await assert.rejects(cli('terminate', '../../etc/passwd'), (err: { code: number; stderr: string }) => err.code === 1 && /not a session id/.test(err.stderr));
  });
});
