// The reference loader of the pipeline benches: the official client's bulk
// helper writing documents it holds in memory (what the ES sink did before it
// built requests from the records' bytes), sliced by flush_records with the
// configured flush_bytes and concurrency. It is kept apart from the sink's
// code so that changing the sink never moves the reference.
import type { Client } from '@elastic/elasticsearch';
import type { ElasticsearchConfig } from '../../src/sinks/elasticsearch-config.js';
import type { BulkDoc } from '../../src/sinks/elasticsearch.js';

/** Bulk-load docs; returns how many were stored. Throws if any was refused. */
export async function directLoad(client: Client, cfg: ElasticsearchConfig, docs: BulkDoc[]): Promise<number> {
  let stored = 0;
  let dropped = 0;
  for (let i = 0; i < docs.length; i += cfg.bulk.flush_records) {
    const stats = await client.helpers.bulk<BulkDoc>({
      datasource: docs.slice(i, i + cfg.bulk.flush_records),
      onDocument: (d) => [{ [d.op]: { _index: d.index, _id: d.id } } as never, d.doc],
      flushBytes: cfg.bulk.flush_bytes,
      concurrency: cfg.bulk.concurrency,
      retries: 0,
      onDrop: () => void dropped++,
    });
    stored += stats.successful;
  }
  if (dropped) throw new Error(`direct loader: ${dropped} documents refused`);
  return stored;
}
