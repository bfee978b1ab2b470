// Server-rendered pages. Every dynamic value goes through `html` (escaped);
// the playback page hands its data to the client script as escaped JSON.
import type { LiveSession } from '../gateway/live.js';
import type { TransferRequest } from './approvals.js';
import { html, jsonForScript, printable, type SafeHtml } from './html.js';
import type { SessionSummary } from './recordings.js';
import type { SessionQuery } from './sources.js';

/** Who is looking, and the CSRF token their forms carry. */
export interface Viewer {
  name: string;
  csrf: string;
}

/** The hidden field every POST form needs. */
export function csrfField(who: Viewer): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${who.csrf}">`;
}

export function layout(title: string, body: SafeHtml, who?: Viewer, opts: { styles?: string[] } = {}): string {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · trailwatch</title>
${(opts.styles ?? []).map((s) => html`<link rel="stylesheet" href="/assets/${s}">`)}<link rel="stylesheet" href="/assets/console.css">
</head><body>
<header><a class="brand" href="/sessions">trailwatch</a>
${who ? html`<nav><a href="/overview">Overview</a><a href="/alerts">Alerts</a><a href="/search">Search</a><a href="/sessions">Sessions</a><a href="/live">Live</a><a href="/approvals">Approvals</a></nav>
<form class="logout" method="post" action="/logout">${csrfField(who)}<span class="who">${who.name}</span><button type="submit">Log out</button></form>` : ''}
</header>
<main>${body}</main>
</body></html>`.value;
}

export function loginPage(opts: { next?: string; error?: string }): string {
  return layout(
    'Log in',
    html`<h1>Log in</h1>
${opts.error ? html`<p class="error" role="alert">${opts.error}</p>` : ''}
<form method="post" action="/login" class="login">
<input type="hidden" name="next" value="${opts.next ?? '/sessions'}">
<label>Access token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
<button type="submit">Log in</button>
</form>`,
  );
}

export function fmtTime(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function fmtOffset(s: number): string {
  const m = Math.floor(s / 60);
  const sec = Math.floor(s % 60);
  return `${m}:${String(sec).padStart(2, '0')}`;
}

export function inputTime(d: Date | undefined): string {
  return d ? d.toISOString().slice(0, 16) : '';
}

export function sessionLink(id: string, offset?: number, recording?: string): string {
  const q = new URLSearchParams();
  if (recording && recording !== id) q.set('rec', recording);
  if (offset !== undefined) q.set('t', String(Math.max(0, Math.round(offset * 1000) / 1000)));
  const qs = q.toString();
  return `/sessions/${encodeURIComponent(id)}${qs ? `?${qs}` : ''}`;
}

export function sessionsPage(q: SessionQuery, results: SessionSummary[], who: Viewer, source: string, error?: string): string {
  const rows = results.map(
    (s) => html`<tr data-session="${s.id}">
<td><a href="${sessionLink(s.id, undefined, s.recording)}">${fmtTime(s.started_at)}</a></td><td>${s.operator ?? ''}</td><td>${s.account ?? ''}</td><td>${s.target ?? ''}</td>
<td>${fmtTime(s.ended_at)}</td>
<td><ul class="cmds">${s.commands.slice(0, 8).map((c) => html`<li><a href="${sessionLink(s.id, c.offset, s.recording)}"><code>${printable(c.command)}</code></a></li>`)}${s.commands.length > 8 ? html`<li>… ${s.commands.length - 8} more</li>` : ''}</ul></td>
</tr>`,
  );
  return layout(
    'Sessions',
    html`<h1>Sessions</h1>
<form method="get" action="/sessions" class="search" role="search">
<label>Command contains <input name="q" value="${q.command ?? ''}"></label>
<label>Operator <input name="operator" value="${q.operator ?? ''}"></label>
<label>Account <input name="account" value="${q.account ?? ''}"></label>
<label>Target <input name="target" value="${q.target ?? ''}"></label>
<label>From (UTC) <input type="datetime-local" name="from" value="${inputTime(q.from)}"></label>
<label>To (UTC) <input type="datetime-local" name="to" value="${inputTime(q.to)}"></label>
<button type="submit">Search</button>
</form>
${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<p class="muted">${results.length} session(s) · source: ${source}</p>
<table class="sessions"><thead><tr><th>Started</th><th>Operator</th><th>Account</th><th>Target</th><th>Ended</th><th>${q.command ? 'Matching commands' : 'Commands'}</th></tr></thead>
<tbody>${rows}</tbody></table>`,
    who,
  );
}

export function playbackPage(s: SessionSummary, startAt: number | undefined, who: Viewer, rec: { recordings: string[]; chosen?: string }): string {
  const cast = rec.chosen ? `/sessions/${encodeURIComponent(s.id)}/recording.cast?rec=${encodeURIComponent(rec.chosen)}` : null;
  const data = { id: s.id, cast, startAt: startAt ?? null, commands: s.commands.map((c) => ({ offset: c.offset, command: c.command })) };
  return layout(
    `Session ${s.id}`,
    html`<h1>Session <code>${s.id}</code></h1>
<p class="meta">${s.operator ?? '?'} → ${s.account ?? '?'}@${s.target ?? '?'} · started ${fmtTime(s.started_at)}${s.ended_at ? html` · ended ${fmtTime(s.ended_at)}` : ''}</p>
${rec.recordings.length > 1 ? html`<p class="channels">Recordings: ${rec.recordings.map((r) => (r === rec.chosen ? html`<strong>${r}</strong> ` : html`<a href="${sessionLink(s.id, undefined, r)}">${r}</a> `))}</p>` : ''}
<div class="playback">
${cast ? html`<div id="player" class="player"></div>` : html`<p id="no-recording" class="error" role="alert">The recording of this session is not on this console's host (web.recordings_dir). The commands are listed from the session log.</p>`}
<aside><h2>Commands</h2>
<ol id="commands" class="commands">${s.commands.map(
      (c, i) => html`<li><button type="button" data-index="${i}" data-offset="${c.offset}" class="${c.blocked ? 'blocked' : ''}"><span class="at">${fmtOffset(c.offset)}</span> <code>${printable(c.command)}</code>${c.blocked ? html` <em>blocked</em>` : ''}</button></li>`,
    )}</ol></aside>
</div>
<script id="tw-session" type="application/json">${jsonForScript(data)}</script>
<link rel="stylesheet" href="/assets/asciinema-player.css">
<script src="/assets/asciinema-player.min.js"></script>
<script src="/assets/console.js"></script>`,
    who,
  );
}

export function approvalsPage(pending: TransferRequest[], decided: TransferRequest[], who: Viewer, notice?: string): string {
  const row = (r: TransferRequest, actions: boolean) => html`<tr data-request="${r.id}" data-status="${r.status}">
<td>${fmtTime(r.requested_at)}</td><td>${r.operator}</td><td>${r.account ?? ''}@${r.target}</td><td><code>${printable(r.path)}</code></td><td>${r.direction}</td>
<td class="status">${r.status}${r.decided_by ? html` by ${r.decided_by}` : ''}</td>
<td>${actions ? html`<form method="post" action="/approvals/${encodeURIComponent(r.id)}/approve">${csrfField(who)}<button type="submit" class="approve">Approve</button></form>
<form method="post" action="/approvals/${encodeURIComponent(r.id)}/deny">${csrfField(who)}<button type="submit" class="deny">Deny</button></form>` : fmtTime(r.decided_at)}</td></tr>`;
  const head = html`<thead><tr><th>Requested</th><th>Operator</th><th>Account@target</th><th>Path</th><th>Direction</th><th>Status</th><th></th></tr></thead>`;
  return layout(
    'Approvals',
    html`<h1>Transfer approvals</h1>
${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
<h2>Pending (${pending.length})</h2>
<table class="approvals pending">${head}<tbody>${pending.map((r) => row(r, true))}</tbody></table>
<h2>Decided</h2>
<table class="approvals decided">${head}<tbody>${decided.map((r) => row(r, false))}</tbody></table>`,
    who,
  );
}

export function livePage(sessions: LiveSession[], who: Viewer, notice?: string): string {
  const rows = sessions.map(
    (s) => html`<tr data-session="${s.id}">
<td>${fmtTime(s.started_at)}</td><td>${s.operator}</td><td>${s.account}@${s.target}</td><td>${s.source_ip}</td>
<td><a class="watch" href="/live/${encodeURIComponent(s.id)}/watch">Watch</a></td>
<td>${s.termination
      ? html`<span class="status">terminating (${s.termination.by})</span>`
      : html`<form method="post" action="/live/${encodeURIComponent(s.id)}/terminate" class="terminate">${csrfField(who)}<label>Reason <input name="reason" maxlength="200" required></label><button type="submit" class="deny">Terminate</button></form>`}</td></tr>`,
  );
  return layout(
    'Live sessions',
    html`<h1>Live sessions</h1>
${notice ? html`<p class="notice" role="status">${notice}</p>` : ''}
<p class="muted">Sessions open on the gateway now (${sessions.length}). Terminating one tells the operator the reason, disconnects them, and rotates the account's password.</p>
<table class="live"><thead><tr><th>Started</th><th>Operator</th><th>Account@target</th><th>From</th><th></th><th></th></tr></thead>
<tbody>${rows}</tbody></table>`,
    who,
  );
}

export function watchPage(s: LiveSession, who: Viewer): string {
  const data = { live: `/live/${encodeURIComponent(s.id)}/feed` };
  return layout(
    `Watching ${s.id}`,
    html`<h1>Watching <code>${s.id}</code></h1>
<p class="meta">${s.operator} → ${s.account}@${s.target} from ${s.source_ip} · started ${fmtTime(s.started_at)} · live</p>
<div class="playback"><div id="player" class="player"></div></div>
<script id="tw-session" type="application/json">${jsonForScript(data)}</script>
<link rel="stylesheet" href="/assets/asciinema-player.css">
<script src="/assets/asciinema-player.min.js"></script>
<script src="/assets/console.js"></script>`,
    who,
  );
}

export function messagePage(title: string, message: string, who?: Viewer): string {
  return layout(title, html`<h1>${title}</h1><p>${message}</p><p><a href="/sessions">Back to sessions</a></p>`, who);
}
