// Loading the committed dashboards and the index template the panels run against.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sinkTemplate, type IndexTemplate } from '../src/web/es-adapter.js';
import { allPanels, type DashboardPanel, type GrafanaEsTarget } from '../src/web/grafana-query.js';
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

/** The template the Elasticsearch sink installs; `source` names it. */
export async function indexTemplate(): Promise<{ template: IndexTemplate; source: string }> {
  const { name, body } = sinkTemplate();
  return { template: body, source: `sink: ${name}` };
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
