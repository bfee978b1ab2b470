// The embedded store on a real SQLite file, through its writer thread:
// events once each (redelivery), free text, alerts whose status survives
// their updates, status history, retention by age and by size.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/config.js';
import type { TwEvent } from '../src/event.js';
import { changeAlertStatus, retainStore, StoreReader, StoreWriter, storePath } from '../src/store/index.js';
import { RotatingNdjson } from '../src/sinks/file.js';
import { stageFactories } from '../src/registry.js';
import type { IndexProgress } from '../src/store/writer.js';
import { tempDir } from './helpers.js';

const tmp = tempDir('tw-store-');
after(() => tmp.cleanup());

/** An sshd failure as the decoders make it (message from OpenSSH's "Failed %s for %s%.100s from %.200s port %d ssh2"). */
function failure(i: number, at: number, user = `u${i % 5}`, ip = `198.51.100.${i % 9}`): TwEvent {
  const message = `Failed password for invalid user ${user} from ${ip} port ${40000 + i} ssh2`;
  return {
    '@timestamp': new Date(at).toISOString(),
    event: { id: `ev-${i}`, kind: 'event', action: 'ssh_login', outcome: 'failure', original: `<38>Dec  7 10:00:00 web-${i % 3} sshd[${900 + i}]: ${message}` },
    host: { name: `web-${i % 3}` },
    user: { name: user },
    source: { ip, port: 40000 + i },
    message,
  } as TwEvent;
}

function alert(id: string, at: number, count: number): TwEvent {
  return {
    '@timestamp': new Date(at).toISOString(),
    event: { id, kind: 'alert', severity: 73 },
    rule: { id: 'ssh-brute-force', name: 'SSH brute force' },
    source: { ip: '198.51.100.4' },
    message: `SSH brute force: ${count} failures`,
    trailwatch: { alert: { severity: 'high', group: { 'source.ip': '198.51.100.4' }, events: ['ev-4', 'ev-13'], count, first_seen: new Date(at).toISOString(), last_seen: new Date(at).toISOString() } },
  } as TwEvent;
}

const config = (name: string, store: Record<string, unknown> = {}) => loadConfig({ env: {}, overrides: { data_dir: join(tmp.dir, name), store: { enabled: true, ...store } } });
const fts = (word: string) => ({ where: 'e.rowid IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)', params: [`"${word}"`] });

describe('store > SQLite, written on its own thread', () => {
  it('keeps each event once however often it is delivered, finds it by field and by word, newest first', async () => {
    const cfg = config('basic');
    const path = storePath(cfg);
    const reader = new StoreReader(path);
    assert.deepEqual(reader.alerts({}), [], 'nothing yet, and no error, before the writer made the file');
    const w = new StoreWriter(path);
    await w.open();
    const t0 = Date.parse('2026-12-07T10:00:00Z');
    const events = Array.from({ length: 40 }, (_, i) => failure(i, t0 + i * 1000));
    assert.equal((await w.write('event', events)).inserted, 40);
    assert.equal((await w.write('event', events.slice(10, 20))).inserted, 0, 'a redelivered batch adds nothing');
    const all = reader.search({ where: '1=1', params: [] }, {});
    assert.equal(all.total, 40);
    assert.equal(all.events[0].event.id, 'ev-39', 'newest first');
    const byUser = reader.search({ where: 'user_name = ?', params: ['u3'] }, {});
    assert.deepEqual(byUser.events.map((e) => e.event.id).sort(), events.filter((e) => e.user?.name === 'u3').map((e) => e.event.id).sort());
    // Free text over message and the original line: the port number is only there.
    assert.deepEqual(reader.search(fts('40007'), {}).events.map((e) => e.event.id), ['ev-7']);
    assert.equal(reader.search(fts('sshd'), {}).total, 40, 'the original syslog line is indexed too');
    const ranged = reader.search({ where: '1=1', params: [] }, { from: new Date(t0 + 5000), to: new Date(t0 + 9000) });
    assert.deepEqual(ranged.events.map((e) => e.event.id), ['ev-9', 'ev-8', 'ev-7', 'ev-6', 'ev-5']);
    const hist = reader.histogram({ where: '1=1', params: [] }, new Date(t0), new Date(t0 + 39_000), 4);
    assert.equal(hist.reduce((s, b) => s + b.count, 0), 40);
    assert.deepEqual(reader.eventsByIds(['ev-2', 'ev-1', 'nope']).map((e) => e.event.id), ['ev-1', 'ev-2']);
    await w.close();
    reader.close();
  });

  it('an alert updated by its rule keeps its triage status; status changes are kept with who, when and the note', async () => {
    const cfg = config('alerts');
    const path = storePath(cfg);
    const w = new StoreWriter(path);
    await w.open();
    const t0 = Date.parse('2026-12-07T11:00:00Z');
    await w.write('alert', [alert('a-1', t0, 5), alert('a-2', t0 + 1000, 7)]);
    await w.close();
    // No writer in this process now: the console run alone writes with one of its own.
    const changed = await changeAlertStatus(cfg, ['a-1', 'missing'], 'acknowledged', 'dana', 'looking into it');
    assert.deepEqual(changed, [{ id: 'a-1', from: 'new', to: 'acknowledged', rule_id: 'ssh-brute-force' }]);
    await changeAlertStatus(cfg, ['a-1'], 'resolved', 'erin');
    const w2 = new StoreWriter(path);
    await w2.open();
    await w2.write('alert', [alert('a-1', t0, 9)]);
    await w2.close();
    const reader = new StoreReader(path);
    const a1 = reader.alert('a-1')!;
    assert.equal(a1.status, 'resolved');
    assert.equal(a1.status_by, 'erin');
    assert.equal(a1.alert.trailwatch.alert.count, 9, 'the newer copy of the alert');
    assert.deepEqual(a1.history.map((h) => [h.by, h.status, h.note]), [['dana', 'acknowledged', 'looking into it'], ['erin', 'resolved', undefined]]);
    assert.deepEqual(reader.alerts({}).map((a) => a.alert.event.id), ['a-2', 'a-1'], 'newest first');
    assert.deepEqual(reader.alerts({ status: 'new' }).map((a) => a.alert.event.id), ['a-2']);
    assert.deepEqual(reader.alerts({ rule: 'other' }), []);
    await assert.rejects(changeAlertStatus(cfg, ['a-2'], 'bogus' as never, 'dana'), /unknown status/);
    reader.close();
  });

  it('retention: rows older than retention_days go, with their free-text entries; past max_bytes the oldest events go', async () => {
    const cfg = config('retain', { retention_days: 7, max_bytes: 1024 * 1024 });
    const path = storePath(cfg);
    const w = new StoreWriter(path);
    await w.open();
    const now = Date.parse('2026-12-07T12:00:00Z');
    const old = Array.from({ length: 30 }, (_, i) => failure(i, now - 10 * 86_400_000 + i));
    const fresh = Array.from({ length: 30 }, (_, i) => failure(100 + i, now - 3600_000 + i));
    await w.write('event', [...old, ...fresh]);
    await w.write('alert', [alert('old', now - 9 * 86_400_000, 1), alert('new', now - 1000, 1)]);
    await w.close();
    assert.deepEqual(await retainStore(cfg, now), { events: 30, alerts: 1 });
    const reader = new StoreReader(path);
    assert.equal(reader.search({ where: '1=1', params: [] }, {}).total, 30);
    assert.equal(reader.search(fts('40005'), {}).total, 0, 'the free-text entry went with its event');
    assert.deepEqual(reader.alerts({}).map((a) => a.alert.event.id), ['new']);
    reader.close();
    // Size: about 3 MiB of events into a 1 MiB store.
    const w2 = new StoreWriter(path);
    await w2.open();
    for (let b = 0; b < 10; b++) {
      const batch = Array.from({ length: 1000 }, (_, i) => failure(1000 + b * 1000 + i, now + b * 1000 + i));
      await w2.write('event', batch);
    }
    const r = await w2.request({ op: 'retain', cutoffMs: null, maxBytes: cfg.store.max_bytes });
    assert.ok(r.deleted!.events > 0);
    assert.ok(r.bytes! <= cfg.store.max_bytes, `${r.bytes} live bytes`);
    await w2.close();
    const reader2 = new StoreReader(path);
    const left = reader2.search({ where: '1=1', params: [] }, {}, 1000);
    assert.ok(left.total > 0 && left.total < 10_030);
    assert.equal(left.events[0].event.id, 'ev-10999', 'the newest stay');
    reader2.close();
  });

  it('on a full disk a batch fails whole and retriable, and is written whole once space returns', { skip: process.getuid?.() === 0 ? false : 'needs root to mount a tmpfs' }, async () => {
    const { execFileSync } = await import('node:child_process');
    const { mkdirSync, rmSync, statfsSync, writeFileSync } = await import('node:fs');
    const mnt = join(tmp.dir, 'tiny');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
    try {
      const w = new StoreWriter(join(mnt, 'store.db'));
      await w.open();
      const fs = statfsSync(mnt);
      const filler = join(mnt, 'filler');
      writeFileSync(filler, Buffer.alloc(Number(fs.bavail) * fs.bsize - 64 * 1024));
      const t0 = Date.parse('2026-12-07T13:00:00Z');
      const batch = Array.from({ length: 2000 }, (_, i) => failure(5000 + i, t0 + i));
      const err = await w.write('event', batch).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(err, 'the batch did not fit');
      assert.match((err as Error).message, /full|SQLITE_FULL/i);
      assert.equal((err as { retriable?: boolean }).retriable, true, 'the bus holds the batch and retries');
      rmSync(filler);
      assert.equal((await w.write('event', batch)).inserted, 2000, 'nothing of the failed batch was left half-written');
      await w.close();
      const reader = new StoreReader(join(mnt, 'store.db'));
      assert.equal(reader.search({ where: '1=1', params: [] }, {}).total, 2000);
      reader.close();
    } finally {
      execFileSync('umount', ['-l', mnt]);
    }
  });

  it('a store path that cannot be a database is a clear error at open', async () => {
    const cfg = config('bad', { path: join(tmp.dir, 'no-such-dir-file') });
    // A directory where the database file should be.
    mkdirSync(storePath(cfg), { recursive: true });
    const w = new StoreWriter(storePath(cfg));
    await assert.rejects(w.open(), /directory|unable to open|SQLITE/i);
    await w.close();
    assert.ok(existsSync(storePath(cfg)));
  });
});

describe('store > events from the file sink\'s files', () => {
  const waitFor = async (what: string, ok: () => boolean, ms = 15_000) => {
    const until = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > until) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const total = (r: StoreReader) => r.search({ where: '1=1', params: [] }, {}).total;

  it('stores what is appended after it starts, across rolled files, and goes on from its place after an abrupt stop', async () => {
    const dir = join(tmp.dir, 'tail');
    const files = new RotatingNdjson(join(dir, 'events'), 'events', { max_file_bytes: 64 * 1024, fsync: false });
    const t0 = Date.parse('2026-12-07T10:00:00Z');
    await files.write([failure(1000, t0)]);
    const progress: IndexProgress[] = [];
    const index = { dir: join(dir, 'events'), nice: 0, progress: (p: IndexProgress) => progress.push(p) };
    const path = join(dir, 'store.db');
    let w = new StoreWriter(path, 'normal', index);
    await w.open();
    for (let b = 0; b < 10; b++) await files.write(Array.from({ length: 100 }, (_, i) => failure(b * 100 + i, t0 + b * 100 + i)));
    const reader = new StoreReader(path);
    await waitFor('the first 1000', () => total(reader) === 1000);
    assert.ok(readdirSync(join(dir, 'events')).length > 3, 'the files rolled over');
    assert.equal(reader.eventsByIds(['ev-1000']).length, 0, 'what was in the files before the store started is not stored');
    assert.equal(progress.reduce((s, p) => s + p.events, 0), 1000, 'progress counts each stored event once');
    assert.equal(progress.at(-1)!.lagBytes, 0);
    // Stopped without a close (as a kill would), with more written while it is down.
    await w.terminate();
    // The file sink restarted too: it goes on in the day's highest-numbered file, which the store reads last.
    await files.close();
    const newest = Math.max(...readdirSync(join(dir, 'events')).map((f) => Number(/\.(\d+)\.ndjson$/.exec(f)?.[1] ?? 0)));
    const again = new RotatingNdjson(join(dir, 'events'), 'events', { max_file_bytes: 64 * 1024, fsync: false });
    await again.write([failure(5000, t0)]);
    assert.match(again.path(), new RegExp(`\\.(${newest}|${newest + 1})\\.ndjson$`));
    for (let b = 10; b < 20; b++) await again.write(Array.from({ length: 100 }, (_, i) => failure(b * 100 + i, t0 + b * 100 + i)));
    w = new StoreWriter(path, 'normal', index);
    await w.open();
    await waitFor('all 2001', () => total(reader) === 2001);
    const ids = new Set(reader.search({ where: '1=1', params: [] }, {}, 1000).events.map((e) => e.event.id));
    assert.equal(ids.size, 1000, 'newest 1000 are distinct');
    assert.ok(ids.has('ev-1999') && ids.has('ev-1000'));
    assert.equal(reader.eventsByIds(['ev-5000']).length, 1, 'what the restarted file sink wrote first is stored');
    await w.close();
    await again.close();
    reader.close();
  });

  it('a line that is not an event is counted and skipped; a file cut back is read again from a line start, each event once', async () => {
    const dir = join(tmp.dir, 'torn');
    const events = join(dir, 'events');
    mkdirSync(events, { recursive: true });
    const file = join(events, 'events-2026-12-07.ndjson');
    writeFileSync(file, '');
    const progress: IndexProgress[] = [];
    const path = join(dir, 'store.db');
    const w = new StoreWriter(path, 'normal', { dir: events, nice: 0, progress: (p) => progress.push(p) });
    await w.open();
    const t0 = Date.parse('2026-12-07T10:00:00Z');
    const line = (i: number) => JSON.stringify(failure(i, t0 + i)) + '\n';
    // A torn record (a full disk), ended by the file sink with a newline, then whole ones.
    appendFileSync(file, line(0) + line(1).slice(0, 40) + '\n' + line(1) + '["not", "an object"]\n' + line(2));
    const reader = new StoreReader(path);
    await waitFor('three events', () => total(reader) === 3);
    await waitFor('two unreadable lines', () => progress.reduce((s, p) => s + p.unreadable, 0) === 2);
    // A batch [5, 6] whose write failed part-way: 5 is whole in the file (and may be stored), 6 is torn.
    const p = readFileSync(file, 'utf8').length;
    appendFileSync(file, line(5) + line(6).slice(0, 30));
    await waitFor('event 5', () => total(reader) === 4);
    // The file sink cuts it back and writes the batch again, and the next one.
    truncateSync(file, p);
    appendFileSync(file, line(5) + line(6) + line(7));
    await waitFor('events 6 and 7', () => total(reader) === 6);
    // The last line cut back and replaced by a longer one: the store's place is now inside it; it goes back to its start.
    const q = readFileSync(file, 'utf8').length - line(7).length;
    truncateSync(file, q);
    const long = JSON.stringify({ ...failure(8, t0 + 8), message: 'x'.repeat(500) }) + '\n';
    appendFileSync(file, long);
    await waitFor('event 8', () => total(reader) === 7);
    assert.deepEqual(reader.search({ where: '1=1', params: [] }, {}).events.map((e) => e.event.id), ['ev-8', 'ev-7', 'ev-6', 'ev-5', 'ev-2', 'ev-1', 'ev-0']);
    assert.equal(progress.reduce((s, p) => s + p.unreadable, 0), 2, 'no line read from its middle');
    await w.close();
    reader.close();
  });

  it('the store is on by default and follows the file sink; asked for without it, the config fails at load, naming the field', () => {
    const stages = (o: Record<string, unknown>) => stageFactories['sink.store'].embedded(loadConfig({ env: {}, overrides: { data_dir: tmp.dir, ...o } }));
    assert.equal(stages({}), true);
    assert.equal(stages({ sinks: { file: { enabled: false } } }), false, 'file sink off: no store, and no error');
    assert.equal(stages({ store: { enabled: false } }), false);
    assert.throws(() => loadConfig({ env: {}, overrides: { data_dir: tmp.dir, store: { enabled: true }, sinks: { file: { enabled: false } } } }), /store\.enabled: the store stores the events the file sink writes/);
  });
});
