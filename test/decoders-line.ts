// An auth.log line as the decoders get it: read by the real syslog parser (the
// one ingest and replay use), with the year of BSD timestamps given.
import assert from 'node:assert/strict';
import { getField, type TwEvent } from '../src/event.js';
import { createDecoder } from '../src/rules/decoders/index.js';
import { newReplayParser, parseLine } from '../src/rules/replay-parse.js';

const parser = newReplayParser();
let n = 0;

/** Parse one line; `year` fills in the year BSD timestamps lack. */
export function lineToEvent(line: string, year = 2024): TwEvent {
  return parseLine(line, { id: `line-${++n}`, year: () => year, fallbackTime: new Date(0).toISOString(), parser });
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

/** Decode one line with a fresh decoder; it must be recognised and have every field of `want`. */
export function check(line: string, want: Record<string, unknown>): void {
  const ev = lineToEvent(line);
  assert.equal(createDecoder().decode(ev), true, `not decoded: ${line}`);
  for (const [path, value] of Object.entries(want)) assert.deepEqual(getField(ev, path), value, `${path} of: ${line}`);
}

/** Decode a log with one decoder, in order; the failed-attempt count. */
export function count(text: string): number {
  const d = createDecoder();
  const evs = linesToEvents(text);
  for (const ev of evs) d.decode(ev);
  return failedAttempts(evs);
}
