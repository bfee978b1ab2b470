// TEST-ONLY: turn an auth.log line into the TwEvent the syslog parser would
// give the decoders, so decoder tests do not depend on the parser (another
// branch). Handles "Mmm dd hh:mm:ss host app[pid]: msg", an ISO 8601 timestamp
// in place of the BSD one (rsyslog's high-precision format), an optional
// "<PRI>", and lines with no tag. The real parser replaces this at merge.
import { baseEvent, type TwEvent } from '../src/event.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function bsdTime(s: string, year: number): string | undefined {
  const m = MONTHS.indexOf(s.slice(0, 3));
  if (m < 0) return undefined;
  const day = Number(s.slice(4, 6).trim());
  const [hh, mm, ss] = s.slice(7, 15).split(':').map(Number);
  return new Date(Date.UTC(year, m, day, hh, mm, ss)).toISOString();
}

/** Parse one line; `year` fills in the year BSD timestamps lack. */
export function lineToEvent(line: string, year = 2024): TwEvent {
  let rest = line;
  if (rest.startsWith('<')) {
    const gt = rest.indexOf('>');
    if (gt > 0 && gt < 5) rest = rest.slice(gt + 1);
  }
  let ts: string | undefined;
  if (rest.length > 15 && rest.charAt(3) === ' ' && rest.charAt(9) === ':') {
    ts = bsdTime(rest, year);
    rest = rest.slice(16);
  } else {
    const sp = rest.indexOf(' ');
    const d = new Date(rest.slice(0, sp));
    if (sp > 0 && !Number.isNaN(d.getTime())) {
      ts = d.toISOString();
      rest = rest.slice(sp + 1);
    }
  }
  const ev = baseEvent(ts ?? new Date(0).toISOString(), line);
  const sp = rest.indexOf(' ');
  if (sp < 0) {
    ev.message = rest;
    return ev;
  }
  ev.host = { name: rest.slice(0, sp) };
  rest = rest.slice(sp + 1);
  // "app[pid]: msg" or "app: msg"; anything else stays whole in message.
  const colon = rest.indexOf(': ');
  const tag = colon > 0 ? rest.slice(0, colon) : '';
  if (colon > 0 && tag.indexOf(' ') < 0) {
    const open = tag.lastIndexOf('[');
    if (open > 0 && tag.endsWith(']')) ev.process = { name: tag.slice(0, open), pid: Number(tag.slice(open + 1, -1)) };
    else ev.process = { name: tag };
    ev.message = rest.slice(colon + 2);
  } else ev.message = rest;
  return ev;
}

/** Non-empty lines of a log text, as events. */
export function linesToEvents(text: string, year = 2024): TwEvent[] {
  const out: TwEvent[] = [];
  for (const line of text.split('\n')) if (line.trim() !== '' && !line.startsWith('#')) out.push(lineToEvent(line, year));
  return out;
}

/** Count of failed login attempts among decoded events, by the counting convention in vocabulary.ts. */
export function failedAttempts(events: TwEvent[]): number {
  let n = 0;
  for (const ev of events) {
    const e = ev.event;
    if (e.category?.[0] === 'authentication' && e.type?.[0] === 'start' && e.outcome === 'failure') n += e.count ?? 1;
  }
  return n;
}
