// Adapter: what the web console and the dashboard tests assume about the
// Elasticsearch sink (branch `pipeline`): index names and the index template.
// At merge, point these at src/sinks/elasticsearch*.ts in this one file.
import type { Config } from '../config.js';

/** Index pattern (or data stream pattern) that holds events, gateway events included. */
export function eventsIndexPattern(config: Pick<Config, 'topic_prefix'>): string {
  return `${config.topic_prefix}-events*`;
}

/** Index pattern that holds alerts. */
export function alertsIndexPattern(config: Pick<Config, 'topic_prefix'>): string {
  return `${config.topic_prefix}-alerts*`;
}

/** Field the gateway puts the command line in, searched by substring. */
export const COMMAND_FIELD = 'process.command_line';

export interface IndexTemplate {
  index_patterns: string[];
  template: { settings?: Record<string, unknown>; mappings: { properties: Record<string, unknown>; dynamic_templates?: unknown[] } };
  priority?: number;
  data_stream?: Record<string, unknown>;
  composed_of?: string[];
}

/**
 * The sink's index template(s), if the pipeline module is present. Looked up
 * at run time so this file compiles before the pipeline branch is merged.
 * Returns undefined when no such module exists yet.
 */
export async function loadSinkTemplates(): Promise<{ name: string; body: IndexTemplate }[] | undefined> {
  const candidates = ['../sinks/elasticsearch-templates.js', '../sinks/elasticsearch-template.js', '../sinks/elasticsearch.js'];
  for (const c of candidates) {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(new URL(c, import.meta.url).href)) as Record<string, unknown>;
    } catch {
      continue;
    }
    const found = pickTemplates(mod);
    if (found) return found;
  }
  return undefined;
}

function isTemplate(v: unknown): v is IndexTemplate {
  return !!v && typeof v === 'object' && Array.isArray((v as IndexTemplate).index_patterns) && !!(v as IndexTemplate).template?.mappings;
}

function pickTemplates(mod: Record<string, unknown>): { name: string; body: IndexTemplate }[] | undefined {
  const out: { name: string; body: IndexTemplate }[] = [];
  for (const [k, v] of Object.entries(mod)) {
    const value = typeof v === 'function' && v.length === 0 && /template/i.test(k) ? safeCall(v as () => unknown) : v;
    if (isTemplate(value)) out.push({ name: k, body: value });
    else if (Array.isArray(value) && value.every(isTemplate)) value.forEach((t, i) => out.push({ name: `${k}[${i}]`, body: t }));
    else if (value && typeof value === 'object' && !Array.isArray(value) && Object.values(value).length && Object.values(value).every(isTemplate))
      for (const [n, t] of Object.entries(value)) out.push({ name: n, body: t as IndexTemplate });
  }
  return out.length ? out : undefined;
}

function safeCall(f: () => unknown): unknown {
  try {
    return f();
  } catch {
    return undefined;
  }
}
