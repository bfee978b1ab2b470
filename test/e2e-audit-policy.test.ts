// #16 item 5, ground truth: a real auditd on the target host records every
// exec of the account; a real rsyslogd forwards its log to `trailwatch run`,
// which also gets the gateway's session log and judges each exec with the
// gateway's own command policy (rules.command_policy_file). The gateway blocks
// `rm -r <canary>` typed as such; the same rm run from a perl one-liner gets
// past it, really deletes the canary, and raises gateway-policy-command-ran
// naming the gateway session it ran in.
//
// auditd is one per kernel: the test starts its own (own config and log file)
// and skips, saying why, when it cannot (not root, no kernel audit, or a
// system auditd already registered).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { TwEvent } from '../src/event.js';
import { freePort, startLoopbackRun } from './helpers.js';
import { readNdjson } from './journal-helpers.js';
import { forwardFile, type Rsyslog } from './rsyslog-helpers.js';
import { connectOperator, createAccount, execOn, operatorKey, removeAccount, startSshd, startTestGateway, tempDir, waitFor, type GatewayFixture, type Sshd } from './gateway-fixture.js';

const RULE = 'gateway-policy-command-ran'; // rules/default/commands.yaml
const ACC = 'twt_audit';

/** Why this machine cannot run its own auditd, or null when it can. */
function auditUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (auditd and audit rules)';
  let status: string;
  try {
    status = execFileSync('auditctl', ['-s'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    return `the kernel's audit interface is not usable here: ${(err as Error).message.split('\n')[0]}`;
  }
  const pid = /^pid (\d+)/m.exec(status)?.[1];
  if (pid && pid !== '0') return `an audit daemon (pid ${pid}) is already registered with the kernel`;
  return null;
}

const unavailable = auditUnavailable();

describe('e2e > auditd execs judged by the gateway policy (real auditd, rsyslog, gateway, sshd)', { skip: unavailable ?? false }, () => {
  const tmp = tempDir('tw-e2e-audit-');
  const token = randomBytes(16).toString('hex');
  const runDir = join(tmp.dir, 'run');
  const auditDir = join(tmp.dir, 'audit');
  const auditLog = join(auditDir, 'audit.log');
  // The target's syslog names it by host name: the policy's target has the same name.
  const target = hostname();
  let auditRule: string[] = [];
  let auditd: ChildProcess | undefined;
  let sshd: Sshd;
  let fx: GatewayFixture;
  let run: ChildProcess | undefined;
  let rsyslog: Rsyslog | undefined;
  let runLogs = () => '';
  let canary = '';
  let operator: ReturnType<typeof operatorKey>;

  before(async () => {
    createAccount(ACC);
    const uid = execFileSync('id', ['-u', ACC], { encoding: 'utf8' }).trim();
    const home = execFileSync('getent', ['passwd', ACC], { encoding: 'utf8' }).split(':')[5];
    mkdirSync(auditDir, { recursive: true });
    mkdirSync(join(auditDir, 'plugins'));
    const conf = join(auditDir, 'auditd.conf');
    writeFileSync(
      conf,
      [
        `log_file = ${auditLog}`,
        'log_format = ENRICHED',
        'write_logs = yes',
        'flush = INCREMENTAL_ASYNC',
        'freq = 1',
        'max_log_file = 64',
        'max_log_file_action = ROTATE',
        'space_left = 10',
        'space_left_action = IGNORE',
        'admin_space_left = 5',
        'admin_space_left_action = IGNORE',
        'disk_full_action = IGNORE',
        'disk_error_action = IGNORE',
        `plugin_dir = ${join(auditDir, 'plugins')}`,
        '',
      ].join('\n'),
    );
    chmodSync(conf, 0o600);
    auditd = spawn('auditd', ['-n', '-c', auditDir], { stdio: ['ignore', 'ignore', 'pipe'] });
    await waitFor(() => existsSync(auditLog), { timeoutMs: 15_000, what: 'auditd writing its log' });
    // Every exec by the account (64-bit ABI), nothing else.
    auditRule = ['always,exit', '-F', 'arch=b64', '-S', 'execve', '-F', `uid=${uid}`, '-k', 'trailwatch-e2e'];
    execFileSync('auditctl', ['-a', ...auditRule]);

    const [httpPort, syslogPort] = [await freePort(), await freePort()];
    sshd = await startSshd(tmp.dir);
    operator = operatorKey(tmp.dir, 'dana');
    canary = join(home, 'canary-tree');
    const policy = {
      operators: { dana: { keys: [operator.publicKey] } },
      targets: { [target]: { address: '127.0.0.1', port: sshd.port, host_key: sshd.fingerprint, management: { user: 'root', private_key_file: sshd.mgmtKeyFile }, accounts: [ACC] } },
      grants: [{ operators: ['dana'], targets: [target], accounts: [ACC] }],
      command_rules: [{ id: 'no-rm-canary', command: 'rm', flags: ['r'], args: [`${home}/canary-*`], action: 'block', severity: 'critical', description: 'Deleting the canary tree' }],
    };
    fx = await startTestGateway(tmp.dir, policy, { session_log: { url: `http://127.0.0.1:${httpPort}`, token, flush_ms: 100 } });
    const started = await startLoopbackRun(tmp.dir, { dataDir: runDir, httpPort, syslogPort, token, rules: { gateway_addresses: ['127.0.0.1'], command_policy_file: fx.policyFile } });
    run = started.child;
    runLogs = started.logs;
    rsyslog = forwardFile(tmp.dir, auditLog, syslogPort, 'audisp-syslog');
  });

  after(async () => {
    if (auditRule.length) execFileSync('auditctl', ['-d', ...auditRule], { stdio: 'ignore' });
    await fx?.stop();
    await rsyslog?.stop();
    await sshd?.stop();
    run?.kill('SIGTERM');
    if (auditd && auditd.exitCode === null) {
      const gone = new Promise((r) => auditd!.once('exit', r));
      auditd.kill('SIGTERM');
      await gone;
    }
    removeAccount(ACC);
    tmp.cleanup();
  });

  const events = () => readNdjson<TwEvent>(join(runDir, 'events'));
  const alerts = () => readNdjson<TwEvent>(join(runDir, 'alerts'));
  const what = (w: string) => () => `${w}; trailwatch run:\n${runLogs().slice(-3000)}`;

  it('the rm the gateway blocks when typed, run from a perl one-liner, is alerted naming the session', async () => {
    const c = await connectOperator(fx.gw.port, `dana:${ACC}@${target}`, operator.privateKey);
    try {
      assert.equal((await execOn(c, `mkdir -p ${canary}/a && echo made`)).stdout.trim(), 'made');
      const blocked = await execOn(c, `rm -r ${canary}`);
      assert.equal(blocked.code, 126, 'the gateway blocks it as typed');
      assert.ok(existsSync(canary));
      // perl is not a shell the gateway follows: this one it lets through
      const viaPerl = await execOn(c, `perl -e 'system("rm", "-r", $ARGV[0]) == 0 or die' ${canary} && echo ran`);
      assert.equal(viaPerl.stdout.trim(), 'ran', viaPerl.stderr);
      assert.ok(!existsSync(canary), 'the rm really ran');
    } finally {
      c.end();
    }
    const start = await waitFor(() => events().find((e) => e.event.action === 'gateway-session-start' && e.trailwatch?.session?.account === ACC), { timeoutMs: 30_000, what: what('the gateway session start') });
    const alert = await waitFor(() => alerts().find((a) => a.rule?.id === RULE), { timeoutMs: 30_000, what: what('the policy alert from the auditd exec') });
    assert.equal(alert.process?.command_line, `rm -r ${canary}`);
    assert.equal(alert.host?.name, target);
    assert.equal(alert.user?.name, ACC);
    assert.equal(alert.trailwatch?.session?.id, start.trailwatch?.session?.id, 'names the session it ran in');
    assert.equal(alert.trailwatch?.session?.operator, 'dana');
    assert.deepEqual(alert.trailwatch?.policy, { rule: 'no-rm-canary', target });
    // The file sink writes the events and the alerts topics each on its own: the event may land just after its alert.
    const exec = await waitFor(() => events().find((e) => e.event.id === alert.trailwatch?.alert?.events[0]), { timeoutMs: 10_000, what: what('the exec event the alert names') });
    assert.equal(exec?.event.dataset, 'auditd.log', 'the alert comes from the auditd record');
    assert.equal(exec?.trailwatch?.input?.type, 'tcp', 'through rsyslog');
    // the other execs of the session (mkdir, perl, the blocked line never ran) are not the rule's
    assert.equal(alerts().filter((a) => a.rule?.id === RULE).length, 1);
    assert.ok(events().some((e) => e.event.dataset === 'auditd.log' && e.process?.name === 'perl'), 'perl itself was seen');
  });
});
