// Embedded store benchmark (#14), each figure against a reference in the same run:
//  - ingest: `trailwatch run` taking N octet-counted syslog lines over one TCP
//    connection, store on vs store off (the reference): lines/s until every
//    event is in the event files, read from /metrics; with the store on, also
//    lines/s until every event is stored (the store reads those files).
//  - search: p95 over a store of 1M events (made by `replay` from auth.log-style
//    lines, the real decoders), for a field query and for free-text words,
//    against `grep -c` over the same events as NDJSON (what an analyst had).
//  - size: the store's bytes per event against the NDJSON file's.
// TW_BENCH_STORE_LINES (ingest, default 200000), TW_BENCH_STORE_EVENTS (search, default 1000000).
import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { TwEvent } from '../src/event.js';
import { parseKql } from '../src/query/kql.js';
import { toSql } from '../src/query/sql.js';
import { StoreReader } from '../src/store/index.js';
import { addRow, type RowBatch } from '../src/store/schema.js';
import { liveBytes, openWriter } from '../src/store/writer.js';
import { STORE_SQL_TARGET } from '../src/web/search.js';
import { CLI, freePort } from '../test/helpers.js';
import { messages, octetCounted } from './syslog.js';
import type { BenchRow } from './types.js';

export type { BenchRow };

const SENDER = fileURLToPath(new URL('./helpers/syslog-sender.js', import.meta.url));
const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;
const pct = (s: number[], p: number) => [...s].sort((a, b) => a - b)[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];

async function metric(port: number, sink: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = new RegExp(`trailwatch_sink_written_events_total\\{sink="${sink}",kind="event"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

/** Lines/s of `trailwatch run` from the sender's connect to the last event written to the files, and to the store. */
async function ingest(dir: string, file: string, n: number, store: boolean): Promise<{ files: number; stored: number }> {
  const [httpPort, syslogPort] = [await freePort(), await freePort()];
  const data = join(dir, `data-${store}-${Date.now()}`);
  const cfg = join(dir, 'trailwatch.yaml');
  writeFileSync(
    cfg,
    JSON.stringify({
      data_dir: data,
      log_level: 'warn',
      http: { host: '127.0.0.1', port: httpPort },
      syslog: { host: '127.0.0.1', udp: { enabled: false }, tcp: { port: syslogPort } },
      journal: { enabled: false },
      session_log: { enabled: false },
      store: { enabled: store },
      sinks: { webhook: { enabled: false } },
      jobs: { enabled: false },
    }),
  );
  const run = spawn(process.execPath, [CLI, '-c', cfg, 'run'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TRAILWATCH_LOG_LEVEL: 'info' } });
  try {
    await new Promise<void>((resolve, reject) => {
      let logs = '';
      run.stderr!.on('data', (d) => {
        logs += d;
        if (/syslog listening/.test(logs) && /http listening/.test(logs)) resolve();
      });
      run.once('exit', (c) => reject(new Error(`run exited ${c}: ${logs.slice(-2000)}`)));
    });
    const sender = spawn(process.execPath, [SENDER, 'tcp', '127.0.0.1', String(syslogPort), file], { stdio: ['ignore', 'pipe', 'inherit'] });
    const t0 = await new Promise<number>((resolve) => sender.stdout!.on('data', (d) => String(d).includes('connected') && resolve(performance.now())));
    let files = 0;
    for (;;) {
      const now = performance.now();
      if (!files && (await metric(httpPort, 'file')) >= n) files = n / ((now - t0) / 1000);
      if (files && (!store || (await metric(httpPort, 'store')) >= n)) return { files, stored: store ? n / ((now - t0) / 1000) : 0 };
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    run.kill('SIGKILL');
    rmSync(data, { recursive: true, force: true });
  }
}

/** Events as `replay` makes them from n auth.log-style lines (the real decoders). */
function replayEvents(dir: string, n: number): string {
  const raw = join(dir, 'auth.log');
  writeFileSync(raw, messages('rfc3164', n).join('\n') + '\n');
  const out = join(dir, 'events.ndjson');
  execFileSync('sh', ['-c', `node ${CLI} replay --no-default-rules ${raw} > ${out}`], { stdio: ['ignore', 'ignore', 'inherit'], maxBuffer: 1 << 20 });
  return out;
}

async function loadStore(events: string, path: string): Promise<{ events: number; bytes: number; seconds: number }> {
  const w = openWriter(path, 'normal');
  // As the stage hands them over: each event's JSON (here the NDJSON line) and its columns, batches of 1000.
  const t0 = performance.now();
  let batch: RowBatch = { docs: [], cols: [] };
  let count = 0;
  for await (const line of createInterface({ input: createReadStream(events) })) {
    if (!line) continue;
    addRow(batch, JSON.parse(line) as TwEvent, line);
    if (batch.docs.length === 1000) {
      count += w.writeEvents([batch])[0];
      batch = { docs: [], cols: [] };
    }
  }
  if (batch.docs.length) count += w.writeEvents([batch])[0];
  const seconds = (performance.now() - t0) / 1000;
  const bytes = liveBytes(w.db);
  w.close();
  return { events: count, bytes, seconds };
}

function timeSearch(reader: StoreReader, q: string, runs: number): { p50: number; p95: number; total: number } {
  const where = toSql(parseKql(q), STORE_SQL_TARGET);
  const range = { from: new Date(0), to: new Date(Date.now() + 86_400_000) };
  const times: number[] = [];
  let total = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    total = reader.search(where, range, 100).total;
    times.push(performance.now() - t0);
  }
  return { p50: pct(times, 50), p95: pct(times, 95), total };
}

function timeGrep(file: string, pattern: string, runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    try {
      execFileSync('grep', ['-c', '-F', pattern, file], { stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      /* no match: exit 1 */
    }
    times.push(performance.now() - t0);
  }
  return pct(times, 95);
}

export async function run(): Promise<BenchRow[]> {
  const lines = Number(process.env.TW_BENCH_STORE_LINES ?? 200_000);
  const storeEvents = Number(process.env.TW_BENCH_STORE_EVENTS ?? 1_000_000);
  const dir = mkdtempSync(join(tmpdir(), 'tw-bench-store-'));
  const rows: BenchRow[] = [];
  try {
    const file = join(dir, 'tcp.bin');
    writeFileSync(file, octetCounted(messages('rfc3164', lines)));
    // Off, on, off, on: best of two each (a shared machine).
    let off = 0;
    let on = 0;
    let stored = 0;
    for (let i = 0; i < 2; i++) {
      off = Math.max(off, (await ingest(dir, file, lines, false)).files);
      const r = await ingest(dir, file, lines, true);
      on = Math.max(on, r.files);
      stored = Math.max(stored, r.stored);
    }
    rows.push({ bench: 'store', case: `run: syslog TCP to files, ${lines} lines, store on vs off`, unit: 'lines/s', trailwatch: round(on), reference: round(off), referenceName: 'run with store off', ratio: round(on / off, 2), notes: 'higher is better; goal >= 0.9 (ingest drops <= 10 %); best of 2' });
    rows.push({ bench: 'store', case: `run, store on: the same ${lines} lines until all are stored`, unit: 'lines/s', trailwatch: round(stored), reference: round(off), referenceName: 'run with store off (to files)', ratio: round(stored / off, 2), notes: 'the store reads the event files; what it has not stored yet waits there; best of 2' });

    const events = replayEvents(dir, storeEvents);
    const load = await loadStore(events, join(dir, 'store.db'));
    const ndjsonBytes = statSync(events).size;
    rows.push({ bench: 'store', case: `load ${load.events} events into the store (one thread, batches of 1000)`, unit: 'events/s', trailwatch: round(load.events / load.seconds), notes: 'writer alone on one thread, FTS and 7 indexes, checkpoints inline (JSON.parse of the input included)' });
    rows.push({ bench: 'store', case: 'bytes per event', unit: 'bytes', trailwatch: round(load.bytes / load.events), reference: round(ndjsonBytes / load.events), referenceName: 'NDJSON file', ratio: round(load.bytes / ndjsonBytes, 2), notes: 'lower is better; the store holds the document plus its indexes' });
    const reader = new StoreReader(join(dir, 'store.db'));
    const cases: [string, string, string][] = [
      ['user.name:admin42 and event.outcome:failure', 'admin42 ', 'field query'],
      ['admin42', 'admin42', 'free-text word, rare'],
      ['"Failed password"', 'Failed password', 'free-text phrase, 1 in 5 events'],
    ];
    for (const [q, grep, what] of cases) {
      const s = timeSearch(reader, q, 20);
      const g = timeGrep(events, grep, 5);
      rows.push({ bench: 'store', case: `search ${what} over ${load.events} events: ${q} (${s.total} hits, newest 100 + count)`, unit: 'ms p95', trailwatch: round(s.p95, 2), reference: round(g, 1), referenceName: 'grep -c -F over the NDJSON', ratio: round(g / s.p95, 2), notes: `lower is better; ratio = grep / store; p50 ${round(s.p50, 2)} ms; goal p95 <= 100 ms` });
    }
    reader.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
