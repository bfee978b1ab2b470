// Prohibited commands as the shell understands them, and secrets typed at
// no-echo prompts, with the real OpenSSH client (`ssh -tt`, keys written to
// its stdin as a terminal would send them) through the gateway to a real
// sshd. Canary files belong to the target account, so a spelling the gateway
// failed to block would really delete one and the test would see it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createAccount, execOn, connectOperator, operatorKey, readTree, removeAccount, startSshd, startTestGateway, tempDir, waitFor, type GatewayFixture, type Sshd } from './gateway-fixture.js';
import { within } from './helpers.js';

const ACC = 'twt_cmdparse';
const BLOCK_NOTICE = 'command blocked by policy';

interface Tty {
  write(s: string): void;
  waitOut(re: RegExp, ms?: number): Promise<void>;
  /** Wait until the gateway's block notice has been shown n times and the shell's prompt came back after it. */
  waitBlocked(n: number): Promise<void>;
  out(): string;
  exit(): Promise<void>;
}

/** An interactive session with the real ssh client, forced to ask for a pty. */
function sshTty(port: number, user: string, keyFile: string): Tty {
  const child: ChildProcess = spawn(
    'ssh',
    ['-tt', '-i', keyFile, '-p', String(port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', `${user}@127.0.0.1`],
    { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TERM: 'xterm' } },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const closed = new Promise<void>((r) => child.once('close', () => r()));
  return {
    write: (s) => void child.stdin!.write(s),
    out: () => out,
    waitOut: async (re, ms = 15_000) => {
      await waitFor(() => re.test(out), { timeoutMs: ms, what: () => `${re} in ssh output: ${JSON.stringify(out.slice(-600))}` });
    },
    // Keys typed before the shell has handled the Ctrl-C that cleared a blocked line can be discarded with it, as for any ^C.
    waitBlocked: async (n) => {
      await waitFor(() => out.split(BLOCK_NOTICE).length > n && /\$ (?:\x1b\[K)?$/.test(out.slice(out.lastIndexOf(BLOCK_NOTICE))), { what: () => `${n} block notices and a prompt in ssh output: ${JSON.stringify(out.slice(-600))}` });
    },
    exit: async () => {
      child.stdin!.write('exit\r');
      await within(closed, 15_000, () => `ssh to end; output ${JSON.stringify(out.slice(-600))}`);
    },
  };
}

function castEvents(dir: string): [number, string, string][][] {
  const recs = join(dir, 'gateway', 'recordings');
  return readdirSync(recs)
    .filter((f) => f.endsWith('.cast'))
    .map((f) =>
      readFileSync(join(recs, f), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => JSON.parse(l) as [number, string, string]),
    );
}

describe('gateway > commands as the shell runs them (real ssh, real sshd)', () => {
  const tmp = tempDir('tw-gw-parse-');
  let sshd: Sshd;
  let fx: GatewayFixture;
  let alice: ReturnType<typeof operatorKey>;
  let home: string;
  let uid: number;
  let gid: number;
  const canary = (n: string) => join(home, `canary-${n}`);
  const plant = (n: string) => {
    writeFileSync(canary(n), 'still here');
    chownSync(canary(n), uid, gid);
    return canary(n);
  };
  const policy = (unresolved?: 'block' | 'alert') => ({
    operators: { alice: { keys: [alice.publicKey] } },
    targets: { db1: { address: '127.0.0.1', port: sshd.port, host_key: sshd.fingerprint, groups: ['db'], management: { user: 'root', private_key_file: sshd.mgmtKeyFile }, accounts: [ACC] } },
    grants: [{ operators: ['alice'], targets: ['*'], accounts: ['*'] }],
    command_rules: [{ id: 'rm-canary', command: 'rm', flags: ['r', 'f'], args: [`${home}/canary-*`], action: 'block', severity: 'critical', description: 'Deleting a canary' }],
    ...(unresolved ? { unresolved_commands: { action: unresolved, severity: 'medium' } } : {}),
  });
  const blocked = () => fx.events().filter((e) => e.event.action === 'gateway-command-blocked' && e.event.kind === 'event');
  const ran = () => fx.events().filter((e) => e.event.action === 'gateway-command' && e.event.kind === 'event');
  const login = () => sshTty(fx.gw.port, `alice:${ACC}@db1`, alice.file);

  before(async () => {
    createAccount(ACC);
    home = execFileSync('getent', ['passwd', ACC], { encoding: 'utf8' }).split(':')[5];
    uid = Number(execFileSync('id', ['-u', ACC], { encoding: 'utf8' }));
    gid = Number(execFileSync('id', ['-g', ACC], { encoding: 'utf8' }));
    sshd = await startSshd(tmp.dir);
    alice = operatorKey(tmp.dir, 'alice');
    fx = await startTestGateway(tmp.dir, policy());
  });

  after(async () => {
    await fx?.stop();
    await sshd?.stop();
    removeAccount(ACC);
    tmp.cleanup();
  });

  it('one parsed rule (rm, flags r f, a canary path) blocks every spelling; others run', async () => {
    const c = plant('a');
    const spellings = [
      `rm -rf ${c}`,
      `r\\m -rf ${c}`,
      `\\rm -rf ${c}`,
      `/bin/rm -rf ${c}`,
      `/usr/bin/rm -fr ${c}`,
      `'rm' "-rf" "${c}"`,
      `rm -r -f ${c}`,
      `rm --recursive --force ${c}`,
      `rm -R --force ${c}`,
      `true; rm -rf ${c}`,
      `ls / && rm -rf ${c}`,
      `(cd /; rm -rf ${c})`,
      `{ rm -rf ${c}; }`,
      `bash -c 'rm -rf ${c}'`,
      `sh -c "sh -c 'rm -rf ${c}'"`,
      `sudo -n -u ${ACC} rm -rf ${c}`,
      `env FOO=1 nice -n 5 timeout 10 rm -rf ${c}`,
      `echo | xargs rm -rf ${c}`,
      `find ${home} -maxdepth 0 -exec rm -rf ${c} \\;`,
      `eval rm -rf ${c}`,
      `command rm -rf ${c}`,
      `exec rm -rf ${c}`,
      `busybox rm -rf ${c}`,
      `{rm,-rf,${c}}`,
      `rm -rf ${home}//./canary-a`,
      `echo $(rm -rf ${c})`,
    ];
    const t = login();
    await t.waitOut(/\$ $/m);
    for (const [i, line] of spellings.entries()) {
      t.write(line + '\r');
      await waitFor(() => blocked().length === i + 1, { what: () => `blocked: ${line}; output ${JSON.stringify(t.out().slice(-400))}` });
      await t.waitBlocked(i + 1);
      assert.equal(blocked()[i].process?.command_line, line);
      assert.equal(blocked()[i].event.reason, 'rm-canary', line);
      assert.ok(existsSync(c), `the canary survived ${line}`);
    }
    // the same command without -f, or on another file, is not the rule's: it runs (and the files really go)
    const noForce = plant('b');
    const other = join(home, 'not-a-canary');
    writeFileSync(other, 'x');
    chownSync(other, uid, gid);
    t.write(`rm -r ${noForce}; /bin/rm -rf ${other}; echo gone-$?\r`);
    await t.waitOut(/gone-0/);
    assert.ok(!existsSync(noForce) && !existsSync(other), 'rm really deletes what no rule covers');
    assert.equal(blocked().length, spellings.length);
    await t.exit();
  });

  it('lines that cannot be resolved before they run are blocked by default, with the reason', async () => {
    const c = plant('c');
    const before = blocked().length;
    const t = login();
    await t.waitOut(/\$ $/m);
    const lines = [`$(echo rm) -rf ${c}`, `\`echo rm\` -rf ${c}`, `echo rm -rf ${c} | sh`, `echo cm0gLXJmIC8K | base64 -d | bash`, `x=rm; eval "$x -rf ${c}"`, `echo ${c} | xargs rm -rf`];
    for (const [i, line] of lines.entries()) {
      t.write(line + '\r');
      await waitFor(() => blocked().length === before + i + 1, { what: () => `blocked: ${line}; output ${JSON.stringify(t.out().slice(-400))}` });
      await t.waitBlocked(i + 1);
      const ev = blocked()[before + i];
      assert.equal(ev.process?.command_line, line);
      assert.equal(ev.event.reason, 'unresolved-command');
      assert.match(ev.message ?? '', /\(.+\)$/, 'the message says why');
    }
    assert.ok(existsSync(c));
    await t.exit();
  });

  it('with unresolved_commands: alert they run and raise an alert', async () => {
    writeFileSync(fx.policyFile, JSON.stringify(policy('alert')));
    assert.equal(fx.gw.reload(), null);
    try {
      const seen = fx.events().length;
      const c = plant('d');
      const t = login();
      await t.waitOut(/\$ $/m);
      t.write(`$(echo rm) -rf ${c}; echo rm -rf ${c}x | sh; echo done-$?\r`);
      await t.waitOut(/done-0/);
      assert.ok(!existsSync(c), 'it ran');
      const ev = await waitFor(() => fx.events().slice(seen).find((e) => e.event.kind === 'alert' && e.rule?.id === 'gateway-command-unresolved-command'));
      assert.equal(ev.event.severity, 47);
      assert.ok(fx.events().slice(seen).some((e) => e.event.action === 'gateway-command' && e.process?.command_line?.startsWith('$(echo rm) -rf') && e.event.reason === 'unresolved-command'));
      await t.exit();
    } finally {
      writeFileSync(fx.policyFile, JSON.stringify(policy()));
      fx.gw.reload();
    }
  });

  it('a command typed after stty -echo is still checked and logged; its keys are hidden in the recording', async () => {
    const c = plant('e');
    const before = { blocked: blocked().length, ran: ran().length };
    const t = login();
    await t.waitOut(/\$ $/m);
    t.write('stty -echo\r');
    await waitFor(() => ran().length > before.ran);
    await new Promise((r) => setTimeout(r, 300));
    t.write(`rm -rf ${c}\r`);
    await waitFor(() => blocked().length > before.blocked, { what: () => `blind rm blocked; output ${JSON.stringify(t.out().slice(-400))}` });
    await t.waitBlocked(1);
    assert.equal(blocked().at(-1)!.process?.command_line, `rm -rf ${c}`);
    assert.ok(existsSync(c));
    // typed blind, with a typo fixed by Backspace, a word dropped by Ctrl-W and a line dropped by Ctrl-U
    t.write('echo nothing-to-see\x15echo blind-$((6*7)) junk\x17x\x7f\r');
    await t.waitOut(/blind-42/);
    await waitFor(() => ran().some((e) => e.process?.command_line === 'echo blind-$((6*7))'), { what: () => `blind echo logged: ${JSON.stringify(ran().map((e) => e.process?.command_line))}` });
    t.write('stty echo\r');
    await waitFor(() => ran().some((e) => e.process?.command_line === 'stty echo'));
    await t.exit();
    const cast = castEvents(fx.dataDir).find((evs) => evs.some((e) => e[1] === 'm' && e[2] === 'echo blind-$((6*7))'));
    assert.ok(cast, 'the command is a marker in the recording');
    const typed = cast.filter((e) => e[1] === 'i').map((e) => e[2]).join('');
    assert.ok(!typed.includes('blind-'), `no-echo keys are not in the input stream: ${JSON.stringify(typed)}`);
    assert.match(typed, /\[\d+ chars hidden\]/);
    assert.ok(typed.includes('stty -echo'), 'echoed keys are recorded as typed');
  });

  it('secrets typed at read -s and a sudo-style password prompt are nowhere: recording, events, logs', async () => {
    const secrets = ['S3cr3t-read-s-4711', 'Pw-sudo-style-0815', 'Blind-read-9999'];
    const t = login();
    await t.waitOut(/\$ $/m);
    t.write(`read -s -p 'Password: ' pw; echo "len=\${#pw}"\r`);
    await t.waitOut(/Password: $/);
    t.write(secrets[0] + '\r');
    await t.waitOut(new RegExp(`len=${secrets[0].length}`));
    t.write(`stty -echo; printf '[sudo] password for %s: ' "$USER"; read pw; stty echo; echo; echo "got=\${#pw}"\r`);
    await t.waitOut(/\[sudo\] password for \w+: $/);
    t.write(secrets[1] + '\r');
    await t.waitOut(new RegExp(`got=${secrets[1].length}`));
    t.write(`stty -echo; read pw; stty echo; echo "blind=\${#pw}"\r`);
    await new Promise((r) => setTimeout(r, 500));
    t.write(secrets[2] + '\r');
    await t.waitOut(new RegExp(`blind=${secrets[2].length}`));
    await t.exit();
    await fx.gw.ctx.events.flush();
    const cast = castEvents(fx.dataDir).find((evs) => evs.some((e) => e[1] === 'o' && e[2].includes('[sudo] password for')))!;
    const typed = cast.filter((e) => e[1] === 'i').map((e) => e[2]);
    for (const s of secrets) assert.ok(typed.includes(`[${s.length} chars hidden]`), `${s.length} hidden chars in ${JSON.stringify(typed)}`);
    const everything = [...readTree(tmp.dir), { file: 'events in memory', text: JSON.stringify(fx.events()) }];
    for (const s of secrets) for (const f of everything) assert.ok(!f.text.includes(s), `${s} found in ${f.file}`);
    assert.ok(everything.some((f) => f.file.endsWith('.cast')) && everything.some((f) => f.file === fx.logFile));
  });

  it('exec requests are parsed the same way', async () => {
    const c = plant('f');
    const conn = await connectOperator(fx.gw.port, `alice:${ACC}@db1`, alice.privateKey);
    for (const cmd of [`bash -c 'rm -rf ${c}'`, `echo rm -rf ${c} | sh`, `sudo -n env X=1 /bin/rm --force -r ${c}`]) {
      const r = await execOn(conn, cmd);
      assert.equal(r.code, 126, cmd);
      assert.match(r.stderr, /blocked by policy/);
    }
    const ok = await execOn(conn, 'echo fine | cat');
    assert.equal(ok.stdout, 'fine\n');
    conn.end();
    assert.ok(existsSync(c));
  });
});
