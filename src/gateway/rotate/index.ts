// Rotation: for every access a fresh random password is set on the account
// over the management connection, verified by logging in with it, and that
// very login is handed to the operator's session; when the session ends the
// account is rotated again. Drivers say how to set and verify per kind of
// target (Linux over SSH now; a database role or a network device later).
import { randomInt } from 'node:crypto';
import type { Logger } from '../../log.js';
import { errorMessage } from '../../errors.js';
import { ACTIONS } from '../../rules/decoders/vocabulary.js';
import type { GatewayEvents, SessionRef } from '../events.js';
import type { Policy, TargetSpec } from '../policy.js';
import type { Vault } from '../vault.js';

export interface RotationDriver<C> {
  readonly kind: string;
  /** Set the account's password over the management connection. TW_ROTATE_UNKNOWN when it may or may not have been set. */
  setPassword(target: TargetSpec, account: string, password: string): Promise<void>;
  /** Log in as the account with the password; the connection proves the password works. */
  login(target: TargetSpec, account: string, password: string): Promise<C>;
  close(conn: C): void;
}

// No ':' (chpasswd's separator), no quotes or backslashes, no whitespace.
const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#%+-.=@^_~';

/** A uniformly random password (crypto randomInt does rejection sampling). */
export function generatePassword(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[randomInt(ALPHABET.length)];
  return out;
}

export type RotationReason = 'access' | 'session-end' | 'sweep' | 'recovery';

export class Rotator<C> {
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(
    private readonly opts: {
      driver: (t: TargetSpec) => RotationDriver<C>;
      vault: Vault;
      events: GatewayEvents;
      passwordLength: number;
      log: Logger;
    },
  ) {}

  /** Serialise work on one account: each call runs after the previous one settles. */
  private withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(key, tail);
    void tail.then(() => {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    });
    return next;
  }

  /**
   * Rotate and verify. With keep, the verifying login is returned for the
   * session to use (inside the lock, so no other rotation can slip between).
   * Throws (after an event and an alert) when the rotation fails.
   */
  rotate(target: TargetSpec, account: string, reason: RotationReason, session?: SessionRef, keep = false): Promise<C | null> {
    return this.withLock(`${target.name}@${account}`, () => this.rotateLocked(target, account, reason, session, keep));
  }

  private async rotateLocked(target: TargetSpec, account: string, reason: RotationReason, session: SessionRef | undefined, keep: boolean): Promise<C | null> {
    const { vault, events } = this.opts;
    const driver = this.opts.driver(target);
    const ref: SessionRef = session ?? { id: '', operator: '', target: target.name, account, targetAddress: target.address };
    let password: string | null = generatePassword(this.opts.passwordLength);
    let conn: C;
    try {
      vault.putPending(target.name, account, password);
      try {
        await driver.setPassword(target, account, password);
      } catch (err) {
        if ((err as { code?: string }).code !== 'TW_ROTATE_UNKNOWN') vault.dropLatest(target.name, account);
        throw err;
      }
      conn = await driver.login(target, account, password);
      vault.clearPending(target.name, account);
    } catch (err) {
      password = null;
      this.failed(target, account, reason, ref, err);
      throw err;
    }
    password = null;
    events.emit({
      action: ACTIONS.gatewayRotation,
      outcome: 'success',
      message: `password of ${account}@${target.name} rotated (${reason})`,
      session: ref.id ? ref : { ...ref, operator: ref.operator || 'trailwatch' },
      reason,
      extra: loginsOf(target, account),
    });
    if (keep) return conn;
    driver.close(conn);
    return null;
  }

  private failed(target: TargetSpec, account: string, reason: RotationReason, ref: SessionRef, err: unknown): void {
    const code = (err as { code?: string }).code;
    const message = errorMessage(err);
    this.opts.log.error({ target: target.name, account, reason, code, error: message }, 'password rotation failed');
    if (code === 'TW_HOSTKEY_MISMATCH')
      this.opts.events.emit({
        action: ACTIONS.gatewayHostKeyMismatch,
        outcome: 'failure',
        message,
        session: ref,
        reason: 'pinned host key does not match; no password sent',
        alert: { rule: 'gateway-host-key-mismatch', name: 'Target host key does not match the pinned fingerprint', severity: 'critical' },
      });
    this.opts.events.emit({
      action: ACTIONS.gatewayRotation,
      outcome: 'failure',
      message: `password rotation of ${account}@${target.name} failed (${reason}): ${message}`,
      session: ref.id ? ref : { ...ref, operator: ref.operator || 'trailwatch' },
      reason,
      extra: loginsOf(target, account),
      alert: { rule: 'gateway-rotation-failed', name: 'Gateway password rotation failed', severity: 'high' },
    });
  }

  /** Resolves once no rotation is running or queued. */
  async idle(): Promise<void> {
    while (this.locks.size) await Promise.all([...this.locks.values()]);
  }

  /** Rotate every managed account of every target (the cron sweep). */
  async sweep(policy: Policy): Promise<{ ok: number; failed: number }> {
    let ok = 0;
    let failed = 0;
    for (const t of policy.targets.values())
      for (const a of t.accounts) {
        try {
          await this.rotate(t, a, 'sweep');
          ok++;
        } catch {
          failed++;
        }
      }
    return { ok, failed };
  }

  /** After a crash mid-rotation: rotate each account left pending again, over the management key. */
  async recover(policy: Policy): Promise<void> {
    for (const p of this.opts.vault.listPending()) {
      const t = policy.targets.get(p.target);
      if (!t || !t.accounts.includes(p.account)) {
        this.opts.log.warn({ target: p.target, account: p.account }, 'pending password for a target/account no longer in the policy; kept');
        continue;
      }
      await this.rotate(t, p.account, 'recovery').catch(() => undefined);
    }
  }
}

/**
 * The logins a rotation makes on the target (the management user's, then the
 * account's with the new password), so the rules can pair each login from the
 * gateway's address with the rotation that made it (rule gateway-host-bypass).
 * A failed rotation may have made fewer; it still explains at most these.
 */
function loginsOf(target: TargetSpec, account: string): { rotation: { users: string[] } } {
  return { rotation: { users: [target.management.user, account] } };
}
