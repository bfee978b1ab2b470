// The collation report as a document, and as each receiver type shows it.
import type { ReceiverConfig } from '../sinks/webhook-config.js';
import type { Formatted } from '../sinks/webhook/model.js';
import { esc } from '../sinks/webhook/slack.js';
import { truncate } from '../sinks/webhook/model.js';
import type { AccountCounts } from './tracker.js';

export interface AccountRow {
  account: string;
  gateway: number;
  direct: number;
  unknown: number;
  failed: number;
  top_sources: { ip: string; count: number }[];
}
export interface CollationReport {
  type: 'collation';
  generated_at: string;
  window: { start: string; end: string };
  totals: { gateway: number; direct: number; unknown: number; failed: number };
  accounts: AccountRow[];
}

export function buildReport(counts: Map<string, AccountCounts>, from: number, to: number, top: number): CollationReport {
  const accounts: AccountRow[] = [...counts].map(([account, c]) => ({
    account,
    gateway: c.gateway,
    direct: c.direct,
    unknown: c.unknown,
    failed: c.failed,
    top_sources: Object.entries(c.sources)
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, top)
      .map(([ip, count]) => ({ ip, count })),
  }));
  // Logins that bypassed the gateway first: they are what the report is for.
  accounts.sort((a, b) => b.direct - a.direct || b.failed - a.failed || a.account.localeCompare(b.account));
  const totals = { gateway: 0, direct: 0, unknown: 0, failed: 0 };
  for (const a of accounts) {
    totals.gateway += a.gateway;
    totals.direct += a.direct;
    totals.unknown += a.unknown;
    totals.failed += a.failed;
  }
  return { type: 'collation', generated_at: new Date(to).toISOString(), window: { start: new Date(from).toISOString(), end: new Date(to).toISOString() }, totals, accounts };
}

function line(a: AccountRow): string {
  const src = a.top_sources.map((s) => `${s.ip}×${s.count}`).join(', ');
  return `${a.account}: gateway ${a.gateway}, direct ${a.direct}, failed ${a.failed}${src ? ` (sources ${src})` : ''}`;
}

export function formatReport(r: ReceiverConfig, rep: CollationReport): Formatted {
  const title = `trailwatch collation report ${rep.window.start.slice(0, 16)} – ${rep.window.end.slice(0, 16)} UTC`;
  const summary = `Logins to managed accounts: ${rep.totals.gateway} through the gateway, ${rep.totals.direct} direct, ${rep.totals.failed} failed.`;
  if (r.type === 'slack') {
    const rows = rep.accounts.slice(0, 40).map((a) => `• ${esc(line(a))}`);
    return {
      body: JSON.stringify({
        text: `${title}: ${summary}`,
        blocks: [
          { type: 'header', text: { type: 'plain_text', text: truncate('trailwatch collation report', 150) } },
          { type: 'section', text: { type: 'mrkdwn', text: truncate(`${esc(summary)}\n_${esc(title)}_`, 3000) } },
          ...(rows.length ? [{ type: 'section', text: { type: 'mrkdwn', text: truncate(rows.join('\n'), 3000) } }] : []),
        ],
      }),
    };
  }
  if (r.type === 'teams') {
    const card = {
      $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
      type: 'AdaptiveCard',
      version: '1.4',
      body: [
        { type: 'TextBlock', text: title, weight: 'Bolder', wrap: true },
        { type: 'TextBlock', text: summary, wrap: true },
        { type: 'FactSet', facts: rep.accounts.slice(0, 40).map((a) => ({ title: a.account, value: line(a).slice(a.account.length + 2) })) },
      ],
    };
    return { body: JSON.stringify({ type: 'message', attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: card }] }) };
  }
  return { body: JSON.stringify({ type: 'trailwatch.report.collation', timestamp: rep.generated_at, data: rep }) };
}
