import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createDecoder, ACTIONS } from '../src/rules/decoders/index.js';
import { check, count, lineToEvent } from './decoders-line.js';


const FAIL = { 'event.category': ['authentication'], 'event.type': ['start'], 'event.outcome': 'failure' };

describe('decoders > pam > any service', () => {
  it('authentication failure of a service without its own line is an attempt (gdm, vsftpd, polkit)', () => {
    check('Nov 29 10:00:01 ws gdm-password][2211]: pam_unix(gdm-password:auth): authentication failure; logname= uid=0 euid=0 tty=/dev/tty1 ruser= rhost=  user=alice', {
      ...FAIL, 'event.action': ACTIONS.pamAuthFailure, 'event.dataset': 'system.auth.pam', 'user.name': 'alice', 'process.tty.name': 'tty1', 'trailwatch.decoder': 'pam',
    });
    check('Nov 29 10:00:01 ftp vsftpd[77]: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 euid=0 tty=ftp ruser=anna rhost=::ffff:198.51.100.4 ', {
      ...FAIL, 'user.name': 'anna', 'source.ip': '198.51.100.4',
    });
    check('Nov 29 10:00:01 ipa sshd[77]: pam_sss(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.9 user=bob', {
      ...FAIL, 'user.name': 'bob', 'source.ip': '203.0.113.9',
    });
    check('Nov 29 10:00:01 ipa sshd[77]: pam_sss(sshd:auth): received for user bob: 7 (Authentication failure)', { 'event.type': ['info'], 'user.name': 'bob' });
    assert.equal(count(`
Nov 29 10:00:01 ws gdm-password][2211]: pam_unix(gdm-password:auth): authentication failure; logname= uid=0 euid=0 tty=/dev/tty1 ruser= rhost=  user=alice
Nov 29 10:00:09 ws gdm-password][2211]: PAM 2 more authentication failures; logname= uid=0 euid=0 tty=/dev/tty1 ruser= rhost=  user=alice`), 3);
  });
  it('pam_faillock lockout, sessions of cron / systemd-user are not failures', () => {
    check('Nov 29 10:00:01 h sshd[9]: pam_faillock(sshd:auth): Consecutive login failures for user bob account temporarily locked', {
      'event.action': ACTIONS.pamAccountLocked, 'event.type': ['info'], 'user.name': 'bob',
    });
    check('Nov 29 10:00:01 h CRON[9]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)', {
      'event.action': ACTIONS.sessionOpened, 'event.outcome': 'success', 'user.name': 'root',
    });
    check('Nov 29 10:00:01 h systemd[9]: pam_unix(systemd-user:session): session opened for user alice(uid=1000) by alice(uid=0)', { 'user.name': 'alice', 'user.target': undefined });
    assert.equal(count(`
Nov 29 10:00:01 h CRON[9]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)
Nov 29 10:00:02 h CRON[9]: pam_unix(cron:session): session closed for user root
Nov 29 10:00:02 h CRON[10]: (root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)`), 0);
  });
});

describe('decoders > su', () => {
  it('util-linux: FAILED SU (to root) and (to root) success', () => {
    check('Nov 29 10:00:01 h su[9]: FAILED SU (to root) bob on pts/0', {
      ...FAIL, 'event.action': ACTIONS.suFailure, 'event.dataset': 'system.auth.su', 'user.name': 'bob', 'user.target.name': 'root', 'process.tty.name': 'pts/0',
    });
    check('Nov 29 10:00:01 h su[9]: (to root) alice on pts/1', {
      'event.action': ACTIONS.suSuccess, 'event.outcome': 'success', 'user.name': 'alice', 'user.target.name': 'root', 'related.user': ['alice', 'root'],
    });
  });
  it('shadow: FAILED su for / Successful su for / +- sulog lines; busybox sulog alone', () => {
    check('Nov 29 10:00:01 h su[9]: FAILED su for root by bob', { ...FAIL, 'user.name': 'bob', 'user.target.name': 'root' });
    check('Nov 29 10:00:01 h su[9]: Successful su for root by alice', { 'event.outcome': 'success', 'user.name': 'alice', 'user.target.name': 'root' });
    check('Nov 29 10:00:01 h su[9]: - /dev/pts/0 bob:root', { ...FAIL, 'user.name': 'bob', 'user.target.name': 'root', 'process.tty.name': 'pts/0' });
    check('Nov 29 10:00:01 h su[9]: + /dev/pts/0 alice:root', { 'event.outcome': 'success', 'user.name': 'alice' });
  });
  it('pam_unix(su:auth) / pam_unix(su-l:auth): user is the caller, target the account', () => {
    check('Nov 29 10:00:01 h su[9]: pam_unix(su-l:auth): authentication failure; logname=bob uid=1000 euid=0 tty=pts/0 ruser=bob rhost=  user=root', {
      ...FAIL, 'user.name': 'bob', 'user.target.name': 'root', 'process.tty.name': 'pts/0',
    });
    check('Nov 29 10:00:01 h su[9]: pam_unix(su-l:session): session opened for user root(uid=0) by bob(uid=1000)', {
      'event.action': ACTIONS.sessionOpened, 'user.name': 'bob', 'user.target.name': 'root',
    });
  });
  it('one su run counts once whatever number of lines it writes', () => {
    assert.equal(count(`
Nov 29 10:00:01 h su[9]: pam_unix(su:auth): authentication failure; logname=bob uid=1000 euid=0 tty=/dev/pts/1 ruser=bob rhost=  user=root
Nov 29 10:00:01 h su[9]: pam_authenticate: Authentication failure
Nov 29 10:00:02 h su[9]: FAILED su for root by bob
Nov 29 10:00:02 h su[9]: - /dev/pts/1 bob:root
Nov 29 10:00:03 h su[10]: pam_unix(su-l:auth): authentication failure; logname=bob uid=1000 euid=0 tty=pts/0 ruser=bob rhost=  user=root
Nov 29 10:00:04 h su[10]: FAILED SU (to root) bob on pts/0
Nov 29 10:00:05 h su[11]: - /dev/pts/0 bob:root`), 3);
  });
});

describe('decoders > login', () => {
  it('FAILED LOGIN (util-linux FROM/ON, shadow quoted), TOO MANY LOGIN TRIES, busybox', () => {
    check('Nov 29 10:00:01 h login[9]: FAILED LOGIN 1 FROM tty1 FOR root, Authentication failure', {
      ...FAIL, 'event.action': ACTIONS.loginFailure, 'user.name': 'root', 'process.tty.name': 'tty1', 'event.reason': 'Authentication failure', 'source.ip': undefined,
    });
    check('Nov 29 10:00:01 h login[9]: FAILED LOGIN 2 FROM 192.0.2.8 FOR admin, Authentication failure', { ...FAIL, 'user.name': 'admin', 'source.ip': '192.0.2.8' });
    check("Nov 29 10:00:01 h login[9]: FAILED LOGIN (1) on '/dev/tty2' FOR 'root', Authentication failure", { ...FAIL, 'user.name': 'root', 'process.tty.name': 'tty2' });
    check("Nov 29 10:00:01 h login[9]: FAILED LOGIN (1) on '/dev/pts/3' from 'old.example.net' FOR 'UNKNOWN', User not known to the underlying authentication module", {
      ...FAIL, 'user.name': 'UNKNOWN', 'source.domain': 'old.example.net', 'process.tty.name': 'pts/3',
    });
    check('Nov 29 10:00:01 h login[9]: TOO MANY LOGIN TRIES (5) FROM tty1 FOR root, Authentication failure', { 'event.type': ['info'], 'event.outcome': 'failure' });
    check("Nov 29 10:00:01 h login[9]: invalid password for 'root' on 'tty1'", { ...FAIL, 'user.name': 'root', 'process.tty.name': 'tty1' });
  });
  it('ROOT LOGIN ON / ROOT LOGIN  on / root login on / LOGIN ON … BY are successes', () => {
    for (const msg of ['ROOT LOGIN ON tty1', "ROOT LOGIN  on '/dev/tty1'", "root login on 'tty1'"]) {
      check(`Nov 29 10:00:01 h login[9]: ${msg}`, { 'event.action': ACTIONS.rootLogin, 'event.outcome': 'success', 'user.name': 'root', 'process.tty.name': 'tty1' });
    }
    check('Nov 29 10:00:01 h login[9]: LOGIN ON pts/0 BY alice FROM 10.0.0.9', { 'event.action': ACTIONS.loginSuccess, 'user.name': 'alice', 'source.ip': '10.0.0.9' });
  });
  it('PAM line + FAILED LOGIN 1..3 + TOO MANY + PAM 2 more = 3', () => {
    assert.equal(count(`
Nov 29 10:00:01 h login[9]: pam_unix(login:auth): authentication failure; logname=LOGIN uid=0 euid=0 tty=/dev/tty1 ruser= rhost=  user=root
Nov 29 10:00:02 h login[9]: FAILED LOGIN 1 FROM tty1 FOR root, Authentication failure
Nov 29 10:00:03 h login[9]: FAILED LOGIN 2 FROM tty1 FOR root, Authentication failure
Nov 29 10:00:04 h login[9]: FAILED LOGIN 3 FROM tty1 FOR root, Authentication failure
Nov 29 10:00:04 h login[9]: TOO MANY LOGIN TRIES (3) FROM tty1 FOR root, Authentication failure
Nov 29 10:00:04 h login[9]: PAM 2 more authentication failures; logname=LOGIN uid=0 euid=0 tty=/dev/tty1 ruser= rhost=  user=root`), 3);
  });
  it('systemd-logind sessions', () => {
    check('Nov 29 10:00:01 h systemd-logind[412]: New session 12 of user alice.', { 'event.action': ACTIONS.logindSessionNew, 'user.name': 'alice', 'event.category': ['session'] });
    check('Nov 29 10:00:01 h systemd-logind[412]: Removed session 12.', { 'event.action': ACTIONS.logindSessionRemoved });
  });
});

describe('decoders > sudo', () => {
  it('command: user, target, tty, pwd, command line, args', () => {
    check('Nov 29 10:00:01 h sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/apt update', {
      'event.action': ACTIONS.sudoCommand, 'event.category': ['process'], 'event.type': ['start'], 'event.outcome': 'success', 'event.dataset': 'system.auth.sudo',
      'user.name': 'alice', 'user.target.name': 'root', 'process.tty.name': 'pts/0', 'process.working_directory': '/home/alice',
      'process.command_line': '/usr/bin/apt update', 'process.args': ['/usr/bin/apt', 'update'], 'process.args_count': 2, 'process.executable': '/usr/bin/apt',
    });
  });
  it('newer sudo: ENV=, GROUP=, TSID=, and " ; " inside COMMAND=', () => {
    check('Nov 29 10:00:01 h sudo[77]: alice : TTY=pts/1 ; PWD=/ ; USER=root ; GROUP=wheel ; TSID=000042 ; ENV=FOO=bar LANG=C ; COMMAND=/bin/bash -c echo a ; history -c', {
      'user.name': 'alice', 'user.target.name': 'root', 'process.working_directory': '/', 'process.command_line': '/bin/bash -c echo a ; history -c',
    });
  });
  it('incorrect password attempts: one event weighing N attempts, the PAM line counts the first', () => {
    check('Nov 29 10:00:01 h sudo[77]: bob : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/id', {
      ...FAIL, 'event.action': ACTIONS.sudoAuthFailure, 'event.count': 3, 'user.name': 'bob', 'user.target.name': 'root', 'process.command_line': '/usr/bin/id',
    });
    check('Nov 29 10:00:01 h sudo[77]: bob : 1 incorrect password attempt ; TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/id', { ...FAIL, 'event.count': undefined });
    assert.equal(count(`
Nov 29 10:00:01 h sudo[77]: pam_unix(sudo:auth): authentication failure; logname=bob uid=1000 euid=0 tty=/dev/pts/0 ruser=bob rhost=  user=bob
Nov 29 10:00:09 h sudo[77]: bob : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/id`), 3);
    assert.equal(count(`
Nov 29 10:00:01 h sudo[78]: pam_unix(sudo:auth): auth could not identify password for [bob]
Nov 29 10:00:09 h sudo[78]: bob : a password is required ; TTY=pts/0 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/id`), 0);
  });
  it('NOT in sudoers / command not allowed: denied, not login failures', () => {
    check('Nov 29 10:00:01 h sudo[77]: mallory : user NOT in sudoers ; TTY=pts/2 ; PWD=/home/mallory ; USER=root ; COMMAND=/bin/bash', {
      'event.action': ACTIONS.sudoNotAllowed, 'event.type': ['denied'], 'event.outcome': 'failure', 'event.reason': 'user NOT in sudoers', 'process.command_line': '/bin/bash',
    });
    check('Nov 29 10:00:01 h sudo[77]: bob : command not allowed ; TTY=pts/2 ; PWD=/ ; USER=root ; COMMAND=/usr/bin/passwd root', { 'event.action': ACTIONS.sudoNotAllowed });
  });
  it('long commands continued; unrelated sudo lines stay undecoded', () => {
    check('Nov 29 10:00:01 h sudo[77]: alice : (command continued) --rm -rf /var/log', { 'event.action': ACTIONS.sudoCommandContinued, 'process.command_line': '--rm -rf /var/log' });
    for (const msg of ['alice : unable to resolve host web1: Name or service not known', 'unable to open /etc/sudoers']) {
      const ev = lineToEvent(`Nov 29 10:00:01 h sudo[77]: ${msg}`);
      assert.equal(createDecoder().decode(ev), false, msg);
      assert.equal(ev.event.action, undefined);
    }
  });
});
