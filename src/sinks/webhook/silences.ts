// Silences: time-boxed, by matcher, kept in data_dir/silences.json. The CLI
// writes the file (atomically); the running sink re-reads it when it changes.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Alert } from '../../event.js';
import { compileMatcher, matchAll, type HostGroups, type Matcher } from './matchers.js';

export interface Silence {
  id: string;
  matchers: string[];
  starts_at: string;
  ends_at: string;
  comment: string;
  created_by: string;
  created_at: string;
  /** Set when expired early from the CLI. */
  expired_at?: string;
}

export function silencesFile(dataDir: string): string {
  return join(dataDir, 'silences.json');
}

export function readSilences(file: string): Silence[] {
  try {
    const doc = JSON.parse(readFileSync(file, 'utf8')) as { silences?: Silence[] };
    return Array.isArray(doc.silences) ? doc.silences : [];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`${file}: not a silences file: ${(err as Error).message}`);
  }
}

export function writeSilences(file: string, silences: Silence[]): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify({ silences }, null, 2) + '\n');
  renameSync(tmp, file);
}

export function isActive(s: Silence, now: number): boolean {
  return !s.expired_at && Date.parse(s.starts_at) <= now && now < Date.parse(s.ends_at);
}

export function addSilence(
  file: string,
  o: { matchers: string[]; durationMs: number; comment: string; createdBy: string; hostGroups?: HostGroups; now?: number },
): Silence {
  for (const m of o.matchers) compileMatcher(m, o.hostGroups); // refuse what could never match, before writing
  const now = o.now ?? Date.now();
  const s: Silence = {
    id: randomUUID(),
    matchers: o.matchers,
    starts_at: new Date(now).toISOString(),
    ends_at: new Date(now + o.durationMs).toISOString(),
    comment: o.comment,
    created_by: o.createdBy,
    created_at: new Date(now).toISOString(),
  };
  // Keep a week of expired silences for the record; drop older ones.
  const keep = readSilences(file).filter((x) => Date.parse(x.expired_at ?? x.ends_at) > now - 7 * 86_400_000);
  writeSilences(file, [...keep, s]);
  return s;
}

export function expireSilence(file: string, id: string, now = Date.now()): Silence | undefined {
  const all = readSilences(file);
  const s = all.find((x) => x.id === id || (id.length >= 8 && x.id.startsWith(id)));
  if (!s) return undefined;
  s.expired_at = new Date(now).toISOString();
  writeSilences(file, all);
  return s;
}

/** The sink's view: compiled silences, reloaded when the file's mtime changes (checked at most once a second). */
export class SilenceSet {
  private compiled: { s: Silence; m: Matcher[] }[] = [];
  private mtime = -1;
  private checkedAt = 0;

  constructor(
    readonly file: string,
    private readonly hostGroups: HostGroups,
    private readonly onError: (err: Error) => void,
    private readonly now: () => number = Date.now,
  ) {}

  private refresh(): void {
    const now = this.now();
    if (now - this.checkedAt < 1000) return;
    this.checkedAt = now;
    let mtime = 0;
    try {
      mtime = statSync(this.file).mtimeMs;
    } catch {
      mtime = 0;
    }
    if (mtime === this.mtime) return;
    this.mtime = mtime;
    const next: { s: Silence; m: Matcher[] }[] = [];
    try {
      for (const s of mtime ? readSilences(this.file) : []) {
        try {
          next.push({ s, m: s.matchers.map((t) => compileMatcher(t, this.hostGroups)) });
        } catch (err) {
          this.onError(new Error(`silence ${s.id} ignored: ${(err as Error).message}`));
        }
      }
      this.compiled = next;
    } catch (err) {
      this.onError(err as Error);
    }
  }

  /** Force a re-read on the next check (tests, CLI in-process). */
  invalidate(): void {
    this.checkedAt = 0;
    this.mtime = -1;
  }

  silenced(alert: Alert): Silence | undefined {
    this.refresh();
    const now = this.now();
    for (const c of this.compiled) if (isActive(c.s, now) && matchAll(c.m, alert)) return c.s;
    return undefined;
  }
}
