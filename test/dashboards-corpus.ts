// Events for the dashboard and console tests, in the shape the pipeline
// writes them (decoded + enriched + alerts). Interim until the merge: the lead
// swaps producePipelineEvents() for `trailwatch replay <corpus>` through the
// real rules stage and ES sink, and INTERIM_TEMPLATE for the sink's template
// (src/web/es-adapter.ts loadSinkTemplates() picks that up once it exists).
import { randomUUID } from 'node:crypto';
import type { TwEvent } from '../src/event.js';
import { SEVERITY_SCORE, type SeverityName } from '../src/event.js';
import { ACTIONS, DATASETS } from '../src/rules/decoders/vocabulary.js';
import type { IndexTemplate } from '../src/web/es-adapter.js';

const GATEWAY_IP = '10.0.0.5';

export function producePipelineEvents(now = Date.now()): { events: TwEvent[]; alerts: TwEvent[] } {
  let t = now - 40 * 60_000;
  const at = (stepMs = 1000) => new Date((t += stepMs)).toISOString();
  const events: TwEvent[] = [];
  const alerts: TwEvent[] = [];
  const ev = (e: Omit<TwEvent, 'event' | '@timestamp'> & { event: Partial<TwEvent['event']> }, ts = at()): TwEvent => {
    const full = { ...e, '@timestamp': ts, event: { id: randomUUID(), kind: 'event', ...e.event } } as TwEvent;
    events.push(full);
    return full;
  };
  const login = (host: string, user: string, ip: string, outcome: 'success' | 'failure', extra: Partial<TwEvent> = {}) =>
    ev({
      event: { category: ['authentication'], type: ['start'], action: ACTIONS.sshLogin, outcome, dataset: DATASETS.sshd },
      host: { name: host },
      source: { ip, port: 40000 + events.length },
      user: { name: user },
      process: { name: 'sshd', pid: 1000 + events.length },
      message: `${outcome === 'success' ? 'Accepted' : 'Failed'} password for ${user} from ${ip} port 22 ssh2`,
      related: { ip: [ip], user: [user], hosts: [host] },
      ...extra,
      trailwatch: { auth: { method: 'password' }, input: { type: 'replay' }, ...(extra.trailwatch ?? {}) },
    });
  const alert = (rule: { id: string; name: string; category: string }, severity: SeverityName, group: Record<string, string>, extra: Partial<TwEvent> = {}) => {
    const ts = at();
    const a = {
      '@timestamp': ts,
      event: { id: randomUUID(), kind: 'alert', severity: SEVERITY_SCORE[severity], dataset: 'trailwatch.alerts', action: rule.id },
      rule,
      message: `${rule.name}: ${Object.values(group).join(' ')}`,
      ...extra,
      trailwatch: { ...(extra.trailwatch ?? {}), alert: { severity, group, events: [], count: 6, first_seen: ts, last_seen: ts } },
    } as TwEvent;
    alerts.push(a);
    return a;
  };

  // An attacker sprays and brute-forces across two hosts.
  for (const user of ['root', 'admin', 'oracle', 'test', 'guest', 'admin']) for (const host of ['web1', 'db1']) login(host, user, '203.0.113.9', 'failure', { trailwatch: { auth: { method: 'password', invalid_user: user !== 'root' } } });
  login('web1', 'ubuntu', '198.51.100.23', 'failure');
  alert({ id: 'ssh-password-spraying', name: 'Password spraying from one source', category: 'authentication' }, 'high', { 'source.ip': '203.0.113.9' }, { source: { ip: '203.0.113.9' }, related: { ip: ['203.0.113.9'], user: ['root', 'admin', 'oracle', 'test', 'guest'], hosts: ['web1', 'db1'] }, host: { name: 'db1' } });
  alert({ id: 'ssh-invalid-user-brute-force', name: 'Brute force on non-existent accounts', category: 'authentication' }, 'high', { 'source.ip': '203.0.113.9' }, { source: { ip: '203.0.113.9' }, host: { name: 'web1' } });

  // Logins to managed accounts: through the gateway, and one direct.
  login('db1', 'root', GATEWAY_IP, 'success', { trailwatch: { collation: { verdict: 'gateway', gateway_session: 'gw-sess-1' } } });
  login('web1', 'deploy', GATEWAY_IP, 'success', { trailwatch: { collation: { verdict: 'gateway' } } });
  login('db1', 'root', '198.51.100.7', 'success', { trailwatch: { collation: { verdict: 'direct' } } });
  alert({ id: 'login-not-through-gateway', name: 'Login to a managed account not through the gateway', category: 'collation' }, 'high', { 'user.name': 'root', 'host.name': 'db1' }, { host: { name: 'db1' }, user: { name: 'root' }, source: { ip: '198.51.100.7' } });

  // A gateway session with commands, a blocked one, and transfers.
  const session = (id: string, operator: string, account: string, target: string) => ({ id, operator, account, target, recording: `${id}-1.cast` });
  const gw = (action: string, s: ReturnType<typeof session>, offset: number, extra: Partial<TwEvent> = {}) =>
    // shaped as src/gateway/events.ts buildEvent() makes them
    ev({
      host: { name: s.target },
      source: { ip: '192.0.2.50' },
      user: { name: s.account },
      observer: { name: 'gw1', type: 'gateway', hostname: 'gw1' },
      related: { ip: ['192.0.2.50'], user: [s.operator, s.account], hosts: [s.target] },
      ...extra,
      event: { action, dataset: DATASETS.gateway, category: action.includes('session') ? ['session'] : ['process'], ...(extra.event ?? {}) },
      trailwatch: { ...(extra.trailwatch ?? {}), session: { ...s, offset } },
    } as TwEvent);
  const s1 = session('gw-sess-1', 'alice', 'root', 'db1');
  const s2 = session('gw-sess-2', 'bob', 'deploy', 'web1');
  gw(ACTIONS.gatewaySessionStart, s1, 0);
  gw(ACTIONS.gatewayCommand, s1, 2.5, { process: { command_line: 'uname -a' } });
  gw(ACTIONS.gatewayCommand, s1, 7.25, { process: { command_line: 'systemctl restart postgresql' } });
  gw(ACTIONS.gatewayCommandBlocked, s1, 11, { process: { command_line: 'cat /etc/shadow' }, event: { outcome: 'failure' } as TwEvent['event'] });
  alert({ id: 'prohibited-command', name: 'Prohibited command in a privileged session', category: 'execution' }, 'critical', { 'trailwatch.session.id': 'gw-sess-1' }, { host: { name: 'db1' }, user: { name: 'root' }, process: { command_line: 'cat /etc/shadow' }, trailwatch: { session: { ...s1, offset: 11 } } });
  const transfer = (status: string, s: ReturnType<typeof session>, offset: number, direction: 'upload' | 'download', path: string, size?: number, sha?: string) =>
    gw(ACTIONS.gatewayTransfer, s, offset, { file: { path, ...(size !== undefined ? { size } : {}), ...(sha ? { hash: { sha256: sha } } : {}) }, trailwatch: { transfer: { id: `${s.id}-${path}`, direction, status, mode: 'sftp' } } as TwEvent['trailwatch'] });
  transfer('requested', s1, 14, 'download', '/var/backups/db.dump');
  transfer('approved', s1, 20, 'download', '/var/backups/db.dump');
  transfer('completed', s1, 26, 'download', '/var/backups/db.dump', 5_242_880, 'a'.repeat(64));
  gw(ACTIONS.gatewaySessionEnd, s1, 30);
  gw(ACTIONS.gatewaySessionStart, s2, 0);
  gw(ACTIONS.gatewayCommand, s2, 3, { process: { command_line: 'git pull && make deploy' } });
  transfer('requested', s2, 5, 'upload', '/srv/app/release.tar.gz');
  transfer('denied', s2, 9, 'upload', '/srv/app/release.tar.gz');
  transfer('requested', s2, 12, 'upload', '/srv/app/config.yml');
  transfer('approved', s2, 15, 'upload', '/srv/app/config.yml');
  transfer('completed', s2, 16, 'upload', '/srv/app/config.yml', 2048, 'b'.repeat(64));
  gw(ACTIONS.gatewaySessionEnd, s2, 20);
  return { events, alerts };
}

const kw = { type: 'keyword', ignore_above: 1024 };
const textKw = { type: 'text', fields: { keyword: kw } };
const obj = (properties: Record<string, unknown>) => ({ properties });

/**
 * Stand-in for the sink's ECS_MAPPINGS (src/sinks/elasticsearch-setup.ts on
 * the pipeline branch) until the merge: the same types (text + keyword
 * subfield for message, command lines and rule names), plus what the
 * dashboards need that ECS_MAPPINGS does not declare yet:
 * trailwatch.transfer.*, trailwatch.collation.*, trailwatch.auth.*.
 * Core field types only: the test Elasticsearch runs without x-pack.
 */
export const INTERIM_TEMPLATE: IndexTemplate = {
  index_patterns: ['logs-trailwatch.events-*', 'trailwatch-alerts'],
  priority: 200,
  template: {
    settings: { number_of_shards: 1, number_of_replicas: 0 },
    mappings: {
      dynamic_templates: [{ strings_as_keyword: { match_mapping_type: 'string', mapping: kw } }],
      properties: {
        '@timestamp': { type: 'date' },
        message: textKw,
        tags: kw,
        event: obj({ id: kw, kind: kw, category: kw, type: kw, action: kw, outcome: kw, dataset: kw, module: kw, severity: { type: 'long' }, original: { type: 'keyword', index: false, doc_values: false }, sequence: { type: 'long' }, created: { type: 'date' }, ingested: { type: 'date' }, reason: textKw, count: { type: 'long' } }),
        host: obj({ name: kw, hostname: kw, ip: { type: 'ip' } }),
        source: obj({ ip: { type: 'ip' }, port: { type: 'long' }, domain: kw, user: obj({ name: kw }) }),
        destination: obj({ ip: { type: 'ip' }, port: { type: 'long' }, domain: kw }),
        user: obj({ name: kw, id: kw, target: obj({ name: kw, id: kw }), effective: obj({ name: kw }) }),
        process: obj({ name: kw, pid: { type: 'long' }, executable: kw, command_line: textKw, args: kw }),
        file: obj({ path: kw, name: kw, size: { type: 'long' }, hash: obj({ sha256: kw }), target_path: kw }),
        rule: obj({ id: kw, name: textKw, category: kw, description: { type: 'text' }, ruleset: kw, version: kw, reference: kw }),
        related: obj({ ip: { type: 'ip' }, user: kw, hosts: kw, hash: kw }),
        observer: obj({ name: kw, type: kw, hostname: kw }),
        trailwatch: obj({
          session: obj({ id: kw, operator: kw, account: kw, target: kw, offset: { type: 'float' }, recording: kw }),
          alert: obj({ severity: kw, count: { type: 'long' }, events: kw, first_seen: { type: 'date' }, last_seen: { type: 'date' }, group: { type: 'object', dynamic: true } }),
          // not in ECS_MAPPINGS yet (dynamic keyword there): declared so the dashboards' fields are typed on purpose
          transfer: obj({ id: kw, direction: kw, status: kw, mode: kw }),
          collation: obj({ verdict: kw, gateway_session: kw }),
          auth: obj({ method: kw, invalid_user: { type: 'boolean' } }),
        }),
      },
    },
  },
};
