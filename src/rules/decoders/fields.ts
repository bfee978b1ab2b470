// Small field setters shared by the decoders. Written without regexes and
// without closures: every decoded line goes through them.
import { isIPv6 } from 'node:net';
import type { Outcome, TwEvent } from '../../event.js';

/** Set the ECS categorisation of a decoded event in one call. */
export function categorise(
  ev: TwEvent,
  decoder: string,
  dataset: string,
  action: string,
  category: string,
  type: string,
  outcome: Outcome,
): void {
  const e = ev.event;
  e.dataset = dataset;
  e.action = action;
  e.category = [category];
  e.type = [type];
  e.outcome = outcome;
  const tw = ev.trailwatch;
  if (tw) tw.decoder = decoder;
  else ev.trailwatch = { decoder };
}

/** Mark this event as echoing an attempt counted on another line (see vocabulary.ts). */
export function markEcho(ev: TwEvent): void {
  ev.event.type = ['info'];
}

export function setUser(ev: TwEvent, name: string | undefined): void {
  if (name === undefined || name === '') return;
  if (ev.user) ev.user.name = name;
  else ev.user = { name };
  addRelatedUser(ev, name);
}

export function setTargetUser(ev: TwEvent, name: string | undefined): void {
  if (name === undefined || name === '') return;
  if (!ev.user) ev.user = {};
  ev.user.target = { name };
  addRelatedUser(ev, name);
}

export function setAuth(ev: TwEvent, method: string | undefined, invalidUser: boolean): void {
  const auth: { method?: string; invalid_user?: boolean } = { invalid_user: invalidUser };
  if (method !== undefined) auth.method = method;
  if (ev.trailwatch) ev.trailwatch.auth = auth;
  else ev.trailwatch = { auth };
}

function pushUnique(arr: string[], v: string): void {
  for (let i = 0; i < arr.length; i++) if (arr[i] === v) return;
  arr.push(v);
}

export function addRelatedUser(ev: TwEvent, name: string): void {
  const r = (ev.related ??= {});
  if (r.user) pushUnique(r.user, name);
  else r.user = [name];
}

export function addRelatedIp(ev: TwEvent, ip: string): void {
  const r = (ev.related ??= {});
  if (r.ip) pushUnique(r.ip, ip);
  else r.ip = [ip];
}

export function addRelatedHost(ev: TwEvent, host: string): void {
  const r = (ev.related ??= {});
  if (r.hosts) pushUnique(r.hosts, host);
  else r.hosts = [host];
}

/** host.name belongs in related.hosts of every decoded event. */
export function relateHost(ev: TwEvent): void {
  const h = ev.host?.name;
  if (h) addRelatedHost(ev, h);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Dotted-quad IPv4 check without a regex. */
export function isIPv4(s: string): boolean {
  let parts = 0;
  let digits = 0;
  let value = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0) return false;
      parts++;
      digits = 0;
      value = 0;
    } else if (isDigit(c)) {
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return false;
    } else return false;
  }
  return digits > 0 && parts === 3;
}

/**
 * An address as sshd/PAM log it: IPv4, IPv6 (maybe "::ffff:" mapped, maybe
 * bracketed) or a host name (UseDNS). Returns the IP, or undefined for a name.
 */
export function normaliseIp(token: string): string | undefined {
  let t = token;
  if (t.length > 1 && t.charCodeAt(0) === 91 && t.charCodeAt(t.length - 1) === 93) t = t.slice(1, -1);
  if (isIPv4(t)) return t;
  if (t.indexOf(':') < 0) return undefined;
  const pct = t.indexOf('%');
  if (!isIPv6(pct < 0 ? t : t.slice(0, pct))) return undefined;
  // "::ffff:1.2.3.4" is the IPv4 peer seen through a dual-stack socket: one attacker, one key.
  if (t.length > 7 && t.slice(0, 7).toLowerCase() === '::ffff:') {
    const v4 = t.slice(7);
    if (isIPv4(v4)) return v4;
  }
  return t.toLowerCase();
}

/** source.ip, or source.domain when the peer was logged by name. */
export function setSource(ev: TwEvent, host: string | undefined, port?: number): void {
  if (host === undefined || host === '' || host === 'UNKNOWN' || host === 'unknown') return;
  const ip = normaliseIp(host);
  const src = (ev.source ??= {});
  if (ip !== undefined) {
    src.ip = ip;
    addRelatedIp(ev, ip);
  } else {
    src.domain = host;
    addRelatedHost(ev, host);
  }
  if (port !== undefined) src.port = port;
}

/** Parse a run of decimal digits at s[from..to); NaN when empty or not all digits. */
export function parseUint(s: string, from = 0, to = s.length): number {
  if (to <= from || to - from > 15) return NaN;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!isDigit(c)) return NaN;
    n = n * 10 + (c - 48);
  }
  return n;
}

/** Index just past the digits starting at `from` (=== from when none). */
export function skipDigits(s: string, from: number): number {
  let i = from;
  while (i < s.length && isDigit(s.charCodeAt(i))) i++;
  return i;
}

export interface HostPort {
  host: string;
  port?: number;
  /** Index in the input just after "HOST[ port N]". */
  end: number;
}

/**
 * Read "HOST[ port N]" at `from`. HOST ends at a space (or a ':' glued to the
 * end, as old "Received disconnect from IP: 11:" wrote it).
 */
export function readHostPort(s: string, from: number): HostPort {
  let sp = s.indexOf(' ', from);
  if (sp < 0) sp = s.length;
  let host = s.slice(from, sp);
  if (host.endsWith(':') && host.length > 1) host = host.slice(0, -1);
  if (s.startsWith(' port ', sp)) {
    const d = skipDigits(s, sp + 6);
    if (d > sp + 6) return { host, port: parseUint(s, sp + 6, d), end: d };
  }
  return { host, end: sp };
}

/** True when `s` at `i` ends a "from HOST port N" tail as sshd writes it. */
function isTailEnd(s: string, i: number): boolean {
  if (i >= s.length) return true;
  const c = s.charCodeAt(i);
  return c === 58 /* : */ || s.startsWith(' ssh', i) || s.startsWith(' [preauth]', i) || s.startsWith(' via ', i) || s.startsWith(' on ', i);
}

export interface UserFrom {
  user: string;
  host: string;
  port?: number;
  /** The text after the address (e.g. " ssh2: RSA SHA256:…"). */
  rest: string;
}

/**
 * Split "USER from HOST[ port N][ ssh2][: extra]" taking the right-most
 * " from " that is followed by a well-formed tail, so a user name that itself
 * contains " from 6.6.6.6 " (log injection) cannot move the source address.
 */
export function splitUserFrom(s: string): UserFrom | undefined {
  let idx = s.lastIndexOf(' from ');
  while (idx >= 0) {
    const hp = readHostPort(s, idx + 6);
    if (hp.host !== '' && isTailEnd(s, hp.end)) {
      return { user: s.slice(0, idx), host: hp.host, port: hp.port, rest: s.slice(hp.end) };
    }
    if (idx === 0) break;
    idx = s.lastIndexOf(' from ', idx - 1);
  }
  // "Failed password for invalid user  from …": the empty name leaves " from " at 0 after the prefix.
  if (s.startsWith('from ')) {
    const hp = readHostPort(s, 5);
    if (isTailEnd(s, hp.end)) return { user: '', host: hp.host, port: hp.port, rest: s.slice(hp.end) };
  }
  return undefined;
}

export interface UserHostPort {
  user: string;
  host: string;
  port?: number;
  rest: string;
}

/**
 * Split "[USER ]HOST port N[: reason][ [preauth]]" (Connection closed by …,
 * Disconnecting …, Disconnected from …): the first " port N" followed by the
 * end, a space or ':' anchors it, HOST is the word before it, USER the rest.
 */
export function splitUserHostPort(s: string): UserHostPort | undefined {
  let p = s.indexOf(' port ');
  while (p >= 0) {
    const d = skipDigits(s, p + 6);
    if (d > p + 6 && (d === s.length || s.charCodeAt(d) === 32 || s.charCodeAt(d) === 58)) {
      const sp = s.lastIndexOf(' ', p - 1);
      return {
        user: sp < 0 ? '' : s.slice(0, sp),
        host: s.slice(sp + 1, p),
        port: parseUint(s, p + 6, d),
        rest: s.slice(d),
      };
    }
    p = s.indexOf(' port ', p + 1);
  }
  return undefined;
}

/** Strip a trailing " [preauth]" (and whitespace) sshd appends to pre-auth messages. */
export function stripPreauth(s: string): string {
  let t = s;
  if (t.endsWith(' [preauth]')) t = t.slice(0, -10);
  else if (t.endsWith('[preauth]')) t = t.slice(0, -9);
  return t.trimEnd();
}
