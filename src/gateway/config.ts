import { z } from 'zod';

export const gatewayConfig = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Run the SSH gateway inside `trailwatch run`.'),
  })
  .prefault({})
  .describe('SSH gateway (rotator/proxy).');
export type GatewayConfig = z.infer<typeof gatewayConfig>;
