// auditd records forwarded to syslog: audisp-syslog / audispd's syslog plugin
// ("[node=H ]type=EXECVE msg=audit(1700000000.123:456): argc=3 a0="ls" a1=2F746D70"),
// and the kernel's own printk form when auditd is not running
// ("audit: type=1309 audit(1700000000.123:456): argc=…").
// EXECVE arguments are quoted, or hex when they contain blanks, quotes or
// non-ASCII; long ones come as aN_len=… aN[0]=… aN[1]=…. A SYSCALL record
// (exe, comm, uid, auid…) precedes the EXECVE of the same serial and lends it
// its fields; the EXECVE is the process start (event.category process, type
// start, outcome failure when the execve failed), and its parent's exe and
// name come from the EXECVE its ppid last made, when this decoder saw it (a
// bounded table by host and pid: a parent whose exec it never saw is a pid
// only; a pid the kernel reused for a process that has not exec'd yet still
// shows the last exec seen under that pid).
// Every record, whatever its type, also keeps its key=value fields decoded
// under auditd.data.* (with auditd.record_type and auditd.sequence), as
// Auditbeat and Filebeat's auditd module do, so that rules written against raw
// auditd records (Sigma's service auditd: type, exe, key, name, nametype,
// proctitle, a0…) have them. The CWD, PATH and PROCTITLE records of an execve
// come after its EXECVE: they are events of their own (audit-record).
import type { TwEvent } from '../../event.js';
import { ACTIONS, DATASETS } from './vocabulary.js';
import { addRelatedUser, categorise, parseUint, relateHost } from './fields.js';
import type { AuditSyscall, DecodeState } from './state.js';
import { RECORD_TYPES, syscallName } from './auditd-names.js';

const D = 'auditd';
const DS = DATASETS.auditd;
const UNSET = '4294967295';
/** EXECVE arguments kept under auditd.data (a0…a31), and fields of any other record: each is a field of the index mapping. */
const DATA_ARGS = 32;
const DATA_FIELDS = 96;

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

/** Fields auditd writes as untrusted strings (quoted, or hex when they hold blanks, quotes or control characters). */
const ENCODED = new Set(['comm', 'exe', 'name', 'cwd', 'proctitle', 'key', 'cmd', 'data', 'path', 'ocomm', 'acct', 'unit', 'old', 'new']);

/** A field value as rules compare it: encoded fields decoded, other quoted values unquoted, numbers as written. */
function dataValue(key: string, raw: string): string {
  if (ENCODED.has(key)) return auditValue(raw);
  if (raw.length >= 2 && raw.charCodeAt(0) === 34 && raw.charCodeAt(raw.length - 1) === 34) return raw.slice(1, -1);
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
  /** The raw key=value fields, decoded (auditd.data). */
  data: Record<string, string>;
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
  const raw = msg.slice(t + 5, sp);
  return { type: RECORD_TYPES.get(raw) ?? raw, serial: msg.slice(colon + 1, close), body, data: Object.create(null) as Record<string, string> };
}

/** Every key=value of the body into h.data; user-space records' msg='…' holds more of them (unit=, cmd=, res=). */
function readData(h: Header): void {
  const data = h.data;
  let inner = '';
  let n = 0;
  for (let i = 0; n < DATA_FIELDS && nextField(h.body, i); i = field.next) {
    const k = field.key;
    if (k === '') continue;
    const raw = field.raw;
    if (k === 'msg' && raw.length >= 2 && raw.charCodeAt(0) === 39) inner = raw.slice(1, raw.charCodeAt(raw.length - 1) === 39 ? -1 : raw.length);
    else if (!(k in data)) {
      data[k] = dataValue(k, raw);
      n++;
    }
  }
  for (let i = 0; inner !== '' && n < DATA_FIELDS && nextField(inner, i); i = field.next) {
    if (field.key === '' || field.key in data) continue;
    data[field.key] = dataValue(field.key, field.raw);
    n++;
  }
}

function setAuditd(ev: TwEvent, h: Header): void {
  ev.auditd = { record_type: h.type, sequence: h.serial, data: h.data };
  ((ev.trailwatch ??= {}).audit ??= {} as Record<string, string>);
  (ev.trailwatch.audit as Record<string, string>).serial = h.serial;
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

function toSyscall(d: Record<string, string>): AuditSyscall {
  const sc: AuditSyscall = {
    exe: d.exe,
    comm: d.comm,
    pid: d.pid === undefined ? undefined : parseUint(d.pid),
    ppid: d.ppid === undefined ? undefined : parseUint(d.ppid),
    uid: d.uid,
    auid: d.auid,
    tty: d.tty,
    ses: d.ses,
    success: d.success,
    key: d.key,
    uidName: d.UID,
    auidName: d.AUID,
    euidName: d.EUID,
  };
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

/** Key of what an execve left for its children: host and pid (a NUL-led key never meets a host|serial one). */
function procKey(ev: TwEvent, pid: number): string {
  return '\0' + (ev.host?.name ?? '') + '|' + pid;
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
  if (p.parent?.pid !== undefined) {
    const parent = st.audit.get(procKey(ev, p.parent.pid));
    if (parent?.exe) p.parent.executable = parent.exe;
    if (parent?.comm) p.parent.name = parent.comm;
  }
  if (p.pid !== undefined && outcome === 'success') st.audit.set(procKey(ev, p.pid), { exe: p.executable, comm: p.name });
  const data = h.data;
  if (argc >= 0) data.argc = String(argc);
  // Bounded: each aN is a field of its own in Elasticsearch's mapping; all of argv is in process.args.
  for (let i = 0; i < args.length && i < DATA_ARGS; i++) data['a' + i] = args[i];
  setAuditd(ev, h);
  relateHost(ev);
  return true;
}

function syscall(ev: TwEvent, h: Header, st: DecodeState): boolean {
  readData(h);
  const d = h.data;
  if (d.syscall !== undefined && d.SYSCALL === undefined) {
    const name = syscallName(d.arch, d.syscall);
    if (name !== undefined) d.SYSCALL = name;
  }
  const sc = toSyscall(d);
  st.audit.set((ev.host?.name ?? '') + '|' + h.serial, sc);
  categorise(ev, D, DS, ACTIONS.auditSyscall, 'process', 'info', sc.success === 'yes' ? 'success' : sc.success === 'no' ? 'failure' : 'unknown');
  applySyscall(ev, sc);
  setAuditd(ev, h);
  relateHost(ev);
  return true;
}

/** Any other record: its fields, and what ECS names for the few that say something of the process. */
function record(ev: TwEvent, h: Header): boolean {
  readData(h);
  const d = h.data;
  const e = ev.event;
  e.dataset = DS;
  e.action = ACTIONS.auditRecord;
  e.type = ['info'];
  const res = d.res ?? d.success;
  e.outcome = res === 'success' || res === 'yes' ? 'success' : res === 'failed' || res === 'no' ? 'failure' : 'unknown';
  (ev.trailwatch ??= {}).decoder = D;
  if (h.type === 'PROCTITLE' && d.proctitle !== undefined) {
    // argv, NUL-separated when hex-encoded: as one line, the way ps shows it.
    let end = d.proctitle.length;
    while (end > 0 && d.proctitle.charCodeAt(end - 1) === 0) end--;
    const title = d.proctitle.slice(0, end).replaceAll('\0', ' ');
    d.proctitle = title;
    (ev.process ??= {}).title = title;
  } else if (h.type === 'CWD' && d.cwd !== undefined) (ev.process ??= {}).working_directory = d.cwd;
  setAuditd(ev, h);
  relateHost(ev);
  return true;
}

export function decodeAudit(ev: TwEvent, msg: string, st: DecodeState): boolean {
  const h = header(msg);
  if (h === undefined) return false;
  if (h.type === 'EXECVE') return execve(ev, h, st);
  if (h.type === 'SYSCALL') return syscall(ev, h, st);
  if (h.body.indexOf('=') < 0) return false;
  return record(ev, h);
}
