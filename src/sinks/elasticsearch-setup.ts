// `trailwatch setup elasticsearch`: an ECS component template, an index
// template that makes the events data stream, an index for alerts, and a
// retention lifecycle. Running it again updates the templates in place.
//
// Field types are chosen on purpose: identifiers, names, IPs-as-text, actions
// and outcomes are keyword (exact match, aggregations); message and command
// lines are text for full-text search with a keyword subfield for exact
// match and terms; source/destination/host/related IPs are `ip` (CIDR
// queries); times are `date`. Strings nobody declared become keyword, never
// text, so an unexpected field cannot blow up the index with analysed text.
import type { Client } from '@elastic/elasticsearch';
import type { ElasticsearchConfig } from './elasticsearch-config.js';
import type { Logger } from '../log.js';
import { errorMessage } from '../errors.js';

const kw = { type: 'keyword', ignore_above: 1024 } as const;
const textKw = { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 1024 } } } as const;
const ip = { type: 'ip' } as const;
const date = { type: 'date' } as const;
const long = { type: 'long' } as const;
const props = (p: Record<string, unknown>) => ({ properties: p });

export const ECS_MAPPINGS = {
  dynamic: true,
  date_detection: false,
  dynamic_templates: [{ strings_as_keyword: { match_mapping_type: 'string', mapping: kw } }],
  properties: {
    '@timestamp': date,
    message: textKw,
    tags: kw,
    event: props({
      id: kw,
      kind: kw,
      category: kw,
      type: kw,
      action: kw,
      outcome: kw,
      dataset: kw,
      module: kw,
      severity: long,
      sequence: long,
      count: long,
      reason: textKw,
      created: date,
      ingested: date,
      // Kept for forensics and replays, never searched: not indexed.
      original: { type: 'keyword', index: false, doc_values: false },
    }),
    host: props({ name: kw, hostname: kw, ip }),
    source: props({ ip, port: long, domain: kw, user: props({ name: kw }) }),
    destination: props({ ip, port: long, domain: kw }),
    user: props({ name: kw, id: kw, target: props({ name: kw, id: kw }), effective: props({ name: kw }) }),
    process: props({
      name: kw,
      pid: long,
      executable: kw,
      command_line: textKw,
      args: kw,
      working_directory: kw,
      user: props({ name: kw, id: kw }),
      parent: props({ name: kw, pid: long, executable: kw, command_line: textKw }),
    }),
    log: props({
      level: kw,
      syslog: props({
        facility: props({ code: long, name: kw }),
        severity: props({ code: long, name: kw }),
        priority: long,
        version: long,
        hostname: kw,
        appname: kw,
        procid: kw,
        msgid: kw,
        // Arbitrary SD-IDs and params: stored, searchable only through the _source.
        structured_data: { type: 'object', enabled: false },
      }),
    }),
    file: props({ path: kw, name: kw, target_path: kw, size: long, hash: props({ sha256: kw }) }),
    rule: props({ id: kw, name: textKw, description: { type: 'text' }, category: kw, ruleset: kw, version: kw, reference: kw, author: kw }),
    threat: props({ framework: kw, technique: props({ id: kw, name: kw }), tactic: props({ id: kw, name: kw }) }),
    related: props({ ip, user: kw, hosts: kw, hash: kw }),
    observer: props({ name: kw, type: kw, hostname: kw }),
    journald: props({
      pid: long,
      uid: long,
      gid: long,
      process: props({ name: kw, executable: kw, command_line: textKw }),
      host: props({ boot_id: kw }),
      cursor: kw,
      // Field names the writing program chose: stored, searchable only through the _source, so they cannot grow the mapping.
      custom: { type: 'object', enabled: false },
    }),
    systemd: props({ unit: kw, user_unit: kw, slice: kw, transport: kw, invocation_id: kw }),
    trailwatch: props({
      session: props({ id: kw, operator: kw, account: kw, target: kw, offset: { type: 'float' }, recording: kw }),
      transfer: props({ id: kw, direction: kw, status: kw, mode: kw }),
      collation: props({ verdict: kw, gateway_session: kw }),
      rotation: props({ users: kw }),
      triage: props({ alert_id: kw, from: kw, status: kw, note: textKw }),
      policy: props({ rule: kw, target: kw }),
      termination: props({ by: kw, requested_at: date }),
      auth: props({ method: kw, invalid_user: { type: 'boolean' }, mfa: kw }),
      input: props({ type: kw, peer: kw }),
      spoofing: props({ claimed: kw, writer: kw, executable: kw }),
      decoder: kw,
      gateway_alert: props({ rule: kw, name: kw, severity: kw }),
      alert: props({
        severity: kw,
        events: kw,
        count: long,
        first_seen: date,
        last_seen: date,
        window: props({ start: date, end: date }),
        group: { type: 'object', dynamic: true },
      }),
    }),
  },
};

export function policyName(cfg: ElasticsearchConfig): string {
  return `${cfg.events_data_stream}-retention`;
}

/** ILM exists only with x-pack (the distribution); without it the data stream's own lifecycle keeps retention. */
async function putIlmPolicy(client: Client, cfg: ElasticsearchConfig, log: Logger): Promise<boolean> {
  try {
    await client.ilm.putLifecycle({
      name: policyName(cfg),
      policy: {
        _meta: { managed_by: 'trailwatch' },
        phases: {
          hot: { actions: { rollover: { max_age: '1d', max_primary_shard_size: '50gb' } } },
          delete: { min_age: `${cfg.retention_days}d`, actions: { delete: {} } },
        },
      },
    });
    return true;
  } catch (err) {
    const status = (err as { meta?: { statusCode?: number } }).meta?.statusCode;
    if (status === 400 || status === 404 || status === 405) {
      log.warn({ err: errorMessage(err) }, 'this Elasticsearch has no ILM; retention uses the data stream lifecycle instead');
      return false;
    }
    throw err;
  }
}

export async function setupElasticsearch(client: Client, cfg: ElasticsearchConfig, log: Logger): Promise<{ ilm: boolean }> {
  const ilm = await putIlmPolicy(client, cfg, log);
  const settings = { number_of_shards: 1, number_of_replicas: cfg.replicas, 'mapping.total_fields.limit': 2000 };
  await client.cluster.putComponentTemplate({ name: 'trailwatch-ecs', template: { mappings: ECS_MAPPINGS as never }, _meta: { managed_by: 'trailwatch' } });
  await client.indices.putIndexTemplate({
    name: `${cfg.events_data_stream}-template`,
    index_patterns: [cfg.events_data_stream.replace(/-[^-]+$/, '-*')],
    data_stream: {},
    priority: 300,
    composed_of: ['trailwatch-ecs'],
    template: {
      settings: ilm ? { ...settings, 'index.lifecycle.name': policyName(cfg) } : settings,
      ...(ilm ? {} : { lifecycle: { data_retention: `${cfg.retention_days}d` } }),
    },
    _meta: { managed_by: 'trailwatch' },
  });
  await client.indices.putIndexTemplate({
    name: `${cfg.alerts_index}-template`,
    index_patterns: [cfg.alerts_index],
    priority: 300,
    composed_of: ['trailwatch-ecs'],
    template: { settings },
    _meta: { managed_by: 'trailwatch' },
  });
  if (!(await client.indices.exists({ index: cfg.alerts_index }))) {
    await client.indices.create({ index: cfg.alerts_index }).catch((err) => {
      if ((err as { meta?: { body?: { error?: { type?: string } } } }).meta?.body?.error?.type !== 'resource_already_exists_exception') throw err;
    });
  }
  log.info({ data_stream: cfg.events_data_stream, alerts_index: cfg.alerts_index, retention_days: cfg.retention_days, ilm }, 'elasticsearch set up');
  return { ilm };
}
