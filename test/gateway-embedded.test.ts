// `gateway.enabled: true` runs the gateway inside `trailwatch run` (the built
// CLI): a real `ssh` through it to a real sshd; the gateway's events reach the
// pipeline's files over the in-process bus (no URL, no token), and a blocked
// command raises its alert through the rules. `trailwatch gateway fingerprint`
// prints the key the operator's ssh client is shown.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import type { Alert, TwEvent } from '../src/event.js';
import { loadConfig, parseConfig } from '../src/config.js';
import { parsePolicy } from '../src/gateway/policy.js';
import { ConfigError } from '../src/errors.js';
import { sessionLogToken, validateGatewayConfig } from '../src/gateway/index.js';
import { createAccount, operatorKey, removeAccount, startSshd, tempDir, waitFor, type Sshd } from './gateway-fixture.js';
import { freePort, ndjsonRecords, ROOT, runCli, startCli } from './helpers.js';

const execP = promisify(execFile);

function stored<T>(dir: string): T[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .flatMap((f) => ndjsonRecords<T>(readFileSync(join(dir, f), 'utf8')));
}

describe('gateway > inside trailwatch run (gateway.enabled)', () => {
  const tmp = tempDir('tw-gw-embedded-');
  const ACC = 'twt_emb1';
  let sshd: Sshd;
  let cli: Awaited<ReturnType<typeof startCli>>;
  let cfg = '';
  let port = 0;
  let syslogPort = 0;
  let alice: ReturnType<typeof operatorKey>;
  const data = join(tmp.dir, 'data');

  before(async () => {
    createAccount(ACC);
    sshd = await startSshd(tmp.dir, { logFile: join(tmp.dir, 'sshd.log') });
    alice = operatorKey(tmp.dir, 'alice');
    port = await freePort();
    syslogPort = await freePort();
    const policy = join(tmp.dir, 'policy.yaml');
    writeFileSync(
      policy,
      stringify({
        operators: { alice: { keys: [alice.publicKey] } },
        targets: { db1: { address: '127.0.0.1', port: sshd.port, host_key: sshd.fingerprint, management: { user: 'root', private_key_file: sshd.mgmtKeyFile }, accounts: [ACC] } },
        grants: [{ operators: ['alice'], targets: ['db1'], accounts: [ACC] }],
        command_rules: [{ id: 'canary', regex: '^cat\\s+/tmp/twt_emb_canary', action: 'block', severity: 'high', description: 'Reading the canary' }],
      }),
    );
    cfg = join(tmp.dir, 'trailwatch.yaml');
    writeFileSync(
      cfg,
      stringify({
        data_dir: data,
        http: { host: '127.0.0.1', port: await freePort() },
        syslog: { host: '127.0.0.1', udp: { enabled: false }, tcp: { port: syslogPort } },
        journal: { port: 0 },
        // rules.gateway_addresses unset: with the gateway in run they default to this host's addresses.
        gateway: { enabled: true, host: '127.0.0.1', port, policy_file: policy, rotation: { cron: '' } },
      }),
    );
    cli = await startCli(['-c', cfg, 'run'], { ready: /"msg":"http listening"/, timeoutMs: 60_000 });
  });
  after(async () => {
    if (cli && cli.child.exitCode === null) cli.child.kill('SIGKILL');
    await sshd?.stop();
    removeAccount(ACC);
    tmp.cleanup();
  });

  it("serves operators; its events and the alerts they ask for land in run's files; the fingerprint matches ssh's", async () => {
    // The key ssh records on first connect is the one `gateway fingerprint` prints.
    const fp = await runCli(['-c', cfg, 'gateway', 'fingerprint']);
    assert.equal(fp.code, 0, fp.stderr);
    assert.match(fp.stdout, /^ssh-ed25519 SHA256:[A-Za-z0-9+/]{43}$/m);
    assert.ok(cli.logs().includes(fp.stdout.trim().split(' ')[1]), 'the gateway logs its fingerprint at start');
    const known = join(tmp.dir, 'known_hosts');
    const ssh = (command: string) =>
      execP('ssh', ['-i', alice.file, '-p', String(port), '-o', 'StrictHostKeyChecking=accept-new', '-o', `UserKnownHostsFile=${known}`, '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR', `alice:${ACC}@db1@127.0.0.1`, command], { timeout: 30_000 }).then(
        (r) => ({ code: 0, out: r.stdout }),
        (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
      );
    const ok = await ssh('echo via-$((6*7))');
    assert.deepEqual(ok, { code: 0, out: 'via-42\n' });
    const seen = (await execP('ssh-keygen', ['-lf', known])).stdout;
    assert.ok(seen.includes(fp.stdout.trim().split(' ')[1]), `known_hosts ${seen} vs ${fp.stdout}`);
    const blocked = await ssh('cat /tmp/twt_emb_canary');
    assert.equal(blocked.code, 126);

    const events = await waitFor(() => {
      const e = stored<TwEvent>(join(data, 'events')).filter((x) => x.event.dataset === 'trailwatch.gateway');
      return e.some((x) => x.event.action === 'gateway-command-blocked') && e.some((x) => x.event.action === 'gateway-session-end') ? e : undefined;
    }, { timeoutMs: 30_000, what: "the gateway's events in run's events files" });
    assert.ok(events.every((e) => e.trailwatch?.input?.type === 'gateway'));
    assert.ok(events.some((e) => e.event.action === 'gateway-command' && e.process?.command_line === 'echo via-$((6*7))'));
    const alerts = await waitFor(() => {
      const a = stored<Alert>(join(data, 'alerts')).filter((x) => x.rule.id === 'gateway-command-canary');
      return a.length ? a : undefined;
    }, { timeoutMs: 30_000, what: 'the blocked command alert' });
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0].trailwatch.alert.events[0], events.find((e) => e.event.action === 'gateway-command-blocked')!.event.id);
    // The target's sshd lines about those logins (the gateway's management logins as root and its
    // session logins), shipped to run as the target's syslog would: collated as the gateway's, since
    // rules.gateway_addresses defaults to this host's addresses with the gateway in run.
    const accepted = readFileSync(join(tmp.dir, 'sshd.log'), 'utf8').split('\n').filter((l) => /^Accepted \S+ for \S+ from 127\.0\.0\.1 /.test(l));
    assert.ok(accepted.some((l) => / for root /.test(l)) && accepted.some((l) => new RegExp(` for ${ACC} `).test(l)), accepted.join('\n'));
    for (const l of accepted) await execP('logger', ['-n', '127.0.0.1', '-P', String(syslogPort), '-T', '--rfc3164', '-t', 'sshd', '-i', '-p', 'authpriv.info', l]);
    const logins = await waitFor(() => {
      const e = stored<TwEvent>(join(data, 'events')).filter((x) => x.event.action === 'ssh-login' && x.event.outcome === 'success');
      return e.length >= accepted.length ? e : undefined;
    }, { timeoutMs: 30_000, what: 'the sshd login lines as events' });
    assert.ok(logins.every((e) => e.trailwatch?.collation?.verdict === 'gateway'), JSON.stringify(logins.map((e) => [e.user?.name, e.trailwatch?.collation])));
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(stored<Alert>(join(data, 'alerts')).map((a) => a.rule.id).filter((r) => r !== 'gateway-command-canary'), [], 'no root-login or bypass alert for the gateway\'s own logins');
  });
});

describe('gateway > one shared session-log token', () => {
  it('the gateway uses session_log.token when it has none of its own, and refuses to start with a URL but no token, naming both keys', () => {
    const shared = parseConfig({ session_log: { token: 'one-secret' }, gateway: { session_log: { url: 'http://ingest:8080' } } });
    validateGatewayConfig(shared);
    assert.equal(sessionLogToken(shared), 'one-secret');
    const own = parseConfig({ session_log: { token: 'ingest-side' }, gateway: { session_log: { url: 'http://ingest:8080', token: 'gateway-side' } } });
    assert.equal(sessionLogToken(own), 'gateway-side');
    const none = parseConfig({ gateway: { session_log: { url: 'http://ingest:8080' } } });
    assert.throws(
      () => validateGatewayConfig(none),
      (err: ConfigError) => err instanceof ConfigError && /gateway\.session_log\.token/.test(err.message) && /session_log\.token is/.test(err.message),
    );
    // Without a URL (local file, or inside run) no token is needed.
    validateGatewayConfig(parseConfig({}));
  });
});

describe('gateway > the shipped example configuration', () => {
  it('gateway/trailwatch-gateway.example.yaml is a valid config whose gateway posts with the shared token, and the example policy parses', async () => {
    const file = join(ROOT, 'gateway', 'trailwatch-gateway.example.yaml');
    const config = loadConfig({ file, env: {} });
    validateGatewayConfig(config);
    assert.equal(config.gateway.session_log.url, 'http://ingest:8080');
    assert.equal(sessionLogToken(config), config.session_log.token);
    const policy = parsePolicy(readFileSync(join(ROOT, 'gateway', 'gateway-policy.example.yaml'), 'utf8'), 'gateway-policy.example.yaml');
    assert.ok(policy.targets.size > 0 && policy.operators.size > 0);
    // check-config takes it as a user would give it.
    const r = await runCli(['-c', file, 'check-config']);
    assert.equal(r.code, 0, r.stderr);
  });
});
