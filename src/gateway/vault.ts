// Pending passwords at rest: between "chpasswd ran" and "a login with the new
// password worked" the only copy of the account's password is the one the
// gateway just made. It is written here first, encrypted with AES-256-GCM
// (key from config, env, or <data_dir>/gateway/secret.key, mode 0600), and
// removed once verified. On start the gateway recovers any left-over entry
// by rotating that account again over the management key (rotate/index.ts).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';

export function loadSecretKey(opts: { secretKey?: string; secretKeyFile?: string; dataDir: string }): Buffer {
  if (opts.secretKey) return decodeKey(opts.secretKey, 'gateway.secret_key');
  const file = opts.secretKeyFile ?? join(opts.dataDir, 'gateway', 'secret.key');
  if (!existsSync(file)) {
    mkdirSync(join(file, '..'), { recursive: true, mode: 0o700 });
    writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  }
  return decodeKey(readFileSync(file, 'utf8').trim(), file);
}

function decodeKey(b64: string, where: string): Buffer {
  const key = Buffer.from(b64, 'base64');
  if (key.length !== 32) throw new ConfigError([`${where}: expected a base64 32-byte key`]);
  return key;
}

export interface PendingEntry {
  target: string;
  account: string;
  since: string;
}

interface PendingRecord extends PendingEntry {
  candidates: { iv: string; tag: string; ct: string }[];
}

export class Vault {
  private readonly dir: string;

  constructor(
    dataDir: string,
    private readonly key: Buffer,
  ) {
    this.dir = join(dataDir, 'gateway', 'pending');
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  private file(target: string, account: string): string {
    return join(this.dir, `${target}@${account}.json`);
  }

  private read(target: string, account: string): PendingRecord | null {
    const f = this.file(target, account);
    if (!existsSync(f)) return null;
    return JSON.parse(readFileSync(f, 'utf8')) as PendingRecord;
  }

  private write(rec: PendingRecord): void {
    const f = this.file(rec.target, rec.account);
    if (!rec.candidates.length) return rmSync(f, { force: true });
    writeFileSync(f + '.tmp', JSON.stringify(rec), { mode: 0o600 });
    renameSync(f + '.tmp', f);
  }

  /**
   * Add a candidate password. Earlier candidates stay: if a previous rotation
   * crashed, the account holds one of them, and none is dropped until a new
   * password has been verified.
   */
  putPending(target: string, account: string, password: string): void {
    const rec = this.read(target, account) ?? { target, account, since: new Date().toISOString(), candidates: [] };
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(`${target}@${account}`));
    const ct = Buffer.concat([c.update(password, 'utf8'), c.final()]);
    rec.candidates.push({ iv: iv.toString('base64'), tag: c.getAuthTag().toString('base64'), ct: ct.toString('base64') });
    this.write(rec);
  }

  /** Candidate passwords, oldest first (for an administrator's recovery). */
  getPending(target: string, account: string): string[] {
    const rec = this.read(target, account);
    if (!rec) return [];
    return rec.candidates.map((x) => {
      const d = createDecipheriv('aes-256-gcm', this.key, Buffer.from(x.iv, 'base64'));
      d.setAAD(Buffer.from(`${target}@${account}`));
      d.setAuthTag(Buffer.from(x.tag, 'base64'));
      return Buffer.concat([d.update(Buffer.from(x.ct, 'base64')), d.final()]).toString('utf8');
    });
  }

  /** The newest candidate was certainly not set (chpasswd refused, or never ran). */
  dropLatest(target: string, account: string): void {
    const rec = this.read(target, account);
    if (!rec) return;
    rec.candidates.pop();
    this.write(rec);
  }

  /** A new password was verified: every candidate is dead. */
  clearPending(target: string, account: string): void {
    rmSync(this.file(target, account), { force: true });
  }

  listPending(): PendingEntry[] {
    const out: PendingEntry[] = [];
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith('.json')) continue;
      try {
        const r = JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as PendingEntry;
        out.push({ target: r.target, account: r.account, since: r.since });
      } catch {
        // A torn write (crash before rename) leaves only .tmp files, never a bad .json.
      }
    }
    return out;
  }
}
