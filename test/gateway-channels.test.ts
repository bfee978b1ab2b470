// Channel semantics through the gateway, with the real OpenSSH clients against
// a real sshd: each client must exit through the gateway as it does talking to
// sshd directly (same account, same commands). Issue #16 found `scp` (SFTP
// mode) exiting 1 after a good upload and `ssh -s … sftp </dev/null` hanging,
// because the gateway's SFTP channel sent no exit status.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connectOperator, createAccount, operatorKey, removeAccount, startSshd, startTestGateway, tempDir, type GatewayFixture, type Sshd } from './gateway-fixture.js';

const execP = promisify(execFile);

/** Exit code and output of a command (never throws on a non-zero exit). */
async function run(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<{ code: number; out: string }> {
  const p = execP(cmd, args, { timeout: 30_000, env: { ...process.env, ...opts.env }, cwd: opts.cwd });
  if (opts.input !== undefined) {
    p.child.stdin!.end(opts.input);
  }
  try {
    const r = await p;
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code?: number | string; killed?: boolean; stdout?: string; stderr?: string };
    if (e.killed) return { code: -1, out: `timed out: ${e.stderr}` };
    return { code: typeof e.code === 'number' ? e.code : -2, out: `${e.stdout}${e.stderr}` };
  }
}

describe('gateway > channels end as OpenSSH ends them (real ssh, scp, sftp, rsync, git)', () => {
  const tmp = tempDir('tw-gw-chan-');
  const ACC = 'twt_chan1';
  const home = `/tmp/twt_chan_${process.pid}`;
  let sshd: Sshd;
  let fx: GatewayFixture;
  let alice: ReturnType<typeof operatorKey>;
  let direct: ReturnType<typeof operatorKey>;
  /** ssh options for one side: through the gateway as alice, or straight to sshd as the account. */
  const opts = (side: 'gw' | 'direct') =>
    side === 'gw'
      ? ['-i', alice.file, '-o', `Port=${fx.gw.port}`, '-o', `User=alice:${ACC}@box`]
      : ['-i', direct.file, '-o', `Port=${sshd.port}`, '-o', `User=${ACC}`];
  const common = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR'];
  const both = async (f: (side: 'gw' | 'direct') => Promise<{ code: number; out: string }>) => ({ direct: await f('direct'), gw: await f('gw') });

  before(async () => {
    createAccount(ACC);
    // A new account is locked (no password), and sshd refuses even its keys then; the gateway sets one per access anyway.
    await execP('sh', ['-c', `echo '${ACC}:${randomBytes(12).toString('hex')}' | chpasswd`]);
    mkdirSync(home, { recursive: true });
    await execP('chown', [ACC, home]);
    sshd = await startSshd(tmp.dir);
    alice = operatorKey(tmp.dir, 'alice');
    direct = operatorKey(tmp.dir, 'direct');
    // The account's own key, for the direct runs (AuthorizedKeysFile <dir>/authorized_keys/%u).
    // sshd reads it as the account: the temp directory must let it.
    chmodSync(tmp.dir, 0o755);
    writeFileSync(join(tmp.dir, 'authorized_keys', ACC), direct.publicKey + '\n', { mode: 0o644 });
    fx = await startTestGateway(tmp.dir, {
      operators: { alice: { keys: [alice.publicKey] } },
      targets: { box: { address: '127.0.0.1', port: sshd.port, host_key: sshd.fingerprint, management: { user: 'root', private_key_file: sshd.mgmtKeyFile }, accounts: [ACC] } },
      grants: [{ operators: ['alice'], targets: ['box'], accounts: [ACC], file_transfer: 'allow' }],
    });
  });
  after(async () => {
    await fx?.stop();
    await sshd?.stop();
    removeAccount(ACC);
    rmSync(home, { recursive: true, force: true });
    tmp.cleanup();
  });

  it('exec passes on exit codes and signals', async () => {
    for (const command of ['exit 3', 'true', 'kill -TERM $$', 'kill -KILL $$']) {
      const r = await both((side) => run('ssh', [...opts(side), ...common, '127.0.0.1', command]));
      assert.equal(r.gw.code, r.direct.code, `${command}: gateway ${r.gw.code} (${r.gw.out}), direct ${r.direct.code} (${r.direct.out})`);
    }
    const r = await run('ssh', [...opts('gw'), ...common, '127.0.0.1', 'exit 3']);
    assert.equal(r.code, 3);
    // ssh exits 255 whether it got an exit-signal or nothing: look at the message itself.
    const c = await connectOperator(fx.gw.port, `alice:${ACC}@box`, alice.privateKey);
    try {
      const exit = await new Promise<unknown[]>((resolve, reject) =>
        c.exec('kill -TERM $$', (err, ch) => {
          if (err) return reject(err);
          let got: unknown[] = [];
          ch.on('exit', (...args: unknown[]) => (got = args));
          ch.on('close', () => resolve(got));
          ch.resume();
        }),
      );
      assert.deepEqual(exit.slice(0, 2), [null, 'SIGTERM']);
    } finally {
      c.end();
    }
  });

  it('scp in SFTP mode (the OpenSSH 9 default) uploads and downloads with exit 0', async () => {
    const local = join(tmp.dir, 'up.txt');
    writeFileSync(local, 'through the gateway by scp\n');
    for (const side of ['direct', 'gw'] as const) {
      const remote = `${home}/scp-${side}.txt`;
      const up = await run('scp', [...opts(side), ...common, local, `127.0.0.1:${remote}`]);
      assert.equal(up.code, 0, `${side} upload: ${up.out}`);
      assert.equal(readFileSync(remote, 'utf8'), 'through the gateway by scp\n');
      const back = join(tmp.dir, `down-${side}.txt`);
      const down = await run('scp', [...opts(side), ...common, `127.0.0.1:${remote}`, back]);
      assert.equal(down.code, 0, `${side} download: ${down.out}`);
      assert.equal(readFileSync(back, 'utf8'), 'through the gateway by scp\n');
    }
    const ev = fx.events().filter((e) => e.trailwatch?.transfer?.status === 'completed' && e.file?.path?.endsWith('scp-gw.txt'));
    assert.equal(ev.length, 2, 'the upload and the download are both recorded');
  });

  it('sftp in batch mode and `ssh -s sftp` with no input end as they do directly', async () => {
    const batch = join(tmp.dir, 'batch');
    writeFileSync(join(tmp.dir, 'b.txt'), 'batch\n');
    writeFileSync(batch, `put ${join(tmp.dir, 'b.txt')} ${home}/b.txt\nls ${home}\n`);
    const r = await both((side) => run('sftp', [...opts(side), ...common, '-b', batch, '127.0.0.1']));
    assert.equal(r.direct.code, 0, r.direct.out);
    assert.equal(r.gw.code, 0, r.gw.out);
    const s = await both((side) => run('ssh', [...opts(side), ...common, '-s', '127.0.0.1', 'sftp'], { input: '' }));
    assert.equal(s.gw.code, s.direct.code, `ssh -s sftp </dev/null: gateway ${s.gw.code} (${s.gw.out}), direct ${s.direct.code}`);
  });

  it('rsync -e ssh and git over ssh work through the gateway', async () => {
    const src = join(tmp.dir, 'tree');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'a.txt'), 'a\n');
    writeFileSync(join(src, 'sub', 'b.txt'), 'b\n');
    const rsh = (side: 'gw' | 'direct') => ['ssh', ...opts(side), ...common].join(' ');
    const r = await both((side) => run('rsync', ['-a', '-e', rsh(side), `${src}/`, `127.0.0.1:${home}/rsync-${side}/`]));
    assert.equal(r.direct.code, 0, r.direct.out);
    assert.equal(r.gw.code, 0, r.gw.out);
    assert.equal(readFileSync(`${home}/rsync-gw/sub/b.txt`, 'utf8'), 'b\n');

    // A bare repository owned by the account; cloned over ssh.
    const repo = `${home}/repo.git`;
    await execP('git', ['init', '-q', '--bare', repo]);
    await execP('chown', ['-R', ACC, repo]);
    const work = join(tmp.dir, 'work');
    await execP('git', ['init', '-q', work]);
    writeFileSync(join(work, 'f'), 'f\n');
    const git = (args: string[], side: 'gw' | 'direct', cwd?: string) =>
      run('git', ['-c', 'user.email=t@example.invalid', '-c', 'user.name=t', '-c', 'safe.directory=*', ...args], { cwd, env: { GIT_SSH_COMMAND: rsh(side) } });
    assert.equal((await git(['add', 'f'], 'gw', work)).code, 0);
    assert.equal((await git(['commit', '-qm', 'one'], 'gw', work)).code, 0);
    const push = await git(['push', '-q', `ssh://127.0.0.1${repo}`, 'HEAD:refs/heads/main'], 'gw', work);
    assert.equal(push.code, 0, push.out);
    const clone = await git(['clone', '-q', '-b', 'main', `ssh://127.0.0.1${repo}`, join(tmp.dir, 'clone')], 'gw');
    assert.equal(clone.code, 0, clone.out);
    assert.equal(readFileSync(join(tmp.dir, 'clone', 'f'), 'utf8'), 'f\n');
  });
});
