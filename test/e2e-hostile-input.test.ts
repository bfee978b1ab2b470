// `trailwatch run` (the built CLI, embedded) against a session-log token
// holder who tries what issue #17 found: posting alerts (one with the id a
// windowed rule is about to compute, to make the webhook sink drop the real
// alert as a duplicate), a record that calls itself an alert without alert
// fields (it used to freeze the rules stage), an event nested 5000 deep (it
// used to overflow the file sink's stack), an alert request for a rule that is
// not the gateway's, and events taking other sources' ids. Then a real attack
// over TCP syslog must raise its alerts, reach a real HTTP receiver, and the
// process must stay healthy and stop promptly.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Alert, TwEvent } from '../src/event.js';
import { freePort, ndjsonRecords, runCli, startCli, tempDir, waitFor } from './helpers.js';
import { Receiver, SECRET } from './webhook-helpers.js';

const TOKEN = 'hostile-input-test-token-0123456789';

function stored<T>(dir: string): T[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .flatMap((f) => ndjsonRecords<T>(readFileSync(join(dir, f), 'utf8')));
}

/** RFC 5424 lines, octet-counted on one TCP connection (as rsyslog forwards them). */
async function sendTcp(port: number, lines: string[]): Promise<void> {
  const sock = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  for (const l of lines) sock.write(`${Buffer.byteLength(l)} ${l}`);
  await new Promise<void>((resolve) => sock.end(resolve));
}

describe('e2e > embedded run > hostile session-log input does not forge, suppress or stop detection', () => {
  const tmp = tempDir('tw-hostile-');
  const receiver = new Receiver();
  let cli: Awaited<ReturnType<typeof startCli>>;
  let syslogPort = 0;
  let httpPort = 0;
  const post = (body: string) =>
    fetch(`http://127.0.0.1:${httpPort}/v1/session-log`, { method: 'POST', body, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-ndjson' } });

  before(async () => {
    await receiver.start();
    syslogPort = await freePort();
    httpPort = await freePort();
    cli = await startCli(['run', '--data-dir', join(tmp.dir, 'data'), '--syslog-port', String(syslogPort), '--http-port', String(httpPort)], {
      env: {
        TRAILWATCH_SESSION_LOG__TOKEN: TOKEN,
        TRAILWATCH_WEBHOOK_URL: receiver.url('/oncall'),
        TRAILWATCH_WEBHOOK_SECRET: SECRET,
        TRAILWATCH_SINKS__WEBHOOK__ALLOW_PRIVATE: 'true',
        TRAILWATCH_HTTP__HOST: '127.0.0.1',
        TRAILWATCH_SYSLOG__HOST: '127.0.0.1',
        TRAILWATCH_SYSLOG__UDP__IPV6: 'false',
      },
    });
  });
  after(async () => {
    if (cli && cli.child.exitCode === null) cli.child.kill('SIGKILL');
    await receiver.close();
    tmp.cleanup();
  });

  it('refuses forged alerts and hostile records at the edge, keeps them as events, and the real attack still alerts and is delivered', async () => {
    // The attack, and the alert ids replay computes for it: a windowed rule's id is known in advance.
    const at = new Date(Date.now() - 120_000).toISOString();
    const lines = Array.from({ length: 12 }, (_, i) => `<38>1 ${at} web1 sshd 4242 - - Failed password for invalid user admin from 203.0.113.50 port ${40001 + i} ssh2`);
    const file = join(tmp.dir, 'attack.log');
    writeFileSync(file, lines.join('\n') + '\n');
    const replay = await runCli(['replay', file, '--alerts-only']);
    assert.equal(replay.code, 0, replay.stderr);
    const expected = ndjsonRecords<Alert>(replay.stdout).filter((a) => a.trailwatch.alert.window);
    assert.ok(expected.length >= 1, 'the attack raises windowed alerts');

    const decoys = expected.map((a) => ({ '@timestamp': at, event: { id: a.event.id, kind: 'alert', severity: 21 }, rule: { id: a.rule.id, name: 'decoy' }, message: 'decoy', trailwatch: { alert: { severity: 'low', group: {}, events: [], count: 1, first_seen: at, last_seen: at } } }));
    const hostile = [
      ...decoys,
      // event.kind alert without alert fields: froze the rules stage before
      { event: { kind: 'alert', id: 'no-alert-fields' }, message: 'bare alert kind' },
      // an alert request for a rule that is not the gateway's
      { event: { id: 'req-1', action: 'gateway-command' }, message: 'asks for a brute-force alert', trailwatch: { gateway_alert: { rule: 'ssh-brute-force', name: 'x', severity: 'critical' } } },
      // a journal entry's id: taken into the session log's own namespace
      { event: { id: 'j-0123456789abcdef0123456789abcdef-42' }, message: 'takes a journal id' },
    ];
    // 5000 levels, written out (this process's JSON.stringify would overflow on it too).
    const deep = `{"event":{"id":"deep"},"deep":${'{"n":'.repeat(5000)}{}${'}'.repeat(5000)}}`;
    const res = await post([...hostile.map((h) => JSON.stringify(h)), deep].join('\n') + '\n');
    assert.equal(res.status, 200);
    const r = (await res.json()) as { accepted: number; invalid: number; errors: { line: number; reason: string }[] };
    assert.equal(r.invalid, decoys.length + 2, JSON.stringify(r.errors));
    assert.equal(r.accepted, 2);
    assert.ok(r.errors.slice(0, decoys.length + 1).every((e) => /event\.kind "alert" is not accepted/.test(e.reason)));
    assert.match(r.errors.at(-1)!.reason, /nested deeper than 16 levels/);

    await sendTcp(syslogPort, lines);

    const alerts = await waitFor(() => {
      const a = stored<Alert>(join(tmp.dir, 'data', 'alerts'));
      return expected.every((x) => a.some((y) => y.event.id === x.event.id)) ? a : undefined;
    }, { timeoutMs: 30_000, what: 'the windowed alerts of the attack' });
    for (const x of expected) {
      const got = alerts.filter((a) => a.event.id === x.event.id);
      assert.equal(got.length, 1, `one alert ${x.event.id}`);
      assert.equal(got[0].rule.id, x.rule.id);
      assert.equal(got[0].message, x.message, 'the real alert, not the decoy');
    }
    assert.ok(!alerts.some((a) => a.message === 'decoy'));

    // Every hostile line is kept as an event (unparsed where refused); the deep one cut to what a stack can hold.
    const events = await waitFor(() => {
      const e = stored<TwEvent>(join(tmp.dir, 'data', 'events'));
      return e.filter((x) => x.trailwatch?.input?.type === 'session-log').length === hostile.length + 1 ? e : undefined;
    }, { timeoutMs: 20_000, what: 'every session-log line as an event' });
    const fromLog = events.filter((e) => e.trailwatch?.input?.type === 'session-log');
    assert.equal(fromLog.filter((e) => e.tags?.includes('unparsed')).length, decoys.length + 2);
    assert.ok(fromLog.every((e) => e.event.kind === 'event'));
    const journalId = fromLog.find((e) => e.message === 'takes a journal id')!;
    assert.notEqual(journalId.event.id, 'j-0123456789abcdef0123456789abcdef-42');
    const request = fromLog.find((e) => e.message === 'asks for a brute-force alert')!;
    assert.ok(!alerts.some((a) => (a.trailwatch.alert.events ?? []).includes(request.event.id)), 'no alert from a request for a rule that is not the gateway\'s');

    // The webhook sink delivered the real alerts.
    const delivered = await waitFor(() => {
      const ids = receiver.delivered.flatMap((d) => (JSON.parse(d.body) as { data: { alerts: { id: string }[] } }).data.alerts.map((a) => a.id));
      return expected.every((x) => ids.includes(x.event.id)) ? ids : undefined;
    }, { timeoutMs: 60_000, what: 'the real alerts delivered' });
    assert.ok(delivered.length >= expected.length);

    const health = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
    assert.equal(health.status, 200, await health.text());
    assert.equal(stored<TwEvent>(join(tmp.dir, 'data', 'dlq')).length, 0, 'nothing needed the dead-letter store');

    const t0 = Date.now();
    const exited = new Promise<number | null>((resolve) => cli.child.once('exit', resolve));
    cli.child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(Date.now() - t0 < 15_000, `stopped in ${Date.now() - t0} ms`);
  });
});

describe('e2e > embedded run > session-log posts answered 200 survive kill -9', () => {
  const tmp = tempDir('tw-sl-crash-');
  after(() => tmp.cleanup());

  it('every event of every acknowledged post is in the events files after SIGKILL', async () => {
    const httpPort = await freePort();
    const cli = await startCli(['run', '--data-dir', join(tmp.dir, 'data'), '--syslog-port', '0', '--http-port', String(httpPort)], {
      env: { TRAILWATCH_SESSION_LOG__TOKEN: TOKEN, TRAILWATCH_HTTP__HOST: '127.0.0.1', TRAILWATCH_SYSLOG__HOST: '127.0.0.1', TRAILWATCH_SYSLOG__UDP__IPV6: 'false' },
    });
    const exited = new Promise((r) => cli.child.once('exit', r));
    const acknowledged: string[] = [];
    let killed = false;
    // Posts keep coming from 4 senders; the process is killed as soon as 40 have been answered.
    const sender = async (s: number) => {
      for (let b = 0; !killed; b++) {
        const ids = Array.from({ length: 500 }, (_, i) => `s${s}-b${b}-e${i}`);
        const body = ids.map((m) => JSON.stringify({ event: { action: 'gateway-command' }, host: { name: 'gw1' }, message: m })).join('\n') + '\n';
        let ok = false;
        try {
          const r = await fetch(`http://127.0.0.1:${httpPort}/v1/session-log`, { method: 'POST', body, headers: { authorization: `Bearer ${TOKEN}` } });
          ok = r.status === 200 && ((await r.json()) as { accepted: number }).accepted === 500;
        } catch {
          return; // the process is gone
        }
        if (!ok || killed) return;
        acknowledged.push(...ids);
        if (acknowledged.length >= 40 * 500 && !killed) {
          killed = true;
          cli.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all([0, 1, 2, 3].map(sender));
    await exited;
    assert.ok(acknowledged.length >= 40 * 500);
    const messages = new Set(stored<TwEvent>(join(tmp.dir, 'data', 'events')).map((e) => e.message));
    const missing = acknowledged.filter((m) => !messages.has(m));
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} of ${acknowledged.length} acknowledged events lost`);
  });
});
