// 100,000 random inputs (fast-check) thrown at a live `trailwatch run`:
// session-log lines (random JSON, gateway events with random fields and
// kinds, broken JSON, deep nesting, long lines) posted in bodies, and syslog
// frames (random bytes, bogus octet counts, RFC 3164/5424 lines with random
// parts) over TCP connections and UDP datagrams. Afterwards the process is
// alive and healthy, every session-log line is accounted for, nothing reached
// the dead-letter store or the alerts file by way of the session log, and a
// normal attack sent by util-linux `logger` still raises its alert.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import fc from 'fast-check';
import type { Alert, TwEvent } from '../src/event.js';
import { freePort, ndjsonRecords, startCli, tempDir, waitFor } from './helpers.js';

const run = promisify(execFile);
const TOKEN = 'fuzz-input-test-token-0123456789';
const CASES = 100_000;
const SEED = Number(process.env.TW_FUZZ_SEED ?? Date.now() % 2 ** 31);

function stored<T>(dir: string): T[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .flatMap((f) => ndjsonRecords<T>(readFileSync(join(dir, f), 'utf8')));
}

const word = fc.string({ unit: 'grapheme-ascii', minLength: 0, maxLength: 12 });
const kinds = fc.constantFrom('event', 'alert', 'state', 'pipeline_error', 'signal', '', 42, null);
/** Session-log lines: mostly object-shaped, with the fields a gateway event has, some hostile. */
const sessionLine = fc.oneof(
  { weight: 4, arbitrary: fc.record(
    {
      '@timestamp': fc.oneof(fc.date({ noInvalidDate: true, min: new Date('2000-01-01'), max: new Date('2100-01-01') }).map((d) => d.toISOString()), word, fc.integer()),
      event: fc.record({ id: fc.oneof(fc.uuid(), word, fc.integer()), kind: kinds, action: fc.constantFrom('gateway-command', 'gateway-session-start', 'gateway-login', 'ssh-login'), outcome: fc.constantFrom('success', 'failure', 'x') }, { requiredKeys: [] }),
      host: fc.record({ name: word }, { requiredKeys: [] }),
      user: fc.oneof(fc.record({ name: word }), fc.jsonValue()),
      message: fc.string({ maxLength: 200 }),
      trailwatch: fc.oneof(
        fc.record({ session: fc.record({ id: word, operator: word }, { requiredKeys: [] }), gateway_alert: fc.record({ rule: fc.oneof(word, word.map((w) => `gateway-${w}`)), name: word, severity: fc.constantFrom('low', 'high', 'x') }, { requiredKeys: [] }) }, { requiredKeys: [] }),
        fc.record({ alert: fc.jsonValue() }),
        fc.jsonValue(),
      ),
    },
    { requiredKeys: [] },
  ).map((o) => JSON.stringify(o)) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v) ?? 'null') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }).map((s) => s.replace(/[\r\n]/g, ' ')) },
  { weight: 1, arbitrary: fc.integer({ min: 15, max: 400 }).map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`) },
);
const frameText = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 200 }), word, word, fc.string({ maxLength: 200 })).map(([pri, host, tag, msg]) => `<${pri}>Dec  7 01:02:03 ${host} ${tag}[${pri}]: ${msg}`),
  fc.tuple(fc.integer({ min: 0, max: 200 }), word, word, fc.string({ maxLength: 200 })).map(([pri, host, app, msg]) => `<${pri}>1 2026-12-07T01:02:03.000Z ${host || '-'} ${app || '-'} - - - ${msg}`),
  fc.string({ unit: 'binary', maxLength: 300 }),
);
/** TCP bytes: a well-formed frame in either framing, or a bogus octet count, or raw bytes. */
const tcpChunk = fc.oneof(
  frameText.map((t) => `${Buffer.byteLength(t)} ${t}`),
  frameText.map((t) => `${t.replace(/\n/g, ' ')}\n`),
  fc.tuple(fc.integer({ min: 0, max: 999_999_999 }), fc.string({ maxLength: 50 })).map(([n, t]) => `${n} ${t}`),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
);
type Case = { session: string } | { tcp: string } | { udp: string };
const anyCase: fc.Arbitrary<Case> = fc.oneof(
  { weight: 5, arbitrary: sessionLine.map((session) => ({ session })) },
  { weight: 4, arbitrary: tcpChunk.map((tcp) => ({ tcp })) },
  { weight: 1, arbitrary: frameText.map((udp) => ({ udp })) },
);

describe(`e2e > embedded run > ${CASES} random inputs, then a normal attack (seed ${SEED})`, () => {
  const tmp = tempDir('tw-fuzz-');
  let cli: Awaited<ReturnType<typeof startCli>>;
  let syslogPort = 0;
  let httpPort = 0;

  before(async () => {
    syslogPort = await freePort();
    httpPort = await freePort();
    cli = await startCli(['run', '--data-dir', join(tmp.dir, 'data'), '--syslog-port', String(syslogPort), '--http-port', String(httpPort)], {
      env: { TRAILWATCH_SESSION_LOG__TOKEN: TOKEN, TRAILWATCH_HTTP__HOST: '127.0.0.1', TRAILWATCH_SYSLOG__HOST: '127.0.0.1', TRAILWATCH_SYSLOG__UDP__IPV6: 'false' },
    });
  });
  after(async () => {
    if (cli && cli.child.exitCode === null) cli.child.kill('SIGKILL');
    tmp.cleanup();
  });

  it('stays up and healthy, accounts for every session-log line, and still raises the attack alert', async () => {
    const cases = fc.sample(anyCase, { numRuns: CASES, seed: SEED });
    const session = cases.flatMap((c) => ('session' in c ? [c.session] : []));
    const tcp = cases.flatMap((c) => ('tcp' in c ? [c.tcp] : []));
    const udp = cases.flatMap((c) => ('udp' in c ? [c.udp] : []));

    // Session log: bodies of 1000 lines, 4 at a time.
    let accepted = 0;
    let invalid = 0;
    const bodies: string[] = [];
    for (let i = 0; i < session.length; i += 1000) bodies.push(session.slice(i, i + 1000).join('\n') + '\n');
    const lines = bodies.reduce((n, b) => n + b.split('\n').filter((l) => l.trim()).length, 0);
    for (let i = 0; i < bodies.length; i += 4) {
      const answers = await Promise.all(
        bodies.slice(i, i + 4).map(async (body) => {
          const r = await fetch(`http://127.0.0.1:${httpPort}/v1/session-log`, { method: 'POST', body, headers: { authorization: `Bearer ${TOKEN}` } });
          assert.equal(r.status, 200, await r.clone().text());
          return (await r.json()) as { accepted: number; invalid: number };
        }),
      );
      for (const a of answers) {
        accepted += a.accepted;
        invalid += a.invalid;
      }
    }
    assert.equal(accepted + invalid, lines, 'every non-empty line is accepted or reported');

    // Syslog: the TCP chunks over 8 connections, the datagrams over UDP.
    await Promise.all(
      Array.from({ length: 8 }, async (_, k) => {
        const sock = connect(syslogPort, '127.0.0.1');
        await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
        sock.on('error', () => {});
        for (let i = k; i < tcp.length; i += 8) if (!sock.write(Buffer.from(tcp[i], 'latin1'))) await new Promise((r) => sock.once('drain', r));
        await new Promise<void>((resolve) => sock.end(resolve));
      }),
    );
    const dgram = createSocket('udp4');
    for (const d of udp) await new Promise<void>((resolve) => dgram.send(d, syslogPort, '127.0.0.1', () => resolve()));
    dgram.close();

    // A normal attack, as a server's sshd would log it.
    const attacker = '203.0.113.99';
    for (let i = 0; i < 6; i++)
      await run('logger', ['-n', '127.0.0.1', '-P', String(syslogPort), '-T', '--rfc3164', '-t', 'sshd', '-i', '-p', 'authpriv.info', `Failed password for invalid user oracle from ${attacker} port ${41000 + i} ssh2`]);
    const alerts = await waitFor(() => {
      const a = stored<Alert>(join(tmp.dir, 'data', 'alerts')).filter((x) => x.source?.ip === attacker || x.trailwatch.alert.group['source.ip'] === attacker);
      return a.length ? a : undefined;
    }, { timeoutMs: 120_000, what: 'the attack alert after the fuzz' });
    assert.ok(alerts.some((a) => a.rule.id === 'ssh-invalid-user-brute-force'), alerts.map((a) => a.rule.id).join(','));

    assert.equal(cli.child.exitCode, null, 'still running');
    const health = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
    assert.equal(health.status, 200, await health.text());
    assert.equal(stored<TwEvent>(join(tmp.dir, 'data', 'dlq')).length, 0, 'no stage met a record it could not handle');
    // Alerts come from the rules only: none cites a session-log event of the fuzz unless a gateway rule asked for it.
    const all = stored<Alert>(join(tmp.dir, 'data', 'alerts'));
    assert.ok(all.every((a) => typeof a.trailwatch?.alert?.severity === 'string' && a.rule?.id), 'every alert is a well-formed alert');
    assert.ok(all.filter((a) => a.rule.ruleset === 'trailwatch-gateway').every((a) => /^gateway-/.test(a.rule.id)));
  });
});
