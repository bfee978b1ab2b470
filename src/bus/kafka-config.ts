import { z } from 'zod';

const tlsConfig = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Connect to the brokers over TLS. Default false.'),
    ca_file: z.string().optional().describe('PEM file of the CA that signed the brokers\' certificates (default: the system CAs).'),
    cert_file: z.string().optional().describe('PEM client certificate, for brokers that require mutual TLS.'),
    key_file: z.string().optional().describe('PEM private key of cert_file. The file is a secret; its path is not.'),
    reject_unauthorized: z.boolean().default(true).describe('Refuse brokers whose certificate does not verify. Default true; false only for tests.'),
  })
  .prefault({})
  .refine((t) => !t.cert_file === !t.key_file, { message: 'cert_file and key_file go together', path: ['key_file'] })
  .describe('TLS to the brokers.');

const saslConfig = z
  .strictObject({
    mechanism: z.enum(['none', 'plain', 'scram-sha-256', 'scram-sha-512']).default('none').describe('SASL mechanism. Default none.'),
    username: z.string().optional().describe('SASL user name.'),
    password: z
      .string()
      .optional()
      .describe('SASL password. Secret: prefer env TRAILWATCH_BUS__KAFKA__SASL__PASSWORD over the file; never logged.'),
  })
  .prefault({})
  .refine((s) => s.mechanism === 'none' || (!!s.username && !!s.password), { message: 'username and password are required with a SASL mechanism', path: ['password'] })
  .describe('SASL authentication.');

export const kafkaConfig = z
  .strictObject({
    brokers: z.array(z.string().regex(/^[^\s:]+:\d+$/, 'expected host:port')).min(1).default(['localhost:9092']).describe('Bootstrap brokers host:port (env KAFKA_BROKERS, comma-separated).'),
    client_id: z.string().default('trailwatch').describe('Client id sent to the brokers (shows in broker logs and quotas). Default trailwatch.'),
    tls: tlsConfig,
    sasl: saslConfig,
    connection_timeout_ms: z.number().int().min(100).default(3000).describe('Connect timeout per broker. Default 3000.'),
    request_timeout_ms: z.number().int().min(100).default(30_000).describe('Request timeout. Default 30000.'),
    topics: z
      .strictObject({
        partitions: z.number().int().min(1).default(6).describe('Partitions of each topic `trailwatch setup kafka` creates: the most consumers of one group that can share work. Default 6.'),
        replication_factor: z.number().int().min(1).default(1).describe('Replicas of each topic (3 in production clusters). Default 1.'),
        retention_ms: z.number().int().min(-1).default(7 * 24 * 3600 * 1000).describe('How long records stay in the topics. Default 7 days; -1 keeps forever.'),
      })
      .prefault({}),
    producer: z
      .strictObject({
        batch_size: z.number().int().min(1).default(2000).describe('Most records sent in one produce request. Default 2000.'),
        batch_bytes: z
          .number()
          .int()
          .min(1024)
          .default(768 * 1024)
          .describe(
            'Most bytes of records (before compression) in one produce request; a partition\'s records in a request travel as one Kafka message, which must stay under the brokers\' message.max.bytes (1 MiB by default). Default 786432.',
          ),
        linger_ms: z.number().int().min(0).default(5).describe('How long a publish may wait for more records to share its request. Default 5.'),
        buffer_records: z
          .number()
          .int()
          .min(1)
          .default(50_000)
          .describe('Records held unsent (e.g. while brokers are down) before publishers wait: the backpressure bound. Default 50000.'),
        compression: z
          .enum(['none', 'gzip', 'lz4'])
          .default('lz4')
          .describe('Record batch compression: lz4 (lz4-napi; a fraction of gzip\'s CPU in producers, brokers and consumers, ~6x on our events), gzip (built into kafkajs; ~10x, several times the CPU) or none. Default lz4.'),
      })
      .prefault({}),
    consumer: z
      .strictObject({
        session_timeout_ms: z.number().int().min(1000).default(30_000).describe('A member silent this long is removed from its group and its partitions reassigned. Default 30000.'),
        heartbeat_interval_ms: z.number().int().min(100).default(3000).describe('Heartbeat interval; well under session_timeout_ms. Default 3000.'),
        max_bytes: z.number().int().min(1024).default(10 * 1024 * 1024).describe('Most bytes fetched per request. Default 10 MiB.'),
        max_bytes_per_partition: z
          .number()
          .int()
          .min(1024)
          .default(1024 * 1024)
          .describe('Most bytes fetched per partition per request: with a backlog, the larger, the fewer round trips per record. Default 1 MiB.'),
        batch_size: z.number().int().min(1).default(2000).describe('Most records handed to a stage at once. Default 2000.'),
        partitions_concurrently: z.number().int().min(1).default(3).describe('Partitions of one consumer processed at the same time. Default 3.'),
      })
      .prefault({}),
  })
  .prefault({})
  .describe('Kafka connection (distributed mode).');
export type KafkaConfig = z.infer<typeof kafkaConfig>;
