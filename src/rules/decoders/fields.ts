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

/** Tag of an event whose text holds more than one well-formed address clause (see splitUserFrom). */
export const INJECTION_TAG = 'log_injection_suspected';

/** Mark `ev` as carrying a client-written address clause besides the daemon's own. */
export function tagInjection(ev: TwEvent): void {
  const t = ev.tags;
  if (t === undefined) ev.tags = [INJECTION_TAG];
  else if (t.indexOf(INJECTION_TAG) < 0) t.push(INJECTION_TAG);
}

/** An IP address (not a name) as a daemon would print it. */
function isAddr(h: string): boolean {
  return h !== '' && normaliseIp(h) !== undefined;
}

/**
 * Index just past the anchor that ends sshd's own "from HOST[ port N][ sshN]"
 * clause, or -1: the clause must be followed by the end of the text, by ':'
 * (auth_log's ": " + info, or old "from IP: 11:") or by a final " [preauth]".
 * A clause inside the user name is always followed by more of the name or by
 * " from <sshd's address>": OpenSSH cuts the user name at the first ':'
 * (auth2.c, the BSD auth style), so no user name holds ':' (nor an IPv6
 * address) and none can fake this anchor.
 */
function anchorEnd(s: string, i: number): number {
  let e = i;
  if (s.startsWith(' ssh', e) && e + 5 <= s.length) {
    const c = s.charCodeAt(e + 4);
    if (c === 49 || c === 50) e += 5; // ssh1 / ssh2
  }
  if (e === s.length || s.charCodeAt(e) === 58 /* : */) return e;
  if (e + 10 === s.length && s.startsWith(' [preauth]', e)) return e;
  return -1;
}

export interface UserFrom {
  user: string;
  host: string;
  port?: number;
  /** The text after the address (e.g. " ssh2: RSA SHA256:…"). */
  rest: string;
  /** Another well-formed "from IP" clause was in the client-written parts (user name, key info). */
  injected: boolean;
}

/**
 * Split "USER from HOST[ port N][ ssh2][: info]" as sshd's auth_log, "Invalid
 * user", "maximum authentication attempts", "not allowed because" and PAM
 * error lines write it. USER (client-chosen, any bytes but ':' and control
 * characters, which sshd escapes) comes first and `info` (key type and
 * fingerprint, certificate key id, hostbased client user/host: partly
 * client-chosen) last, so neither end can be trusted: sshd's clause is the
 * first "from HOST[ port N][ sshN]" followed by the anchor of anchorEnd().
 */
export function splitUserFrom(s: string): UserFrom | undefined {
  let found: UserFrom | undefined;
  let clauses = 0;
  // "Failed password for invalid user  from …": an empty name leaves "from " at 0.
  let idx = s.startsWith('from ') ? -1 : s.indexOf(' from ');
  if (idx === -1 && !s.startsWith('from ')) return undefined;
  while (idx >= -1) {
    const at = idx + 6;
    const hp = readHostPort(s, at);
    if (hp.host !== '') {
      if (isAddr(hp.host) || (hp.port !== undefined && isHostClause(s, hp))) clauses++;
      if (found === undefined) {
        const e = anchorEnd(s, hp.end);
        if (e >= 0) found = { user: idx < 0 ? '' : s.slice(0, idx), host: hp.host, port: hp.port, rest: s.slice(hp.end), injected: false };
      }
    }
    idx = s.indexOf(' from ', at - 1);
    if (idx < 0) break;
  }
  if (found !== undefined && clauses > 1) found.injected = true;
  return found;
}

/** Host names as sshd logs them with UseDNS (letters, digits, '.', '-', '_'). */
const HOST_NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?$/;

/**
 * "from NAME port N" as sshd writes it: a host name, and a port that ends
 * there (end, ' ', or ': '). Not "from : port 2001:db8::1" (an IPv6
 * address in client text read as port 2001).
 */
function isHostClause(s: string, hp: HostPort): boolean {
  if (!HOST_NAME.test(hp.host)) return false;
  const e = hp.end;
  return e === s.length || s[e] === ' ' || (s[e] === ':' && (e + 1 === s.length || s[e + 1] === ' '));
}

export interface UserHostPort {
  user: string;
  host: string;
  port?: number;
  rest: string;
  injected: boolean;
}

/**
 * Split "[USER ]HOST port N[: reason]" (Connection closed by …, Disconnecting …,
 * Disconnected from …, after " [preauth]" was stripped): sshd writes its
 * connection id as "<preamble> IP port N" (packet.c sshpkt_fmt_connection_id)
 * with the preamble "invalid user X" / "authenticating user X" / "user X"
 * holding the client's name (no ':'); the reason after ": " may quote client
 * text. sshd's " IP port N" is the first one whose IP is an address and
 * that is followed by the end or ": ".
 */
export function splitUserHostPort(s: string): UserHostPort | undefined {
  let found: UserHostPort | undefined;
  let clauses = 0;
  let p = s.indexOf(' port ');
  while (p >= 0) {
    const d = skipDigits(s, p + 6);
    if (d > p + 6) {
      const sp = s.lastIndexOf(' ', p - 1);
      const host = s.slice(sp + 1, p);
      if (isAddr(host)) clauses++;
      // ": " starts sshd's reason; a bare ':' would be the inside of an IPv6 address after a forged " port".
      if (found === undefined && isAddr(host) && (d === s.length || (s.charCodeAt(d) === 58 && s.charCodeAt(d + 1) === 32))) {
        found = { user: sp < 0 ? '' : s.slice(0, sp), host, port: parseUint(s, p + 6, d), rest: s.slice(d), injected: false };
      }
    }
    p = s.indexOf(' port ', p + 1);
  }
  if (found !== undefined && clauses > 1) found.injected = true;
  return found;
}

/** Whether client-written text (a disconnect message, a password) holds a "from IP"/"IP port N"/"rhost=IP" clause. */
export function hasAddrClause(s: string): boolean {
  let i = s.indexOf(' port ');
  while (i >= 0) {
    const sp = s.lastIndexOf(' ', i - 1);
    if (isAddr(s.slice(sp + 1, i))) return true;
    i = s.indexOf(' port ', i + 1);
  }
  i = s.indexOf('from ');
  while (i >= 0) {
    if (isAddr(readHostPort(s, i + 5).host)) return true;
    i = s.indexOf('from ', i + 1);
  }
  i = s.indexOf('rhost=');
  while (i >= 0) {
    if (isAddr(readHostPort(s, i + 6).host)) return true;
    i = s.indexOf('rhost=', i + 1);
  }
  return false;
}

/** Strip a trailing " [preauth]" (and whitespace) sshd appends to pre-auth messages. */
export function stripPreauth(s: string): string {
  let t = s;
  if (t.endsWith(' [preauth]')) t = t.slice(0, -10);
  else if (t.endsWith('[preauth]')) t = t.slice(0, -9);
  return t.trimEnd();
}
