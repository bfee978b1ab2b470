import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { compileWebhookRoutes } from '../src/sinks/webhook-config.js';
import { formatGeneric } from '../src/sinks/webhook/generic.js';
import type { Notification } from '../src/sinks/webhook/model.js';
import { dedupKey, formatPagerDuty } from '../src/sinks/webhook/pagerduty.js';
import { matchRoutes } from '../src/sinks/webhook/routes.js';
import { Secret } from '../src/sinks/webhook/secret.js';
import { formatSlack } from '../src/sinks/webhook/slack.js';
import { formatTeams } from '../src/sinks/webhook/teams.js';
import { makeAlert, SECRET } from './webhook-helpers.js';

const O = { publicUrl: 'https://tw.example.com/', maxAlerts: 20, maxEvents: 3 };
function note(alerts = [makeAlert()], repeat = false): Notification {
  return { id: 'msg_1', receiver: 'r', route: 'r', groupKey: 'root|r|rule.id=ssh-brute-force', groupLabels: { 'rule.id': 'ssh-brute-force' }, alerts, repeat, createdAt: new Date().toISOString() };
}

describe('sinks > webhook > formats', () => {
  it('generic: alerts with rule, severity, group, window, count, capped events and a search link', () => {
    const b = JSON.parse(formatGeneric(note(), O).body);
    assert.equal(b.type, 'trailwatch.alert');
    const a = b.data.alerts[0];
    assert.equal(a.rule.id, 'ssh-brute-force');
    assert.equal(a.severity, 'high');
    assert.deepEqual(a.group, { 'source.ip': '203.0.113.9' });
    assert.equal(a.count, 5);
    assert.ok(a.first_seen && a.last_seen);
    assert.deepEqual(a.events, ['e1', 'e2', 'e3']);
    assert.equal(a.events_truncated, 2);
    const link = new URL(a.link);
    assert.equal(link.origin + link.pathname, 'https://tw.example.com/search');
    assert.match(link.searchParams.get('q')!, /rule\.id:"ssh-brute-force" AND source\.ip:"203\.0\.113\.9"/);
  });

  it('generic: a session alert links to playback at its offset', () => {
    const b = JSON.parse(formatGeneric(note([makeAlert({ session: { id: 'sess-42', offset: 73.6 } })]), O).body);
    assert.equal(b.data.alerts[0].link, 'https://tw.example.com/sessions/sess-42?t=73');
  });

  it('slack: Block Kit within documented limits, with fallback text', () => {
    const long = 'x'.repeat(400);
    const alerts = [makeAlert({ name: long, message: '<script> & stuff' }), makeAlert(), makeAlert()];
    const b = JSON.parse(formatSlack(note(alerts), O).body);
    assert.equal(typeof b.text, 'string');
    assert.ok(b.text.length > 0);
    assert.ok(Array.isArray(b.blocks) && b.blocks.length > 0 && b.blocks.length <= 50);
    const header = b.blocks.find((x: { type: string }) => x.type === 'header');
    assert.equal(header.text.type, 'plain_text');
    assert.ok(header.text.text.length <= 150);
    for (const blk of b.blocks) {
      assert.ok(['header', 'section', 'actions', 'context', 'divider'].includes(blk.type));
      if (blk.type === 'section') {
        assert.ok(blk.text || blk.fields, 'a section has text or fields');
        if (blk.text) assert.ok(blk.text.text.length <= 3000);
        if (blk.fields) {
          assert.ok(blk.fields.length <= 10);
          for (const f of blk.fields) assert.ok(f.text.length <= 2000 && ['mrkdwn', 'plain_text'].includes(f.type));
        }
      }
      if (blk.type === 'actions') for (const e of blk.elements) assert.ok(e.type === 'button' && e.text.type === 'plain_text' && e.url.length <= 3000);
    }
    assert.ok(JSON.stringify(b.blocks).includes('&lt;script&gt; &amp; stuff'), 'mrkdwn control characters escaped');
  });

  it('resolved: generic says so in type and status, chat titles say RESOLVED, PagerDuty sends a bare resolve', () => {
    const n: Notification = { ...note(), status: 'resolved' };
    const g = JSON.parse(formatGeneric(n, O).body);
    assert.equal(g.type, 'trailwatch.alert.resolved');
    assert.equal(g.data.status, 'resolved');
    assert.equal(JSON.parse(formatGeneric(note(), O).body).data.status, 'firing');
    assert.match(JSON.parse(formatSlack(n, O).body).text, /^\[RESOLVED\] /);
    assert.match(JSON.stringify(JSON.parse(formatTeams(n, O).body)), /\[RESOLVED\] /);
    const pd = JSON.parse(formatPagerDuty(n, O, new Secret('k'.repeat(32))).body);
    assert.deepEqual(pd, { routing_key: 'k'.repeat(32), event_action: 'resolve', dedup_key: dedupKey(n.groupKey) });
  });

  it('pagerduty: Events API v2 trigger with the required fields and a group dedup_key', () => {
    const n = note([makeAlert({ severity: 'critical', host: 'db-1', message: 'y'.repeat(2000) })]);
    const b = JSON.parse(formatPagerDuty(n, O, new Secret('R0UTINGKEY0123456789abcdefABCDEF')).body);
    assert.equal(b.routing_key, 'R0UTINGKEY0123456789abcdefABCDEF');
    assert.equal(b.event_action, 'trigger');
    assert.equal(b.dedup_key, 'trailwatch/root|r|rule.id=ssh-brute-force');
    assert.ok(b.payload.summary.length > 0 && b.payload.summary.length <= 1024);
    assert.equal(b.payload.source, 'db-1');
    assert.equal(b.payload.severity, 'critical');
    assert.ok(!Number.isNaN(Date.parse(b.payload.timestamp)));
    assert.equal(typeof b.payload.custom_details, 'object');
    assert.equal(b.links[0].href.startsWith('https://tw.example.com/search?'), true);
    const sev = (s: 'low' | 'medium' | 'high') => JSON.parse(formatPagerDuty(note([makeAlert({ severity: s })]), O, new Secret('k'.repeat(32))).body).payload.severity;
    assert.deepEqual([sev('low'), sev('medium'), sev('high')], ['info', 'warning', 'error']);
    assert.ok(dedupKey('g'.repeat(400)).length <= 255);
  });

  it('teams: an Adaptive Card message attachment', () => {
    const b = JSON.parse(formatTeams(note(), O).body);
    assert.equal(b.type, 'message');
    assert.equal(b.attachments[0].contentType, 'application/vnd.microsoft.card.adaptive');
    const card = b.attachments[0].content;
    assert.equal(card.type, 'AdaptiveCard');
    assert.ok(card.version && Array.isArray(card.body) && card.body.length > 0);
    assert.equal(card.actions[0].type, 'Action.OpenUrl');
  });
});

describe('sinks > webhook > routes', () => {
  const cfg = parseConfig({
    sinks: {
      webhook: {
        host_groups: { prod: ['db-*', 'web-?.example.com'] },
        receivers: [
          { name: 'soc', url: 'https://soc.example.com/h', secrets: [SECRET] },
          { name: 'pd', type: 'pagerduty', routing_key: 'k'.repeat(32) },
          { name: 'chat', type: 'slack', url: 'https://hooks.slack.com/services/T/B/X' },
        ],
        route: {
          receiver: 'soc',
          routes: [
            { receiver: 'pd', matchers: ['severity>=high', 'host_group=prod'], continue: true },
            { receiver: 'chat', matchers: ['tags=brute-force'] },
            { receiver: 'pd', matchers: ['rule.id=~gateway-.*'] },
          ],
        },
      },
    },
  }).sinks.webhook;
  const root = compileWebhookRoutes(cfg).route!;
  const to = (a: ReturnType<typeof makeAlert>) => matchRoutes(root, a).map((r) => r.receiver);

  it('walks the tree like Alertmanager: first match, continue, default', () => {
    assert.deepEqual(to(makeAlert({ severity: 'critical', host: 'db-3' })), ['pd', 'chat']);
    assert.deepEqual(to(makeAlert({ severity: 'medium', host: 'db-3' })), ['chat']);
    assert.deepEqual(to(makeAlert({ severity: 'high', host: 'web-1.example.com', tags: [] })), ['pd']);
    assert.deepEqual(to(makeAlert({ severity: 'high', host: 'laptop', tags: [], rule: 'gateway-command-blocked' })), ['pd']);
    assert.deepEqual(to(makeAlert({ severity: 'low', host: 'laptop', tags: [] })), ['soc']);
  });

  it('refuses bad routes at load with the field path', () => {
    const bad = (webhook: unknown) => {
      try {
        parseConfig({ sinks: { webhook } });
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.issues.join('\n');
      }
      assert.fail('accepted');
    };
    const recv = [{ name: 'soc', url: 'https://soc.example.com/h', secrets: [SECRET] }];
    assert.match(bad({ receivers: recv, route: { receiver: 'nope' } }), /sinks\.webhook\.route\.receiver: no receiver named "nope"/);
    assert.match(bad({ receivers: recv, route: { receiver: 'soc', routes: [{ matchers: ['severity>=urgent'] }] } }), /route\.routes\[0\]\.matchers\[0\]: .*severity is one of/);
    assert.match(bad({ receivers: recv, route: { receiver: 'soc', routes: [{ matchers: ['host_group=nowhere'] }] } }), /no host group "nowhere"/);
    assert.match(bad({ receivers: recv, route: { receiver: 'soc', group_interval: 'soon' } }), /route\.group_interval: "soon" is not a duration/);
    assert.match(bad({ receivers: [{ name: 'soc', url: 'https://x.example.com', secrets: ['hunter2'] }] }), /receivers\[0\]\.secrets\[0\]: must be whsec_/);
    assert.match(bad({ receivers: [{ name: 'p', type: 'pagerduty' }] }), /receivers\[0\]\.routing_key: a pagerduty receiver needs a routing_key/);
    assert.doesNotMatch(bad({ receivers: [{ name: 'soc', url: 'https://x.example.com', secrets: ['hunter2'] }] }), /hunter2/);
  });
});
