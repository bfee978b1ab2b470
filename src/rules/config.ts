import { z } from 'zod';

export const rulesConfig = z
  .strictObject({
    default_pack: z.boolean().default(true).describe('Load the rule pack shipped with trailwatch (rules/default).'),
    dirs: z.array(z.string()).default([]).describe('Directories of user rule files (*.yaml), loaded after the default pack and hot-reloaded.'),
    gateway_addresses: z
      .array(z.string())
      .default([])
      .describe('Addresses (IPs or CIDRs) the gateway connects to targets from; logins from elsewhere to managed accounts are "direct".'),
    managed_accounts: z
      .array(z.string())
      .default([])
      .describe('Accounts that must only be used through the gateway (in addition to those the gateway reports).'),
  })
  .prefault({})
  .describe('Rules stage: decoders and detection.');
export type RulesConfig = z.infer<typeof rulesConfig>;
