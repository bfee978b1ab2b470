// Console authentication. Administrators are a configured list of names with
// the SHA-256 of a random token (tokens are 256-bit random, so a fast hash is
// enough: nothing to brute-force, unlike a password). A login exchanges the
// token for a server-side session id in an HttpOnly SameSite=Strict cookie;
// scripts may instead send `Authorization: Bearer <token>` on each request.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { WebConfig } from './config.js';

export const COOKIE = 'tw_console';

export interface Admin {
  name: string;
}

/** A fresh login token and the hash that goes in the config. */
export function newToken(): { token: string; sha256: string } {
  const token = `tw_${randomBytes(32).toString('base64url')}`;
  return { token, sha256: sha256Hex(token) };
}

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

interface Session {
  admin: string;
  expires: number;
}

export class Auth {
  private readonly admins: { name: string; hash: Buffer }[];
  /** Keyed by sha256(session id): a memory dump does not hand out live cookies. */
  private readonly sessions = new Map<string, Session>();
  private readonly failures = new Map<string, { count: number; since: number }>();
  private readonly ttlMs: number;
  private readonly csrfKey = randomBytes(32);

  constructor(cfg: Pick<WebConfig, 'admins' | 'session_ttl_minutes'>, private readonly now: () => number = Date.now) {
    this.admins = cfg.admins.map((a) => ({ name: a.name, hash: Buffer.from(a.token_sha256, 'hex') }));
    this.ttlMs = cfg.session_ttl_minutes * 60_000;
  }

  /** The admin a token belongs to; compares every configured hash in constant time. */
  checkToken(token: string): Admin | undefined {
    if (!token || token.length > 512) return undefined;
    const h = createHash('sha256').update(token, 'utf8').digest();
    let found: Admin | undefined;
    for (const a of this.admins) if (timingSafeEqual(h, a.hash) && !found) found = { name: a.name };
    return found;
  }

  login(admin: Admin): { id: string; maxAgeSeconds: number } {
    this.sweep();
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(sha256Hex(id), { admin: admin.name, expires: this.now() + this.ttlMs });
    return { id, maxAgeSeconds: Math.floor(this.ttlMs / 1000) };
  }

  session(id: string | undefined): Admin | undefined {
    if (!id || id.length > 100) return undefined;
    const key = sha256Hex(id);
    const s = this.sessions.get(key);
    if (!s) return undefined;
    if (s.expires <= this.now()) {
      this.sessions.delete(key);
      return undefined;
    }
    return { name: s.admin };
  }

  /**
   * The CSRF token of a login session: an HMAC of its id under a key of this
   * process, so it needs no storage and dies with the session. Forms carry it
   * (`_csrf`), scripts on our pages send it as `x-csrf-token`.
   */
  csrfToken(sessionId: string): string {
    return createHmac('sha256', this.csrfKey).update(sessionId, 'utf8').digest('base64url');
  }

  checkCsrf(sessionId: string | undefined, token: unknown): boolean {
    if (!sessionId || typeof token !== 'string' || token.length > 100) return false;
    const want = Buffer.from(this.csrfToken(sessionId));
    const got = Buffer.from(token);
    return got.length === want.length && timingSafeEqual(got, want);
  }

  logout(id: string | undefined): void {
    if (id) this.sessions.delete(sha256Hex(id));
  }

  /** Failed-login throttle per client address: 10 failures per 5 minutes. */
  throttled(addr: string): boolean {
    const f = this.failures.get(addr);
    if (!f) return false;
    if (this.now() - f.since > 5 * 60_000) {
      this.failures.delete(addr);
      return false;
    }
    return f.count >= 10;
  }

  recordFailure(addr: string): void {
    const f = this.failures.get(addr);
    if (!f || this.now() - f.since > 5 * 60_000) this.failures.set(addr, { count: 1, since: this.now() });
    else f.count++;
  }

  private sweep(): void {
    const t = this.now();
    for (const [k, s] of this.sessions) if (s.expires <= t) this.sessions.delete(k);
    if (this.failures.size > 10_000) this.failures.clear();
  }
}

export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    const k = part.slice(0, i).trim();
    if (k && !(k in out)) out[k] = part.slice(i + 1).trim();
  }
  return out;
}

export function sessionCookie(id: string, maxAge: number, secure: boolean): string {
  return `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure ? '; Secure' : ''}`;
}

export function clearCookie(secure: boolean): string {
  return `${COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`;
}

/**
 * CSRF defence for cookie-authenticated POSTs, on top of SameSite=Strict:
 * the browser-set Origin (or, failing that, Referer) must be the console's own.
 * A request with neither is refused: every browser we support sends Origin on POST.
 */
export function sameOrigin(headers: { origin?: string; referer?: string }, allowed: ReadonlySet<string>): boolean {
  if (headers.origin) return allowed.has(headers.origin);
  if (headers.referer) {
    try {
      return allowed.has(new URL(headers.referer).origin);
    } catch {
      return false;
    }
  }
  return false;
}
