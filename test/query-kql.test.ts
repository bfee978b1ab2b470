import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatKql, KqlError, kqlColumn, MAX_QUERY_DEPTH, MAX_QUERY_LENGTH, parseKql, type KqlNode, type KqlValue, type RangeOp } from '../src/query/kql.js';
import { TrailwatchError } from '../src/errors.js';

const term = (text: string): KqlValue => ({ kind: 'term', text });
const phrase = (text: string): KqlValue => ({ kind: 'phrase', text });
const wild = (...parts: string[]): KqlValue => ({ kind: 'wildcard', parts });
const m = (field: string, v: KqlValue | string): KqlNode => ({ type: 'match', field, value: typeof v === 'string' ? term(v) : v });
const t = (v: KqlValue | string): KqlNode => ({ type: 'text', value: typeof v === 'string' ? term(v) : v });
const and = (...children: KqlNode[]): KqlNode => ({ type: 'and', children });
const or = (...children: KqlNode[]): KqlNode => ({ type: 'or', children });
const not = (child: KqlNode): KqlNode => ({ type: 'not', child });
const range = (field: string, op: RangeOp, value: string): KqlNode => ({ type: 'range', field, op, value });
const ALL: KqlNode = { type: 'all' };

/** The error a query raises: its column and message. */
function failure(q: string): { column: number; message: string } {
  try {
    parseKql(q);
  } catch (err) {
    assert.ok(err instanceof KqlError, `not a KqlError: ${String(err)}`);
    return { column: err.column, message: err.message };
  }
  assert.fail(`parsed: ${q}`);
}

describe('query > kql > values', () => {
  it('field:value, quoted phrases, wildcards and field:*', () => {
    assert.deepEqual(parseKql('user.name:root'), m('user.name', 'root'));
    assert.deepEqual(parseKql('message:"Failed password"'), m('message', phrase('Failed password')));
    assert.deepEqual(parseKql('user.name:adm*'), m('user.name', wild('adm', '')));
    assert.deepEqual(parseKql('host.name:*eb*1'), m('host.name', wild('', 'eb', '1')));
    assert.deepEqual(parseKql('host.name:w**b'), m('host.name', wild('w', 'b')), 'stars side by side are one');
    assert.deepEqual(parseKql('user.name:*'), { type: 'exists', field: 'user.name' });
    assert.deepEqual(parseKql('user.name:**'), { type: 'exists', field: 'user.name' });
    assert.deepEqual(parseKql('user.name:"adm*"'), m('user.name', phrase('adm*')), 'no wildcards inside quotes');
  });

  it('spaces around ":" and the ECS field names', () => {
    assert.deepEqual(parseKql('user.name : root'), m('user.name', 'root'));
    for (const f of ['@timestamp', 'event.original', 'source.ip', 'trailwatch.session.id', 'x-forwarded-for', '_id', 'log.syslog.facility.code']) assert.deepEqual(parseKql(`${f}:v`), m(f, 'v'));
  });

  it('after "field:" and range operators ":", "<" and ">" are part of the value', () => {
    assert.deepEqual(parseKql('source.ip:2001:db8::1'), m('source.ip', '2001:db8::1'));
    assert.deepEqual(parseKql('@timestamp:2026-12-01T10:00:00Z'), m('@timestamp', '2026-12-01T10:00:00Z'));
    assert.deepEqual(parseKql('url.full:http://x/<y>'), m('url.full', 'http://x/<y>'));
  });

  it('free text terms and phrases; words side by side are joined with "and"', () => {
    assert.deepEqual(parseKql('failed'), t('failed'));
    assert.deepEqual(parseKql('"Failed password"'), t(phrase('Failed password')));
    assert.deepEqual(parseKql('adm*'), t(wild('adm', '')));
    assert.deepEqual(parseKql('failed password root'), and(t('failed'), t('password'), t('root')));
    assert.deepEqual(parseKql('failed user.name:root'), and(t('failed'), m('user.name', 'root')));
    assert.deepEqual(parseKql('a not b'), and(t('a'), not(t('b'))));
  });

  it('the empty query and a bare * match everything', () => {
    assert.deepEqual(parseKql(''), ALL);
    assert.deepEqual(parseKql('  \t\n '), ALL);
    assert.deepEqual(parseKql('*'), ALL);
    assert.deepEqual(parseKql('not *'), not(ALL));
  });

  it('value lists with or / and / not, nested', () => {
    assert.deepEqual(parseKql('user.name:(root or admin or "c d")'), or(m('user.name', 'root'), m('user.name', 'admin'), m('user.name', phrase('c d'))));
    assert.deepEqual(parseKql('tags:(ssh and not sudo)'), and(m('tags', 'ssh'), not(m('tags', 'sudo'))));
    assert.deepEqual(parseKql('tags:(a or (b and c*))'), or(m('tags', 'a'), and(m('tags', 'b'), m('tags', wild('c', '')))));
    assert.deepEqual(parseKql('tags:(ssh)'), m('tags', 'ssh'));
    assert.deepEqual(parseKql('tags:(a b)'), and(m('tags', 'a'), m('tags', 'b')));
    assert.deepEqual(parseKql('tags:(x:y)'), m('tags', 'x:y'), 'inside a list, ":" belongs to the value');
    assert.deepEqual(parseKql('tags: ( * or x )'), or({ type: 'exists', field: 'tags' }, m('tags', 'x')));
  });

  it('ranges on numbers, dates and timestamps, with or without spaces', () => {
    assert.deepEqual(parseKql('source.port >= 1024'), range('source.port', '>=', '1024'));
    assert.deepEqual(parseKql('source.port>1024'), range('source.port', '>', '1024'));
    assert.deepEqual(parseKql('@timestamp < 2026-12-01'), range('@timestamp', '<', '2026-12-01'));
    assert.deepEqual(parseKql('@timestamp<=2026-12-01T10:00:00.000+01:00'), range('@timestamp', '<=', '2026-12-01T10:00:00.000+01:00'));
    assert.deepEqual(parseKql('@timestamp <= "2026-12-01T10:00:00Z"'), range('@timestamp', '<=', '2026-12-01T10:00:00Z'));
    assert.deepEqual(parseKql('source.port >= 1024 and source.port < 2048'), and(range('source.port', '>=', '1024'), range('source.port', '<', '2048')));
  });
});

describe('query > kql > operators', () => {
  it('precedence: not, then and, then or', () => {
    assert.deepEqual(parseKql('a or b and not c'), or(t('a'), and(t('b'), not(t('c')))));
    assert.deepEqual(parseKql('not a and b'), and(not(t('a')), t('b')));
    assert.deepEqual(parseKql('a and b or c and d'), or(and(t('a'), t('b')), and(t('c'), t('d'))));
    assert.deepEqual(parseKql('not not a'), not(not(t('a'))));
  });

  it('parentheses group, and keep the grouping they say', () => {
    assert.deepEqual(parseKql('(a or b) and not (c or d)'), and(or(t('a'), t('b')), not(or(t('c'), t('d')))));
    assert.deepEqual(parseKql('a and (b and c)'), and(t('a'), and(t('b'), t('c'))));
    assert.deepEqual(parseKql('((a))'), t('a'));
    assert.deepEqual(parseKql('not(a)and(b)'), and(not(t('a')), t('b')));
  });

  it('keywords in any case; words that only start with one are values', () => {
    assert.deepEqual(parseKql('a OR b AnD NoT c'), parseKql('a or b and not c'));
    assert.deepEqual(parseKql('order android notice'), and(t('order'), t('android'), t('notice')));
    assert.deepEqual(parseKql('user.name:orlando or user.name:Andrew'), or(m('user.name', 'orlando'), m('user.name', 'Andrew')));
  });

  it('a keyword as a value: quoted, or escaped with "\\"', () => {
    assert.deepEqual(parseKql('"or"'), t(phrase('or')));
    assert.deepEqual(parseKql('\\or \\AND user.name:\\not'), and(t('or'), t('AND'), m('user.name', 'not')));
  });
});

describe('query > kql > escapes', () => {
  it('"\\" escapes \\ ( ) : < > " * and blanks in bare values', () => {
    assert.deepEqual(parseKql('a\\:b'), t('a:b'), 'not a field');
    assert.deepEqual(parseKql('user.name:a\\ b'), m('user.name', 'a b'));
    assert.deepEqual(parseKql('user.name:\\(x\\)'), m('user.name', '(x)'));
    assert.deepEqual(parseKql('user.name:a\\*'), m('user.name', 'a*'), 'an escaped star is not a wildcard');
    assert.deepEqual(parseKql('user.name:a\\**'), m('user.name', wild('a*', '')));
    assert.deepEqual(parseKql('path:C\\:\\\\Users'), m('path', 'C:\\Users'));
    assert.deepEqual(parseKql('x:\\"\\<\\>'), m('x', '"<>'));
    assert.deepEqual(parseKql('x:a\\\tb'), m('x', 'a\tb'));
  });

  it('inside quotes only \\" and \\\\ are escapes', () => {
    assert.deepEqual(parseKql('"say \\"hi\\""'), t(phrase('say "hi"')));
    assert.deepEqual(parseKql('path:"C:\\Users\\\\x"'), m('path', phrase('C:\\Users\\x')));
    assert.deepEqual(parseKql('"a (b) or c: *"'), t(phrase('a (b) or c: *')));
  });
});

describe('query > kql > errors', () => {
  const cases: [string, number, string][] = [
    ['user.name:', 11, 'expected a value after "user.name:"'],
    ['host.name:web1 and user.name:', 30, 'expected a value after "user.name:"'],
    ['user.name: )', 12, 'expected a value after "user.name:", found ")"'],
    ['user.name:or', 11, 'expected a value after "user.name:", found "or"'],
    ['(a or b', 1, '"(" is not closed'],
    ['a or (b and (c)', 6, '"(" is not closed'],
    ['tags:(a or b', 6, '"(" is not closed'],
    ['a or b)', 7, '")" has no matching "("'],
    ['user.name:"root', 11, 'the quote is not closed'],
    ['"a \\" b', 1, 'the quote is not closed'],
    ['a and', 6, 'expected a query after "and"'],
    ['a or or b', 6, 'expected a query after "or", found "or"'],
    ['a and )', 7, 'expected a query after "and", found ")"'],
    ['not', 4, 'expected a query after "not"'],
    ['()', 2, 'expected a query after "(", found ")"'],
    ['tags:()', 7, 'expected a value after "(", found ")"'],
    ['tags:(a or)', 11, 'expected a value after "or", found ")"'],
    ['or a', 1, 'expected a query, found "or"'],
    [':x', 1, 'expected a field name before ":"'],
    ['a >= ', 6, 'expected a value after "a >="'],
    ['"x":y', 4, 'expected a field name before ":"'],
    ['a*:b', 1, '"a*" is not a field name (letters, digits, "_", ".", "@" and "-")'],
    ['us\\ er:b', 1, '"us\\ er" is not a field name (letters, digits, "_", ".", "@" and "-")'],
    ['source.port >= 2*', 16, 'a range takes a single value, not a pattern with "*"'],
    ['a\\b', 2, '"\\b" is not an escape: "\\" escapes \\ ( ) : < > " * a blank, and the words and / or / not'],
    ['ab\\', 3, 'the query ends with "\\"; write "\\\\" for a backslash'],
  ];
  for (const [q, column, reason] of cases) {
    it(`${JSON.stringify(q)} → column ${column}`, () => {
      assert.deepEqual(failure(q), { column, message: `column ${column}: ${reason}` });
    });
  }

  it('is a TrailwatchError with a stable code, and keeps the reason apart from the column', () => {
    const err = (() => {
      try {
        parseKql('a and');
      } catch (e) {
        return e;
      }
    })() as KqlError;
    assert.ok(err instanceof TrailwatchError);
    assert.equal(err.code, 'TW_QUERY');
    assert.equal(err.retriable, false);
    assert.equal(err.reason, 'expected a query after "and"');
  });

  it('remembers where each value was, for errors found when translating', () => {
    const n = parseKql('a and  @timestamp >= soon') as { children: KqlNode[] };
    assert.equal(kqlColumn(n.children[1]), 22);
    assert.equal(kqlColumn({ type: 'all' }), undefined);
  });
});

describe('query > kql > limits', () => {
  it(`takes ${MAX_QUERY_LENGTH} characters and refuses one more`, () => {
    const q = `user.name:${'a'.repeat(MAX_QUERY_LENGTH - 10)}`;
    assert.equal(q.length, MAX_QUERY_LENGTH);
    assert.deepEqual(parseKql(q), m('user.name', 'a'.repeat(MAX_QUERY_LENGTH - 10)));
    assert.deepEqual(failure(`${q} `), { column: MAX_QUERY_LENGTH + 1, message: `column ${MAX_QUERY_LENGTH + 1}: the query is longer than ${MAX_QUERY_LENGTH} characters` });
  });

  it(`nests ${MAX_QUERY_DEPTH} deep and no deeper, counting parentheses, value lists and "not"`, () => {
    const nest = (n: number) => `${'('.repeat(n)}a${')'.repeat(n)}`;
    assert.deepEqual(parseKql(nest(MAX_QUERY_DEPTH)), t('a'));
    const deep = failure(nest(MAX_QUERY_DEPTH + 1));
    assert.equal(deep.column, MAX_QUERY_DEPTH + 1, 'points at the parenthesis one too deep');
    assert.match(deep.message, /nests deeper than 32/);
    assert.equal(failure(`${'not '.repeat(MAX_QUERY_DEPTH)}(a)`).column, 4 * MAX_QUERY_DEPTH + 1);
    assert.ok(parseKql(`${'not '.repeat(MAX_QUERY_DEPTH)}a`));
    assert.equal(failure(`${'('.repeat(MAX_QUERY_DEPTH)}tags:(a))`).column, MAX_QUERY_DEPTH + 6, 'a value list is a level too');
    // a stack the parser cannot overflow, however the input is built
    assert.equal(failure('('.repeat(4000)).column, MAX_QUERY_DEPTH + 1);
    assert.equal(failure('not '.repeat(1000)).column, 4 * MAX_QUERY_DEPTH + 1);
  });

  it('long flat chains are not nesting', () => {
    const n = parseKql(Array.from({ length: 400 }, (_, i) => `t:${i}`).join(' or '));
    assert.equal(n.type, 'or');
    assert.equal((n as { children: KqlNode[] }).children.length, 400);
  });
});

describe('query > kql > format', () => {
  it('prints a canonical query', () => {
    const canon = (q: string) => formatKql(parseKql(q));
    assert.equal(canon(''), '*');
    assert.equal(canon('a OR b AND NOT c'), 'a or b and not c');
    assert.equal(canon('(a or b) c'), '(a or b) and c');
    assert.equal(canon('a and (b and c)'), 'a and (b and c)');
    assert.equal(canon('not (a or b)'), 'not (a or b)');
    assert.equal(canon('user.name:(root or "c d")'), 'user.name:root or user.name:"c d"');
    assert.equal(canon('x:(a or b) and y:1'), '(x:a or x:b) and y:1');
    assert.equal(canon('source.ip:2001:db8::1 a\\:b'), 'source.ip:2001:db8::1 and a\\:b');
    assert.equal(canon('@timestamp>=2026-12-01'), '@timestamp >= 2026-12-01');
    assert.equal(canon('x >= ""'), 'x >= ""');
    assert.equal(canon('"or" \\or x:"a\\"b\\\\"'), '"or" and \\or and x:"a\\"b\\\\"');
    assert.equal(canon('x:a\\ b\\*c*'), 'x:a\\ b\\*c*');
  });
});

// --- properties ----------------------------------------------------------

// characters that matter to the grammar, whitespace the escapes must cover, and some that do not matter
const char = fc.constantFrom(...'ab Z9\\():<>"*\t\n\u00a0\u2003\ufeff-.@_=é', '😀', '\ud800', 'or', 'and', 'NOT');
const text = fc.oneof(fc.array(char, { maxLength: 6 }).map((a) => a.join('')), fc.constantFrom('or', 'AND', 'not', 'Or ', ' and'), fc.string({ maxLength: 6 }));
const nonEmpty = text.filter((s) => s.length > 0);
const field = fc.stringMatching(/^[A-Za-z0-9_.@-]{1,10}$/).filter((f) => !/^(and|or|not)$/i.test(f));
const value: fc.Arbitrary<KqlValue> = fc.oneof(
  nonEmpty.map(term),
  text.map(phrase),
  fc
    .tuple(fc.oneof(fc.constant(''), nonEmpty), fc.array(nonEmpty, { maxLength: 2 }), fc.oneof(fc.constant(''), nonEmpty))
    .map(([first, inner, last]) => wild(first, ...inner, last))
    .filter((v) => (v as { parts: string[] }).parts.some((p) => p !== '')),
);
const leaf: fc.Arbitrary<KqlNode> = fc.oneof(
  fc.constant(ALL),
  fc.tuple(field, value).map(([f, v]) => m(f, v)),
  value.map(t),
  field.map((f): KqlNode => ({ type: 'exists', field: f })),
  fc.tuple(field, fc.constantFrom<RangeOp>('>', '>=', '<', '<='), text).map(([f, op, v]) => range(f, op, v)),
);
const anyAst = fc.letrec<{ node: KqlNode }>((tie) => ({
  node: fc.oneof(
    { depthIdentifier: 'ast', maxDepth: 4 },
    leaf,
    fc.array(tie('node'), { minLength: 2, maxLength: 3 }).map((c) => and(...c)),
    fc.array(tie('node'), { minLength: 2, maxLength: 3 }).map((c) => or(...c)),
    tie('node').map(not),
  ),
})).node;

// pieces of queries, so random strings reach past the first token
const piece = fc.constantFrom('a', 'user.name', '@timestamp', ':', ' ', '  ', '(', ')', '"', '\\', '*', '<', '>', '=', '>=', 'or', 'AND', 'not', ' or ', ' and ', 'not ', '"x y"', '\\or', '-', '2026-12-01', '\t', '\u00a0');
const queryish = fc.oneof(fc.array(piece, { maxLength: 24 }).map((a) => a.join('')), fc.string({ unit: 'binary', maxLength: 60 }));

describe('query > kql > properties', () => {
  it('formatKql prints what parseKql reads back as the same AST', () => {
    fc.assert(
      fc.property(anyAst, (ast) => {
        const q = formatKql(ast);
        assert.deepEqual(parseKql(q), ast, q);
      }),
      { numRuns: 3000 },
    );
  });

  it('any string parses or raises a KqlError at a column inside it; what parses prints back the same', () => {
    fc.assert(
      fc.property(queryish, (q) => {
        let ast: KqlNode;
        try {
          ast = parseKql(q);
        } catch (err) {
          assert.ok(err instanceof KqlError, `${JSON.stringify(q)}: ${String(err)}`);
          assert.ok(err.column >= 1 && err.column <= q.length + 1, `${JSON.stringify(q)}: column ${err.column}`);
          return;
        }
        assert.deepEqual(parseKql(formatKql(ast)), ast);
      }),
      { numRuns: 5000 },
    );
  });
});
