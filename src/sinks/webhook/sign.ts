// Standard Webhooks (https://www.standardwebhooks.com) symmetric signatures:
// v1,<base64 HMAC-SHA256 of "id.timestamp.body"> with each whsec_ secret,
// space-separated so receivers can rotate secrets without downtime.
import { createHmac, randomBytes } from 'node:crypto';
import { whsecKey } from '../webhook-config.js';
import type { Secret } from './secret.js';

export function sign(id: string, timestampSec: number, body: string, secret: Secret): string {
  const key = whsecKey(secret.reveal());
  if (!key) throw new Error('malformed whsec_ secret');
  return 'v1,' + createHmac('sha256', key).update(`${id}.${timestampSec}.${body}`).digest('base64');
}

/** The three Standard Webhooks headers for one attempt (the timestamp is the attempt's). */
export function signedHeaders(id: string, body: string, secrets: readonly Secret[], nowMs = Date.now()): Record<string, string> {
  const ts = Math.floor(nowMs / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(ts),
    'webhook-signature': secrets.map((s) => sign(id, ts, body, s)).join(' '),
  };
}

/** A fresh signing secret: 32 random bytes. */
export function newSecret(): string {
  return 'whsec_' + randomBytes(32).toString('base64');
}
