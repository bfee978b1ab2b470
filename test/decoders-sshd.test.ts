import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getField } from '../src/event.js';
import { createDecoder, ACTIONS } from '../src/rules/decoders/index.js';
import { failedAttempts, lineToEvent, linesToEvents } from './decoders-line.js';

type Expect = Record<string, unknown>;

/** Decode one line with a fresh decoder and compare the listed fields. */
function check(line: string, want: Expect): void {
  const ev = lineToEvent(line);
  assert.equal(createDecoder().decode(ev), true, `not decoded: ${line}`);
  for (const [path, value] of Object.entries(want)) assert.deepEqual(getField(ev, path), value, `${path} of: ${line}`);
}

const FAIL = { 'event.category': ['authentication'], 'event.type': ['start'], 'event.outcome': 'failure' };
const ECHO = { 'event.category': ['authentication'], 'event.type': ['info'], 'event.outcome': 'failure' };

describe('decoders > sshd > Failed / Accepted', () => {
  it('Failed password for a valid user (Debian, RHEL, Alpine, sshd-session, sshd-auth)', () => {
    for (const tag of ['sshd[1234]', 'sshd-session[1234]', 'sshd-auth[1234]']) {
      check(`Nov 29 10:00:01 web1 ${tag}: Failed password for root from 203.0.113.9 port 51234 ssh2`, {
        ...FAIL,
        'event.action': ACTIONS.sshLogin,
        'event.dataset': 'system.auth.sshd',
        'user.name': 'root',
        'source.ip': '203.0.113.9',
        'source.port': 51234,
        'trailwatch.auth.method': 'password',
        'trailwatch.auth.invalid_user': false,
        'trailwatch.decoder': 'sshd',
        'related.ip': ['203.0.113.9'],
        'related.user': ['root'],
        'related.hosts': ['web1'],
      });
    }
  });
  it('Failed password for invalid user, with and without port / ssh2, illegal user (OpenSSH 3.x)', () => {
    check('Nov 29 10:00:01 h sshd[9]: Failed password for invalid user admin from 198.51.100.7 port 4242 ssh2', {
      ...FAIL, 'user.name': 'admin', 'source.ip': '198.51.100.7', 'trailwatch.auth.invalid_user': true,
    });
    check('Nov 29 10:00:01 h sshd[9]: Failed password for invalid user oracle from 198.51.100.7', {
      ...FAIL, 'user.name': 'oracle', 'source.ip': '198.51.100.7', 'source.port': undefined,
    });
    check('Nov 29 10:00:01 h sshd[9]: Failed password for illegal user test from 198.51.100.7 port 22 ssh2', {
      ...FAIL, 'user.name': 'test', 'trailwatch.auth.invalid_user': true,
    });
  });
  it('keyboard-interactive/pam, publickey with fingerprint, hostbased, gssapi-with-mic, none', () => {
    check('Nov 29 10:00:01 h sshd[9]: Failed keyboard-interactive/pam for root from 192.0.2.4 port 1022 ssh2', {
      ...FAIL, 'trailwatch.auth.method': 'keyboard-interactive',
    });
    check('Nov 29 10:00:01 h sshd[9]: Failed publickey for git from 192.0.2.4 port 1022 ssh2: RSA SHA256:abcdefABCDEF0123456789+/xyz', {
      ...FAIL, 'trailwatch.auth.method': 'publickey', 'user.name': 'git', 'source.port': 1022,
    });
    check('Nov 29 10:00:01 h sshd[9]: Accepted hostbased for backup from 10.1.2.3 port 600 ssh2: ED25519 SHA256:zzz, client user "backup", client host "nas"', {
      'event.outcome': 'success', 'event.type': ['start'], 'trailwatch.auth.method': 'hostbased', 'user.name': 'backup', 'source.ip': '10.1.2.3',
    });
    check('Nov 29 10:00:01 h sshd[9]: Accepted gssapi-with-mic for alice from 10.1.2.3 port 600 ssh2', {
      'event.outcome': 'success', 'trailwatch.auth.method': 'gssapi-with-mic',
    });
    // The "none" probe is not a credential: it must not count.
    check('Nov 29 10:00:01 h sshd[9]: Failed none for invalid user admin from 192.0.2.4 port 1022 ssh2', {
      ...ECHO, 'trailwatch.auth.method': 'none', 'user.name': 'admin',
    });
  });
  it('Accepted publickey / password / keyboard-interactive are successes, not failures', () => {
    check('Nov 29 10:00:01 h sshd[9]: Accepted publickey for alice from 10.0.0.5 port 50000 ssh2: ED25519 SHA256:Qm9v', {
      'event.outcome': 'success', 'event.type': ['start'], 'event.action': ACTIONS.sshLogin, 'trailwatch.auth.method': 'publickey',
    });
    check('Nov 29 10:00:01 h sshd[9]: Accepted password for deploy from 10.0.0.6 port 50001 ssh2', { 'event.outcome': 'success', 'user.name': 'deploy' });
    check('Nov 29 10:00:01 h sshd[9]: Accepted keyboard-interactive/pam for bob from 10.0.0.6 port 50001 ssh2', { 'event.outcome': 'success' });
  });
  it('IPv6, IPv4-mapped IPv6, host names (UseDNS yes)', () => {
    check('Nov 29 10:00:01 h sshd[9]: Failed password for root from 2001:db8::1 port 22 ssh2', { 'source.ip': '2001:db8::1', 'source.port': 22 });
    check('Nov 29 10:00:01 h sshd[9]: Failed password for root from ::ffff:203.0.113.9 port 22 ssh2', { 'source.ip': '203.0.113.9' });
    check('Nov 29 10:00:01 h sshd[9]: Failed password for root from scanner.example.net port 22 ssh2', {
      'source.domain': 'scanner.example.net', 'source.ip': undefined, 'related.hosts': ['scanner.example.net', 'h'],
    });
  });
  it('a user name containing " from <ip> port" cannot move the source address', () => {
    check('Nov 29 10:00:01 h sshd[9]: Failed password for invalid user x from 6.6.6.6 port 1 ssh2 from 203.0.113.9 port 2 ssh2', {
      'user.name': 'x from 6.6.6.6 port 1 ssh2', 'source.ip': '203.0.113.9', 'source.port': 2,
    });
    check('Nov 29 10:00:01 h sshd[9]: Failed password for invalid user  from 203.0.113.9 port 2 ssh2', { 'source.ip': '203.0.113.9', 'user.name': undefined });
  });
});

describe('decoders > sshd > invalid users, refusals, preauth', () => {
  it('Invalid user is an attempt; input_userauth_request echoes it', () => {
    check('Nov 29 10:00:01 h sshd[9]: Invalid user admin from 203.0.113.9 port 40000', {
      ...FAIL, 'event.action': ACTIONS.sshInvalidUser, 'user.name': 'admin', 'source.ip': '203.0.113.9', 'source.port': 40000, 'trailwatch.auth.invalid_user': true,
    });
    check('Nov 29 10:00:01 h sshd[9]: Invalid user  from 203.0.113.9', { ...FAIL, 'source.ip': '203.0.113.9' });
    check('Nov 29 10:00:01 h sshd[9]: Illegal user guest from 203.0.113.9', { ...FAIL, 'user.name': 'guest' });
    check('Nov 29 10:00:01 h sshd[9]: input_userauth_request: invalid user admin [preauth]', { ...ECHO, 'user.name': 'admin' });
  });
  it('maximum authentication attempts / Too many authentication failures echo the attempts', () => {
    check('Nov 29 10:00:01 h sshd[9]: error: maximum authentication attempts exceeded for invalid user test from 203.0.113.9 port 6 ssh2 [preauth]', {
      ...ECHO, 'event.action': ACTIONS.sshMaxAuthTries, 'user.name': 'test', 'source.ip': '203.0.113.9', 'source.port': 6,
    });
    check('Nov 29 10:00:01 h sshd[9]: error: maximum authentication attempts exceeded for root from 2001:db8::7 port 6 ssh2 [preauth]', {
      ...ECHO, 'source.ip': '2001:db8::7', 'user.name': 'root',
    });
    check('Nov 29 10:00:01 h sshd[9]: Disconnecting: Too many authentication failures for root [preauth]', { ...ECHO, 'event.action': ACTIONS.sshMaxAuthTries, 'user.name': 'root' });
    check('Nov 29 10:00:01 h sshd[9]: Disconnecting: Too many authentication failures [preauth]', { ...ECHO, 'event.action': ACTIONS.sshMaxAuthTries });
    check('Nov 29 10:00:01 h sshd[9]: Disconnecting authenticating user root 203.0.113.9 port 6: Too many authentication failures [preauth]', {
      ...ECHO, 'event.action': ACTIONS.sshMaxAuthTries, 'user.name': 'root', 'source.ip': '203.0.113.9', 'source.port': 6,
    });
  });
  it('Disconnecting / Connection closed / Disconnected from (invalid|authenticating) user', () => {
    check('Nov 29 10:00:01 h sshd[9]: Disconnecting invalid user admin 203.0.113.9 port 6: Change of username or service not allowed: (admin,ssh-connection) -> (root,ssh-connection) [preauth]', {
      ...ECHO, 'event.action': ACTIONS.sshPreauthClose, 'user.name': 'admin', 'source.ip': '203.0.113.9', 'event.reason': 'Change of username or service not allowed: (admin,ssh-connection) -> (root,ssh-connection)',
    });
    check('Nov 29 10:00:01 h sshd[9]: Connection closed by invalid user ubuntu 203.0.113.9 port 34566 [preauth]', { ...ECHO, 'user.name': 'ubuntu', 'source.port': 34566 });
    check('Nov 29 10:00:01 h sshd[9]: Connection closed by authenticating user root 2001:db8::2 port 34566 [preauth]', { ...ECHO, 'user.name': 'root', 'source.ip': '2001:db8::2' });
    check('Nov 29 10:00:01 h sshd[9]: Connection reset by invalid user a b 203.0.113.9 port 1 [preauth]', { ...ECHO, 'user.name': 'a b' });
    check('Nov 29 10:00:01 h sshd[9]: Connection closed by 203.0.113.9 port 34566 [preauth]', {
      'event.category': ['network'], 'event.type': ['end'], 'source.ip': '203.0.113.9', 'user.name': undefined,
    });
    check('Nov 29 10:00:01 h sshd[9]: Connection closed by 203.0.113.9 [preauth]', { 'event.category': ['network'], 'source.ip': '203.0.113.9' });
    check('Nov 29 10:00:01 h sshd[9]: Disconnected from invalid user admin 203.0.113.9 port 5 [preauth]', { ...ECHO, 'event.action': ACTIONS.sshDisconnect });
    check('Nov 29 10:00:01 h sshd[9]: Disconnected from authenticating user root 203.0.113.9 port 5 [preauth]', { ...ECHO, 'user.name': 'root' });
    check('Nov 29 10:00:01 h sshd[9]: Disconnected from user alice 10.0.0.5 port 50000', {
      'event.category': ['network'], 'event.type': ['end'], 'event.outcome': 'unknown', 'user.name': 'alice', 'source.ip': '10.0.0.5',
    });
    check('Nov 29 10:00:01 h sshd[9]: Disconnected from 203.0.113.9 port 5 [preauth]', { 'event.category': ['network'], 'source.ip': '203.0.113.9' });
  });
  it('Received disconnect (new and old forms, IPv6)', () => {
    check('Nov 29 10:00:01 h sshd[9]: Received disconnect from 203.0.113.9 port 5:11: Bye Bye [preauth]', {
      'event.action': ACTIONS.sshDisconnect, 'event.category': ['network'], 'source.ip': '203.0.113.9', 'source.port': 5, 'event.reason': 'Bye Bye',
    });
    check('Nov 29 10:00:01 h sshd[9]: Received disconnect from 203.0.113.9: 11: Bye Bye [preauth]', { 'source.ip': '203.0.113.9', 'event.reason': 'Bye Bye' });
    check('Nov 29 10:00:01 h sshd[9]: Received disconnect from 2001:db8::9 port 5:11: disconnected by user', { 'source.ip': '2001:db8::9', 'source.port': 5 });
    check('Nov 29 10:00:01 h sshd[9]: error: Received disconnect from 103.99.0.122 port 5:14: No more user authentication methods available. [preauth]', { 'source.ip': '103.99.0.122' });
  });
  it('ROOT LOGIN REFUSED (FROM / from, with and without port)', () => {
    check('Nov 29 10:00:01 h sshd[9]: ROOT LOGIN REFUSED FROM 203.0.113.9', { ...FAIL, 'event.action': ACTIONS.sshRootRefused, 'user.name': 'root', 'source.ip': '203.0.113.9' });
    check('Nov 29 10:00:01 h sshd[9]: ROOT LOGIN REFUSED from 203.0.113.9 port 4444', { ...FAIL, 'source.port': 4444 });
  });
  it('User X from IP not allowed because …', () => {
    for (const why of ['not listed in AllowUsers', 'listed in DenyUsers', "none of user's groups are listed in AllowGroups", 'a group is listed in DenyGroups', 'not in any group']) {
      check(`Nov 29 10:00:01 h sshd[9]: User root from 203.0.113.9 not allowed because ${why}`, {
        ...FAIL, 'event.action': ACTIONS.sshNotAllowed, 'user.name': 'root', 'source.ip': '203.0.113.9', 'event.reason': `because ${why}`.slice(8),
      });
    }
    check('Nov 29 10:00:01 h sshd[9]: User bob not allowed because account is locked', { ...FAIL, 'user.name': 'bob', 'source.ip': undefined });
  });
  it('reverse mapping / address maps: network info with both name and address', () => {
    check('Nov 29 10:00:01 h sshd[9]: reverse mapping checking getaddrinfo for ns.example.com [173.234.31.186] failed - POSSIBLE BREAK-IN ATTEMPT!', {
      'event.action': ACTIONS.sshReverseMapping, 'event.type': ['info'], 'source.ip': '173.234.31.186', 'source.domain': 'ns.example.com',
    });
    check('Nov 29 10:00:01 h sshd[9]: Address 203.0.113.9 maps to evil.example.org, but this does not map back to the address - POSSIBLE BREAK-IN ATTEMPT!', {
      'source.ip': '203.0.113.9', 'source.domain': 'evil.example.org',
    });
    check('Nov 29 10:00:01 h sshd[9]: Address 203.0.113.9 maps to evil.example.org, but this does not map back to the address.', { 'source.ip': '203.0.113.9' });
  });
  it('scanners that never authenticate', () => {
    check('Nov 29 10:00:01 h sshd[9]: Did not receive identification string from 203.0.113.9 port 5', { 'event.action': ACTIONS.sshConnectionError, 'event.type': ['info'], 'source.ip': '203.0.113.9' });
    check('Nov 29 10:00:01 h sshd[9]: Unable to negotiate with 203.0.113.9 port 5: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1 [preauth]', { 'source.ip': '203.0.113.9', 'source.port': 5 });
    check('Nov 29 10:00:01 h sshd[9]: banner exchange: Connection from 203.0.113.9 port 5: invalid format', { 'source.ip': '203.0.113.9' });
    check("Nov 29 10:00:01 h sshd[9]: Bad protocol version identification 'GET / HTTP/1.1' from 203.0.113.9 port 5", { 'source.ip': '203.0.113.9' });
    check('Nov 29 10:00:01 h sshd[9]: fatal: Timeout before authentication for 203.0.113.9 port 5', { 'source.ip': '203.0.113.9' });
  });
  it('pam_unix(sshd:auth) failures with rhost IP, hostname, IPv6; session opened/closed', () => {
    check('Nov 29 10:00:01 h sshd[9]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root', {
      ...FAIL, 'event.action': ACTIONS.pamAuthFailure, 'user.name': 'root', 'source.ip': '203.0.113.9', 'process.tty': undefined,
    });
    check('Nov 29 10:00:01 h sshd[9]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=dsl-1-2.example.net', {
      ...FAIL, 'source.domain': 'dsl-1-2.example.net', 'user.name': undefined,
    });
    check('Nov 29 10:00:01 h sshd[9]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=2001:db8::5  user=bob', { 'source.ip': '2001:db8::5' });
    check('Nov 29 10:00:01 h sshd[9]: pam_unix(sshd:auth): check pass; user unknown', { ...ECHO, 'event.action': ACTIONS.pamUserUnknown });
    check('Nov 29 10:00:01 h sshd[9]: pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)', {
      'event.action': ACTIONS.sessionOpened, 'event.category': ['session'], 'event.type': ['start'], 'user.name': 'alice',
    });
    check('Nov 29 10:00:01 h sshd[9]: pam_unix(sshd:session): session opened for user alice by (uid=0)', { 'user.name': 'alice' });
    check('Nov 29 10:00:01 h sshd[9]: pam_unix(sshd:session): session closed for user alice', { 'event.action': ACTIONS.sessionClosed, 'event.type': ['end'], 'user.name': 'alice' });
    check('Nov 29 10:00:01 h sshd[9]: error: PAM: Authentication failure for root from 203.0.113.9', { 'event.action': ACTIONS.pamAuthFailure, 'user.name': 'root', 'source.ip': '203.0.113.9' });
    check('Nov 29 10:00:01 h sshd[9]: error: PAM: User not known to the underlying authentication module for illegal user admin from 203.0.113.9', {
      'event.action': ACTIONS.pamUserUnknown, 'user.name': 'admin',
    });
  });
  it('sshd tag left in the message by an odd forwarder', () => {
    const ev = lineToEvent('Nov 29 10:00:01 h x');
    ev.process = undefined;
    ev.message = 'sshd[4242]: Failed password for root from 203.0.113.9 port 22 ssh2';
    assert.equal(createDecoder().decode(ev), true);
    assert.equal(getField(ev, 'process.name'), 'sshd');
    assert.equal(getField(ev, 'process.pid'), 4242);
    assert.equal(ev.message, 'Failed password for root from 203.0.113.9 port 22 ssh2');
    assert.equal(ev.source?.ip, '203.0.113.9');
    assert.equal(ev.event.outcome, 'failure');
  });
});

describe('decoders > sshd > counting one attempt once', () => {
  const count = (text: string) => {
    const d = createDecoder();
    const evs = linesToEvents(text);
    for (const ev of evs) d.decode(ev);
    return failedAttempts(evs);
  };
  it('Debian: PAM line + 3 Failed password + PAM 2 more = 3', () => {
    assert.equal(count(`
Nov 29 10:00:01 h sshd[9]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root
Nov 29 10:00:02 h sshd[9]: Failed password for root from 203.0.113.9 port 5 ssh2
Nov 29 10:00:03 h sshd[9]: Failed password for root from 203.0.113.9 port 5 ssh2
Nov 29 10:00:04 h sshd[9]: Failed password for root from 203.0.113.9 port 5 ssh2
Nov 29 10:00:05 h sshd[9]: Connection closed by authenticating user root 203.0.113.9 port 5 [preauth]
Nov 29 10:00:05 h sshd[9]: PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root`), 3);
  });
  it('invalid user: Invalid user + PAM + Failed password = 1; with no password at all = 1', () => {
    assert.equal(count(`
Nov 29 10:00:01 h sshd[9]: Invalid user admin from 203.0.113.9 port 5
Nov 29 10:00:01 h sshd[9]: Failed none for invalid user admin from 203.0.113.9 port 5 ssh2
Nov 29 10:00:01 h sshd[9]: pam_unix(sshd:auth): check pass; user unknown
Nov 29 10:00:01 h sshd[9]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9
Nov 29 10:00:02 h sshd[9]: Failed password for invalid user admin from 203.0.113.9 port 5 ssh2
Nov 29 10:00:05 h sshd[9]: Connection closed by invalid user admin 203.0.113.9 port 5 [preauth]`), 1);
    assert.equal(count(`
Nov 29 10:00:01 h sshd[9]: Invalid user admin from 203.0.113.9 port 5
Nov 29 10:00:05 h sshd[9]: Connection closed by invalid user admin 203.0.113.9 port 5 [preauth]`), 1);
  });
  it('message repeated N times adds N; PAM N more then adds nothing', () => {
    assert.equal(count(`
Dec 10 07:07:38 LabSZ sshd[24206]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=52.80.34.196  user=root
Dec 10 07:07:45 LabSZ sshd[24206]: Failed password for root from 52.80.34.196 port 36060 ssh2
Dec 10 07:07:45 LabSZ sshd[24206]: message repeated 5 times: [ Failed password for root from 52.80.34.196 port 36060 ssh2]
Dec 10 07:07:45 LabSZ sshd[24206]: Disconnecting: Too many authentication failures for root [preauth]
Dec 10 07:07:45 LabSZ sshd[24206]: PAM 5 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=52.80.34.196  user=root`), 6);
  });
  it('PAM-only logs (old Linux-PAM "sshd(pam_unix)") still count every attempt', () => {
    assert.equal(count(`
Jun 15 02:04:59 combo sshd(pam_unix)[20882]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=220-135-151-1.hinet-ip.hinet.net  user=root
Jun 15 02:04:59 combo sshd(pam_unix)[20882]: 2 more authentication failures; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=220-135-151-1.hinet-ip.hinet.net  user=root
Jun 15 02:05:00 combo sshd(pam_unix)[20884]: check pass; user unknown
Jun 15 02:05:00 combo sshd(pam_unix)[20884]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4`), 4);
  });
  it('interleaved connections are kept apart by pid', () => {
    assert.equal(count(`
Nov 29 10:00:01 h sshd[1]: Invalid user a from 203.0.113.9 port 5
Nov 29 10:00:01 h sshd[2]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.1  user=root
Nov 29 10:00:02 h sshd[1]: Failed password for invalid user a from 203.0.113.9 port 5 ssh2
Nov 29 10:00:02 h sshd[2]: Failed password for root from 198.51.100.1 port 6 ssh2
Nov 29 10:00:03 h sshd[1]: Failed password for invalid user a from 203.0.113.9 port 5 ssh2
Nov 29 10:00:03 h2 sshd[2]: Failed password for root from 198.51.100.1 port 7 ssh2`), 4);
  });
  it('RHEL keyboard-interactive: PAM error line + Failed line per attempt = one each', () => {
    assert.equal(count(`
Nov 29 10:00:01 h sshd[9]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root
Nov 29 10:00:01 h sshd[9]: error: PAM: Authentication failure for root from 203.0.113.9
Nov 29 10:00:02 h sshd[9]: Failed keyboard-interactive/pam for root from 203.0.113.9 port 5 ssh2
Nov 29 10:00:03 h sshd[9]: error: PAM: Authentication failure for root from 203.0.113.9
Nov 29 10:00:03 h sshd[9]: Failed keyboard-interactive/pam for root from 203.0.113.9 port 5 ssh2
Nov 29 10:00:05 h sshd[9]: PAM 1 more authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9  user=root`), 2);
  });
  it('not allowed / ROOT LOGIN REFUSED + their Failed line = 1 each', () => {
    assert.equal(count(`
Nov 29 10:00:01 h sshd[9]: User root from 203.0.113.9 not allowed because not listed in AllowUsers
Nov 29 10:00:01 h sshd[9]: input_userauth_request: invalid user root [preauth]
Nov 29 10:00:02 h sshd[9]: Failed password for invalid user root from 203.0.113.9 port 5 ssh2
Nov 29 10:00:03 h sshd[8]: ROOT LOGIN REFUSED FROM 198.51.100.1 port 6
Nov 29 10:00:03 h sshd[8]: Failed password for root from 198.51.100.1 port 6 ssh2`), 2);
  });
  it('BSD syslogd "last message repeated N times" repeats the host\'s previous line', () => {
    const d = createDecoder();
    const evs = linesToEvents(`
Nov 29 10:00:02 h sshd[9]: Failed password for root from 203.0.113.9 port 5 ssh2
Nov 29 10:00:09 h last message repeated 3 times`);
    evs[1].process = undefined;
    evs[1].message = 'last message repeated 3 times';
    for (const ev of evs) d.decode(ev);
    assert.equal(evs[1].event.count, 3);
    assert.equal(evs[1].source?.ip, '203.0.113.9');
    assert.equal(failedAttempts(evs), 4);
  });
});

describe('decoders > sshd > lines that are not failures', () => {
  it('leaves unknown sshd lines untouched', () => {
    for (const msg of [
      'Server listening on 0.0.0.0 port 22.',
      'Server listening on :: port 22.',
      'Received signal 15; terminating.',
      'Accepted key RSA SHA256:abc found at /home/alice/.ssh/authorized_keys:1',
      'Starting session: shell on pts/0 for alice from 10.0.0.5 port 50000 id 0',
      'error: kex_exchange_identification: Connection closed by remote host',
      'User child is on pid 1234',
      'Failed to foo the bar',
    ]) {
      const ev = lineToEvent(`Nov 29 10:00:01 h sshd[9]: ${msg}`);
      const before = JSON.stringify(ev);
      assert.equal(createDecoder().decode(ev), false, msg);
      assert.equal(JSON.stringify(ev), before, msg);
    }
  });
});
