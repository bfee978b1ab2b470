// The embedded event store's settings (SQLite, `trailwatch run`).
import { z } from 'zod';

export const storeConfig = z
  .strictObject({
    enabled: z
      .boolean()
      .optional()
      .describe('Unset: on whenever sinks.file is. Keep events and alerts in an embedded SQLite store under data_dir (embedded mode): the console\'s alerts inbox, event search and overview read it. The store stores the events the file sink writes (sinks.file must be on): a burst faster than the store waits in those files, and a restart goes on where it stopped.'),
    path: z.string().optional().describe('The database file (default <data_dir>/store/trailwatch.db).'),
    retention_days: z.number().int().min(0).default(30).describe('Events and alerts older than this are deleted by the retention job (0 = keep).'),
    max_bytes: z
      .number()
      .int()
      .min(1024 * 1024)
      .default(10 * 1024 * 1024 * 1024)
      .describe('Past this size (live pages of the database) the oldest events are deleted until it is 10 % under. Default 10 GiB.'),
    nice: z
      .number()
      .int()
      .min(0)
      .max(19)
      .default(10)
      .describe('CPU priority of the thread that stores events (Linux nice, 0-19): above 0 ingest comes first when the CPUs are busy, and the store catches up after a burst.'),
    synchronous: z
      .enum(['off', 'normal', 'full'])
      .default('normal')
      .describe('SQLite synchronous mode. normal (WAL): a power loss may lose the last batches, never corrupts; full: fsync on every batch.'),
  })
  .prefault({})
  .describe('Embedded event store (SQLite, WAL, FTS5), written on its own thread.');
export type StoreConfig = z.infer<typeof storeConfig>;

/** Whether `run` keeps the store: store.enabled, or when unset, whenever the file sink (which it reads) is on. */
export function storeEnabled(c: { store: StoreConfig; sinks: { file: { enabled: boolean } } }): boolean {
  return c.store.enabled ?? c.sinks.file.enabled;
}
