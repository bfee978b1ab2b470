// `trailwatch replay` of journal exports: one attack written into a real
// journal file (systemd-journal-remote converts our export text), printed back
// by the real journalctl as `-o export` and `-o json`, and the same attack as
// syslog lines. All three forms must give the same login counts and the same
// alerts, found without --format (auto-detection), from a file and from stdin.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TwEvent } from '../src/event.js';
import { detectFormat } from '../src/rules/replay-journal.js';
import { ndjsonRecords, runCli, tempDir } from './helpers.js';

const JOURNAL_REMOTE = '/lib/systemd/systemd-journal-remote';
const tmp = tempDir('tw-replay-journal-');
after(() => tmp.cleanup());

const T0 = Date.UTC(2026, 11, 6, 9, 0, 0);
const BOOT = '5f1c0a9e2b7d4c3f8a6e1d0b9c8a7f6e';

interface Line {
  at: number;
  host: string;
  ident: string;
  pid: number;
  msg: string;
}

// An attack from sshd's own format strings: guessing root and a sprayed list
// of accounts from one address, then a success for root; and a benign login.
function attack(): Line[] {
  const out: Line[] = [];
  let t = T0;
  const sshd = (host: string, pid: number, msg: string) => out.push({ at: (t += 7_000), host, ident: 'sshd', pid, msg });
  for (let i = 0; i < 7; i++) sshd('web1', 3100 + i, `Failed password for root from 203.0.113.50 port ${40000 + i} ssh2`);
  for (const u of ['admin', 'oracle', 'test', 'guest', 'ubuntu', 'pi'])
    sshd('web2', 3200 + u.length, `Failed password for invalid user ${u} from 203.0.113.50 port ${41000 + u.length} ssh2`);
  sshd('web1', 3300, 'Accepted password for root from 203.0.113.50 port 42000 ssh2');
  sshd('db1', 3400, 'Accepted publickey for alice from 198.51.100.7 port 50022 ssh2: ED25519 SHA256:Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg');
  out.push({ at: (t += 1000), host: 'db1', ident: 'sudo', pid: 3401, msg: 'alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx' });
  return out;
}

function exportText(lines: Line[]): string {
  return lines
    .map((l, i) =>
      [
        `__REALTIME_TIMESTAMP=${l.at * 1000}`,
        `__MONOTONIC_TIMESTAMP=${1_000_000 + i}`,
        `_BOOT_ID=${BOOT}`,
        `_HOSTNAME=${l.host}`,
        '_TRANSPORT=syslog',
        `_PID=${l.pid}`,
        '_UID=0',
        `_COMM=${l.ident}`,
        'PRIORITY=6',
        'SYSLOG_FACILITY=10',
        `SYSLOG_IDENTIFIER=${l.ident}`,
        `SYSLOG_PID=${l.pid}`,
        `MESSAGE=${l.msg}`,
        '',
        '',
      ].join('\n'),
    )
    .join('');
}

/** RFC 3339 timestamps, as rsyslog's precise format writes them. */
const syslogText = (lines: Line[]) => lines.map((l) => `${new Date(l.at).toISOString()} ${l.host} ${l.ident}[${l.pid}]: ${l.msg}`).join('\n') + '\n';

const files: Record<string, string> = {};

before(() => {
  const lines = attack();
  const dir = join(tmp.dir, 'journal');
  mkdirSync(dir);
  writeFileSync(join(tmp.dir, 'in.export'), exportText(lines));
  execFileSync(JOURNAL_REMOTE, [`--output=${join(dir, 'remote.journal')}`, join(tmp.dir, 'in.export')], { stdio: 'pipe' });
  const journalctl = (fmt: string) => execFileSync('journalctl', ['--file', join(dir, 'remote.journal'), '-o', fmt], { encoding: 'utf8', maxBuffer: 64 << 20 });
  files.export = join(tmp.dir, 'journal.export');
  files.json = join(tmp.dir, 'journal.json');
  files.syslog = join(tmp.dir, 'auth.log');
  writeFileSync(files.export, journalctl('export'));
  writeFileSync(files.json, journalctl('json'));
  writeFileSync(files.syslog, syslogText(lines));
});

const parse = (stdout: string) => ndjsonRecords<TwEvent>(stdout);

interface Result {
  events: TwEvent[];
  alerts: string[];
  summary: string;
}

async function replayOf(args: string[], input?: string): Promise<Result> {
  const r = await runCli(['replay', ...args, '--summary'], input === undefined ? {} : { input });
  assert.equal(r.code, 0, r.stderr);
  const all = parse(r.stdout);
  return {
    events: all.filter((e) => e.event.kind !== 'alert'),
    alerts: all.filter((e) => e.event.kind === 'alert').map((a) => `${a.rule?.id} ${JSON.stringify(a.trailwatch?.alert?.group)} ${a.trailwatch?.alert?.count}`).sort(),
    summary: r.stderr.split('\n')[0],
  };
}

describe('rules > replay > journal exports', () => {
  it('guesses each format from the first line', () => {
    assert.equal(detectFormat('__CURSOR=s=1;i=2\n__REALTIME_TIMESTAMP=1\nMESSAGE=x\n\n'), 'journal-export');
    assert.equal(detectFormat('{"__CURSOR":"s=1","MESSAGE":"x","_HOSTNAME":"h"}\n'), 'journal-json');
    assert.equal(detectFormat('{"@timestamp":"2026-01-01T00:00:00Z","event":{"kind":"event"},"message":"x"}\n'), 'ndjson');
    assert.equal(detectFormat('Dec  6 09:00:07 web1 sshd[3100]: Failed password for root from 203.0.113.50 port 40000 ssh2\n'), 'syslog');
    assert.equal(detectFormat('sshd[3100]: MESSAGE=Failed password\n'), 'syslog');
    assert.equal(detectFormat(''), 'syslog');
  });

  it('journalctl -o export, -o json and the syslog lines of one attack give the same counts and alerts', async () => {
    const syslog = await replayOf([files.syslog]);
    const exp = await replayOf([files.export]);
    const json = await replayOf([files.json]);
    const n = attack().length;
    for (const [name, r] of Object.entries({ syslog, exp, json })) {
      assert.equal(r.events.length, n, `${name}: one event per entry`);
      assert.equal(r.events.filter((e) => e.tags?.includes('unparsed')).length, 0, `${name}: nothing unparsed`);
    }
    assert.match(syslog.summary, /login attempts: 13 failed, 2 succeeded/);
    assert.equal(exp.summary, syslog.summary);
    assert.equal(json.summary, syslog.summary);
    assert.ok(syslog.alerts.some((a) => a.startsWith('ssh-brute-force ') || a.includes('brute')), `a brute-force alert: ${syslog.alerts.join('; ')}`);
    assert.ok(syslog.alerts.some((a) => a.includes('after')), `a success-after-failures alert: ${syslog.alerts.join('; ')}`);
    assert.deepEqual(exp.alerts, syslog.alerts);
    assert.deepEqual(json.alerts, syslog.alerts);
    // Same fields as the live receiver gives, timestamps to the millisecond.
    const first = exp.events[0];
    assert.equal(first['@timestamp'], new Date(T0 + 7_000).toISOString());
    assert.equal(first.host?.name, 'web1');
    assert.equal(first.source?.ip, '203.0.113.50');
    assert.equal(first.trailwatch?.input?.type, 'replay');
    assert.match(first.journald?.cursor ?? '', /^s=[0-9a-f]+;i=1;b=/);
    assert.deepEqual(exp.events.map((e) => e.event.id), json.events.map((e) => e.event.id), 'ids from the cursors: both exports of one journal agree');
    assert.equal(exp.events.find((e) => e.event.action === 'sudo-command')?.process?.command_line, '/usr/bin/systemctl restart nginx');
  });

  it('reads a journal export from stdin and a forced --format', async () => {
    const { readFileSync } = await import('node:fs');
    const viaStdin = await replayOf(['-'], readFileSync(files.export, 'utf8'));
    const forced = await replayOf([files.export, '--format', 'journal-export']);
    const file = await replayOf([files.export]);
    assert.equal(viaStdin.summary, file.summary);
    assert.deepEqual(viaStdin.alerts, file.alerts);
    assert.deepEqual(forced.events, file.events);
  });

  it('a broken journal entry is one unparsed event and the replay goes on', async () => {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(files.export, 'utf8');
    const cut = text.indexOf('\n\n') + 2;
    const broken = join(tmp.dir, 'broken.export');
    writeFileSync(broken, text.slice(0, cut) + 'MESSAGE=x\nnot a journal field\n\n' + text.slice(cut));
    const r = await replayOf([broken]);
    assert.equal(r.events.length, attack().length + 1);
    const bad = r.events.filter((e) => e.tags?.includes('unparsed'));
    assert.equal(bad.length, 1);
    assert.match(bad[0].event.original ?? '', /not a journal field/);
    assert.equal(bad[0].event.sequence, 2);
  });

  it('refuses an unknown --format', async () => {
    const r = await runCli(['replay', files.export, '--format', 'journald']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--format must be one of auto, syslog, ndjson, journal-export, journal-json/);
  });
});
