// One HTTP POST attempt: SSRF-guarded lookup, a hard timeout, no redirects
// followed (a 3xx is a failure, as Standard Webhooks advises), the response
// status mapped to whether a retry can help. Errors never carry the URL.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { TrailwatchError } from '../../errors.js';
import { checkHost, guardedLookup, type SsrfPolicy } from './ssrf.js';

export interface PostOptions {
  timeoutMs: number;
  policy: SsrfPolicy;
  signal?: AbortSignal;
}

export interface PostResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

const MAX_BODY = 4096;

export class DeliveryError extends TrailwatchError {
  constructor(
    code: string,
    message: string,
    readonly status: number | undefined,
    opts: { retriable: boolean; retryAfterMs?: number; cause?: unknown },
  ) {
    super(code, message, opts);
    this.retryAfterMs = opts.retryAfterMs;
  }
  readonly retryAfterMs: number | undefined;
}

/** Retry-After as a delay: delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | string[] | undefined, nowMs = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  const t = v.trim();
  if (/^\d+$/.test(t)) return Number(t) * 1000;
  const at = Date.parse(t);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

export function post(url: string, body: string, headers: Record<string, string>, o: PostOptions): Promise<PostResult> {
  const u = new URL(url);
  checkHost(u.hostname, o.policy);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  const payload = Buffer.from(body, 'utf8');
  return new Promise((resolve, reject) => {
    const req = request(
      u,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'trailwatch-webhook', ...headers, 'content-length': String(payload.length) },
        lookup: guardedLookup(o.policy) as never,
        signal: o.signal,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          if (text.length < MAX_BODY) text += d.slice(0, MAX_BODY - text.length);
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text });
        });
        res.on('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      },
    );
    const timer = setTimeout(() => {
      const err = Object.assign(new Error(`no response within ${o.timeoutMs} ms`), { code: 'ETIMEDOUT' });
      req.destroy(err);
    }, o.timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(payload);
  });
}

/** Map a response to success or a DeliveryError (retriable for 408/425/429/5xx). */
export function checkResponse(r: PostResult, who: string, clean: (s: string) => string): void {
  if (r.status >= 200 && r.status < 300) return;
  const snippet = clean(r.body.replace(/\s+/g, ' ').trim().slice(0, 200));
  const detail = snippet ? `: ${snippet}` : '';
  if (r.status === 410) throw new DeliveryError('TW_WEBHOOK_GONE', `receiver "${who}" answered 410 Gone${detail}`, 410, { retriable: false });
  const retriable = r.status === 408 || r.status === 425 || r.status === 429 || r.status >= 500;
  const what = r.status >= 300 && r.status < 400 ? ' (redirects are not followed; update the URL)' : '';
  throw new DeliveryError('TW_WEBHOOK_STATUS', `receiver "${who}" answered ${r.status}${what}${detail}`, r.status, {
    retriable,
    retryAfterMs: parseRetryAfter(r.headers['retry-after']),
  });
}
