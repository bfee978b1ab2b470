// The little state decoders keep between lines, so that one login attempt
// counts once although sshd/su/login write it on two lines ("Invalid user X"
// then "Failed password for invalid user X"), and auditd SYSCALL records can
// lend their exe/uid to the EXECVE record that follows. All bounded.
import type { TwEvent } from '../../event.js';

/** One entry of a BoundedMap, linked in the order it was last set. */
interface Slot<V> {
  key: string;
  value: V;
  prev: Slot<V> | null;
  next: Slot<V> | null;
}

/**
 * A Map that forgets its oldest entries beyond `max` (order of last set). The
 * order is a linked list beside the Map: finding the oldest entry of a Map
 * (keys().next()) walks over every deleted slot V8 has not compacted yet,
 * which made a full ledger cost O(max) per new key.
 */
export class BoundedMap<V> {
  private readonly map = new Map<string, Slot<V>>();
  private head: Slot<V> | null = null;
  private tail: Slot<V> | null = null;
  constructor(private readonly max: number) {}
  get(k: string): V | undefined {
    const s = this.map.get(k);
    return s === undefined ? undefined : s.value;
  }
  set(k: string, v: V): void {
    let s = this.map.get(k);
    if (s !== undefined) {
      s.value = v;
      this.unlink(s);
    } else {
      if (this.map.size >= this.max && this.head !== null) this.delete(this.head.key);
      s = { key: k, value: v, prev: null, next: null };
      this.map.set(k, s);
    }
    s.prev = this.tail;
    if (this.tail !== null) this.tail.next = s;
    else this.head = s;
    this.tail = s;
  }
  delete(k: string): void {
    const s = this.map.get(k);
    if (s === undefined) return;
    this.map.delete(k);
    this.unlink(s);
  }
  get size(): number {
    return this.map.size;
  }
  clear(): void {
    this.map.clear();
    this.head = this.tail = null;
  }
  private unlink(s: Slot<V>): void {
    if (s.prev !== null) s.prev.next = s.next;
    else this.head = s.next;
    if (s.next !== null) s.next.prev = s.prev;
    else this.tail = s.prev;
    s.prev = s.next = null;
  }
}

/**
 * What one process (one sshd connection, one su or login run: host + pid) has
 * written about login attempts so far. sshd, login, su and sudo each log an
 * attempt on two or three lines (PAM's "authentication failure", sshd's
 * "Invalid user", then "Failed password"); the ledger makes exactly one of them
 * count, whichever comes first, and lets summaries ("PAM 2 more
 * authentication failures", sudo's "3 incorrect password attempts") count only
 * what no earlier line counted. Lines that do not count get event.type info.
 */
export interface Ledger {
  /** Attempts counted so far for this process. */
  attempts: number;
  /** An attempt was counted by an announcing line; the next per-attempt line confirms it instead of counting. */
  pending: boolean;
  /** A success was counted (su writes it up to three times). */
  success: boolean;
}

export interface AuditSyscall {
  exe?: string;
  comm?: string;
  pid?: number;
  ppid?: number;
  uid?: string;
  auid?: string;
  uidName?: string;
  auidName?: string;
  euidName?: string;
  tty?: string;
  ses?: string;
  success?: string;
  key?: string;
}

export interface LastLine {
  name: string;
  pid: number | undefined;
  message: string;
}

export interface DecodeState {
  ledger: BoundedMap<Ledger>;
  audit: BoundedMap<AuditSyscall>;
  /** Last line per host, for BSD syslogd's "last message repeated N times". */
  last: BoundedMap<LastLine>;
  /** True while decoding the inner line of "message repeated N times": each counts, none confirms. */
  repeated: boolean;
}

export function newState(max = 65536): DecodeState {
  return { ledger: new BoundedMap(max), audit: new BoundedMap(max), last: new BoundedMap(4096), repeated: false };
}

/** Key of the process that wrote a line: host + pid (host + app + peer when the line has no pid). */
export function procKey(ev: TwEvent): string {
  const pid = ev.process?.pid;
  const host = ev.host?.name ?? '';
  if (pid !== undefined) return host + '|' + pid;
  return host + '|' + (ev.process?.name ?? '') + '|' + (ev.source?.ip ?? ev.source?.domain ?? '');
}

function ledgerOf(st: DecodeState, key: string): Ledger {
  let l = st.ledger.get(key);
  if (l === undefined) {
    l = { attempts: 0, pending: false, success: false };
    st.ledger.set(key, l);
  }
  return l;
}

function echo(ev: TwEvent): false {
  ev.event.type = ['info'];
  return false;
}

/**
 * A per-attempt line ("Failed password", "FAILED LOGIN 2"): counts, unless an
 * announcing line already counted this attempt. Returns whether it counted.
 */
export function attemptLine(st: DecodeState, ev: TwEvent): boolean {
  const l = ledgerOf(st, procKey(ev));
  if (l.pending && !st.repeated) {
    l.pending = false;
    return echo(ev);
  }
  l.attempts++;
  return true;
}

/**
 * A line that announces an attempt before its per-attempt line ("Invalid user",
 * PAM "authentication failure"): counts unless one is already announced.
 */
export function announceLine(st: DecodeState, ev: TwEvent): boolean {
  const l = ledgerOf(st, procKey(ev));
  if (st.repeated) {
    l.attempts++;
    return true;
  }
  if (l.pending) return echo(ev);
  l.attempts++;
  l.pending = true;
  return true;
}

/** A line that is an attempt of its own and has no echo (PAM failure of gdm, vsftpd…). */
export function countLine(st: DecodeState, ev: TwEvent): void {
  ledgerOf(st, procKey(ev)).attempts++;
}

/** A process that makes one attempt at most (su): only its first failure line counts. */
export function onceLine(st: DecodeState, ev: TwEvent, success: boolean): boolean {
  const l = ledgerOf(st, procKey(ev));
  if (success) {
    if (l.success) return echo(ev);
    l.success = true;
    return true;
  }
  if (l.attempts > 0) return echo(ev);
  l.attempts++;
  return true;
}

/**
 * A summary of `total` attempts for the process ("PAM 2 more" = 3, sudo "3
 * incorrect password attempts"): counts those not counted yet, as event.count.
 */
export function summaryLine(st: DecodeState, ev: TwEvent, total: number): boolean {
  const key = procKey(ev);
  const l = ledgerOf(st, key);
  const missing = total - l.attempts;
  if (missing <= 0) return echo(ev);
  l.attempts = total;
  l.pending = false;
  if (missing > 1) ev.event.count = missing;
  return true;
}

/** `k` more attempts of this process were counted elsewhere ("message repeated N times"). */
export function addAttempts(st: DecodeState, ev: TwEvent, k: number): void {
  if (k > 0) ledgerOf(st, procKey(ev)).attempts += k;
}

/** The process authenticated: nothing it logs later is an unconfirmed attempt. */
export function successLine(st: DecodeState, ev: TwEvent): void {
  if (st.repeated) return;
  const l = st.ledger.get(procKey(ev));
  if (l !== undefined) l.pending = false;
}

/** The process is done with authentication (PAM's final summary): forget it. */
export function forgetProcess(st: DecodeState, ev: TwEvent): void {
  if (!st.repeated) st.ledger.delete(procKey(ev));
}
