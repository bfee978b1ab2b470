// The gateway's command policy as ground truth on auditd's execs: an EXECVE a
// block rule covers is marked and alerted (gateway-policy-command-ran), naming
// the gateway session to that account on that target open at the time; the
// policy file is followed as it changes, and a bad one is refused by name.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Alert, TwEvent } from '../src/event.js';
import { rulesConfig } from '../src/rules/config.js';
import { defaultPackDir, loadRules } from '../src/rules/loader.js';
import { HOLD_MS, loadPolicyAudit, shellQuote } from '../src/rules/policy-audit.js';
import { createProcessor } from '../src/rules/processor.js';
import { tempDir, waitFor } from './helpers.js';

const tmp = tempDir('tw-policy-audit-');
after(() => tmp.cleanup());
const PACK = loadRules([defaultPackDir()]);
const RULE = 'gateway-policy-command-ran';

function policyYaml(rules: string): string {
  return `targets:
  db1:
    address: 192.0.2.31
    host_key: SHA256:qG3mYc0m0yJm3u8i2yqz8a1y1Wq2H0xq3Vx6mJ9m7Q0
    management: { user: root, private_key_file: /nonexistent }
    accounts: [app]
command_rules:
${rules}`;
}
const RM_DATA = `  - { id: no-rm-data, command: rm, flags: [r], args: ['/data/*'], action: block, severity: critical }\n`;

let serial = 1000;
/** A SYSCALL + EXECVE pair as audisp-syslog forwards them, from host `host`, login user (auid) `auid`. */
function exec(at: string, host: string, auid: string, args: string[]): TwEvent[] {
  const s = ++serial;
  const stamp = `${Date.parse(at) / 1000}:${s}`;
  const hex = (a: string) => Buffer.from(a).toString('hex').toUpperCase();
  const argv = args.map((a, i) => `a${i}=${/^[\x21-\x7e]+$/.test(a) && !a.includes('"') ? `"${a}"` : hex(a)}`).join(' ');
  const raw = (message: string, id: string): TwEvent => ({ '@timestamp': at, event: { id, kind: 'event' }, host: { name: host }, process: { name: 'audisp-syslog' }, message });
  return [
    raw(`type=SYSCALL msg=audit(${stamp}): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=${s} auid=1001 uid=1001 tty=pts0 ses=9 comm="x" exe="/usr/bin/${args[0].split('/').pop()}" AUID="${auid}" UID="${auid}"`, `sc${s}`),
    raw(`type=EXECVE msg=audit(${stamp}): argc=${args.length} ${argv}`, `ex${s}`),
  ];
}

function gatewayEvent(at: string, action: 'gateway-session-start' | 'gateway-session-end', id: string, account: string): TwEvent {
  return {
    '@timestamp': at,
    event: { id: `${action}-${id}`, kind: 'event', dataset: 'trailwatch.gateway', module: 'gateway', action, outcome: 'success' },
    host: { name: 'db1' },
    user: { name: account },
    trailwatch: { session: { id, operator: 'carol', account, target: 'db1' } },
  } as TwEvent;
}

async function processorWith(file: string) {
  const cfg = rulesConfig.parse({ command_policy_file: file });
  const p = createProcessor(cfg, { rules: PACK });
  const audit = await loadPolicyAudit(cfg.command_policy_file);
  p.setPolicyAudit(audit);
  return { p, audit: audit! };
}

const ran = (alerts: Alert[]) => alerts.filter((a) => a.rule.id === RULE);

describe('rules > gateway policy on auditd execs', () => {
  it('an exec a block rule covers is alerted, naming the gateway session open on that account and target', async () => {
    const file = join(tmp.dir, 'p1.yaml');
    writeFileSync(file, policyYaml(RM_DATA));
    const { p } = await processorWith(file);
    // by the target's name (host.name db1) and by its address (a host that logs under its IP)
    const inSession = exec('2024-05-01T10:00:05Z', 'db1', 'app', ['/bin/rm', '--recursive', '--force', '/data/pg/base']);
    const byAddress = exec('2024-05-01T10:00:06Z', '192.0.2.31', 'app', ['rm', '-r', '/data/my files']);
    const alerts = p.process([gatewayEvent('2024-05-01T10:00:00Z', 'gateway-session-start', 's-1', 'app'), ...inSession, ...byAddress, gatewayEvent('2024-05-01T10:01:00Z', 'gateway-session-end', 's-1', 'app')]);
    const mine = ran(alerts);
    assert.equal(mine.length, 2, JSON.stringify(alerts.map((a) => a.rule.id)));
    assert.equal(mine[0].trailwatch.session?.id, 's-1');
    assert.equal(mine[0].trailwatch.session?.operator, 'carol');
    assert.deepEqual(mine[0].trailwatch.policy, { rule: 'no-rm-data', target: 'db1' });
    assert.equal(mine[0].process?.command_line, '/bin/rm --recursive --force /data/pg/base');
    assert.equal(mine[0].event.severity, 99);
    assert.equal(mine[1].trailwatch.policy?.target, 'db1');
    assert.equal(inSession[1].trailwatch?.policy?.rule, 'no-rm-data', 'the event itself carries the mark too');
    // after the session: held a while for a session start that may still come, then alerted with none named
    const laterExec = exec('2024-05-01T11:00:00Z', 'db1', 'app', ['rm', '-rf', '/data/x']);
    assert.deepEqual(ran(p.process(laterExec)), [], 'held for its session');
    assert.deepEqual(ran(p.tick(new Date(Date.now() + HOLD_MS - 1000))), []);
    const [late, ...more] = ran(p.tick(new Date(Date.now() + HOLD_MS + 1)));
    assert.ok(late && !more.length, 'alerted outside a session too, once');
    assert.equal(late.trailwatch.session?.id, undefined);
    assert.equal(late.trailwatch.alert.events[0], laterExec[1].event.id);
  });

  it("an exec that arrives before its session's start (the session log comes in batches) still names the session", async () => {
    const file = join(tmp.dir, 'p4.yaml');
    writeFileSync(file, policyYaml(RM_DATA));
    const { p } = await processorWith(file);
    const early = exec('2024-05-01T12:00:00.300Z', 'db1', 'app', ['rm', '-r', '/data/a']);
    assert.deepEqual(ran(p.process(early)), []);
    const [a, ...more] = ran(p.process([gatewayEvent('2024-05-01T12:00:00.000Z', 'gateway-session-start', 's-9', 'app')]));
    assert.ok(a && !more.length);
    assert.equal(a.trailwatch.session?.id, 's-9');
    assert.equal(a.trailwatch.alert.events[0], early[1].event.id);
    // a session of another account releases nothing; at the end of input (replay) what is held goes on
    const other = exec('2024-05-01T12:00:01Z', 'db1', 'ops', ['rm', '-r', '/data/b']);
    assert.deepEqual(ran(p.process([...other, gatewayEvent('2024-05-01T12:00:00.500Z', 'gateway-session-start', 's-10', 'root')])), []);
    assert.deepEqual(ran(p.drain()).map((x) => x.trailwatch.session?.id), [undefined]);
  });

  it('leaves alone what no block rule covers: other paths, alert rules, failed execs, hosts that are no target', async () => {
    const file = join(tmp.dir, 'p2.yaml');
    writeFileSync(file, policyYaml(RM_DATA + `  - { id: curl, command: curl, action: alert, severity: low }\n`));
    const { p } = await processorWith(file);
    const evs = [
      ...exec('2024-05-01T10:00:00Z', 'db1', 'app', ['rm', '-rf', '/home/app/tmp']),
      ...exec('2024-05-01T10:00:01Z', 'db1', 'app', ['rm', '/data/one-file']),
      ...exec('2024-05-01T10:00:02Z', 'db1', 'app', ['curl', 'https://example.org']),
      ...exec('2024-05-01T10:00:03Z', 'web7', 'app', ['rm', '-rf', '/data/x']),
    ];
    const failed = exec('2024-05-01T10:00:04Z', 'db1', 'app', ['rm', '-rf', '/data/x']);
    failed[0].message = failed[0].message!.replace('success=yes exit=0', 'success=no exit=-13');
    assert.deepEqual(ran(p.process([...evs, ...failed])), []);
    assert.ok(evs.every((e) => e.trailwatch?.policy === undefined));
  });

  it('follows the policy file as it changes; a bad edit keeps the previous policy', async () => {
    const file = join(tmp.dir, 'p3.yaml');
    writeFileSync(file, policyYaml(`  - { id: curl, command: curl, action: alert, severity: low }\n`));
    const { p, audit } = await processorWith(file);
    const stop = audit.watch(50);
    try {
      const judged = (at: string) => ran([...p.process(exec(at, 'db1', 'app', ['rm', '-rf', '/data/x'])), ...p.drain()]);
      assert.deepEqual(judged('2024-05-01T10:00:00Z'), []);
      writeFileSync(file, policyYaml(RM_DATA));
      await waitFor(() => judged('2024-05-01T10:00:01Z').length === 1, { timeoutMs: 5000, what: 'the new rule in force' });
      writeFileSync(file, 'targets: [not, a, map]\n');
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(judged('2024-05-01T10:00:02Z').length, 1, 'still the last good policy');
    } finally {
      stop();
    }
  });

  it('a policy file that cannot be read or is invalid is refused, naming the file', async () => {
    await assert.rejects(loadPolicyAudit(join(tmp.dir, 'missing.yaml')), /missing\.yaml: cannot read: ENOENT/);
    const bad = join(tmp.dir, 'bad.yaml');
    writeFileSync(bad, policyYaml(`  - { id: x, command: rm, regex: rm, action: block }\n`));
    await assert.rejects(loadPolicyAudit(bad), /bad\.yaml: .*exactly one of regex, glob or command/);
  });

  it('shell-quotes arguments so the line parses back to the same words', () => {
    assert.equal(shellQuote('/data/x'), '/data/x');
    assert.equal(shellQuote('my data'), `'my data'`);
    assert.equal(shellQuote(`it's`), `'it'\\''s'`);
    assert.equal(shellQuote('$(reboot)'), `'$(reboot)'`);
    assert.equal(shellQuote(''), `''`);
  });
});
