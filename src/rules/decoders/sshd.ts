// OpenSSH sshd (and 9.8+'s sshd-session / sshd-auth). Dispatch on the first
// characters of the message, then split with indexOf; no regexes.
//
// Counting (vocabulary.ts): each "Failed <method>" (except the "none" probe)
// is one attempt; "Invalid user X", "User X … not allowed because …" and
// "ROOT LOGIN REFUSED" are one attempt too, and the first "Failed … for X" of
// the same sshd process that follows them echoes that attempt (type info).
// PAM lines, preauth closes and "maximum authentication attempts" are echoes.
import type { TwEvent } from '../../event.js';
import { ACTIONS, DATASETS } from './vocabulary.js';
import { categorise, markEcho, normaliseIp, readHostPort, relateHost, setAuth, setSource, setUser, splitUserFrom, stripPreauth, tagInjection } from './fields.js';
import { decodePam, decodePamMore, decodeSshdPamError } from './pam.js';
import { addressMaps, connectionError, peerClose, P_RECEIVED, receivedDisconnect, reverseMapping } from './sshd-conn.js';
import { decodeTcpwrap } from './services.js';
import { announceLine, attemptLine, successLine, type DecodeState } from './state.js';

const D = 'sshd';
const DS = DATASETS.sshd;

// Prefixes, measured once (their lengths index into the message).
const P_MAXTRIES = 'maximum authentication attempts exceeded for ';
const P_TIMEOUT = 'Timeout before authentication for ';
const P_TOO_MANY = 'Disconnecting: Too many authentication failures';
const P_REVERSE = 'reverse mapping checking getaddrinfo for ';
const P_INPUT_UA = 'input_userauth_request: invalid user ';
const P_NO_IDENT = 'Did not receive identification string from ';
const P_NEGOTIATE = 'Unable to negotiate with ';
const P_BANNER = 'banner exchange: Connection from ';

const FAILED = 0;
const ACCEPTED = 1;
/** "Postponed keyboard-interactive for X …" / "Partial publickey for X …": a step, not an outcome. */
const STEP = 2;

function login(ev: TwEvent, msg: string, st: DecodeState, kind: number, from: number): boolean {
  const sp = msg.indexOf(' ', from);
  if (sp < 0 || !msg.startsWith(' for ', sp)) return false;
  const full = msg.slice(from, sp);
  const slash = full.indexOf('/');
  const method = slash < 0 ? full : full.slice(0, slash);
  let rest = msg.slice(sp + 5);
  let invalid = false;
  if (rest.startsWith('invalid user ') || rest.startsWith('illegal user ')) {
    invalid = true;
    rest = rest.slice(13);
  }
  const uf = splitUserFrom(rest);
  if (uf === undefined) return false;
  categorise(ev, D, DS, ACTIONS.sshLogin, 'authentication', 'start', kind === ACCEPTED ? 'success' : kind === FAILED ? 'failure' : 'unknown');
  setUser(ev, uf.user);
  setSource(ev, uf.host, uf.port);
  setAuth(ev, method, invalid);
  if (uf.injected) tagInjection(ev);
  relateHost(ev);
  if (kind === STEP) markEcho(ev);
  else if (kind === ACCEPTED) successLine(st, ev);
  else if (method === 'none') markEcho(ev); // the client's "which methods?" probe, not a credential
  else attemptLine(st, ev);
  return true;
}

/** "Invalid user X from IP port N" / "Illegal user X from IP" (before OpenSSH 3.8). */
function invalidUser(ev: TwEvent, msg: string, st: DecodeState): boolean {
  const uf = splitUserFrom(msg.slice(13));
  if (uf === undefined) return false;
  categorise(ev, D, DS, ACTIONS.sshInvalidUser, 'authentication', 'start', 'failure');
  setUser(ev, uf.user);
  setSource(ev, uf.host, uf.port);
  setAuth(ev, undefined, true);
  if (uf.injected) tagInjection(ev);
  relateHost(ev);
  announceLine(st, ev);
  return true;
}

/**
 * "User X from HOST not allowed because <reason>" (auth.c allowed_user: not
 * listed in AllowUsers, listed in DenyUsers, not in any group, a group is
 * listed in DenyGroups, none of user's groups are listed in AllowGroups) and
 * the forms without "from HOST" ("User X not allowed because account is
 * locked", "… shell S does not exist", "… shell S is not executable", "… S
 * exists" for /etc/nologin). X is a passwd name, HOST sshd's canonical host
 * name or address. An attempt, as "Invalid user" is.
 */
function notAllowed(ev: TwEvent, msg: string, st: DecodeState): boolean {
  const because = msg.indexOf(' not allowed because ');
  if (because < 0) return false;
  const head = msg.slice(5, because);
  const uf = splitUserFrom(head);
  categorise(ev, D, DS, ACTIONS.sshNotAllowed, 'authentication', 'start', 'failure');
  setUser(ev, uf ? uf.user : head);
  if (uf) setSource(ev, uf.host, uf.port);
  if (uf?.injected) tagInjection(ev);
  setAuth(ev, undefined, true);
  const reason = stripPreauth(msg.slice(because + 21));
  ev.event.reason = reason;
  relateHost(ev);
  // /etc/nologin is checked after authentication (session.c): the login already counted as a success.
  if (reason.endsWith(' exists') && !reason.startsWith('shell ')) {
    markEcho(ev);
    return true;
  }
  // sshd treats the user as invalid from here on: "Failed password for invalid user X" follows.
  announceLine(st, ev);
  return true;
}

/** "ROOT LOGIN REFUSED FROM IP[ port N]": sshd refused a root login that PermitRootLogin forbids. */
function rootRefused(ev: TwEvent, msg: string, st: DecodeState): boolean {
  const hp = readHostPort(msg, 24);
  categorise(ev, D, DS, ACTIONS.sshRootRefused, 'authentication', 'start', 'failure');
  setUser(ev, 'root');
  setSource(ev, hp.host, hp.port);
  relateHost(ev);
  announceLine(st, ev);
  return true;
}

/** "maximum authentication attempts exceeded for [invalid user ]X from …": echoes the attempts counted. */
function maxTries(ev: TwEvent, rest: string): boolean {
  let r = rest;
  let invalid = false;
  if (r.startsWith('invalid user ')) {
    invalid = true;
    r = r.slice(13);
  }
  const uf = splitUserFrom(r);
  categorise(ev, D, DS, ACTIONS.sshMaxAuthTries, 'authentication', 'info', 'failure');
  if (uf) {
    setUser(ev, uf.user);
    setSource(ev, uf.host, uf.port);
    if (uf.injected) tagInjection(ev);
  }
  setAuth(ev, undefined, invalid);
  relateHost(ev);
  return true;
}

/**
 * "PAM: <pam_strerror> for [illegal user ]X from HOST[ via LOCAL]" (auth-pam.c
 * sshpam_query: "PAM: %s for %s%.100s from %.100s"; Apple's sshd appends " via
 * %s", the local address the client connected to). HOST is sshpam_rhost, the
 * peer (a name with UseDNS). Linux-PAM's strerror texts ("Authentication
 * failure", "User not known to the underlying authentication module") and
 * OpenPAM's (macOS, FreeBSD: "authentication error", "unknown user").
 */
function pamError(ev: TwEvent, m: string, st: DecodeState): boolean {
  const f = m.indexOf(' for ', 5);
  if (f < 0) return false;
  const what = m.slice(5, f);
  const unknown = what === 'User not known to the underlying authentication module' || what === 'unknown user';
  if (!unknown && what !== 'Authentication failure' && what !== 'authentication error') return false;
  let rest = stripPreauth(m.slice(f + 5));
  const via = rest.lastIndexOf(' via ');
  let local: string | undefined;
  if (via > 0 && rest.indexOf(' ', via + 5) < 0) {
    local = rest.slice(via + 5);
    rest = rest.slice(0, via);
  }
  let invalid = false;
  if (rest.startsWith('illegal user ') || rest.startsWith('invalid user ')) {
    invalid = true;
    rest = rest.slice(13);
  }
  const uf = splitUserFrom(rest);
  decodeSshdPamError(ev, uf ? uf.user : rest, unknown, uf?.host, st);
  if (uf?.injected) tagInjection(ev);
  if (invalid || unknown) setAuth(ev, undefined, true);
  if (local !== undefined && local !== uf?.host) {
    const ip = normaliseIp(local);
    if (ip !== undefined) ev.destination = { ip };
  }
  return true;
}

function errorLine(ev: TwEvent, msg: string, st: DecodeState): boolean {
  const m = msg.slice(7); // "error: " / "fatal: "
  if (m.startsWith(P_MAXTRIES)) return maxTries(ev, stripPreauth(m.slice(P_MAXTRIES.length)));
  if (m.startsWith('PAM: ')) return pamError(ev, m, st);
  if (m.startsWith(P_RECEIVED)) return receivedDisconnect(ev, m, st);
  if (m.startsWith(P_TIMEOUT)) return connectionError(ev, m, P_TIMEOUT.length);
  if (m.startsWith('kex_exchange_identification: ')) return false;
  return decodeSshd(ev, m, st);
}

/** The sshd message (after "sshd[pid]: "). */
export function decodeSshd(ev: TwEvent, msg: string, st: DecodeState): boolean {
  switch (msg.charCodeAt(0)) {
    case 70: // F
      if (msg.startsWith('Failed ')) return login(ev, msg, st, FAILED, 7);
      return false;
    case 65: // A
      if (msg.startsWith('Accepted ')) return login(ev, msg, st, ACCEPTED, 9);
      if (msg.startsWith('Address ')) return addressMaps(ev, msg);
      return false;
    case 73: // I
      if (msg.startsWith('Invalid user ') || msg.startsWith('Illegal user ')) return invalidUser(ev, msg, st);
      return false;
    case 105: // i
      if (msg.startsWith(P_INPUT_UA) || msg.startsWith('input_userauth_request: illegal user ')) {
        // Older sshd repeats the "Invalid user" line from the unprivileged child: an echo.
        categorise(ev, D, DS, ACTIONS.sshInvalidUser, 'authentication', 'info', 'failure');
        setUser(ev, stripPreauth(msg.slice(P_INPUT_UA.length)));
        setAuth(ev, undefined, true);
        relateHost(ev);
        return true;
      }
      return false;
    case 112: // p
      if (msg.startsWith('pam_')) return decodePam(ev, msg, st);
      return false;
    case 80: // P
      if (msg.startsWith('PAM ')) return decodePamMore(ev, msg, st);
      if (msg.startsWith('PAM: ')) return pamError(ev, msg, st); // older sshd logged it without "error: "
      if (msg.startsWith('Postponed ')) return login(ev, msg, st, STEP, 10);
      if (msg.startsWith('Partial ')) return login(ev, msg, st, STEP, 8);
      return false;
    case 101: // e
    case 102: // f
      if (msg.startsWith('error: ') || msg.startsWith('fatal: ')) return errorLine(ev, msg, st);
      return false;
    case 67: // C
      if (msg.startsWith('Connection closed by ')) return peerClose(ev, msg.slice(21), ACTIONS.sshPreauthClose);
      if (msg.startsWith('Connection reset by ')) return peerClose(ev, msg.slice(20), ACTIONS.sshPreauthClose);
      return false;
    case 68: // D
      if (msg.startsWith(P_TOO_MANY)) {
        const m = stripPreauth(msg);
        categorise(ev, D, DS, ACTIONS.sshMaxAuthTries, 'authentication', 'info', 'failure');
        if (m.startsWith(' for ', P_TOO_MANY.length)) setUser(ev, m.slice(P_TOO_MANY.length + 5));
        relateHost(ev);
        return true;
      }
      if (msg.startsWith('Disconnecting ')) {
        if (!peerClose(ev, msg.slice(14), ACTIONS.sshPreauthClose)) return false;
        if (ev.event.reason?.startsWith('Too many authentication failures')) ev.event.action = ACTIONS.sshMaxAuthTries;
        return true;
      }
      if (msg.startsWith('Disconnected from ')) return peerClose(ev, msg.slice(18), ACTIONS.sshDisconnect);
      if (msg.startsWith(P_NO_IDENT)) return connectionError(ev, msg, P_NO_IDENT.length);
      return false;
    case 82: // R
      if (msg.startsWith(P_RECEIVED)) return receivedDisconnect(ev, msg, st);
      if (msg.startsWith('ROOT LOGIN REFUSED ') && (msg.startsWith('FROM ', 19) || msg.startsWith('from ', 19))) return rootRefused(ev, msg, st);
      return false;
    case 85: // U
      if (msg.startsWith('User ')) return notAllowed(ev, msg, st);
      if (msg.startsWith(P_NEGOTIATE)) return connectionError(ev, msg, P_NEGOTIATE.length);
      return false;
    case 114: // r
      if (msg.startsWith(P_REVERSE)) return reverseMapping(ev, msg);
      if (msg.startsWith('refused connect from ')) return decodeTcpwrap(ev, msg);
      return false;
    case 66: // B
      if (msg.startsWith('Bad protocol version identification ')) {
        const from = msg.lastIndexOf(' from ');
        return connectionError(ev, msg, from < 0 ? -1 : from + 6);
      }
      return false;
    case 98: // b
      if (msg.startsWith(P_BANNER)) return connectionError(ev, msg, P_BANNER.length);
      return false;
    default:
      return false;
  }
}
