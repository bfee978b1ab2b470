import { z } from 'zod';

export const rulesConfig = z
  .strictObject({
    default_pack: z.boolean().default(true).describe('Load the rule pack shipped with trailwatch (rules/default).'),
    dirs: z.array(z.string()).default([]).describe('Directories of user rule files (*.yaml), loaded after the default pack and hot-reloaded.'),
    gateway_addresses: z
      .array(z.string())
      .default([])
      .describe('Addresses (IPs or CIDRs) the gateway connects to targets from; logins from elsewhere to managed accounts are "direct".'),
    command_policy_file: z
      .string()
      .min(1)
      .optional()
      .describe(
        "The gateway's policy file, whose command rules also judge what auditd saw run on the targets (EXECVE): a command the policy blocks that ran anyway is alerted (rule gateway-policy-command-ran), naming the gateway session open at the time. Default: gateway.policy_file when the gateway runs in this process (gateway.enabled); set it on distributed rules workers.",
      ),
    managed_accounts: z
      .array(z.string())
      .default([])
      .describe('Accounts that must only be used through the gateway (in addition to those the gateway reports).'),
  })
  .prefault({})
  .describe('Rules stage: decoders and detection.');
export type RulesConfig = z.infer<typeof rulesConfig>;
