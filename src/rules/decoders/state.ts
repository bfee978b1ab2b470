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
  ledger: Ledgers;
  audit: BoundedMap<AuditSyscall>;
  /** Last line per host, for BSD syslogd's "last message repeated N times". */
  last: BoundedMap<LastLine>;
  /** True while decoding the inner line of "message repeated N times": each counts, none confirms. */
  repeated: boolean;
}

export function newState(max = 65536): DecodeState {
  return { ledger: new Ledgers(max), audit: new BoundedMap(max), last: new BoundedMap(4096), repeated: false };
}

/** A ledger with its place in the table. */
interface LedgerEntry extends Ledger {
  host: string;
  sub: number | string;
  inner: Map<number | string, LedgerEntry>;
  prev: LedgerEntry | null;
  next: LedgerEntry | null;
}

/**
 * The ledgers of the processes that wrote lines (host + pid; host + app +
 * peer when the line has no pid), the oldest forgotten beyond `max`. Keyed by
 * host, then by pid as a number: no key string is built for every line.
 */
export class Ledgers {
  private readonly hosts = new Map<string, Map<number | string, LedgerEntry>>();
  private head: LedgerEntry | null = null;
  private tail: LedgerEntry | null = null;
  private count = 0;
  constructor(private readonly max: number) {}

  get size(): number {
    return this.count;
  }

  get(ev: TwEvent): Ledger | undefined {
    const inner = this.hosts.get(ev.host?.name ?? '');
    return inner === undefined ? undefined : inner.get(subKey(ev));
  }

  /** The process's ledger, created (as the newest) when it has none. */
  of(ev: TwEvent): Ledger {
    const host = ev.host?.name ?? '';
    const sub = subKey(ev);
    let inner = this.hosts.get(host);
    const l = inner?.get(sub);
    if (l !== undefined) return l;
    if (this.count >= this.max && this.head !== null) {
      this.remove(this.head);
      if (inner !== undefined && inner.size === 0) inner = undefined;
    }
    if (inner === undefined) {
      inner = new Map();
      this.hosts.set(host, inner);
    }
    const e: LedgerEntry = { attempts: 0, pending: false, success: false, host, sub, inner, prev: this.tail, next: null };
    inner.set(sub, e);
    if (this.tail !== null) this.tail.next = e;
    else this.head = e;
    this.tail = e;
    this.count++;
    return e;
  }

  delete(ev: TwEvent): void {
    const inner = this.hosts.get(ev.host?.name ?? '');
    const e = inner?.get(subKey(ev));
    if (e !== undefined) this.remove(e);
  }

  clear(): void {
    this.hosts.clear();
    this.head = this.tail = null;
    this.count = 0;
  }

  private remove(e: LedgerEntry): void {
    e.inner.delete(e.sub);
    if (e.inner.size === 0) this.hosts.delete(e.host);
    if (e.prev !== null) e.prev.next = e.next;
    else this.head = e.next;
    if (e.next !== null) e.next.prev = e.prev;
    else this.tail = e.prev;
    e.prev = e.next = null;
    this.count--;
  }
}

/** A process within its host: the pid, or app + peer when the line has none. */
function subKey(ev: TwEvent): number | string {
  const pid = ev.process?.pid;
  if (pid !== undefined) return typeof pid === 'number' ? pid : String(pid);
  return '|' + (ev.process?.name ?? '') + '|' + (ev.source?.ip ?? ev.source?.domain ?? '');
}

function ledgerOf(st: DecodeState, ev: TwEvent): Ledger {
  return st.ledger.of(ev);
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
  const l = ledgerOf(st, ev);
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
  const l = ledgerOf(st, ev);
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
  ledgerOf(st, ev).attempts++;
}

/**
 * A client that gave up before any credential was logged (sshd "Received
 * disconnect …:14: No more user authentication methods available", JSch's
 * "Auth fail"): one attempt, but only when no line of the same connection
 * counted one already (a "Failed password", an "Invalid user", a PAM
 * failure). Returns whether it counted.
 */
export function abandonLine(st: DecodeState, ev: TwEvent): boolean {
  const l = ledgerOf(st, ev);
  if (l.attempts > 0) return echo(ev);
  l.attempts++;
  return true;
}

/** A process that makes one attempt at most (su): only its first failure line counts. */
export function onceLine(st: DecodeState, ev: TwEvent, success: boolean): boolean {
  const l = ledgerOf(st, ev);
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
  const l = ledgerOf(st, ev);
  const missing = total - l.attempts;
  if (missing <= 0) return echo(ev);
  l.attempts = total;
  l.pending = false;
  if (missing > 1) ev.event.count = missing;
  return true;
}

/** `k` more attempts of this process were counted elsewhere ("message repeated N times"). */
export function addAttempts(st: DecodeState, ev: TwEvent, k: number): void {
  if (k > 0) ledgerOf(st, ev).attempts += k;
}

/** The process authenticated: nothing it logs later is an unconfirmed attempt. */
export function successLine(st: DecodeState, ev: TwEvent): void {
  if (st.repeated) return;
  const l = st.ledger.get(ev);
  if (l !== undefined) l.pending = false;
}

/** The process is done with authentication (PAM's final summary): forget it. */
export function forgetProcess(st: DecodeState, ev: TwEvent): void {
  if (!st.repeated) st.ledger.delete(ev);
}
