// trailwatch.yaml: one file, validated before any I/O. Environment overrides
// for deployments, then CLI flags. A config that can never work is refused
// with `field.path: reason` (exit code 2 from the CLI).
import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { memoryBusConfig } from './bus/memory.js';
import { redeliveryConfig } from './bus/redelivery.js';
import { kafkaConfig } from './bus/kafka-config.js';
import { syslogConfig } from './ingest/syslog/config.js';
import { storeConfig } from './store/config.js';
import { sessionLogConfig } from './ingest/session-log-config.js';
import { journalConfig } from './ingest/journal/config.js';
import { rulesConfig } from './rules/config.js';
import { fileSinkConfig } from './sinks/file.js';
import { elasticsearchConfig } from './sinks/elasticsearch-config.js';
import { webhookConfig } from './sinks/webhook-config.js';
import { gatewayConfig } from './gateway/config.js';
import { crossCheckJobs, jobsConfig } from './jobs-config.js';
import { webConfig } from './web/config.js';

export const configSchema = z
  .strictObject({
    data_dir: z.string().default('./data').describe('Where embedded mode keeps events, alerts and state.'),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Least severe log level written (JSON to stderr; env TRAILWATCH_LOG_LEVEL).'),
    topic_prefix: z.string().regex(/^[A-Za-z0-9._-]+$/).default('trailwatch').describe('Topic names are <prefix>.raw, .events, .alerts, .dlq.'),
    http: z
      .strictObject({
        host: z.string().default('0.0.0.0').describe('Address the HTTP port listens on.'),
        port: z.number().int().min(0).max(65535).default(8080).describe('/healthz and /metrics (Prometheus).'),
      })
      .prefault({}),
    bus: z
      .strictObject({
        type: z.enum(['memory', 'kafka']).default('memory').describe('memory for embedded mode; kafka between separate processes.'),
        memory: memoryBusConfig.prefault({}),
        kafka: kafkaConfig,
        redelivery: redeliveryConfig,
      })
      .prefault({}),
    syslog: syslogConfig,
    session_log: sessionLogConfig,
    journal: journalConfig,
    rules: rulesConfig,
    sinks: z
      .strictObject({
        file: fileSinkConfig,
        elasticsearch: elasticsearchConfig,
        webhook: webhookConfig,
      })
      .prefault({}),
    store: storeConfig,
    gateway: gatewayConfig,
    jobs: jobsConfig,
    web: webConfig,
  })
  .superRefine((c, ctx) => {
    for (const i of crossCheckJobs(c)) ctx.addIssue({ code: 'custom', path: i.path, message: i.message });
    if (c.store.enabled === true && !c.sinks.file.enabled)
      ctx.addIssue({ code: 'custom', path: ['store', 'enabled'], message: 'the store stores the events the file sink writes: turn sinks.file.enabled on, or the store off' });
  })
  .describe('trailwatch configuration (trailwatch.yaml).');

export type Config = z.infer<typeof configSchema>;

/** Format zod issues as `field.path: reason` lines. */
export function formatIssues(error: z.ZodError, prefix = ''): string[] {
  return error.issues.map((i) => {
    const path = i.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
    const where = prefix + (path || '(root)');
    let reason = i.message;
    if (i.code === 'unrecognized_keys') reason = `unknown field(s) ${i.keys.map((k) => `"${k}"`).join(', ')}`;
    return `${where}: ${reason}`;
  });
}

export function parseConfig(raw: unknown, source = 'config'): Config {
  const r = configSchema.safeParse(raw ?? {});
  if (!r.success) throw new ConfigError(formatIssues(r.error).map((l) => `${source}: ${l}`));
  return r.data;
}

interface SchemaDef {
  type: string;
  shape?: Record<string, { _zod: { def: SchemaDef } }>;
  innerType?: { _zod: { def: SchemaDef } };
  in?: { _zod: { def: SchemaDef } };
  valueType?: { _zod: { def: SchemaDef } };
  options?: { _zod: { def: SchemaDef } }[];
  entries?: Record<string, unknown>;
  values?: unknown[];
}

const WRAPPERS = new Set(['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch', 'nonoptional']);

/** The schema of the field at `path` (through defaults, optionals, transforms and records), or undefined off the schema. */
function fieldDef(path: string[]): SchemaDef | undefined {
  let d: SchemaDef = (configSchema as unknown as { _zod: { def: SchemaDef } })._zod.def;
  for (let i = 0; ; ) {
    if (WRAPPERS.has(d.type)) d = d.innerType!._zod.def;
    else if (d.type === 'pipe') d = d.in!._zod.def;
    else if (i === path.length) return d;
    else if (d.type === 'object') {
      const next = Object.hasOwn(d.shape!, path[i]) ? d.shape![path[i]] : undefined;
      if (!next) return undefined;
      d = next._zod.def;
      i++;
    } else if (d.type === 'record') {
      d = d.valueType!._zod.def;
      i++;
    } else return undefined;
  }
}

/** Whatever the value, the field can only be a string: a string, a string enum or literal, or a union of those. */
function isStringDef(d: SchemaDef): boolean {
  while (WRAPPERS.has(d.type) || d.type === 'pipe') d = d.type === 'pipe' ? d.in!._zod.def : d.innerType!._zod.def;
  if (d.type === 'string') return true;
  if (d.type === 'enum') return Object.values(d.entries!).every((v) => typeof v === 'string');
  if (d.type === 'literal') return d.values!.every((v) => typeof v === 'string');
  if (d.type === 'union') return d.options!.every((o) => isStringDef(o._zod.def));
  return false;
}

/**
 * An environment value for the field at `path`: taken literally when the
 * schema says the field is a string (tokens and passwords hold `#`, `: `,
 * digits, "true"; a YAML reading changed them), else read as a YAML scalar
 * the way the config file would (numbers, booleans, lists).
 */
function envValue(path: string[], v: string): unknown {
  const d = fieldDef(path);
  if (d && isStringDef(d)) return v;
  try {
    return parseYaml(v);
  } catch {
    return v;
  }
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj;
  for (let i = 0; i < path.length - 1; i++) {
    const k = path[i];
    if (cur[k] === null || typeof cur[k] !== 'object' || Array.isArray(cur[k])) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[path[path.length - 1]] = value;
}

const NOT_PATHS = new Set(['TRAILWATCH_CONFIG', 'TRAILWATCH_LOG_LEVEL', 'TRAILWATCH_WEBHOOK_URL', 'TRAILWATCH_WEBHOOK_SECRET', 'TRAILWATCH_SERVICES_DIR',
  // the test runner's own (test/run.mjs)
  'TRAILWATCH_KEEP_SERVICES', 'TRAILWATCH_TEST_TIMEOUT_MS', 'TRAILWATCH_RUN_TIMEOUT_MS']);

/**
 * Environment overrides: KAFKA_BROKERS, ELASTICSEARCH_URL, TRAILWATCH_DATA_DIR,
 * TRAILWATCH_LOG_LEVEL, and generally TRAILWATCH_<SECTION>__<FIELD>=value
 * (double underscore between levels, e.g. TRAILWATCH_SYSLOG__TCP__PORT=601).
 * A string field takes the value as it is, spaces included; any other field
 * reads it as YAML.
 */
export function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const out = structuredClone(raw);
  if (env.KAFKA_BROKERS) setPath(out, ['bus', 'kafka', 'brokers'], env.KAFKA_BROKERS.split(',').map((s) => s.trim()).filter(Boolean));
  if (env.ELASTICSEARCH_URL) setPath(out, ['sinks', 'elasticsearch', 'url'], env.ELASTICSEARCH_URL);
  if (env.TRAILWATCH_LOG_LEVEL) out.log_level = env.TRAILWATCH_LOG_LEVEL;
  // Webhook quick start: a generic signed receiver for every alert (sinks.webhook.quick_start).
  if (env.TRAILWATCH_WEBHOOK_URL) setPath(out, ['sinks', 'webhook', 'quick_start', 'url'], env.TRAILWATCH_WEBHOOK_URL);
  if (env.TRAILWATCH_WEBHOOK_SECRET) setPath(out, ['sinks', 'webhook', 'quick_start', 'secret'], env.TRAILWATCH_WEBHOOK_SECRET);
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith('TRAILWATCH_') || v === undefined || NOT_PATHS.has(k)) continue;
    const path = k.slice('TRAILWATCH_'.length).toLowerCase().split('__');
    if (path.some((p) => !p)) continue;
    setPath(out, path, envValue(path, v));
  }
  return out;
}

export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    const e = err as YAMLParseError;
    const at = e.linePos?.[0] ? ` (line ${e.linePos[0].line}, column ${e.linePos[0].col})` : '';
    throw new ConfigError([`${file}: not valid YAML${at}: ${e.message.split('\n')[0]}`]);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError([`${file}: (root): expected a mapping of sections`]);
  return doc as Record<string, unknown>;
}

/**
 * Load the effective config: file (if any), then environment, then overrides
 * (CLI flags as a partial document). Throws ConfigError.
 */
export function loadConfig(
  opts: { file?: string; env?: NodeJS.ProcessEnv; overrides?: Record<string, unknown> } = {},
): Config {
  const env = opts.env ?? process.env;
  const file = opts.file ?? env.TRAILWATCH_CONFIG;
  let raw = file ? readConfigFile(file) : {};
  raw = applyEnv(raw, env);
  if (opts.overrides) raw = mergeDeep(raw, opts.overrides);
  return parseConfig(raw, file ?? 'config');
}

export function mergeDeep(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    if (v === undefined) continue;
    const av = out[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && av && typeof av === 'object' && !Array.isArray(av))
      out[k] = mergeDeep(av as Record<string, unknown>, v as Record<string, unknown>);
    else out[k] = v;
  }
  return out;
}
