// `trailwatch approvals list | approve ID | deny ID`: decisions on file
// transfers, taken on the persisted store the gateway reads.
// `trailwatch mfa enroll OPERATOR | remove OPERATOR | list`: operators'
// second factor, in the store the gateway reads at each login.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import type { Config } from '../config.js';
import { ConfigError, TrailwatchError } from '../errors.js';
import * as approvals from './approvals.js';

export function approvalsCommand(config: () => Config): Command {
  const cmd = new Command('approvals').description('list and decide file-transfer approval requests of the gateway');
  const fail = (err: unknown) => {
    if (!(err instanceof TrailwatchError)) throw err;
    process.stderr.write(`trailwatch: ${err.message}\n`);
    process.exit(1);
  };
  cmd
    .command('list')
    .description('requests, newest first')
    .option('--all', 'include decided requests (default: pending only)')
    .option('--json', 'print JSON')
    .action((o: { all?: boolean; json?: boolean }) => {
      const rows = approvals.list(config().data_dir, o.all ? undefined : 'pending');
      if (o.json) return void process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      if (!rows.length) return void process.stdout.write(o.all ? 'no requests\n' : 'no pending requests\n');
      for (const r of rows)
        process.stdout.write(`${r.id}  ${r.status.padEnd(8)}  ${r.requested_at}  ${r.operator} ${r.direction} ${r.account}@${r.target}:${r.path}${r.expires_at ? `  (until ${r.expires_at})` : ''}\n`);
    });
  cmd
    .command('approve <id>')
    .description('approve a pending request (covers that operator, target, path and direction for gateway.approvals.ttl_seconds)')
    .option('--by <name>', 'who decides (recorded)', process.env.SUDO_USER ?? process.env.USER ?? 'cli')
    .action((id: string, o: { by: string }) => {
      try {
        const c = config();
        const r = approvals.approve(c.data_dir, id, { by: o.by, ttlSeconds: c.gateway.approvals.ttl_seconds });
        process.stdout.write(`approved ${r.id}: ${r.operator} may ${r.direction} ${r.path} on ${r.account}@${r.target} until ${r.expires_at}\n`);
      } catch (err) {
        fail(err);
      }
    });
  cmd
    .command('deny <id>')
    .description('deny a pending request')
    .option('--by <name>', 'who decides (recorded)', process.env.SUDO_USER ?? process.env.USER ?? 'cli')
    .action((id: string, o: { by: string }) => {
      try {
        const r = approvals.deny(config().data_dir, id, { by: o.by });
        process.stdout.write(`denied ${r.id}\n`);
      } catch (err) {
        fail(err);
      }
    });
  return cmd;
}

export function mfaCommand(config: () => Config): Command {
  const cmd = new Command('mfa').description("operators' second factor at the gateway (TOTP, asked after the operator's key)");
  // Loaded when used: ssh2 and otpauth stay out of every other command's start.
  const store = async () => {
    const c = config();
    const dataDir = resolve(c.data_dir);
    const [{ MfaStore }, { loadSecretKey }] = await Promise.all([import('./mfa.js'), import('./vault.js')]);
    return { c, store: new MfaStore(dataDir, loadSecretKey({ secretKey: c.gateway.secret_key, secretKeyFile: c.gateway.secret_key_file, dataDir }), c.gateway.mfa.issuer) };
  };
  cmd
    .command('enroll <operator>')
    .description('make a new TOTP secret for the operator (replaces an earlier one) and print it for an authenticator app')
    .action(async (operator: string) => {
      const { c, store: s } = await store();
      const policyFile = resolve(c.gateway.policy_file);
      if (existsSync(policyFile)) {
        let known: boolean;
        try {
          const { loadPolicy } = await import('./policy.js');
          known = loadPolicy(policyFile).operators.has(operator);
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          known = true; // a policy that does not load is the gateway's problem, not the enrolment's
        }
        if (!known) {
          process.stderr.write(`trailwatch: operator ${operator} is not in the policy ${policyFile}\n`);
          process.exit(1);
        }
      }
      const e = s.enroll(operator);
      process.stdout.write(
        `enrolled ${operator}; give them this (shown once):\n  ${e.uri}\n  secret: ${e.secret}\n` +
          `(as a QR code: qrencode -t ansiutf8 '<the otpauth URI>'). From now on ${operator} types a one-time code after the key` +
          (c.gateway.mfa.mode === 'off' ? ' once gateway.mfa.mode is not "off" (it is now).\n' : '.\n'),
      );
    });
  cmd
    .command('remove <operator>')
    .description("remove the operator's second factor (with gateway.mfa.mode required they can no longer log in)")
    .action(async (operator: string) => {
      const removed = (await store()).store.remove(operator);
      process.stdout.write(removed ? `removed the second factor of ${operator}\n` : `${operator} had no second factor\n`);
    });
  cmd
    .command('list')
    .description('operators with a second factor')
    .action(async () => {
      const rows = (await store()).store.list();
      if (!rows.length) return void process.stdout.write('no operator has a second factor\n');
      for (const r of rows) process.stdout.write(`${r.operator}  enrolled ${r.enrolled_at}\n`);
    });
  return cmd;
}

export function sessionsCommand(config: () => Config): Command {
  const cmd = new Command('sessions').description('live gateway sessions, and ending one');
  cmd
    .command('list')
    .description('sessions open now, oldest first')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const live = await import('./live.js');
      const rows = live.list(resolve(config().data_dir));
      if (o.json) return void process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      if (!rows.length) return void process.stdout.write('no live sessions\n');
      for (const s of rows)
        process.stdout.write(`${s.id}  ${s.started_at}  ${s.operator} -> ${s.account}@${s.target} from ${s.source_ip}${s.termination ? `  (terminating: ${s.termination.by})` : ''}\n`);
    });
  cmd
    .command('terminate <id>')
    .description('end a live session: the operator is told why and disconnected, and the password is rotated as at every session end')
    .option('--reason <text>', 'shown to the operator and recorded', 'terminated by an administrator')
    .option('--by <name>', 'who ends it (recorded)', process.env.SUDO_USER ?? process.env.USER ?? 'cli')
    .action(async (id: string, o: { reason: string; by: string }) => {
      const live = await import('./live.js');
      try {
        const s = live.requestTermination(resolve(config().data_dir), id, { by: o.by, reason: o.reason });
        process.stdout.write(`terminating ${s.id} (${s.operator} on ${s.account}@${s.target}); the gateway ends it within a second\n`);
      } catch (err) {
        if (!(err instanceof TrailwatchError)) throw err;
        process.stderr.write(`trailwatch: ${err.message}\n`);
        process.exit(1);
      }
    });
  return cmd;
}
