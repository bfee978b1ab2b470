// KQL on a real SQLite event store (better-sqlite3): every query's events
// are compared with the reference evaluator's, for hand-picked queries,
// hostile values and fast-check's random ones.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { formatKql, KqlError, parseKql, type KqlNode } from '../src/query/kql.js';
import { timeSpan, toSql, type SqlTarget } from '../src/query/sql.js';
import { ALL_IDS, CASES, corpusQuery, EVENTS, expected, get, HOSTILE, idOf } from './query-helpers.js';

const TARGET: SqlTarget = {
  columns: { '@timestamp': 'ts', 'host.name': 'host', 'user.name': 'user_name', 'source.ip': 'source_ip', 'event.outcome': 'outcome', 'event.action': 'action', 'rule.id': 'rule_id', 'event.kind': 'kind' },
  doc: 'doc',
  fts: 'events_fts',
  timeFields: ['@timestamp'],
};

let db: Database.Database;

before(() => {
  db = new Database(':memory:');
  db.exec(`
    CREATE TABLE events(rowid INTEGER PRIMARY KEY, id TEXT, ts INTEGER, kind TEXT, host TEXT, user_name TEXT, source_ip TEXT, outcome TEXT, action TEXT, rule_id TEXT, message TEXT, doc TEXT);
    CREATE INDEX events_ts ON events(ts);
    CREATE INDEX events_user ON events(user_name);
    CREATE INDEX events_host ON events(host);
    CREATE VIRTUAL TABLE events_fts USING fts5(message, original, content='');
  `);
  const row = db.prepare('INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  const fts = db.prepare('INSERT INTO events_fts(rowid, message, original) VALUES (?, ?, ?)');
  const s = (e: Record<string, unknown>, f: string) => (get(e, f) as string | undefined) ?? null;
  EVENTS.forEach((e, i) => {
    row.run(i + 1, idOf(e), Date.parse(String(e['@timestamp'])), s(e, 'event.kind'), s(e, 'host.name'), s(e, 'user.name'), s(e, 'source.ip'), s(e, 'event.outcome'), s(e, 'event.action'), s(e, 'rule.id'), s(e, 'message'), JSON.stringify(e));
    fts.run(i + 1, s(e, 'message') ?? '', s(e, 'event.original') ?? '');
  });
});
after(() => db.close());

function run(node: KqlNode): string[] {
  const { where, params } = toSql(node, TARGET);
  return db
    .prepare(`SELECT id FROM events WHERE ${where} ORDER BY id`)
    .pluck()
    .all(...params) as string[];
}
const ids = (q: string) => run(parseKql(q));
/** The query finds what the reference says, and (when given) exactly these events. */
function check(q: string, want?: string[]): void {
  const got = ids(q);
  assert.deepEqual(got, expected(parseKql(q)), `${q}: SQLite and the reference disagree`);
  if (want) assert.deepEqual(got, want, q);
}

describe('query > sql > the shared cases', () => {
  for (const [what, cases] of Object.entries(CASES)) {
    it(what, () => {
      for (const [q, want] of cases) check(q, want);
    });
  }
});

describe('query > sql > time', () => {
  it('reads dates as Elasticsearch does', () => {
    const at = (s: string) => Date.parse(s);
    assert.deepEqual(timeSpan('2026-12-01'), [at('2026-12-01T00:00:00Z'), at('2026-12-01T23:59:59.999Z')]);
    assert.deepEqual(timeSpan('2026-12-01T10:00:00+01:00'), [at('2026-12-01T09:00:00Z'), at('2026-12-01T09:00:00.999Z')]);
    assert.deepEqual(timeSpan('2026-12-01T10:00:00.25'), [at('2026-12-01T10:00:00.250Z'), at('2026-12-01T10:00:00.250Z')]);
    assert.deepEqual(timeSpan('2026-12'), [at('2026-12-01T00:00:00Z'), at('2026-12-01T23:59:59.999Z')], 'a month: its first day');
    assert.deepEqual(timeSpan('2026'), [at('2026-01-01T00:00:00Z'), at('2026-01-01T23:59:59.999Z')], 'four digits: a year');
    assert.deepEqual(timeSpan('2024-02-29'), [at('2024-02-29T00:00:00Z'), at('2024-02-29T23:59:59.999Z')]);
    assert.deepEqual(timeSpan('0099-01-01'), [at('0099-01-01T00:00:00Z'), at('0099-01-01T23:59:59.999Z')], 'not 1999');
    assert.deepEqual(timeSpan('1700000000000'), [1_700_000_000_000, 1_700_000_000_000]);
    assert.deepEqual(timeSpan('999'), [999, 999]);
    for (const bad of ['2023-02-29', '2026-13-01', '2026-12-01 10:00', '2026-1-1', 'now-15m', '1.5', '2026-12-01T25:00', '']) assert.equal(timeSpan(bad), undefined, bad);
  });

  it('a value a time field cannot read is a KqlError at its column', () => {
    assert.throws(() => ids('host.name:web1 and @timestamp >= soon'), (e: unknown) => e instanceof KqlError && e.column === 34 && /expected a date/.test(e.message));
    assert.throws(() => ids('@timestamp:2026*'), (e: unknown) => e instanceof KqlError && e.column === 12 && /not a pattern/.test(e.message));
  });
});

describe('query > sql > shape', () => {
  it('the empty query is 1=1', () => {
    assert.deepEqual(toSql(parseKql(''), TARGET), { where: '1=1', params: [] });
  });

  it('long queries stay within what SQLite accepts (a balanced tree, bounded nesting)', () => {
    check(`source.port:(${Array.from({ length: 400 }, (_, i) => 40000 + i).join(' or ')})`);
    check(`${'not ('.repeat(16)}user.name:root${')'.repeat(16)}`);
    check(`${'('.repeat(32)}tags:ssh${')'.repeat(32)}`);
    check(Array.from({ length: 300 }, (_, i) => `not t${i}`).join(' '), ALL_IDS);
  });

  it('fields with a column use it, and its index', () => {
    const { where, params } = toSql(parseKql('user.name:root'), TARGET);
    assert.equal(where, '(user_name = ?)');
    assert.deepEqual(params, ['root']);
    const plan = db.prepare(`EXPLAIN QUERY PLAN SELECT id FROM events WHERE ${where}`).all(...params) as { detail: string }[];
    assert.ok(plan.some((p) => /USING INDEX events_user/.test(p.detail)), JSON.stringify(plan));
  });

  it('patterns are LIKE with their % and _ escaped', () => {
    assert.deepEqual(toSql(parseKql('user.name:50%_*'), TARGET), { where: "(user_name LIKE ? ESCAPE '\\')", params: ['50\\%\\_%'] });
  });
});

describe('query > sql > hostile input', () => {
  for (const q of HOSTILE) {
    it(`${q} matches literally`, () => check(q));
  }

  it('the values travel as parameters, never in the SQL text', () => {
    for (const v of [`'; DROP TABLE events; --`, `x' OR '1'='1`, `50%_off`, `a"b`]) {
      for (const q of [`user.name:${JSON.stringify(v)}`, `related.user:${JSON.stringify(v)}`, `${JSON.stringify(v)}`]) {
        const { where, params } = toSql(parseKql(q), TARGET);
        assert.ok(!where.includes(v), `${q}: ${where}`);
        // (as an FTS5 string, its quotes doubled)
        assert.ok(params.some((p) => typeof p === 'string' && (p.includes(v) || p.includes(v.replaceAll('"', '""')))), `${q}: ${JSON.stringify(params)}`);
      }
    }
    assert.equal(db.prepare('SELECT count(*) FROM events').pluck().get(), EVENTS.length, 'and the table is still there');
  });

  it('a field name that is not one is refused before it reaches a JSON path', () => {
    assert.throws(() => toSql({ type: 'match', field: `x"')--`, value: { kind: 'term', text: 'a' } }, TARGET), KqlError);
    assert.throws(() => toSql({ type: 'exists', field: `a'b` }, TARGET), KqlError);
  });
});

describe('query > sql > properties', () => {
  it('random queries over the corpus find what the reference finds', () => {
    let informative = 0;
    const runs = 1500;
    fc.assert(
      fc.property(corpusQuery, (ast) => {
        const q = formatKql(ast);
        const parsed = parseKql(q);
        assert.deepEqual(parsed, ast, q);
        const got = run(parsed);
        assert.deepEqual(got, expected(ast), q);
        if (got.length > 0 && got.length < EVENTS.length) informative++;
      }),
      { numRuns: runs },
    );
    // the pools are meant to find some events and miss others; a test that only ever sees [] or everything proves little
    assert.ok(informative > runs / 3, `only ${informative} of ${runs} queries found some but not all events`);
  });
});
