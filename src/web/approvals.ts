// Adapter: the gateway's transfer-approval store (src/gateway/approvals.ts:
// one JSON file per request under <data_dir>/approvals, shared by the gateway,
// `trailwatch approvals` and this console). The gateway module is loaded at run
// time when present; until the gateway branch is merged, an interim store that
// reads and writes the same files in the same format stands in. At merge,
// import the gateway module statically here and delete FileApprovalsStore.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';

export type TransferStatus = 'pending' | 'approved' | 'denied';

/** The gateway's ApprovalRequest. */
export interface TransferRequest {
  id: string;
  operator: string;
  target: string;
  account: string;
  path: string;
  direction: 'upload' | 'download';
  status: TransferStatus;
  requested_at: string;
  session?: string;
  source_ip?: string;
  decided_at?: string;
  decided_by?: string;
  expires_at?: string;
}

export type NewTransferRequest = Omit<TransferRequest, 'id' | 'status' | 'requested_at'>;

export interface ApprovalsStore {
  /** All requests, oldest first. */
  list(): Promise<TransferRequest[]>;
  get(id: string): Promise<TransferRequest | undefined>;
  /** Approve a pending request; throws ApprovalConflict if it is no longer pending. */
  approve(id: string, by: string): Promise<TransferRequest>;
  deny(id: string, by: string): Promise<TransferRequest>;
  /** What the gateway does when an SFTP open needs approval (tests use it too). */
  request(r: NewTransferRequest): Promise<TransferRequest>;
}

export class ApprovalNotFound extends Error {
  readonly code = 'TW_APPROVAL_NOT_FOUND';
}
export class ApprovalConflict extends Error {
  readonly code = 'TW_APPROVAL_CONFLICT';
}

interface GatewayApprovals {
  list(dataDir: string, status?: TransferStatus): TransferRequest[];
  get(dataDir: string, id: string): TransferRequest;
  approve(dataDir: string, id: string, opts: { by?: string; ttlSeconds?: number }): TransferRequest;
  deny(dataDir: string, id: string, opts: { by?: string }): TransferRequest;
  request(dataDir: string, k: NewTransferRequest): { req: TransferRequest; created: boolean };
}

function isGatewayModule(m: Record<string, unknown>): boolean {
  return ['list', 'get', 'approve', 'deny', 'request'].every((k) => typeof m[k] === 'function');
}

export async function createApprovalsStore(config: Pick<Config, 'data_dir' | 'gateway'>): Promise<ApprovalsStore> {
  try {
    const mod = (await import(new URL('../gateway/approvals.js', import.meta.url).href)) as Record<string, unknown>;
    if (isGatewayModule(mod)) {
      const ttl = (config.gateway as { approvals?: { ttl_seconds?: number } }).approvals?.ttl_seconds;
      return new GatewayApprovalsStore(mod as unknown as GatewayApprovals, config.data_dir, ttl);
    }
  } catch {
    // not merged yet
  }
  return new FileApprovalsStore(join(config.data_dir, 'approvals'));
}

/** Map the gateway's TrailwatchError codes onto the console's two outcomes. */
function mapError(err: unknown): never {
  const code = (err as { code?: string }).code;
  const msg = err instanceof Error ? err.message : String(err);
  if (code === 'TW_APPROVAL_NOT_FOUND' || code === 'TW_APPROVAL_ID') throw new ApprovalNotFound(msg);
  if (code === 'TW_APPROVAL_DECIDED') throw new ApprovalConflict(msg);
  throw err;
}

class GatewayApprovalsStore implements ApprovalsStore {
  constructor(private readonly gw: GatewayApprovals, private readonly dataDir: string, private readonly ttlSeconds?: number) {}
  async list() {
    return this.gw.list(this.dataDir).reverse();
  }
  async get(id: string) {
    try {
      return this.gw.get(this.dataDir, id);
    } catch {
      return undefined;
    }
  }
  async approve(id: string, by: string) {
    try {
      return this.gw.approve(this.dataDir, id, { by, ttlSeconds: this.ttlSeconds });
    } catch (err) {
      return mapError(err);
    }
  }
  async deny(id: string, by: string) {
    try {
      return this.gw.deny(this.dataDir, id, { by });
    } catch (err) {
      return mapError(err);
    }
  }
  async request(r: NewTransferRequest) {
    return this.gw.request(this.dataDir, r).req;
  }
}

const ID_RE = /^[A-Za-z0-9-]{1,64}$/;

/** Interim stand-in with the gateway's file format (delete at merge). */
export class FileApprovalsStore implements ApprovalsStore {
  constructor(private readonly dir: string, private readonly ttlSeconds = 3600) {}

  async request(r: NewTransferRequest): Promise<TransferRequest> {
    mkdirSync(this.dir, { recursive: true });
    const req: TransferRequest = { ...r, id: randomBytes(5).toString('hex'), status: 'pending', requested_at: new Date().toISOString() };
    this.write(req);
    return req;
  }

  async list(): Promise<TransferRequest[]> {
    if (!existsSync(this.dir)) return [];
    const out: TransferRequest[] = [];
    for (const f of readdirSync(this.dir)) {
      const r = f.endsWith('.json') ? this.read(f.slice(0, -5)) : undefined;
      if (r) out.push(r);
    }
    return out.sort((a, b) => a.requested_at.localeCompare(b.requested_at));
  }

  async get(id: string): Promise<TransferRequest | undefined> {
    return ID_RE.test(id) ? this.read(id) : undefined;
  }

  async approve(id: string, by: string): Promise<TransferRequest> {
    return this.decide(id, by, 'approved');
  }

  async deny(id: string, by: string): Promise<TransferRequest> {
    return this.decide(id, by, 'denied');
  }

  private decide(id: string, by: string, status: 'approved' | 'denied'): TransferRequest {
    const r = ID_RE.test(id) ? this.read(id) : undefined;
    if (!r) throw new ApprovalNotFound(`no approval request ${id}`);
    if (r.status !== 'pending') throw new ApprovalConflict(`request ${id} is already ${r.status}`);
    const now = new Date();
    const next: TransferRequest = { ...r, status, decided_by: by, decided_at: now.toISOString() };
    if (status === 'approved') next.expires_at = new Date(now.getTime() + this.ttlSeconds * 1000).toISOString();
    this.write(next);
    return next;
  }

  private read(id: string): TransferRequest | undefined {
    try {
      return JSON.parse(readFileSync(join(this.dir, `${id}.json`), 'utf8')) as TransferRequest;
    } catch {
      return undefined;
    }
  }

  private write(r: TransferRequest): void {
    const f = join(this.dir, `${r.id}.json`);
    writeFileSync(`${f}.tmp`, JSON.stringify(r, null, 2) + '\n', { mode: 0o640 });
    renameSync(`${f}.tmp`, f);
  }
}
