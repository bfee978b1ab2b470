// The journald receiver (src/ingest/journal) end to end: `trailwatch run`
// (the built CLI, --journal-port 0) fed by the real systemd-journal-upload
// from journal files the real systemd-journal-remote wrote, over HTTP and
// HTTPS with client certificates; bad bodies posted with node:http. Events
// and alerts are read from the data directory, counters from /metrics.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Alert, TwEvent } from '../src/event.js';
import { CLI, tempDir, waitFor } from './helpers.js';
import {
  countLines,
  EXPORT_TYPE,
  exportEntry,
  makeJournal,
  postChunked,
  savedCursor,
  scanNdjson,
  startTrailwatch,
  startUpload,
  syslogFields,
  upload,
  type SyslogEntry,
  type Trailwatch,
} from './journal-helpers.js';

const run = promisify(execFile);

const WAIT = 30_000;
const RECEIVED = 'trailwatch_journal_received_entries_total';

/** Microseconds, with a sub-millisecond part so the ms cut of @timestamp is visible. */
function micros(msAgo: number): number {
  return (Date.now() - msAgo) * 1000 + 456;
}

/** What @timestamp must be for a __REALTIME_TIMESTAMP: the same instant, to the millisecond. */
function isoOfMicros(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString();
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
/** The same entry as an auth.log (RFC 3164) line, UTC. */
function authLogLine(e: SyslogEntry): string {
  const d = new Date(Math.floor(e.realtimeUs / 1000));
  const hms = d.toISOString().slice(11, 19);
  return `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${hms} ${e.host} ${e.ident}[${e.pid}]: ${e.message}`;
}

function uploadArgs(port: number, dir: string, state: string, scheme = 'http'): string[] {
  return ['-u', `${scheme}://127.0.0.1:${port}`, `--directory=${dir}`, `--save-state=${state}`, '--follow=no'];
}

describe('ingest > journal > systemd-journal-upload over HTTP: an SSH password attack on web1', () => {
  const tmp = tempDir('tw-journal-attack-');
  const journalDir = join(tmp.dir, 'journal');
  const state = join(tmp.dir, 'upload.state');
  const attacker = '192.0.2.7';
  let tw: Trailwatch;
  const entries: SyslogEntry[] = [];

  before(async () => {
    mkdirSync(journalDir);
    tw = await startTrailwatch(join(tmp.dir), {});
    const t0 = micros(120_000);
    // sshd forks one process per connection: 8 guesses, then the password that worked.
    for (let i = 0; i < 8; i++)
      entries.push({ host: 'web1', realtimeUs: t0 + i * 1_250_333, monotonicUs: 50_000_000 + i * 1_250_333, ident: 'sshd', pid: 5100 + i,
        message: `Failed password for alice from ${attacker} port ${40022 + i} ssh2` });
    entries.push({ host: 'web1', realtimeUs: t0 + 8 * 1_250_333, monotonicUs: 50_000_000 + 8 * 1_250_333, ident: 'sshd', pid: 5108,
      message: `Accepted password for alice from ${attacker} port 40030 ssh2` });
    await makeJournal(journalDir, 'web1', entries.map((e) => exportEntry(syslogFields(e))));
  });

  after(async () => {
    await tw?.stop();
    tmp.cleanup();
  });

  it('logs the port it listens on (--journal-port 0 picks a free one), plain HTTP', () => {
    assert.ok(tw.journalPort > 0 && tw.journalPort !== 19532, `journalPort ${tw.journalPort}`);
    assert.match(tw.logs(), /"msg":"journal receiver listening \(systemd-journal-upload\)"/);
    assert.match(tw.logs(), new RegExp(`"journalPort":${tw.journalPort},"tls":false`));
  });

  it('stores exactly the uploaded entries, each one event with its fields mapped', async () => {
    const r = await upload(uploadArgs(tw.journalPort, journalDir, state));
    assert.equal(r.code, 0, `systemd-journal-upload failed: ${r.stderr}`);
    const cursor = savedCursor(state);
    assert.ok(cursor, `the uploader saved a cursor after the 2xx: ${readFileSync(state, 'utf8')}`);
    // In-process bus: the 202 (after which the uploader saves its cursor) comes only once the sinks hold the entries.
    assert.equal(tw.events().filter((x) => x.host?.name === 'web1').length, entries.length, 'every entry is in data/events when the uploader has its 2xx');

    const got = await waitFor(() => {
      const e = tw.events().filter((x) => x.host?.name === 'web1');
      return e.length >= entries.length ? e : undefined;
    }, { timeoutMs: WAIT, what: `${entries.length} web1 events in data/events` });
    assert.equal(got.length, entries.length, 'one event per entry, no more');
    assert.equal(tw.events().length, entries.length, 'nothing else in the events file');
    assert.equal(await tw.metric(RECEIVED), entries.length);
    assert.equal(await tw.metric('trailwatch_journal_requests_total', { outcome: 'accepted' }), 1);
    assert.ok((await tw.metric('trailwatch_journal_received_bytes_total')) > 9 * 300, 'body bytes are counted');
    assert.equal(new Set(got.map((e) => e.event.id)).size, entries.length, 'ids are distinct');

    const byMessage = new Map(got.map((e) => [e.message, e]));
    for (const [i, want] of entries.entries()) {
      const ev = byMessage.get(want.message);
      assert.ok(ev, `entry ${i} stored: ${want.message}`);
      const cur = /^s=([0-9a-f]{32});i=([0-9a-f]+);/.exec(ev.journald?.cursor ?? '');
      assert.ok(cur, `entry ${i} keeps its cursor`);
      assert.equal(ev.event.id, `j-${cur[1]}-${cur[2]}`, 'event.id names the entry by its seqnum id and seqnum');
      assert.equal(ev['@timestamp'], isoOfMicros(want.realtimeUs), `@timestamp of entry ${i} is its __REALTIME_TIMESTAMP`);
      assert.equal(ev.host?.name, 'web1');
      assert.equal(ev.process?.name, 'sshd');
      assert.equal(ev.process?.pid, want.pid);
      assert.equal(ev.source?.ip, attacker);
      assert.equal(ev.source?.port, i < 8 ? 40022 + i : 40030);
      assert.equal(ev.user?.name, 'alice');
      assert.equal(ev.event.action, 'ssh-login');
      assert.equal(ev.event.outcome, i < 8 ? 'failure' : 'success');
      assert.equal(ev.event.original, want.message);
      assert.equal(ev.trailwatch?.input?.type, 'journal-upload');
      assert.match(ev.trailwatch?.input?.peer ?? '', /^127\.0\.0\.1:\d+$/);
      assert.equal(ev.log?.syslog?.facility?.code, 10);
      assert.equal(ev.log?.syslog?.severity?.code, 6);
      assert.equal(ev.journald?.pid, want.pid);
      assert.equal(ev.journald?.uid, 0);
      assert.equal(ev.journald?.process?.name, 'sshd');
      assert.equal(ev.journald?.host?.boot_id, '5f0c1e2d3b4a59687766554433221100');
      assert.match(ev.journald?.cursor ?? '', /^s=[0-9a-f]{32};i=[0-9a-f]+;b=5f0c1e2d3b4a59687766554433221100;/, 'journald.cursor is the entry cursor');
      assert.equal(ev.systemd?.transport, 'syslog');
      assert.ok(!ev.tags?.includes('log_spoofing_suspected') && !ev.tags?.includes('unparsed'), `no warning tags: ${ev.tags}`);
    }
    assert.equal(byMessage.get(entries[8].message)!.journald?.cursor, cursor, "the uploader's saved cursor is the last entry's");
  });

  it('raises the default pack alerts for the attack, the same ones `trailwatch replay` gives for the auth.log lines', async () => {
    const expected = ['login-success-after-failures-source', 'login-success-after-failures-user', 'ssh-failed-login-burst'];
    const alerts = await waitFor(() => {
      const a = tw.alerts();
      return expected.every((id) => a.some((x) => x.rule.id === id)) ? a : undefined;
    }, { timeoutMs: WAIT, what: `alerts ${expected.join(', ')}; have ${tw.alerts().map((a) => a.rule.id)}` });
    assert.deepEqual([...new Set(alerts.map((a) => a.rule.id))].sort(), expected);
    const ids = new Set(tw.events().map((e) => e.event.id));
    for (const a of alerts) {
      assert.equal(a.source?.ip, attacker, `${a.rule.id} names the attacker`);
      assert.ok(a.trailwatch.alert.events.length >= 6, `${a.rule.id} cites its events`);
      for (const id of a.trailwatch.alert.events) assert.ok(ids.has(id), `${a.rule.id} cites journal event ${id}`);
    }

    // The same lines as a syslog daemon writes them: the same rules fire.
    const authLog = join(tmp.dir, 'auth.log');
    writeFileSync(authLog, entries.map(authLogLine).join('\n') + '\n');
    const { stdout } = await run(process.execPath, [CLI, 'replay', authLog, '--alerts-only'], { maxBuffer: 16 * 1024 * 1024 });
    const replayed = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Alert);
    assert.deepEqual([...new Set(replayed.map((a) => a.rule.id))].sort(), expected, 'replay of the auth.log form raises the same alerts');
    assert.equal(alerts.length, replayed.length, `as many alerts live (${alerts.map((a) => a.rule.id)}) as replayed (${replayed.map((a) => a.rule.id)})`);
  });
});

describe('ingest > journal > resuming from the saved cursor, and an uploader killed mid-upload', () => {
  const tmp = tempDir('tw-journal-resume-');
  let tw: Trailwatch;

  before(async () => {
    tw = await startTrailwatch(tmp.dir, {});
  });
  after(async () => {
    await tw?.stop();
    tmp.cleanup();
  });

  const job = (i: number, t0: number, host = 'batch1'): SyslogEntry => ({
    host, realtimeUs: t0 + i * 1000, monotonicUs: 7_000_000 + i * 1000, ident: 'backup', pid: 900, facility: 3, uid: 34, message: `backup chunk ${i} written`,
  });

  it('a second run with the same state file sends only what is new (plus at most the entry at the saved cursor, same id)', async () => {
    const dir = join(tmp.dir, 'j-resume');
    mkdirSync(dir);
    const state = join(tmp.dir, 'resume.state');
    const t0 = micros(60_000);
    const first = [0, 1, 2].map((i) => job(i, t0));
    const second = [3, 4, 5, 6].map((i) => job(i, t0));
    await makeJournal(dir, 'part1', first.map((e) => exportEntry(syslogFields(e))));

    const r1 = await upload(uploadArgs(tw.journalPort, dir, state));
    assert.equal(r1.code, 0, r1.stderr);
    assert.equal(await tw.metric(RECEIVED), 3, 'first run: the three entries');
    const cursor1 = savedCursor(state);
    assert.ok(cursor1);

    // The journal grows: a second file in the same directory, later entries.
    await makeJournal(dir, 'part2', second.map((e) => exportEntry(syslogFields(e))));
    const r2 = await upload(uploadArgs(tw.journalPort, dir, state));
    assert.equal(r2.code, 0, r2.stderr);
    const sent2 = (await tw.metric(RECEIVED)) - 3;
    // systemd-journal-upload 252 sends the entry at its saved cursor again
    // when it starts (it seeks to the cursor and uploads from there): allowed,
    // as it has the same event.id; any other old entry sent again is not.
    assert.ok(sent2 === 4 || sent2 === 5, `second run sent ${sent2} entries; want the 4 new ones (+1 for the cursor entry)`);
    const cursor2 = savedCursor(state);
    assert.notEqual(cursor2, cursor1, 'the saved cursor moved on');

    const all = [...first, ...second];
    const events = await waitFor(() => {
      const e = tw.events().filter((x) => x.host?.name === 'batch1');
      return e.length >= 3 + sent2 ? e : undefined;
    }, { timeoutMs: WAIT, what: 'the second run in data/events' });
    assert.equal(events.length, 3 + sent2);
    const copies = new Map<string, TwEvent[]>();
    for (const e of events) copies.set(e.message!, [...(copies.get(e.message!) ?? []), e]);
    for (const e of all) assert.ok(copies.has(e.message), `stored: ${e.message}`);
    for (const [msg, list] of copies) {
      const allowed: number = msg === first[2].message && sent2 === 5 ? 2 : 1;
      assert.equal(list.length, allowed, `"${msg}" stored ${list.length} times`);
      assert.equal(new Set(list.map((e) => e.event.id)).size, 1, `"${msg}": every copy has the same event.id`);
    }
    assert.equal(new Set(events.map((e) => e.event.id)).size, all.length, 'one id per entry');
    assert.equal(copies.get(second[3].message)![0].journald?.cursor, cursor2, 'saved cursor = last entry');

    // Nothing new: nothing but (at most) the cursor entry again.
    const r3 = await upload(uploadArgs(tw.journalPort, dir, state));
    assert.equal(r3.code, 0, r3.stderr);
    const sent3 = (await tw.metric(RECEIVED)) - 3 - sent2;
    assert.ok(sent3 <= 1, `a run with nothing new sent ${sent3} entries`);
  });

  it('SIGKILL mid-upload of 100k entries, run again with the same state file: every entry stored, one id each', async (t) => {
    const N = 100_000;
    const dir = join(tmp.dir, 'j-big');
    mkdirSync(dir);
    const state = join(tmp.dir, 'big.state');
    const t0 = micros(30_000);
    const parts: Buffer[] = [];
    for (let i = 0; i < N; i++)
      parts.push(exportEntry(syslogFields({ host: 'bulk1', realtimeUs: t0 + i, monotonicUs: 9_000_000 + i, ident: 'worker', pid: 77, comm: 'worker', facility: 3, uid: 1000, message: `job ${i} done` })));
    await makeJournal(dir, 'big', parts);
    parts.length = 0;

    const base = await tw.metric(RECEIVED);
    const u = startUpload(uploadArgs(tw.journalPort, dir, state));
    let atKill = 0;
    try {
      atKill = await waitFor(async () => {
        if (u.child.exitCode !== null) throw new Error('uploader exited before it could be killed');
        const n = (await tw.metric(RECEIVED)) - base;
        return n >= 5000 ? n : undefined;
      }, { timeoutMs: 60_000, intervalMs: 20, what: '5000 entries received before the kill' });
    } finally {
      u.child.kill('SIGKILL');
    }
    const killed = await u.done;
    assert.equal(killed.signal, 'SIGKILL', `the uploader was killed mid-upload, not finished (exit ${killed.code})`);
    assert.ok(atKill < N, `killed after ${atKill} of ${N}`);
    await waitFor(async () => (await tw.metric('trailwatch_journal_requests_total', { outcome: 'aborted' })) === 1, { timeoutMs: WAIT, what: 'the cut upload counted as aborted' });
    const beforeRerun = (await tw.metric(RECEIVED)) - base;
    assert.ok(beforeRerun < N, `only part of the journal arrived before the kill (${beforeRerun})`);

    const again = await upload(uploadArgs(tw.journalPort, dir, state));
    assert.equal(again.code, 0, `second run: ${again.stderr}`);
    assert.ok(savedCursor(state), 'cursor saved after the complete upload');
    const total = await tw.metric(RECEIVED);
    assert.ok(total - base >= N, `received ${total - base} entries in both runs`);

    // Every received entry is an event on disk (the 202 came after the bus took them all).
    await waitFor(() => countLines(join(tw.dataDir, 'events')) >= total, { timeoutMs: 60_000, intervalMs: 250, what: `${total} lines in data/events` });
    const idsOf = new Map<string, Set<string>>();
    const cursorOf = new Map<string, string>();
    let lines = 0;
    scanNdjson<TwEvent>(join(tw.dataDir, 'events'), (e) => {
      if (e.host?.name !== 'bulk1') return;
      lines++;
      let s = idsOf.get(e.message!);
      if (!s) idsOf.set(e.message!, (s = new Set()));
      s.add(e.event.id);
      const c = cursorOf.get(e.event.id);
      assert.ok(c === undefined || c === e.journald?.cursor, `id ${e.event.id} names one cursor`);
      cursorOf.set(e.event.id, e.journald!.cursor!);
    });
    const missing: number[] = [];
    for (let i = 0; i < N; i++) if (!idsOf.has(`job ${i} done`)) missing.push(i);
    assert.deepEqual(missing.slice(0, 20), [], `${missing.length} entries missing after the rerun`);
    const multi = [...idsOf].filter(([, s]) => s.size !== 1);
    assert.deepEqual(multi.slice(0, 5), [], 'copies of one entry share one event.id');
    assert.equal(cursorOf.size, N, 'distinct ids = entries');
    const duplicates = lines - N;
    t.diagnostic(`killed after ${atKill} entries; ${lines} bulk1 events for ${N} entries: ${duplicates} duplicate copies (at-least-once)`);
    assert.ok(duplicates >= 0 && duplicates <= beforeRerun, `${duplicates} duplicates (killed after ${beforeRerun} received): at most one copy per entry sent before the kill`);
  });
});

describe('ingest > journal > HTTPS with client certificates', () => {
  const tmp = tempDir('tw-journal-tls-');
  let tw: Trailwatch;
  const p = (f: string) => join(tmp.dir, f);

  async function makeCerts(): Promise<void> {
    const o = (args: string[]) => run('openssl', args, { cwd: tmp.dir });
    for (const ca of ['ca', 'other-ca'])
      await o(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=trailwatch journal test ${ca}`, '-keyout', `${ca}.key`, '-out', `${ca}.pem`]);
    for (const [name, ca, cn, ext] of [
      ['server', 'ca', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'],
      ['client', 'ca', 'web1.test', 'subjectAltName=DNS:web1.test\nextendedKeyUsage=clientAuth'],
      ['rogue', 'other-ca', 'web1.test', 'subjectAltName=DNS:web1.test\nextendedKeyUsage=clientAuth'],
    ]) {
      writeFileSync(p(`${name}.ext`), ext + '\n');
      await o(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
      await o(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
    }
  }

  const entry = (host: string, i: number, message: string) =>
    exportEntry(syslogFields({ host, realtimeUs: micros(10_000) + i, monotonicUs: 3_000_000 + i, ident: 'sshd', pid: 600 + i, message }));

  before(async () => {
    await makeCerts();
    tw = await startTrailwatch(tmp.dir, { tls: { enabled: true, cert: p('server.pem'), key: p('server.key'), ca: p('ca.pem'), require_client_cert: true } });
    for (const d of ['j-good', 'j-rogue', 'j-late']) mkdirSync(p(d));
    await makeJournal(p('j-good'), 'good', [entry('tlshost', 0, 'Accepted publickey for deploy from 198.51.100.23 port 51000 ssh2: ED25519 SHA256:Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0MTIzNA')]);
    await makeJournal(p('j-rogue'), 'rogue', [entry('roguehost', 1, 'Accepted password for root from 203.0.113.66 port 2222 ssh2')]);
    await makeJournal(p('j-late'), 'late', [entry('tlshost', 2, 'Disconnected from user deploy 198.51.100.23 port 51000')]);
  });
  after(async () => {
    await tw?.stop();
    tmp.cleanup();
  });

  const tlsArgs = (dir: string, state: string, cert: string) => [
    ...uploadArgs(tw.journalPort, p(dir), p(state), 'https'), `--key=${p(`${cert}.key`)}`, `--cert=${p(`${cert}.pem`)}`, `--trust=${p('ca.pem')}`,
  ];

  it('takes an upload from systemd-journal-upload with a client certificate the CA signed', async () => {
    assert.match(tw.logs(), new RegExp(`"journalPort":${tw.journalPort},"tls":true`));
    const r = await upload(tlsArgs('j-good', 'good.state', 'client'));
    assert.equal(r.code, 0, `upload over HTTPS failed: ${r.stderr}`);
    assert.ok(savedCursor(p('good.state')));
    const ev = await waitFor(() => tw.events().find((e) => e.host?.name === 'tlshost'), { timeoutMs: WAIT, what: 'the HTTPS upload in data/events' });
    assert.equal(ev.event.action, 'ssh-login');
    assert.equal(ev.user?.name, 'deploy');
    assert.equal(ev.trailwatch?.input?.type, 'journal-upload');
  });

  it('refuses an uploader with a certificate from another CA, and a client with none; stores nothing of theirs', async () => {
    const before = await tw.metric(RECEIVED);
    const r = await upload(tlsArgs('j-rogue', 'rogue.state', 'rogue'));
    assert.notEqual(r.code, 0, 'an uploader with a certificate from another CA must fail');
    assert.equal(savedCursor(p('rogue.state')), undefined, 'no cursor saved: nothing was accepted');

    // No certificate at all (systemd-journal-upload always sends one over https; node:https can leave it out).
    const body = entry('roguehost', 3, 'Accepted password for root from 203.0.113.67 port 2223 ssh2');
    const outcome = await new Promise<string>((resolve) => {
      const req = httpsRequest({ host: '127.0.0.1', port: tw.journalPort, path: '/upload', method: 'POST', ca: readFileSync(p('ca.pem')), headers: { 'content-type': EXPORT_TYPE } }, (res) => {
        res.resume();
        resolve(`HTTP ${res.statusCode}`);
      });
      req.on('error', (err) => resolve(`error: ${err.message}`));
      req.end(body);
    });
    assert.match(outcome, /^error: /, `a client without a certificate must not get a reply, got ${outcome}`);

    // A later good upload lands: whatever the refused ones sent would be there before it.
    const late = await upload(tlsArgs('j-late', 'late.state', 'client'));
    assert.equal(late.code, 0, late.stderr);
    await waitFor(() => tw.events().some((e) => e.message?.startsWith('Disconnected from user deploy')), { timeoutMs: WAIT, what: 'the later good upload' });
    assert.deepEqual(tw.events().filter((e) => e.host?.name === 'roguehost').map((e) => e.message), [], 'nothing stored from refused clients');
    assert.equal((await tw.metric(RECEIVED)) - before, 1, 'only the good upload counted');
  });
});

describe('ingest > journal > bad input over plain HTTP', () => {
  const tmp = tempDir('tw-journal-bad-');
  let tw: Trailwatch;
  const seen = () => tw.events();
  const waitMessage = (pred: (e: TwEvent) => boolean, what: string) => waitFor(() => seen().find(pred), { timeoutMs: WAIT, what });
  let n = 0;
  const entry = (host: string, message: string | Buffer, extra: Record<string, string> = {}) =>
    exportEntry({ ...syslogFields({ host, realtimeUs: micros(5_000) + n, monotonicUs: 1_000_000 + n++, ident: 'app', pid: 1234, message: '' }), MESSAGE: message, ...extra });

  before(async () => {
    tw = await startTrailwatch(tmp.dir, { max_field_bytes: 1024 });
  });
  after(async () => {
    await tw?.stop();
    tmp.cleanup();
  });

  it('answers 415 to another Content-Type and stores nothing of it', async () => {
    const body = entry('ct-host', 'sent as text/plain');
    for (const type of ['text/plain', 'application/json', null]) {
      const res = await postChunked(tw.journalPort, body, type);
      assert.equal(res.status, 415, `Content-Type ${type}`);
      assert.match(res.text, /application\/vnd\.fdo\.journal/);
    }
    const ok = await postChunked(tw.journalPort, entry('ct-host', 'sent as the journal type'), 'application/vnd.fdo.journal; charset=utf-8');
    assert.equal(ok.status, 202);
    assert.equal(ok.text, 'OK.\n');
    await waitMessage((e) => e.message === 'sent as the journal type', 'the good upload');
    assert.deepEqual(seen().filter((e) => e.message === 'sent as text/plain'), [], 'the 415 bodies are not stored');
    assert.equal(await tw.metric('trailwatch_journal_requests_total', { outcome: 'bad_content_type' }), 3);
  });

  it('keeps a broken middle entry as one "unparsed" event with its text (400 naming it); the entries around it are events', async () => {
    const unparsed0 = await tw.metric('trailwatch_journal_unparsed_entries_total');
    const received0 = await tw.metric(RECEIVED);
    const bad = Buffer.from('MESSAGE=the broken one\n_HOSTNAME=brk-host\nbad-field=lower case and a dash\nSYSLOG_IDENTIFIER=app\n\n');
    const res = await postChunked(tw.journalPort, [entry('brk-host', 'good before'), bad, entry('brk-host', 'good after')]);
    // src/ingest/journal/index.ts (8a9ad5e): a body that breaks the format gets 400 naming the entries, which are still kept.
    assert.equal(res.status, 400, `reply: ${res.text}`);
    assert.match(res.text, /entry 2: bad field name "bad-field"/);
    const broken = await waitMessage((e) => !!e.tags?.includes('unparsed') && !!e.event.original?.includes('bad-field='), 'the unparsed event');
    const good = await waitFor(() => {
      const g = seen().filter((e) => e.host?.name === 'brk-host');
      return g.length >= 2 ? g : undefined;
    }, { timeoutMs: WAIT, what: 'the two good entries' });
    assert.deepEqual(good.map((e) => e.message).sort(), ['good after', 'good before']);
    assert.ok(broken.event.original!.includes('MESSAGE=the broken one'), `event.original holds the entry text: ${broken.event.original}`);
    assert.ok(broken.event.original!.includes('bad-field=lower case and a dash'));
    assert.equal(broken.trailwatch?.input?.type, 'journal-upload');
    assert.match(String(broken.trailwatch?.error), /bad field name/);
    assert.equal(seen().filter((e) => e.tags?.includes('unparsed')).length, 1, 'exactly one unparsed event');
    assert.equal((await tw.metric('trailwatch_journal_unparsed_entries_total')) - unparsed0, 1);
    assert.equal((await tw.metric(RECEIVED)) - received0, 3);
    assert.equal(await tw.metric('trailwatch_journal_requests_total', { outcome: 'malformed' }), 1);

    // Sent again (an uploader retrying): the broken entry is the same document.
    const again = await postChunked(tw.journalPort, [entry('brk-host', 'good before, again'), bad]);
    assert.equal(again.status, 400);
    const copies = await waitFor(() => {
      const u = seen().filter((e) => e.tags?.includes('unparsed'));
      return u.length >= 2 ? u : undefined;
    }, { timeoutMs: WAIT, what: 'the second copy of the broken entry' });
    assert.equal(copies[1].event.id, copies[0].event.id, 'the same broken bytes from the same peer host get the same event.id');
  });

  it('decodes binary fields (a MESSAGE with a newline), whatever the chunking', async () => {
    const msg = 'first line of a binary message\nsecond line, after the newline';
    const body = Buffer.concat([entry('bin-host', Buffer.from(msg)), entry('bin-host', 'text after binary')]);
    assert.equal(body.indexOf('MESSAGE\n'), body.indexOf('MESSAGE'), 'the test body holds a binary MESSAGE field');
    assert.equal((await postChunked(tw.journalPort, body)).status, 202);
    // and again cut into 7-byte chunks, so sizes and data straddle chunk boundaries
    const body2 = entry('bin-host2', Buffer.from(msg.replace('first', 'chunked')));
    const pieces: Buffer[] = [];
    for (let i = 0; i < body2.length; i += 7) pieces.push(body2.subarray(i, i + 7));
    assert.equal((await postChunked(tw.journalPort, pieces)).status, 202);
    const ev = await waitMessage((e) => e.host?.name === 'bin-host' && e.message!.startsWith('first line'), 'the binary entry');
    assert.equal(ev.message, msg);
    assert.equal(ev.event.original, msg);
    assert.ok(!ev.tags?.includes('unparsed'), `tags ${ev.tags}`);
    await waitMessage((e) => e.message === 'text after binary', 'the entry after the binary one');
    const ev2 = await waitMessage((e) => e.host?.name === 'bin-host2', 'the chunked binary entry');
    assert.equal(ev2.message, msg.replace('first', 'chunked'));
  });

  it('cuts a binary field over journal.max_field_bytes (1024), tags it "truncated", and reads on', async () => {
    const t0 = await tw.metric('trailwatch_journal_truncated_entries_total');
    const big = Buffer.alloc(5000, 'B');
    const res = await postChunked(tw.journalPort, [entry('trunc-bin', big), entry('trunc-bin', 'after the long binary field')]);
    assert.equal(res.status, 202);
    const ev = await waitMessage((e) => e.host?.name === 'trunc-bin' && e.message!.startsWith('BBB'), 'the truncated binary entry');
    assert.equal(ev.message, 'B'.repeat(1024));
    assert.ok(ev.tags?.includes('truncated'), `tags ${ev.tags}`);
    const next = await waitMessage((e) => e.host?.name === 'trunc-bin' && e.message === 'after the long binary field', 'the entry after it');
    assert.ok(!next.tags?.includes('truncated'));
    assert.equal((await tw.metric('trailwatch_journal_truncated_entries_total')) - t0, 1);
  });

  it('cuts a text field over journal.max_field_bytes (1024) and tags it "truncated"', async () => {
    const t0 = await tw.metric('trailwatch_journal_truncated_entries_total');
    const long = 'T'.repeat(3000);
    // One write: the whole field (with its newline) reaches the receiver in one chunk, as a short body usually does.
    const res = await postChunked(tw.journalPort, Buffer.concat([entry('trunc-text', long), entry('trunc-text', 'after the long text field')]));
    assert.equal(res.status, 202);
    const ev = await waitMessage((e) => e.host?.name === 'trunc-text' && e.message!.startsWith('TTT'), 'the long text entry');
    await waitMessage((e) => e.host?.name === 'trunc-text' && e.message === 'after the long text field', 'the entry after it');
    assert.equal(ev.message!.length, 1024, `RECEIVER BUG: a ${long.length}-byte text field MESSAGE=… arriving in one chunk must be cut to max_field_bytes=1024, got ${ev.message!.length} bytes`);
    assert.ok(ev.tags?.includes('truncated'), `RECEIVER BUG: the over-long text field is not tagged truncated (tags ${JSON.stringify(ev.tags)})`);
    assert.equal((await tw.metric('trailwatch_journal_truncated_entries_total')) - t0, 1, 'RECEIVER BUG: truncated_entries_total not counted');
  });

  const spoofed = { ident: 'sshd', comm: 'logger', exe: '/usr/bin/logger', message: 'Accepted password for root from 203.0.113.9 port 22 ssh2' };
  const spoofBody = () =>
    Buffer.concat([
      exportEntry(syslogFields({ host: 'spoof-host', realtimeUs: micros(2_000), monotonicUs: 2_000_000, pid: 4321, uid: 1000, ...spoofed })),
      // the real thing, from OpenSSH 9.8+'s per-session binary
      exportEntry(syslogFields({ host: 'spoof-host', realtimeUs: micros(1_000), monotonicUs: 2_000_100, ident: 'sshd', comm: 'sshd-session', exe: '/usr/lib/openssh/sshd-session', pid: 4400,
        message: 'Accepted publickey for bob from 198.51.100.20 port 50222 ssh2: ED25519 SHA256:YmFyYmF6cXV4Zm9vY29yZ2VncmF1bHRxdXV4MTIzNDU' })),
    ]);
  let spoofEv: TwEvent | undefined;

  it('tags an entry claiming to be sshd but written by logger log_spoofing_suspected, and the rule alerts', async () => {
    assert.equal((await postChunked(tw.journalPort, spoofBody())).status, 202);
    spoofEv = await waitMessage((e) => e.host?.name === 'spoof-host' && e.message === spoofed.message, 'the spoofed entry');
    const real = await waitMessage((e) => e.host?.name === 'spoof-host' && e.message!.startsWith('Accepted publickey for bob'), 'the genuine entry');
    assert.ok(spoofEv.tags?.includes('log_spoofing_suspected'), `tags ${spoofEv.tags}`);
    assert.deepEqual(spoofEv.trailwatch?.spoofing, { claimed: 'sshd', writer: 'logger', executable: '/usr/bin/logger' });
    assert.equal(spoofEv.journald?.process?.name, 'logger');
    assert.deepEqual(spoofEv.process, { name: 'logger', pid: 4321 }, 'process is the real writer');
    assert.equal(spoofEv.log?.syslog?.appname, 'sshd', 'the claimed identifier is still visible');
    assert.ok(!real.tags?.includes('log_spoofing_suspected'), `sshd-session writing as sshd is genuine: ${real.tags}`);
    assert.equal(real.event.outcome, 'success');
    const alert = await waitFor(() => tw.alerts().find((a) => a.rule.id === 'log-spoofing-suspected'), { timeoutMs: WAIT, what: 'the log-spoofing-suspected alert' });
    assert.equal(alert.host?.name, 'spoof-host');
    assert.deepEqual(alert.trailwatch.alert.events, [spoofEv.event.id]);
  });

  it('does not count the forged line as a login (README: "is not counted as a login or command")', async () => {
    assert.ok(spoofEv, 'the previous test stored the spoofed event');
    await waitFor(() => tw.alerts().find((a) => a.rule.id === 'log-spoofing-suspected'), { timeoutMs: WAIT, what: 'the log-spoofing-suspected alert' });
    assert.notEqual(spoofEv.event.outcome, 'success', `RECEIVER BUG: the forged "${spoofed.message}" (SYSLOG_IDENTIFIER=sshd, _COMM=logger) was decoded as a login: event.action=${spoofEv.event.action}, outcome=${spoofEv.event.outcome}, process.name=${spoofEv.process?.name}`);
    const rootLogin = tw.alerts().filter((a) => a.rule.id === 'ssh-root-login-success' && a.source?.ip === '203.0.113.9');
    assert.deepEqual(rootLogin.map((a) => a.rule.id), [], 'RECEIVER BUG: the forged line raised ssh-root-login-success for 203.0.113.9');
  });
});
