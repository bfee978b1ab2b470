// Attacker traffic for the distributed rules tests: sshd lines from many
// hosts (so many raw partitions) with brute force, invalid users, spraying,
// success after failures, a slow attacker whose failures span several windows,
// and benign noise that must stay quiet. Deterministic (seeded).
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { type TwEvent } from '../src/event.js';
import { parseLine } from '../src/rules/replay-parse.js';

export const YEAR = 2024;
const HOSTS = 40;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function stamp(ms: number): string {
  const d = new Date(ms);
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()];
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${mon} ${String(d.getUTCDate()).padStart(2, ' ')} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** Syslog lines in time order. `scale` multiplies the attackers. */
export function attackLines(scale = 1, seed = 7): string[] {
  const rand = rng(seed);
  const t0 = Date.UTC(YEAR, 2, 3, 10, 4, 30);
  const lines: { t: number; n: number; text: string }[] = [];
  let pid = 2000;
  let n = 0;
  const host = () => `srv${Math.floor(rand() * HOSTS)}`;
  const at = (t: number, h: string, p: number, msg: string) => lines.push({ t, n: n++, text: `${stamp(t)} ${h} sshd[${p}]: ${msg}` });
  const failed = (t: number, ip: string, user: string) => at(t, host(), pid++, `Failed password for ${user} from ${ip} port ${40000 + (pid % 20000)} ssh2`);
  const invalid = (t: number, ip: string, user: string) => {
    const h = host();
    const p = pid++;
    const port = 40000 + (p % 20000);
    at(t, h, p, `Invalid user ${user} from ${ip} port ${port}`);
    at(t + 1500, h, p, `Failed password for invalid user ${user} from ${ip} port ${port} ssh2`);
  };
  const accepted = (t: number, ip: string, user: string) => at(t, host(), pid++, `Accepted password for ${user} from ${ip} port ${40000 + (pid % 20000)} ssh2`);
  for (let k = 0; k < scale; k++) {
    const base = t0 + k * 40 * 60_000;
    // Brute force: 8-12 failures per source within a few minutes, each on a random host.
    for (let a = 0; a < 4; a++) for (let i = 0; i < 8 + a; i++) failed(base + a * 7000 + i * 9000 + Math.floor(rand() * 4000), `203.0.113.${10 + a + k * 20}`, 'root');
    // Invalid users: a scanner's name list.
    for (let a = 0; a < 3; a++) for (let i = 0; i < 6; i++) invalid(base + 60_000 + a * 5000 + i * 11_000, `198.51.100.${20 + a + k * 20}`, ['oracle', 'test', 'admin', 'ubuntu', 'pi', 'git'][i]);
    // Spraying: one password against many accounts.
    for (let a = 0; a < 2; a++) for (let i = 0; i < 6; i++) failed(base + 120_000 + a * 3000 + i * 20_000, `192.0.2.${30 + a + k * 20}`, `user${i}`);
    // Success after failures: the guess worked.
    for (let a = 0; a < 2; a++) {
      const ip = `203.0.113.${100 + a + k * 20}`;
      for (let i = 0; i < 6; i++) failed(base + 200_000 + a * 4000 + i * 6000, ip, 'deploy');
      accepted(base + 200_000 + a * 4000 + 45_000, ip, 'deploy');
    }
    // A slow attacker: one failure a minute for 35 minutes, over several windows.
    for (let i = 0; i < 35; i++) failed(base + i * 60_000 + 500, `198.51.100.${200 + k}`, `svc${i % 3}`);
    // Benign: admins logging in, and a couple of typos (two failures at most per source).
    for (let i = 0; i < 60; i++) accepted(base + i * 30_000 + 250, `10.0.0.${i % 12}`, ['alice', 'bob', 'carol'][i % 3]);
    for (let i = 0; i < 10; i++) for (let j = 0; j < 1 + (i % 2); j++) failed(base + i * 90_000 + j * 3000 + 700, `10.0.1.${i}`, 'erin');
  }
  lines.sort((a, b) => a.t - b.t || a.n - b.n);
  return lines.map((l) => l.text);
}

/** The raw events `trailwatch replay FILE --year YEAR` builds from the same lines (same ids), keyed by host. */
export function rawEvents(file: string, lines: string[]): TwEvent[] {
  const idBase = createHash('sha256').update(basename(file)).digest('hex').slice(0, 12);
  let last = new Date(0).toISOString();
  return lines.map((line, i) => {
    const ev = parseLine(line, { id: `${idBase}-${i + 1}`, year: () => YEAR, fallbackTime: last });
    ev.event.sequence = i + 1;
    last = ev['@timestamp'];
    return ev;
  });
}
