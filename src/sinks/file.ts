// Embedded store: NDJSON files under the data directory, one file per UTC day,
// rolled over to a numbered file when it passes max_file_bytes.
import { mkdir, open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { TwEvent } from '../event.js';
import { TrailwatchError, errorMessage } from '../errors.js';

export const fileSinkConfig = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Write events and alerts to NDJSON files under data_dir (embedded mode).'),
    max_file_bytes: z
      .number()
      .int()
      .min(1024)
      .default(256 * 1024 * 1024)
      .describe('Roll over to a new numbered file past this size (files also roll daily, UTC).'),
    fsync: z.boolean().default(false).describe('fsync after each batch (slower; survives power loss).'),
    retention_days: z.number().int().min(0).default(30).describe('Files older than this are removed by the retention job (0 = keep).'),
  })
  .prefault({})
  .describe('NDJSON file sink.');
export type FileSinkConfig = z.infer<typeof fileSinkConfig>;

const ROTATED = /^([A-Za-z0-9_-]+)-(\d{4}-\d{2}-\d{2})(?:\.(\d+))?\.ndjson$/;

/** A file name as RotatingNdjson makes them: its stream, UTC day and roll-over number (0 for the day's first). */
export function rotatedName(file: string): { stream: string; day: string; n: number } | null {
  const m = ROTATED.exec(file);
  return m ? { stream: m[1], day: m[2], n: m[3] ? Number(m[3]) : 0 } : null;
}

/** An append-only NDJSON stream: `<dir>/<name>-YYYY-MM-DD[.N].ndjson`. */
export class RotatingNdjson {
  private fh: FileHandle | null = null;
  private day = '';
  private index = 0;
  private size = 0;
  private chain: Promise<void> = Promise.resolve();
  /** The last failed write left bytes that could not be cut off: start the next write on a new line. */
  private torn = false;

  constructor(
    readonly dir: string,
    readonly name: string,
    private readonly cfg: Pick<FileSinkConfig, 'max_file_bytes' | 'fsync'>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Append records in order; resolves when they are written. */
  write(records: readonly unknown[]): Promise<void> {
    if (!records.length) return this.chain;
    let text = '';
    for (const r of records) text += JSON.stringify(r) + '\n';
    const buf = Buffer.from(text, 'utf8');
    const p = this.chain.then(() => this.append(buf));
    this.chain = p.catch(() => {});
    return p;
  }

  /**
   * Whole records or nothing: short writes are continued, and when a write
   * or fsync fails (a full disk) what part of the batch reached the file is
   * cut off again, so no line is torn or glued to the next. The error is
   * retriable: the bus redelivers the batch, waiting, until there is room.
   */
  private async append(buf: Buffer): Promise<void> {
    let off = 0;
    let start = -1;
    try {
      const day = this.now().toISOString().slice(0, 10);
      if (!this.fh || day !== this.day || this.size + buf.length > this.cfg.max_file_bytes) await this.roll(day, buf.length);
      const fh = this.fh!;
      start = this.size;
      if (this.torn) {
        // A tail that could not be cut off earlier ends here, as a line of its own.
        await this.writeAll(fh, Buffer.from('\n'));
        this.torn = false;
        this.size = start = start + 1;
      }
      while (off < buf.length) off += await this.writeAll(fh, buf.subarray(off));
      if (this.cfg.fsync) await fh.sync();
      this.size += buf.length;
    } catch (err) {
      if (off > 0 && this.fh) await this.fh.truncate(start).catch(() => (this.torn = true));
      throw new TrailwatchError('TW_FILE_WRITE', `cannot write ${this.path()}: ${errorMessage(err)}`, { retriable: true, cause: err });
    }
  }

  /** One write call; throws on an error or a write that made no progress. */
  private async writeAll(fh: FileHandle, buf: Buffer): Promise<number> {
    const { bytesWritten } = await fh.write(buf, 0, buf.length, null);
    if (bytesWritten <= 0) throw new Error('write made no progress');
    return bytesWritten;
  }

  private async roll(day: string, need: number): Promise<void> {
    if (this.fh) await this.fh.close();
    this.fh = null;
    await mkdir(this.dir, { recursive: true });
    if (day !== this.day) {
      this.day = day;
      this.index = await this.lastIndex(day);
    } else this.index++;
    for (;;) {
      const file = this.path();
      const size = await stat(file).then((s) => s.size, () => 0);
      if (size > 0 && size + need > this.cfg.max_file_bytes) {
        this.index++;
        continue;
      }
      this.fh = await open(file, 'a');
      this.size = size;
      return;
    }
  }

  private async lastIndex(day: string): Promise<number> {
    let max = 0;
    for (const f of await readdir(this.dir).catch(() => [] as string[])) {
      const r = rotatedName(f);
      if (r && r.stream === this.name && r.day === day) max = Math.max(max, r.n);
    }
    return max;
  }

  path(): string {
    const suffix = this.index ? `.${this.index}` : '';
    return join(this.dir, `${this.name}-${this.day}${suffix}.ndjson`);
  }

  async close(): Promise<void> {
    await this.chain;
    if (this.fh) {
      if (this.cfg.fsync) await this.fh.sync();
      await this.fh.close();
      this.fh = null;
    }
  }
}

/** The file sink: events to <data_dir>/events, alerts to <data_dir>/alerts. */
export class FileSink {
  readonly events: RotatingNdjson;
  readonly alerts: RotatingNdjson;
  constructor(dataDir: string, cfg: FileSinkConfig) {
    this.events = new RotatingNdjson(join(dataDir, 'events'), 'events', cfg);
    this.alerts = new RotatingNdjson(join(dataDir, 'alerts'), 'alerts', cfg);
  }
  writeEvents(evs: readonly TwEvent[]): Promise<void> {
    return this.events.write(evs);
  }
  writeAlerts(alerts: readonly TwEvent[]): Promise<void> {
    return this.alerts.write(alerts);
  }
  async close(): Promise<void> {
    await Promise.all([this.events.close(), this.alerts.close()]);
  }
}

import type { Stage, StageContext } from '../stage.js';

/** Consumes the events and alerts topics into the NDJSON files. */
export function createFileSinkStage(ctx: StageContext): Stage {
  const sink = new FileSink(ctx.config.data_dir, ctx.config.sinks.file);
  const written = ctx.metrics.counter('trailwatch_sink_written_events_total', 'Events and alerts written by a sink.', ['sink', 'kind']);
  const writeErrors = ctx.metrics.counter('trailwatch_sink_write_errors_total', 'Batches a sink could not write (retried until written).', ['sink', 'kind']);
  let lastError: string | null = null;
  const subs: { stop(): Promise<void> }[] = [];
  return {
    name: 'sink.file',
    async start() {
      subs.push(
        await ctx.bus.subscribe({
          topics: [ctx.topics.events, ctx.topics.alerts],
          group: 'sink-file',
          handler: async (batch, topic) => {
            const values = batch.map((m) => m.value);
            const kind = topic === ctx.topics.alerts ? 'alert' : 'event';
            try {
              if (kind === 'alert') await sink.writeAlerts(values);
              else await sink.writeEvents(values);
            } catch (err) {
              if (err instanceof TrailwatchError && err.code === 'TW_FILE_WRITE') {
                if (lastError === null) ctx.log.error({ err: err.message }, 'file sink cannot write; holding records until it can');
                lastError = err.message;
                writeErrors.inc({ sink: 'file', kind });
              }
              throw err;
            }
            if (lastError !== null) ctx.log.info('file sink writes again');
            lastError = null;
            written.inc({ sink: 'file', kind }, values.length);
          },
        }),
      );
    },
    async stop() {
      for (const s of subs) await s.stop();
      await sink.close();
    },
    health() {
      return { ok: lastError === null, lastError };
    },
  };
}
