// The console's view of the gateway's transfer-approval store
// (src/gateway/approvals.ts: one JSON file per request under
// <data_dir>/approvals, shared with the gateway and `trailwatch approvals`).
// This adapter only maps it onto the console's async interface and two
// outcomes (not found, already decided); the format lives in the gateway.
import type { Config } from '../config.js';
import * as gateway from '../gateway/approvals.js';

export type TransferStatus = gateway.ApprovalStatus;
export type TransferRequest = gateway.ApprovalRequest;
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

export async function createApprovalsStore(config: Pick<Config, 'data_dir' | 'gateway'>): Promise<ApprovalsStore> {
  return new GatewayApprovalsStore(config.data_dir, config.gateway.approvals.ttl_seconds);
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
  constructor(private readonly dataDir: string, private readonly ttlSeconds: number) {}
  async list() {
    return gateway.list(this.dataDir).reverse();
  }
  async get(id: string) {
    try {
      return gateway.get(this.dataDir, id);
    } catch {
      return undefined;
    }
  }
  async approve(id: string, by: string) {
    try {
      return gateway.approve(this.dataDir, id, { by, ttlSeconds: this.ttlSeconds });
    } catch (err) {
      return mapError(err);
    }
  }
  async deny(id: string, by: string) {
    try {
      return gateway.deny(this.dataDir, id, { by });
    } catch (err) {
      return mapError(err);
    }
  }
  async request(r: NewTransferRequest) {
    return gateway.request(this.dataDir, r).req;
  }
}
