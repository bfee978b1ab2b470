// KQL on the real Elasticsearch of test/services: the corpus in a throwaway
// index mapped as the ECS fields are (keyword, ip, long, date, boolean, text),
// every query's hits compared with the reference evaluator, which the SQLite
// suite holds its store to as well.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { estypes } from '@elastic/elasticsearch';
import { distributedConfig, uniqueName } from './distributed-helpers.js';
import { esClient } from '../src/sinks/elasticsearch.js';
import { formatKql, parseKql, type KqlNode } from '../src/query/kql.js';
import { toEsQuery, type EsQueryOptions } from '../src/query/es.js';
import { ALL_IDS, CASES, corpusQuery, EVENTS, expected, HOSTILE, idOf } from './query-helpers.js';

const index = uniqueName('tw-kql');
const client = esClient(distributedConfig(index).sinks.elasticsearch);

const kw = { type: 'keyword' } as const;
const obj = (properties: Record<string, estypes.MappingProperty>): estypes.MappingProperty => ({ properties });
const MAPPINGS: estypes.MappingTypeMapping = {
  // fields nobody maps here are kept in _source but not searchable, as with the project's templates' unknowns
  dynamic: false,
  properties: {
    '@timestamp': { type: 'date' },
    message: { type: 'text' },
    event: obj({ id: kw, kind: kw, action: kw, outcome: kw, category: kw, severity: { type: 'long' }, original: { type: 'text' } }),
    host: obj({ name: kw }),
    user: obj({ name: kw, target: obj({ name: kw }) }),
    source: obj({ ip: { type: 'ip' }, port: { type: 'long' } }),
    related: obj({ user: kw }),
    tags: kw,
    process: obj({ name: kw }),
    rule: obj({ id: kw, name: kw }),
    trailwatch: obj({ auth: obj({ method: kw, invalid_user: { type: 'boolean' } }) }),
  },
};

before(async () => {
  await client.indices.create({ index, mappings: MAPPINGS, settings: { number_of_shards: 1, number_of_replicas: 0 } });
  const r = await client.bulk({ index, refresh: true, operations: EVENTS.flatMap((e) => [{ create: { _id: idOf(e) } }, e]) });
  assert.equal(r.errors, false, JSON.stringify(r.items.filter((i) => i.create?.error)));
});
after(async () => {
  await client.indices.delete({ index, ignore_unavailable: true });
  await client.close();
});

async function run(node: KqlNode, opts?: EsQueryOptions): Promise<string[]> {
  const r = await client.search({ index, query: toEsQuery(node, opts), size: 100, _source: false });
  return r.hits.hits.map((h) => h._id!).sort();
}
const ids = (q: string, opts?: EsQueryOptions) => run(parseKql(q), opts);
async function check(q: string, want?: string[]): Promise<void> {
  const got = await ids(q);
  assert.deepEqual(got, expected(parseKql(q)), `${q}: Elasticsearch and the reference disagree`);
  if (want) assert.deepEqual(got, want, q);
}

describe('query > es > query DSL', () => {
  const dsl = (q: string) => toEsQuery(parseKql(q));
  it('builds what Kibana builds, lenient where a word may meet a number', () => {
    assert.deepEqual(dsl(''), { match_all: {} });
    assert.deepEqual(dsl('user.name:root'), { match: { 'user.name': { query: 'root', lenient: true } } });
    assert.deepEqual(dsl('user.name:"a b"'), { multi_match: { query: 'a b', fields: ['user.name'], type: 'phrase', lenient: true } });
    assert.deepEqual(dsl('message:failed'), { match_phrase: { message: { query: 'failed' } } });
    assert.deepEqual(dsl('user.name:ad?m*'), { wildcard: { 'user.name': { value: 'ad\\?m*', case_insensitive: true } } });
    assert.deepEqual(dsl('user.name:*'), { exists: { field: 'user.name' } });
    assert.deepEqual(dsl('source.port >= 1024'), { range: { 'source.port': { gte: '1024' } } });
    assert.deepEqual(dsl('"Failed password"'), { multi_match: { query: 'Failed password', fields: ['message', 'event.original'], type: 'phrase', lenient: true } });
    assert.deepEqual(dsl('fail*'), {
      bool: { should: [{ wildcard: { message: { value: 'fail*', case_insensitive: true } } }, { wildcard: { 'event.original': { value: 'fail*', case_insensitive: true } } }], minimum_should_match: 1 },
    });
    assert.deepEqual(dsl('a or not b c'), {
      bool: {
        should: [
          { multi_match: { query: 'a', fields: ['message', 'event.original'], type: 'phrase', lenient: true } },
          { bool: { must: [{ bool: { must_not: [{ multi_match: { query: 'b', fields: ['message', 'event.original'], type: 'phrase', lenient: true } }] } }, { multi_match: { query: 'c', fields: ['message', 'event.original'], type: 'phrase', lenient: true } }] } },
        ],
        minimum_should_match: 1,
      },
    });
  });
});

describe('query > es > the shared cases', () => {
  for (const [what, cases] of Object.entries(CASES)) {
    it(what, async () => {
      for (const [q, want] of cases) await check(q, want);
    });
  }

  it('free text looks in the fields it is given', async () => {
    assert.deepEqual(await ids('sudo'), ['q09'], 'in event.original');
    assert.deepEqual(await ids('sudo', { defaultFields: ['message'] }), []);
    assert.deepEqual(await ids('sud*', { defaultFields: ['event.original'] }), ['q09']);
  });
});

describe('query > es > hostile input', () => {
  for (const q of HOSTILE) {
    it(`${q} matches literally`, () => check(q));
  }
});

describe('query > es > where Elasticsearch differs from the SQLite store', () => {
  it('an ip field takes a CIDR block (the SQLite store compares the text)', async () => {
    assert.deepEqual(await ids('source.ip:198.51.100.0/24'), ['q01', 'q05', 'q07', 'q10', 'q11', 'q12', 'q13', 'q14', 'q15', 'q20', 'q21']);
  });

  it('a pattern on a number or an address, or a bound a number cannot be, fails the search with the reason', async () => {
    await assert.rejects(ids('source.port:4*'), /Can only use wildcard queries on keyword, text and wildcard fields/);
    await assert.rejects(ids('source.ip:198.*'), /Can only use wildcard queries on keyword, text and wildcard fields/);
    await assert.rejects(ids('source.port > abc'), /For input string: "abc"/);
  });
});

describe('query > es > properties', () => {
  it('random queries over the corpus find what the reference finds', async () => {
    let informative = 0;
    const runs = 300;
    await fc.assert(
      fc.asyncProperty(corpusQuery, async (ast) => {
        const q = formatKql(ast);
        const got = await run(parseKql(q));
        assert.deepEqual(got, expected(ast), q);
        if (got.length > 0 && got.length < ALL_IDS.length) informative++;
      }),
      { numRuns: runs },
    );
    assert.ok(informative > runs / 3, `only ${informative} of ${runs} queries found some but not all events`);
  });
});
