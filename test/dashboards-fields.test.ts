// Static checks of the Grafana dashboards: current schema, datasources through
// variables, session data links, every field a panel uses mapped in the index
// template with a type its aggregation accepts, every Prometheus metric real.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { allPanels, luceneFields, targetFields } from '../src/web/grafana-query.js';
import { esTargets, indexTemplate, loadDashboards, mappedFields, DASHBOARDS_DIR } from './dashboards-model.js';
import { ROOT, tempDir } from './helpers.js';

const AGGREGATABLE = new Set(['keyword', 'constant_keyword', 'wildcard', 'ip', 'long', 'integer', 'short', 'byte', 'double', 'float', 'half_float', 'scaled_float', 'unsigned_long', 'boolean', 'date', 'date_nanos']);
const NUMERIC = new Set(['long', 'integer', 'short', 'byte', 'double', 'float', 'half_float', 'scaled_float', 'unsigned_long']);
const NEEDS: Record<string, Set<string>> = { terms: AGGREGATABLE, cardinality: AGGREGATABLE, sum: NUMERIC, avg: NUMERIC, min: NUMERIC, max: NUMERIC, date_histogram: new Set(['date', 'date_nanos']), time: new Set(['date', 'date_nanos']) };


describe('dashboards > model', () => {
  const dashboards = loadDashboards();

  it('has the six dashboards, current schema, unique uids', () => {
    assert.deepEqual(dashboards.map((d) => d.file), ['alerts.json', 'authentication.json', 'collation.json', 'pipeline-health.json', 'sessions.json', 'transfers.json']);
    assert.equal(new Set(dashboards.map((d) => d.dash.uid)).size, dashboards.length);
    for (const { file, dash } of dashboards) assert.ok(dash.schemaVersion >= 39, `${file}: schemaVersion ${dash.schemaVersion}`);
  });

  it('is what dashboards/build.mjs generates (edit the generator, not the JSON)', () => {
    const out = tempDir('tw-dash-');
    try {
      const r = spawnSync(process.execPath, [join(DASHBOARDS_DIR, 'build.mjs'), out.dir], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      for (const f of readdirSync(out.dir)) assert.equal(readFileSync(join(DASHBOARDS_DIR, f), 'utf8'), readFileSync(join(out.dir, f), 'utf8'), `${f} is stale: run node dashboards/build.mjs`);
    } finally {
      out.cleanup();
    }
  });

  it('reaches Elasticsearch and Prometheus only through datasource variables', () => {
    for (const { file, dash } of dashboards) {
      const vars = new Map(dash.templating.list.map((v) => [v.name, v]));
      for (const p of allPanels(dash)) {
        const ds = p.datasource!;
        assert.ok(ds, `${file}/${p.title}: no datasource`);
        const want = ds.type === 'elasticsearch' ? '${ds}' : '${prom}';
        assert.equal(ds.uid, want, `${file}/${p.title}`);
        assert.equal(vars.get(want.slice(2, -1))?.type, 'datasource', `${file}: variable ${want}`);
        assert.equal(vars.get(want.slice(2, -1))?.query, ds.type);
        for (const t of p.targets ?? []) assert.deepEqual(t.datasource, ds, `${file}/${p.title}/${t.refId}`);
        assert.ok((p.targets ?? []).length > 0, `${file}/${p.title}: no query`);
      }
    }
  });

  it('links each session to its playback page in the console', () => {
    const { dash } = dashboards.find((d) => d.file === 'sessions.json')!;
    const sessions = allPanels(dash).find((p) => p.title === 'Sessions')!;
    const links = sessions.fieldConfig!.overrides!.flatMap((o) => o.properties.filter((x) => x.id === 'links').flatMap((x) => x.value as { url: string }[]));
    assert.deepEqual(links.map((l) => l.url), ['${console_url}/sessions/${__data.fields.session}']);
    const organize = sessions.transformations!.find((t) => t.id === 'organize')!;
    assert.equal((organize.options!.renameByName as Record<string, string>)['trailwatch.session.id'], 'session', 'the link reads the column renamed to "session"');
    const alerts = allPanels(dashboards.find((d) => d.file === 'alerts.json')!.dash).find((p) => p.title === 'Alerts')!;
    assert.match(JSON.stringify(alerts.fieldConfig), /\/sessions\/\$\{__data\.fields\.session\}\?t=\$\{__data\.fields\.offset\}/);
  });

  it('maps every field a panel uses, with a type its aggregation accepts', async (t) => {
    const { template, source } = await indexTemplate();
    t.diagnostic(`index template: ${source}`);
    const fields = mappedFields(template.template.mappings.properties);
    const problems: string[] = [];
    for (const { file, dash } of dashboards)
      for (const { panel, target } of esTargets(dash)) {
        const uses = targetFields(target);
        const organize = panel.transformations?.find((x) => x.id === 'organize');
        for (const c of Object.keys((organize?.options?.includeByName as Record<string, boolean>) ?? {})) uses.push({ field: c, use: 'column' });
        for (const { field, use } of uses) {
          const type = fields.get(field);
          if (!type) problems.push(`${file} / ${panel.title}: ${field} (${use}) is not in the template`);
          else if (NEEDS[use] && !NEEDS[use].has(type)) problems.push(`${file} / ${panel.title}: ${field} is ${type}, ${use} needs ${[...NEEDS[use]].join('|')}`);
        }
      }
    assert.deepEqual(problems, []);
  });

  it('finds the fields of a Lucene query, not words inside quotes', () => {
    assert.deepEqual(luceneFields('event.dataset:"trailwatch.gateway" AND event.action:(a OR b) AND NOT x.y:1 AND msg:"a:b"'), ['event.dataset', 'event.action', 'x.y', 'msg']);
  });

  it('charts only Prometheus metrics that trailwatch registers', () => {
    const registered = new Set<string>();
    const walk = (d: string) => {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts')) for (const m of readFileSync(p, 'utf8').matchAll(/['"`](trailwatch_[a-z0-9_]+)['"`]/g)) registered.add(m[1]);
      }
    };
    walk(join(ROOT, 'src'));
    // prom-client's default process metrics, registered with the trailwatch_ prefix by src/metrics.ts
    for (const m of ['process_resident_memory_bytes', 'process_cpu_seconds_total', 'nodejs_eventloop_lag_seconds']) registered.add(`trailwatch_${m}`);
    const { dash } = dashboards.find((d) => d.file === 'pipeline-health.json')!;
    const used = new Set<string>();
    for (const p of allPanels(dash)) for (const t of p.targets ?? []) for (const m of (t.expr ?? '').matchAll(/\b(trailwatch_[a-z0-9_]+)/g)) used.add(m[1].replace(/_(bucket|sum|count)$/, ''));
    assert.ok(used.size >= 10);
    const missing = [...used].filter((m) => !registered.has(m));
    assert.deepEqual(missing, [], 'metrics charted but registered nowhere in src/');
  });
});
