// A mixed auth log of the dialects in decoders-dialects.test.ts, through
// `trailwatch replay` with the default pack: the failed-login count and the
// alerts the pack raises on it.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Alert, TwEvent } from '../src/event.js';
import { runCli, tempDir } from './helpers.js';
import { failedAttempts } from './decoders-line.js';

const tmp = tempDir('tw-dialects-');
after(() => tmp.cleanup());

const A = '203.0.113.200'; // a password guesser seen through eight services and dialects
const B = '198.51.100.200'; // a scanner of account names
const LOG = `Mar  3 10:00:01 sol1 sshd[2001]: [ID 800047 auth.info] Failed keyboard-interactive for admin from ${A} port 50001 ssh2
Mar  3 10:00:05 mac1 sshd[612]: error: PAM: authentication error for admin from ${A} via 192.0.2.200
Mar  3 10:00:05 mac1 sshd[612]: Failed keyboard-interactive/pam for admin from ${A} port 50002 ssh2
Mar  3 10:00:09 web1 sshd[3001]: error: Received disconnect from ${A} port 50003:14: No more user authentication methods available [preauth]
Mar  3 10:00:09 web1 sshd[3001]: Disconnected from authenticating user admin ${A} port 50003 [preauth]
Mar  3 10:00:12 web1 sshd[3002]: Failed password for admin from ${A} port 50004 ssh2
Mar  3 10:00:14 web1 sshd[3002]: error: Received disconnect from ${A} port 50004:14: No more user authentication methods available [preauth]
Mar  3 10:00:15 web2 sshd[3003]: error: Received disconnect from ${A} port 50005:3: com.jcraft.jsch.JSchException: Auth fail [preauth]
Mar  3 10:00:20 kdc1 klogind[4001]: Authentication failed from attacker.example.net (${A}): Permission denied
Mar  3 10:00:25 ftp1 vsftpd[5001]: [admin] FAIL LOGIN: Client "::ffff:${A}"
Mar  3 10:00:30 ftp2 ftpd[6001]: FAILED FTP LOGIN FROM unknown [${A}], admin
Mar  3 10:00:35 mail1 dovecot[7001]: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=admin rhost=${A}  user=admin
Mar  3 10:00:40 web1 sshd[3010]: refused connect from ${A} (${A})
Mar  3 10:01:00 sol1 sshd[2101]: [ID 800047 auth.notice] Invalid user oracle from ${B} port 41001
Mar  3 10:01:00 sol1 sshd[2101]: [ID 800047 auth.info] Failed keyboard-interactive for invalid user oracle from ${B} port 41001 ssh2
Mar  3 10:01:05 rh1 sshd[2102]: error: PAM: User not known to the underlying authentication module for illegal user test from ${B}
Mar  3 10:01:05 rh1 sshd[2102]: Failed keyboard-interactive/pam for invalid user test from ${B} port 41002 ssh2
Mar  3 10:01:10 mac1 sshd[2103]: error: PAM: unknown user for illegal user ubnt from ${B} via 192.0.2.200
Mar  3 10:01:15 web1 sshd[2104]: Failed password for invalid user pi from ${B} port 41004 ssh2
Mar  3 10:01:20 web2 sshd: User root from ${B} not allowed because not listed in AllowUsers
Mar  3 10:01:25 web2 sshd[2106]: Failed password for invalid user x from 6.6.6.6 port 1 ssh2 from ${B} port 41006 ssh2
`;
// A: Solaris, macOS (PAM + Failed = 1), :14: alone, Failed + :14: (= 1), JSch, klogind, vsftpd, wu-ftpd, dovecot = 9;
// B: Solaris Invalid + Failed (= 1), PAM unknown + Failed (= 1), macOS, Failed invalid, not allowed, the forged line = 6.
const EXPECTED_FAILED = 9 + 6;

describe('rules > decoders > dialects > replay of a mixed log', () => {
  const path = join(tmp.dir, 'mixed.log');
  writeFileSync(path, LOG);
  it('counts every attempt once and the default pack alerts on both sources', async () => {
    const r = await runCli(['replay', path, '--year', '2024', '--summary']);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as TwEvent);
    const events = out.filter((e) => e.event.kind !== 'alert');
    const alerts = out.filter((e) => e.event.kind === 'alert') as Alert[];
    assert.equal(events.length, LOG.trim().split('\n').length);
    assert.equal(failedAttempts(events), EXPECTED_FAILED);
    assert.match(r.stderr, new RegExp(`login attempts: ${EXPECTED_FAILED} failed`));
    assert.ok(!events.some((e) => e.source?.ip === '6.6.6.6'), 'the forged address is never the source');
    const by = (id: string) => alerts.filter((a) => a.rule.id === id).map((a) => getGroup(a));
    assert.deepEqual(by('ssh-failed-login-burst'), [A]);
    assert.deepEqual(by('ssh-invalid-user-brute-force'), [B]);
    assert.deepEqual(by('log-injection-suspected'), [B]);
    assert.deepEqual(by('ssh-password-spraying'), [], 'superseded by the brute force on B; A tried one account');
  });
});

function getGroup(a: Alert): string | undefined {
  const g = (a.trailwatch.alert as unknown as { group?: Record<string, unknown> }).group;
  return g === undefined ? a.source?.ip : (g['source.ip'] as string | undefined);
}
