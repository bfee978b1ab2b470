// What every part of a running gateway shares.
import type { Client } from 'ssh2';
import type { Logger } from '../log.js';
import type { GatewayConfig } from './config.js';
import type { GatewayEvents } from './events.js';
import type { Policy } from './policy.js';
import type { Rotator } from './rotate/index.js';
import type { MfaStore } from './mfa.js';

export interface GatewayContext {
  cfg: GatewayConfig;
  dataDir: string;
  log: Logger;
  events: GatewayEvents;
  policy(): Policy;
  rotator: Rotator<Client>;
  recordingsDir: string;
  /** Operators' second factor (TOTP enrolments). */
  mfa: MfaStore;
  /** Live operator connections, for shutdown. */
  sessions: Set<{ close(reason: string): void; /** End the session if an administrator asked to. */ checkTermination(): void }>;
}

/** Failed gateway logins per source address: a sliding window, then a block. */
export class LoginLimiter {
  private readonly fails = new Map<string, number[]>();
  private readonly blockedUntil = new Map<string, number>();

  constructor(private readonly o: GatewayConfig['login']) {}

  blocked(ip: string, now = Date.now()): boolean {
    const until = this.blockedUntil.get(ip);
    if (until === undefined) return false;
    if (until > now) return true;
    this.blockedUntil.delete(ip);
    return false;
  }

  /** Count a failure; true when this one made the source blocked. */
  fail(ip: string, now = Date.now()): boolean {
    const since = now - this.o.window_seconds * 1000;
    const list = (this.fails.get(ip) ?? []).filter((t) => t > since);
    list.push(now);
    this.fails.set(ip, list);
    if (list.length < this.o.max_failures) return false;
    this.fails.delete(ip);
    this.blockedUntil.set(ip, now + this.o.block_seconds * 1000);
    return true;
  }

  succeed(ip: string): void {
    this.fails.delete(ip);
  }
}

/**
 * Refused one-time codes, per operator and per source address, across
 * connections. Past `failures` refusals in the window, codes for that operator
 * or from that address are not checked at all for a backoff that doubles with
 * each further trip (capped), so guessing is bounded per minute whatever the
 * number of connections. A good code clears the operator's and address's counts.
 */
export class MfaThrottle {
  private readonly keys = new Map<string, { fails: number[]; until: number; strikes: number }>();

  constructor(private readonly o: GatewayConfig['mfa']['throttle']) {}

  /** Milliseconds until codes for this operator from this address are checked again (0: now). */
  wait(operator: string, ip: string, now = Date.now()): number {
    let until = 0;
    for (const k of [`o:${operator}`, `a:${ip}`]) until = Math.max(until, this.keys.get(k)?.until ?? 0);
    return Math.max(0, until - now);
  }

  /** Count a refused code; true when it started a backoff. */
  fail(operator: string, ip: string, now = Date.now()): boolean {
    let tripped = false;
    const since = now - this.o.window_seconds * 1000;
    for (const k of [`o:${operator}`, `a:${ip}`]) {
      let st = this.keys.get(k);
      if (!st) this.keys.set(k, (st = { fails: [], until: 0, strikes: 0 }));
      st.fails = st.fails.filter((t) => t > since);
      st.fails.push(now);
      if (st.fails.length >= this.o.failures) {
        st.fails = [];
        st.until = now + Math.min(this.o.max_backoff_seconds, this.o.backoff_seconds * 2 ** st.strikes) * 1000;
        st.strikes++;
        tripped = true;
      }
    }
    if (this.keys.size > 10_000) this.prune(now);
    return tripped;
  }

  succeed(operator: string, ip: string): void {
    this.keys.delete(`o:${operator}`);
    this.keys.delete(`a:${ip}`);
  }

  private prune(now: number): void {
    const since = now - this.o.window_seconds * 1000;
    for (const [k, st] of this.keys) if (st.until <= now && !st.fails.some((t) => t > since) && st.strikes === 0) this.keys.delete(k);
  }
}
