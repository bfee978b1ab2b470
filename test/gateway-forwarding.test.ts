// Forwardings through the gateway with the real OpenSSH client: remote
// forwarding (-R), agent forwarding (-A, a real ssh-agent) and X11 (-Y, a tiny
// fake X server on the operator's side), to a real sshd; each only when the
// grant allows it, refused with an event otherwise.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TwEvent } from '../src/event.js';
import { connectOperator, createAccount, operatorKey, readTree, removeAccount, startSshd, startTestGateway, tempDir, waitFor, watchCmdlines, type GatewayFixture, type Sshd } from './gateway-fixture.js';

const ACCOUNT = 'twt_fwd1';
/** Its own account: two targets rotating one Unix account at once would race. */
const STRICT_ACCOUNT = 'twt_fwd2';
const run = promisify(execFile);

/** An echo server on the operator's side: what -R leads back to. */
async function echoServer(): Promise<{ port: number; sockets: Set<Socket>; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const srv: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('data', (d) => s.write(`echo:${d}`));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as { port: number }).port,
    sockets,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => srv.close(() => r()));
    },
  };
}

/** Connect, send, and read until `want` arrives. The socket is left open. */
function talk(port: number, send: string, want: string): Promise<{ sock: Socket; got: string }> {
  return new Promise((resolve, reject) => {
    let got = '';
    const sock = connect(port, '127.0.0.1', () => sock.write(send));
    sock.on('data', (d) => {
      got += d;
      if (got.includes(want)) resolve({ sock, got });
    });
    sock.on('error', reject);
    setTimeout(() => reject(new Error(`no ${want} from ${port}; got ${JSON.stringify(got)}`)), 10_000).unref();
  });
}

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });
}

/** A fake X server on 127.0.0.1:6000+n: records what arrives, answers 8 bytes once the setup is in. */
async function fakeXServer(): Promise<{ display: number; received: () => Buffer; close(): Promise<void> }> {
  let got = Buffer.alloc(0);
  const srv = createServer((s) => {
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 48) s.write('XREPLY!!');
    });
    s.on('error', () => undefined);
  });
  for (let n = 300 + Math.floor(Math.random() * 400); ; n++) {
    const ok = await new Promise<boolean>((r) => {
      srv.once('error', () => r(false));
      srv.listen(6000 + n, '127.0.0.1', () => r(true));
    });
    if (ok) return { display: n, received: () => got, close: () => new Promise((r) => srv.close(() => r())) };
  }
}

// On the target: an X client's connection setup (MIT-MAGIC-COOKIE-1 with the
// cookie sshd stored for this DISPLAY), then the server's first 8 bytes.
const X_CLIENT = `
n=\${DISPLAY#*:}; n=\${n%%.*}
cookie=$(xauth list | awk -v d=":$n\$" '$1 ~ d {print $3; exit}')
[ -n "$cookie" ] || { echo "no cookie for $DISPLAY"; exit 3; }
exec 3<>/dev/tcp/127.0.0.1/$((6000 + n))
printf "l\\x00\\x0b\\x00\\x00\\x00\\x12\\x00\\x10\\x00\\x00\\x00MIT-MAGIC-COOKIE-1\\x00\\x00$(printf %s "$cookie" | sed 's/../\\\\x&/g')" >&3
echo "reply=$(head -c 8 <&3)"
`;

// A bound on the whole suite: a forwarding that never closes fails instead of hanging.
describe('gateway > forwardings (real ssh -R / -A / -Y, real sshd)', { timeout: 120_000 }, () => {
  const tmp = tempDir('tw-gw-fwd-');
  let sshd: Sshd;
  let strictSshd: Sshd;
  let fx: GatewayFixture;
  let alice: ReturnType<typeof operatorKey>;
  let bob: ReturnType<typeof operatorKey>;
  let echo: Awaited<ReturnType<typeof echoServer>>;
  let agent: ChildProcess;
  // The agent's socket apart from tmp.dir, which the password scan reads file by file.
  const agentDir = tempDir('tw-gw-agent-');
  const agentSock = join(agentDir.dir, 'agent.sock');
  const agentKey = join(tmp.dir, 'agent_key');
  const cmdlines = watchCmdlines();

  /** ssh options, then the destination, then the command if any. */
  const sshArgs = (who: ReturnType<typeof operatorKey>, user: string, opts: string[], command?: string, target = `${ACCOUNT}@web1`) => [
    '-i', who.file, '-o', 'IdentitiesOnly=yes', '-p', String(fx.gw.port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', ...opts, `${user}:${target}@127.0.0.1`, ...(command ? [command] : []),
  ];
  const fwdEvents = (kind: string, ok: boolean) => fx.events().filter((e: TwEvent) => e.event.action === 'gateway-forwarding' && e.event.reason === `${kind}-forwarding` && e.event.outcome === (ok ? 'success' : 'failure'));
  const sessionEnds = () => fx.events().filter((e) => e.event.action === 'gateway-rotation' && e.event.reason === 'session-end').length;

  before(async () => {
    createAccount(ACCOUNT);
    createAccount(STRICT_ACCOUNT);
    sshd = await startSshd(tmp.dir, { config: ['AllowTcpForwarding yes', 'AllowAgentForwarding yes', 'X11Forwarding yes', 'X11UseLocalhost yes'] });
    strictSshd = await startSshd(join(tmp.dir, 'strict'), { config: ['AllowAgentForwarding no', 'X11Forwarding no'] });
    alice = operatorKey(tmp.dir, 'alice');
    bob = operatorKey(tmp.dir, 'bob');
    echo = await echoServer();
    fx = await startTestGateway(tmp.dir, {
      operators: { alice: { keys: [alice.publicKey], groups: ['fwd'] }, bob: { keys: [bob.publicKey], groups: ['plain'] } },
      targets: {
        web1: { address: '127.0.0.1', port: sshd.port, host_key: sshd.fingerprint, management: { user: 'root', private_key_file: sshd.mgmtKeyFile }, accounts: [ACCOUNT] },
        // The same machine behind an sshd that forbids agent and X11 forwarding.
        strict: { address: '127.0.0.1', port: strictSshd.port, host_key: strictSshd.fingerprint, management: { user: 'root', private_key_file: strictSshd.mgmtKeyFile }, accounts: [STRICT_ACCOUNT] },
      },
      grants: [
        { groups: ['fwd'], targets: ['web1', 'strict'], accounts: [ACCOUNT, STRICT_ACCOUNT], port_forwarding: true, remote_forwarding: true, agent_forwarding: true, x11: true },
        // bob may use port_forwarding (-L) but not -R: the two are separate flags.
        { groups: ['plain'], targets: ['web1'], accounts: [ACCOUNT], port_forwarding: true },
      ],
    });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'operator-agent-key', '-f', agentKey]);
    agent = spawn('ssh-agent', ['-D', '-a', agentSock], { stdio: 'ignore' });
    await waitFor(() => {
      try {
        execFileSync('ssh-add', [agentKey], { env: { ...process.env, SSH_AUTH_SOCK: agentSock }, stdio: 'pipe' });
        return true;
      } catch {
        return false;
      }
    }, { what: 'ssh-agent up and key added' });
  });

  after(async () => {
    agent?.kill();
    await fx?.stop();
    await sshd?.stop();
    await strictSshd?.stop();
    await echo?.close();
    cmdlines.stop();
    removeAccount(ACCOUNT);
    removeAccount(STRICT_ACCOUNT);
    tmp.cleanup();
    agentDir.cleanup();
  });

  it('-R: the target listens, data flows back to the operator, and it all closes when the operator leaves', async () => {
    const ends = sessionEnds();
    const ssh = spawn('ssh', sshArgs(alice, 'alice', ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:0:127.0.0.1:${echo.port}`]), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    ssh.stderr!.on('data', (d) => (stderr += d));
    const m = await waitFor(() => /Allocated port (\d+)/.exec(stderr) ?? false, { what: 'the allocated port from ssh' });
    const port = Number(m[1]);
    const { sock, got } = await talk(port, 'hello-through-R', 'echo:hello-through-R');
    assert.equal(got, 'echo:hello-through-R');
    assert.equal(echo.sockets.size, 1, 'the operator side got the connection');
    const listen = fwdEvents('remote', true).find((e) => e.trailwatch?.forwarding && (e.trailwatch.forwarding as { listen?: string }).listen === `127.0.0.1:${port}`);
    assert.ok(listen, 'an event says the target listens');
    assert.equal(listen.trailwatch?.session?.operator, 'alice');
    await waitFor(() => fwdEvents('remote', true).some((e) => /connection from 127\.0\.0\.1:\d+/.test(e.message ?? '')), { what: 'forwarded connection event' });

    const closed = new Promise((r) => sock.once('close', r));
    ssh.kill();
    await closed; // the forwarded connection is closed at session end
    await waitFor(() => sessionEnds() > ends, { what: 'rotation after the -R session' });
    assert.ok(await refusesConnections(port), 'the target no longer listens');
  });

  it('-R: cancel-tcpip-forward stops the listener; -L works under port_forwarding', async () => {
    const c = await connectOperator(fx.gw.port, `alice:${ACCOUNT}@web1`, alice.privateKey);
    try {
      const port = await new Promise<number>((res, rej) => c.forwardIn('127.0.0.1', 0, (err, p) => (err ? rej(err) : res(p))));
      c.on('tcp connection', (_info, accept) => {
        const ch = accept();
        ch.on('data', (d: Buffer) => ch.end(`ssh2:${d}`));
      });
      const { sock } = await talk(port, 'x', 'ssh2:x');
      sock.destroy();
      await new Promise<void>((res, rej) => c.unforwardIn('127.0.0.1', port, (err) => (err ? rej(err) : res())));
      assert.ok(await refusesConnections(port), 'cancelled on the target');
      assert.ok(fwdEvents('remote', true).some((e) => (e.trailwatch?.forwarding as { cancelled?: boolean }).cancelled));

      const out = await new Promise<string>((res, rej) =>
        c.forwardOut('127.0.0.1', 1, '127.0.0.1', echo.port, (err, ch) => {
          if (err) return rej(err);
          let s = '';
          ch.on('data', (d: Buffer) => {
            s += d;
            if (s.includes('echo:L')) res(s);
          });
          ch.write('L');
        }),
      );
      assert.equal(out, 'echo:L');
      assert.ok(fwdEvents('local', true).some((e) => e.message?.includes(`127.0.0.1:${echo.port}`)));
    } finally {
      c.end();
    }
  });

  it('-R is refused without remote_forwarding (port_forwarding alone is not enough), with an event', async () => {
    const r = await run('ssh', sshArgs(bob, 'bob', ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:0:127.0.0.1:${echo.port}`]), { timeout: 20_000 }).catch((e: { code: number; stderr: string }) => e);
    assert.equal((r as { code: number }).code, 255);
    assert.match((r as { stderr: string }).stderr, /remote port forwarding failed/);
    const ev = await waitFor(() => fwdEvents('remote', false).find((e) => e.trailwatch?.session?.operator === 'bob'));
    assert.match(ev.message ?? '', /refused: the grant does not allow remote_forwarding/);
  });

  it('-A: ssh-add on the target lists and signs with the operator\'s key; the gateway itself logs in by password', async () => {
    const fp = execFileSync('ssh-keygen', ['-lf', agentKey + '.pub'], { encoding: 'utf8' }).split(' ')[1];
    const script = 'ssh-add -l; ssh-add -L > "$HOME/k.pub"; echo signed-data | ssh-keygen -Y sign -n test -f "$HOME/k.pub"';
    const { stdout } = await run('ssh', sshArgs(alice, 'alice', ['-A'], script), { env: { ...process.env, SSH_AUTH_SOCK: agentSock }, timeout: 30_000 });
    assert.ok(stdout.includes(fp), `ssh-add -l lists ${fp}: ${stdout}`);
    assert.match(stdout, /operator-agent-key/);
    assert.match(stdout, /-----BEGIN SSH SIGNATURE-----/, 'signing through the forwarded agent works');
    const used = await waitFor(() => fwdEvents('agent', true)[0]);
    assert.match(used.message ?? '', /web1 used alice's forwarded agent/);
    assert.match(sshd.logs(), new RegExp(`Accepted password for ${ACCOUNT}`));
    assert.doesNotMatch(sshd.logs(), new RegExp(`Accepted publickey for ${ACCOUNT}`), 'never the agent\'s key');
  });

  it('-A is refused without agent_forwarding: no agent socket on the target, a notice, and an event', async () => {
    const r = await run('ssh', sshArgs(bob, 'bob', ['-A'], 'echo "sock=[$SSH_AUTH_SOCK]"; ssh-add -l; echo "rc=$?"'), { env: { ...process.env, SSH_AUTH_SOCK: agentSock }, timeout: 30_000 });
    assert.match(r.stdout, /sock=\[\]/);
    assert.match(r.stdout, /rc=2/);
    assert.match(r.stderr, /trailwatch: agent forwarding refused: the grant does not allow agent_forwarding/);
    assert.ok(fwdEvents('agent', false).some((e) => e.trailwatch?.session?.operator === 'bob'));
  });

  it('-Y: an X client on the target reaches the operator\'s display, with the operator\'s real cookie', async () => {
    const x = await fakeXServer();
    try {
      const cookie = randomBytes(16).toString('hex');
      const xauthority = join(tmp.dir, 'Xauthority');
      execFileSync('xauth', ['-q', '-f', xauthority, 'add', `127.0.0.1:${x.display}`, 'MIT-MAGIC-COOKIE-1', cookie], { stdio: 'pipe' });
      const env = { ...process.env, DISPLAY: `127.0.0.1:${x.display}`, XAUTHORITY: xauthority };
      const r = await run('ssh', sshArgs(alice, 'alice', ['-Y'], X_CLIENT), { env, timeout: 30_000 });
      assert.match(r.stdout, /reply=XREPLY!!/, `X server's answer reached the target: ${r.stdout} ${r.stderr}`);
      const got = x.received();
      assert.equal(got.subarray(12, 30).toString('latin1'), 'MIT-MAGIC-COOKIE-1');
      // The operator's ssh swapped the fake cookie the target saw for the real one.
      assert.equal(got.subarray(32, 48).toString('hex'), cookie);
      assert.ok(fwdEvents('x11', true).some((e) => /X11 forwarding connection from/.test(e.message ?? '')));
    } finally {
      await x.close();
    }
  });

  it('-Y is refused without x11: no DISPLAY on the target, and an event', async () => {
    const r = await run('ssh', sshArgs(bob, 'bob', ['-Y'], 'echo "display=[$DISPLAY]"'), { env: { ...process.env, DISPLAY: '127.0.0.1:999' }, timeout: 30_000 });
    assert.match(r.stdout, /display=\[\]/);
    assert.match(r.stderr, /X11 forwarding refused: the grant does not allow x11/);
    assert.ok(fwdEvents('x11', false).some((e) => e.trailwatch?.session?.operator === 'bob'));
  });

  it('a target that refuses agent or X11 forwarding: the command still runs, the operator is told, an event says so', async () => {
    const r = await run('ssh', sshArgs(alice, 'alice', ['-A', '-Y'], 'echo "ran sock=[$SSH_AUTH_SOCK] display=[$DISPLAY]"', `${STRICT_ACCOUNT}@strict`), { env: { ...process.env, SSH_AUTH_SOCK: agentSock, DISPLAY: '127.0.0.1:999' }, timeout: 30_000 });
    assert.match(r.stdout, /ran sock=\[\] display=\[\]/);
    assert.match(r.stderr, /the target refused X11 forwarding; continuing without it/);
    assert.match(r.stderr, /the target refused agent forwarding; continuing without it/);
    for (const kind of ['x11', 'agent']) assert.ok(fwdEvents(kind, false).some((e) => e.trailwatch?.session?.target === 'strict' && /refused by the target strict/.test(e.message ?? '')), kind);
  });

  it('no password appears in any log, event, recording or process argument list', async () => {
    await waitFor(() => sessionEnds() >= 7, { what: 'every session rotated at its end' });
    assert.ok(fx.passwords.length >= 14, JSON.stringify(fx.events().filter((e) => e.event.action === 'gateway-rotation').map((e) => [e.event.reason, e.event.outcome, e.message])));
    const haystacks = [...readTree(tmp.dir).map((f) => ({ where: f.file, text: f.text })), { where: 'sshd logs', text: sshd.logs() }, ...[...cmdlines.stop()].map((c) => ({ where: 'cmdline', text: c }))];
    for (const p of fx.passwords) for (const h of haystacks) assert.ok(!h.text.includes(p), `password found in ${h.where}`);
  });
});
