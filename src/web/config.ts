// The web console's config section (`web:` in trailwatch.yaml).
import { z } from 'zod';

const admin = z.strictObject({
  name: z.string().min(1).regex(/^[A-Za-z0-9._@-]+$/).describe('Administrator name, shown in the console and recorded on approvals. Not secret.'),
  token_sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'expected 64 lowercase hex digits (sha256 of the token; `trailwatch web token` prints one)')
    .describe('SHA-256 (hex) of the administrator\'s login token. The token itself is never stored; generate with `trailwatch web token`. Not secret on its own, but keep it private.'),
});

export const webConfig = z
  .strictObject({
    enabled: z
      .boolean()
      .optional()
      .describe('Run the console inside `trailwatch run` too (embedded mode). Unset: it runs there once web.admins has an entry. `trailwatch web` runs it alone regardless.'),
    host: z.string().default('127.0.0.1').describe('Address the console listens on. Default 127.0.0.1: plain HTTP, so put a TLS reverse proxy in front before exposing it.'),
    port: z.number().int().min(0).max(65535).default(8081).describe('Console HTTP port (default 8081).'),
    public_url: z
      .url({ protocol: /^https?$/ })
      .refine((u) => new URL(u).pathname === '/' && !new URL(u).search, 'expected scheme://host[:port] with no path (serve the console at the root of its host)')
      .default('http://localhost:8081')
      .describe('URL browsers use to reach the console (scheme://host[:port], no path). POSTs must carry this Origin; alert links are <public_url>/sessions/<id>?t=<offset>; https makes the cookie Secure.'),
    admins: z.array(admin).default([]).describe('Who may log in: [{ name, token_sha256 }]. `trailwatch web` refuses to start with none.'),
    session_ttl_minutes: z.number().int().min(1).max(7 * 24 * 60).default(480).describe('Login lifetime in minutes (default 480).'),
    source: z
      .enum(['auto', 'elasticsearch', 'files'])
      .default('auto')
      .describe('Where session search reads: elasticsearch (gateway events), files (recordings under recordings_dir), auto = elasticsearch when sinks.elasticsearch.enabled.'),
    recordings_dir: z.string().optional().describe('Gateway recordings (<session>-<channel>.cast + .json); default gateway.recording.dir, i.e. <data_dir>/gateway/recordings.'),
    elasticsearch_index: z.string().min(1).optional().describe('Index pattern holding gateway events; default the Elasticsearch sink\'s events pattern.'),
  })
  .prefault({})
  .describe('Web console: session search and playback, transfer approvals (`trailwatch web`).');

export type WebConfig = z.infer<typeof webConfig>;

/** Whether `run` serves the console: web.enabled, or when unset, once there is an administrator to log in. */
export function webInRun(web: WebConfig): boolean {
  return web.enabled ?? web.admins.length > 0;
}
