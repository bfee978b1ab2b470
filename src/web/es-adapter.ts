// Adapter: what the web console and the dashboard tests assume about the
// Elasticsearch sink (branch `pipeline`, src/sinks/elasticsearch*.ts): where
// events and alerts live and the ECS mappings its setup installs. At merge,
// import those directly here; nothing else needs to change.
import type { Config } from '../config.js';

interface SinkNames {
  events_data_stream?: string;
  alerts_index?: string;
}

function names(config: Pick<Config, 'sinks'>): SinkNames {
  return config.sinks.elasticsearch as SinkNames;
}

/** Events data stream pattern (sinks.elasticsearch.events_data_stream, default logs-trailwatch.events-default). */
export function eventsIndexPattern(config: Pick<Config, 'sinks'>): string {
  return (names(config).events_data_stream ?? 'logs-trailwatch.events-default').replace(/-[^-]+$/, '-*');
}

/** Alerts index (sinks.elasticsearch.alerts_index, default trailwatch-alerts). */
export function alertsIndex(config: Pick<Config, 'sinks'>): string {
  return names(config).alerts_index ?? 'trailwatch-alerts';
}

/**
 * Field searched by substring for "command contains": the sink maps
 * process.command_line as text with a keyword subfield; wildcard queries run
 * on the keyword (commands longer than its ignore_above are not found).
 */
export const COMMAND_FIELD = 'process.command_line.keyword';

export interface IndexTemplate {
  index_patterns: string[];
  template: { settings?: Record<string, unknown>; mappings: { properties: Record<string, unknown>; dynamic_templates?: unknown[] } };
  priority?: number;
  data_stream?: Record<string, unknown>;
}

/**
 * The mappings the sink's setup installs (ECS_MAPPINGS of
 * src/sinks/elasticsearch-setup.ts, a component template shared by the events
 * data stream and the alerts index), as one template. Loaded at run time so
 * this compiles before the pipeline branch is merged; undefined until then.
 */
export async function loadSinkTemplates(): Promise<{ name: string; body: IndexTemplate }[] | undefined> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(new URL('../sinks/elasticsearch-setup.js', import.meta.url).href)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const mappings = mod.ECS_MAPPINGS as IndexTemplate['template']['mappings'] | undefined;
  if (!mappings?.properties) return undefined;
  return [{ name: 'ECS_MAPPINGS (src/sinks/elasticsearch-setup.ts)', body: { index_patterns: ['logs-trailwatch.events-*', 'trailwatch-alerts'], template: { mappings } } }];
}
