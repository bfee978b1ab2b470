// RFC 3164 / RFC 5424 lines to ECS events. Hand-written scanners (charCodeAt,
// indexOf), no regexes, no Date parsing per line: this is the hot path of
// ingest. Every input gives an event; what cannot be read is tagged "unparsed".
import { fastUuid } from '../../ids.js';
import type { SyslogFields, TwEvent } from '../../event.js';
import { FACILITY_NAMES, SEVERITY_NAMES } from './names.js';
import { TimestampReader, type YearFrom, type Zone } from './timestamp.js';

/** Where and when a batch of lines came in; shared by every line of a chunk or packet burst. */
export interface Receipt {
  /** Receipt time, ms since the epoch (resolves year-less timestamps). */
  nowMs: number;
  /** Receipt time as ISO 8601 (event.created, and @timestamp when the line has none). */
  created: string;
  /** "udp", "tcp", "tls". */
  input: string;
  /** "ip:port" of the sender. */
  peer: string;
  /** The sender's address: host.name when the line names no host. */
  peerHost: string;
}

export interface ParserOptions {
  defaultYearFrom?: YearFrom;
  timezone?: Zone;
  /**
   * Events for replay (replay-parse.ts), which sets its own event.id and
   * keeps no receipt: no generated id, no event.created, no
   * trailwatch.input.peer (the same event the ingest builds, minus those).
   */
  replay?: boolean;
}

const SP = 32;
const LT = 60;
const GT = 62;
const LBRACKET = 91;
const RBRACKET = 93;
const QUOTE = 34;
const BACKSLASH = 92;
const EQ = 61;
const COLON = 58;
const DASH = 45;
const BOM = 0xfeff;
const MAX_TAG = 128;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

export class SyslogParser {
  /** Lines per outcome since the last `takeCounts()` (metrics are updated per batch). */
  rfc3164 = 0;
  rfc5424 = 0;
  unparsed = 0;
  private readonly ts: TimestampReader;
  // Scratch results of the field scanners (avoids allocating small result objects).
  private pri = -1;
  private pos = 0;

  private readonly replay: boolean;

  constructor(opts: ParserOptions = {}) {
    this.replay = opts.replay === true;
    this.ts = new TimestampReader(opts.defaultYearFrom ?? 'nearest', opts.timezone ?? 'local');
  }

  parse(line: string, r: Receipt): TwEvent {
    this.readPri(line);
    let ev: TwEvent | null = null;
    if (this.pri >= 0 && this.isVersion(line, this.pos)) ev = this.parse5424(line, r);
    else ev = this.parse3164(line, r);
    if (ev) return ev;
    this.unparsed++;
    return unparsedEvent(line, r, this.pri);
  }

  /** `<PRI>` at the start: sets pri (or -1) and pos (after it, or 0). */
  private readPri(s: string): void {
    this.pri = -1;
    this.pos = 0;
    if (s.charCodeAt(0) !== LT) return;
    let v = 0;
    let i = 1;
    for (; i < 5 && i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === GT) break;
      if (!isDigit(c)) return;
      v = v * 10 + c - 48;
    }
    if (s.charCodeAt(i) !== GT || i === 1 || v > 191) return;
    this.pri = v;
    this.pos = i + 1;
  }

  /** RFC 5424 VERSION: 1-2 digits (no leading zero) and a space. */
  private isVersion(s: string, i: number): boolean {
    const c = s.charCodeAt(i);
    if (c < 49 || c > 57) return false;
    const n = s.charCodeAt(i + 1);
    return n === SP || (isDigit(n) && s.charCodeAt(i + 2) === SP);
  }

  private parse5424(s: string, r: Receipt): TwEvent | null {
    let p = this.pos;
    const version = s.charCodeAt(p + 1) === SP ? s.charCodeAt(p) - 48 : (s.charCodeAt(p) - 48) * 10 + s.charCodeAt(p + 1) - 48;
    p = s.indexOf(' ', p) + 1;
    let timestamp: string;
    if (s.charCodeAt(p) === DASH && s.charCodeAt(p + 1) === SP) {
      timestamp = r.created;
      p += 2;
    } else {
      if (!this.ts.read3339(s, p) || s.charCodeAt(this.ts.end) !== SP) return null;
      timestamp = this.ts.iso;
      p = this.ts.end + 1;
    }
    // HOSTNAME APP-NAME PROCID MSGID, each a token or "-".
    const hEnd = s.indexOf(' ', p);
    if (hEnd <= p) return null;
    const hostname = nilOr(s, p, hEnd);
    p = hEnd + 1;
    const aEnd = s.indexOf(' ', p);
    if (aEnd <= p) return null;
    const appname = nilOr(s, p, aEnd);
    p = aEnd + 1;
    const pEnd = s.indexOf(' ', p);
    if (pEnd <= p) return null;
    const procid = nilOr(s, p, pEnd);
    p = pEnd + 1;
    const mEnd = s.indexOf(' ', p);
    let msgid: string | undefined;
    if (mEnd < 0) {
      // The line ends after MSGID: a missing STRUCTURED-DATA is read as NILVALUE.
      if (p >= s.length) return null;
      msgid = nilOr(s, p, s.length);
      p = s.length;
    } else {
      if (mEnd === p) return null;
      msgid = nilOr(s, p, mEnd);
      p = mEnd + 1;
    }
    let sd: Record<string, Record<string, string>> | undefined;
    if (p < s.length) {
      if (s.charCodeAt(p) === DASH) p++;
      else if (s.charCodeAt(p) === LBRACKET) {
        sd = {};
        p = readStructuredData(s, p, sd);
        if (p < 0) return null;
      } else return null;
      if (p < s.length && s.charCodeAt(p) !== SP) return null;
    }
    let message: string | undefined;
    if (p + 1 < s.length) {
      let m = p + 1;
      if (s.charCodeAt(m) === BOM) m++;
      message = s.slice(m);
    }
    const syslog: SyslogFields = priFields(this.pri);
    syslog.version = version;
    if (hostname !== undefined) syslog.hostname = hostname;
    if (appname !== undefined) syslog.appname = appname;
    if (procid !== undefined) syslog.procid = procid;
    if (msgid !== undefined) syslog.msgid = msgid;
    if (sd) syslog.structured_data = sd;
    this.rfc5424++;
    return makeEvent(s, r, timestamp, message ?? '', hostname, appname, procid, syslog, this.replay);
  }

  private parse3164(s: string, r: Receipt): TwEvent | null {
    let p = this.pos;
    let timestamp = r.created;
    let stamped = false;
    if (this.ts.read3164(s, p, r.nowMs) || this.ts.read3339(s, p)) {
      const e = this.ts.end;
      const c = s.charCodeAt(e);
      if (e >= s.length || c === SP || c === COLON) {
        stamped = true;
        timestamp = this.ts.iso;
        p = e;
        if (c === COLON) p++; // Cisco-style "Mmm dd hh:mm:ss: message"
      }
    }
    while (s.charCodeAt(p) === SP) p++;
    let hostname: string | undefined;
    if (!stamped && this.pri < 0) {
      // Neither PRI nor timestamp: syslog only when the line starts with a
      // TAG ("sshd[42]: …", "su: …"), maybe after one HOSTNAME, as journalctl
      // (-o cat/short without a time), relays that strip headers and other
      // journal-fed tools print lines. RFC 3164 4.3.3 has a relay stamp such
      // a line with its receipt time; anything else stays unparsed.
      const tagAt = headerlessTag(s, p);
      if (tagAt < 0) return null;
      if (tagAt > p) {
        hostname = s.slice(p, tagAt - 1);
        p = tagAt;
      }
    } else if (stamped) {
      // HOSTNAME, unless the first word is already the TAG ("su:", "sshd[42]:").
      // (An IPv6 address as HOSTNAME has colons, but neither "[" nor a final ":".)
      let e = p;
      let tagLike = false;
      for (; e < s.length; e++) {
        const c = s.charCodeAt(e);
        if (c === SP) break;
        if (c === LBRACKET) tagLike = true;
      }
      if (e > p && s.charCodeAt(e - 1) === COLON) tagLike = true;
      if (!tagLike && e > p && e < s.length) {
        hostname = s.slice(p, e);
        p = e + 1;
        while (s.charCodeAt(p) === SP) p++;
      }
    }
    // TAG: "app:", "app[pid]:" (and "app[pid]" followed by a space), at most MAX_TAG chars.
    let appname: string | undefined;
    let procid: string | undefined;
    let msgStart = p;
    const lim = Math.min(s.length, p + MAX_TAG);
    for (let e = p; e < lim; e++) {
      const c = s.charCodeAt(e);
      if (c === SP) break;
      if (c === COLON) {
        if (e > p) {
          appname = s.slice(p, e);
          msgStart = e + 1;
        }
        break;
      }
      if (c === LBRACKET) {
        const close = s.indexOf(']', e + 1);
        if (close < 0 || close === e + 1 || e === p || close - e > 32) break;
        const after = s.charCodeAt(close + 1);
        if (after !== COLON && after !== SP && close + 1 !== s.length) break;
        appname = s.slice(p, e);
        procid = s.slice(e + 1, close);
        msgStart = after === COLON ? close + 2 : close + 1;
        break;
      }
    }
    if (s.charCodeAt(msgStart) === SP) msgStart++;
    const syslog: SyslogFields = this.pri >= 0 ? priFields(this.pri) : {};
    if (hostname !== undefined) syslog.hostname = hostname;
    if (appname !== undefined) syslog.appname = appname;
    if (procid !== undefined) syslog.procid = procid;
    this.rfc3164++;
    return makeEvent(s, r, timestamp, s.slice(msgStart), hostname, appname, procid, syslog, this.replay);
  }
}

/** A TAG (app: / app[pid]: / app[pid] ) ends at `e` in s[from..]; -1 when s[from] does not start one. */
function tagEnd(s: string, from: number): number {
  const lim = Math.min(s.length, from + MAX_TAG);
  for (let e = from; e < lim; e++) {
    const c = s.charCodeAt(e);
    if (c === COLON) return e > from && (e + 1 === s.length || s.charCodeAt(e + 1) === SP) ? e : -1;
    if (c === LBRACKET) {
      if (e === from) return -1;
      const close = s.indexOf(']', e + 1);
      if (close < 0 || close === e + 1 || close - e > 32) return -1;
      for (let d = e + 1; d < close; d++) if (!isDigit(s.charCodeAt(d))) return -1;
      return s.charCodeAt(close + 1) === COLON ? close + 1 : -1;
    }
    if (c === SP || c === EQ || c === QUOTE || c < 33 || c === 127) return -1;
  }
  return -1;
}

/**
 * Where the TAG of a header-less line starts (`from`, or after one HOSTNAME
 * word), or -1. Strict on purpose: "app:" then a space, or "app[pid]:" with a
 * numeric pid; after a HOSTNAME only the second (journalctl always prints the
 * pid), so two words of prose before a colon stay unparsed.
 */
function headerlessTag(s: string, from: number): number {
  if (tagEnd(s, from) > 0) return from;
  const sp = s.indexOf(' ', from);
  if (sp <= from || sp - from > 255) return -1;
  for (let i = from; i < sp; i++) {
    const c = s.charCodeAt(i);
    // A HOSTNAME is a name or an address: letters, digits, '.', '-', '_', ':' (IPv6).
    if (!(isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 46 || c === DASH || c === 95 || c === COLON)) return -1;
  }
  const e = tagEnd(s, sp + 1);
  // After a HOSTNAME, only "app[pid]:" counts: "word word: …" is too often prose.
  return e > 0 && s.charCodeAt(e - 1) === RBRACKET ? sp + 1 : -1;
}

function nilOr(s: string, start: number, end: number): string | undefined {
  return end - start === 1 && s.charCodeAt(start) === DASH ? undefined : s.slice(start, end);
}

function priFields(pri: number): SyslogFields {
  const f = pri >> 3;
  const sev = pri & 7;
  return {
    facility: { code: f, name: FACILITY_NAMES[f] },
    severity: { code: sev, name: SEVERITY_NAMES[sev] },
    priority: pri,
  };
}

/** Parses one or more SD-ELEMENTs from s[p] === "[" into sd; returns the index after them, or -1. */
function readStructuredData(s: string, p: number, sd: Record<string, Record<string, string>>): number {
  while (s.charCodeAt(p) === LBRACKET) {
    let e = p + 1;
    for (; e < s.length; e++) {
      const c = s.charCodeAt(e);
      if (c === SP || c === RBRACKET || c === EQ || c === QUOTE) break;
    }
    if (e === p + 1 || e >= s.length) return -1;
    const id = s.slice(p + 1, e);
    const params = own(sd, id) ? sd[id] : (define(sd, id, {}) as Record<string, string>);
    p = e;
    while (s.charCodeAt(p) === SP) {
      const nameStart = p + 1;
      let q = nameStart;
      for (; q < s.length; q++) {
        const c = s.charCodeAt(q);
        if (c === EQ || c === SP || c === RBRACKET || c === QUOTE) break;
      }
      if (q === nameStart || s.charCodeAt(q) !== EQ || s.charCodeAt(q + 1) !== QUOTE) return -1;
      const name = s.slice(nameStart, q);
      q += 2;
      // PARAM-VALUE: \" \\ \] are escapes; any other backslash is kept as is (RFC 5424 6.3.3).
      const vStart = q;
      let escaped = false;
      for (; q < s.length; q++) {
        const c = s.charCodeAt(q);
        if (c === QUOTE) break;
        if (c === BACKSLASH) {
          escaped = true;
          q++;
        }
      }
      if (q >= s.length) return -1;
      define(params, name, escaped ? unescapeParam(s, vStart, q) : s.slice(vStart, q));
      p = q + 1;
    }
    if (s.charCodeAt(p) !== RBRACKET) return -1;
    p++;
  }
  return p;
}

function unescapeParam(s: string, start: number, end: number): string {
  let out = '';
  let from = start;
  for (let i = start; i < end; i++) {
    if (s.charCodeAt(i) !== BACKSLASH) continue;
    const n = s.charCodeAt(i + 1);
    if (n === QUOTE || n === BACKSLASH || n === RBRACKET) {
      out += s.slice(from, i);
      from = i + 1;
    }
    i++;
  }
  return out + s.slice(from, end);
}

function own(o: object, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

/** Assign without tripping over "__proto__" and friends from hostile input. */
function define<T>(o: Record<string, T>, k: string, v: T): T {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
  return v;
}

function makeEvent(
  line: string,
  r: Receipt,
  timestamp: string,
  message: string,
  hostname: string | undefined,
  appname: string | undefined,
  procid: string | undefined,
  syslog: SyslogFields,
  replay: boolean,
): TwEvent {
  const ev: TwEvent = replay
    ? {
        '@timestamp': timestamp,
        event: { id: '', kind: 'event', dataset: 'syslog', original: line },
        message,
        host: { name: hostname ?? r.peerHost },
        log: { syslog, source: { address: r.peer } },
        trailwatch: { input: { type: r.input } },
      }
    : {
        '@timestamp': timestamp,
        event: { id: fastUuid(), kind: 'event', dataset: 'syslog', original: line, created: r.created },
        message,
        host: { name: hostname ?? r.peerHost },
        log: { syslog, source: { address: r.peer } },
        trailwatch: { input: { type: r.input, peer: r.peer } },
      };
  if (appname !== undefined) {
    const pid = procid !== undefined ? toPid(procid) : -1;
    ev.process = pid >= 0 ? { name: appname, pid } : { name: appname };
  }
  return ev;
}

/** Decimal process id, or -1 (RFC 5424 PROCID may be any token). */
function toPid(s: string): number {
  if (s.length === 0 || s.length > 10) return -1;
  let v = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!isDigit(c)) return -1;
    v = v * 10 + c - 48;
  }
  return v <= 0xffffffff ? v : -1;
}

export function unparsedEvent(line: string, r: Receipt, pri = -1): TwEvent {
  const ev: TwEvent = {
    '@timestamp': r.created,
    event: { id: fastUuid(), kind: 'event', dataset: 'syslog', original: line, created: r.created },
    message: line,
    tags: ['unparsed'],
    host: { name: r.peerHost },
    log: { source: { address: r.peer } },
    trailwatch: { input: { type: r.input, peer: r.peer } },
  };
  if (pri >= 0) ev.log!.syslog = priFields(pri);
  return ev;
}
