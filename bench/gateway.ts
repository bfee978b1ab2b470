// Gateway overhead against direct SSH to the same real sshd: bulk output
// (exec, and a pty shell where output also feeds the emulated terminal and
// the recording) in MB/s, and keystroke echo round trip (p50/p99 ms).
// The gateway runs as its own process (`trailwatch gateway`), as in production.
// Needs root (creates a twt_bench account and starts sshd).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ssh2 from 'ssh2';
import type { Client } from 'ssh2';
import { stringify } from 'yaml';
import { CLI } from '../test/helpers.js';
import { createAccount, operatorKey, removeAccount, startSshd, tempDir } from '../test/gateway-fixture.js';
import type { BenchRow } from './types.js';

export type { BenchRow };

const ACC = 'twt_bench';
const BYTES = 32 * 1024 * 1024;
const KEYS = 300;

function connect(cfg: ssh2.ConnectConfig): Promise<Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('ready', () => resolve(c)).on('error', reject);
    c.connect({ host: '127.0.0.1', hostVerifier: () => true, readyTimeout: 20_000, ...cfg });
  });
}

/**
 * MB/s of `command` output read through an exec channel (or a pty shell).
 * `eof`: the exec's stdin ends at once, as with `ssh -n` or `< /dev/null`
 * (scripts); otherwise it stays open, as `ssh host cmd` from a terminal, and
 * the gateway waits its transfer-check grace (a few client round trips, 25 to
 * 250 ms, under file_transfer deny or approve) before the command starts.
 */
function bulk(c: Client, shell: boolean, eof = false): Promise<number> {
  const cmd = `head -c ${BYTES} /dev/zero | tr '\\0' 'a'`;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let n = 0;
    const done = () => resolve(n / 1e6 / ((performance.now() - t0) / 1000));
    if (!shell)
      return c.exec(cmd, (err, ch) => {
        if (err) return reject(err);
        ch.on('data', (d: Buffer) => (n += d.length)).on('close', done);
        if (eof) ch.end();
      });
    c.shell({ term: 'xterm', cols: 120, rows: 40 }, (err, ch) => {
      if (err) return reject(err);
      let tail = '';
      ch.on('data', (d: Buffer) => {
        n += d.length;
        tail = (tail + d.toString('latin1')).slice(-64);
        if (tail.includes('__END__\r\n')) {
          done();
          ch.end();
        }
      });
      ch.write(`${cmd}; echo __E''ND__\r`);
    });
  });
}

/** Echo round trip of single keystrokes in a pty shell, ms, sorted. */
function keystrokes(c: Client): Promise<number[]> {
  return new Promise((resolve, reject) =>
    c.shell({ term: 'xterm', cols: 120, rows: 40 }, (err, ch) => {
      if (err) return reject(err);
      const times: number[] = [];
      let sent = 0;
      let waiting = false;
      let ready = false;
      const next = () => {
        if (times.length === KEYS) {
          ch.end();
          return resolve(times.sort((a, b) => a - b));
        }
        if (sent && sent % 50 === 0) ch.write('\x15'); // keep the line short
        sent = performance.now();
        waiting = true;
        ch.write('x');
      };
      ch.on('data', (d: Buffer) => {
        if (!ready) {
          if (/[$#] $/.test(d.toString('latin1'))) {
            ready = true;
            setTimeout(next, 200);
          }
          return;
        }
        if (waiting && d.includes(0x78)) {
          waiting = false;
          times.push(performance.now() - sent);
          setImmediate(next);
        }
      });
    }),
  );
}

const pct = (s: number[], p: number) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];

export async function run(): Promise<BenchRow[]> {
  const tmp = tempDir('tw-bench-gw-');
  createAccount(ACC);
  const sshd = await startSshd(tmp.dir);
  const op = operatorKey(tmp.dir, 'bencher');
  const policy = join(tmp.dir, 'policy.yaml');
  writeFileSync(
    policy,
    stringify({
      operators: { bencher: { keys: [op.publicKey] } },
      targets: { t: { address: '127.0.0.1', port: sshd.port, host_key: sshd.fingerprint, management: { user: 'root', private_key_file: sshd.mgmtKeyFile }, accounts: [ACC] } },
      grants: [{ operators: ['bencher'], targets: ['*'], accounts: ['*'] }],
    }),
  );
  const config = join(tmp.dir, 'trailwatch.yaml');
  writeFileSync(config, stringify({ data_dir: join(tmp.dir, 'data'), log_level: 'warn', gateway: { host: '127.0.0.1', port: 0, policy_file: policy, rotation: { cron: '' } } }));
  const gw = spawn(process.execPath, [CLI, '-c', config, 'gateway'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TRAILWATCH_LOG_LEVEL: 'info' } });
  const port = await new Promise<number>((resolve, reject) => {
    let logs = '';
    gw.stderr!.on('data', (d) => {
      logs += d;
      const m = /"port":(\d+),"msg":"gateway listening"/.exec(logs);
      if (m) resolve(Number(m[1]));
    });
    gw.on('exit', (code) => reject(new Error(`gateway exited ${code}: ${logs}`)));
  });
  const rows: BenchRow[] = [];
  try {
    const direct = await connect({ port: sshd.port, username: 'root', privateKey: (await import('node:fs')).readFileSync(sshd.mgmtKeyFile) });
    const via = await connect({ port, username: `bencher:${ACC}@t`, privateKey: op.privateKey });
    const kinds = [
      { shell: false, eof: false, name: 'exec (recording)', note: 'stdin open: includes the transfer-check grace (25 ms on loopback); ' },
      { shell: false, eof: true, name: 'exec, stdin at EOF as ssh -n (recording)', note: '' },
      { shell: true, eof: false, name: 'pty shell (terminal emulation + recording)', note: '' },
    ];
    for (const k of kinds) {
      await bulk(via, k.shell, k.eof); // warm up (the rotation and first connection happen here)
      const d = await bulk(direct, k.shell, k.eof);
      const g = await bulk(via, k.shell, k.eof);
      rows.push({ bench: 'gateway', case: `bulk output, ${k.name}, 32 MiB`, unit: 'MB/s', trailwatch: round(g), reference: round(d), referenceName: 'direct ssh', ratio: round(g / d), notes: `${k.note}higher is better; goal ratio >= 0.5` });
    }
    const kd = await keystrokes(direct);
    const kg = await keystrokes(via);
    for (const p of [50, 99])
      rows.push({ bench: 'gateway', case: `keystroke echo round trip p${p}`, unit: 'ms', trailwatch: round(pct(kg, p)), reference: round(pct(kd, p)), referenceName: 'direct ssh', ratio: round(pct(kd, p) / pct(kg, p)), notes: `added ${round(pct(kg, p) - pct(kd, p))} ms; lower is better; goal p99 added <= 5 ms` });
    direct.end();
    via.end();
  } finally {
    gw.kill('SIGTERM');
    await new Promise((r) => gw.once('exit', r));
    await sshd.stop();
    removeAccount(ACC);
    tmp.cleanup();
  }
  return rows;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  run().then(
    (rows) => console.table(rows),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
