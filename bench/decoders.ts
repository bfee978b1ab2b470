// decode() over 1M pre-parsed auth.log-style events (the syslog parser's
// output), lines/s. Only decoding is timed: events are built in chunks
// outside the clock, because decode() enriches them in place.
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { baseEvent, type TwEvent } from '../src/event.js';
import { createDecoder } from '../src/rules/decoders/index.js';
import type { BenchRow } from './types.js';

export type { BenchRow };

const TOTAL = 1_000_000;
const CHUNK = 4096; // a bus batch: events die young, as in the pipeline

// [process name, message template]; {ip} {port} {user} {n} are filled per line.
const TEMPLATES: Array<[string, string]> = [
  ['sshd', 'Failed password for {user} from {ip} port {port} ssh2'],
  ['sshd', 'Failed password for invalid user {user} from {ip} port {port} ssh2'],
  ['sshd', 'Invalid user {user} from {ip} port {port}'],
  ['sshd', 'pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user={user}'],
  ['sshd', 'pam_unix(sshd:auth): check pass; user unknown'],
  ['sshd', 'Connection closed by invalid user {user} {ip} port {port} [preauth]'],
  ['sshd', 'Received disconnect from {ip} port {port}:11: Bye Bye [preauth]'],
  ['sshd', 'Disconnected from authenticating user {user} {ip} port {port} [preauth]'],
  ['sshd', 'PAM {n} more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost={ip}  user={user}'],
  ['sshd-session', 'Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 SHA256:Qm9vZm9vYmFyYmF6cXV4'],
  ['sshd', 'pam_unix(sshd:session): session opened for user {user}(uid=1000) by (uid=0)'],
  ['sshd', 'message repeated {n} times: [ Failed password for root from {ip} port {port} ssh2]'],
  ['sshd', 'error: maximum authentication attempts exceeded for root from {ip} port {port} ssh2 [preauth]'],
  ['CRON', 'pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)'],
  ['CRON', 'pam_unix(cron:session): session closed for user root'],
  ['CRON', '(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)'],
  ['sudo', '   {user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx'],
  ['su', 'FAILED SU (to root) {user} on pts/0'],
  ['systemd-logind', 'New session {n} of user {user}.'],
  ['audisp-syslog', 'type=EXECVE msg=audit(1700000000.123:{port}): argc=3 a0="ls" a1="-la" a2=2F746D702F612062'],
  ['sshd', 'Server listening on 0.0.0.0 port 22.'],
  ['systemd', 'Started Session {n} of user {user}.'],
];
const USERS = ['root', 'admin', 'test', 'oracle', 'ubuntu', 'alice', 'bob', 'git'];

function fill(t: string, i: number): string {
  return t
    .replace('{ip}', `203.0.${(i >> 8) & 255}.${i & 255}`)
    .replace('{port}', String(30000 + (i % 30000)))
    .replace('{user}', USERS[i % USERS.length])
    .replace('{user}', USERS[i % USERS.length])
    .replace('{n}', String((i % 5) + 1));
}

/** Events as the syslog parser hands them over (message after the tag, process.name/pid, host). */
function makeChunk(start: number, n: number): TwEvent[] {
  const out: TwEvent[] = new Array(n);
  for (let k = 0; k < n; k++) {
    const i = start + k;
    const [name, tpl] = TEMPLATES[(i * 7919) % TEMPLATES.length];
    const message = fill(tpl, i);
    const ev = baseEvent('2024-11-29T10:00:00.000Z', undefined, String(i));
    ev.host = { name: `web${i % 16}` };
    ev.process = { name, pid: 1000 + (i % 4000) };
    ev.message = message;
    out[k] = ev;
  }
  return out;
}

export async function run(): Promise<BenchRow[]> {
  const d = createDecoder();
  // Warm up the JIT on a separate chunk.
  for (const ev of makeChunk(TOTAL, 20_000)) d.decode(ev);
  let ms = 0;
  let matched = 0;
  for (let start = 0; start < TOTAL; start += CHUNK) {
    const chunk = makeChunk(start, Math.min(CHUNK, TOTAL - start));
    const t0 = performance.now();
    for (let i = 0; i < chunk.length; i++) if (d.decode(chunk[i])) matched++;
    ms += performance.now() - t0;
  }
  return [
    {
      bench: 'decoders',
      case: `decode() over ${TOTAL / 1e6}M pre-parsed auth.log events`,
      unit: 'lines/s',
      trailwatch: Math.round(TOTAL / (ms / 1000)),
      notes: `${TEMPLATES.length} line shapes (sshd/PAM/cron/sudo/su/logind/auditd/noise); ${matched} decoded; decode time only, higher is better`,
    },
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const row of await run()) console.log(JSON.stringify(row));
}
