import { z } from 'zod';

export const webhookConfig = z
  .strictObject({
    enabled: z.boolean().default(false),
  })
  .prefault({})
  .describe('Alert delivery to on-call over webhooks.');
export type WebhookConfig = z.infer<typeof webhookConfig>;
