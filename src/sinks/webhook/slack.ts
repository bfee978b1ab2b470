// Slack incoming webhook: Block Kit blocks plus the top-level `text` Slack
// shows in notifications and to screen readers. Limits from the Block Kit
// reference: header text 150, section text 3000, ≤10 fields of ≤2000, 50 blocks.
import type { Alert } from '../../event.js';
import { alertSeverity } from './matchers.js';
import { alertLink, alertTitle, groupText, notificationTitle, truncate, type FormatOptions, type Formatted, type Notification } from './model.js';

/** Slack mrkdwn control characters (&, <, >) must be escaped in user text. */
export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const mrkdwn = (text: string, max = 2000) => ({ type: 'mrkdwn', text: truncate(text, max) });

function fields(a: Alert): { type: string; text: string }[] {
  const al = a.trailwatch.alert;
  const out = [
    mrkdwn(`*Severity*\n${alertSeverity(a).toUpperCase()}`),
    mrkdwn(`*Rule*\n\`${esc(a.rule?.id ?? '?')}\``),
    mrkdwn(`*Count*\n${al?.count ?? 1}`),
    mrkdwn(`*Group*\n${esc(groupText(a) || '-')}`),
  ];
  if (al?.first_seen) out.push(mrkdwn(`*First seen*\n${al.first_seen}`));
  if (al?.last_seen) out.push(mrkdwn(`*Last seen*\n${al.last_seen}`));
  if (a.host?.name) out.push(mrkdwn(`*Host*\n${esc(a.host.name)}`));
  if (a.user?.name) out.push(mrkdwn(`*User*\n${esc(a.user.name)}`));
  return out.slice(0, 10);
}

export function formatSlack(n: Notification, o: FormatOptions): Formatted {
  const title = notificationTitle(n);
  const first = n.alerts[0];
  const blocks: Record<string, unknown>[] = [{ type: 'header', text: { type: 'plain_text', text: truncate(title, 150), emoji: false } }];
  if (first?.message) blocks.push({ type: 'section', text: mrkdwn(esc(first.message), 3000) });
  if (first) blocks.push({ type: 'section', fields: fields(first) });
  if (n.alerts.length > 1) {
    const lines = n.alerts.slice(0, o.maxAlerts).map((a) => `• *${alertSeverity(a).toUpperCase()}* ${esc(alertTitle(a))} ×${a.trailwatch.alert?.count ?? 1}`);
    if (n.alerts.length > o.maxAlerts) lines.push(`…and ${n.alerts.length - o.maxAlerts} more`);
    blocks.push({ type: 'section', text: mrkdwn(lines.join('\n'), 3000) });
  }
  const link = first ? alertLink(first, o.publicUrl) : undefined;
  if (link && link.length <= 3000)
    blocks.push({ type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Open in trailwatch' }, url: link, action_id: 'trailwatch-open' }] });
  blocks.push({ type: 'context', elements: [mrkdwn(`trailwatch · route ${esc(n.route)} · ${n.alerts.length} alert(s)`)] });
  const summary = first?.message ? ` ${first.message}` : '';
  return { body: JSON.stringify({ text: truncate(title + summary, 3000), blocks: blocks.slice(0, 50) }) };
}
