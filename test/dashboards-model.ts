// Loading the committed dashboards and the index template the panels run against.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSinkTemplates, type IndexTemplate } from '../src/web/es-adapter.js';
import { allPanels, type DashboardPanel, type GrafanaEsTarget } from '../src/web/grafana-query.js';
import { INTERIM_TEMPLATE } from './dashboards-corpus.js';
import { ROOT } from './helpers.js';

export const DASHBOARDS_DIR = join(ROOT, 'dashboards');

export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: DashboardPanel[];
  templating: { list: { name: string; type: string; query?: string }[] };
}

export function loadDashboards(dir = DASHBOARDS_DIR): { file: string; dash: Dashboard }[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, dash: JSON.parse(readFileSync(join(dir, file), 'utf8')) as Dashboard }));
}

export function esTargets(dash: Dashboard): { panel: DashboardPanel; target: GrafanaEsTarget }[] {
  const out: { panel: DashboardPanel; target: GrafanaEsTarget }[] = [];
  for (const panel of allPanels(dash)) for (const target of panel.targets ?? []) if ((target.datasource ?? panel.datasource)?.type === 'elasticsearch') out.push({ panel, target });
  return out;
}

/**
 * The template the Elasticsearch sink installs (pipeline branch), or the
 * interim stand-in while that is not merged; `source` says which.
 */
export async function indexTemplate(): Promise<{ template: IndexTemplate; source: string }> {
  const sink = await loadSinkTemplates();
  if (sink?.length) {
    // events and alerts may have templates of their own: merge their mappings
    const properties: Record<string, unknown> = {};
    for (const t of sink) mergeProps(properties, t.body.template.mappings.properties);
    return { template: { ...sink[0].body, template: { ...sink[0].body.template, mappings: { ...sink[0].body.template.mappings, properties } } }, source: `sink: ${sink.map((t) => t.name).join(', ')}` };
  }
  return { template: INTERIM_TEMPLATE, source: 'interim (test/dashboards-corpus.ts): the pipeline branch template is not merged yet' };
}

function mergeProps(into: Record<string, unknown>, from: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(from)) {
    const cur = into[k] as { properties?: Record<string, unknown> } | undefined;
    const next = v as { properties?: Record<string, unknown> };
    if (cur?.properties && next.properties) mergeProps(cur.properties, next.properties);
    else into[k] = v;
  }
}

/** Dotted field path -> mapping type, multi-fields included ("process.command_line.text"). */
export function mappedFields(props: Record<string, unknown>, prefix = '', out = new Map<string, string>()): Map<string, string> {
  for (const [k, v] of Object.entries(props)) {
    const m = v as { type?: string; properties?: Record<string, unknown>; fields?: Record<string, { type: string }> };
    const path = prefix + k;
    if (m.properties) mappedFields(m.properties, `${path}.`, out);
    if (m.type) out.set(path, m.type);
    for (const [sub, f] of Object.entries(m.fields ?? {})) out.set(`${path}.${sub}`, f.type);
  }
  return out;
}
