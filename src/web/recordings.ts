// The console's reader of the gateway's recordings (src/gateway/recording.ts
// writes them, and owns the layout): per shell/exec channel of a session,
// <recordings_dir>/<session>-<channel>.cast (asciicast v2, an "m" marker at
// every command) and <session>-<channel>.json (RecordingMeta).
import { createReadStream, existsSync, readdirSync, readFileSync, statSync, type ReadStream } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { parseMarkerLabel, recordingsDirOf, type RecordingMeta } from '../gateway/recording.js';

export interface SessionCommand {
  /** Seconds from the start of the recording. */
  offset: number;
  command: string;
  blocked?: boolean;
}

export interface SessionSummary {
  /** Gateway session id (trailwatch.session.id). */
  id: string;
  /** Recording base name (<session>-<channel>) when known. */
  recording?: string;
  operator?: string;
  account?: string;
  target?: string;
  started_at?: string;
  ended_at?: string;
  /** Commands run in the session (all of them, or the matching ones in a command search). */
  commands: SessionCommand[];
}

/** Where the gateway keeps recordings: gateway.recording.dir, default <data_dir>/gateway/recordings. */
export function defaultRecordingsDir(config: Pick<Config, 'data_dir' | 'gateway'>): string {
  return recordingsDirOf(config.data_dir, config.gateway.recording);
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function validSessionId(id: string): boolean {
  return ID_RE.test(id) && !id.includes('..');
}

export function recordingPaths(dir: string, base: string): { cast: string; meta: string } {
  if (!validSessionId(base)) throw new Error('invalid session id');
  return { cast: join(dir, `${base}.cast`), meta: join(dir, `${base}.json`) };
}

/** Every recording's base name. */
export function listRecordingIds(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const ids: string[] = [];
  for (const f of readdirSync(dir)) if (f.endsWith('.cast') && validSessionId(f.slice(0, -5))) ids.push(f.slice(0, -5));
  return ids;
}

/** The recordings of one session: <id>.cast, or <id>-<channel>.cast in channel order. */
export function findRecordings(dir: string, sessionId: string): string[] {
  if (!validSessionId(sessionId)) return [];
  const out: { base: string; ch: number }[] = [];
  const prefix = `${sessionId}-`;
  for (const base of listRecordingIds(dir)) {
    if (base === sessionId) out.push({ base, ch: -1 });
    else if (base.startsWith(prefix) && /^\d+$/.test(base.slice(prefix.length))) out.push({ base, ch: Number(base.slice(prefix.length)) });
  }
  return out.sort((a, b) => a.ch - b.ch).map((x) => x.base);
}

export function openRecording(dir: string, base: string): { stream: ReadStream; size: number } | undefined {
  const { cast } = recordingPaths(dir, base);
  try {
    const st = statSync(cast);
    if (!st.isFile()) return undefined;
    return { stream: createReadStream(cast), size: st.size };
  } catch {
    return undefined;
  }
}

function toCommand(offset: number, line: string, verdict: RecordingMeta['commands'][number]['verdict']): SessionCommand {
  return verdict === 'blocked' ? { offset, command: line, blocked: true } : { offset, command: line };
}

/** Markers ("m" events) of an asciicast v2 file: the commands, with their offsets. */
export function markersFromCast(text: string): SessionCommand[] {
  const out: SessionCommand[] = [];
  let start = text.indexOf('\n') + 1;
  if (start === 0) return out;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    // Cheap pre-filter: only marker lines need a JSON parse.
    if (line.includes('"m"')) {
      try {
        const ev = JSON.parse(line) as unknown[];
        const m = Array.isArray(ev) && ev[1] === 'm' && typeof ev[0] === 'number' ? parseMarkerLabel(String(ev[2] ?? '')) : null;
        if (m) out.push(toCommand(ev[0] as number, m.line, m.verdict));
      } catch {
        // a torn last line while the session is still being written
      }
    }
    start = end + 1;
  }
  return out;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v ? v : typeof v === 'number' ? String(v) : undefined;
}

function isoFromEpoch(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return new Date(v * 1000).toISOString();
  return str(v);
}

function metaCommand(c: Partial<RecordingMeta['commands'][number]>): SessionCommand {
  return toCommand(Number(c.offset ?? 0), String(c.line ?? ''), c.verdict ?? 'allowed');
}

/** One recording's summary from its metadata file, falling back to the cast header and markers. */
export function readSession(dir: string, base: string): SessionSummary | undefined {
  const { cast, meta } = recordingPaths(dir, base);
  if (!existsSync(cast)) return undefined;
  // The gateway's RecordingMeta; every field checked, as the file is only data.
  let m: Partial<Record<keyof RecordingMeta, unknown>> = {};
  try {
    m = JSON.parse(readFileSync(meta, 'utf8')) as typeof m;
  } catch {
    // no metadata (the session is still running): the cast has the start time and the markers
  }
  let started = str(m.started);
  let commands = Array.isArray(m.commands) ? (m.commands as RecordingMeta['commands']).map(metaCommand) : undefined;
  // Only read the (possibly large) recording when the metadata lacks something.
  if (!commands || !started) {
    let castText: string;
    try {
      castText = readFileSync(cast, 'utf8');
    } catch {
      return undefined;
    }
    commands ??= markersFromCast(castText);
    if (!started) {
      const nl = castText.indexOf('\n');
      try {
        started = isoFromEpoch((JSON.parse(nl < 0 ? castText : castText.slice(0, nl)) as Record<string, unknown>).timestamp);
      } catch {
        started = undefined;
      }
    }
  }
  return {
    id: str(m.session) ?? base,
    recording: base,
    operator: str(m.operator),
    account: str(m.account),
    target: str(m.target),
    started_at: started,
    ended_at: str(m.ended),
    commands,
  };
}
