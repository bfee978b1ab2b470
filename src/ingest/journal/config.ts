import { z } from 'zod';

export const journalConfig = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Receive journal entries from systemd-journal-upload (POST /upload, Journal Export Format).'),
    host: z.string().default('0.0.0.0').describe('Address to listen on.'),
    port: z.number().int().min(0).max(65535).default(19532).describe("Port (19532 is systemd-journal-remote's, and systemd-journal-upload's default). 0 picks a free port."),
    tls: z
      .strictObject({
        enabled: z.boolean().default(false).describe('Serve HTTPS (upload URL https://…); needs cert and key.'),
        cert: z.string().optional().describe('PEM certificate file.'),
        key: z.string().optional().describe('PEM private key file (secret).'),
        ca: z.string().optional().describe("PEM CA bundle that signed the uploaders' certificates (systemd-journal-upload --key/--cert)."),
        require_client_cert: z.boolean().default(true).describe('With `ca`: refuse uploaders without a certificate it signed (journal-upload has no other authentication).'),
      })
      .prefault({})
      .refine((t) => !t.enabled || (t.cert && t.key), { message: 'tls.enabled needs cert and key' }),
    max_field_bytes: z
      .number()
      .int()
      .min(1024)
      .max(64 * 1024 * 1024)
      .default(1024 * 1024)
      .describe('Longer field values are cut and the event tagged "truncated"; the excess is skipped, never buffered.'),
    max_connections: z.number().int().min(1).default(1024).describe('Uploader connections beyond this are refused.'),
  })
  .prefault({})
  .describe('journald receiver: what systemd-journal-remote does, for servers that log only to the journal.');

export type JournalConfig = z.infer<typeof journalConfig>;
