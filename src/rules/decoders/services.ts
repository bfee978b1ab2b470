// Other services' logins on the same hosts, each read by the fixed structure
// of its own format strings (the address sits where the daemon put it, not
// wherever an address-like word appears):
//   tcp_wrappers (libwrap refuse(), any daemon): "refused connect from %s" with
//     eval_client(): HOST, IP, user@HOST; Debian's libwrap "HOST (IP)"
//   MIT krb5 klogind/kshd: "Authentication failed from %s (%s): %s" (host name, address, error)
//   old GDM: "Couldn't authenticate user" (after its "gdm" PAM line)
//   vsftpd: "[pid N] [USER] OK LOGIN: Client \"IP\"[, anon password \"PW\"]", "… FAIL LOGIN: Client \"IP\""
//   wu-ftpd: "ANONYMOUS FTP LOGIN FROM %s, %s" / "FAILED FTP LOGIN FROM %s, %s" / "FTP LOGIN FROM %s, %s"
//     where the first %s is "HOST [IP]" and the second the password or user name.
import type { TwEvent } from '../../event.js';
import { ACTIONS, DATASETS } from './vocabulary.js';
import { categorise, hasAddrClause, normaliseIp, relateHost, setAuth, setSource, setUser, tagInjection } from './fields.js';
import { decodePam, decodePamMore } from './pam.js';
import { attemptLine, countLine, type DecodeState } from './state.js';

const P_REFUSED = 'refused connect from ';

/** "refused connect from [user@]HOST[ (IP)][ with IP source routing options]" (any libwrap daemon). */
export function decodeTcpwrap(ev: TwEvent, msg: string): boolean {
  let s = msg.slice(P_REFUSED.length).trimEnd();
  if (s.endsWith(' with IP source routing options')) s = s.slice(0, -31);
  // The identd user name (client-controlled) comes first: the host is after its last '@'.
  const at = s.lastIndexOf('@');
  if (at >= 0) s = s.slice(at + 1);
  let host = s;
  let name: string | undefined;
  if (s.endsWith(')')) {
    const open = s.lastIndexOf(' (');
    if (open < 0) return false;
    host = s.slice(open + 2, -1);
    name = s.slice(0, open);
  }
  if (host === '' || host.indexOf(' ') >= 0) return false;
  categorise(ev, 'tcpwrap', DATASETS.tcpwrap, ACTIONS.tcpwrapRefused, 'network', 'denied', 'failure');
  setSource(ev, host);
  if (name !== undefined && name !== host && name !== 'unknown' && ev.source?.ip !== undefined) ev.source.domain = name;
  relateHost(ev);
  return true;
}

/** klogind / kshd (MIT krb5 appl): "Authentication failed from HOST (IP): error". */
export function decodeKlogind(ev: TwEvent, msg: string, st: DecodeState): boolean {
  if (msg.startsWith(P_REFUSED)) return decodeTcpwrap(ev, msg);
  if (!msg.startsWith('Authentication failed from ')) return decodeOther(ev, msg, st);
  const open = msg.indexOf(' (', 27);
  const close = open < 0 ? -1 : msg.indexOf(')', open);
  if (close < 0) return false;
  categorise(ev, 'klogind', DATASETS.kerberos, ACTIONS.kloginFailure, 'authentication', 'start', 'failure');
  const ip = msg.slice(open + 2, close);
  setSource(ev, normaliseIp(ip) !== undefined ? ip : msg.slice(27, open));
  if (ev.source?.ip !== undefined && open > 27) ev.source.domain = msg.slice(27, open);
  if (msg.startsWith(': ', close + 1)) ev.event.reason = msg.slice(close + 3).trimEnd();
  relateHost(ev);
  countLine(st, ev);
  return true;
}

/** gdm: its PAM lines, and old GDM's own "Couldn't authenticate user" that echoes the PAM failure. */
export function decodeGdm(ev: TwEvent, msg: string, st: DecodeState): boolean {
  if (msg.startsWith("Couldn't authenticate user") || msg.startsWith('Couldn’t authenticate user')) {
    categorise(ev, 'gdm', DATASETS.gdm, ACTIONS.gdmLoginFailure, 'authentication', 'start', 'failure');
    relateHost(ev);
    attemptLine(st, ev);
    return true;
  }
  return decodeOther(ev, msg, st);
}

function ftpLogin(ev: TwEvent, ok: boolean, user: string | undefined, host: string, st: DecodeState): void {
  categorise(ev, 'ftpd', DATASETS.ftp, ACTIONS.ftpLogin, 'authentication', 'start', ok ? 'success' : 'failure');
  setUser(ev, user);
  setSource(ev, host);
  relateHost(ev);
  if (!ok) attemptLine(st, ev);
}

const CLIENT = ' Client "';

/**
 * vsftpd "[pid N] [USER] OK LOGIN: Client \"IP\"[, anon password \"PW\"]" and
 * "… FAIL LOGIN: Client \"IP\"". USER and PW are the client's. An anonymous
 * login's USER is "ftp" or "anonymous" (so the first clause after it is
 * vsftpd's); any other line ends with vsftpd's clause.
 */
export function decodeVsftpd(ev: TwEvent, msg: string, st: DecodeState): boolean {
  let s = msg;
  if (s.startsWith('[pid ')) {
    const e = s.indexOf('] ');
    if (e < 0) return false;
    s = s.slice(e + 2);
  }
  if (s.charCodeAt(0) !== 91 /* [ */) return decodeOther(ev, msg, st);
  let clauses = 0;
  for (let i = s.indexOf(CLIENT); i >= 0; i = s.indexOf(CLIENT, i + 1)) {
    const q = s.indexOf('"', i + 9);
    if (q > 0 && normaliseIp(s.slice(i + 9, q)) !== undefined) clauses++;
  }
  const lower = s.slice(0, 12).toLowerCase();
  const anon = lower.startsWith('[ftp] ') || lower.startsWith('[anonymous] ');
  let c: number;
  if (anon) c = s.indexOf(CLIENT);
  else {
    if (!s.endsWith('"')) return false;
    c = s.lastIndexOf(CLIENT);
  }
  if (c < 0) return false;
  const q = s.indexOf('"', c + 9);
  if (q < 0) return false;
  const verbAt = s.lastIndexOf('] ', c);
  if (verbAt < 0) return false;
  const verb = s.slice(verbAt + 2, c);
  const ok = verb === 'OK LOGIN:';
  if (!ok && verb !== 'FAIL LOGIN:') return false;
  ftpLogin(ev, ok, s.slice(1, verbAt), s.slice(c + 9, q), st);
  setAuth(ev, anon ? 'anonymous' : 'password', false);
  if (clauses > 1) tagInjection(ev);
  return true;
}

/** wu-ftpd "ANONYMOUS FTP LOGIN FROM HOST [IP], PW" / "FAILED FTP LOGIN FROM HOST [IP], USER" / "FTP LOGIN FROM …". */
export function decodeFtpd(ev: TwEvent, msg: string, st: DecodeState): boolean {
  let ok = true;
  let at: number;
  let anon = false;
  if (msg.startsWith('ANONYMOUS FTP LOGIN FROM ')) {
    at = 25;
    anon = true;
  } else if (msg.startsWith('FAILED FTP LOGIN FROM ')) {
    at = 22;
    ok = false;
  } else if (msg.startsWith('FTP LOGIN FROM ')) at = 15;
  else if (msg.charCodeAt(0) === 91) return decodeVsftpd(ev, msg, st);
  else return decodeOther(ev, msg, st);
  // HOST is a resolved name or "unknown": no spaces; "[IP]" follows it.
  const sp = msg.indexOf(' [', at);
  const close = sp < 0 ? -1 : msg.indexOf(']', sp);
  if (close < 0 || msg.lastIndexOf(' ', sp - 1) >= at) return false;
  const ip = msg.slice(sp + 2, close);
  const tail = msg.startsWith(', ', close + 1) ? msg.slice(close + 3) : '';
  ftpLogin(ev, ok, anon ? 'anonymous' : tail || undefined, normaliseIp(ip) !== undefined ? ip : msg.slice(at, sp), st);
  if (ev.source?.ip !== undefined && sp > at && msg.slice(at, sp) !== 'unknown') ev.source.domain = msg.slice(at, sp);
  setAuth(ev, anon ? 'anonymous' : 'password', false);
  if (hasAddrClause(tail) || hasBracketAddr(tail)) tagInjection(ev);
  return true;
}

/** A "[IP]" in client text (a wu-ftpd user name or anonymous password). */
function hasBracketAddr(s: string): boolean {
  for (let o = s.indexOf('['); o >= 0; o = s.indexOf('[', o + 1)) {
    const e = s.indexOf(']', o);
    if (e < 0) return false;
    if (normaliseIp(s.slice(o + 1, e)) !== undefined) return true;
  }
  return false;
}

/** PAM and libwrap lines of these services. */
function decodeOther(ev: TwEvent, msg: string, st: DecodeState): boolean {
  if (msg.startsWith('pam_')) return decodePam(ev, msg, st);
  if (msg.startsWith('PAM ')) return decodePamMore(ev, msg, st);
  if (msg.startsWith(P_REFUSED)) return decodeTcpwrap(ev, msg);
  return false;
}
