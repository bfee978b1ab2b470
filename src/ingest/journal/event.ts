// Journal entries to ECS events in the shape the syslog parser gives, so the
// decoders and rules see a journald server's sshd line exactly as they see
// the same line over syslog. Field names follow Filebeat's journald input
// (`journald.*`, `systemd.*`); fields the program chose itself go to
// `journald.custom` (mapped `flattened` in Elasticsearch, so a client
// inventing names cannot blow up the mapping).
import type { SyslogFields, TwEvent } from '../../event.js';
import { fastUuid, nameUuid } from '../../ids.js';
import { FACILITY_NAMES, SEVERITY_NAMES } from '../syslog/names.js';
import type { JournalEntry } from './export-format.js';

export const JOURNAL_DATASET = 'journald';

/** Where a batch of entries came from. */
export interface JournalReceipt {
  created: string;
  /** "journal-upload", "replay". */
  input: string;
  peer: string;
  peerHost: string;
}

/**
 * Programs whose lines the decoders count as logins and commands, and the
 * kernel's names (journald's trusted `_COMM`) of the binaries that write them.
 * An entry claiming one of these identifiers from another binary (`logger -t
 * sshd …`) is tagged `log_spoofing_suspected`: journald records who really
 * wrote it, syslog cannot. Its process.name is then the real writer.
 */
const TRUSTED_COMM: Readonly<Record<string, readonly string[]>> = {
  sshd: ['sshd', 'sshd-session', 'sshd-auth'],
  'sshd-session': ['sshd', 'sshd-session', 'sshd-auth'],
  'sshd-auth': ['sshd', 'sshd-session', 'sshd-auth'],
  sudo: ['sudo'],
  su: ['su'],
  login: ['login'],
};

/** Fields read into ECS ones (not repeated under journald.custom). */
const MAPPED = new Set([
  'MESSAGE', 'PRIORITY', 'SYSLOG_FACILITY', 'SYSLOG_IDENTIFIER', 'SYSLOG_PID', 'SYSLOG_TIMESTAMP', 'SYSLOG_RAW',
]);

// Entries come in time order: the ISO text up to the second is reused while
// it lasts (Date formatting per entry was an eighth of the receiver's time).
let cachedSec = -1;
let cachedPrefix = '';
const MILLIS: string[] = Array.from({ length: 1000 }, (_, i) => `${String(i).padStart(3, '0')}Z`);

function microsToIso(us: string | undefined): string | undefined {
  if (us === undefined || us.length === 0 || us.length > 17) return undefined;
  const n = Number(us);
  if (!Number.isSafeInteger(n) || n <= 0) return undefined;
  const ms = Math.floor(n / 1000);
  const sec = Math.floor(ms / 1000);
  if (sec !== cachedSec) {
    const iso = new Date(ms).toISOString();
    if (iso.length !== 24) return iso;
    cachedSec = sec;
    cachedPrefix = iso.slice(0, 20);
  }
  return cachedPrefix + MILLIS[ms - sec * 1000];
}

function smallInt(s: string | undefined, max: number): number {
  if (s === undefined || s.length === 0 || s.length > 10) return -1;
  let v = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    v = v * 10 + c - 48;
  }
  return v <= max ? v : -1;
}

/**
 * A stable id: the cursor names one entry for good, and within it the
 * sequence-number id (128 random bits per journal) and the sequence number
 * alone do ("j-<seqnum id>-<seqnum>", no hashing on the hot path).
 */
function entryId(f: Map<string, string>): string {
  const cursor = f.get('__CURSOR');
  if (cursor) {
    if (cursor.startsWith('s=') && cursor.charCodeAt(34) === 59 /* ; */ && cursor.startsWith('i=', 35)) {
      const end = cursor.indexOf(';', 37);
      const seq = end < 0 ? cursor.slice(37) : cursor.slice(37, end);
      if (seq.length > 0 && seq.length <= 16) return `j-${cursor.slice(2, 34)}-${seq}`;
    }
    return nameUuid(`journal:${cursor}`);
  }
  const boot = f.get('_BOOT_ID');
  const seqId = f.get('__SEQNUM_ID');
  const seq = f.get('__SEQNUM');
  if (boot && seqId && seq) return nameUuid(`journal:${seqId}:${seq}:${boot}`);
  return fastUuid();
}

export function journalEvent(entry: JournalEntry, r: JournalReceipt): TwEvent {
  if (entry.error !== undefined) return brokenEvent(entry, r);
  const f = entry.fields;
  const message = f.get('MESSAGE') ?? '';
  const timestamp = microsToIso(f.get('_SOURCE_REALTIME_TIMESTAMP')) ?? microsToIso(f.get('__REALTIME_TIMESTAMP')) ?? r.created;
  const ev: TwEvent = {
    '@timestamp': timestamp,
    event: { id: entryId(f), kind: 'event', dataset: JOURNAL_DATASET, original: message, created: r.created },
    message,
    host: { name: f.get('_HOSTNAME') || r.peerHost },
    log: { source: { address: r.peer } },
    trailwatch: { input: { type: r.input, peer: r.peer } },
  };
  const syslog: SyslogFields = {};
  const sev = smallInt(f.get('PRIORITY'), 7);
  const fac = smallInt(f.get('SYSLOG_FACILITY'), 23);
  if (sev >= 0) syslog.severity = { code: sev, name: SEVERITY_NAMES[sev] };
  if (fac >= 0) syslog.facility = { code: fac, name: FACILITY_NAMES[fac] };
  if (sev >= 0 && fac >= 0) syslog.priority = fac * 8 + sev;
  const ident = f.get('SYSLOG_IDENTIFIER') || f.get('_COMM');
  if (ident) syslog.appname = ident;
  const procid = f.get('SYSLOG_PID') ?? f.get('_PID');
  if (procid !== undefined) syslog.procid = procid;
  ev.log!.syslog = syslog;
  const tags: string[] = [];
  if (entry.truncated) tags.push('truncated');
  const comm = f.get('_COMM');
  const spoofed = !!(ident && comm && TRUSTED_COMM[ident] && !TRUSTED_COMM[ident].includes(comm));
  if (spoofed) {
    // The event is what the writer really is: decoders do not read it as the
    // daemon's, so a forged "Failed password … from IP" frames nobody.
    tags.push('log_spoofing_suspected');
    const exe = f.get('_EXE');
    (ev.trailwatch ??= {}).spoofing = { claimed: ident, writer: comm, ...(exe ? { executable: exe } : {}) };
  }
  const name = spoofed ? comm : ident;
  if (name) {
    const pid = smallInt(spoofed ? f.get('_PID') : procid, 0xffffffff);
    ev.process = pid >= 0 ? { name, pid } : { name };
  }
  ev.journald = journaldFields(f);
  const sd = systemdFields(f);
  if (sd) ev.systemd = sd;
  if (tags.length) ev.tags = tags;
  return ev;
}

function journaldFields(f: Map<string, string>): NonNullable<TwEvent['journald']> {
  const j: NonNullable<TwEvent['journald']> = {};
  const pid = smallInt(f.get('_PID'), 0xffffffff);
  const uid = smallInt(f.get('_UID'), 0xffffffff);
  const gid = smallInt(f.get('_GID'), 0xffffffff);
  if (pid >= 0) j.pid = pid;
  if (uid >= 0) j.uid = uid;
  if (gid >= 0) j.gid = gid;
  const comm = f.get('_COMM');
  const exe = f.get('_EXE');
  const cmdline = f.get('_CMDLINE');
  if (comm || exe || cmdline) {
    j.process = {};
    if (comm) j.process.name = comm;
    if (exe) j.process.executable = exe;
    if (cmdline) j.process.command_line = cmdline;
  }
  const boot = f.get('_BOOT_ID');
  if (boot) j.host = { boot_id: boot };
  const cursor = f.get('__CURSOR');
  if (cursor) j.cursor = cursor;
  let custom: Record<string, string> | undefined;
  for (const [k, v] of f) {
    if (k.charCodeAt(0) === 95 /* _ */ || MAPPED.has(k)) continue;
    (custom ??= {})[k.toLowerCase()] = v;
  }
  if (custom) j.custom = custom;
  return j;
}

function systemdFields(f: Map<string, string>): TwEvent['systemd'] {
  const unit = f.get('_SYSTEMD_UNIT');
  const userUnit = f.get('_SYSTEMD_USER_UNIT');
  const slice = f.get('_SYSTEMD_SLICE');
  const transport = f.get('_TRANSPORT');
  const invocation = f.get('_SYSTEMD_INVOCATION_ID');
  if (!unit && !userUnit && !slice && !transport && !invocation) return undefined;
  const s: NonNullable<TwEvent['systemd']> = {};
  if (unit) s.unit = unit;
  if (userUnit) s.user_unit = userUnit;
  if (slice) s.slice = slice;
  if (transport) s.transport = transport;
  if (invocation) s.invocation_id = invocation;
  return s;
}

/** An entry that broke the format: kept with its bytes and the reason, tagged unparsed. */
function brokenEvent(entry: JournalEntry, r: JournalReceipt): TwEvent {
  const raw = entry.raw ?? '';
  return {
    '@timestamp': r.created,
    // The same broken bytes sent again (the uploader retries) are the same document.
    event: { id: nameUuid(`journal-broken:${r.peerHost}:${raw}`), kind: 'event', dataset: JOURNAL_DATASET, original: raw, created: r.created },
    message: raw,
    tags: entry.truncated ? ['unparsed', 'truncated'] : ['unparsed'],
    host: { name: r.peerHost },
    log: { source: { address: r.peer } },
    trailwatch: { input: { type: r.input, peer: r.peer }, error: entry.error },
  };
}

/**
 * One `journalctl -o json` line's object to an entry: values are strings,
 * arrays of byte values (binary or non-UTF-8 data), arrays of those (a
 * repeated field) or null (a value journalctl left out as too large).
 */
export function entryFromJson(o: Record<string, unknown>): JournalEntry {
  const fields = new Map<string, string>();
  let repeated: Record<string, string[]> | undefined;
  for (const k of Object.keys(o)) {
    const v = o[k];
    const values = Array.isArray(v) && v.length && typeof v[0] !== 'number' ? v : [v];
    let first = true;
    for (const x of values) {
      const s = jsonValue(x);
      if (s === undefined) continue;
      if (first) fields.set(k, s);
      else ((repeated ??= {})[k] ??= []).push(s);
      first = false;
    }
  }
  return repeated ? { fields, repeated } : { fields };
}

function jsonValue(x: unknown): string | undefined {
  if (typeof x === 'string') return x;
  if (typeof x === 'number') return String(x);
  if (Array.isArray(x) && x.every((b) => typeof b === 'number')) return Buffer.from(x as number[]).toString('utf8');
  return undefined;
}
