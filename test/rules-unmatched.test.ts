// Rules of kind `unmatched`: an event needs a partner with the same key within
// ±window, each partner explains one event, and what is left alone raises the
// alert once the window has passed (event clock, or wall clock a window later).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Alert, TwEvent } from '../src/event.js';
import { Detector } from '../src/rules/engine.js';
import { RuleLoadError } from '../src/rules/loader.js';
import { rulesConfig } from '../src/rules/config.js';
import { createPartitionedProcessor } from '../src/rules/partitioned.js';
import { tempDir } from './helpers.js';
import { ev, goodLogin, MIN, rulesFrom, T0 } from './rules/helpers.js';

const tmp = tempDir('tw-unmatched-');
after(() => tmp.cleanup());
let n = 0;
const rules = (yaml: string) => rulesFrom(join(tmp.dir, `r${++n}`), { 'r.yaml': yaml });

const GW = '192.0.2.10';
const RULE = `
- rule: bypass
  name: Gateway-address login the gateway did not make
  kind: unmatched
  severity: high
  condition:
    all:
      - { field: event.action, equals: ssh-login }
      - { field: event.outcome, equals: success }
      - { field: source.ip, equals: "${GW}" }
  group_by: [user.name]
  partner:
    condition: { field: event.action, equals: gateway-rotation }
    group_by: [trailwatch.rotation.users]
  window: 1m
`;

const login = (at: number, user: string, extra: Record<string, unknown> = {}) => goodLogin(at, GW, user, extra);
const rotation = (at: number, users: string[]) => ev(at, { 'event.action': 'gateway-rotation', 'event.dataset': 'trailwatch.gateway', 'trailwatch.rotation.users': users });

function run(det: Detector, events: TwEvent[]): Alert[] {
  const out: Alert[] = [];
  for (const e of events) det.process(e, out);
  return out;
}

/** Move the event clock on with an event no rule looks at. */
const later = (at: number) => ev(at, { 'event.action': 'something-else' });

describe('rules > engine > unmatched', () => {
  it('a rotation explains one login of each user it names, whichever arrives first; a login it does not explain is alerted after the window', () => {
    const det = new Detector(rules(RULE));
    // partner after its logins (as the gateway writes it), and before (a faster path for its event)
    const paired = [login(T0, 'root'), login(T0 + 300, 'app'), rotation(T0 + 400, ['root', 'app']), rotation(T0 + 10_000, ['root', 'db']), login(T0 + 10_200, 'root'), login(T0 + 10_300, 'db')];
    assert.deepEqual(run(det, paired), []);
    // a second root login beside the real ones: nothing explains it
    const extra = login(T0 + 10_250, 'root', { 'host.name': 'db7' });
    assert.deepEqual(run(det, [extra, later(T0 + 10_250 + MIN - 1)]), [], 'not before the window has passed');
    const [a, ...more] = run(det, [later(T0 + 10_250 + MIN)]);
    assert.equal(more.length, 0);
    assert.equal(a.rule.id, 'bypass');
    assert.deepEqual(a.trailwatch.alert.group, { 'user.name': 'root' });
    assert.deepEqual(a.trailwatch.alert.events, [extra.event.id]);
    assert.equal(a.host?.name, 'db7');
    assert.equal(a.source?.ip, GW);
    assert.equal(a.trailwatch.alert.window?.start, new Date(T0 + 10_250 - MIN).toISOString());
    assert.equal(a['@timestamp'], new Date(T0 + 10_250 + MIN).toISOString());
    assert.deepEqual(run(det, [later(T0 + 10 * MIN)]), [], 'once');
  });

  it('a partner further away than the window explains nothing, before or after', () => {
    const det = new Detector(rules(RULE));
    const early = login(T0, 'root');
    const late = login(T0 + 5 * MIN, 'root');
    const out = run(det, [early, rotation(T0 + MIN + 1, ['root']), late, later(T0 + 7 * MIN)]);
    // the rotation pairs with neither login (61 s after the first, 3:59 before the second): both alerted, and it stays unpaired
    assert.deepEqual(out.map((a) => a.trailwatch.alert.events[0]).sort(), [early.event.id, late.event.id].sort());
  });

  it('a quiet pipeline alerts on the wall clock a window later; a partner arriving before then still pairs', () => {
    const det = new Detector(rules(RULE));
    run(det, [login(T0, 'root'), login(T0 + 1000, 'app')]);
    assert.deepEqual(det.tick(T0 + MIN + 1000), [], 'the event clock has not moved and the wall clock gives one more window');
    run(det, [rotation(T0 + 500, ['app'])]);
    const due = det.tick(T0 + 2 * MIN + 1000);
    assert.deepEqual(due.map((a) => a.trailwatch.alert.group['user.name']), ['root']);
  });

  it('an event or partner delivered twice counts once', () => {
    const det = new Detector(rules(RULE));
    const l = login(T0, 'root');
    const r = rotation(T0 + 100, ['root']);
    const l2 = login(T0 + 200, 'root');
    // the rotation redelivered must not explain the second login too; the first login redelivered is not a third
    const out = run(det, [l, r, structuredClone(r), structuredClone(l), l2, later(T0 + 2 * MIN)]);
    assert.deepEqual(out.map((a) => a.trailwatch.alert.events[0]), [l2.event.id]);
  });

  it('state is bounded: past max_keys the oldest waiting login is alerted at once rather than dropped', () => {
    const det = new Detector(rules(RULE.replace('window: 1m', 'window: 1m\n  max_keys: 100')));
    const out = run(det, Array.from({ length: 150 }, (_, i) => login(T0 + i, `u${i}`)));
    assert.equal(out.length, 50);
    assert.deepEqual(out.map((a) => a.user?.name).slice(0, 2), ['u0', 'u1']);
    assert.ok(det.stats().keys <= 200, `keys ${det.stats().keys}`);
    assert.equal(det.stats().evicted, 50);
    assert.equal(run(det, [later(T0 + 2 * MIN)]).length, 100, 'the rest when due');
    assert.equal(det.stats().keys, 0);
  });

  it('refuses a rule without partner or window, a partner key of another width, and partner on another kind', () => {
    const refused = (yaml: string) => {
      try {
        rules(yaml);
      } catch (err) {
        assert.ok(err instanceof RuleLoadError);
        return err.issues.join('\n');
      }
      assert.fail('accepted');
    };
    assert.match(refused(RULE.replace(/  partner:\n.*\n.*\n/, '')), /partner: required for kind unmatched/);
    assert.match(refused(RULE.replace('  window: 1m\n', '')), /window: required for kind unmatched/);
    assert.match(refused(RULE.replace('group_by: [trailwatch.rotation.users]', 'group_by: [trailwatch.rotation.users, host.name]')), /partner\.group_by: needs one field per group_by field \(1\)/);
    assert.match(refused(RULE.replace('kind: unmatched', 'kind: match')), /partner: only for kind unmatched/);
  });
});

/** Route events as the decode workers do, then run one detect worker per key, each ending with the clock moved on; the alert ids. */
function splitIds(set: ReturnType<typeof rules>, events: TwEvent[]): { ids: string[]; byKey: Map<string, TwEvent[]> } {
  const cfg = rulesConfig.parse({});
  const decoder = createPartitionedProcessor(cfg, { rules: set });
  const byKey = new Map<string, TwEvent[]>();
  const routeOf = new Map<string, string>();
  for (const e of events)
    for (const r of decoder.routes(e)) {
      byKey.set(r.key, [...(byKey.get(r.key) ?? []), e]);
      routeOf.set(r.key, r.route);
    }
  const ids: string[] = [];
  for (const [key, evs] of byKey) {
    const w = createPartitionedProcessor(cfg, { rules: set });
    ids.push(...w.detect(routeOf.get(key)!, evs).map((a) => a.event.id), ...w.tick(new Date(T0 + 5 * MIN)).map((a) => a.event.id));
  }
  return { ids, byKey: new Map([...byKey].map(([k, v]) => [`${routeOf.get(k)}|${k}`, v])) };
}

describe('rules > partitioned > unmatched', () => {
  it('a partner goes to the owner of each of its keys, so split detection pairs as one detector does', () => {
    const set = rules(RULE);
    const events = [login(T0, 'root'), login(T0 + 10, 'app'), rotation(T0 + 20, ['root', 'app']), login(T0 + 30, 'root'), login(T0 + 40, 'db'), rotation(T0 + 50, ['root', 'db'])];
    const whole = run(new Detector(set), [...events, later(T0 + 5 * MIN)]).map((a) => a.event.id);
    const split = splitIds(set, events);
    const route = 'unmatched:user.name|trailwatch.rotation.users';
    assert.deepEqual([...split.byKey.keys()].sort(), [`${route}|app`, `${route}|db`, `${route}|root`]);
    assert.equal(split.byKey.get(`${route}|root`)!.length, 4, 'root: two logins, two rotations');
    assert.equal(whole.length, 0, 'every login here is explained');
    assert.deepEqual(split.ids, whole);
    // without the second rotation one root login and the db login are left
    const short = events.slice(0, 5);
    const wholeShort = run(new Detector(set), [...short, later(T0 + 5 * MIN)]).map((a) => a.event.id).sort();
    assert.equal(wholeShort.length, 2);
    assert.deepEqual(splitIds(set, short).ids.sort(), wholeShort);
  });
});
