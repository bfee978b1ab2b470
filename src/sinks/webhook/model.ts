// What a notification is, independent of where it goes, and the pieces every
// format shares: a one-line summary per alert, links into the web console.
import type { Alert, SeverityName } from '../../event.js';
import { alertHosts, alertSeverity } from './matchers.js';

export interface Notification {
  /** Stable per notification (the Standard Webhooks webhook-id): the same across retries and restarts. */
  id: string;
  receiver: string;
  route: string;
  groupKey: string;
  groupLabels: Record<string, string>;
  alerts: Alert[];
  /** The first notification for these alerts, or a repeat of alerts still firing. */
  repeat: boolean;
  /** resolved: the group went quiet for resolve_timeout (sent only to receivers with send_resolved). */
  status?: 'firing' | 'resolved';
  createdAt: string;
}

export interface FormatOptions {
  publicUrl?: string;
  maxAlerts: number;
  maxEvents: number;
}

export interface Formatted {
  body: string;
  headers?: Record<string, string>;
}

/** The alert's group key as text: "source.ip=203.0.113.9, user.name=root". */
export function groupText(alert: Alert): string {
  const g = alert.trailwatch?.alert?.group ?? {};
  return Object.keys(g)
    .sort()
    .map((k) => `${k}=${g[k]}`)
    .join(', ');
}

export function highestSeverity(alerts: readonly Alert[]): SeverityName {
  const order: SeverityName[] = ['low', 'medium', 'high', 'critical'];
  let best = 0;
  for (const a of alerts) best = Math.max(best, order.indexOf(alertSeverity(a)));
  return order[best];
}

export function alertTitle(a: Alert): string {
  const g = groupText(a);
  return `${a.rule?.name ?? a.rule?.id ?? 'alert'}${g ? ` (${g})` : ''}`;
}

export function notificationTitle(n: Notification): string {
  const first = n.alerts[0];
  const sev = highestSeverity(n.alerts).toUpperCase();
  const more = n.alerts.length > 1 ? ` and ${n.alerts.length - 1} more` : '';
  if (n.status === 'resolved') return `[RESOLVED] ${first ? alertTitle(first) : 'alerts'}${more}`;
  return `[${sev}]${n.repeat ? ' (still firing)' : ''} ${first ? alertTitle(first) : 'alerts'}${more}`;
}

function base(publicUrl: string): string {
  return publicUrl.replace(/\/+$/, '');
}

/**
 * Where to look: the session playback at the moment of the alert when it came
 * from a gateway session, else a search for the alert's group over its window.
 */
export function alertLink(a: Alert, publicUrl: string | undefined): string | undefined {
  if (!publicUrl) return undefined;
  const session = a.trailwatch?.session;
  if (session?.id) {
    const t = typeof session.offset === 'number' ? `?t=${Math.max(0, Math.floor(session.offset))}` : '';
    return `${base(publicUrl)}/sessions/${encodeURIComponent(session.id)}${t}`;
  }
  const g = a.trailwatch?.alert?.group ?? {};
  const terms = [`rule.id:"${a.rule?.id ?? ''}"`, ...Object.keys(g).sort().map((k) => `${k}:"${g[k]}"`)];
  const params = new URLSearchParams({ q: terms.join(' AND ') });
  const al = a.trailwatch?.alert;
  if (al?.first_seen) params.set('from', al.first_seen);
  if (al?.last_seen) params.set('to', al.last_seen);
  params.set('alert', a.event.id);
  return `${base(publicUrl)}/search?${params.toString()}`;
}

/** Where the alert happened, for PagerDuty's source and chat summaries. */
export function alertSource(a: Alert): string {
  return alertHosts(a)[0] ?? a.source?.ip ?? a.trailwatch?.alert?.group?.['source.ip'] ?? a.observer?.hostname ?? 'trailwatch';
}

export function truncate(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, Math.max(0, max - 1)) + '…';
}
