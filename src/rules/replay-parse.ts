// Replay reads lines with the ingest's own syslog parser (one parser for live
// and replayed logs). What replay adds: deterministic event ids, and the year
// of a year-less (RFC 3164) timestamp chosen by the caller (--year, or the
// file's mtime with Dec→Jan rollover) instead of the receipt time.
import type { TwEvent } from '../event.js';
import { SyslogParser, type Receipt } from '../ingest/syslog/parse.js';
import { monthAt } from '../ingest/syslog/timestamp.js';

export interface ParseOptions {
  /** event.id for the event. */
  id: string;
  /** The year of a year-less (BSD) timestamp with this month (0-11). */
  year(month: number): number;
  /** @timestamp for a line without a usable timestamp. */
  fallbackTime: string;
  /** The parser (newReplayParser()); by default one shared by every caller. */
  parser?: SyslogParser;
}

// Replayed year-less timestamps are read as UTC so a replay gives the same output on any machine.
export function newReplayParser(): SyslogParser {
  return new SyslogParser({ defaultYearFrom: 'nearest', timezone: 'utc', replay: true });
}
const parser = newReplayParser();
// One receipt reused for every line (the parser copies what it keeps).
const receipt: Receipt = { nowMs: 0, created: '', input: 'replay', peer: '', peerHost: '' };

export function parseLine(line: string, opts: ParseOptions): TwEvent {
  let p = 0;
  if (line.charCodeAt(0) === 60 /* < */) {
    const end = line.indexOf('>');
    if (end > 1 && end < 5) p = end + 1;
  }
  // "nearest" picks the year closest to the receipt time: a receipt in the
  // middle of the wanted month of the wanted year makes it exactly that year.
  const month = monthAt(line, p);
  const nowMs = month > 0 ? Date.UTC(opts.year(month - 1), month - 1, 15) : Date.parse(opts.fallbackTime);
  receipt.nowMs = nowMs;
  receipt.created = opts.fallbackTime;
  const ev = (opts.parser ?? parser).parse(line, receipt);
  ev.event.id = opts.id;
  // A replay parser builds none of these (but a line it cannot read, and another parser, do).
  if (ev.event.created !== undefined) delete ev.event.created;
  if (ev.host && !ev.host.name) delete ev.host;
  const input = ev.trailwatch?.input;
  if (input && input.peer !== undefined) delete input.peer;
  return ev;
}
