// Where session search reads from, behind one interface: Elasticsearch
// (gateway events) when the Elasticsearch sink is configured, else the
// gateway's recording files. Playback always streams the recording file.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { defaultRecordingsDir, findRecordings, listRecordingIds, readSession, validSessionId, type SessionSummary } from './recordings.js';
import { ElasticsearchSessionSource } from './sources-es.js';
import { eventsIndexPattern } from './es-adapter.js';

export interface SessionQuery {
  operator?: string;
  target?: string;
  account?: string;
  /** Sessions that started at or after / at or before these times. */
  from?: Date;
  to?: Date;
  /** Substring of a command line (case-insensitive). */
  command?: string;
  limit?: number;
}

export interface SessionSource {
  readonly kind: 'elasticsearch' | 'files';
  search(q: SessionQuery): Promise<SessionSummary[]>;
  /** One session; `recording` picks one of its recordings (channels) where the source has several. */
  get(id: string, recording?: string): Promise<SessionSummary | undefined>;
  close?(): Promise<void>;
}

export function recordingsDir(config: Config): string {
  return config.web.recordings_dir ?? defaultRecordingsDir(config);
}

export function createSessionSource(config: Config): SessionSource {
  const kind = config.web.source === 'auto' ? (config.sinks.elasticsearch.enabled ? 'elasticsearch' : 'files') : config.web.source;
  if (kind === 'elasticsearch')
    return new ElasticsearchSessionSource({ url: config.sinks.elasticsearch.url, index: config.web.elasticsearch_index ?? eventsIndexPattern(config) });
  return new FileSessionSource(recordingsDir(config));
}

function matchesText(v: string | undefined, want: string | undefined): boolean {
  return !want || (v ?? '').toLowerCase() === want.toLowerCase();
}

/** Session search over the recording files; summaries cached by file mtime. */
export class FileSessionSource implements SessionSource {
  readonly kind = 'files' as const;
  private readonly cache = new Map<string, { mtimeMs: number; summary: SessionSummary }>();

  constructor(private readonly dir: string) {}

  async search(q: SessionQuery): Promise<SessionSummary[]> {
    const needle = q.command?.toLowerCase();
    const out: SessionSummary[] = [];
    for (const id of listRecordingIds(this.dir)) {
      const s = this.load(id);
      if (!s) continue;
      if (!matchesText(s.operator, q.operator) || !matchesText(s.target, q.target) || !matchesText(s.account, q.account)) continue;
      const t = s.started_at ? Date.parse(s.started_at) : NaN;
      if (q.from && !(t >= q.from.getTime())) continue;
      if (q.to && !(t <= q.to.getTime())) continue;
      if (needle) {
        const hits = s.commands.filter((c) => c.command.toLowerCase().includes(needle));
        if (!hits.length) continue;
        out.push({ ...s, commands: hits });
      } else out.push(s);
    }
    out.sort((a, b) => (b.started_at ?? '').localeCompare(a.started_at ?? ''));
    return out.slice(0, q.limit ?? 100);
  }

  async get(id: string, recording?: string): Promise<SessionSummary | undefined> {
    const recs = findRecordings(this.dir, id);
    const base = recording && recs.includes(recording) ? recording : recs[0];
    return base ? this.load(base) : undefined;
  }

  private load(id: string): SessionSummary | undefined {
    if (!validSessionId(id)) return undefined;
    let mtimeMs: number;
    try {
      const cast = statSync(join(this.dir, `${id}.cast`)).mtimeMs;
      let meta = 0;
      try {
        meta = statSync(join(this.dir, `${id}.json`)).mtimeMs;
      } catch {
        meta = 0;
      }
      mtimeMs = Math.max(cast, meta);
    } catch {
      return undefined;
    }
    const hit = this.cache.get(id);
    if (hit && hit.mtimeMs === mtimeMs) return hit.summary;
    const summary = readSession(this.dir, id);
    if (summary) this.cache.set(id, { mtimeMs, summary });
    return summary;
  }
}
