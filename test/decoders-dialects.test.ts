// Dialects of sshd/PAM and the other login services found on hosts trailwatch
// has never seen. Sample lines are written from each program's own format
// strings (cited per test) with documentation addresses, and go through the
// real syslog parser.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createDecoder, ACTIONS } from '../src/rules/decoders/index.js';
import { check, count, lineToEvent } from './decoders-line.js';


const FAIL = { 'event.category': ['authentication'], 'event.type': ['start'], 'event.outcome': 'failure' };
const ECHO = { 'event.category': ['authentication'], 'event.type': ['info'], 'event.outcome': 'failure' };

describe('rules > decoders > sshd > Solaris/illumos [ID nnn facility.level]', () => {
  it('strips the message-id prefix for sshd and keeps the fields', () => {
    check('Dec  6 10:00:01 sol1 sshd[2741]: [ID 800047 auth.info] Failed keyboard-interactive for root from 192.0.2.41 port 50222 ssh2', {
      ...FAIL, 'event.action': ACTIONS.sshLogin, 'user.name': 'root', 'source.ip': '192.0.2.41', 'trailwatch.auth.method': 'keyboard-interactive',
      message: 'Failed keyboard-interactive for root from 192.0.2.41 port 50222 ssh2',
    });
    check('Dec  6 10:00:01 sol1 sshd[2741]: [ID 800047 auth.notice] Invalid user oracle from 192.0.2.42 port 50223', {
      ...FAIL, 'event.action': ACTIONS.sshInvalidUser, 'user.name': 'oracle',
    });
  });
  it('strips it for any program (login, su, PAM lines) and leaves other brackets alone', () => {
    check("Dec  6 10:00:01 sol1 su[77]: [ID 366847 auth.notice] FAILED SU (to root) alice on pts/2", { ...FAIL, 'event.action': ACTIONS.suFailure, 'user.name': 'alice' });
    check('Dec  6 10:00:01 sol1 vsftpd[12]: [ID 702911 daemon.info] [bob] FAIL LOGIN: Client "192.0.2.43"', { ...FAIL, 'user.name': 'bob', 'source.ip': '192.0.2.43' });
    const ev = lineToEvent('Dec  6 10:00:01 sol1 app[1]: [IDX 5 a.b] hello');
    assert.equal(createDecoder().decode(ev), false);
    assert.equal(ev.message, '[IDX 5 a.b] hello');
  });
});

describe('rules > decoders > sshd > PAM error lines (auth-pam.c "PAM: %s for %s%.100s from %.100s")', () => {
  it('Linux-PAM: User not known … for illegal user X from IP, Authentication failure for X from IP', () => {
    check('Dec  6 10:00:02 rh1 sshd[3100]: error: PAM: User not known to the underlying authentication module for illegal user nagios from 198.51.100.21', {
      ...FAIL, 'event.action': ACTIONS.pamUserUnknown, 'user.name': 'nagios', 'source.ip': '198.51.100.21', 'trailwatch.auth.invalid_user': true,
    });
    check('Dec  6 10:00:02 rh1 sshd[3101]: error: PAM: Authentication failure for alice from 198.51.100.22', {
      ...FAIL, 'event.action': ACTIONS.pamAuthFailure, 'user.name': 'alice', 'source.ip': '198.51.100.22',
    });
    // Older sshd (and other log levels) wrote the same text without "error: ".
    check('Dec  6 10:00:02 old1 sshd[3102]: PAM: User not known to the underlying authentication module for illegal user guest from 198.51.100.23', {
      ...FAIL, 'event.action': ACTIONS.pamUserUnknown, 'user.name': 'guest', 'source.ip': '198.51.100.23',
    });
    check('Dec  6 10:00:02 old1 sshd[3103]: PAM: Authentication failure for root from 198.51.100.24', { ...FAIL, 'user.name': 'root', 'source.ip': '198.51.100.24' });
    check('Dec  6 10:00:02 rh1 sshd[3101]: error: PAM: Authentication failure for illegal user admin from 2001:db8::22', {
      'source.ip': '2001:db8::22', 'user.name': 'admin',
    });
  });
  it('macOS / OpenPAM: authentication error / unknown user, " via LOCAL" is the local address', () => {
    check('Dec  6 10:00:03 mac1 sshd[612]: error: PAM: authentication error for illegal user support from 203.0.113.31 via 192.0.2.200', {
      ...FAIL, 'event.action': ACTIONS.pamAuthFailure, 'user.name': 'support', 'source.ip': '203.0.113.31', 'destination.ip': '192.0.2.200',
    });
    check('Dec  6 10:00:03 mac1 sshd[613]: error: PAM: authentication error for root from scanner.example.net via 192.0.2.200', {
      ...FAIL, 'user.name': 'root', 'source.domain': 'scanner.example.net', 'source.ip': undefined,
    });
    check('Dec  6 10:00:03 mac1 sshd[614]: error: PAM: unknown user for illegal user ubnt from 203.0.113.32', {
      ...FAIL, 'event.action': ACTIONS.pamUserUnknown, 'user.name': 'ubnt', 'source.ip': '203.0.113.32',
    });
  });
  it('a PAM error line and the Failed line of the same attempt count once', () => {
    assert.equal(
      count(`Dec  6 10:00:03 mac1 sshd[615]: error: PAM: authentication error for illegal user a from 203.0.113.33 via 192.0.2.200
Dec  6 10:00:03 mac1 sshd[615]: Failed keyboard-interactive/pam for invalid user a from 203.0.113.33 port 50001 ssh2`),
      1,
    );
  });
});

describe('rules > decoders > sshd > not allowed because (auth.c allowed_user, session.c)', () => {
  const reasons = [
    'not listed in AllowUsers', 'listed in DenyUsers', 'not in any group', 'a group is listed in DenyGroups',
    "none of user's groups are listed in AllowGroups",
  ];
  it('every "User X from HOST not allowed because …" reason, with and without a pid', () => {
    for (const reason of reasons) {
      for (const tag of ['sshd[4000]', 'sshd']) {
        check(`Dec  6 10:00:04 h ${tag}: User root from 192.0.2.51 not allowed because ${reason}`, {
          ...FAIL, 'event.action': ACTIONS.sshNotAllowed, 'user.name': 'root', 'source.ip': '192.0.2.51', 'event.reason': reason,
        });
      }
    }
  });
  it('the reasons logged without a host: locked account, missing or non-executable shell', () => {
    for (const reason of ['account is locked', 'shell /bin/nosuch does not exist', 'shell /bin/false is not executable']) {
      check(`Dec  6 10:00:04 h sshd[4001]: User bob not allowed because ${reason}`, { ...FAIL, 'user.name': 'bob', 'event.reason': reason, 'source.ip': undefined });
    }
  });
  it('/etc/nologin (checked after authentication) is not another attempt', () => {
    check('Dec  6 10:00:04 h sshd[4002]: User bob not allowed because /etc/nologin exists', { ...ECHO, 'user.name': 'bob' });
  });
  it('without a pid, the refusal and its Failed line are kept together by peer address: one attempt', () => {
    assert.equal(
      count(`Dec  6 10:00:04 h sshd: User root from 192.0.2.52 not allowed because not listed in AllowUsers
Dec  6 10:00:05 h sshd: Failed password for invalid user root from 192.0.2.52 port 41000 ssh2`),
      1,
    );
  });
});

describe('rules > decoders > tcp_wrappers (libwrap refuse(): "refused connect from %s")', () => {
  it('HOST (IP), bare IP, user@HOST, source routing; any daemon', () => {
    const refused = { 'event.action': ACTIONS.tcpwrapRefused, 'event.category': ['network'], 'event.type': ['denied'], 'event.outcome': 'failure' };
    check('Dec  6 10:00:06 h sshd[5001]: refused connect from scan.example.org (198.51.100.61)', { ...refused, 'source.ip': '198.51.100.61', 'source.domain': 'scan.example.org' });
    check('Dec  6 10:00:06 h sshd[5002]: refused connect from 198.51.100.62', { ...refused, 'source.ip': '198.51.100.62' });
    check('Dec  6 10:00:06 h in.telnetd[5003]: refused connect from evil (x)@198.51.100.63', { ...refused, 'source.ip': '198.51.100.63' });
    check('Dec  6 10:00:06 h vsftpd[5004]: refused connect from 2001:db8::63', { ...refused, 'source.ip': '2001:db8::63' });
    check('Dec  6 10:00:06 h portmap[5005]: refused connect from 198.51.100.64 with IP source routing options', { ...refused, 'source.ip': '198.51.100.64' });
  });
  it('is not a login attempt', () => {
    assert.equal(count('Dec  6 10:00:06 h sshd[5001]: refused connect from 198.51.100.61 (198.51.100.61)'), 0);
  });
});

describe('rules > decoders > pam > pam_unix on any service', () => {
  it('unknown service names, through decodeGeneric, count one attempt each', () => {
    for (const svc of ['dovecot', 'my-custom-app', 'cockpit', 'xrdp-sesman']) {
      check(`Dec  6 10:00:07 h ${svc}[600]: pam_unix(${svc}:auth): authentication failure; logname= uid=0 euid=0 tty= ruser= rhost=203.0.113.71  user=carol`, {
        ...FAIL, 'event.action': ACTIONS.pamAuthFailure, 'user.name': 'carol', 'source.ip': '203.0.113.71', 'event.dataset': 'system.auth.pam',
      });
    }
    assert.equal(count(`Dec  6 10:00:07 h cockpit[600]: pam_unix(cockpit:auth): authentication failure; logname= uid=0 euid=0 tty= ruser= rhost=203.0.113.71  user=carol
Dec  6 10:00:09 h cockpit[601]: pam_unix(cockpit:auth): authentication failure; logname= uid=0 euid=0 tty= ruser= rhost=203.0.113.71  user=carol`), 2);
  });
  it('empty user, empty rhost, tty and ruser are read in pam_unix order', () => {
    check('Dec  6 10:00:07 h login[1]: pam_unix(login:auth): authentication failure; logname=LOGIN uid=0 euid=0 tty=/dev/tty1 ruser= rhost=', {
      ...FAIL, 'user.name': undefined, 'source': undefined, 'process.tty.name': 'tty1',
    });
    check('Dec  6 10:00:07 h su[2]: pam_unix(su:auth): authentication failure; logname=alice uid=1000 euid=0 tty=pts/1 ruser=alice rhost=  user=root', {
      'user.name': 'alice', 'user.target.name': 'root', 'process.tty.name': 'pts/1',
    });
  });
});

describe('rules > decoders > sshd > clients that give up before a credential line', () => {
  const abandon = (pid: number, ip: string) =>
    `Dec  6 10:01:00 h sshd[${pid}]: error: Received disconnect from ${ip} port 50100:14: No more user authentication methods available [preauth]`;
  it(':14: (SSH2_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE) and JSch Auth fail are an attempt of their own', () => {
    check(abandon(7000, '203.0.113.91'), { ...FAIL, 'event.action': ACTIONS.sshAuthAbandoned, 'source.ip': '203.0.113.91', 'source.port': 50100 });
    check('Dec  6 10:01:00 h sshd[7001]: Received disconnect from 203.0.113.92 port 50101:14: No supported authentication methods available [preauth]', {
      ...FAIL, 'event.action': ACTIONS.sshAuthAbandoned, 'event.reason': 'No supported authentication methods available',
    });
    check('Dec  6 10:01:00 h sshd[7002]: error: Received disconnect from 203.0.113.93 port 50102:3: com.jcraft.jsch.JSchException: Auth fail [preauth]', {
      ...FAIL, 'event.action': ACTIONS.sshAuthAbandoned, 'source.ip': '203.0.113.93',
    });
    check('Dec  6 10:01:00 h sshd[7003]: Received disconnect from 203.0.113.94 port 50103:11: Bye Bye [preauth]', {
      'event.action': ACTIONS.sshDisconnect, 'event.type': ['end'],
    });
  });
  it('Failed password lines then the :14: disconnect: only the Failed lines count', () => {
    assert.equal(count(`Dec  6 10:01:00 h sshd[7100]: Failed password for root from 203.0.113.95 port 50200 ssh2
Dec  6 10:01:02 h sshd[7100]: Failed password for root from 203.0.113.95 port 50200 ssh2
${abandon(7100, '203.0.113.95')}
Dec  6 10:01:03 h sshd[7100]: Disconnected from authenticating user root 203.0.113.95 port 50200 [preauth]`), 2);
  });
  it('only the disconnect (and the Disconnected line after it): one attempt', () => {
    assert.equal(count(`${abandon(7200, '203.0.113.96')}
Dec  6 10:01:03 h sshd[7200]: Disconnected from authenticating user root 203.0.113.96 port 50100 [preauth]`), 1);
    assert.equal(count(`Dec  6 10:01:00 h sshd[7201]: error: Received disconnect from 203.0.113.97 port 50102:3: com.jcraft.jsch.JSchException: Auth fail [preauth]
Dec  6 10:01:00 h sshd[7201]: Disconnected from authenticating user deploy 203.0.113.97 port 50102 [preauth]`), 1);
  });
  it('Invalid user then the disconnect: one; two connections are kept apart by pid', () => {
    assert.equal(count(`Dec  6 10:01:00 h sshd[7300]: Invalid user test from 203.0.113.98 port 50300
${abandon(7300, '203.0.113.98')}
${abandon(7301, '203.0.113.98')}`), 2);
  });
  it('the "none" probe alone does not hide the give-up', () => {
    assert.equal(count(`Dec  6 10:01:00 h sshd[7400]: Failed none for invalid user x from 203.0.113.99 port 50400 ssh2
${abandon(7400, '203.0.113.99')}`), 1);
  });
});

describe('rules > decoders > other services on the same hosts', () => {
  it('MIT krb5 klogind/kshd: Authentication failed from HOST (IP): error', () => {
    check('Dec  6 10:02:00 h klogind[8100]: Authentication failed from ws7.example.com (192.0.2.110): Software caused connection abort', {
      ...FAIL, 'event.action': ACTIONS.kloginFailure, 'source.ip': '192.0.2.110', 'source.domain': 'ws7.example.com', 'event.reason': 'Software caused connection abort',
    });
    check('Dec  6 10:02:00 h kshd[8101]: Authentication failed from 192.0.2.111 (192.0.2.111): Permission denied', { ...FAIL, 'source.ip': '192.0.2.111' });
  });
  it('gdm: gdm-password PAM lines count; old GDM "Couldn\'t authenticate user" echoes its gdm PAM line', () => {
    check('Dec  6 10:02:01 ws1 gdm-password]: pam_unix(gdm-password:auth): authentication failure; logname= uid=0 euid=0 tty=/dev/tty1 ruser= rhost=  user=alice', {
      ...FAIL, 'event.action': ACTIONS.pamAuthFailure, 'user.name': 'alice',
    });
    check("Dec  6 10:02:01 ws1 gdm[900]: Couldn't authenticate user", { ...FAIL, 'event.action': ACTIONS.gdmLoginFailure });
    assert.equal(count(`Dec  6 10:02:01 ws1 gdm[901]: pam_unix(gdm:auth): authentication failure; logname= uid=0 euid=0 tty=:0 ruser= rhost=  user=bob
Dec  6 10:02:02 ws1 gdm[901]: Couldn't authenticate user`), 1);
  });
  it('vsftpd: OK LOGIN (anonymous, with the password), FAIL LOGIN, ::ffff: mapped, [pid N] prefix; PAM line + FAIL LOGIN = 1', () => {
    check('Dec  6 10:02:02 f1 vsftpd[300]: [pid 301] [ftp] OK LOGIN: Client "203.0.113.120", anon password "guest@example.com"', {
      'event.action': ACTIONS.ftpLogin, 'event.outcome': 'success', 'event.type': ['start'], 'user.name': 'ftp', 'source.ip': '203.0.113.120', 'trailwatch.auth.method': 'anonymous',
    });
    check('Dec  6 10:02:02 f1 vsftpd[302]: [carol] FAIL LOGIN: Client "::ffff:203.0.113.121"', { ...FAIL, 'user.name': 'carol', 'source.ip': '203.0.113.121' });
    assert.equal(count(`Dec  6 10:02:02 f1 vsftpd[303]: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser=dave rhost=203.0.113.122
Dec  6 10:02:04 f1 vsftpd[303]: [dave] FAIL LOGIN: Client "203.0.113.122"`), 1);
  });
  it('wu-ftpd: ANONYMOUS FTP LOGIN FROM HOST [IP], FAILED FTP LOGIN FROM HOST [IP], user', () => {
    check('Dec  6 10:02:03 f2 ftpd[400]: ANONYMOUS FTP LOGIN FROM dial5.example.net [198.51.100.130], mozilla@', {
      'event.action': ACTIONS.ftpLogin, 'event.outcome': 'success', 'user.name': 'anonymous', 'source.ip': '198.51.100.130', 'source.domain': 'dial5.example.net',
    });
    check('Dec  6 10:02:03 f2 ftpd[401]: FAILED FTP LOGIN FROM unknown [198.51.100.131], root', { ...FAIL, 'user.name': 'root', 'source.ip': '198.51.100.131', 'source.domain': undefined });
  });
});
