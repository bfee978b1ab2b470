// auditd records forwarded to syslog: audisp-syslog / audispd's syslog plugin
// ("[node=H ]type=EXECVE msg=audit(1700000000.123:456): argc=3 a0="ls" a1=2F746D70"),
// and the kernel's own printk form when auditd is not running
// ("audit: type=1309 audit(1700000000.123:456): argc=…").
// EXECVE arguments are quoted, or hex when they contain blanks, quotes or
// non-ASCII; long ones come as aN_len=… aN[0]=… aN[1]=…. A SYSCALL record
// (exe, comm, uid, auid…) precedes the EXECVE of the same serial and lends it
// its fields.
import type { TwEvent } from '../../event.js';
import { ACTIONS, DATASETS } from './vocabulary.js';
import { addRelatedUser, categorise, parseUint, relateHost } from './fields.js';
import type { AuditSyscall, DecodeState } from './state.js';

const D = 'auditd';
const DS = DATASETS.auditd;
const UNSET = '4294967295';

function isHex(s: string): boolean {
  if (s.length === 0 || s.length % 2 !== 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** An audit field value: "quoted", hex-encoded (unquoted), or a bare word such as (null) or a number. */
export function auditValue(raw: string): string {
  if (raw.length >= 2 && raw.charCodeAt(0) === 34 && raw.charCodeAt(raw.length - 1) === 34) return raw.slice(1, -1);
  if (isHex(raw)) return Buffer.from(raw, 'hex').toString('utf8');
  return raw;
}

/** The field the cursor last read; reused (one object for the module, no per-line closures). */
const field = { key: '', raw: '', next: 0 };

/** Read the "key=value" at or after `i` (value possibly "quoted with spaces") into `field`. */
function nextField(body: string, i: number): boolean {
  const n = body.length;
  while (i < n && body.charCodeAt(i) === 32) i++;
  if (i >= n) return false;
  const eq = body.indexOf('=', i);
  if (eq < 0) return false;
  let end: number;
  const q = body.charCodeAt(eq + 1);
  if (q === 34 || q === 39) {
    end = body.indexOf(q === 34 ? '"' : "'", eq + 2);
    end = end < 0 ? n : end + 1;
  } else {
    end = body.indexOf(' ', eq + 1);
    if (end < 0) end = n;
  }
  const sp = body.lastIndexOf(' ', eq);
  field.key = body.slice(sp >= i ? sp + 1 : i, eq);
  field.raw = body.slice(eq + 1, end);
  field.next = end;
  return true;
}

interface Header {
  type: string;
  serial: string;
  body: string;
}

/** "[node=H ]type=T msg=audit(TS:SERIAL): BODY" or "[[ 12.3] ]audit: type=1309 audit(TS:SERIAL): BODY". */
function header(msg: string): Header | undefined {
  const t = msg.indexOf('type=');
  if (t < 0 || t > 80) return undefined;
  const sp = msg.indexOf(' ', t);
  if (sp < 0) return undefined;
  const a = msg.indexOf('audit(', sp);
  if (a < 0 || a > sp + 8) return undefined;
  const colon = msg.indexOf(':', a);
  const close = msg.indexOf('): ', a);
  if (close < 0 || colon < 0 || colon > close) return undefined;
  let body = msg.slice(close + 3);
  // Enriched records put the resolved names after a GS (0x1d); rsyslog escapes it as "#035".
  if (body.indexOf('\x1d') >= 0) body = body.replaceAll('\x1d', ' ');
  if (body.indexOf('#035') >= 0) body = body.replaceAll('#035', ' ');
  return { type: msg.slice(t + 5, sp), serial: msg.slice(colon + 1, close), body };
}

function basename(p: string): string {
  const s = p.lastIndexOf('/');
  return s < 0 ? p : p.slice(s + 1);
}

/** Fill the process and user fields from a SYSCALL record. */
function applySyscall(ev: TwEvent, sc: AuditSyscall): void {
  const p = (ev.process ??= {});
  if (sc.exe) {
    p.executable = sc.exe;
    p.name = basename(sc.exe);
  } else if (sc.comm) p.name = sc.comm;
  if (sc.pid !== undefined) p.pid = sc.pid;
  if (sc.ppid !== undefined) p.parent = { pid: sc.ppid };
  if (sc.tty && sc.tty !== '(none)') p.tty = { name: sc.tty };
  const u = (ev.user ??= {});
  if (sc.uid !== undefined) u.id = sc.uid;
  if (sc.uidName) {
    u.name = sc.uidName;
    addRelatedUser(ev, sc.uidName);
  }
  if (sc.euidName && sc.euidName !== sc.uidName) u.effective = { name: sc.euidName };
  const audit: Record<string, string> = {};
  if (sc.auid !== undefined && sc.auid !== UNSET) audit.auid = sc.auid;
  if (sc.auidName && sc.auidName !== 'unset') {
    audit.auid_name = sc.auidName;
    addRelatedUser(ev, sc.auidName);
  }
  if (sc.ses !== undefined && sc.ses !== UNSET) audit.session = sc.ses;
  if (sc.key && sc.key !== '(null)') audit.key = sc.key;
  (ev.trailwatch ??= {}).audit = audit;
}

function readSyscall(body: string): AuditSyscall {
  const sc: AuditSyscall = {};
  for (let i = 0; nextField(body, i); i = field.next) {
    const raw = field.raw;
    switch (field.key) {
      case 'exe': sc.exe = auditValue(raw); break;
      case 'comm': sc.comm = auditValue(raw); break;
      case 'pid': sc.pid = parseUint(raw); break;
      case 'ppid': sc.ppid = parseUint(raw); break;
      case 'uid': sc.uid = raw; break;
      case 'auid': sc.auid = raw; break;
      case 'tty': sc.tty = raw; break;
      case 'ses': sc.ses = raw; break;
      case 'success': sc.success = raw; break;
      case 'key': sc.key = auditValue(raw); break;
      case 'UID': sc.uidName = auditValue(raw); break;
      case 'AUID': sc.auidName = auditValue(raw); break;
      case 'EUID': sc.euidName = auditValue(raw); break;
    }
  }
  if (sc.pid !== undefined && Number.isNaN(sc.pid)) sc.pid = undefined;
  if (sc.ppid !== undefined && Number.isNaN(sc.ppid)) sc.ppid = undefined;
  return sc;
}

/** EXECVE arguments by index, joining the aN[i] chunks of long arguments. */
function readArgs(body: string, args: string[]): number {
  let argc = -1;
  for (let i = 0; nextField(body, i); i = field.next) {
    const k = field.key;
    if (k === 'argc') {
      argc = parseUint(field.raw);
      continue;
    }
    if (k.charCodeAt(0) !== 97 /* a */ || k.indexOf('_') >= 0) continue; // not aN / aN[i] (aN_len)
    const br = k.indexOf('[');
    const idx = parseUint(k, 1, br < 0 ? k.length : br);
    if (Number.isNaN(idx) || idx > 65536) continue;
    const v = auditValue(field.raw);
    while (args.length <= idx) args.push('');
    if (br < 0) args[idx] = v;
    else args[idx] += v;
  }
  return Number.isNaN(argc) ? -1 : argc;
}

function execve(ev: TwEvent, h: Header, st: DecodeState): boolean {
  const args: string[] = [];
  const argc = readArgs(h.body, args);
  if (args.length === 0) return false;
  const key = (ev.host?.name ?? '') + '|' + h.serial;
  const sc = st.audit.get(key);
  if (sc) st.audit.delete(key);
  const outcome = sc?.success === 'no' ? 'failure' : 'success';
  categorise(ev, D, DS, ACTIONS.execve, 'process', 'start', outcome);
  if (sc) applySyscall(ev, sc);
  const p = (ev.process ??= {});
  p.args = args;
  p.args_count = argc >= 0 ? argc : args.length;
  p.command_line = args.join(' ');
  if (!p.executable) p.name = basename(args[0]);
  ((ev.trailwatch ??= {}).audit ??= {} as Record<string, string>);
  (ev.trailwatch.audit as Record<string, string>).serial = h.serial;
  relateHost(ev);
  return true;
}

function syscall(ev: TwEvent, h: Header, st: DecodeState): boolean {
  const sc = readSyscall(h.body);
  st.audit.set((ev.host?.name ?? '') + '|' + h.serial, sc);
  categorise(ev, D, DS, ACTIONS.auditSyscall, 'process', 'info', sc.success === 'yes' ? 'success' : sc.success === 'no' ? 'failure' : 'unknown');
  applySyscall(ev, sc);
  (ev.trailwatch!.audit as Record<string, string>).serial = h.serial;
  relateHost(ev);
  return true;
}

export function decodeAudit(ev: TwEvent, msg: string, st: DecodeState): boolean {
  const h = header(msg);
  if (h === undefined) return false;
  if (h.type === 'EXECVE' || h.type === '1309') return execve(ev, h, st);
  if (h.type === 'SYSCALL' || h.type === '1300') return syscall(ev, h, st);
  return false;
}
