import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileCondition, ConditionError, newEnv } from '../src/rules/conditions.js';
import { checkRegexSafety, UnsafeRegexError } from '../src/rules/regex-safety.js';
import { ev } from './rules/helpers.js';

const lists = new Map<string, (string | number)[]>([
  ['shells', ['bash', 'sh']],
  ['gateways', ['10.0.9.0/24', '2001:db8::/32']],
]);
const macros = new Map<string, unknown>([
  ['is_shell', { field: 'process.name', in: 'shells' }],
  ['loop_a', { macro: 'loop_b' }],
  ['loop_b', { macro: 'loop_a' }],
]);
const test = (cond: unknown) => compileCondition(cond, newEnv(lists, macros), 'condition').test;

describe('rules > conditions > operators', () => {
  const e = ev('2024-03-03T10:00:00Z', {
    'process.name': 'bash',
    'process.command_line': 'rm -rf /var/log/auth.log',
    'process.pid': 4242,
    'source.ip': '10.0.9.17',
    'event.category': ['authentication', 'session'],
    'user.name': 'Alice',
  });
  const cases: [string, unknown, boolean][] = [
    ['equals', { field: 'process.name', equals: 'bash' }, true],
    ['equals is case-sensitive', { field: 'user.name', equals: 'alice' }, false],
    ['nocase', { field: 'user.name', equals: 'alice', nocase: true }, true],
    ['equals any of a list', { field: 'process.name', equals: ['zsh', 'bash'] }, true],
    ['in a named list', { field: 'process.name', in: 'shells' }, true],
    ['value from { list }', { field: 'process.name', equals: { list: 'shells' } }, true],
    ['array field matches any element', { field: 'event.category', equals: 'session' }, true],
    ['contains', { field: 'process.command_line', contains: '/var/log/' }, true],
    ['startswith', { field: 'process.command_line', startswith: 'rm ' }, true],
    ['endswith', { field: 'process.command_line', endswith: 'syslog' }, false],
    ['wildcard', { field: 'process.command_line', wildcard: 'rm * /var/log/*.log' }, true],
    ['wildcard anchors', { field: 'process.command_line', wildcard: 'rm -rf' }, false],
    ['wildcard ?', { field: 'process.name', wildcard: 'b?sh' }, true],
    ['regex', { field: 'process.command_line', regex: '\\brm\\s+-\\w*r' }, true],
    ['cidr v4', { field: 'source.ip', cidr: { list: 'gateways' } }, true],
    ['cidr miss', { field: 'source.ip', cidr: '192.168.0.0/16' }, false],
    ['exists', { field: 'source.ip', exists: true }, true],
    ['exists false', { field: 'destination.ip', exists: false }, true],
    ['numeric gt', { field: 'process.pid', gt: 4000 }, true],
    ['numeric lte', { field: 'process.pid', lte: 100 }, false],
    ['numbers compare as strings for equals', { field: 'process.pid', equals: 4242 }, true],
    ['all', { all: [{ macro: 'is_shell' }, { field: 'source.ip', exists: true }] }, true],
    ['any', { any: [{ field: 'process.name', equals: 'zsh' }, { field: 'user.name', equals: 'Alice' }] }, true],
    ['not', { not: { macro: 'is_shell' } }, false],
  ];
  for (const [name, cond, want] of cases) it(name, () => assert.equal(test(cond)(e), want));

  it('cidr matches IPv6 and ignores non-addresses', () => {
    const t = test({ field: 'source.ip', cidr: { list: 'gateways' } });
    assert.equal(t(ev(0, { 'source.ip': '2001:db8::5' })), true);
    assert.equal(t(ev(0, { 'source.ip': 'gw.example' })), false);
  });
});

describe('rules > conditions > errors name the path', () => {
  const bad: [string, unknown, RegExp][] = [
    ['unknown operator', { field: 'a', regx: 'x' }, /condition: unknown operator "regx"/],
    ['two operators', { field: 'a', equals: 'x', contains: 'y' }, /exactly one operator/],
    ['unknown list', { field: 'a', in: 'nope' }, /condition\.in: unknown list "nope"/],
    ['unknown macro', { all: [{ field: 'a', exists: true }, { macro: 'nope' }] }, /condition\.all\[1\]: unknown macro "nope"/],
    ['macro cycle', { macro: 'loop_a' }, /refers to itself/],
    ['bad cidr', { field: 'a', cidr: '10.0.0.0/40' }, /bad prefix length/],
    ['unsafe regex', { any: [{ field: 'a', regex: ['ok', '(a+)+$'] }] }, /condition\.any\[0\]\.regex\[1\]: regex "\(a\+\)\+\$" refused: nested quantifier/],
  ];
  for (const [name, cond, re] of bad)
    it(name, () =>
      assert.throws(
        () => test(cond),
        (err: unknown) => err instanceof ConditionError && re.test(err.message),
      ),
    );
});

describe('rules > conditions > regex safety', () => {
  const refused: [string, RegExp][] = [
    ['(a+)+', /nested quantifier/],
    ['(x\\d*){2,}', /nested quantifier/],
    ['((ab)*c)+', /nested quantifier/],
    ['(a|aa)*b', /repeated alternation/],
    ['(a)\\1', /backreference/],
    ['(?<n>a)\\k<n>', /named backreference/],
    ['foo(?=bar)', /lookaround/],
    ['(?<!x)y', /lookaround/],
    ['(abc', /unbalanced/],
  ];
  for (const [p, re] of refused)
    it(`refuses ${p}`, () =>
      assert.throws(
        () => checkRegexSafety(p),
        (err: unknown) => err instanceof UnsafeRegexError && re.test(err.message),
      ),
    );
  for (const p of ['\\bhistory\\s+-c', '(bash|sh)\\s+-i', '(/\\S*/)?crontab\\s+-e', '[a-z]+(\\.[a-z]+)?', '^\\d{1,3}(\\.\\d{1,3}){3}$', '\\(a+\\)+', 'a{2}(bc)?'])
    it(`accepts ${p}`, () => checkRegexSafety(p));

  it('accepted patterns with polynomial backtracking still finish (linear fallback engine)', () => {
    const t = test({ field: 'm', regex: '^(\\w+\\s?)?.*a.*a.*a.*a.*x$' });
    assert.equal(t(ev(0, { m: 'a'.repeat(5000) })), false);
  });
});
