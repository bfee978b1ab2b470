// `trailwatch replay FILE`: the rule-test tool (like fail2ban-regex or
// wazuh-logtest). Streams a log file through the parser, decoders and rules on
// event time and writes NDJSON: one event per input line (event.sequence = its
// line number), then the alerts. Event ids are derived from the file name and
// line number, so replaying the same file gives identical output.
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { addTag, type TwEvent } from '../event.js';
import type { RulesConfig } from './config.js';
import type { RuleSet } from './loader.js';
import { createProcessor } from './processor.js';
import { parseLine } from './replay-parse.js';

export interface ReplayOptions {
  /** A file path, or "-" for stdin. */
  input: string;
  format: 'syslog' | 'ndjson';
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
}

const BATCH = 1000;
const SPOOL_AT = 5000;
/** Read size: below V8's large-object size, so chunks die young. */
const READ_CHUNK = 64 * 1024;
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
  let years: YearTracker;
  if (opts.year !== undefined) years = new YearTracker(opts.year);
  else {
    const ref = fromStdin ? new Date() : statSync(opts.input).mtime;
    years = new YearTracker(ref.getUTCFullYear(), { month: ref.getUTCMonth() });
  }
  const summary: ReplaySummary = { lines: 0, alerts: 0, decoders: {}, outcomes: {}, rules: {}, failedAttempts: 0, succeededAttempts: 0 };
  const detail = opts.summary !== false;
  const processor = createProcessor(opts.config, { rules: opts.rules, onDecoded: (ev, decoded) => count(summary, ev, decoded, detail) });
  const stream = fromStdin ? (opts.stdin ?? process.stdin) : createReadStream(opts.input, { highWaterMark: READ_CHUNK });
  const alerts = new AlertSpool(opts.out, !!opts.alertsOnly);
  const yearFor = (m: number) => years.yearFor(m);
  let lastTime = new Date(0).toISOString();
  let batch: TwEvent[] = [];
  const flush = async () => {
    for (const a of processor.process(batch)) {
      await alerts.add(JSON.stringify(a));
      summary.rules[a.rule.id] = (summary.rules[a.rule.id] ?? 0) + 1;
    }
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
  const ndjson = opts.format === 'ndjson';
  const take = (line: string) => {
    const n = ++summary.lines;
    const id = `${idBase}-${n}`;
    const ev = ndjson ? fromJson(line, id, lastTime) : parseLine(line, { id, year: yearFor, fallbackTime: lastTime });
    ev.event.sequence = n;
    lastTime = ev['@timestamp'];
    batch.push(ev);
  };
  // Lines are split per chunk (with the stream's own backpressure; readline's
  // async iterator reads ahead without bound and costs a promise per line).
  // Chunks are small enough to be young-generation strings, and a line that
  // spans two is joined on its own (joining the whole remainder to the next
  // chunk copied every chunk into one more large string).
  (stream as Readable).setEncoding('utf8');
  let rest = '';
  for await (const chunk of stream as AsyncIterable<string>) {
    let nl = chunk.indexOf('\n');
    if (nl < 0) {
      rest += chunk;
      continue;
    }
    take(trimCr(rest ? rest + chunk.slice(0, nl) : chunk.slice(0, nl)));
    if (batch.length >= BATCH) await flush();
    let start = nl + 1;
    while ((nl = chunk.indexOf('\n', start)) >= 0) {
      take(nl > start && chunk.charCodeAt(nl - 1) === 13 ? chunk.slice(start, nl - 1) : chunk.slice(start, nl));
      start = nl + 1;
      if (batch.length >= BATCH) await flush();
    }
    rest = chunk.slice(start);
  }
  if (rest) take(trimCr(rest));
  await flush();
  summary.alerts = alerts.count;
  await alerts.finish();
  return summary;
}

/**
 * Alerts come after every event, so they are held back: in memory up to a
 * point, then in a temporary file (a replay that raises very many alerts stays
 * within bounded memory). With --alerts-only they go straight out.
 */
class AlertSpool {
  count = 0;
  private held: string[] = [];
  private file: string | null = null;
  private fd = -1;
  constructor(
    private readonly out: Writable,
    private readonly direct: boolean,
  ) {}

  async add(json: string): Promise<void> {
    this.count++;
    if (this.direct) return write(this.out, json + '\n');
    this.held.push(json);
    if (this.held.length >= SPOOL_AT) this.spill();
  }

  private spill(): void {
    if (this.fd < 0) {
      const dir = mkdtempSync(join(tmpdir(), 'tw-replay-'));
      this.file = join(dir, 'alerts.ndjson');
      this.fd = openSync(this.file, 'w');
    }
    writeSync(this.fd, this.held.join('\n') + '\n');
    this.held = [];
  }

  async finish(): Promise<void> {
    if (this.fd >= 0) {
      this.spill();
      closeSync(this.fd);
      for await (const chunk of createReadStream(this.file!, { encoding: 'utf8', highWaterMark: 1 << 20 })) await write(this.out, chunk as string);
      rmSync(dirname(this.file!), { recursive: true, force: true });
    }
    for (let i = 0; i < this.held.length; i += BATCH) await write(this.out, this.held.slice(i, i + BATCH).join('\n') + '\n');
    this.held = [];
  }
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

function trimCr(line: string): string {
  return line.charCodeAt(line.length - 1) === 13 ? line.slice(0, -1) : line;
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
    `lines: ${s.lines}  alerts: ${s.alerts}  login attempts: ${s.failedAttempts} failed, ${s.succeededAttempts} succeeded\n` +
    table('decoders', s.decoders) +
    table('outcomes', s.outcomes) +
    table('rules', s.rules)
  );
}
