// Real Elasticsearch for the dashboard and console tests: the index template
// (the sink's own mappings) on test-unique index names, the replayed corpus
// bulk-indexed, everything removed afterwards.
import { randomBytes } from 'node:crypto';
import { Client } from '@elastic/elasticsearch';
import type { TwEvent } from '../src/event.js';
import { indexTemplate } from './dashboards-model.js';

export const ES_URL = process.env.ELASTICSEARCH_URL;

/** Skip reason when no Elasticsearch is given; under CI a missing one fails instead. */
export function esSkip(): string | false {
  if (ES_URL) return false;
  if (process.env.CI) throw new Error('ELASTICSEARCH_URL is not set: npm test (test/run.mjs) must start Elasticsearch');
  return 'ELASTICSEARCH_URL not set (npm test starts Elasticsearch via test/services)';
}

export interface TestIndices {
  client: Client;
  /** Pattern covering the test's events and alerts (what the Grafana datasource's index is in production). */
  pattern: string;
  templateSource: string;
  cleanup(): Promise<void>;
}

export async function indexCorpus(docs: { events: TwEvent[]; alerts: TwEvent[] }): Promise<TestIndices> {
  const client = new Client({ node: ES_URL!, requestTimeout: 60_000 });
  const sfx = randomBytes(4).toString('hex');
  const prefix = `trailwatch-dashtest-${sfx}`;
  const { template, source } = await indexTemplate();
  const name = `tw-dashtest-${sfx}`;
  const dataStream = !!template.data_stream;
  await client.indices.putIndexTemplate({
    name,
    index_patterns: [`${prefix}-*`],
    priority: 1000,
    ...(dataStream ? { data_stream: {} } : {}),
    template: { ...template.template, settings: { ...(template.template.settings ?? {}), number_of_replicas: 0 } },
  } as Parameters<Client['indices']['putIndexTemplate']>[0]);
  const operations: unknown[] = [];
  for (const [kind, list] of [['events', docs.events], ['alerts', docs.alerts]] as const)
    for (const d of list) operations.push(dataStream ? { create: { _index: `${prefix}-${kind}` } } : { index: { _index: `${prefix}-${kind}`, _id: d.event.id } }, d);
  const r = await client.bulk({ operations: operations as never, refresh: 'wait_for' });
  if (r.errors) {
    const first = r.items.find((i) => Object.values(i)[0]?.error);
    throw new Error(`bulk indexing failed: ${JSON.stringify(first)}`);
  }
  return {
    client,
    pattern: `${prefix}-*`,
    templateSource: source,
    cleanup: async () => {
      if (dataStream) await client.indices.deleteDataStream({ name: `${prefix}-*` }).catch(() => {});
      else await client.indices.delete({ index: `${prefix}-*`, ignore_unavailable: true }).catch(() => {});
      await client.indices.deleteIndexTemplate({ name }).catch(() => {});
      await client.close();
    },
  };
}
