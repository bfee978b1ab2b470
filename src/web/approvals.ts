// Adapter: the gateway's transfer-approval store (src/gateway/approvals.ts on
// the `gateway` branch, with list/approve/deny). Until that lands, a small
// file-backed store with the same shape stands in: one JSON file per request
// under <data_dir>/approvals/, written atomically, so a gateway process and the
// console process can share it. At merge, make createApprovalsStore() return
// the gateway's store and delete FileApprovalsStore.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.js';

export type TransferStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'completed';

export interface TransferRequest {
  id: string;
  operator: string;
  account?: string;
  target: string;
  path: string;
  direction: 'upload' | 'download';
  requested_at: string;
  status: TransferStatus;
  session_id?: string;
  decided_by?: string;
  decided_at?: string;
  reason?: string;
}

export interface ApprovalsStore {
  list(filter?: { status?: TransferStatus }): Promise<TransferRequest[]>;
  get(id: string): Promise<TransferRequest | undefined>;
  /** Approve a pending request; throws ApprovalConflict if it is no longer pending. */
  approve(id: string, by: string): Promise<TransferRequest>;
  deny(id: string, by: string, reason?: string): Promise<TransferRequest>;
}

export class ApprovalNotFound extends Error {
  readonly code = 'TW_APPROVAL_NOT_FOUND';
}
export class ApprovalConflict extends Error {
  readonly code = 'TW_APPROVAL_CONFLICT';
}

export function createApprovalsStore(config: Config): ApprovalsStore {
  return new FileApprovalsStore(join(config.data_dir, 'approvals'));
}

const ID_RE = /^[A-Za-z0-9-]{1,64}$/;

export class FileApprovalsStore implements ApprovalsStore {
  constructor(private readonly dir: string) {}

  /** What the gateway does when an SFTP open needs approval. */
  async request(r: Omit<TransferRequest, 'id' | 'status' | 'requested_at'> & { requested_at?: string }): Promise<TransferRequest> {
    mkdirSync(this.dir, { recursive: true });
    const req: TransferRequest = { ...r, id: randomUUID(), status: 'pending', requested_at: r.requested_at ?? new Date().toISOString() };
    this.write(req);
    return req;
  }

  async list(filter: { status?: TransferStatus } = {}): Promise<TransferRequest[]> {
    let files: string[];
    try {
      files = readdirSync(this.dir).filter((f) => f.endsWith('.json'));
    } catch {
      return [];
    }
    const out: TransferRequest[] = [];
    for (const f of files) {
      const r = this.read(f.slice(0, -5));
      if (r && (!filter.status || r.status === filter.status)) out.push(r);
    }
    return out.sort((a, b) => a.requested_at.localeCompare(b.requested_at));
  }

  async get(id: string): Promise<TransferRequest | undefined> {
    return ID_RE.test(id) ? this.read(id) : undefined;
  }

  async approve(id: string, by: string): Promise<TransferRequest> {
    return this.decide(id, by, 'approved');
  }

  async deny(id: string, by: string, reason?: string): Promise<TransferRequest> {
    return this.decide(id, by, 'denied', reason);
  }

  private decide(id: string, by: string, status: 'approved' | 'denied', reason?: string): TransferRequest {
    const r = ID_RE.test(id) ? this.read(id) : undefined;
    if (!r) throw new ApprovalNotFound(`no transfer request ${id}`);
    if (r.status !== 'pending') throw new ApprovalConflict(`transfer request ${id} is already ${r.status}`);
    const next: TransferRequest = { ...r, status, decided_by: by, decided_at: new Date().toISOString(), ...(reason ? { reason } : {}) };
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
    const tmp = join(this.dir, `.${r.id}.${process.pid}.tmp`);
    writeFileSync(tmp, JSON.stringify(r) + '\n', { mode: 0o600 });
    renameSync(tmp, join(this.dir, `${r.id}.json`));
  }
}
