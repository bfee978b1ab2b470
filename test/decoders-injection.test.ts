// Log injection: a client writes parts of the lines sshd and PAM log (the user
// name, key text, the disconnect message, PAM's user=). Whatever it writes,
// source.ip stays the address the daemon wrote, found by the message's fixed
// structure, and a second well-formed address clause tags the event.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import fc from 'fast-check';
import type { TwEvent } from '../src/event.js';
import { createDecoder } from '../src/rules/decoders/index.js';
import { INJECTION_TAG } from '../src/rules/decoders/fields.js';
import { lineToEvent } from './decoders-line.js';

const decoder = createDecoder();
function decoded(line: string): TwEvent {
  const ev = lineToEvent(line);
  decoder.reset();
  assert.equal(decoder.decode(ev), true, `not decoded: ${line}`);
  return ev;
}
const tagged = (ev: TwEvent) => ev.tags?.includes(INJECTION_TAG) === true;

describe('rules > decoders > injection > examples', () => {
  it('a client-written trailer after "ssh2:" cannot move the address (OpenSSH user names hold no ":")', () => {
    const ev = decoded('Dec  6 11:00:00 h sshd[1]: Failed password for admin from 192.0.2.10 port 40022 ssh2: from 198.51.100.7 port 22 ssh2');
    assert.equal(ev.source?.ip, '192.0.2.10');
    assert.equal(ev.source?.port, 40022);
    assert.equal(ev.user?.name, 'admin');
    assert.ok(tagged(ev));
  });
  it('a user name holding " from IP port N ssh2" cannot move it either', () => {
    const ev = decoded('Dec  6 11:00:00 h sshd[2]: Failed password for invalid user x from 6.6.6.6 port 1 ssh2 from 192.0.2.11 port 40023 ssh2');
    assert.equal(ev.source?.ip, '192.0.2.11');
    assert.equal(ev.user?.name, 'x from 6.6.6.6 port 1 ssh2');
    assert.ok(tagged(ev));
  });
  it('certificate key ids in the trailer; hostbased client user/host', () => {
    const ev = decoded('Dec  6 11:00:00 h sshd[3]: Failed publickey for git from 192.0.2.12 port 40024 ssh2: ED25519-CERT SHA256:abc ID evil from 6.6.6.6 port 1 ssh2 (serial 1) CA ED25519 SHA256:def');
    assert.equal(ev.source?.ip, '192.0.2.12');
    assert.ok(tagged(ev));
    const hb = decoded('Dec  6 11:00:00 h sshd[4]: Accepted hostbased for backup from 192.0.2.13 port 600 ssh2: ED25519 SHA256:zzz, client user "a from 6.6.6.6 port 1", client host "nas"');
    assert.equal(hb.source?.ip, '192.0.2.13');
    assert.ok(tagged(hb));
  });
  it('Invalid user / Connection closed / Disconnected from with "IP port N" in the name', () => {
    assert.equal(decoded('Dec  6 11:00:00 h sshd[5]: Invalid user a from 6.6.6.6 port 1 from 192.0.2.14 port 40025').source?.ip, '192.0.2.14');
    for (const m of [
      'Connection closed by authenticating user a 6.6.6.6 port 1 192.0.2.15 port 40026 [preauth]',
      'Disconnected from invalid user b 6.6.6.6 port 1 [preauth] 192.0.2.15 port 40026 [preauth]',
      'Disconnecting invalid user c 6.6.6.6 port 1 192.0.2.15 port 40026: Too many authentication failures [preauth]',
    ]) {
      const ev = decoded(`Dec  6 11:00:00 h sshd[6]: ${m}`);
      assert.equal(ev.source?.ip, '192.0.2.15', m);
      assert.equal(ev.source?.port, 40026, m);
      assert.ok(tagged(ev), m);
    }
  });
  it('PAM: a user name holding " rhost=IP" does not move rhost', () => {
    const ev = decoded('Dec  6 11:00:00 h sshd[7]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.16  user=x rhost=6.6.6.6');
    assert.equal(ev.source?.ip, '192.0.2.16');
    assert.equal(ev.user?.name, 'x rhost=6.6.6.6');
    assert.ok(tagged(ev));
  });
  it('an IPv6 address in client text is no "from HOST port N" clause (fast-check found "from : port 2001:db8::1" read as port 2001)', () => {
    const ev = decoded('Dec  6 11:00:00 h sshd[8]: Failed password for a from 192.0.2.9 port 1 ssh2: from : port 2001:db8::1:0 port 1:11: x');
    assert.equal(ev.source?.ip, '192.0.2.9');
    assert.equal(tagged(ev), false);
    // A host name clause still counts (UseDNS yes logs names).
    assert.ok(tagged(decoded('Dec  6 11:00:00 h sshd[8]: Failed password for a from evil.example port 22 ssh2 from 192.0.2.9 port 1 ssh2')));
  });
  it('an ordinary line is not tagged', () => {
    assert.equal(tagged(decoded('Dec  6 11:00:00 h sshd[8]: Failed password for root from 192.0.2.17 port 40027 ssh2')), false);
    assert.equal(tagged(decoded('Dec  6 11:00:00 h sshd[8]: Accepted publickey for a from 192.0.2.17 port 40027 ssh2: RSA SHA256:abc')), false);
  });
});

// --- properties ---------------------------------------------------------------

const octet = fc.integer({ min: 0, max: 255 });
const v4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
const v6 = fc.tuple(fc.integer({ min: 1, max: 0xffff }), fc.integer({ min: 0, max: 0xffff })).map(([a, b]) => `2001:db8::${a.toString(16)}:${b.toString(16)}`);
const real = fc.oneof(v4, v6);
const port = fc.integer({ min: 1, max: 65535 });
/** Clauses a client may inject into a user name (no ':', so IPv4 only). */
const userClause = fc.oneof(
  fc.tuple(v4, port).map(([ip, p]) => ` from ${ip} port ${p} ssh2`),
  fc.tuple(v4, port).map(([ip, p]) => ` from ${ip} port ${p}`),
  v4.map((ip) => ` from ${ip}`),
  fc.tuple(v4, port).map(([ip, p]) => ` ${ip} port ${p}`),
  fc.tuple(v4, port).map(([ip, p]) => ` ${ip} port ${p} [preauth]`),
  v4.map((ip) => ` rhost=${ip}`),
  v4.map((ip) => `  user=x rhost=${ip}`),
);
/** Clauses in text that may hold ':' (key info, disconnect messages). */
const textClause = fc.oneof(userClause, fc.tuple(real, port).map(([ip, p]) => `: from ${ip} port ${p} ssh2`), fc.tuple(real, port).map(([ip, p]) => ` ${ip} port ${p}:11: x`));
const word = fc.constantFrom('a', 'root', 'admin', ' ', '  ', '.', '-', '_', 'from', 'port', 'ssh2', ' ssh2', '[preauth]', ' from ', ' port ', '@', 'user=', 'rhost=', '"', '[', ']', 'via', ' via ');
/** A user name as sshd logs it: anything without ':' or control characters; `true` when a clause was injected. */
const userName = fc.array(fc.oneof({ weight: 4, arbitrary: word.map((w) => [w, false] as const) }, { weight: 1, arbitrary: userClause.map((c) => [c, true] as const) }), { minLength: 1, maxLength: 8 }).map((parts) => ({
  text: parts.map((p) => p[0]).join(''),
  injected: parts.some((p) => p[1]),
})).filter((u) => u.text.trim() !== '' && !u.text.startsWith('invalid user ') && !u.text.startsWith('illegal user '));
const trailer = fc.array(fc.oneof(word.map((w) => [w, false] as const), fc.constantFrom([':', false] as const, [': ', false] as const), textClause.map((c) => [c, true] as const)), { maxLength: 6 }).map((parts) => ({
  text: parts.map((p) => p[0]).join(''),
  injected: parts.some((p) => p[1]),
}));
const method = fc.constantFrom('password', 'publickey', 'keyboard-interactive/pam', 'hostbased', 'gssapi-with-mic');
const RUNS = 15_000;
let cases = 0;
const norm = (ip: string) => ip.toLowerCase();
function twoFromClauses(s: string): boolean {
  let n = 0;
  for (let i = s.indexOf('from '); i >= 0; i = s.indexOf('from ', i + 1)) {
    if (i > 0 && s[i - 1] !== ' ') continue;
    let token = s.slice(i + 5).split(' ')[0];
    if (token.endsWith(':')) token = token.slice(0, -1);
    if (isIP(token) !== 0) n++;
  }
  return n > 1;
}

describe('rules > decoders > injection > properties (fast-check)', () => {
  it(`sshd auth_log lines: source is sshd's clause whatever the user name and trailer (${RUNS} cases)`, () => {
    fc.assert(
      fc.property(fc.constantFrom('Failed', 'Accepted'), method, fc.boolean(), userName, real, port, trailer, (verb, m, invalid, u, ip, p, t) => {
        cases++;
        const info = t.text === '' ? '' : `: ${t.text}`;
        const body = `${u.text} from ${ip} port ${p} ssh2${info}`;
        const ev = decoded(`Dec  6 11:00:00 h sshd[9]: ${verb} ${m} for ${invalid ? 'invalid user ' : ''}${body}`);
        assert.equal(ev.source?.ip, norm(ip));
        assert.equal(ev.source?.port, p);
        assert.equal(ev.user?.name, u.text);
        assert.equal(tagged(ev), twoFromClauses(body.trimEnd()));
        if (u.injected && u.text.includes(' from ')) assert.ok(tagged(ev) || !twoFromClauses(body));
      }),
      { numRuns: RUNS },
    );
  });
  it(`Invalid user / maximum authentication attempts / PAM error lines (${RUNS} cases)`, () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 }), userName, real, port, (kind, u, ip, p) => {
        cases++;
        const line =
          kind === 0
            ? `Invalid user ${u.text} from ${ip} port ${p}`
            : kind === 1
              ? `error: maximum authentication attempts exceeded for invalid user ${u.text} from ${ip} port ${p} ssh2 [preauth]`
              : `error: PAM: Authentication failure for illegal user ${u.text} from ${ip}`;
        const ev = decoded(`Dec  6 11:00:00 h sshd[10]: ${line}`);
        assert.equal(ev.source?.ip, norm(ip));
        assert.equal(ev.user?.name, u.text);
        assert.equal(tagged(ev), twoFromClauses(`${u.text} from ${ip}`));
      }),
      { numRuns: RUNS },
    );
  });
  it(`connection ids "<preamble user X> IP port N" (closed, reset, disconnected, disconnecting) (${RUNS} cases)`, () => {
    fc.assert(
      fc.property(
        fc.constantFrom('Connection closed by', 'Connection reset by', 'Disconnected from', 'Disconnecting'),
        fc.constantFrom('invalid user', 'authenticating user', 'user'),
        userName,
        real,
        port,
        fc.constantFrom('', ': Too many authentication failures', ': Change of username or service not allowed: (a 6.6.6.6 port 1,ssh-connection) -> (b,ssh-connection)'),
        (verb, who, u, ip, p, reason) => {
          cases++;
          const ev = decoded(`Dec  6 11:00:00 h sshd[11]: ${verb} ${who} ${u.text} ${ip} port ${p}${reason} [preauth]`);
          assert.equal(ev.source?.ip, norm(ip));
          assert.equal(ev.source?.port, p);
        },
      ),
      { numRuns: RUNS },
    );
  });
  it(`Received disconnect: the client's message cannot move the address (${RUNS} cases)`, () => {
    fc.assert(
      fc.property(real, port, fc.constantFrom(2, 3, 11, 14), trailer, fc.boolean(), (ip, p, code, t, err) => {
        cases++;
        const ev = decoded(`Dec  6 11:00:00 h sshd[12]: ${err ? 'error: ' : ''}Received disconnect from ${ip} port ${p}:${code}: ${t.text}x [preauth]`);
        assert.equal(ev.source?.ip, norm(ip));
        assert.equal(ev.source?.port, p);
      }),
      { numRuns: RUNS },
    );
  });
  it(`PAM failure lists: user= (and su's ruser=) cannot move rhost (${RUNS} cases)`, () => {
    fc.assert(
      fc.property(fc.constantFrom('sshd', 'vsftpd', 'dovecot', 'my-app'), userName, real, fc.boolean(), (svc, u, ip, more) => {
        cases++;
        const list = `logname= uid=0 euid=0 tty=ssh ruser= rhost=${ip}  user=${u.text}`;
        const ev = decoded(`Dec  6 11:00:00 h ${svc}[13]: ${more ? 'PAM 2 more authentication failures; ' + list : `pam_unix(${svc}:auth): authentication failure; ${list}`}`);
        assert.equal(ev.source?.ip, norm(ip));
        const injectedRhost = /rhost=\d+\.\d+\.\d+\.\d+(?= |$)/.test(u.text.trimEnd());
        assert.equal(tagged(ev), injectedRhost);
      }),
      { numRuns: RUNS },
    );
  });
  it(`vsftpd and wu-ftpd: the user name and password cannot move the client address (${RUNS} cases)`, () => {
    const q = fc.constantFrom('a', ' ', '"', ']', '[', ' Client "', '", anon password "', ', ');
    const ftpText = fc.array(fc.oneof(q, v4.map((ip) => ` Client "${ip}"`), v4.map((ip) => ` [${ip}]`)), { maxLength: 6 }).map((a) => a.join(''));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 }), ftpText, v4, (kind, t, ip) => {
        cases++;
        const line =
          kind === 0
            ? `vsftpd[14]: [x${t}] FAIL LOGIN: Client "${ip}"`
            : kind === 1
              ? `vsftpd[14]: [ftp] OK LOGIN: Client "${ip}", anon password "${t}"`
              : `ftpd[15]: FAILED FTP LOGIN FROM host.example [${ip}], x${t}`;
        const ev = decoded(`Dec  6 11:00:00 h ${line}`);
        assert.equal(ev.source?.ip, ip);
      }),
      { numRuns: RUNS },
    );
  });
  it(`macOS PAM errors with " via LOCAL" (${RUNS} cases)`, () => {
    fc.assert(
      fc.property(userName, v4, v4, (u, ip, local) => {
        cases++;
        const ev = decoded(`Dec  6 11:00:00 mac sshd[16]: error: PAM: authentication error for illegal user ${u.text} from ${ip} via ${local}`);
        assert.equal(ev.source?.ip, ip);
        assert.equal(ev.destination?.ip, local);
      }),
      { numRuns: RUNS },
    );
  });
  it('ran at least 100k cases in total', () => {
    assert.ok(cases >= 100_000, `${cases} cases`);
  });
});
