// Aggregation groups with Alertmanager's timing:
//   group_wait       a new group waits this long (by the severity of its most
//                    severe alert) so a burst goes out as one notification;
//   group_interval   after a notification, new alerts in the group wait this
//                    long for the next one;
//   repeat_interval  alerts still firing (re-sent by the rules with the same
//                    id within resolve_timeout) are notified again this often.
// An alert id already notified to a receiver is never notified to it again
// except as a repeat, also across restarts (the state file remembers).
import { createHash } from 'node:crypto';
import { getField, splitPath, type Alert } from '../../event.js';
import type { Logger } from '../../log.js';
import type { Outcome } from './deliver.js';
import { alertSeverity } from './matchers.js';
import { groupText, type Notification } from './model.js';
import type { CompiledRoute } from './routes.js';
import type { PersistedEntry, PersistedGroup, WebhookState } from './state.js';

const MAX_ENTRIES_PER_GROUP = 500;

interface Group extends PersistedGroup {
  route: CompiledRoute;
  timer?: NodeJS.Timeout;
  busy: boolean;
  byId: Map<string, PersistedEntry>;
}

export interface GrouperDeps {
  state: WebhookState;
  deliver(n: Notification): Promise<Outcome>;
  silenced(alert: Alert): boolean;
  resolveTimeoutMs: number;
  /** Whether the receiver wants a notification when a group resolves. */
  sendResolved?(receiver: string): boolean;
  log: Logger;
  now?: () => number;
  onSilenced?(alert: Alert): void;
}

/** The values of the route's group_by fields for an alert ("alert.group" = the rule's group key). */
export function groupLabels(alert: Alert, groupBy: readonly string[]): Record<string, string> {
  if (groupBy.length === 1 && groupBy[0] === '...') return { 'alert.id': alert.event.id };
  const out: Record<string, string> = {};
  for (const f of groupBy) {
    if (f === 'alert.group') out[f] = groupText(alert);
    else if (f === 'severity') out[f] = alertSeverity(alert);
    else {
      const v = getField(alert, splitPath(f));
      out[f] = v === undefined || v === null ? '' : Array.isArray(v) ? v.join(',') : typeof v === 'object' ? JSON.stringify(v) : String(v);
    }
  }
  return out;
}

export class Grouper {
  readonly groups = new Map<string, Group>();
  private stopped = false;
  private readonly now: () => number;
  private readonly flushing = new Set<Promise<void>>();

  constructor(private readonly d: GrouperDeps) {
    this.now = d.now ?? Date.now;
  }

  accept(alert: Alert, route: CompiledRoute): void {
    if (this.d.silenced(alert)) {
      this.d.onSilenced?.(alert);
      return;
    }
    const now = this.now();
    const labels = groupLabels(alert, route.timing.groupBy);
    const key = `${route.id}|${route.receiver}|${Object.keys(labels).map((k) => `${k}=${labels[k]}`).join('|')}`;
    let g = this.groups.get(key);
    if (!g) {
      g = { key, routeId: route.id, receiver: route.receiver, labels, entries: [], firstAt: now, lastNotifiedAt: null, dueAt: null, seq: 0, route, busy: false, byId: new Map() };
      this.groups.set(key, g);
    }
    const id = alert.event.id;
    const known = g.byId.get(id);
    if (known) {
      known.alert = alert;
      known.receivedAt = now;
      return;
    }
    const entry: PersistedEntry = { alert, receivedAt: now, notified: this.d.state.isNotified(route.receiver, id) };
    g.byId.set(id, entry);
    g.entries.push(entry);
    this.trim(g);
    if (entry.notified) return;
    // First notification: group_wait from the group's start (the most severe alert decides);
    // later ones: group_interval after the last.
    const wait = route.timing.groupWait[alertSeverity(alert)];
    const due = g.lastNotifiedAt === null ? Math.max(now, g.firstAt + wait) : Math.max(now, g.lastNotifiedAt + route.timing.groupInterval);
    if (g.dueAt === null || due < g.dueAt) this.schedule(g, due);
  }

  private trim(g: Group): void {
    while (g.entries.length > MAX_ENTRIES_PER_GROUP) {
      let i = g.entries.findIndex((e) => e.notified);
      if (i < 0) i = 0;
      const [gone] = g.entries.splice(i, 1);
      g.byId.delete(gone.alert.event.id);
      if (!gone.notified) this.d.log.warn({ group: g.key }, 'alert group over capacity; oldest alert dropped from the notification');
    }
  }

  private schedule(g: Group, at: number): void {
    if (this.stopped) return;
    if (g.timer) clearTimeout(g.timer);
    g.dueAt = at;
    g.timer = setTimeout(() => this.runFlush(g), Math.max(0, at - this.now()));
    g.timer.unref();
  }

  private runFlush(g: Group): void {
    const p = this.flush(g).catch((err) => this.d.log.error({ err, group: g.key }, 'alert group flush failed'));
    this.flushing.add(p);
    void p.finally(() => this.flushing.delete(p));
  }

  private async flush(g: Group): Promise<void> {
    g.timer = undefined;
    g.dueAt = null;
    if (g.busy || this.stopped) return;
    const now = this.now();
    const { timing } = g.route;
    const resolved: PersistedEntry[] = [];
    const before = g.entries;
    g.entries = g.entries.filter((e) => {
      if (this.d.silenced(e.alert)) return false;
      if (e.notified && now - e.receivedAt > this.d.resolveTimeoutMs) {
        resolved.push(e);
        return false;
      }
      return true;
    });
    // The whole group went quiet after being notified: tell receivers that asked.
    if (!g.entries.length && resolved.length && g.lastNotifiedAt !== null && this.d.sendResolved?.(g.receiver)) {
      g.busy = true;
      let outcome: Outcome;
      try {
        outcome = await this.d.deliver(this.notification(g, resolved, false, now, 'resolved'));
      } finally {
        g.busy = false;
      }
      if (outcome === 'aborted') {
        // Shutting down: keep them (and anything accepted meanwhile) to resolve after the restart.
        g.entries = [...resolved, ...g.entries];
        return;
      }
    }
    const kept = new Set(g.entries);
    for (const e of before) if (!kept.has(e)) g.byId.delete(e.alert.event.id);
    const fresh = g.entries.filter((e) => !e.notified);
    let batch: PersistedEntry[] = [];
    let repeat = false;
    if (fresh.length) batch = fresh;
    else if (g.entries.length && g.lastNotifiedAt !== null && now - g.lastNotifiedAt >= timing.repeatInterval) {
      batch = g.entries;
      repeat = true;
    }
    if (batch.length) {
      g.busy = true;
      const n = this.notification(g, batch, repeat, now);
      let outcome: Outcome;
      try {
        outcome = await this.d.deliver(n);
      } finally {
        g.busy = false;
      }
      if (outcome === 'aborted') return; // shutting down: the state file still holds them as pending
      g.seq++;
      g.lastNotifiedAt = now;
      for (const e of batch) {
        e.notified = true;
        this.d.state.markNotified(g.receiver, e.alert.event.id, now);
      }
    }
    if (!g.entries.length) this.groups.delete(g.key);
    else if (g.entries.some((e) => !e.notified)) this.schedule(g, Math.max(this.now(), (g.lastNotifiedAt ?? now) + timing.groupInterval));
    else this.schedule(g, this.nextCheck(g));
    await this.d.state.save();
  }

  /** When an all-notified group next needs a look: a repeat or the oldest alert resolving. */
  private nextCheck(g: Group): number {
    const oldest = Math.min(...g.entries.map((e) => e.receivedAt));
    const resolveAt = oldest + this.d.resolveTimeoutMs + 1;
    const repeatAt = (g.lastNotifiedAt ?? this.now()) + g.route.timing.repeatInterval;
    // Checks happen on group_interval ticks, as Alertmanager's do.
    const tick = g.route.timing.groupInterval;
    const next = Math.min(resolveAt, repeatAt);
    return Math.max(this.now() + 1, g.lastNotifiedAt === null ? next : g.lastNotifiedAt + Math.ceil((next - g.lastNotifiedAt) / tick) * tick);
  }

  private notification(g: Group, batch: PersistedEntry[], repeat: boolean, now: number, status: 'firing' | 'resolved' = 'firing'): Notification {
    const ids = batch.map((e) => e.alert.event.id);
    const digest = createHash('sha256').update(`${g.key}\u0000${g.seq}\u0000${repeat}\u0000${status === 'resolved' ? 'resolved\u0000' : ''}${ids.join(',')}`).digest('base64url');
    return {
      id: `msg_${digest.slice(0, 27)}`,
      receiver: g.receiver,
      route: g.route.name,
      groupKey: g.key,
      groupLabels: g.labels,
      alerts: batch.map((e) => e.alert),
      repeat,
      status,
      createdAt: new Date(now).toISOString(),
    };
  }

  snapshot(): PersistedGroup[] {
    return [...this.groups.values()].map((g) => ({
      key: g.key,
      routeId: g.routeId,
      receiver: g.receiver,
      labels: g.labels,
      entries: g.entries,
      firstAt: g.firstAt,
      lastNotifiedAt: g.lastNotifiedAt,
      dueAt: g.dueAt,
      seq: g.seq,
    }));
  }

  /** Reopen groups from the state file; alerts of routes that no longer exist are routed afresh. */
  restore(groups: PersistedGroup[], routes: ReadonlyMap<string, CompiledRoute>, reroute: (a: Alert) => void): void {
    const now = this.now();
    for (const p of groups) {
      const route = routes.get(p.routeId);
      if (!route || route.receiver !== p.receiver) {
        for (const e of p.entries) if (!e.notified) reroute(e.alert);
        continue;
      }
      const g: Group = { ...p, route, busy: false, byId: new Map(p.entries.map((e) => [e.alert.event.id, e])) };
      this.groups.set(p.key, g);
      const pending = g.entries.some((e) => !e.notified);
      this.schedule(g, pending ? Math.max(now, p.dueAt ?? now) : this.nextCheck(g));
    }
  }

  /** Stop timers; in-flight deliveries are aborted by the caller's signal and stay pending. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const g of this.groups.values()) if (g.timer) clearTimeout(g.timer);
    await Promise.allSettled([...this.flushing]);
  }
}
