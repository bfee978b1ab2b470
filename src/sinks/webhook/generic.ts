// Generic JSON (signed per Standard Webhooks by the deliverer): the alerts with
// rule, severity, group, first/last seen, count, capped contributing events and
// a link to the console. Shape follows the spec's {type, timestamp, data}.
import { SEVERITY_SCORE, type Alert } from '../../event.js';
import { alertSeverity } from './matchers.js';
import { alertLink, highestSeverity, notificationTitle, type FormatOptions, type Formatted, type Notification } from './model.js';

export function alertView(a: Alert, o: FormatOptions) {
  const al = a.trailwatch.alert;
  const events = al?.events ?? [];
  const sev = alertSeverity(a);
  return {
    id: a.event.id,
    timestamp: a['@timestamp'],
    rule: a.rule,
    severity: sev,
    severity_score: a.event.severity ?? SEVERITY_SCORE[sev],
    message: a.message,
    group: al?.group ?? {},
    count: al?.count ?? events.length,
    first_seen: al?.first_seen,
    last_seen: al?.last_seen,
    events: events.slice(0, o.maxEvents),
    events_truncated: Math.max(0, events.length - o.maxEvents),
    tags: a.tags,
    host: a.host,
    source: a.source,
    user: a.user,
    session: a.trailwatch.session,
    collation: a.trailwatch.collation,
    threat: a.threat,
    link: alertLink(a, o.publicUrl),
  };
}

export function formatGeneric(n: Notification, o: FormatOptions): Formatted {
  const shown = n.alerts.slice(0, o.maxAlerts);
  const body = {
    type: n.status === 'resolved' ? 'trailwatch.alert.resolved' : n.repeat ? 'trailwatch.alert.repeat' : 'trailwatch.alert',
    timestamp: n.createdAt,
    data: {
      title: notificationTitle(n),
      severity: highestSeverity(n.alerts),
      receiver: n.receiver,
      route: n.route,
      group_key: n.groupKey,
      group_labels: n.groupLabels,
      repeat: n.repeat,
      status: n.status ?? 'firing',
      alert_count: n.alerts.length,
      alerts_truncated: n.alerts.length - shown.length,
      alerts: shown.map((a) => alertView(a, o)),
      link: shown[0] ? alertLink(shown[0], o.publicUrl) : undefined,
    },
  };
  return { body: JSON.stringify(body) };
}
