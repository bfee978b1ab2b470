// Every Elasticsearch panel query of every dashboard, translated into the
// _search request Grafana sends, run against a real Elasticsearch holding the
// events the pipeline produces for a sample corpus: each must return data.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { responseHasData, toSearchRequest } from '../src/web/grafana-query.js';
import { replayCorpus } from './dashboards-corpus.js';
import { esSkip, indexCorpus, type TestIndices } from './dashboards-es.js';
import { esTargets, loadDashboards } from './dashboards-model.js';
import { tempDir } from './helpers.js';

describe('dashboards > panel queries on real Elasticsearch', { skip: esSkip() }, () => {
  let es: TestIndices;
  const now = Date.now();
  const range = { from: now - 24 * 3600_000, to: now + 60_000 };

  before(async () => {
    const tmp = tempDir('tw-corpus-');
    try {
      es = await indexCorpus(await replayCorpus(now, tmp.dir));
    } finally {
      tmp.cleanup();
    }
  });
  after(async () => {
    await es?.cleanup();
  });

  for (const { file, dash } of loadDashboards()) {
    const targets = esTargets(dash);
    if (!targets.length) continue;
    it(`${file}: every panel returns data`, async (t) => {
      t.diagnostic(`index template: ${es.templateSource}`);
      const empty: string[] = [];
      for (const { panel, target } of targets) {
        const body = toSearchRequest(target, range);
        const res = await es.client.search({ index: es.pattern, ...body });
        if (!responseHasData(target, res as never)) empty.push(`${panel.title} [${target.refId}]: ${target.query}`);
      }
      assert.deepEqual(empty, [], 'panels whose query returned nothing');
    });
  }

  it('returns nothing for a query that matches nothing (the check can fail)', async () => {
    const [{ target }] = esTargets(loadDashboards().find((d) => d.file === 'authentication.json')!.dash).filter((x) => x.target.bucketAggs?.some((b) => b.type === 'terms'));
    const none = { ...target, query: `${target.query} AND user.name:"nobody-at-all"` };
    const res = await es.client.search({ index: es.pattern, ...toSearchRequest(none, range) });
    assert.equal(responseHasData(none, res as never), false);
    const past = { from: now - 90 * 24 * 3600_000, to: now - 30 * 24 * 3600_000 };
    const old = await es.client.search({ index: es.pattern, ...toSearchRequest(target, past) });
    assert.equal(responseHasData(target, old as never), false, 'the time range filter applies');
  });
});
