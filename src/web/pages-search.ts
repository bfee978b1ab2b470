// The event search page: query bar, time range, histogram, result table
// with chosen columns, each event whole on click (<details>, no script).
// Everything shown comes from log lines: all of it goes through `html`.
import type { TwEvent } from '../event.js';
import { html, printable } from './html.js';
import { fmtTime, inputTime, layout, type Viewer } from './pages.js';
import type { SearchRequest, SearchResult } from './search.js';

/** A dotted ECS field of an event, nested or written with dots. */
export function fieldOf(ev: unknown, field: string): unknown {
  let o: unknown = ev;
  const parts = field.split('.');
  for (let i = 0; i < parts.length; i++) {
    if (o === null || typeof o !== 'object') return undefined;
    const rest = parts.slice(i).join('.');
    if (rest in (o as Record<string, unknown>)) return (o as Record<string, unknown>)[rest];
    o = (o as Record<string, unknown>)[parts[i]];
  }
  return o;
}

function cell(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return v.map(cell).join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

const RANGE_LABELS: [string, string][] = [['15m', 'last 15 minutes'], ['1h', 'last hour'], ['24h', 'last 24 hours'], ['7d', 'last 7 days'], ['30d', 'last 30 days']];

function histogram(h: SearchResult['histogram']) {
  if (!h.length) return '';
  const max = Math.max(1, ...h.map((b) => b.count));
  const w = 10;
  return html`<svg class="histogram" viewBox="0 0 ${h.length * w} 60" preserveAspectRatio="none" role="img" aria-label="matches over time">${h.map(
    (b, i) => html`<rect x="${i * w + 1}" y="${60 - (b.count / max) * 58}" width="${w - 2}" height="${(b.count / max) * 58}" data-count="${b.count}"><title>${fmtTime(b.start)}: ${b.count}</title></rect>`,
  )}</svg>
<p class="muted axis"><span>${fmtTime(h[0].start)}</span> <span>${fmtTime(h[h.length - 1].start)}</span></p>`;
}

export function searchPage(r: SearchRequest, result: SearchResult | undefined, error: { message: string; column?: number } | undefined, who: Viewer, source?: string): string {
  const rows = (result?.events ?? []).map(
    (e: TwEvent) => html`<tr data-event="${e.event?.id}">${r.columns.map((c) => html`<td>${c === '@timestamp' ? fmtTime(e['@timestamp']) : html`<code>${printable(cell(fieldOf(e, c)))}</code>`}</td>`)}
<td><details><summary>event</summary><pre><code>${JSON.stringify(e, null, 2)}</code></pre></details></td></tr>`,
  );
  return layout(
    'Search',
    html`<h1>Search events</h1>
<form method="get" action="/search" class="search query" role="search">
<label class="q">Query (KQL: <code>user.name:root and event.outcome:failure</code>, <code>"Failed password"</code>, <code>source.port >= 1024</code>) <input name="q" value="${r.q}" spellcheck="false" autocomplete="off"></label>
<label>Range <select name="range">${RANGE_LABELS.map(([v, l]) => html`<option value="${v}"${v === r.range ? html` selected` : ''}>${l}</option>`)}</select></label>
<label>From (UTC) <input type="datetime-local" name="from" value="${r.range ? '' : inputTime(r.from)}"></label>
<label>To (UTC) <input type="datetime-local" name="to" value="${r.range ? '' : inputTime(r.to)}"></label>
<label>Columns <input name="cols" value="${r.columns.join(',')}"></label>
<button type="submit">Search</button>
</form>
${error ? html`<div class="error" role="alert"><p>${error.message}</p>${error.column ? html`<pre class="caret"><code>${r.q}\n${' '.repeat(Math.max(0, error.column - 1))}^</code></pre>` : ''}</div>` : ''}
${result ? html`<p class="muted total">${result.total} event(s) from ${fmtTime(r.from.toISOString())} to ${fmtTime(r.to.toISOString())}${result.total > result.events.length ? html`, newest ${result.events.length} shown` : ''} · source: ${source ?? ''}</p>
${histogram(result.histogram)}
<table class="results"><thead><tr>${r.columns.map((c) => html`<th>${c}</th>`)}<th></th></tr></thead><tbody>${rows}</tbody></table>` : ''}`,
    who,
  );
}
