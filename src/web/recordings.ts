// Adapter: the gateway's recording layout, in one place. The gateway writes
// <recordings_dir>/<session_id>.cast (asciicast v2; an "m" marker event at each
// command line, labelled with the command) and <session_id>.json (session
// metadata). If the gateway's layout or field names differ, change only this file.
import { createReadStream, existsSync, readFileSync, readdirSync, statSync, type ReadStream } from 'node:fs';
import { join } from 'node:path';

export interface SessionCommand {
  /** Seconds from the start of the recording. */
  offset: number;
  command: string;
  blocked?: boolean;
}

export interface SessionSummary {
  id: string;
  operator?: string;
  account?: string;
  target?: string;
  started_at?: string;
  ended_at?: string;
  /** Commands run in the session (all of them, or the matching ones in a command search). */
  commands: SessionCommand[];
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function validSessionId(id: string): boolean {
  return ID_RE.test(id) && !id.includes('..');
}

export function recordingPaths(dir: string, id: string): { cast: string; meta: string } {
  if (!validSessionId(id)) throw new Error('invalid session id');
  return { cast: join(dir, `${id}.cast`), meta: join(dir, `${id}.json`) };
}

export function listRecordingIds(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const ids: string[] = [];
  for (const f of readdirSync(dir)) if (f.endsWith('.cast') && validSessionId(f.slice(0, -5))) ids.push(f.slice(0, -5));
  return ids;
}

export function openRecording(dir: string, id: string): { stream: ReadStream; size: number } | undefined {
  const { cast } = recordingPaths(dir, id);
  try {
    const st = statSync(cast);
    if (!st.isFile()) return undefined;
    return { stream: createReadStream(cast), size: st.size };
  } catch {
    return undefined;
  }
}

/** Markers ("m" events) of an asciicast v2 file: the commands, with their offsets. */
export function markersFromCast(text: string): SessionCommand[] {
  const out: SessionCommand[] = [];
  let start = text.indexOf('\n') + 1;
  if (start === 0) return out;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    // Cheap pre-filter: only marker lines need a JSON parse.
    const line = text.slice(start, end);
    if (line.includes('"m"')) {
      try {
        const ev = JSON.parse(line) as unknown[];
        if (Array.isArray(ev) && ev[1] === 'm' && typeof ev[0] === 'number') out.push({ offset: ev[0], command: String(ev[2] ?? '') });
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

/** One session's summary from its metadata file, falling back to the cast header and markers. */
export function readSession(dir: string, id: string): SessionSummary | undefined {
  const { cast, meta } = recordingPaths(dir, id);
  if (!existsSync(cast)) return undefined;
  let m: Record<string, unknown> = {};
  try {
    m = JSON.parse(readFileSync(meta, 'utf8')) as Record<string, unknown>;
  } catch {
    // no metadata (yet): the cast itself has the start time and the markers
  }
  const metaCommands = Array.isArray(m.commands) ? (m.commands as Record<string, unknown>[]) : undefined;
  let started = str(m.started_at);
  let commands: SessionCommand[] | undefined = metaCommands?.map((c) => ({
    offset: Number(c.offset ?? 0),
    command: String(c.command_line ?? c.command ?? ''),
    ...(c.blocked === true ? { blocked: true } : {}),
  }));
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
  return { id, operator: str(m.operator), account: str(m.account), target: str(m.target), started_at: started, ended_at: str(m.ended_at), commands };
}
