// What the schedules need to know from the events topic, kept small and
// persisted under data_dir/jobs/state.json: when each host was last heard
// from, and hourly login counters per managed account for the report.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { TwEvent } from '../event.js';

export interface AccountCounts {
  gateway: number;
  direct: number;
  unknown: number;
  failed: number;
  sources: Record<string, number>;
}
export interface HostSeen {
  /** Receive time (ms): the event's own clock may be wrong or replayed. */
  lastSeen: number;
  /** lastSeen at the time a silent-host alert went out: one alert per silence. */
  alertedFor?: number;
}
interface TrackerDoc {
  version: 1;
  hosts: Record<string, HostSeen>;
  buckets: Record<string, Record<string, AccountCounts>>;
}

const HOUR = 3_600_000;
const MAX_HOSTS = 100_000;
const MAX_SOURCES = 500;

export class Tracker {
  hosts = new Map<string, HostSeen>();
  /** hour start (ms) -> account -> counts */
  buckets = new Map<number, Map<string, AccountCounts>>();
  private readonly managed: Set<string>;

  constructor(
    readonly file: string,
    managedAccounts: readonly string[],
    private readonly keepMs: number,
  ) {
    this.managed = new Set(managedAccounts);
  }

  observe(events: readonly TwEvent[], now: number): void {
    for (const ev of events) {
      const host = ev.host?.name;
      if (host && (this.hosts.has(host) || this.hosts.size < MAX_HOSTS)) {
        const h = this.hosts.get(host);
        if (h) h.lastSeen = Math.max(h.lastSeen, now);
        else this.hosts.set(host, { lastSeen: now });
      }
      this.countLogin(ev, now);
    }
    // Prune once per batch, not per event.
    for (const k of this.buckets.keys()) if (k < now - this.keepMs) this.buckets.delete(k);
  }

  /** One login attempt (vocabulary: category authentication, type start) to a managed account. */
  private countLogin(ev: TwEvent, now: number): void {
    const e = ev.event;
    if (!e?.category?.includes('authentication') || !e.type?.includes('start')) return;
    const account = ev.user?.name;
    const verdict = ev.trailwatch?.collation?.verdict;
    if (!account || (!verdict && !this.managed.has(account))) return;
    const hour = Math.floor(now / HOUR) * HOUR;
    let b = this.buckets.get(hour);
    if (!b) this.buckets.set(hour, (b = new Map()));
    let c = b.get(account);
    if (!c) b.set(account, (c = { gateway: 0, direct: 0, unknown: 0, failed: 0, sources: {} }));
    const n = ev.event.count ?? 1;
    if (e.outcome === 'failure') c.failed += n;
    else if (e.outcome === 'success') {
      if (verdict === 'gateway') c.gateway += n;
      else if (verdict === 'direct') c.direct += n;
      else c.unknown += n;
    }
    const ip = ev.source?.ip;
    if (ip && (ip in c.sources || Object.keys(c.sources).length < MAX_SOURCES)) c.sources[ip] = (c.sources[ip] ?? 0) + n;
  }

  /** Counts per account over [from, to). */
  window(from: number, to: number): Map<string, AccountCounts> {
    const out = new Map<string, AccountCounts>();
    for (const [hour, accounts] of this.buckets) {
      if (hour + HOUR <= from || hour >= to) continue;
      for (const [acct, c] of accounts) {
        let o = out.get(acct);
        if (!o) out.set(acct, (o = { gateway: 0, direct: 0, unknown: 0, failed: 0, sources: {} }));
        o.gateway += c.gateway;
        o.direct += c.direct;
        o.unknown += c.unknown;
        o.failed += c.failed;
        for (const [ip, n] of Object.entries(c.sources)) o.sources[ip] = (o.sources[ip] ?? 0) + n;
      }
    }
    return out;
  }

  async load(): Promise<void> {
    let doc: TrackerDoc;
    try {
      doc = JSON.parse(await readFile(this.file, 'utf8')) as TrackerDoc;
    } catch {
      return; // missing or torn: start afresh (hosts are relearned from the next events)
    }
    this.hosts = new Map(Object.entries(doc.hosts ?? {}));
    this.buckets = new Map(Object.entries(doc.buckets ?? {}).map(([h, a]) => [Number(h), new Map(Object.entries(a))]));
  }

  async save(): Promise<void> {
    const doc: TrackerDoc = {
      version: 1,
      hosts: Object.fromEntries(this.hosts),
      buckets: Object.fromEntries([...this.buckets].map(([h, a]) => [String(h), Object.fromEntries(a)])),
    };
    await mkdir(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    await writeFile(tmp, JSON.stringify(doc));
    await rename(tmp, this.file);
  }
}
