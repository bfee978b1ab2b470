// Every Sigma rule of a set converts or is reported with a reason, and each
// converted rule simple enough to invert (sigma-derive.ts) fires on an event
// built from its own detection values and not on a benign one: ECS process
// starts for process_creation rules, auditd records in auditd's own format for
// auditd rules. The set is test/fixtures/sigma (rules written in SigmaHQ's
// shape); TW_SIGMA_RULES=DIR adds a local copy of SigmaHQ's rules/linux (the
// Detection Rule License keeps them out of this repository, and no package
// registry this project reaches carries them).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { TwEvent } from '../src/event.js';
import { rulesConfig } from '../src/rules/config.js';
import { loadRules } from '../src/rules/loader.js';
import { createProcessor } from '../src/rules/processor.js';
import { ROOT, runCli, tempDir } from './helpers.js';
import { lineToEvent } from './decoders-line.js';
import { auditLine, derive, processStart, type Derived } from './sigma-derive.js';

const tmp = tempDir('tw-sigma-derived-');
after(() => tmp.cleanup());

const SETS: [string, string][] = [['own SigmaHQ-shaped fixtures', join(ROOT, 'test/fixtures/sigma')]];
if (process.env.TW_SIGMA_RULES) SETS.push(['TW_SIGMA_RULES', process.env.TW_SIGMA_RULES]);

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? yamlFiles(p) : /\.ya?ml$/.test(n) ? [p] : [];
  });
}

const benign = (d: Derived): Derived => ({
  ...d,
  values: new Map([...d.values].map(([k, v]) => [k, k === 'type' ? v : d.kind === 'auditd' ? 'benign' : '/usr/bin/true'])),
});

for (const [name, dir] of SETS) {
  describe(`rules > sigma > ${name}`, () => {
    const out = join(tmp.dir, String(SETS.findIndex((s) => s[1] === dir)));
    let fires: (ev: TwEvent) => string[];
    let converted = new Map<string, string>();

    it('every rule is converted or reported with a reason', async (t) => {
      const files = yamlFiles(dir);
      const r = await runCli(['sigma', 'convert', dir, '--out', out]);
      assert.equal(r.code, 0, r.stderr);
      const ok = [...r.stderr.matchAll(/^converted (.+) -> .+ \((.+)\)$/gm)];
      const not = [...r.stderr.matchAll(/^NOT converted (.+?): (.*)$/gm)];
      assert.equal(ok.length + not.length, files.length, 'one line per rule file');
      for (const m of not) assert.ok(m[2].trim().length > 5, `a reason for ${m[1]}`);
      assert.match(r.stderr, new RegExp(`^${ok.length} converted, ${not.length} not converted$`, 'm'));
      converted = new Map(ok.map((m) => [m[1], m[2]]));
      const reasons = new Map<string, number>();
      for (const m of not) {
        const key = m[2].replace(/^detection\.[^:]+: /, '').replace(/"[^"]*"/g, '"…"');
        reasons.set(key, (reasons.get(key) ?? 0) + 1);
      }
      t.diagnostic(`${ok.length} converted, ${not.length} not; main reasons: ${JSON.stringify([...reasons].sort((a, b) => b[1] - a[1]).slice(0, 8))}`);
      const proc = createProcessor(rulesConfig.parse({ default_pack: false }), { rules: loadRules([out]) });
      fires = (ev) => proc.process([ev]).map((a) => a.rule.id);
    });

    it('converted rules fire on events built from their own detection values, not on benign ones', (t) => {
      const tried = { process_creation: 0, auditd: 0 };
      let n = 0;
      for (const [source, id] of converted) {
        const d = derive(source);
        if (!d) continue;
        assert.equal(d.id, id);
        const make = (x: Derived): TwEvent =>
          x.kind === 'auditd'
            ? lineToEvent(`Mar  3 10:00:00 web1 audisp-syslog: ${auditLine(x, ++n)}`)
            : (JSON.parse(JSON.stringify(processStart(x, `ev-${++n}`))) as TwEvent);
        const hit = make(d);
        assert.ok(fires(hit).includes(id), `${source} fires on ${JSON.stringify(hit.event.original ?? hit.process ?? hit.message)}`);
        assert.ok(!fires(make(benign(d))).includes(id), `${source} stays quiet on a benign event`);
        tried[d.kind]++;
      }
      t.diagnostic(`fired from their own values: ${JSON.stringify(tried)}`);
      assert.ok(tried.process_creation > 0 && tried.auditd > 0, 'both kinds exercised');
    });
  });
}
