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
