// Helpers for the journald receiver tests: Journal Export Format text and
// binary fields, journal files made by the real systemd-journal-remote, the
// real systemd-journal-upload, and `trailwatch run` with a journal port.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Alert, TwEvent } from '../src/event.js';
import { startCli } from './helpers.js';
import { metric } from './reliability-helpers.js';

export { metric };

const run = promisify(execFile);

export const JOURNAL_REMOTE = '/lib/systemd/systemd-journal-remote';
export const JOURNAL_UPLOAD = '/lib/systemd/systemd-journal-upload';
export const EXPORT_TYPE = 'application/vnd.fdo.journal';

/** A field value: text (NAME=value) unless it holds a newline or is a Buffer (NAME\n le64 size, data, \n). */
export type FieldValue = string | number | Buffer;

/** One entry in the Journal Export Format, with its terminating blank line. */
export function exportEntry(fields: Record<string, FieldValue>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, v] of Object.entries(fields)) {
    const text = typeof v === 'number' ? String(v) : v;
    if (typeof text === 'string' && !text.includes('\n')) {
      parts.push(Buffer.from(`${name}=${text}\n`, 'utf8'));
      continue;
    }
    const data = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    const size = Buffer.alloc(8);
    size.writeBigUInt64LE(BigInt(data.length));
    parts.push(Buffer.from(`${name}\n`, 'latin1'), size, data, Buffer.from('\n'));
  }
  parts.push(Buffer.from('\n'));
  return Buffer.concat(parts);
}

export const BOOT_ID = '5f0c1e2d3b4a59687766554433221100';

export interface SyslogEntry {
  host: string;
  /** __REALTIME_TIMESTAMP, microseconds since the epoch. */
  realtimeUs: number;
  monotonicUs: number;
  ident: string;
  pid: number;
  message: string;
  /** journald's trusted _COMM (default: the identifier). */
  comm?: string;
  exe?: string;
  bootId?: string;
  priority?: number;
  facility?: number;
  uid?: number;
}

/** The fields journald records for a line a program wrote with syslog(3). */
export function syslogFields(e: SyslogEntry): Record<string, FieldValue> {
  const f: Record<string, FieldValue> = {
    __REALTIME_TIMESTAMP: e.realtimeUs,
    __MONOTONIC_TIMESTAMP: e.monotonicUs,
    _BOOT_ID: e.bootId ?? BOOT_ID,
    _HOSTNAME: e.host,
    _TRANSPORT: 'syslog',
    PRIORITY: e.priority ?? 6,
    SYSLOG_FACILITY: e.facility ?? 10,
    SYSLOG_IDENTIFIER: e.ident,
    SYSLOG_PID: e.pid,
    _PID: e.pid,
    _UID: e.uid ?? 0,
    _GID: e.uid ?? 0,
    _COMM: e.comm ?? e.ident,
  };
  if (e.exe) f._EXE = e.exe;
  f.MESSAGE = e.message;
  return f;
}

/** Write entries as an export file and turn it into DIR/NAME.journal with the real systemd-journal-remote. */
export async function makeJournal(dir: string, name: string, entries: Buffer[] | Buffer): Promise<string> {
  const exportFile = join(dir, `${name}.export`);
  writeFileSync(exportFile, Array.isArray(entries) ? Buffer.concat(entries) : entries);
  const out = join(dir, `${name}.journal`);
  await run(JOURNAL_REMOTE, [`--output=${out}`, exportFile], { maxBuffer: 16 * 1024 * 1024 });
  return out;
}

export interface ProcResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Start the real systemd-journal-upload; `done` resolves when it exits (never rejects). */
export function startUpload(args: string[]): { child: ChildProcess; done: Promise<ProcResult> } {
  const child = spawn(JOURNAL_UPLOAD, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<ProcResult>((resolve) => {
    child.on('error', (err) => resolve({ code: -1, signal: null, stdout, stderr: stderr + String(err) }));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

export function upload(args: string[]): Promise<ProcResult> {
  return startUpload(args).done;
}

/** LAST_CURSOR= of systemd-journal-upload's --save-state file, or undefined. */
export function savedCursor(stateFile: string): string | undefined {
  if (!existsSync(stateFile)) return undefined;
  return /^LAST_CURSOR=(.+)$/m.exec(readFileSync(stateFile, 'utf8'))?.[1];
}

export function readNdjson<T>(dir: string): T[] {
  if (!existsSync(dir)) return [];
  const out: T[] = [];
  for (const f of readdirSync(dir).sort())
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) if (line) out.push(JSON.parse(line) as T);
  return out;
}

/** Lines in the NDJSON files of a directory, counted without parsing them. */
export function countLines(dir: string): number {
  if (!existsSync(dir)) return 0;
  let n = 0;
  for (const f of readdirSync(dir)) {
    const b = readFileSync(join(dir, f));
    for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  }
  return n;
}

/** The last JSON log line with this msg. */
export function logLine(logs: string, msg: string): Record<string, unknown> {
  const lines = logs.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) if (lines[i].includes(`"msg":"${msg}"`)) return JSON.parse(lines[i]) as Record<string, unknown>;
  throw new Error(`no "${msg}" log line in:\n${logs}`);
}

export interface Trailwatch {
  child: ChildProcess;
  logs: () => string;
  dataDir: string;
  journalPort: number;
  httpPort: number;
  events: () => TwEvent[];
  alerts: () => Alert[];
  metric: (name: string, labels?: Record<string, string>) => Promise<number>;
  stop: () => Promise<void>;
}

/**
 * `trailwatch -c CONFIG run --journal-port 0`: HTTP on a free loopback port,
 * syslog off, the journal receiver on loopback with `journal` merged in.
 */
export async function startTrailwatch(dir: string, journal: Record<string, unknown> = {}): Promise<Trailwatch> {
  const dataDir = join(dir, 'data');
  const cfg = join(dir, 'trailwatch.json');
  writeFileSync(
    cfg,
    JSON.stringify({
      data_dir: dataDir,
      http: { host: '127.0.0.1', port: 0 },
      syslog: { host: '127.0.0.1', udp: { enabled: false }, tcp: { enabled: false } },
      journal: { host: '127.0.0.1', ...journal },
      sinks: { webhook: { enabled: false } },
    }),
  );
  const { child, logs } = await startCli(['-c', cfg, 'run', '--data-dir', dataDir, '--journal-port', '0'], { ready: /"msg":"http listening"/, timeoutMs: 30_000 });
  const journalPort = logLine(logs(), 'journal receiver listening (systemd-journal-upload)').journalPort as number;
  const httpPort = (logLine(logs(), 'http listening').http as { port: number }).port;
  return {
    child,
    logs,
    dataDir,
    journalPort,
    httpPort,
    events: () => readNdjson<TwEvent>(join(dataDir, 'events')),
    alerts: () => readNdjson<Alert>(join(dataDir, 'alerts')),
    metric: (name, labels) => metric(httpPort, name, labels),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** POST a body with node:http, chunked (no Content-Length), written in the given pieces. */
export function postChunked(port: number, body: Buffer[] | Buffer, contentType: string | null = EXPORT_TYPE, path = '/upload'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'transfer-encoding': 'chunked' };
    if (contentType !== null) headers['content-type'] = contentType;
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    for (const piece of Array.isArray(body) ? body : [body]) req.write(piece);
    req.end();
  });
}

/**
 * Each NDJSON record of a directory's files, parsed one line at a time
 * (the files of a 100k-entry upload are too big to read as one string).
 */
export function scanNdjson<T>(dir: string, each: (rec: T) => void): void {
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir).sort()) {
    const b = readFileSync(join(dir, f));
    let start = 0;
    for (let nl = b.indexOf(10); nl >= 0; nl = b.indexOf(10, start)) {
      if (nl > start) each(JSON.parse(b.toString('utf8', start, nl)) as T);
      start = nl + 1;
    }
  }
}
