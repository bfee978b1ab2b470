// Second factor for operators: TOTP (RFC 6238, what every authenticator app
// speaks), asked for over SSH keyboard-interactive after the operator's key
// has been accepted. Enrolments live in <data_dir>/gateway/mfa/<operator>.json
// with the secret encrypted by the gateway's secret key (AES-256-GCM, the
// operator's name as associated data), so a copy of the policy or of the
// data directory without the key gives no codes away.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Secret, TOTP } from 'otpauth';

export type MfaMode = 'off' | 'enrolled' | 'required';
export type MfaCheck = 'ok' | 'bad' | 'replayed' | 'not-enrolled';

interface Enrolment {
  operator: string;
  enrolled_at: string;
  iv: string;
  tag: string;
  ct: string;
  /** The last time step a code was accepted for: kept so a restart does not make a used code good again. */
  last_step?: number;
}

const NAME = /^[A-Za-z0-9._-]+$/;

export class MfaStore {
  private readonly dir: string;

  constructor(
    dataDir: string,
    private readonly key: Buffer,
    private readonly issuer = 'trailwatch',
  ) {
    this.dir = join(dataDir, 'gateway', 'mfa');
  }

  private file(operator: string): string {
    if (!NAME.test(operator)) throw new Error(`not an operator name: ${JSON.stringify(operator)}`);
    return join(this.dir, `${operator}.json`);
  }

  private totp(operator: string, secret: Secret): TOTP {
    return new TOTP({ issuer: this.issuer, label: operator, algorithm: 'SHA1', digits: 6, period: 30, secret });
  }

  has(operator: string): boolean {
    return NAME.test(operator) && existsSync(this.file(operator));
  }

  list(): { operator: string; enrolled_at: string }[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as Enrolment)
      .map((e) => ({ operator: e.operator, enrolled_at: e.enrolled_at }))
      .sort((a, b) => a.operator.localeCompare(b.operator));
  }

  /** A new secret for the operator (replacing any earlier one); the URI goes into an authenticator app. */
  enroll(operator: string): { secret: string; uri: string } {
    this.file(operator); // refuses a name that is not an operator's
    const secret = new Secret({ size: 20 });
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(operator));
    const ct = Buffer.concat([c.update(Buffer.from(secret.bytes)), c.final()]);
    const rec: Enrolment = { operator, enrolled_at: new Date().toISOString(), iv: iv.toString('base64'), tag: c.getAuthTag().toString('base64'), ct: ct.toString('base64') };
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.save(rec);
    return { secret: secret.base32, uri: this.totp(operator, secret).toString() };
  }

  remove(operator: string): boolean {
    const f = this.file(operator);
    if (!existsSync(f)) return false;
    rmSync(f);
    return true;
  }

  private save(rec: Enrolment): void {
    const f = this.file(rec.operator);
    writeFileSync(f + '.tmp', JSON.stringify(rec) + '\n', { mode: 0o600 });
    renameSync(f + '.tmp', f);
  }

  private read(operator: string): Enrolment | null {
    if (!this.has(operator)) return null;
    return JSON.parse(readFileSync(this.file(operator), 'utf8')) as Enrolment;
  }

  private secretOf(rec: Enrolment): Secret {
    const operator = rec.operator;
    const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(rec.iv, 'base64'));
    d.setAAD(Buffer.from(operator));
    d.setAuthTag(Buffer.from(rec.tag, 'base64'));
    const bytes = Buffer.concat([d.update(Buffer.from(rec.ct, 'base64')), d.final()]);
    return new Secret({ buffer: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer });
  }

  /** Checks a code: one step of clock drift either way, and no code accepted twice. */
  verify(operator: string, code: string, now = Date.now()): MfaCheck {
    const rec = this.read(operator);
    if (!rec) return 'not-enrolled';
    const secret = this.secretOf(rec);
    const token = code.replace(/\s+/g, '');
    if (!/^\d{6}$/.test(token)) return 'bad';
    const totp = this.totp(operator, secret);
    const delta = totp.validate({ token, timestamp: now, window: 1 });
    if (delta === null) return 'bad';
    const step = totp.counter({ timestamp: now }) + delta;
    if (step <= (rec.last_step ?? -1)) return 'replayed';
    this.save({ ...rec, last_step: step });
    return 'ok';
  }
}
