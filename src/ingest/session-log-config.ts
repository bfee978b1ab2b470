import { z } from 'zod';

export const sessionLogConfig = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Accept gateway session records (NDJSON) on POST /v1/session-log of the HTTP port.'),
    token: z.string().optional().describe('Bearer token senders must present (secret; env TRAILWATCH_SESSION_LOG__TOKEN). Without it the endpoint refuses all.'),
    max_body_bytes: z.number().int().min(1024).default(8 * 1024 * 1024).describe('Largest request body accepted (413 beyond).'),
    max_event_bytes: z
      .number()
      .int()
      .min(1024)
      .default(1024 * 1024)
      .describe('Longest line (one event) taken as an event; a longer one is kept cut to this size, tagged unparsed and truncated.'),
  })
  .prefault({})
  .describe('Session-log ingester for the gateway.');
export type SessionLogConfig = z.infer<typeof sessionLogConfig>;
