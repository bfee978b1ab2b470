// The Grafana query model -> Elasticsearch _search translation itself.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { autoInterval, responseHasData, toSearchRequest, UnsupportedQuery } from '../src/web/grafana-query.js';

const range = { from: 1_700_000_000_000, to: 1_700_086_400_000 };

describe('dashboards > grafana query translation', () => {
  it('nests bucket aggregations in order and puts metrics innermost', () => {
    const body = toSearchRequest(
      {
        query: 'event.outcome:failure',
        timeField: '@timestamp',
        bucketAggs: [
          { id: '3', type: 'terms', field: 'source.ip', settings: { size: '5', orderBy: '_term', order: 'asc', min_doc_count: '2' } },
          { id: '2', type: 'date_histogram', field: '@timestamp', settings: { interval: 'auto', min_doc_count: '0' } },
        ],
        metrics: [{ id: '1', type: 'count' }, { id: '4', type: 'sum', field: 'file.size' }],
      },
      range,
    );
    assert.deepEqual(body, {
      size: 0,
      query: { bool: { filter: [{ range: { '@timestamp': { gte: range.from, lte: range.to, format: 'epoch_millis' } } }, { query_string: { analyze_wildcard: true, query: 'event.outcome:failure' } }] } },
      aggs: {
        '3': {
          terms: { field: 'source.ip', size: 5, order: { _key: 'asc' }, min_doc_count: 2 },
          aggs: { '2': { date_histogram: { field: '@timestamp', fixed_interval: '30m', min_doc_count: 0, extended_bounds: { min: range.from, max: range.to }, format: 'epoch_millis' }, aggs: { '4': { sum: { field: 'file.size' } } } } },
        },
      },
    });
  });

  it('asks for documents, newest first, for raw data tables', () => {
    const body = toSearchRequest({ query: '*', timeField: '@timestamp', metrics: [{ id: '1', type: 'raw_data', settings: { size: '50' } }] }, range);
    assert.equal(body.size, 50);
    assert.deepEqual((body.query as { bool: { filter: unknown[] } }).bool.filter.length, 1, '"*" adds no query_string');
    assert.deepEqual((body.sort as unknown[])[0], { '@timestamp': { order: 'desc', unmapped_type: 'boolean' } });
  });

  it('refuses what it does not translate instead of guessing', () => {
    assert.throws(() => toSearchRequest({ query: 'host.name:$host', timeField: '@timestamp' }, range), UnsupportedQuery);
    assert.throws(() => toSearchRequest({ timeField: '@timestamp', bucketAggs: [{ id: '2', type: 'geohash_grid', field: 'x' }] }, range), UnsupportedQuery);
  });

  it('picks an auto interval of about a hundred buckets', () => {
    assert.equal(autoInterval({ from: 0, to: 3600_000 }), '1m');
    assert.equal(autoInterval({ from: 0, to: 7 * 86400_000 }), '3h');
  });

  it('tells an empty response from one with data', () => {
    const t = { timeField: '@timestamp', bucketAggs: [{ id: '2', type: 'terms', field: 'user.name' }] };
    assert.equal(responseHasData(t, { aggregations: { '2': { buckets: [] } } }), false);
    assert.equal(responseHasData(t, { aggregations: { '2': { buckets: [{ key: 'root', doc_count: 3 }] } } }), true);
    const s = { timeField: '@timestamp', bucketAggs: [{ id: '2', type: 'date_histogram', field: '@timestamp' }], metrics: [{ id: '1', type: 'sum', field: 'file.size' }] };
    assert.equal(responseHasData(s, { aggregations: { '2': { buckets: [{ doc_count: 2, '1': { value: 0 } }] } } }), false);
    assert.equal(responseHasData(s, { aggregations: { '2': { buckets: [{ doc_count: 2, '1': { value: 2048 } }] } } }), true);
  });
});
