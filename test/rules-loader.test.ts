import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultPackDir, loadRules, RuleLoadError, type RuleSet } from '../src/rules/loader.js';
import { watchRules } from '../src/rules/watch.js';
import { tempDir, waitFor } from './helpers.js';

const tmp = tempDir('tw-loader-');
after(() => tmp.cleanup());
let n = 0;
function dirWith(files: Record<string, string>): string {
  const dir = join(tmp.dir, `d${++n}`);
  mkdirSync(dir, { recursive: true });
  for (const [f, t] of Object.entries(files)) writeFileSync(join(dir, f), t);
  return dir;
}
function issues(dirs: string[]): string[] {
  try {
    loadRules(dirs);
  } catch (err) {
    assert.ok(err instanceof RuleLoadError);
    return err.issues;
  }
  assert.fail('expected the rules to be refused');
}

const GOOD = `
- rule: t1
  name: T1
  kind: match
  severity: low
  condition: { field: user.name, equals: root }
`;

describe('rules > loader > default pack', () => {
  it('loads, and every rule has a description, a severity and MITRE ids', () => {
    const set = loadRules([defaultPackDir()]);
    assert.ok(set.rules.length >= 18, `${set.rules.length} rules`);
    for (const r of set.rules) {
      assert.ok(r.description.length > 20, `${r.id} has a description`);
      assert.ok(r.techniques.length > 0, `${r.id} has MITRE technique ids`);
      for (const t of r.techniques) assert.match(t, /^T\d{4}(\.\d{3})?$/);
    }
    const ids = set.rules.map((r) => r.id);
    for (const id of ['ssh-failed-login-burst', 'ssh-password-spraying', 'login-success-after-failures-source', 'managed-account-direct-login', 'cmd-reverse-shell'])
      assert.ok(ids.includes(id), id);
  });
});

describe('rules > loader > refuses bad files with file and path', () => {
  const cases: [string, string, RegExp][] = [
    ['a misspelt field', `- rule: x\n  name: X\n  kind: threshold\n  severity: low\n  condition: { field: a, exists: true }\n  threshhold: 5\n  window: 5m\n`, /bad\.yaml: \[0\]: unknown field\(s\) "threshhold"/],
    ['a missing window', `- rule: x\n  name: X\n  kind: threshold\n  severity: low\n  threshold: 3\n  condition: { field: a, exists: true }\n`, /bad\.yaml: \[0\]\.window: required for kind threshold/],
    ['a bad severity', `- rule: x\n  name: X\n  kind: match\n  severity: huge\n  condition: { field: a, exists: true }\n`, /bad\.yaml: \[0\]\.severity:/],
    ['a bad duration', `- rule: x\n  name: X\n  kind: match\n  severity: low\n  group_by: [a]\n  window: 5 minutes\n  condition: { field: a, exists: true }\n`, /\[0\]\.window: expected a duration/],
    ['YAML syntax', `- rule: [x\n`, /bad\.yaml: /],
    ['not a list', `rule: x\n`, /bad\.yaml: a rule file is a YAML list/],
    ['two kinds in one entry', `- rule: x\n  macro: y\n`, /exactly one of list:, macro:, rule:/],
    ['a patch of an unknown rule', `- rule: nope\n  threshold: 3\n`, /rule nope is not defined earlier/],
    ['an unsafe regex', `- rule: x\n  name: X\n  kind: match\n  severity: low\n  condition:\n    all:\n      - { field: a, regex: '(\\w+\\s?)+$' }\n`, /bad\.yaml: \[0\]\.condition\.all\[0\]\.regex: regex .* refused: nested quantifier/],
    ['supersedes an unknown rule', `- rule: x\n  name: X\n  kind: threshold\n  severity: low\n  condition: { field: a, exists: true }\n  group_by: [source.ip]\n  threshold: 3\n  window: 5m\n  supersedes: [nope]\n`, /bad\.yaml: \[0\]\.supersedes\[0\]: no rule nope/],
    ['supersedes a rule of another group_by', `- rule: x\n  name: X\n  kind: threshold\n  severity: low\n  condition: { field: a, exists: true }\n  group_by: [source.ip]\n  threshold: 3\n  window: 5m\n  supersedes: [y]\n- rule: y\n  name: Y\n  kind: threshold\n  severity: low\n  condition: { field: a, exists: true }\n  group_by: [user.name]\n  threshold: 3\n  window: 5m\n`, /\[0\]\.supersedes\[0\]: y groups by \[user\.name\], this rule by \[source\.ip\]/],
    ['a supersedes cycle', `- rule: x\n  name: X\n  kind: threshold\n  severity: low\n  condition: { field: a, exists: true }\n  group_by: [source.ip]\n  threshold: 3\n  window: 5m\n  supersedes: [y]\n- rule: y\n  name: Y\n  kind: threshold\n  severity: low\n  condition: { field: a, exists: true }\n  group_by: [source.ip]\n  threshold: 3\n  window: 5m\n  supersedes: [x]\n`, /supersedes forms a cycle: (x -> y -> x|y -> x -> y)/],
    ['a broken macro', `- macro: m\n  condition: { field: a, op: 1 }\n`, /bad\.yaml: \[0\] macro m: unknown operator "op"/],
  ];
  for (const [name, text, re] of cases)
    it(name, () => {
      const found = issues([dirWith({ 'good.yaml': GOOD, 'bad.yaml': text })]);
      assert.ok(found.some((i) => re.test(i)), found.join('\n'));
    });

  it('reports a missing rules directory', () => {
    assert.ok(issues([join(tmp.dir, 'missing')]).some((i) => /rules directory does not exist/.test(i)));
  });
});

describe('rules > loader > local overrides', () => {
  it('disables and tunes shipped rules and extends shipped lists from a user directory', () => {
    const user = dirWith({
      'local.yaml': `
- rule: ssh-failed-login-burst
  enabled: false
- rule: ssh-password-spraying
  threshold: 12
  severity: critical
- list: login_attempt_actions
  append: true
  items: [vpn-login]
`,
    });
    const base = loadRules([defaultPackDir()]);
    const set = loadRules([defaultPackDir(), user]);
    assert.equal(set.rules.length, base.rules.length - 1);
    assert.ok(!set.rules.some((r) => r.id === 'ssh-failed-login-burst'));
    const spray = set.rules.find((r) => r.id === 'ssh-password-spraying')!;
    assert.equal(spray.threshold, 12);
    assert.equal(spray.score, 99);
    assert.equal(spray.kind, 'distinct', 'unpatched fields are kept');
    assert.ok(spray.actions?.has('vpn-login'));
  });

  it('replaces a shipped rule entirely when the override has kind:', () => {
    const user = dirWith({ 'local.yaml': GOOD.replace('t1', 'su-failure') });
    const su = loadRules([defaultPackDir(), user]).rules.find((r) => r.id === 'su-failure')!;
    assert.equal(su.kind, 'match');
    assert.equal(su.severity, 'low');
    assert.deepEqual(su.groupBy, []);
  });
});

describe('rules > loader > hot reload', () => {
  it('swaps in a valid change and keeps the previous set on a bad one', async () => {
    const dir = dirWith({ 'a.yaml': GOOD });
    let active: RuleSet = loadRules([dir]);
    const errors: string[] = [];
    const w = watchRules([dir], { debounceMs: 50, onLoad: (s) => (active = s), onError: (e) => errors.push(e.message) });
    try {
      writeFileSync(join(dir, 'b.yaml'), GOOD.replace('t1', 't2'));
      await waitFor(() => active.rules.length === 2, { what: 'reload with t2' });
      writeFileSync(join(dir, 'b.yaml'), `- rule: t2\n  name: T2\n  kind: match\n  severity: low\n  condition: { field: a, regex: '(a|b)*c' }\n`);
      await waitFor(() => errors.length > 0, { what: 'refusal' });
      assert.match(errors[0], /b\.yaml: \[0\]\.condition\.regex: .*repeated alternation/);
      assert.deepEqual(active.rules.map((r) => r.id), ['t1', 't2'], 'previous set still active');
      writeFileSync(join(dir, 'b.yaml'), GOOD.replace('t1', 't3'));
      await waitFor(() => active.rules.some((r) => r.id === 't3'), { what: 'reload after fix' });
    } finally {
      w.close();
    }
  });
});
