// File-transfer approvals, persisted as one JSON file per request under
// <data_dir>/approvals so the gateway, the CLI (`trailwatch approvals …`) and
// the web console share them without a server. An approval covers one
// operator, target, path and direction until it expires.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TrailwatchError } from '../errors.js';

export type Direction = 'upload' | 'download';
export type ApprovalStatus = 'pending' | 'approved' | 'denied';

export interface ApprovalRequest {
  id: string;
  operator: string;
  target: string;
  account: string;
  path: string;
  direction: Direction;
  status: ApprovalStatus;
  requested_at: string;
  session?: string;
  source_ip?: string;
  decided_at?: string;
  decided_by?: string;
  /** Until when an approval covers the transfer (set on approve). */
  expires_at?: string;
  /** The gateway has emitted the decision as an event. */
  announced?: boolean;
}

export function approvalsDir(dataDir: string): string {
  return join(dataDir, 'approvals');
}

const ID = /^[a-z0-9]{10}$/;

function file(dataDir: string, id: string): string {
  if (!ID.test(id)) throw new TrailwatchError('TW_APPROVAL_ID', `not an approval id: ${JSON.stringify(id)}`);
  return join(approvalsDir(dataDir), `${id}.json`);
}

function save(dataDir: string, r: ApprovalRequest): void {
  mkdirSync(approvalsDir(dataDir), { recursive: true, mode: 0o750 });
  const f = file(dataDir, r.id);
  writeFileSync(f + '.tmp', JSON.stringify(r, null, 2) + '\n', { mode: 0o640 });
  renameSync(f + '.tmp', f);
}

export function get(dataDir: string, id: string): ApprovalRequest {
  const f = file(dataDir, id);
  if (!existsSync(f)) throw new TrailwatchError('TW_APPROVAL_NOT_FOUND', `no approval request ${id}`);
  return JSON.parse(readFileSync(f, 'utf8')) as ApprovalRequest;
}

/** All requests, newest first; optionally only one status. */
export function list(dataDir: string, status?: ApprovalStatus): ApprovalRequest[] {
  const dir = approvalsDir(dataDir);
  if (!existsSync(dir)) return [];
  const out: ApprovalRequest[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.json')) continue;
    try {
      const r = JSON.parse(readFileSync(join(dir, f), 'utf8')) as ApprovalRequest;
      if (!status || r.status === status) out.push(r);
    } catch {
      // a file being replaced; it is read again next time
    }
  }
  return out.sort((a, b) => b.requested_at.localeCompare(a.requested_at));
}

function decide(dataDir: string, id: string, status: 'approved' | 'denied', by: string, ttlSeconds?: number): ApprovalRequest {
  const r = get(dataDir, id);
  if (r.status !== 'pending') throw new TrailwatchError('TW_APPROVAL_DECIDED', `request ${id} is already ${r.status}`);
  const now = new Date();
  r.status = status;
  r.decided_at = now.toISOString();
  r.decided_by = by;
  r.announced = false;
  if (status === 'approved') r.expires_at = new Date(now.getTime() + (ttlSeconds ?? 3600) * 1000).toISOString();
  save(dataDir, r);
  return r;
}

export function approve(dataDir: string, id: string, opts: { by?: string; ttlSeconds?: number } = {}): ApprovalRequest {
  return decide(dataDir, id, 'approved', opts.by ?? 'cli', opts.ttlSeconds);
}

export function deny(dataDir: string, id: string, opts: { by?: string } = {}): ApprovalRequest {
  return decide(dataDir, id, 'denied', opts.by ?? 'cli');
}

export function markAnnounced(dataDir: string, r: ApprovalRequest): void {
  save(dataDir, { ...r, announced: true });
}

type Key = Pick<ApprovalRequest, 'operator' | 'target' | 'path' | 'direction'>;

function same(a: Key, b: Key): boolean {
  return a.operator === b.operator && a.target === b.target && a.path === b.path && a.direction === b.direction;
}

/** A live approval for exactly this operator, target, path and direction. */
export function findApproved(dataDir: string, k: Key, now = new Date()): ApprovalRequest | null {
  for (const r of list(dataDir, 'approved')) if (same(r, k) && r.expires_at && new Date(r.expires_at) > now) return r;
  return null;
}

/** The pending request for this key, or a new one. `created` says which. */
export function request(dataDir: string, k: Omit<ApprovalRequest, 'id' | 'status' | 'requested_at'>): { req: ApprovalRequest; created: boolean } {
  const existing = list(dataDir, 'pending').find((r) => same(r, k));
  if (existing) return { req: existing, created: false };
  const req: ApprovalRequest = { ...k, id: randomId(), status: 'pending', requested_at: new Date().toISOString() };
  save(dataDir, req);
  return { req, created: true };
}

function randomId(): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyz23456789';
  const bytes = randomBytes(10);
  let s = '';
  for (const b of bytes) s += alphabet[b % alphabet.length];
  return s;
}
