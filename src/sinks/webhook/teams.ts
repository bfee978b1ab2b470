// Microsoft Teams: an Adaptive Card message, as incoming webhooks and
// Workflows ("Post to a channel when a webhook request is received") accept:
// {type: "message", attachments: [{contentType: "application/vnd.microsoft.card.adaptive", content: AdaptiveCard}]}.
import { alertSeverity } from './matchers.js';
import { alertLink, alertTitle, groupText, highestSeverity, notificationTitle, truncate, type FormatOptions, type Formatted, type Notification } from './model.js';

export function formatTeams(n: Notification, o: FormatOptions): Formatted {
  const first = n.alerts[0];
  const al = first?.trailwatch.alert;
  const sev = highestSeverity(n.alerts);
  const facts = [
    { title: 'Severity', value: sev.toUpperCase() },
    { title: 'Rule', value: first?.rule?.id ?? '?' },
    { title: 'Group', value: first ? groupText(first) || '-' : '-' },
    { title: 'Count', value: String(al?.count ?? n.alerts.length) },
  ];
  if (al?.first_seen) facts.push({ title: 'First seen', value: al.first_seen });
  if (al?.last_seen) facts.push({ title: 'Last seen', value: al.last_seen });
  const body: Record<string, unknown>[] = [
    { type: 'TextBlock', text: truncate(notificationTitle(n), 300), weight: 'Bolder', size: 'Medium', wrap: true, color: sev === 'low' ? 'Default' : 'Attention' },
  ];
  if (first?.message) body.push({ type: 'TextBlock', text: truncate(first.message, 2000), wrap: true });
  body.push({ type: 'FactSet', facts });
  if (n.alerts.length > 1)
    body.push({
      type: 'TextBlock',
      wrap: true,
      text: n.alerts
        .slice(0, o.maxAlerts)
        .map((a) => `- ${alertSeverity(a).toUpperCase()} ${alertTitle(a)}`)
        .join('\n'),
    });
  const link = first ? alertLink(first, o.publicUrl) : undefined;
  const card = {
    $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
    type: 'AdaptiveCard',
    version: '1.4',
    body,
    ...(link ? { actions: [{ type: 'Action.OpenUrl', title: 'Open in trailwatch', url: link }] } : {}),
  };
  return { body: JSON.stringify({ type: 'message', attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: card }] }) };
}
