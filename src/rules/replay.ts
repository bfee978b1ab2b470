// `trailwatch replay FILE`: the rule-test tool (like fail2ban-regex or
// wazuh-logtest). Streams a log file through the parser, decoders and rules on
// event time and writes NDJSON: one event per input line (event.sequence = its
// line number), then the alerts. Event ids are derived from the file name and
// line number, so replaying the same file gives identical output.
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { addTag, type Alert, type TwEvent } from '../event.js';
import type { RulesConfig } from './config.js';
import type { RuleSet } from './loader.js';
import { createProcessor } from './processor.js';
import { loadPolicyAudit } from './policy-audit.js';
import { DEFAULT_LIMITS, eachLine, fileChunks, LIMIT_FIELDS, Notices, READ_CHUNK, timeRegression, type ReplayLimits } from './replay-input.js';
import { newReplayParser, parseLine } from './replay-parse.js';
import { detectFormat, eachExportEntry, entryFromJsonLine, FileLines, journalReplayEvent, peekFile, type ReplayFormat } from './replay-journal.js';
import type { JournalEntry } from '../ingest/journal/export-format.js';
import { ALLOWED_LATENESS_MS } from './windows.js';

export interface ReplayOptions {
  /** A file path, or "-" for stdin. */
  input: string;
  /** "auto" guesses from the first bytes (journal JSON or export, ECS NDJSON, else syslog). */
  format: ReplayFormat | 'auto';
  rules: RuleSet;
  config: RulesConfig;
  /** Year of the first year-less timestamp (default: the file's mtime year, or this year for stdin). */
  year?: number;
  out: Writable;
  /** Write only the alerts, not every event. */
  alertsOnly?: boolean;
  /** Count per decoder, outcome and rule (for --summary); login attempts are always counted. */
  summary?: boolean;
  stdin?: Readable;
  /** What is kept of a line, per format, as the live receivers keep it (defaults: the config's defaults). */
  limits?: Partial<ReplayLimits>;
  /** Notices (a line cut, a broken record), each naming the file, the line and the limit. Default: stderr. */
  notify?: (message: string) => void;
}

export interface ReplaySummary {
  lines: number;
  alerts: number;
  decoders: Record<string, number>;
  outcomes: Record<string, number>;
  rules: Record<string, number>;
  /** Login attempts (event.type start), weighted by event.count. */
  failedAttempts: number;
  succeededAttempts: number;
  /** Alerts not raised because a more specific rule alerted for the same group (`supersedes:`). */
  superseded?: number;
  /** Lines (journal export: entries) cut at the limit, tagged truncated. */
  truncated?: number;
}

const BATCH = 1000;
/** Alerts held in memory (characters of JSON) before they go to the spool file. */
const SPOOL_CHARS = 64 * 1024;
const WRITE_CHUNK = 32 * 1024;

/**
 * Year-less timestamps: start from a year and move to the next one when the
 * month goes back by more than half a year (Dec -> Jan). Without --year the
 * start is the file's mtime year, minus one if the first month is after the
 * mtime's month (a file written in January that starts in December).
 */
export class YearTracker {
  private last = -1;
  private year: number;
  constructor(
    start: number,
    private readonly ref?: { month: number },
  ) {
    this.year = start;
  }
  yearFor(month: number): number {
    if (this.last < 0 && this.ref && month > this.ref.month) this.year--;
    else if (this.last >= 0 && month + 6 < this.last) this.year++;
    else if (this.last >= 0 && month > this.last + 6) this.year--;
    this.last = month;
    return this.year;
  }
}

export async function replay(opts: ReplayOptions): Promise<ReplaySummary> {
  const fromStdin = opts.input === '-';
  const name = fromStdin ? 'stdin' : basename(opts.input);
  const idBase = createHash('sha256').update(name).digest('hex').slice(0, 12);
  const mtime = fromStdin ? new Date() : statSync(opts.input).mtime;
  const ref = opts.year !== undefined ? undefined : mtime;
  // A line without a time of its own takes the previous line's, and the
  // first ones the file's modification time (stdin: now), never 1970.
  const startTime = mtime.toISOString();
  const newYears = () => (ref ? new YearTracker(ref.getUTCFullYear(), { month: ref.getUTCMonth() }) : new YearTracker(opts.year!));
  const years = newYears();
  const summary: ReplaySummary = { lines: 0, alerts: 0, decoders: {}, outcomes: {}, rules: {}, failedAttempts: 0, succeededAttempts: 0 };
  const detail = opts.summary !== false;
  let stdin: Readable | null = fromStdin ? (opts.stdin ?? process.stdin) : null;
  let format = opts.format;
  if (format === 'auto') {
    if (stdin) {
      const peeked = await peekStream(stdin);
      stdin = peeked.stream;
      format = detectFormat(peeked.head);
    } else format = statSync(opts.input).isFile() ? detectFormat(peekFile(opts.input)) : 'syslog';
  }
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const max = format === 'syslog' ? limits.syslog : format === 'ndjson' ? limits.ndjson : limits.journal;
  const notes = new Notices(fromStdin ? 'stdin' : opts.input, `limit ${max} bytes: ${limits.source ?? LIMIT_FIELDS[format]}`, opts.notify);
  const latenessMs = await latenessFor(opts.input, format, newYears, startTime, limits.syslog);
  const processor = createProcessor(opts.config, { rules: opts.rules, onDecoded: (ev, decoded) => count(summary, ev, decoded, detail), latenessMs });
  processor.setPolicyAudit(await loadPolicyAudit(opts.config.command_policy_file));
  const alerts = new AlertSpool(opts.out, !!opts.alertsOnly);
  const yearFor = (m: number) => years.yearFor(m);
  const parser = newReplayParser();
  let lastTime = startTime;
  let batch: TwEvent[] = [];
  const take = async (raised: Alert[]) => {
    for (const a of raised) {
      if (alerts.add(JSON.stringify(a))) await alerts.sendPending();
      summary.rules[a.rule.id] = (summary.rules[a.rule.id] ?? 0) + 1;
    }
    await alerts.sendPending();
  };
  const flush = async () => {
    await take(processor.process(batch));
    if (!opts.alertsOnly) {
      // Written in pieces well under V8's large-object size: a whole batch as
      // one string went to the old generation and filled it with garbage.
      let text = '';
      for (const ev of batch) {
        text += JSON.stringify(ev) + '\n';
        if (text.length >= WRITE_CHUNK) {
          await write(opts.out, text);
          text = '';
        }
      }
      await write(opts.out, text);
    }
    batch = [];
  };
  const add = (ev: TwEvent): boolean => {
    ev.event.sequence = summary.lines;
    lastTime = ev['@timestamp'];
    batch.push(ev);
    return batch.length >= BATCH;
  };
  const takeEntry = (e: JournalEntry): boolean => add(journalReplayEvent(e, `${idBase}-${++summary.lines}`, lastTime));
  // Lines cut at the limit are events like any other, tagged as live tags them; one notice each (and a count).
  let cutBad = '';
  const limit = {
    maxBytes: max,
    onCut: (line: number, kept: number, total: number) => {
      summary.truncated = (summary.truncated ?? 0) + 1;
      notes.cut(line, `line of ${total} bytes cut to its first ${kept}${cutBad}`, total - kept);
      cutBad = '';
    },
  };
  if (format === 'journal-export') {
    const lines = fromStdin ? null : new FileLines(opts.input);
    const lineRange = (from: number, to: number) => {
      const a = lines?.at(from);
      return a === undefined ? '' : ` (lines ${a}-${lines!.at(to)})`;
    };
    try {
      // A read stream: the export reader keeps views of its chunks.
      await eachExportEntry(stdin ?? createReadStream(opts.input, { highWaterMark: READ_CHUNK }), (e, from, to) => {
        const n = summary.lines + 1;
        if (e.error) notes.say(`journal entry ${n}, ending in bytes ${from}-${to}${lineRange(from, to)}: ${e.error}; kept as an unparsed event`);
        if (e.truncated) {
          summary.truncated = (summary.truncated ?? 0) + 1;
          notes.cut(undefined, `journal entry ${n}: a field value cut at the limit, the event is tagged truncated`, 0);
        }
        return takeEntry(e);
      }, flush, max);
    } finally {
      lines?.close();
    }
  } else if (format === 'journal-json') {
    await eachLine(stdin ?? fileChunks(opts.input), (line, cut, lineNo) => {
      const e = entryFromJsonLine(line);
      if (!e) return false;
      if (cut) {
        e.truncated = true;
        if (e.error) {
          cutBad = '; not JSON any more, kept as an unparsed event';
          e.error = `${notes.where}:${lineNo}: cut at ${max} bytes (${notes.limit}): ${e.error}`;
        }
      }
      return takeEntry(e);
    }, flush, limit);
  } else {
    const ndjson = format === 'ndjson';
    await eachLine(stdin ?? fileChunks(opts.input), (line, cut, lineNo) => {
      const id = `${idBase}-${++summary.lines}`;
      const ev = ndjson ? fromJson(line, id, lastTime) : parseLine(line, { id, year: yearFor, fallbackTime: lastTime, parser });
      if (cut) {
        addTag(ev, 'truncated');
        if (ndjson && ev.tags?.includes('trailwatch_bad_json')) {
          cutBad = '; not JSON any more, kept as event.original tagged trailwatch_bad_json';
          (ev.trailwatch ??= {}).error = `${notes.where}:${lineNo}: record cut at ${max} bytes (${notes.limit}), not JSON any more`;
        }
      }
      return add(ev);
    }, flush, limit);
  }
  await flush();
  // execs still waiting for a gateway session's start (policy-audit.ts): the input is over
  await take(processor.drain());
  notes.end();
  summary.alerts = alerts.count;
  summary.superseded = processor.detector.stats().superseded;
  await alerts.finish();
  return summary;
}

/**
 * Windowed rules hold events for a lateness (windows.ts) because live input
 * arrives out of order. A file read in order can only be as late as its own
 * lines go back in time, so a first pass measures that and the windows hold
 * no more: the same alerts (every event a window can still count is kept),
 * far less state. Not for stdin or NDJSON (the default holds there).
 */
async function latenessFor(input: string, format: ReplayFormat, newYears: () => YearTracker, startTime: string, maxLineBytes: number): Promise<number> {
  if (input === '-' || format !== 'syslog' || !statSync(input).isFile()) return ALLOWED_LATENESS_MS;
  const years = newYears();
  const back = await timeRegression(input, (m) => years.yearFor(m), ALLOWED_LATENESS_MS, startTime, maxLineBytes);
  return back ?? ALLOWED_LATENESS_MS;
}

/**
 * Alerts come after every event, so they are held back: in memory up to a
 * point, then in a temporary file (a replay that raises very many alerts stays
 * within bounded memory). With --alerts-only they go straight out.
 */
class AlertSpool {
  count = 0;
  private held: string[] = [];
  private heldChars = 0;
  /** --alerts-only: alerts of the current batch not written yet. */
  private pending = '';
  private file: string | null = null;
  private fd = -1;
  constructor(
    private readonly out: Writable,
    private readonly direct: boolean,
  ) {}

  /** Hold an alert; true when sendPending() must be awaited now (no promise per alert). */
  add(json: string): boolean {
    this.count++;
    if (this.direct) {
      this.pending += json + '\n';
      return this.pending.length >= WRITE_CHUNK;
    }
    this.held.push(json);
    this.heldChars += json.length + 1;
    if (this.heldChars >= SPOOL_CHARS) this.spill();
    return false;
  }

  /** Write what --alerts-only holds (once per batch: one write per alert was a system call each). */
  async sendPending(): Promise<void> {
    const text = this.pending;
    this.pending = '';
    await write(this.out, text);
  }

  private spill(): void {
    if (!this.held.length) return;
    if (this.fd < 0) {
      const dir = mkdtempSync(join(tmpdir(), 'tw-replay-'));
      this.file = join(dir, 'alerts.ndjson');
      this.fd = openSync(this.file, 'w');
    }
    for (const piece of pieces(this.held)) writeSync(this.fd, piece);
    this.held = [];
    this.heldChars = 0;
  }

  async finish(): Promise<void> {
    await this.sendPending();
    if (this.fd >= 0) {
      this.spill();
      closeSync(this.fd);
      for await (const chunk of createReadStream(this.file!, { encoding: 'utf8', highWaterMark: READ_CHUNK })) await write(this.out, chunk as string);
      rmSync(dirname(this.file!), { recursive: true, force: true });
    }
    for (const piece of pieces(this.held)) await write(this.out, piece);
    this.held = [];
  }
}

/** Lines joined into strings of about WRITE_CHUNK characters, each line ending in a newline. */
function pieces(lines: string[]): string[] {
  const out: string[] = [];
  let text = '';
  for (const l of lines) {
    text += l + '\n';
    if (text.length >= WRITE_CHUNK) {
      out.push(text);
      text = '';
    }
  }
  if (text) out.push(text);
  return out;
}

/** The stream's first chunk (for --format auto on stdin), and a stream that still yields everything. */
async function peekStream(stream: Readable): Promise<{ head: string; stream: Readable }> {
  const it = (stream as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  const first = await it.next();
  const head = first.done ? '' : first.value.toString();
  async function* rest() {
    if (!first.done) yield typeof first.value === 'string' ? Buffer.from(first.value) : first.value;
    for (let r = await it.next(); !r.done; r = await it.next()) yield typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
  }
  return { head, stream: Readable.from(rest(), { objectMode: false }) };
}

function fromJson(line: string, id: string, fallbackTime: string): TwEvent {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    v = undefined;
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    const ev: TwEvent = { '@timestamp': fallbackTime, event: { id, kind: 'event', original: line } };
    addTag(ev, 'trailwatch_bad_json');
    return ev;
  }
  const ev = v as TwEvent;
  if (!ev.event || typeof ev.event !== 'object') ev.event = { id, kind: 'event' };
  ev.event.id ??= id;
  ev.event.kind ??= 'event';
  if (typeof ev['@timestamp'] !== 'string' || Number.isNaN(Date.parse(ev['@timestamp']))) ev['@timestamp'] = fallbackTime;
  return ev;
}

function count(s: ReplaySummary, ev: TwEvent, decoded: boolean, detail: boolean): void {
  const o = ev.event.outcome;
  if (detail) {
    const d = decoded ? (ev.trailwatch?.decoder ?? ev.event.dataset ?? 'decoded') : '(none)';
    s.decoders[d] = (s.decoders[d] ?? 0) + 1;
    if (o) s.outcomes[o] = (s.outcomes[o] ?? 0) + 1;
  }
  if (ev.event.type?.includes('start') && ev.event.category?.includes('authentication')) {
    const w = ev.event.count && ev.event.count > 0 ? ev.event.count : 1;
    if (o === 'failure') s.failedAttempts += w;
    else if (o === 'success') s.succeededAttempts += w;
  }
}

function write(out: Writable, text: string): Promise<void> {
  if (!text) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const ok = out.write(text, (err) => (err ? reject(err) : undefined));
    if (ok) resolve();
    else out.once('drain', resolve);
  });
}

export function formatSummary(s: ReplaySummary): string {
  const table = (title: string, rec: Record<string, number>) => {
    const rows = Object.entries(rec).sort((a, b) => b[1] - a[1]);
    return `${title}:\n${rows.length ? rows.map(([k, v]) => `  ${String(v).padStart(9)}  ${k}`).join('\n') : '  (none)'}\n`;
  };
  return (
    `lines: ${s.lines}  alerts: ${s.alerts}${s.superseded ? ` (+${s.superseded} superseded)` : ''}  login attempts: ${s.failedAttempts} failed, ${s.succeededAttempts} succeeded${s.truncated ? `  truncated: ${s.truncated}` : ''}\n` +
    table('decoders', s.decoders) +
    table('outcomes', s.outcomes) +
    table('rules', s.rules)
  );
}
