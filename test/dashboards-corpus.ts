// Events for the dashboard and console tests, produced the way the pipeline
// produces them: a sample corpus (auth.log lines as servers write them, read
// by the real syslog parser, and the gateway's session log as its own
// buildEvent() makes it; the rules raise the alerts its events ask for) is replayed through the real rules stage
// (`replay`: decoders, collation, the default rule pack). What comes out is
// what the Elasticsearch sink stores; it is indexed with the sink's own
// mappings (src/sinks/elasticsearch-setup.ts ECS_MAPPINGS).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { TwEvent } from '../src/event.js';
import { buildEvent, type GatewayEventInput, type SessionRef } from '../src/gateway/events.js';
import { parseConfig } from '../src/config.js';
import { loadRules, ruleDirs } from '../src/rules/loader.js';
import { replay } from '../src/rules/replay.js';
import { newReplayParser, parseLine } from '../src/rules/replay-parse.js';
import { ACTIONS } from '../src/rules/decoders/vocabulary.js';

const GATEWAY_IP = '10.0.0.5';

/**
 * Replays the corpus (its times end a few minutes before `now`) and returns
 * the stored documents: events and alerts. `dir` holds the corpus file.
 */
export async function replayCorpus(now: number, dir: string): Promise<{ events: TwEvent[]; alerts: TwEvent[] }> {
  let t = now - 40 * 60_000;
  const next = (stepMs = 1000) => (t += stepMs);
  const raw: TwEvent[] = [];
  const parser = newReplayParser();
  let pid = 2000;
  // An auth.log line as rsyslog writes it with high-precision timestamps.
  const syslog = (host: string, text: string) => {
    const iso = new Date(next()).toISOString().replace('Z', '+00:00');
    raw.push(parseLine(`${iso} ${host} sshd[${++pid}]: ${text}`, { id: `line-${raw.length}`, year: () => new Date(now).getUTCFullYear(), fallbackTime: new Date(t).toISOString(), parser }));
  };
  const gw = (i: GatewayEventInput) => {
    raw.push(buildEvent(i, 'gw1', new Date(next())));
  };

  // An attacker sprays and brute-forces across two hosts; one stray failure.
  let port = 40000;
  for (const user of ['root', 'admin', 'oracle', 'test', 'guest', 'admin'])
    for (const host of ['web1', 'db1'])
      syslog(host, user === 'root' ? `Failed password for root from 203.0.113.9 port ${++port} ssh2` : `Failed password for invalid user ${user} from 203.0.113.9 port ${++port} ssh2`);
  syslog('web1', `Failed password for ubuntu from 198.51.100.23 port ${++port} ssh2`);

  // Gateway sessions: commands, a blocked one, transfers; the gateway's own
  // logins to the targets (collated as through the gateway); then a direct
  // login to a managed account from elsewhere.
  const session = (id: string, operator: string, account: string, target: string): SessionRef => ({ id, operator, account, target, sourceIp: '192.0.2.50', recording: `${id}-1` });
  const s1 = session('gw-sess-1', 'alice', 'root', 'db1');
  const s2 = session('gw-sess-2', 'bob', 'deploy', 'web1');
  const cmd = (s: SessionRef, offset: number, line: string) => gw({ action: ACTIONS.gatewayCommand, outcome: 'success', message: `${s.operator} ran on ${s.account}@${s.target}: ${line}`, session: s, offset, commandLine: line });
  const transfer = (s: SessionRef, offset: number, status: string, direction: 'upload' | 'download', path: string, size?: number, sha256?: string) =>
    gw({
      action: ACTIONS.gatewayTransfer,
      outcome: status === 'denied' ? 'failure' : 'success',
      message: `${direction} of ${path} ${status}`,
      session: s,
      offset,
      file: { path, ...(size !== undefined ? { size } : {}), ...(sha256 ? { hash: { sha256 } } : {}) },
      transfer: { id: `${s.id}-${path}`, direction, status, mode: 'approve' },
    });
  gw({ action: ACTIONS.gatewaySessionStart, outcome: 'success', message: `alice connected to root@db1 through the gateway`, session: s1 });
  syslog('db1', `Accepted password for root from ${GATEWAY_IP} port ${++port} ssh2`);
  cmd(s1, 2.5, 'uname -a');
  cmd(s1, 7.25, 'systemctl restart postgresql');
  gw({ action: ACTIONS.gatewayCommandBlocked, outcome: 'failure', message: 'blocked command by alice on root@db1: cat /etc/shadow', session: s1, offset: 11, commandLine: 'cat /etc/shadow', reason: 'shadow', alert: { rule: 'gateway-command-shadow', name: 'Reading the shadow file', severity: 'critical' } });
  transfer(s1, 14, 'requested', 'download', '/var/backups/db.dump');
  transfer(s1, 20, 'approved', 'download', '/var/backups/db.dump');
  transfer(s1, 26, 'completed', 'download', '/var/backups/db.dump', 5_242_880, 'a'.repeat(64));
  gw({ action: ACTIONS.gatewaySessionEnd, outcome: 'success', message: 'alice left root@db1', session: s1 });
  gw({ action: ACTIONS.gatewaySessionStart, outcome: 'success', message: `bob connected to deploy@web1 through the gateway`, session: s2 });
  syslog('web1', `Accepted password for deploy from ${GATEWAY_IP} port ${++port} ssh2`);
  cmd(s2, 3, 'git pull && make deploy');
  transfer(s2, 5, 'requested', 'upload', '/srv/app/release.tar.gz');
  transfer(s2, 9, 'denied', 'upload', '/srv/app/release.tar.gz');
  transfer(s2, 12, 'requested', 'upload', '/srv/app/config.yml');
  transfer(s2, 15, 'approved', 'upload', '/srv/app/config.yml');
  transfer(s2, 16, 'completed', 'upload', '/srv/app/config.yml', 2048, 'b'.repeat(64));
  gw({ action: ACTIONS.gatewaySessionTerminated, outcome: 'success', message: 'session of bob on deploy@web1 terminated by carol: change freeze', session: s2, reason: 'change freeze', extra: { termination: { by: 'carol', requested_at: new Date(t).toISOString() } } });
  gw({ action: ACTIONS.gatewaySessionEnd, outcome: 'success', message: 'bob left deploy@web1', session: s2 });
  syslog('db1', `Accepted password for root from 198.51.100.7 port ${++port} ssh2`);

  const file = join(dir, 'corpus.ndjson');
  writeFileSync(file, raw.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const config = parseConfig({ rules: { gateway_addresses: [GATEWAY_IP] } });
  const out: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      out.push(String(chunk));
      cb();
    },
  });
  await replay({ input: file, format: 'ndjson', rules: loadRules(ruleDirs(config.rules)), config: config.rules, out: sink, summary: false });
  const docs = out.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as TwEvent);
  return { events: docs.filter((d) => d.event.kind !== 'alert'), alerts: docs.filter((d) => d.event.kind === 'alert') };
}
