// What the query tests share: a small corpus of sshd / sudo events (OpenSSH's
// and sudo's own message formats, attacker-chosen user names included), a
// reference evaluator that says in plain JavaScript which events a KQL AST
// should find, and fast-check generators of queries over value pools that
// occur in the corpus (and some that do not). The SQLite and Elasticsearch
// suites both compare their results with the reference.
import fc from 'fast-check';
import type { KqlNode, KqlValue, RangeOp } from '../src/query/kql.js';

export type Doc = Record<string, unknown>;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** An event as the decoders write one from a syslog line of `program[pid]: message`. */
function logged(id: string, ts: string, host: string, program: string, message: string, fields: Doc = {}): Doc {
  const d = new Date(ts);
  const stamp = `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${d.toISOString().slice(11, 19)}`;
  const { event, ...rest } = fields as { event?: Doc };
  return {
    '@timestamp': ts,
    event: { id, kind: 'event', original: `${stamp} ${host} ${program}[${1000 + Number(id.slice(1))}]: ${message}`, ...event },
    message,
    host: { name: host },
    process: { name: program },
    ...rest,
  };
}

const login = (outcome: string, user: string, ip: string, port: number, extra: Doc = {}): Doc => ({
  event: { action: 'ssh_login', outcome, category: ['authentication'] },
  user: { name: user },
  source: { ip, port },
  related: { user: [user] },
  ...extra,
});

export const EVENTS: Doc[] = [
  logged('q01', '2026-03-02T23:59:59.999Z', 'web1', 'sshd', 'Failed password for invalid user admin from 198.51.100.7 port 52114 ssh2', login('failure', 'admin', '198.51.100.7', 52114, { tags: ['ssh'], trailwatch: { auth: { method: 'password', invalid_user: true } } })),
  logged('q02', '2026-03-03T00:00:00.000Z', 'web1', 'sshd', 'Failed password for root from 203.0.113.9 port 40022 ssh2', login('failure', 'root', '203.0.113.9', 40022, { tags: ['ssh', 'bruteforce'], trailwatch: { auth: { method: 'password', invalid_user: false } } })),
  logged('q03', '2026-03-03T08:15:02.250Z', 'web2', 'sshd', 'Accepted publickey for deploy from 192.0.2.10 port 51515 ssh2: ED25519 SHA256:Xb3m9QfT', login('success', 'deploy', '192.0.2.10', 51515, { tags: ['ssh'], trailwatch: { auth: { method: 'publickey' } } })),
  logged('q04', '2026-03-03T09:00:00.000Z', 'web2', 'sshd', 'Accepted password for alice from 192.0.2.20 port 40100 ssh2', login('success', 'alice', '192.0.2.20', 40100)),
  logged('q05', '2026-03-03T10:05:00.000Z', 'bastion', 'sshd', 'Invalid user oracle from 198.51.100.7 port 52200', login('failure', 'oracle', '198.51.100.7', 52200, { trailwatch: { auth: { invalid_user: true } } })),
  logged('q06', '2026-03-03T10:05:00.500Z', 'bastion', 'sshd', 'Connection closed by authenticating user root 203.0.113.9 port 40022 [preauth]', {
    event: { action: 'ssh_connection_closed' },
    user: { name: 'root' },
    source: { ip: '203.0.113.9', port: 40022 },
  }),
  logged('q07', '2026-03-03T10:05:01.000Z', 'web1', 'sshd', 'Disconnected from invalid user admin 198.51.100.7 port 52114 [preauth]', {
    event: { action: 'ssh_disconnected' },
    user: { name: 'admin' },
    source: { ip: '198.51.100.7', port: 52114 },
  }),
  logged('q08', '2026-03-03T11:30:00.000Z', 'web1', 'sshd', 'error: maximum authentication attempts exceeded for root from 203.0.113.9 port 40022 ssh2 [preauth]', login('failure', 'root', '203.0.113.9', 40022, { tags: ['ssh', 'bruteforce'] })),
  logged('q09', '2026-03-03T12:00:00.000Z', 'db1', 'sudo', '   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx', {
    event: { action: 'sudo_command', outcome: 'success' },
    user: { name: 'alice', target: { name: 'root' } },
    related: { user: ['alice', 'root'] },
    tags: ['sudo'],
  }),
  logged('q10', '2026-03-03T13:45:10.000Z', 'web2', 'sshd', "Invalid user '; DROP TABLE events; -- from 198.51.100.23 port 41000", login('failure', "'; DROP TABLE events; --", '198.51.100.23', 41000)),
  logged('q11', '2026-03-03T14:00:00.000Z', 'web2', 'sshd', 'Invalid user 50%_off from 198.51.100.23 port 41002', login('failure', '50%_off', '198.51.100.23', 41002)),
  logged('q12', '2026-03-03T14:00:30.000Z', 'web2', 'sshd', 'Invalid user a"b from 198.51.100.23 port 41004', login('failure', 'a"b', '198.51.100.23', 41004)),
  logged('q13', '2026-03-03T14:01:00.000Z', 'web2', 'sshd', 'Invalid user back\\slash from 198.51.100.23 port 41006', login('failure', 'back\\slash', '198.51.100.23', 41006)),
  logged('q14', '2026-03-03T15:00:00.000Z', 'web1', 'sshd', 'Failed password for invalid user Admin from 198.51.100.8 port 52300 ssh2', login('failure', 'Admin', '198.51.100.8', 52300, { trailwatch: { auth: { invalid_user: true } } })),
  logged('q15', '2026-03-03T16:20:00.000Z', 'web1', 'sshd', 'Invalid user 22 from 198.51.100.8 port 22', login('failure', '22', '198.51.100.8', 22)),
  logged('q16', '2026-03-03T23:59:59.999Z', 'db1', 'sshd', 'Server listening on 0.0.0.0 port 22.', { event: { action: 'ssh_listening' } }),
  {
    '@timestamp': '2026-03-04T00:00:00.000Z',
    event: { id: 'q17', kind: 'alert', action: 'alert', severity: 73 },
    message: 'SSH brute force from 203.0.113.9: 5 failed logins in 60s',
    host: { name: 'bastion' },
    source: { ip: '203.0.113.9' },
    rule: { id: 'ssh-bruteforce', name: 'SSH brute force' },
    tags: ['alert', 'bruteforce'],
  },
  logged('q18', '2026-03-04T02:10:00.000Z', 'web1', 'sshd', 'Accepted keyboard-interactive/pam for root from 192.0.2.10 port 40500 ssh2', login('success', 'root', '192.0.2.10', 40500)),
  logged('q19', '2026-03-04T03:00:00.000Z', 'db1', 'sshd', 'pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)', {
    event: { action: 'session_opened' },
    user: { name: 'alice' },
    related: { user: [] },
    tags: [],
  }),
  logged('q20', '2026-03-04T04:00:00.000Z', 'web2', 'sshd', 'Invalid user NEAR(x) from 198.51.100.24 port 41010', login('failure', 'NEAR(x)', '198.51.100.24', 41010)),
  logged('q21', '2026-03-04T05:00:00.000Z', 'web2', 'sshd', 'Failed password for invalid user -x from 198.51.100.24 port 41012 ssh2', login('failure', '-x', '198.51.100.24', 41012)),
  logged('q22', '2026-03-05T00:00:00.000Z', 'web1', 'sshd', 'Received disconnect from 192.0.2.10 port 40500:11: disconnected by user', {
    event: { action: 'ssh_disconnected' },
    user: { name: null },
    source: { ip: '192.0.2.10', port: 40500 },
  }),
];

export const ALL_IDS = EVENTS.map(idOf).sort();

export function idOf(e: Doc): string {
  return (e.event as { id: string }).id;
}

export function get(e: Doc, field: string): unknown {
  let cur: unknown = e;
  for (const p of field.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Doc)[p];
  }
  return cur;
}

// --- the reference: which events a query should find ---------------------

export const TEXT_FIELDS = ['message', 'event.original'];
export const TIME_FIELD = '@timestamp';

/**
 * The dates the pools use and the span each names, written out by hand: the
 * way Elasticsearch reads them in ranges and matches (a partial date covers
 * its last given unit, except that a year or a month covers only its first
 * day; four digits are a year, other integers epoch milliseconds).
 */
export const TIME_SPANS: Record<string, [string, string]> = {
  '2026-03-03': ['2026-03-03T00:00:00.000Z', '2026-03-03T23:59:59.999Z'],
  '2026-03-04': ['2026-03-04T00:00:00.000Z', '2026-03-04T23:59:59.999Z'],
  '2026-03-05': ['2026-03-05T00:00:00.000Z', '2026-03-05T23:59:59.999Z'],
  '2026-03': ['2026-03-01T00:00:00.000Z', '2026-03-01T23:59:59.999Z'],
  '2026': ['2026-01-01T00:00:00.000Z', '2026-01-01T23:59:59.999Z'],
  '2026-03-03T10': ['2026-03-03T10:00:00.000Z', '2026-03-03T10:59:59.999Z'],
  '2026-03-03T10:05': ['2026-03-03T10:05:00.000Z', '2026-03-03T10:05:59.999Z'],
  '2026-03-03T10:05:00,5Z': ['2026-03-03T10:05:00.500Z', '2026-03-03T10:05:00.500Z'],
  '2026-03-03T11:05:00+0100': ['2026-03-03T10:05:00.000Z', '2026-03-03T10:05:00.999Z'],
  '2026-03-03T10:05:00Z': ['2026-03-03T10:05:00.000Z', '2026-03-03T10:05:00.999Z'],
  '2026-03-03T10:05:00.000Z': ['2026-03-03T10:05:00.000Z', '2026-03-03T10:05:00.000Z'],
  '2026-03-03T10:05:01Z': ['2026-03-03T10:05:01.000Z', '2026-03-03T10:05:01.999Z'],
  '2026-03-03T12:00:00+02:00': ['2026-03-03T10:00:00.000Z', '2026-03-03T10:00:00.999Z'],
  '2026-03-03T00:00:00.000Z': ['2026-03-03T00:00:00.000Z', '2026-03-03T00:00:00.000Z'],
  '1772496000000': ['2026-03-03T00:00:00.000Z', '2026-03-03T00:00:00.000Z'],
  '20260': ['1970-01-01T00:00:20.260Z', '1970-01-01T00:00:20.260Z'],
};

const tokens = (s: string): string[] => s.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);

function containsSeq(hay: string[], needle: string[]): boolean {
  if (!needle.length) return false;
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const glob = (parts: string[]) => new RegExp(`^${parts.map(escapeRe).join('[\\s\\S]*')}$`, 'i');

function values(e: Doc, field: string): unknown[] {
  const v = get(e, field);
  const list = Array.isArray(v) ? v : [v];
  return list.filter((x) => x !== undefined && x !== null);
}

function textMatches(s: string, v: KqlValue): boolean {
  if (v.kind !== 'wildcard') return containsSeq(tokens(s), tokens(v.text));
  if (v.parts.length === 2 && v.parts[1] === '') return tokens(s).some((t) => t.startsWith(v.parts[0].toLowerCase()));
  if (v.parts.length === 3 && v.parts[0] === '' && v.parts[2] === '') return s.toLowerCase().includes(v.parts[1].toLowerCase());
  return glob(v.parts).test(s);
}

function equals(x: unknown, text: string): boolean {
  if (typeof x === 'string') return x === text;
  if (typeof x === 'number') return /^-?\d+(\.\d+)?$/.test(text) && x === Number(text);
  if (typeof x === 'boolean') return String(x) === text;
  return false;
}

function compare(x: unknown, op: RangeOp, text: string): boolean {
  let c: number;
  if (typeof x === 'number' && /^-?\d+(\.\d+)?$/.test(text)) c = x - Number(text);
  else if (typeof x === 'string') c = x < text ? -1 : x > text ? 1 : 0;
  else return false;
  return op === '>' ? c > 0 : op === '>=' ? c >= 0 : op === '<' ? c < 0 : c <= 0;
}

function span(text: string): [number, number] {
  const s = TIME_SPANS[text];
  if (!s) throw new Error(`the reference knows no span for ${text}`);
  return [Date.parse(s[0]), Date.parse(s[1])];
}

export function matches(e: Doc, n: KqlNode): boolean {
  switch (n.type) {
    case 'all':
      return true;
    case 'and':
      return n.children.every((c) => matches(e, c));
    case 'or':
      return n.children.some((c) => matches(e, c));
    case 'not':
      return !matches(e, n.child);
    case 'exists':
      return values(e, n.field).length > 0;
    case 'text':
      return TEXT_FIELDS.some((f) => values(e, f).some((s) => textMatches(String(s), n.value)));
    case 'match': {
      const v = n.value;
      if (TEXT_FIELDS.includes(n.field)) return values(e, n.field).some((s) => textMatches(String(s), v));
      if (n.field === TIME_FIELD) {
        const [lo, hi] = span((v as { text: string }).text);
        const t = Date.parse(String(get(e, TIME_FIELD)));
        return t >= lo && t <= hi;
      }
      if (v.kind === 'wildcard') return values(e, n.field).some((x) => (typeof x === 'string' || typeof x === 'number') && glob(v.parts).test(String(x)));
      return values(e, n.field).some((x) => equals(x, v.text));
    }
    case 'range': {
      if (n.field === TIME_FIELD) {
        const [lo, hi] = span(n.value);
        const t = Date.parse(String(get(e, TIME_FIELD)));
        return n.op === '>' ? t > hi : n.op === '>=' ? t >= lo : n.op === '<' ? t < lo : t <= hi;
      }
      return values(e, n.field).some((x) => compare(x, n.op, n.value));
    }
  }
}

export function expected(n: KqlNode): string[] {
  return EVENTS.filter((e) => matches(e, n)).map(idOf).sort();
}

// --- hand-picked queries, with the events they find where it helps ------

const idRange = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `q${String(from + i).padStart(2, '0')}`);
const except = (...ids: string[]) => ALL_IDS.filter((id) => !ids.includes(id));

/** Each backend must find what the reference finds for these, and exactly the listed events where a list is given. */
export const CASES: Record<string, [string, string[]?][]> = {
  'keyword fields: exact and case-sensitive; `*` patterns case-insensitive': [
    ['user.name:root', ['q02', 'q06', 'q08', 'q18']],
    ['user.name:admin', ['q01', 'q07']],
    ['user.name:adm*', ['q01', 'q07', 'q14']],
    ['user.name:ADM*', ['q01', 'q07', 'q14']],
    ['host.name:*1 and not host.name:db*'],
    ['user.name:(root or admin) and host.name:web1', ['q01', 'q02', 'q07', 'q08', 'q18']],
    ['event.action:ssh_*'],
    ['source.ip:203.0.113.9', ['q02', 'q06', 'q08', 'q17']],
  ],
  'arrays match on any element; nested fields': [
    ['related.user:root', ['q02', 'q08', 'q09', 'q18']],
    ['tags:bruteforce', ['q02', 'q08', 'q17']],
    ['tags:brute*'],
    ['process.name:sudo', ['q09']],
    ['user.target.name:root', ['q09']],
    ['related.user:al* and not tags:*'],
  ],
  'numbers and booleans': [
    ['source.port:22', ['q15']],
    ['user.name:22', ['q15']],
    ['source.port >= 52114', ['q01', 'q05', 'q07', 'q14']],
    ['source.port < 40022'],
    ['source.port:abc', []],
    ['source.ip:root', []],
    ['trailwatch.auth.invalid_user:true', ['q01', 'q05', 'q14']],
    ['trailwatch.auth.invalid_user:false', ['q02']],
    ['trailwatch.auth.invalid_user:yes', []],
    ['user.name > m and user.name < s'],
  ],
  'field:* is "has a value": not null, not an empty array': [
    ['user.name:*', except('q16', 'q17', 'q22')],
    ['related.user:*'],
    ['not tags:*'],
    ['rule.id:*', ['q17']],
    ['event.original:*', except('q17')],
    ['no.such.field:*', []],
  ],
  'time: a partial date covers its span': [
    ['@timestamp:2026-03-03', idRange(2, 16)],
    ['@timestamp < 2026-03-03', ['q01']],
    ['@timestamp <= 2026-03-03T10:05:00Z', idRange(1, 6)],
    ['@timestamp > 2026-03-03T10:05:00Z', idRange(7, 22)],
    ['@timestamp >= 2026-03-03T10:05:00.000Z and @timestamp < 2026-03-03T10:05:01Z', ['q05', 'q06']],
    ['@timestamp:2026-03-03T10:05', ['q05', 'q06', 'q07']],
    ['@timestamp:"2026-03-03T10:05:00,5Z"', ['q06']],
    ['@timestamp:2026-03-03T11:05:00+0100', ['q05', 'q06']],
    ['@timestamp:1772496000000', ['q02']],
    ['@timestamp >= 2026-03-04 and @timestamp < 2026-03-05', idRange(17, 21)],
    ['@timestamp <= 2026-03', []],
    ['@timestamp >= 2026 and @timestamp > 20260', ALL_IDS],
  ],
  'free text: message and event.original, as words, case-insensitively': [
    ['failed', ['q01', 'q02', 'q14', 'q17', 'q21']],
    ['fail*', ['q01', 'q02', 'q14', 'q17', 'q21']],
    ['"invalid user"', ['q01', 'q05', 'q07', 'q10', 'q11', 'q12', 'q13', 'q14', 'q15', 'q20', 'q21']],
    ['"Failed PASSWORD" root'],
    ['nginx', ['q09']],
    ['sudo and not tags:sudo'],
    ['*ass*'],
  ],
  'message:… and event.original:… search their own field': [
    ['message:"failed password"', ['q01', 'q02', 'q14', 'q21']],
    ['message:nginx', ['q09']],
    ['event.original:"sudo"', ['q09']],
    ['message:sudo', []],
    ['message:Acc*', ['q03', 'q04', 'q18']],
    ['event.original:disconn*'],
    ['message:*ccept*', ['q03', 'q04', 'q18']],
  ],
  'and / or / not; "not" of a missing field holds': [
    ['not user.name:root', except('q02', 'q06', 'q08', 'q18')],
    ['not event.outcome:failure'],
    ['a or b and not c'],
    ['root or admin and not tags:ssh'],
    ['not (user.name:root or tags:*) and not not host.name:web1'],
    ['', ALL_IDS],
    ['*', ALL_IDS],
    ['not *', []],
  ],
};

/** Values an attacker picks (user names are theirs to choose) and text that is syntax elsewhere: matched literally, never an error. */
export const HOSTILE = [
  `user.name:"'; DROP TABLE events; --"`,
  `"'; DROP TABLE events; --"`,
  `'; DROP TABLE events; --`,
  `user.name:"x' OR '1'='1"`,
  `host.name:web1'\\ OR\\ '1'='1`,
  `user.name:50%_off`,
  `user.name:%`,
  `user.name:_`,
  `user.name:*%*`,
  `user.name:*_*`,
  `user.name:%*`,
  `user.name:"a\\"b"`,
  `user.name:back\\\\slash`,
  `user.name:*\\\\*`,
  `user.name:*?*`,
  `user.name:NEAR\\(x\\)`,
  `"NEAR(x)"`,
  `"NEAR(failed password, 2)"`,
  `-x`,
  `"-x"`,
  `"x OR y"`,
  `"failed" "AND" "NOT"`,
  `"^failed"`,
  `"message : failed"`,
  `"{message original} : failed"`,
  `"failed*"`,
  `"\\"\\""`,
  `""`,
  `"*"`,
  `\\*`,
  `related.user:"'; DROP TABLE events; --"`,
  `tags:"a'b"`,
  `source.port:"1 OR 1=1"`,
  `message:"'); DELETE FROM events; --"`,
  `user.name:"{\\"$gt\\":\\"\\"}"`,
];

// --- random queries over the corpus --------------------------------------

const term = (text: string): KqlValue => ({ kind: 'term', text });
const pattern = (p: string): KqlValue => ({ kind: 'wildcard', parts: p.split('*') });

/** field -> values tried with field:value (bare and quoted) */
const EQUALS: Record<string, string[]> = {
  'user.name': ['root', 'admin', 'Admin', 'alice', 'deploy', 'oracle', '22', "'; DROP TABLE events; --", '50%_off', 'a"b', 'back\\slash', 'NEAR(x)', '-x', 'nobody', '%', '_'],
  'host.name': ['web1', 'web2', 'db1', 'bastion', 'web3'],
  'event.outcome': ['success', 'failure', 'unknown'],
  'event.action': ['ssh_login', 'ssh_connection_closed', 'ssh_disconnected', 'sudo_command', 'alert'],
  'event.kind': ['event', 'alert'],
  'source.ip': ['198.51.100.7', '203.0.113.9', '192.0.2.10', '10.0.0.1', 'root'],
  'source.port': ['22', '40022', '52114', '1', 'abc'],
  'related.user': ['alice', 'root', 'admin', 'nobody'],
  tags: ['ssh', 'bruteforce', 'sudo', 'alert', 'none'],
  'process.name': ['sshd', 'sudo'],
  'rule.id': ['ssh-bruteforce'],
  'trailwatch.auth.invalid_user': ['true', 'false', 'yes'],
  'trailwatch.auth.method': ['password', 'publickey'],
  'user.target.name': ['root'],
  message: ['failed', 'password', 'Accepted', 'invalid', 'root', 'preauth', 'failed password', 'invalid user admin', 'for root', 'brute force', 'drop table events', 'session opened', 'password root'],
  'event.original': ['sudo', 'alice', 'disconnected', 'listening', 'failed password', 'user admin from', 'nginx'],
  '@timestamp': Object.keys(TIME_SPANS),
};
/** field -> `*` patterns (never on ip, number, date or boolean fields: Elasticsearch refuses those) */
const PATTERNS: Record<string, string[]> = {
  'user.name': ['adm*', 'ADM*', '*o*', 'r*t', '*%*', '*_*', "'*", '*"*', '*\\*', 'n*(*'],
  'host.name': ['web*', '*1', 'b*n'],
  'event.action': ['ssh_*', '*_c*'],
  'related.user': ['al*', '*oo*'],
  tags: ['brute*', '*s*'],
  message: ['fail*', 'Acc*', 'pre*', 'zzz*', '*ass*', '*ccept*'],
  'event.original': ['disconn*', 'ses*', '*vali*'],
};
/** field -> range bounds */
const RANGES: Record<string, string[]> = {
  '@timestamp': Object.keys(TIME_SPANS),
  'source.port': ['22', '40022', '41000', '52114', '60000'],
  'user.name': ['a', 'admin', 'm', 'root', 'z'],
};
const EXISTS = ['user.name', 'source.ip', 'source.port', 'related.user', 'tags', 'rule.id', 'event.outcome', 'trailwatch.auth.invalid_user', 'event.original', 'user.target.name', 'no.such.field'];
const FREE = ['failed', 'password', 'root', 'sudo', 'admin', 'oracle', 'preauth', 'nothing', 'Failed Password', 'invalid user', 'user admin', 'drop table events', 'for root', 'near', 'x'];
const FREE_PATTERNS = ['fail*', 'acc*', 'disconn*', 'pam*', 'zzz*', '*ass*'];

const pairs = (m: Record<string, string[]>) => Object.entries(m).flatMap(([f, vs]) => vs.map((v) => [f, v] as const));

const leaf: fc.Arbitrary<KqlNode> = fc.oneof(
  { arbitrary: fc.tuple(fc.constantFrom(...pairs(EQUALS)), fc.boolean()).map(([[field, v], quoted]): KqlNode => ({ type: 'match', field, value: quoted ? { kind: 'phrase', text: v } : term(v) })), weight: 5 },
  { arbitrary: fc.constantFrom(...pairs(PATTERNS)).map(([field, p]): KqlNode => ({ type: 'match', field, value: pattern(p) })), weight: 2 },
  { arbitrary: fc.tuple(fc.constantFrom(...pairs(RANGES)), fc.constantFrom<RangeOp>('>', '>=', '<', '<=')).map(([[field, value], op]): KqlNode => ({ type: 'range', field, op, value })), weight: 2 },
  { arbitrary: fc.constantFrom(...EXISTS).map((field): KqlNode => ({ type: 'exists', field })), weight: 1 },
  { arbitrary: fc.tuple(fc.constantFrom(...FREE), fc.boolean()).map(([v, quoted]): KqlNode => ({ type: 'text', value: quoted ? { kind: 'phrase', text: v } : term(v) })), weight: 2 },
  { arbitrary: fc.constantFrom(...FREE_PATTERNS).map((p): KqlNode => ({ type: 'text', value: pattern(p) })), weight: 1 },
);

/** Random queries over the corpus's fields and values, three levels deep at most. */
export const corpusQuery: fc.Arbitrary<KqlNode> = fc.letrec<{ node: KqlNode }>((tie) => ({
  node: fc.oneof(
    { depthIdentifier: 'corpus', maxDepth: 3 },
    leaf,
    fc.array(tie('node'), { minLength: 2, maxLength: 3 }).map((children): KqlNode => ({ type: 'and', children })),
    fc.array(tie('node'), { minLength: 2, maxLength: 3 }).map((children): KqlNode => ({ type: 'or', children })),
    tie('node').map((child): KqlNode => ({ type: 'not', child })),
  ),
})).node;
