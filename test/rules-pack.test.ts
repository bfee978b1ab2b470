// The default pack against its samples: every shipped rule fires on its
// test/rules/<rule-id>/match.log and not on nomatch.log, and the whole pack
// stays quiet over a benign day of auth.log (test/rules/benign.log, and the
// same day's logins through the gateway with its rotation events in
// test/rules/benign-gateway.ndjson) except for the known false positives listed below.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Alert, TwEvent } from '../src/event.js';
import { rulesConfig } from '../src/rules/config.js';
import { decode } from '../src/rules/decoders/index.js';
import { defaultPackDir, loadRules } from '../src/rules/loader.js';
import { replay } from '../src/rules/replay.js';
import { parseLine } from '../src/rules/replay-parse.js';
import { ROOT } from './helpers.js';

const SAMPLES = join(ROOT, 'test/rules');
// root is not managed: its logins from the gateway are still the gateway's; the gateway's command policy judges auditd's execs
const CONFIG = rulesConfig.parse({ gateway_addresses: ['10.0.9.0/28'], managed_accounts: ['ops'], command_policy_file: join(SAMPLES, 'gateway-policy.yaml') });
const PACK = loadRules([defaultPackDir()]);

/** Alerts the pack may raise on the benign corpus, with the reason (keep this empty if at all possible). */
const KNOWN_FALSE_POSITIVES: { rule: string; why: string }[] = [];


async function run(file: string): Promise<{ events: TwEvent[]; alerts: Alert[] }> {
  let text = '';
  const out = new Writable({
    write(chunk, _enc, cb) {
      text += chunk;
      cb();
    },
  });
  await replay({ input: file, format: 'auto', rules: PACK, config: CONFIG, year: 2024, out });
  const all = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as TwEvent);
  return { events: all.filter((e) => e.event.kind !== 'alert'), alerts: all.filter((e) => e.event.kind === 'alert') as Alert[] };
}

const sampleDirs = readdirSync(SAMPLES).filter((d) => statSync(join(SAMPLES, d)).isDirectory());

describe('rules > default pack > samples exist', () => {
  it('every shipped rule has match.log and nomatch.log, and every sample names a shipped rule', () => {
    const ids = PACK.rules.map((r) => r.id).sort();
    for (const id of ids) {
      assert.ok(existsSync(join(SAMPLES, id, 'match.log')), `${id}/match.log`);
      assert.ok(existsSync(join(SAMPLES, id, 'nomatch.log')), `${id}/nomatch.log`);
    }
    assert.deepEqual(sampleDirs.sort(), ids);
  });
});

describe('rules > default pack > per-rule samples', () => {
  for (const id of sampleDirs) {
    const rule = PACK.rules.find((r) => r.id === id);
    it(`${id} fires on match.log`, async () => {
      const { events, alerts } = await run(join(SAMPLES, id, 'match.log'));
      const mine = alerts.filter((a) => a.rule.id === id);
      assert.ok(mine.length > 0, `${id} did not fire; decoded actions: ${events.map((e) => e.event.action ?? '-').join(', ')}`);
      if (rule?.kind === 'match' && !rule.groupBy.length) {
        // Per-event rules: every sample line must fire on its own.
        const fired = new Set(mine.flatMap((a) => a.trailwatch.alert.events));
        const missed = events.filter((e) => !fired.has(e.event.id)).map((e) => `line ${e.event.sequence}: ${e.event.original}`);
        assert.deepEqual(missed, [], `${id} missed lines`);
      }
    });
    it(`${id} stays quiet on nomatch.log`, async () => {
      const { alerts } = await run(join(SAMPLES, id, 'nomatch.log'));
      const mine = alerts.filter((a) => a.rule.id === id);
      assert.deepEqual(
        mine.map((a) => a.trailwatch.alert.events),
        [],
        `${id} fired on nomatch.log`,
      );
    });
  }
});

describe('rules > default pack > benign corpus', () => {
  for (const file of ['benign.log', 'benign-gateway.ndjson']) {
    it(`raises no alerts over a day of normal admin activity (beyond the allowlist): ${file}`, async () => {
      const { events, alerts } = await run(join(SAMPLES, file));
      assert.equal(events.length, readFileSync(join(SAMPLES, file), 'utf8').trim().split('\n').length);
      const unexpected = alerts
        .filter((a) => !KNOWN_FALSE_POSITIVES.some((k) => k.rule === a.rule.id))
        .map((a) => `${a.rule.id}: ${a.message} (lines ${a.trailwatch.alert.events.map((id) => events.find((e) => e.event.id === id)?.event.sequence).join(',')})`);
      assert.deepEqual(unexpected, []);
    });
  }
});
