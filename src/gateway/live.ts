// Live sessions and their termination by an administrator, as files under
// <data_dir>/gateway/live so the gateway, the CLI (`trailwatch sessions …`)
// and the web console share them without a server (like approvals):
//   <id>.json       the gateway writes it before the access rotation (so a
//                   crash from then on is undone at the next start: the
//                   account is rotated and the session's end recorded), marks
//                   it connected once the session reaches its target, and
//                   removes it after the session-end rotation
//   <id>.terminate  an administrator asks the gateway to end that session;
//                   the gateway checks every second
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TrailwatchError } from '../errors.js';

export interface LiveSession {
  id: string;
  operator: string;
  account: string;
  target: string;
  source_ip: string;
  started_at: string;
  /** False while the access rotation and target login are under way. */
  connected?: boolean;
  /** Set when the operator left, before the session-end rotation: no longer live, not yet undone. */
  ended_at?: string;
  /** Set once an administrator asked for the session to end. */
  termination?: Termination;
}

export interface Termination {
  by: string;
  reason: string;
  requested_at: string;
}

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function liveDir(dataDir: string): string {
  return join(dataDir, 'gateway', 'live');
}

function path(dataDir: string, id: string, ext: 'json' | 'terminate'): string {
  if (!ID.test(id)) throw new TrailwatchError('TW_SESSION_ID', `not a session id: ${JSON.stringify(id)}`);
  return join(liveDir(dataDir), `${id}.${ext}`);
}

function writeAtomic(file: string, value: unknown): void {
  writeFileSync(file + '.tmp', JSON.stringify(value) + '\n', { mode: 0o640 });
  renameSync(file + '.tmp', file);
}

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return null; // gone meanwhile (the session ended)
  }
}

/** Records left by a previous run of the gateway (its processes are gone), ended ones too: what a start must undo. */
export function leftOver(dataDir: string): LiveSession[] {
  mkdirSync(liveDir(dataDir), { recursive: true, mode: 0o750 });
  return records(dataDir);
}

/** The operator left: the session is no longer listed, and the record stays until the account is rotated. */
export function markEnded(dataDir: string, id: string): void {
  const s = readJson<LiveSession>(path(dataDir, id, 'json'));
  if (s) writeAtomic(path(dataDir, id, 'json'), { ...s, ended_at: new Date().toISOString() });
}

export function register(dataDir: string, s: LiveSession): void {
  mkdirSync(liveDir(dataDir), { recursive: true, mode: 0o750 });
  writeAtomic(path(dataDir, s.id, 'json'), s);
}

export function unregister(dataDir: string, id: string): void {
  rmSync(path(dataDir, id, 'json'), { force: true });
  rmSync(path(dataDir, id, 'terminate'), { force: true });
}

function records(dataDir: string): LiveSession[] {
  const dir = liveDir(dataDir);
  if (!existsSync(dir)) return [];
  const out: LiveSession[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.json')) continue;
    const s = readJson<LiveSession>(join(dir, f));
    if (s) out.push(s);
  }
  return out.sort((a, b) => a.started_at.localeCompare(b.started_at));
}

/** Live sessions, oldest first, each with its termination request if any. */
export function list(dataDir: string): LiveSession[] {
  const out: LiveSession[] = [];
  for (const s of records(dataDir)) {
    if (s.ended_at) continue;
    const t = readJson<Termination>(join(liveDir(dataDir), `${s.id}.terminate`));
    out.push(t ? { ...s, termination: t } : s);
  }
  return out;
}

/** One live session, or null (not live, or not a session id). */
export function get(dataDir: string, id: string): LiveSession | null {
  return ID.test(id) ? readJson<LiveSession>(path(dataDir, id, 'json')) : null;
}

/** Ask the gateway to end a live session. */
export function requestTermination(dataDir: string, id: string, t: { by: string; reason?: string }): LiveSession {
  const s = readJson<LiveSession>(path(dataDir, id, 'json'));
  if (!s) throw new TrailwatchError('TW_SESSION_NOT_LIVE', `no live session ${id}`);
  const termination: Termination = { by: t.by, reason: t.reason?.trim() || 'terminated by an administrator', requested_at: new Date().toISOString() };
  writeAtomic(path(dataDir, id, 'terminate'), termination);
  return { ...s, termination };
}

/** The termination asked for this session, if any. */
export function terminationOf(dataDir: string, id: string): Termination | null {
  return readJson<Termination>(path(dataDir, id, 'terminate'));
}
