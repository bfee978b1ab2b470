// sshd lines about a connection rather than a credential: how a connection
// ended (closed, reset, disconnected, received disconnect), scanners that
// never authenticated, reverse-mapping warnings. The address in each is the
// one sshd wrote, found by the message's fixed structure (fields.ts).
import type { TwEvent } from '../../event.js';
import { ACTIONS, DATASETS } from './vocabulary.js';
import {
  categorise,
  hasAddrClause,
  readHostPort,
  relateHost,
  setAuth,
  setSource,
  setUser,
  splitUserHostPort,
  stripPreauth,
  tagInjection,
} from './fields.js';
import { abandonLine, type DecodeState } from './state.js';

const D = 'sshd';
const DS = DATASETS.sshd;
export const P_RECEIVED = 'Received disconnect from ';
const P_REVERSE_LEN = 'reverse mapping checking getaddrinfo for '.length;
const JSCH = 'com.jcraft.jsch.JSchException: Auth ';

/**
 * "[invalid user X |authenticating user X |user X ]IP port N[: reason][ [preauth]]"
 * after "Connection closed by ", "Connection reset by ", "Disconnecting ", "Disconnected from ".
 */
export function peerClose(ev: TwEvent, s: string, action: string): boolean {
  const body = stripPreauth(s);
  let rest = body;
  let who = 0; // 0: no user, 1: invalid user, 2: authenticating user, 3: (logged-in) user
  if (rest.startsWith('invalid user ')) {
    who = 1;
    rest = rest.slice(13);
  } else if (rest.startsWith('authenticating user ')) {
    who = 2;
    rest = rest.slice(20);
  } else if (rest.startsWith('user ')) {
    who = 3;
    rest = rest.slice(5);
  }
  const uhp = splitUserHostPort(rest);
  if (uhp === undefined) {
    // Old sshd: "Connection closed by IP" with no port.
    if (who !== 0 || body === '' || body.indexOf(' ') >= 0) return false;
    categorise(ev, D, DS, action, 'network', 'end', 'unknown');
    setSource(ev, body);
    relateHost(ev);
    return true;
  }
  if (who === 1 || who === 2) {
    // The attempt (if any) was counted on its own line; this is only how it ended.
    categorise(ev, D, DS, action, 'authentication', 'info', 'failure');
    setAuth(ev, undefined, who === 1);
  } else categorise(ev, D, DS, action, 'network', 'end', 'unknown');
  if (who !== 0) setUser(ev, uhp.user);
  setSource(ev, uhp.host, uhp.port);
  const colon = uhp.rest.indexOf(': ');
  if (colon >= 0) ev.event.reason = uhp.rest.slice(colon + 2);
  if (uhp.injected) tagInjection(ev);
  relateHost(ev);
  return true;
}

/**
 * "Received disconnect from IP port N:CODE: TEXT [preauth]" (packet.c; old sshd
 * "from IP: CODE: TEXT"). The address is at a fixed place; TEXT is the
 * client's. A client that gives up before a credential was logged (code 14
 * SSH2_DISCONNECT_NO_MORE_AUTH_METHODS_AVAILABLE, or JSch's "Auth fail" /
 * "Auth cancel") is one attempt unless the connection counted one already.
 */
export function receivedDisconnect(ev: TwEvent, msg: string, st: DecodeState): boolean {
  const hp = readHostPort(msg, P_RECEIVED.length);
  const tail = msg.slice(hp.end);
  let code = -1;
  let text = '';
  let t = 0;
  if (tail.charCodeAt(0) === 58) t = 1; // ":14: …" right after the port
  if (tail.charCodeAt(t) === 32) t++; // old ": 14: …"
  let d = t;
  while (d < tail.length && tail.charCodeAt(d) >= 48 && tail.charCodeAt(d) <= 57) d++;
  if (d > t && tail.charCodeAt(d) === 58) {
    code = Number(tail.slice(t, d));
    text = stripPreauth(tail.slice(tail.charCodeAt(d + 1) === 32 ? d + 2 : d + 1));
  } else {
    const colon = tail.indexOf(': ');
    if (colon >= 0) text = stripPreauth(tail.slice(colon + 2));
  }
  const gaveUp = code === 14 || text.startsWith(JSCH);
  if (gaveUp) {
    categorise(ev, D, DS, ACTIONS.sshAuthAbandoned, 'authentication', 'start', 'failure');
    setSource(ev, hp.host, hp.port);
    abandonLine(st, ev);
  } else {
    categorise(ev, D, DS, ACTIONS.sshDisconnect, 'network', 'end', 'unknown');
    setSource(ev, hp.host, hp.port);
  }
  if (text !== '') ev.event.reason = text;
  if (hasAddrClause(text)) tagInjection(ev);
  relateHost(ev);
  return true;
}

/** "reverse mapping checking getaddrinfo for H [IP] failed - POSSIBLE BREAK-IN ATTEMPT!" */
export function reverseMapping(ev: TwEvent, msg: string): boolean {
  const at = P_REVERSE_LEN;
  const open = msg.indexOf(' [', at);
  const close = open < 0 ? -1 : msg.indexOf(']', open);
  if (close < 0) return false;
  categorise(ev, D, DS, ACTIONS.sshReverseMapping, 'network', 'info', 'unknown');
  setSource(ev, msg.slice(open + 2, close));
  (ev.source ??= {}).domain = msg.slice(at, open);
  relateHost(ev);
  return true;
}

/** "Address IP maps to H, but this does not map back to the address[ - POSSIBLE BREAK-IN ATTEMPT!]" */
export function addressMaps(ev: TwEvent, msg: string): boolean {
  const maps = msg.indexOf(' maps to ', 8);
  const comma = maps < 0 ? -1 : msg.indexOf(', ', maps);
  if (comma < 0 || !msg.includes('does not map back')) return false;
  categorise(ev, D, DS, ACTIONS.sshReverseMapping, 'network', 'info', 'unknown');
  setSource(ev, msg.slice(8, maps));
  (ev.source ??= {}).domain = msg.slice(maps + 9, comma);
  relateHost(ev);
  return true;
}

/** Scanners and broken clients: a connection that never reached authentication. `at` indexes the address. */
export function connectionError(ev: TwEvent, msg: string, at: number): boolean {
  if (at < 0) return false;
  const hp = readHostPort(msg, at);
  categorise(ev, D, DS, ACTIONS.sshConnectionError, 'network', 'info', 'failure');
  setSource(ev, hp.host, hp.port);
  ev.event.reason = stripPreauth(msg);
  relateHost(ev);
  return true;
}
