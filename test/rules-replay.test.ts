import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TwEvent } from '../src/event.js';
import { ndjsonRecords, runCli, tempDir } from './helpers.js';
import { failedLogin, goodLogin, T0 } from './rules/helpers.js';

const tmp = tempDir('tw-replay-');
after(() => tmp.cleanup());
const file = (name: string, text: string) => {
  const p = join(tmp.dir, name);
  writeFileSync(p, text);
  return p;
};
const parse = (stdout: string) => ndjsonRecords<TwEvent>(stdout);

describe('rules > replay > syslog lines', () => {
  const lines = [
    'Mar  3 10:15:01 web1 sshd[811]: Failed password for root from 203.0.113.9 port 51234 ssh2',
    '<38>Mar  3 10:15:02 web1 sshd[811]: Connection closed by authenticating user root 203.0.113.9 port 51234 [preauth]',
    '<86>1 2024-03-03T10:15:03.120Z db1 sudo 901 - [meta sequenceId="7"] alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id',
    '2024-03-03T10:15:04.000000+00:00 web2 CRON[77]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)',
    'this line is not syslog at all',
  ];
  const log = file('auth.log', lines.join('\n') + '\n');

  it('writes one event per line with its line number, parsed fields and deterministic ids', async () => {
    const r1 = await runCli(['replay', log, '--year', '2024', '--no-default-rules']);
    assert.equal(r1.code, 0, r1.stderr);
    const evs = parse(r1.stdout);
    assert.equal(evs.length, lines.length);
    assert.deepEqual(evs.map((e) => e.event.sequence), [1, 2, 3, 4, 5]);
    assert.deepEqual(evs.map((e) => e.event.original), lines);
    assert.equal(evs[0]['@timestamp'], '2024-03-03T10:15:01.000Z');
    assert.equal(evs[0].host?.name, 'web1');
    assert.deepEqual(evs[0].process, { name: 'sshd', pid: 811 });
    assert.match(evs[0].message!, /^Failed password for root/);
    assert.equal(evs[1].log?.syslog?.facility?.name, 'auth');
    assert.equal(evs[2].log?.syslog?.facility?.name, 'authpriv');
    assert.equal(evs[1].log?.syslog?.severity?.name, 'Informational');
    assert.equal(evs[2]['@timestamp'], '2024-03-03T10:15:03.120Z');
    assert.equal(evs[2].host?.name, 'db1');
    assert.deepEqual(evs[2].log?.syslog?.structured_data, { meta: { sequenceId: '7' } });
    assert.match(evs[2].message!, /^alice : TTY=pts\/0/);
    assert.equal(evs[3].process?.name, 'CRON');
    assert.ok(evs[4].tags?.includes('unparsed'));
    assert.equal(evs[4]['@timestamp'], evs[3]['@timestamp'], 'an unparsable line takes the previous time');
    const r2 = await runCli(['replay', log, '--year', '2024', '--no-default-rules']);
    assert.equal(r2.stdout, r1.stdout, 'replays are identical');
  });

  it('reads stdin with -', async () => {
    const r = await runCli(['replay', '-', '--year', '2024', '--no-default-rules'], { input: lines.slice(0, 2).join('\n') });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(parse(r.stdout).length, 2);
  });
});

describe('rules > replay > lines without a timestamp (journalctl -o cat / -o short without a time)', () => {
  // One attacker: invalid users and failed passwords, each on its own sshd connection, then a success.
  const messages = [
    ...Array.from({ length: 4 }, (_, i) => [900 + i, `Invalid user oracle${i} from 203.0.113.9 port ${40000 + i}`]),
    ...Array.from({ length: 4 }, (_, i) => [900 + i, `Failed password for invalid user oracle${i} from 203.0.113.9 port ${40000 + i} ssh2`]),
    ...Array.from({ length: 6 }, (_, i) => [910 + i, `Failed password for root from 203.0.113.9 port ${41000 + i} ssh2`]),
    [920, 'Accepted password for root from 203.0.113.9 port 42000 ssh2'],
  ] as [number, string][];
  const stamped = messages.map(([pid, m], i) => `Mar  3 10:15:${String(i).padStart(2, '0')} web1 sshd[${pid}]: ${m}`);
  const withHost = messages.map(([pid, m]) => `web1 sshd[${pid}]: ${m}`);
  const bare = messages.map(([pid, m]) => `sshd[${pid}]: ${m}`);
  const MTIME = new Date('2024-03-04T08:00:00Z');
  const summaryOf = (stderr: string) => /login attempts: (\d+) failed, (\d+) succeeded/.exec(stderr)?.slice(1).map(Number);

  async function run(name: string, lines: string[]) {
    const p = file(name, lines.join('\n') + '\n');
    utimesSync(p, MTIME, MTIME);
    const r = await runCli(['replay', p, '--summary']);
    assert.equal(r.code, 0, r.stderr);
    const out = parse(r.stdout);
    return { summary: summaryOf(r.stderr), events: out.filter((e) => e.event.kind === 'event'), rules: out.filter((e) => e.event.kind === 'alert').map((a) => a.rule!.id).sort() };
  }

  it('count the same failed and successful logins, and raise the same alerts, as their timestamped form', async () => {
    const a = await run('stamped.log', stamped);
    assert.deepEqual(a.summary, [10, 1]);
    assert.ok(a.rules.includes('login-success-after-failures-source'), a.rules.join());
    for (const [name, lines] of [['host.log', withHost], ['bare.log', bare]] as const) {
      const b = await run(name, lines);
      assert.deepEqual(b.summary, a.summary, name);
      assert.deepEqual(b.rules, a.rules, name);
      assert.ok(b.events.every((e) => !e.tags?.includes('unparsed')), name);
      assert.deepEqual(b.events.map((e) => e.source?.ip), a.events.map((e) => e.source?.ip), name);
    }
  });

  it("take the file's mtime until a line has a time, then the previous line's time; never 1970", async () => {
    const { events } = await run('mixed.log', [bare[0], withHost[1], stamped[2], bare[3]]);
    assert.deepEqual(events.map((e) => e['@timestamp']), [MTIME.toISOString(), MTIME.toISOString(), '2024-03-03T10:15:02.000Z', '2024-03-03T10:15:02.000Z']);
    assert.deepEqual(events.map((e) => e.host?.name), [undefined, 'web1', 'web1', undefined]);
    const prose = await run('prose.log', ['no header at all here']);
    assert.equal(prose.events[0]['@timestamp'], MTIME.toISOString());
    assert.ok(prose.events[0].tags?.includes('unparsed'));
  });
});

describe('rules > replay > year-less timestamps', () => {
  const text = 'Dec 31 23:59:58 h app: a\nJan  1 00:00:02 h app: b\n';
  it('rolls over to the next year when months go backwards (--year is the first line\'s year)', async () => {
    const r = await runCli(['replay', file('rollover.log', text), '--year', '2023', '--no-default-rules']);
    assert.deepEqual(parse(r.stdout).map((e) => e['@timestamp']), ['2023-12-31T23:59:58.000Z', '2024-01-01T00:00:02.000Z']);
  });
  it("defaults to the file's mtime year, a year earlier for months after the mtime's", async () => {
    const p = file('mtime.log', text);
    utimesSync(p, new Date('2021-01-05T00:00:00Z'), new Date('2021-01-05T00:00:00Z'));
    const r = await runCli(['replay', p, '--no-default-rules']);
    assert.deepEqual(parse(r.stdout).map((e) => e['@timestamp']), ['2020-12-31T23:59:58.000Z', '2021-01-01T00:00:02.000Z']);
  });
});

describe('rules > replay > rules on decoded NDJSON events', () => {
  const events = [
    ...Array.from({ length: 6 }, (_, i) => failedLogin(T0 + i * 1000, '203.0.113.9', `user${i}`)),
    goodLogin(T0 + 9000, '203.0.113.9', 'user5'),
  ];
  const ndjson = file('events.ndjson', events.map((e) => JSON.stringify(e)).join('\n') + '\nnot json\n');

  it('writes the events, then the alerts, and a summary on stderr', async () => {
    const r = await runCli(['replay', ndjson, '--format', 'ndjson', '--summary']);
    assert.equal(r.code, 0, r.stderr);
    const out = parse(r.stdout);
    const firstAlert = out.findIndex((e) => e.event.kind === 'alert');
    assert.equal(firstAlert, events.length + 1, 'alerts come after every event');
    assert.ok(out[events.length].tags?.includes('trailwatch_bad_json'));
    const rules = out.slice(firstAlert).map((a) => a.rule!.id).sort();
    // Six failures for six user names are spraying; the failed-login burst they also make is superseded by it.
    assert.deepEqual(rules, ['login-success-after-failures-source', 'ssh-password-spraying']);
    assert.match(r.stderr, /lines: 8 {2}alerts: 2 \(\+1 superseded\) {2}login attempts: 6 failed, 1 succeeded/);
    assert.match(r.stderr, /1 {2}ssh-password-spraying/);
  });

  it('--alerts-only, --rules adds a directory, --no-default-rules drops the pack', async () => {
    const dir = join(tmp.dir, 'extra');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'x.yaml'), `- rule: any-success\n  name: Any success\n  kind: match\n  severity: low\n  condition: { field: event.outcome, equals: success }\n`);
    const r = await runCli(['replay', ndjson, '--format', 'ndjson', '--alerts-only', '--rules', dir, '--no-default-rules']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(parse(r.stdout).map((a) => a.rule!.id), ['any-success']);
  });

  it('keeps many alerts (spooled to a temporary file) after every event, in order', async () => {
    const many = Array.from({ length: 6000 }, (_, i) => JSON.stringify(goodLogin(T0 + i * 1000, '192.0.2.1', `u${i}`))).join('\n');
    const r = await runCli(['replay', '-', '--format', 'ndjson', '--rules', join(tmp.dir, 'extra'), '--no-default-rules'], { input: many });
    assert.equal(r.code, 0, r.stderr);
    const out = parse(r.stdout);
    assert.equal(out.length, 12_000);
    assert.ok(out.slice(0, 6000).every((e) => e.event.kind === 'event'));
    assert.deepEqual(
      out.slice(6000).map((a) => a.trailwatch!.alert!.events[0]),
      out.slice(0, 6000).map((e) => e.event.id),
    );
  });

  it('refuses bad rules with the file and exit code 2', async () => {
    const dir = join(tmp.dir, 'bad');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'oops.yaml'), `- rule: oops\n  name: Oops\n  kind: threshold\n  severity: low\n  condition: { field: a, exists: true }\n`);
    const r = await runCli(['replay', ndjson, '--format', 'ndjson', '--rules', dir]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /oops\.yaml: \[0\]\.window: required/);
  });
});
