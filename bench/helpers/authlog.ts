// A generated auth.log: a few days of a busy internet-facing server. Noise
// (cron, logind, staff logins, sudo) with SSH brute force, invalid-user scans,
// spraying, "message repeated" lines and the odd prohibited command.
import { createWriteStream } from 'node:fs';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const USERS = ['root', 'admin', 'test', 'oracle', 'ubuntu', 'pi', 'postgres', 'git', 'user', 'guest', 'ftpuser', 'deploy', 'jenkins', 'minecraft', 'support'];
const HOSTS = ['web1', 'web2', 'db1', 'bastion'];

/** Small deterministic PRNG (mulberry32) so every run writes the same file. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function stamp(ms: number): string {
  const d = new Date(ms);
  const day = String(d.getUTCDate()).padStart(2, ' ');
  const t = d.toISOString().slice(11, 19);
  return `${MONTHS[d.getUTCMonth()]} ${day} ${t}`;
}

export async function writeAuthLog(path: string, lines: number, seed = 42): Promise<void> {
  const r = rng(seed);
  const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)];
  const out = createWriteStream(path, { highWaterMark: 1 << 20 });
  let t = Date.parse('2024-03-01T00:00:00Z');
  let pid = 1000;
  let buf = '';
  for (let i = 0; i < lines; ) {
    t += Math.floor(r() * 400);
    const host = pick(HOSTS);
    const ts = `${stamp(t)} ${host}`;
    const x = r();
    const ip = `203.0.${Math.floor(r() * 40)}.${Math.floor(r() * 250) + 1}`;
    const port = 30000 + Math.floor(r() * 30000);
    pid = (pid + 1 + Math.floor(r() * 5)) % 60000;
    let chunk: string;
    if (x < 0.3) {
      const user = pick(USERS);
      chunk =
        `${ts} sshd[${pid}]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=${ip}  user=${user}\n` +
        `${ts} sshd[${pid}]: Failed password for ${user} from ${ip} port ${port} ssh2\n`;
    } else if (x < 0.45) {
      const user = `${pick(USERS)}${Math.floor(r() * 50)}`;
      chunk =
        `${ts} sshd[${pid}]: Invalid user ${user} from ${ip} port ${port}\n` +
        `${ts} sshd[${pid}]: pam_unix(sshd:auth): check pass; user unknown\n` +
        `${ts} sshd[${pid}]: Failed password for invalid user ${user} from ${ip} port ${port} ssh2\n` +
        `${ts} sshd[${pid}]: Connection closed by invalid user ${user} ${ip} port ${port} [preauth]\n`;
    } else if (x < 0.5) {
      chunk = `${ts} sshd[${pid}]: message repeated 3 times: [ Failed password for root from ${ip} port ${port} ssh2]\n`;
    } else if (x < 0.53) {
      chunk = `${ts} sshd[${pid}]: Disconnecting authenticating user root ${ip} port ${port}: Too many authentication failures [preauth]\n`;
    } else if (x < 0.78) {
      const who = Math.floor(r() * 3) === 0 ? 'www-data(uid=33)' : 'root(uid=0)';
      chunk = `${ts} CRON[${pid}]: pam_unix(cron:session): session opened for user ${who} by (uid=0)\n${ts} CRON[${pid}]: pam_unix(cron:session): session closed for user ${who.split('(')[0]}\n`;
    } else if (x < 0.84) {
      const user = pick(['alice', 'bob', 'carol']);
      chunk =
        `${ts} sshd[${pid}]: Accepted publickey for ${user} from 10.1.2.${Math.floor(r() * 30)} port ${port} ssh2: ED25519 SHA256:q1Jm0pWm4tQ1u3bZ0yYk2k6mO1xQ8m9rP3c8gN5bV2a\n` +
        `${ts} sshd[${pid}]: pam_unix(sshd:session): session opened for user ${user}(uid=1000) by (uid=0)\n` +
        `${ts} systemd-logind[612]: New session ${pid} of user ${user}.\n`;
    } else if (x < 0.9) {
      const cmd = r() < 0.01 ? '/bin/bash -c history -c' : pick(['/usr/bin/systemctl restart nginx', '/usr/bin/apt update', '/usr/bin/journalctl -u nginx', '/usr/bin/tail -n 50 /var/log/syslog']);
      chunk =
        `${ts} sudo:    alice : TTY=pts/${pid % 9} ; PWD=/home/alice ; USER=root ; COMMAND=${cmd}\n` +
        `${ts} sudo: pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)\n` +
        `${ts} sudo: pam_unix(sudo:session): session closed for user root\n`;
    } else if (x < 0.95) {
      chunk = `${ts} sshd[${pid}]: Received disconnect from ${ip} port ${port}:11: Bye Bye [preauth]\n${ts} sshd[${pid}]: Disconnected from authenticating user root ${ip} port ${port} [preauth]\n`;
    } else {
      chunk = `${ts} systemd-logind[612]: Session ${pid} logged out. Waiting for processes to exit.\n${ts} systemd-logind[612]: Removed session ${pid}.\n`;
    }
    let n = 0;
    for (let k = 0; k < chunk.length; k++) if (chunk.charCodeAt(k) === 10) n++;
    if (i + n > lines) continue;
    i += n;
    buf += chunk;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await new Promise<void>((res) => out.once('drain', () => res()));
      buf = '';
    }
  }
  out.write(buf);
  await new Promise<void>((res, rej) => out.end((err?: Error | null) => (err ? rej(err) : res())));
}
