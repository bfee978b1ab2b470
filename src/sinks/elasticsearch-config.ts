import { z } from 'zod';

export const elasticsearchConfig = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Write events and alerts to Elasticsearch.'),
    url: z.string().default('http://localhost:9200').describe('Elasticsearch URL (env ELASTICSEARCH_URL).'),
  })
  .prefault({})
  .describe('Elasticsearch sink.');
export type ElasticsearchConfig = z.infer<typeof elasticsearchConfig>;
