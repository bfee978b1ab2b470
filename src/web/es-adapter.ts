// What the web console and the dashboard tests take from the Elasticsearch
// sink (src/sinks/elasticsearch*.ts): where events and alerts live and the
// ECS mappings its setup installs.
import type { Config } from '../config.js';
import { ECS_MAPPINGS } from '../sinks/elasticsearch-setup.js';

function names(config: Pick<Config, 'sinks'>): { events_data_stream?: string; alerts_index?: string } {
  return config.sinks.elasticsearch;
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
 * The mappings the sink's setup installs (ECS_MAPPINGS, a component template
 * shared by the events data stream and the alerts index), as one template.
 */
export function sinkTemplate(): { name: string; body: IndexTemplate } {
  return { name: 'ECS_MAPPINGS (src/sinks/elasticsearch-setup.ts)', body: { index_patterns: ['logs-trailwatch.events-*', 'trailwatch-alerts'], template: { mappings: ECS_MAPPINGS as IndexTemplate['template']['mappings'] } } };
}
