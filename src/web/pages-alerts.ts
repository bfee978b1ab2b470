// The alerts inbox and an alert's page. Alerts are built from log lines, so
// every value in them is attacker-controlled: all of it goes through `html`.
import type { TwEvent } from '../event.js';
import type { AlertFilter, AlertHistoryEntry, StoredAlert } from '../store/index.js';
import { ALERT_STATUSES } from '../store/schema.js';
import { html, printable, type SafeHtml } from './html.js';
import { csrfField, fmtTime, inputTime, layout, sessionLink, type Viewer } from './pages.js';

const STATUS_LABEL: Record<string, string> = { new: 'new', acknowledged: 'acknowledged', resolved: 'resolved', false_positive: 'false positive' };

/** A link into event search for these event ids. */
export function eventsSearchLink(ids: string[]): string {
  return `/search?${new URLSearchParams({ q: ids.map((i) => `event.id:"${i.replace(/["\\]/g, '\\$&')}"`).join(' or ') })}`;
}

function options(values: readonly string[], chosen: string | undefined, label = (v: string) => v): SafeHtml {
  return html`<option value="">any</option>${values.map((v) => html`<option value="${v}"${v === chosen ? html` selected` : ''}>${label(v)}</option>`)}`;
}

function statusSelect(name: string, chosen?: string): SafeHtml {
  return html`<select name="${name}" required>${ALERT_STATUSES.map((s) => html`<option value="${s}"${s === chosen ? html` selected` : ''}>${STATUS_LABEL[s]}</option>`)}</select>`;
}

function groupText(a: StoredAlert['alert']): string {
  return Object.entries(a.trailwatch.alert.group ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

export function alertsPage(f: AlertFilter, alerts: StoredAlert[], menus: { rules: string[]; severities: string[] }, who: Viewer, notice?: string, unavailable?: string): string {
  const rows = alerts.map((s) => {
    const a = s.alert;
    return html`<tr data-alert="${a.event.id}" class="sev-${a.trailwatch.alert.severity}">
<td><input type="checkbox" name="id" value="${a.event.id}" form="bulk" aria-label="select"></td>
<td><a href="/alerts/${encodeURIComponent(a.event.id ?? '')}">${fmtTime(a['@timestamp'])}</a></td>
<td class="severity">${a.trailwatch.alert.severity}</td>
<td>${a.rule.name ?? a.rule.id} <span class="muted">${a.rule.id}</span></td>
<td><code>${printable(groupText(a))}</code></td>
<td>${a.trailwatch.alert.count}</td>
<td class="status">${STATUS_LABEL[s.status] ?? s.status}${s.status_by ? html` <span class="muted">(${s.status_by})</span>` : ''}</td>
</tr>`;
  });
  return layout(
    'Alerts',
    html`<h1>Alerts</h1>
<form method="get" action="/alerts" class="search" role="search">
<label>Status <select name="status">${options(ALERT_STATUSES, f.status, (v) => STATUS_LABEL[v])}</select></label>
<label>Rule <select name="rule">${options(menus.rules, f.rule)}</select></label>
<label>Severity <select name="severity">${options(menus.severities, f.severity)}</select></label>
<label>Host <input name="host" value="${f.host ?? ''}"></label>
<label>User <input name="user" value="${f.user ?? ''}"></label>
<label>Source address <input name="source" value="${f.source ?? ''}"></label>
<label>From (UTC) <input type="datetime-local" name="from" value="${inputTime(f.from)}"></label>
<label>To (UTC) <input type="datetime-local" name="to" value="${inputTime(f.to)}"></label>
<button type="submit">Filter</button>
</form>
${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
${unavailable ? html`<p class="error" role="alert">${unavailable}</p>` : ''}
<form method="post" action="/alerts/status" id="bulk" class="bulk">${csrfField(who)}
<label>Set the selected to ${statusSelect('status', 'acknowledged')}</label>
<label>Note <input name="note" maxlength="500"></label>
<button type="submit">Apply</button>
</form>
<p class="muted">${alerts.length} alert(s), newest first</p>
<table class="alerts"><thead><tr><th></th><th>Time</th><th>Severity</th><th>Rule</th><th>Group</th><th>Count</th><th>Status</th></tr></thead>
<tbody>${rows}</tbody></table>`,
    who,
  );
}

function eventRow(e: TwEvent): SafeHtml {
  return html`<tr data-event="${e.event.id}"><td><a href="${eventsSearchLink([e.event.id ?? ''])}">${fmtTime(e['@timestamp'])}</a></td><td>${e.host?.name ?? ''}</td><td>${e.user?.name ?? ''}</td><td>${e.source?.ip ?? ''}</td><td><code>${printable(e.message ?? e.event.original ?? '')}</code></td></tr>`;
}

export function alertPage(s: StoredAlert & { history: AlertHistoryEntry[] }, events: TwEvent[], who: Viewer): string {
  const a = s.alert;
  const al = a.trailwatch.alert;
  const session = a.trailwatch.session;
  return layout(
    `Alert ${a.rule.name ?? a.rule.id}`,
    html`<h1>${a.rule.name ?? a.rule.id}</h1>
<dl class="alert">
<dt>Rule</dt><dd>${a.rule.id}${a.rule.description ? html` — ${a.rule.description}` : ''}</dd>
<dt>Severity</dt><dd class="severity">${al.severity}</dd>
<dt>Status</dt><dd class="status">${STATUS_LABEL[s.status] ?? s.status}${s.status_by ? html` by ${s.status_by} at ${fmtTime(s.status_at)}` : ''}</dd>
<dt>Message</dt><dd><code>${printable(a.message ?? '')}</code></dd>
<dt>Group</dt><dd><code>${printable(groupText(a))}</code></dd>
<dt>Events</dt><dd>${al.count}, ${fmtTime(al.first_seen)} – ${fmtTime(al.last_seen)}</dd>
${session?.id ? html`<dt>Gateway session</dt><dd><a class="replay" href="${sessionLink(session.id, session.offset, session.recording)}">Replay${session.offset !== undefined ? ' at the command' : ''}</a> <span class="muted">${session.operator ?? ''} → ${session.account ?? ''}@${session.target ?? ''}</span></dd>` : ''}
</dl>
<form method="post" action="/alerts/${encodeURIComponent(a.event.id ?? '')}/status" class="triage">${csrfField(who)}
<label>Status ${statusSelect('status', s.status === 'new' ? 'acknowledged' : s.status)}</label>
<label>Note <input name="note" maxlength="500"></label>
<button type="submit">Save</button>
</form>
<h2>History</h2>
${s.history.length ? html`<ol class="history">${s.history.map((h) => html`<li>${fmtTime(h.at)} <b>${h.by}</b>: ${STATUS_LABEL[h.status] ?? h.status}${h.note ? html` — ${h.note}` : ''}</li>`)}</ol>` : html`<p class="muted">No changes yet.</p>`}
<h2>Events that raised it</h2>
${al.events.length ? html`<p><a href="${eventsSearchLink(al.events)}">Open in search</a></p>` : ''}
<table class="events"><thead><tr><th>Time</th><th>Host</th><th>User</th><th>Source</th><th>Message</th></tr></thead><tbody>${events.map(eventRow)}</tbody></table>
${events.length < al.events.length ? html`<p class="muted">${al.events.length - events.length} of the events are not in the store (older than its retention, or kept only in Elasticsearch).</p>` : ''}
<h2>Document</h2>
<pre><code>${JSON.stringify(a, null, 2)}</code></pre>`,
    who,
  );
}
