// The one transfer check SFTP and scp share: the grant's file_transfer mode,
// and in approve mode a live approval for exactly this operator, target, path
// and direction — else a pending request and an alert for administrators.
import { dirname, posix } from 'node:path';
import type { Client, SFTPWrapper } from 'ssh2';
import { ACTIONS } from '../rules/decoders/vocabulary.js';
import * as approvals from './approvals.js';
import type { GatewayContext } from './context.js';
import type { OperatorSession } from './session.js';

export type TransferCheck = { ok: true; approval?: string } | { ok: false; message: string };

export function checkTransfer(s: OperatorSession, path: string, direction: approvals.Direction, via: 'sftp' | 'scp' | 'exec'): TransferCheck {
  const a = s.access!;
  const mode = a.grant.file_transfer;
  const base = { session: s.ref, file: { path }, transfer: { direction, mode } };
  if (mode === 'allow') return { ok: true };
  if (mode === 'deny') {
    s.ctx.events.emit({ ...base, action: ACTIONS.gatewayTransfer, outcome: 'failure', message: `${direction} of ${path} refused: file transfers not granted`, transfer: { ...base.transfer, status: 'refused' }, reason: via });
    return { ok: false, message: 'file transfers are not allowed by your grant' };
  }
  const key = { operator: s.user.operator, target: a.target.name, path, direction };
  const found = approvals.findApproved(s.ctx.dataDir, key);
  if (found) return { ok: true, approval: found.id };
  const { req, created } = approvals.request(s.ctx.dataDir, { ...key, account: a.account, session: s.id, source_ip: s.ref.sourceIp });
  if (created)
    s.ctx.events.emit({
      ...base,
      action: ACTIONS.gatewayTransfer,
      outcome: 'unknown',
      message: `${s.user.operator} asks to ${direction} ${path} on ${a.account}@${a.target.name} (approval request ${req.id})`,
      transfer: { ...base.transfer, id: req.id, status: 'requested' },
      reason: via,
      alert: { rule: 'gateway-transfer-approval', name: 'File transfer waiting for approval', severity: 'medium' },
    });
  return { ok: false, message: `approval pending for ${direction} of ${path} (request ${req.id}); an administrator must run: trailwatch approvals approve ${req.id}` };
}

export function transferCompleted(
  s: OperatorSession,
  t: { path: string; direction: approvals.Direction; bytes: number; sha256: string | null; via: 'sftp' | 'scp' | 'exec'; approval?: string; partial?: boolean; /** For an exec: what the command sent back. */ output?: { bytes: number; sha256: string } },
): void {
  const a = s.access!;
  s.ctx.events.emit({
    action: ACTIONS.gatewayTransfer,
    outcome: 'success',
    message: `${s.user.operator} ${t.direction === 'upload' ? 'uploaded' : 'downloaded'} ${t.path} (${t.bytes} bytes) on ${a.account}@${a.target.name}`,
    session: s.ref,
    file: { path: t.path, name: posix.basename(t.path), size: t.bytes, ...(t.sha256 ? { hash: { sha256: t.sha256 } } : {}) },
    transfer: { direction: t.direction, status: 'completed', mode: a.grant.file_transfer, ...(t.approval ? { id: t.approval } : {}) },
    reason: t.via,
    ...(t.partial || t.output ? { extra: { ...(t.partial ? { transfer_note: 'non-sequential or partial transfer: no whole-file hash' } : {}), ...(t.output ? { exec: { output_bytes: t.output.bytes, output_sha256: t.output.sha256 } } : {}) } } : {}),
  });
}

function call<T>(fn: (cb: (err: Error | undefined | null, v: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
}

/**
 * The path an approval is about: symlinks resolved on the target (an approved
 * /tmp/x must not be a link to /etc/shadow); for a file not yet there, its
 * resolved directory plus its name.
 */
export async function canonicalPath(sftp: SFTPWrapper, path: string): Promise<string> {
  try {
    return await call<string>((cb) => sftp.realpath(path, cb));
  } catch {
    const dir = await call<string>((cb) => sftp.realpath(dirname(path) || '.', cb));
    return posix.join(dir, posix.basename(path));
  }
}

export function withSftp<T>(target: Client, fn: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
  return new Promise((resolve, reject) =>
    target.sftp((err, sftp) => {
      if (err) return reject(err);
      fn(sftp).then(resolve, reject).finally(() => sftp.end());
    }),
  );
}

/** Emit decisions taken elsewhere (CLI, web console) as events, once each. */
export function announceDecisions(ctx: GatewayContext): void {
  for (const r of approvals.list(ctx.dataDir)) {
    if (r.status === 'pending' || r.announced !== false) continue;
    ctx.events.emit({
      action: ACTIONS.gatewayTransfer,
      outcome: r.status === 'approved' ? 'success' : 'failure',
      message: `${r.direction} of ${r.path} on ${r.account}@${r.target} by ${r.operator} ${r.status} by ${r.decided_by ?? 'an administrator'}`,
      session: { id: r.session ?? '', operator: r.operator, account: r.account, target: r.target, sourceIp: r.source_ip },
      file: { path: r.path },
      transfer: { id: r.id, direction: r.direction, status: r.status, mode: 'approve' },
    });
    approvals.markAnnounced(ctx.dataDir, r);
  }
}
