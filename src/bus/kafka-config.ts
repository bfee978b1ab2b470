import { z } from 'zod';

export const kafkaConfig = z
  .strictObject({
    brokers: z.array(z.string()).default(['localhost:9092']).describe('Bootstrap brokers host:port (env KAFKA_BROKERS, comma-separated).'),
    client_id: z.string().default('trailwatch'),
  })
  .prefault({})
  .describe('Kafka connection (distributed mode).');
export type KafkaConfig = z.infer<typeof kafkaConfig>;
