// Per-grant session limits through the gateway to a real sshd: an idle
// timeout (no input from the operator) and a maximum session length, each
// warned about on the operator's terminal before the end, ended with an event
// saying why, and the account rotated after as at any session end.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connectOperator, createAccount, openShell, operatorKey, removeAccount, startSshd, startTestGateway, tempDir, waitFor, type GatewayFixture, type Sshd } from './gateway-fixture.js';

describe('gateway > idle timeout and maximum session length (real sshd)', () => {
  const tmp = tempDir('tw-gw-limits-');
  const IDLE = 'twt_idle1';
  const LONG = 'twt_long1';
  let sshd: Sshd;
  let fx: GatewayFixture;
  let alice: ReturnType<typeof operatorKey>;
  const ended = (account: string) => fx.events().find((e) => e.event.action === 'gateway-session-terminated' && e.trailwatch?.session?.account === account);

  before(async () => {
    createAccount(IDLE);
    createAccount(LONG);
    sshd = await startSshd(tmp.dir);
    alice = operatorKey(tmp.dir, 'alice');
    fx = await startTestGateway(tmp.dir, {
      operators: { alice: { keys: [alice.publicKey] } },
      targets: { box: { address: '127.0.0.1', port: sshd.port, host_key: sshd.fingerprint, management: { user: 'root', private_key_file: sshd.mgmtKeyFile }, accounts: [IDLE, LONG] } },
      grants: [
        { operators: ['alice'], targets: ['box'], accounts: [IDLE], idle_timeout_seconds: 4 },
        { operators: ['alice'], targets: ['box'], accounts: [LONG], max_session_seconds: 6 },
      ],
    });
  });
  after(async () => {
    await fx?.stop();
    await sshd?.stop();
    removeAccount(IDLE);
    removeAccount(LONG);
    tmp.cleanup();
  });

  it('input keeps a session alive past the idle timeout; silence gets a warning, then the end, with reason idle-timeout', async () => {
    const c = await connectOperator(fx.gw.port, `alice:${IDLE}@box`, alice.privateKey);
    const sh = await openShell(c);
    await sh.waitOut(/\$ $/m);
    // Typing every second for twice the timeout: still open.
    for (let i = 0; i < 8; i++) {
      sh.ch.write(`echo tick-${i}\r`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    await sh.waitOut(/tick-7/);
    assert.equal(ended(IDLE), undefined, 'not ended while the operator types');
    // Then nothing: a warning, then the end.
    await sh.waitOut(/this session ends in \d+ s unless you type something \(idle timeout\)/, 10_000);
    await sh.closed(15_000);
    assert.match(sh.out(), /this session has ended: idle for 4 s/);
    const ev = await waitFor(() => ended(IDLE));
    assert.equal(ev.event.reason, 'idle-timeout');
    // The usual session end follows: the account is rotated.
    await waitFor(() => fx.events().find((e) => e.event.action === 'gateway-rotation' && e.event.reason === 'session-end' && e.trailwatch?.session?.account === IDLE));
    c.end();
  });

  it('a session that stays busy still ends at the maximum length, warned first, with reason max-duration', async () => {
    const c = await connectOperator(fx.gw.port, `alice:${LONG}@box`, alice.privateKey);
    const sh = await openShell(c);
    await sh.waitOut(/\$ $/m);
    const typing = setInterval(() => sh.ch.write('true\r'), 500);
    try {
      await sh.waitOut(/this session ends in \d+ s \(maximum session length\)/, 15_000);
      await sh.closed(15_000);
    } finally {
      clearInterval(typing);
    }
    assert.match(sh.out(), /this session has ended: open for 6 s, the most its grant allows/);
    const ev = await waitFor(() => ended(LONG));
    assert.equal(ev.event.reason, 'max-duration');
    assert.equal((ev.trailwatch?.termination as { by?: string } | undefined)?.by, 'gateway');
    c.end();
  });
});
