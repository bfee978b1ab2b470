// `trailwatch approvals list | approve ID | deny ID`: decisions on file
// transfers, taken on the persisted store the gateway reads.
import { Command } from 'commander';
import type { Config } from '../config.js';
import { TrailwatchError } from '../errors.js';
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
