// login (util-linux, shadow, busybox) and systemd-logind session lines.
//   util-linux: "FAILED LOGIN 1 FROM tty1 FOR root, Authentication failure", "ROOT LOGIN ON tty1",
//               "LOGIN ON pts/0 BY alice FROM host", "TOO MANY LOGIN TRIES (5) FROM tty1 FOR root, …"
//   shadow:     "FAILED LOGIN (1) on '/dev/tty1' FOR 'root', Authentication failure", "ROOT LOGIN  on '/dev/tty1'"
//   busybox:    "invalid password for 'root' on 'tty1'", "root login on 'tty1'"
import type { TwEvent } from '../../event.js';
import { ACTIONS, DATASETS } from './vocabulary.js';
import { categorise, markEcho, relateHost, setSource, setUser } from './fields.js';
import { decodePam, decodePamMore } from './pam.js';
import { attemptLine, type DecodeState } from './state.js';

const D = 'login';
const DS = DATASETS.login;

function unquote(s: string): string {
  let t = s.trim();
  if (t.length >= 2 && t.charCodeAt(0) === 39 && t.charCodeAt(t.length - 1) === 39) t = t.slice(1, -1);
  return t;
}

function looksLikeTty(s: string): boolean {
  return s.startsWith('tty') || s.startsWith('pts') || s.startsWith('/dev/') || s.startsWith('console') || s.startsWith('hvc') || s.startsWith('vc/');
}

function setTty(ev: TwEvent, tty: string): void {
  (ev.process ??= {}).tty = { name: tty.startsWith('/dev/') ? tty.slice(5) : tty };
}

/** Index of the first " <word> " among the two spellings ("on"/"ON"), or -1. */
function word(s: string, lower: string, upper: string): number {
  const a = s.indexOf(lower);
  const b = s.indexOf(upper);
  if (a < 0) return b;
  if (b < 0) return a;
  return a < b ? a : b;
}

/** The " on X" / " from Y" part of a login line: tty and remote host. */
function where(ev: TwEvent, s: string): void {
  const on = word(s, ' on ', ' ON ');
  const from = word(s, ' from ', ' FROM ');
  if (on >= 0) {
    const end = from > on ? from : s.length;
    setTty(ev, unquote(s.slice(on + 4, end)));
  }
  if (from >= 0) {
    const v = unquote(s.slice(from + 6));
    // util-linux writes "FROM tty1" when there is no remote host.
    if (looksLikeTty(v)) setTty(ev, v);
    else setSource(ev, v);
  }
}

/** "<prefix> … FOR user, reason": user after " FOR ", where-part before it. */
function failed(ev: TwEvent, msg: string, at: number, perAttempt: boolean, st: DecodeState): boolean {
  const forAt = msg.indexOf(' FOR ', at);
  if (forAt < 0) return false;
  const comma = msg.indexOf(', ', forAt);
  categorise(ev, D, DS, ACTIONS.loginFailure, 'authentication', 'start', 'failure');
  setUser(ev, unquote(msg.slice(forAt + 5, comma < 0 ? msg.length : comma)));
  if (comma >= 0) ev.event.reason = msg.slice(comma + 2);
  where(ev, msg.slice(at - 1, forAt));
  relateHost(ev);
  if (perAttempt) attemptLine(st, ev);
  else markEcho(ev);
  return true;
}

function success(ev: TwEvent, action: string, user: string, wherePart: string): boolean {
  categorise(ev, D, DS, action, 'authentication', 'start', 'success');
  setUser(ev, user);
  where(ev, wherePart);
  relateHost(ev);
  return true;
}

export function decodeLogin(ev: TwEvent, msg: string, st: DecodeState): boolean {
  switch (msg.charCodeAt(0)) {
    case 70: // F
      if (msg.startsWith('FAILED LOGIN ')) return failed(ev, msg, 13, true, st);
      return false;
    case 84: // T
      // The summary after the last FAILED LOGIN line: an echo.
      if (msg.startsWith('TOO MANY LOGIN TRIES ')) return failed(ev, msg, 21, false, st);
      return false;
    case 82: // R
      if (msg.startsWith('ROOT LOGIN ')) return success(ev, ACTIONS.rootLogin, 'root', msg.slice(10));
      return false;
    case 76: // L
      if (msg.startsWith('LOGIN ON ')) {
        const by = msg.indexOf(' BY ');
        if (by < 0) return false;
        let end = msg.indexOf(' ', by + 4);
        if (end < 0) end = msg.length;
        return success(ev, ACTIONS.loginSuccess, msg.slice(by + 4, end), msg.slice(5, by) + msg.slice(end));
      }
      return false;
    case 105: // i
      if (msg.startsWith("invalid password for '")) {
        const q = msg.indexOf("'", 22);
        if (q < 0) return false;
        categorise(ev, D, DS, ACTIONS.loginFailure, 'authentication', 'start', 'failure');
        setUser(ev, msg.slice(22, q));
        where(ev, msg.slice(q + 1));
        relateHost(ev);
        attemptLine(st, ev);
        return true;
      }
      return false;
    case 114: // r
      if (msg.startsWith('root login ')) return success(ev, ACTIONS.rootLogin, 'root', msg.slice(10));
      return false;
    case 112: // p
      if (msg.startsWith('pam_')) return decodePam(ev, msg, st);
      return false;
    case 80: // P
      if (msg.startsWith('PAM ')) return decodePamMore(ev, msg, st);
      return false;
    default:
      return false;
  }
}

/** systemd-logind: "New session 12 of user alice." / "Removed session 12." */
export function decodeLogind(ev: TwEvent, msg: string): boolean {
  if (msg.startsWith('New session ')) {
    const of = msg.indexOf(' of user ', 12);
    if (of < 0) return false;
    let user = msg.slice(of + 9);
    if (user.endsWith('.')) user = user.slice(0, -1);
    categorise(ev, 'logind', DATASETS.login, ACTIONS.logindSessionNew, 'session', 'start', 'success');
    setUser(ev, user);
    relateHost(ev);
    return true;
  }
  if (msg.startsWith('Removed session ')) {
    categorise(ev, 'logind', DATASETS.login, ACTIONS.logindSessionRemoved, 'session', 'end', 'success');
    relateHost(ev);
    return true;
  }
  return false;
}
