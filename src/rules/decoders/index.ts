// decode(ev): enrich a syslog-parsed (or gateway) event in place with ECS
// categorisation and the fields rules match on; returns whether a decoder knew
// the line. Unknown lines are left as they are.
//
// Dispatch is by process.name through one Map, then by the first characters of
// the message inside each decoder; no regex runs per line. A small bounded
// state (state.ts) lets one login attempt count once across the two or three
// lines sshd/PAM/su/login/sudo write for it.
import type { TwEvent } from '../../event.js';
import { decodeAudit } from './auditd.js';
import { parseUint, skipDigits } from './fields.js';
import { decodeGateway } from './gateway.js';
import { decodeLogin, decodeLogind } from './login.js';
import { decodePam, decodePamMore, decodePamText } from './pam.js';
import { decodeFtpd, decodeGdm, decodeKlogind, decodeTcpwrap, decodeVsftpd } from './services.js';
import { decodeSshd } from './sshd.js';
import { addAttempts, newState, type DecodeState } from './state.js';
import { decodeSu } from './su.js';
import { decodeSudo } from './sudo.js';
import { DATASETS } from './vocabulary.js';

export { ACTIONS, DATASETS } from './vocabulary.js';

type LineDecoder = (ev: TwEvent, msg: string, st: DecodeState) => boolean;

function decodeKernel(ev: TwEvent, msg: string, st: DecodeState): boolean {
  const a = msg.indexOf('audit');
  return a >= 0 && a < 24 && decodeAudit(ev, msg, st);
}

/** Lines of services without a decoder of their own: PAM modules and audit records. */
function decodeGeneric(ev: TwEvent, msg: string, st: DecodeState): boolean {
  const c = msg.charCodeAt(0);
  if (c === 112 /* p */ && msg.startsWith('pam_')) return decodePam(ev, msg, st);
  if (c === 80 /* P */ && msg.startsWith('PAM ')) return decodePamMore(ev, msg, st);
  if ((c === 116 /* t */ && msg.startsWith('type=')) || (c === 110 /* n */ && msg.startsWith('node='))) return decodeAudit(ev, msg, st);
  if (c === 114 /* r */ && msg.startsWith('refused connect from ')) return decodeTcpwrap(ev, msg);
  return false;
}

const BY_NAME = new Map<string, LineDecoder>([
  ['sshd', decodeSshd],
  ['sshd-session', decodeSshd],
  ['sshd-auth', decodeSshd],
  ['sudo', decodeSudo],
  ['su', decodeSu],
  ['login', decodeLogin],
  ['systemd-logind', decodeLogind],
  ['audisp-syslog', decodeAudit],
  ['audispd', decodeAudit],
  ['auditd', decodeAudit],
  ['audit', decodeAudit],
  ['kernel', decodeKernel],
  ['klogind', decodeKlogind],
  ['kshd', decodeKlogind],
  ['krlogind', decodeKlogind],
  ['krshd', decodeKlogind],
  ['eklogind', decodeKlogind],
  ['gdm', decodeGdm],
  ['vsftpd', decodeVsftpd],
  ['ftpd', decodeFtpd],
  ['in.ftpd', decodeFtpd],
  ['wu-ftpd', decodeFtpd],
  ['wu.ftpd', decodeFtpd],
]);

/** "sshd[123]: rest" / "sudo: rest" at the start of an unsplit message: [name, pid, rest]. */
function splitTag(ev: TwEvent, msg: string): string | undefined {
  const colon = msg.indexOf(': ');
  if (colon <= 0 || colon > 64) return undefined;
  let end = colon;
  let pid: number | undefined;
  if (msg.charCodeAt(colon - 1) === 93 /* ] */) {
    const open = msg.lastIndexOf('[', colon);
    if (open <= 0) return undefined;
    pid = parseUint(msg, open + 1, colon - 1);
    if (Number.isNaN(pid)) return undefined;
    end = open;
  }
  const name = msg.slice(0, end);
  if (name.indexOf(' ') >= 0 || name.indexOf('=') >= 0) return undefined;
  const p = (ev.process ??= {});
  p.name = name;
  if (pid !== undefined) p.pid = pid;
  const rest = msg.slice(colon + 2);
  ev.message = rest;
  return rest;
}

/**
 * Solaris/illumos syslog inserts "[ID <msgid> <facility>.<level>] " after the
 * tag of every message (any program): the text after it, or undefined.
 */
function stripSolarisId(msg: string): string | undefined {
  if (!msg.startsWith('[ID ')) return undefined;
  const d = skipDigits(msg, 4);
  if (d === 4 || msg.charCodeAt(d) !== 32) return undefined;
  const close = msg.indexOf('] ', d);
  if (close < 0) return undefined;
  const dot = msg.indexOf('.', d);
  if (dot < 0 || dot > close || msg.lastIndexOf(' ', close) !== d) return undefined;
  return msg.slice(close + 2);
}

const REPEATED = 'message repeated ';
const LAST_REPEATED = 'last message repeated ';

export interface Decoder {
  /** Enrich `ev` in place; true when a decoder recognised the line. */
  decode(ev: TwEvent): boolean;
  /** Forget the cross-line state (per-process attempt ledgers, audit serials). */
  reset(): void;
}

/** A decoder with its own state: one per independent stream (a replay, a test). */
export function createDecoder(): Decoder {
  const st = newState();

  function byName(ev: TwEvent, name: string | undefined, msg: string): boolean {
    if (name !== undefined) {
      const d = BY_NAME.get(name);
      if (d !== undefined) return d(ev, msg, st);
      // Linux-PAM before 0.99 tagged its lines "sshd(pam_unix)[pid]: authentication failure; …".
      const paren = name.indexOf('(pam_');
      if (paren > 0) return decodePamText(ev, name.slice(0, paren), msg, st);
    }
    return decodeGeneric(ev, msg, st);
  }

  /** "message repeated N times: [ inner]" (rsyslog) / "last message repeated N times" (BSD syslogd). */
  function repeated(ev: TwEvent, name: string | undefined, msg: string, at: number, inner: string | undefined): boolean {
    const d = skipDigits(msg, at);
    const n = parseUint(msg, at, d);
    if (!(n > 0) || !msg.startsWith(' time', d)) return false;
    let text = inner;
    if (text === undefined) {
      const open = msg.indexOf('[', d);
      if (open < 0) return false;
      text = msg.slice(open + 1, msg.endsWith(']') ? msg.length - 1 : msg.length).trim();
    }
    st.repeated = true;
    let ok = false;
    try {
      ok = byName(ev, name, text);
    } finally {
      st.repeated = false;
    }
    if (!ok) return false;
    const e = ev.event;
    // Each repetition is an event of its own: rules weigh this one by event.count.
    const counted = e.type?.[0] === 'start' && e.outcome === 'failure' && e.category?.[0] === 'authentication';
    e.count = n * (e.count ?? 1);
    if (counted) addAttempts(st, ev, e.count - 1);
    return true;
  }

  function decodeLine(ev: TwEvent): boolean {
    let msg = ev.message;
    if (msg === undefined || msg.length === 0) return false;
    let name = ev.process?.name;
    if (msg.charCodeAt(0) === 91 /* [ */) {
      const s = stripSolarisId(msg);
      if (s !== undefined) ev.message = msg = s;
    }
    if (name === undefined) {
      if (msg.startsWith(LAST_REPEATED)) {
        const last = st.last.get(ev.host?.name ?? '');
        if (last === undefined) return false;
        const p = (ev.process ??= {});
        p.name = last.name;
        if (last.pid !== undefined) p.pid = last.pid;
        return repeated(ev, last.name, msg, LAST_REPEATED.length, last.message);
      }
      const rest = splitTag(ev, msg);
      if (rest === undefined) return decodeGeneric(ev, msg, st);
      msg = rest;
      if (msg.charCodeAt(0) === 91 /* [ */) {
        const s = stripSolarisId(msg);
        if (s !== undefined) ev.message = msg = s;
      }
      name = ev.process!.name;
    }
    remember(ev, name!, msg);
    if (msg.charCodeAt(0) === 109 /* m */ && msg.startsWith(REPEATED)) return repeated(ev, name, msg, REPEATED.length, undefined);
    return byName(ev, name, msg);
  }

  function remember(ev: TwEvent, name: string, msg: string): void {
    const host = ev.host?.name ?? '';
    const last = st.last.get(host);
    if (last === undefined) st.last.set(host, { name, pid: ev.process?.pid, message: msg });
    else {
      last.name = name;
      last.pid = ev.process?.pid;
      last.message = msg;
    }
  }

  return {
    decode(ev: TwEvent): boolean {
      if (ev.event.dataset === DATASETS.gateway) return decodeGateway(ev);
      return decodeLine(ev);
    },
    reset(): void {
      st.ledger.clear();
      st.audit.clear();
      st.last.clear();
    },
  };
}

const shared = createDecoder();

/** Decode with the process-wide decoder (one stream of events in order). */
export function decode(ev: TwEvent): boolean {
  return shared.decode(ev);
}
