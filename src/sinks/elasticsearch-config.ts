import { z } from 'zod';

export const elasticsearchConfig = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Write events and alerts to Elasticsearch. Default false (embedded mode); `trailwatch sink elasticsearch` turns it on.'),
    url: z.string().url().default('http://localhost:9200').describe('Elasticsearch URL (env ELASTICSEARCH_URL). Default http://localhost:9200.'),
    auth: z
      .strictObject({
        username: z.string().optional().describe('Basic auth user (e.g. elastic).'),
        password: z.string().optional().describe('Basic auth password. Secret: prefer env TRAILWATCH_SINKS__ELASTICSEARCH__AUTH__PASSWORD; never logged.'),
        api_key: z.string().optional().describe('API key (base64 id:key), instead of basic auth. Secret; never logged.'),
        ca_file: z.string().optional().describe('PEM CA file for an https URL with a private CA (the Docker image\'s http_ca.crt).'),
        reject_unauthorized: z.boolean().default(true).describe('Refuse servers whose certificate does not verify. Default true.'),
      })
      .prefault({})
      .refine((a) => !a.password || !!a.username, { message: 'password needs username', path: ['username'] })
      .refine((a) => !(a.api_key && a.username), { message: 'use either api_key or username/password', path: ['api_key'] }),
    events_data_stream: z
      .string()
      .regex(/^logs-[a-z0-9._]+-[a-z0-9._]+$/, 'expected logs-<dataset>-<namespace>, lower case')
      .default('logs-trailwatch.events-default')
      .describe('Data stream for events (append-only, rolled over by the lifecycle). Default logs-trailwatch.events-default.'),
    alerts_index: z.string().regex(/^[a-z0-9._-]+$/).default('trailwatch-alerts').describe('Index for alerts (one document per alert id). Default trailwatch-alerts.'),
    retention_days: z.number().int().min(1).default(30).describe('Days events are kept before the lifecycle deletes them. Default 30.'),
    replicas: z.number().int().min(0).default(0).describe('Replicas per shard for the templates. Default 0 (single node); 1 or more on a cluster.'),
    bulk: z
      .strictObject({
        flush_bytes: z.number().int().min(1024).default(5 * 1024 * 1024).describe('Bulk request size limit in bytes. Default 5 MiB.'),
        flush_records: z.number().int().min(1).default(2000).describe('Most documents per bulk request. Default 2000.'),
        concurrency: z.number().int().min(1).default(2).describe('Bulk requests in flight per batch. Default 2.'),
        retries: z.number().int().min(0).default(6).describe('Rounds of per-document retries of 429/5xx (jittered backoff) before the batch is redelivered from Kafka. Default 6.'),
        retry_initial_ms: z.number().int().min(1).default(200).describe('First retry delay. Default 200.'),
        retry_max_ms: z.number().int().min(1).default(10_000).describe('Longest retry delay. Default 10000.'),
      })
      .prefault({}),
    request_timeout_ms: z.number().int().min(100).default(30_000).describe('Per request timeout. Default 30000.'),
  })
  .prefault({})
  .describe('Elasticsearch sink.');
export type ElasticsearchConfig = z.infer<typeof elasticsearchConfig>;
