// PAM module lines from any service: "pam_unix(svc:auth): authentication
// failure; logname= uid= euid= tty= ruser= rhost= user=", "check pass; user
// unknown", "PAM N more authentication failures", session opened/closed,
// pam_sss / pam_faillock, and old Linux-PAM's "sshd(pam_unix)[pid]:" form.
import type { TwEvent } from '../../event.js';
import { ACTIONS, DATASETS } from './vocabulary.js';
import { announceLine, countLine, forgetProcess, summaryLine, type DecodeState } from './state.js';
import { categorise, normaliseIp, setSource, setTargetUser, setUser, parseUint, skipDigits, relateHost, tagInjection } from './fields.js';

const D = 'pam';

/**
 * Services that also write their own line for each attempt (sshd "Failed
 * password", su "FAILED SU", login "FAILED LOGIN", sudo "N incorrect password
 * attempts"): their PAM failure line announces an attempt that line confirms
 * (state.ts). For any other service (gdm-password, polkit, dovecot…) each PAM
 * failure line is an attempt of its own. Old GDM ("gdm": "Couldn't
 * authenticate user") and vsftpd ("FAIL LOGIN") write their own line too.
 */
const ECHO_SERVICES = new Set(['sshd', 'su', 'su-l', 'sudo', 'sudo-i', 'login', 'remote', 'runuser', 'runuser-l', 'gdm', 'vsftpd']);

/** Services whose session lines name an actor (by X) who became another user (for Y). */
const SWITCH_SERVICES = new Set(['su', 'su-l', 'sudo', 'sudo-i', 'runuser', 'runuser-l', 'pkexec']);

/** Value of `key=` in a PAM "k=v k=v" list ("" when present but empty, undefined when absent). */
export function kv(s: string, key: string): string | undefined {
  let i = s.indexOf(key);
  while (i >= 0) {
    const prev = i === 0 ? 32 : s.charCodeAt(i - 1);
    if (prev === 32 || prev === 59 /* ; */ || prev === 9) {
      const start = i + key.length;
      let end = s.indexOf(' ', start);
      if (end < 0) end = s.length;
      return s.slice(start, end);
    }
    i = s.indexOf(key, i + 1);
  }
  return undefined;
}

function setTty(ev: TwEvent, tty: string | undefined): void {
  if (!tty || tty === 'ssh' || tty.startsWith('NODEV')) return;
  const p = (ev.process ??= {});
  p.tty = { name: tty.startsWith('/dev/') ? tty.slice(5) : tty };
}

/**
 * Users, tty and remote host from a PAM failure's list. pam_unix writes it as
 * "logname=%s uid=%d euid=%d tty=%s ruser=%s rhost=%s" then " user=%s" (so
 * "rhost=H  user=U"), user last. The user name (and ruser for rlogin/vsftpd)
 * is the client's and may hold " rhost=6.6.6.6": the fields are read left to
 * right in that fixed order, and rhost is the first "rhost=H" whose H is
 * followed by the end, " " + end or "  user=". More than one well-formed
 * rhost= means a client wrote one (tag).
 */
function failureFields(ev: TwEvent, list: string): void {
  const ttyAt = list.indexOf('tty=');
  const ruserAt = list.indexOf(' ruser=', ttyAt < 0 ? 0 : ttyAt);
  let rhostAt = -1;
  let rhostEnd = -1;
  let rhosts = 0;
  for (let i = list.indexOf('rhost=', ruserAt < 0 ? 0 : ruserAt); i >= 0; i = list.indexOf('rhost=', i + 6)) {
    const prev = list.charCodeAt(i - 1);
    if (i > 0 && prev !== 32 && prev !== 59 && prev !== 9) continue;
    let e = list.indexOf(' ', i + 6);
    if (e < 0) e = list.length;
    const h = list.slice(i + 6, e);
    if (h !== '' && normaliseIp(h) !== undefined) rhosts++;
    if (rhostAt < 0 && (e >= list.trimEnd().length || list.startsWith('  user=', e) || list.startsWith(' user=', e))) {
      rhostAt = i;
      rhostEnd = e;
    }
  }
  let user: string | undefined;
  let ruser: string | undefined;
  if (rhostAt >= 0) {
    const u = list.indexOf(' user=', rhostEnd);
    if (u >= 0) user = list.slice(u + 6).trimEnd();
    if (ruserAt >= 0 && ruserAt + 7 <= rhostAt - 1) ruser = list.slice(ruserAt + 7, rhostAt - 1);
    setSource(ev, list.slice(rhostAt + 6, rhostEnd));
  } else {
    // Not pam_unix's layout (pam_sss, pam_ldap "…; user=U"): the plain key lookup.
    user = kv(list, 'user=');
    ruser = kv(list, 'ruser=');
    setSource(ev, kv(list, 'rhost='));
  }
  if (rhosts > 1) tagInjection(ev);
  // su/sudo: ruser is the person, user the account they tried to become.
  if (ruser && user && ruser !== user) {
    setUser(ev, ruser);
    setTargetUser(ev, user);
  } else setUser(ev, user || ruser);
  let tty: string | undefined;
  if (ttyAt >= 0) tty = list.slice(ttyAt + 4, ruserAt > ttyAt ? ruserAt : list.indexOf(' ', ttyAt) < 0 ? list.length : list.indexOf(' ', ttyAt));
  setTty(ev, tty);
}


function authFailure(ev: TwEvent, service: string, list: string, st: DecodeState): boolean {
  categorise(ev, D, DATASETS.pam, ACTIONS.pamAuthFailure, 'authentication', 'start', 'failure');
  failureFields(ev, list);
  relateHost(ev);
  if (ECHO_SERVICES.has(service)) announceLine(st, ev);
  else countLine(st, ev);
  return true;
}

/** "session opened for user alice(uid=1000) by (uid=0)" / "session closed for user alice". */
function session(ev: TwEvent, service: string, text: string, opened: boolean): boolean {
  const at = 24; // length of "session opened for user " and of "session closed for user "
  let end = at;
  while (end < text.length) {
    const c = text.charCodeAt(end);
    if (c === 40 /* ( */ || c === 32) break;
    end++;
  }
  const user = text.slice(at, end);
  categorise(ev, D, DATASETS.pam, opened ? ACTIONS.sessionOpened : ACTIONS.sessionClosed, 'session', opened ? 'start' : 'end', 'success');
  const by = text.indexOf(' by ', end);
  let byName = '';
  if (by >= 0) {
    let e = by + 4;
    while (e < text.length && text.charCodeAt(e) !== 40 && text.charCodeAt(e) !== 32) e++;
    byName = text.slice(by + 4, e);
  }
  if (byName && byName !== user && byName !== 'LOGIN' && SWITCH_SERVICES.has(service)) {
    setUser(ev, byName);
    setTargetUser(ev, user);
  } else setUser(ev, user);
  relateHost(ev);
  return true;
}

/**
 * The text after "pam_xxx(service:type): " (or after "sshd(pam_unix)[pid]: ").
 * `service` is the PAM service ("sshd", "su-l", "gdm-password").
 */
export function decodePamText(ev: TwEvent, service: string, text: string, st: DecodeState): boolean {
  // "2 more authentication failures; …" as old Linux-PAM ("sshd(pam_unix)[pid]:") wrote it.
  const c = text.charCodeAt(0);
  if (c >= 48 && c <= 57) return decodePamMore(ev, text, st, 0);
  if (text.startsWith('authentication failure;')) return authFailure(ev, service, text.slice(23), st);
  if (text.startsWith('session opened for user ')) return session(ev, service, text, true);
  if (text.startsWith('session closed for user ')) return session(ev, service, text, false);
  if (text.startsWith('check pass; user unknown')) {
    categorise(ev, D, DATASETS.pam, ACTIONS.pamUserUnknown, 'authentication', 'info', 'failure');
    relateHost(ev);
    return true;
  }
  if (text.startsWith('Consecutive login failures for user ')) {
    // pam_faillock: "... for user root account temporarily locked"
    categorise(ev, D, DATASETS.pam, ACTIONS.pamAccountLocked, 'authentication', 'info', 'failure');
    const end = text.indexOf(' ', 36);
    setUser(ev, text.slice(36, end < 0 ? text.length : end));
    relateHost(ev);
    return true;
  }
  if (text.startsWith('received for user ')) {
    // pam_sss: "received for user bob: 7 (Authentication failure)" echoes its own "authentication failure;" line.
    const colon = text.indexOf(': ', 18);
    if (colon < 0) return false;
    const unknown = text.includes('(User not known');
    if (!unknown && !text.includes('(Authentication failure)')) return false;
    categorise(ev, D, DATASETS.pam, unknown ? ACTIONS.pamUserUnknown : ACTIONS.pamAuthFailure, 'authentication', 'info', 'failure');
    setUser(ev, text.slice(18, colon));
    relateHost(ev);
    return true;
  }
  if (text.startsWith('auth could not identify password for [')) {
    // The prompt was abandoned (Ctrl-C, no tty): no credential was tried.
    categorise(ev, D, DATASETS.pam, ACTIONS.pamAuthFailure, 'authentication', 'info', 'failure');
    const end = text.indexOf(']', 38);
    if (end > 38) setUser(ev, text.slice(38, end));
    relateHost(ev);
    return true;
  }
  return false;
}

/** "pam_unix(sshd:auth): …": module and service from the prefix, then the text. */
export function decodePam(ev: TwEvent, msg: string, st: DecodeState): boolean {
  const open = msg.indexOf('(');
  if (open < 0 || open > 40) return false;
  const close = msg.indexOf('): ', open);
  if (close < 0) return false;
  const colon = msg.indexOf(':', open);
  const service = msg.slice(open + 1, colon > open && colon < close ? colon : close);
  return decodePamText(ev, service, msg.slice(close + 3), st);
}

/** "PAM 2 more authentication failures; logname= … rhost=… user=root" (pam_unix's summary at pam_end). */
export function decodePamMore(ev: TwEvent, msg: string, st: DecodeState, at = 4): boolean {
  const d = skipDigits(msg, at);
  const n = parseUint(msg, at, d);
  if (!(n > 0) || !msg.startsWith(' more authentication failure', d)) return false;
  const semi = msg.indexOf(';', d);
  categorise(ev, D, DATASETS.pam, ACTIONS.pamMoreFailures, 'authentication', 'start', 'failure');
  failureFields(ev, semi < 0 ? '' : msg.slice(semi + 1));
  relateHost(ev);
  // The first failure was logged on its own; these are the n after it, of which
  // sshd/login may already have counted some on their own lines.
  summaryLine(st, ev, n + 1);
  forgetProcess(st, ev);
  return true;
}

/** "error: PAM: Authentication failure for [illegal user ]X from H" (sshd keyboard-interactive, RHEL/SUSE). */
export function decodeSshdPamError(ev: TwEvent, text: string, unknownUser: boolean, host: string | undefined, st: DecodeState): boolean {
  categorise(ev, D, DATASETS.pam, unknownUser ? ACTIONS.pamUserUnknown : ACTIONS.pamAuthFailure, 'authentication', 'start', 'failure');
  let user = text;
  if (user.startsWith('illegal user ') || user.startsWith('invalid user ')) user = user.slice(13);
  setUser(ev, user);
  setSource(ev, host);
  relateHost(ev);
  announceLine(st, ev);
  return true;
}
