// PagerDuty Events API v2 (POST https://events.pagerduty.com/v2/enqueue):
// routing_key + event_action "trigger" + payload {summary ≤1024, source,
// severity ∈ critical|error|warning|info}. dedup_key comes from the alert
// group, so a group's later notifications update one PagerDuty alert instead
// of opening new incidents, and a receiver with send_resolved closes it with
// event_action "resolve" when the group goes quiet.
import { createHash } from 'node:crypto';
import type { SeverityName } from '../../event.js';
import { alertView } from './generic.js';
import { alertLink, alertSource, highestSeverity, notificationTitle, truncate, type FormatOptions, type Formatted, type Notification } from './model.js';
import type { Secret } from './secret.js';

export const PAGERDUTY_URL = 'https://events.pagerduty.com/v2/enqueue';

export const PD_SEVERITY: Record<SeverityName, 'critical' | 'error' | 'warning' | 'info'> = {
  critical: 'critical',
  high: 'error',
  medium: 'warning',
  low: 'info',
};

/** ≤255 characters (the Events API limit); long keys are hashed. */
export function dedupKey(groupKey: string): string {
  const key = `trailwatch/${groupKey}`;
  return key.length <= 255 ? key : `trailwatch/sha256:${createHash('sha256').update(groupKey).digest('hex')}`;
}

export function formatPagerDuty(n: Notification, o: FormatOptions, routingKey: Secret): Formatted {
  // A resolve needs only the key of the alert it closes (Events API v2).
  if (n.status === 'resolved') return { body: JSON.stringify({ routing_key: routingKey.reveal(), event_action: 'resolve', dedup_key: dedupKey(n.groupKey) }) };
  const first = n.alerts[0];
  const shown = n.alerts.slice(0, o.maxAlerts);
  const link = first ? alertLink(first, o.publicUrl) : undefined;
  const body = {
    routing_key: routingKey.reveal(),
    event_action: 'trigger',
    dedup_key: dedupKey(n.groupKey),
    client: 'trailwatch',
    ...(o.publicUrl ? { client_url: o.publicUrl } : {}),
    payload: {
      summary: truncate(notificationTitle(n) + (first?.message ? `: ${first.message}` : ''), 1024),
      source: first ? alertSource(first) : 'trailwatch',
      severity: PD_SEVERITY[highestSeverity(n.alerts)],
      timestamp: first?.trailwatch.alert?.last_seen ?? first?.['@timestamp'] ?? n.createdAt,
      component: first?.rule?.id,
      group: first?.rule?.category ?? 'trailwatch',
      class: first?.rule?.id,
      custom_details: {
        group_key: n.groupKey,
        group_labels: n.groupLabels,
        repeat: n.repeat,
        alert_count: n.alerts.length,
        alerts: shown.map((a) => alertView(a, o)),
      },
    },
    ...(link ? { links: [{ href: link, text: 'Open in trailwatch' }] } : {}),
  };
  return { body: JSON.stringify(body) };
}
