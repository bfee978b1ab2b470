// The embedded product end to end, as a user meets it: `trailwatch run` (the
// built CLI), real util-linux `logger` sending sshd lines over TCP, alerts
// written to the data directory, and the env quick start delivering one
// signed webhook to a real HTTP receiver that fails the first attempt.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Alert, TwEvent } from '../src/event.js';
import { freePort, startCli, tempDir, waitFor } from './helpers.js';
import { Receiver, SECRET, verifyStandardWebhook } from './webhook-helpers.js';

const run = promisify(execFile);

function ndjson<T>(dir: string): T[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as T));
}

describe('e2e > embedded run > failed logins from logger to a signed webhook', () => {
  const tmp = tempDir('tw-e2e-');
  const receiver = new Receiver();
  let cli: Awaited<ReturnType<typeof startCli>>;
  let syslogPort = 0;
  let httpPort = 0;

  before(async () => {
    await receiver.start();
    receiver.script = [{ status: 500, body: 'receiver down' }];
    syslogPort = await freePort();
    httpPort = await freePort();
    cli = await startCli(['run', '--data-dir', tmp.dir, '--syslog-port', String(syslogPort), '--http-port', String(httpPort)], {
      env: {
        TRAILWATCH_WEBHOOK_URL: receiver.url('/oncall'),
        TRAILWATCH_WEBHOOK_SECRET: SECRET,
        // the receiver is on loopback, which the SSRF guard refuses by default
        TRAILWATCH_SINKS__WEBHOOK__ALLOW_PRIVATE: 'true',
        TRAILWATCH_HTTP__HOST: '127.0.0.1',
        TRAILWATCH_SYSLOG__HOST: '127.0.0.1',
        TRAILWATCH_SYSLOG__UDP__IPV6: 'false',
      },
    });
  });

  after(async () => {
    if (cli && cli.child.exitCode === null) {
      const exited = new Promise((r) => cli.child.once('exit', r));
      cli.child.kill('SIGTERM');
      await exited;
    }
    await receiver.close();
    tmp.cleanup();
  });

  it('keeps every line as an event, raises one alert, and delivers it signed after a failed attempt', async () => {
    const attacker = '203.0.113.77';
    for (let i = 0; i < 5; i++) {
      await run('logger', ['-n', '127.0.0.1', '-P', String(syslogPort), '-T', '--rfc3164', '-t', 'sshd', '-i', '-p', 'authpriv.info',
        `Failed password for invalid user admin from ${attacker} port ${40000 + i} ssh2`]);
    }
    // a line no decoder knows, and one that is not syslog at all: kept, not dropped
    await run('logger', ['-n', '127.0.0.1', '-P', String(syslogPort), '-T', '--rfc3164', '-t', 'cron', 'session noise']);

    const alerts = await waitFor(() => {
      const a = ndjson<Alert>(join(tmp.dir, 'alerts'));
      return a.length ? a : undefined;
    }, { timeoutMs: 20_000, what: 'an alert in data_dir/alerts' });
    // the noise line was sent last; the alert can land on disk before it does
    const events = await waitFor(() => {
      const e = ndjson<TwEvent>(join(tmp.dir, 'events'));
      return e.some((x) => x.message === 'session noise') ? e : undefined;
    }, { timeoutMs: 10_000, what: 'every line in data_dir/events' });
    const failures = events.filter((e) => e.event.outcome === 'failure' && e.source?.ip === attacker);
    assert.equal(failures.length, 5, 'each failed login is one decoded event');
    assert.ok(failures.every((e) => e.event.action === 'ssh-login' && e.user?.name === 'admin'));

    assert.deepEqual(alerts.map((a) => a.rule.id), ['ssh-invalid-user-brute-force']);
    const [alert] = alerts;
    assert.equal(alert.source?.ip, attacker);
    assert.deepEqual(new Set(alert.trailwatch.alert.events), new Set(failures.map((e) => e.event.id)));

    const delivered = await waitFor(() => (receiver.delivered.length ? receiver.delivered : undefined), { timeoutMs: 30_000, what: 'a delivered webhook' });
    assert.equal(receiver.requests[0].status, 500, 'the first attempt failed');
    const ok = delivered[0];
    assert.equal(ok.path, '/oncall');
    assert.equal(ok.headers['webhook-id'], receiver.requests[0].headers['webhook-id'], 'the retry is the same message');
    assert.ok(verifyStandardWebhook(SECRET, ok.headers, ok.body), 'signature verifies');
    const body = JSON.parse(ok.body);
    assert.deepEqual(body.data.alerts.map((a: { id: string }) => a.id), [alert.event.id]);

    // no second notification for the same alert
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(receiver.delivered.length, 1);

    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    assert.match(metrics, /trailwatch_syslog_received_messages_total\{transport="tcp"\} 6/);
    assert.doesNotMatch(cli.logs(), new RegExp(SECRET.slice(6)));
  });
});
