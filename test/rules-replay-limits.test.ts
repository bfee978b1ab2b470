// `trailwatch replay` within bounded memory, whatever the input: a line over
// the limit is cut to it and tagged "truncated" as the live syslog receiver
// cuts it (its own Framer is the reference), the rest of the line is skipped
// without being kept, and what cannot be read any more (a cut NDJSON record,
// a broken journal export) is reported with the file, line and limit. The
// CLI runs as a child; its peak RSS comes from /usr/bin/time, else from
// polling /proc/<pid>/status VmHWM.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import type { TwEvent } from '../src/event.js';
import { cutUtf8, Framer } from '../src/ingest/syslog/framing.js';
import { eachLine } from '../src/rules/replay-input.js';
import { CHILD_ENV, CLI, ndjsonRecords, ROOT, tempDir } from './helpers.js';
import { failedLogin, T0 } from './rules/helpers.js';

const tmp = tempDir('tw-replay-limits-');
after(() => tmp.cleanup());
const MiB = 1024 * 1024;
const LIMIT = 64 * 1024; // syslog.max_message_bytes' default
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

interface Measured {
  code: number | null;
  stdout: string;
  stderr: string;
  peakKiB: number;
}

/** The CLI to its exit, with its peak RSS. */
function measured(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Measured> {
  const argv = [CLI, ...args];
  const [cmd, cmdArgs] = TIME ? [TIME, ['-f', 'TW_PEAK_KIB=%M', process.execPath, ...argv]] : [process.execPath, argv];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, cmdArgs, { env: { ...CHILD_ENV, ...process.env, ...env }, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let polled = 0;
    const poll = TIME
      ? undefined
      : setInterval(() => {
          try {
            const kib = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]);
            if (kib > polled) polled = kib;
          } catch {
            // exited between two polls
          }
        }, 10);
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(poll);
      const m = /TW_PEAK_KIB=(\d+)\n?$/.exec(stderr);
      if (m) stderr = stderr.slice(0, m.index);
      resolve({ code, stdout, stderr, peakKiB: m ? Number(m[1]) : polled });
    });
  });
}

// From OpenSSH's own format strings (auth.c, auth2.c, sshd.c).
const sshd = (sec: number, pid: number, msg: string) => `Mar  3 10:15:${String(sec).padStart(2, '0')} web1 sshd[${pid}]: ${msg}`;
const NORMAL_BEFORE = [
  ...Array.from({ length: 6 }, (_, i) => sshd(i, 5000 + i, `Failed password for root from 203.0.113.5 port ${5022 + i} ssh2`)),
  sshd(6, 5010, 'Invalid user oracle from 203.0.113.5 port 5100'),
  sshd(7, 5010, 'Failed password for invalid user oracle from 203.0.113.5 port 5100 ssh2'),
];
const NORMAL_AFTER = [
  sshd(9, 5020, 'Accepted password for root from 203.0.113.5 port 5200 ssh2'),
  sshd(10, 5021, 'Connection closed by authenticating user admin 198.51.100.20 port 40022 [preauth]'),
];
const LONG_HEAD = sshd(8, 5015, 'Invalid user ');

/** NORMAL_BEFORE, one line of `bytes` (an sshd header, then a user name of "A"s), NORMAL_AFTER. */
function withLongLine(name: string, bytes: number): string {
  const p = join(tmp.dir, name);
  writeFileSync(p, NORMAL_BEFORE.join('\n') + '\n' + LONG_HEAD);
  appendFileSync(p, Buffer.alloc(bytes - LONG_HEAD.length, 'A'));
  appendFileSync(p, '\n' + NORMAL_AFTER.join('\n') + '\n');
  return p;
}

const events = (stdout: string) => ndjsonRecords<TwEvent>(stdout);
/** What does not depend on the line number: the event without its id and sequence. */
const content = (e: TwEvent) => {
  const c = structuredClone(e);
  delete (c.event as { id?: string }).id;
  delete c.event.sequence;
  return c;
};

describe('rules > replay > limits > a 50 MB line between sshd lines', () => {
  it('is one event cut to exactly max bytes and tagged truncated; the others give their events and alerts; peak RSS does not follow the line', async () => {
    const control = join(tmp.dir, 'control.log');
    writeFileSync(control, [...NORMAL_BEFORE, ...NORMAL_AFTER].join('\n') + '\n');
    const big = withLongLine('fifty.log', 50 * MiB);
    const small = withLongLine('one.log', 1 * MiB);
    const c = await measured(['replay', control, '--year', '2024']);
    const r50 = await measured(['replay', big, '--year', '2024']);
    const r1 = await measured(['replay', small, '--year', '2024']);
    for (const r of [c, r50, r1]) assert.equal(r.code, 0, r.stderr);

    const out = events(r50.stdout);
    const evs = out.filter((e) => e.event.kind === 'event');
    assert.equal(evs.length, NORMAL_BEFORE.length + 1 + NORMAL_AFTER.length);
    const long = evs[NORMAL_BEFORE.length];
    assert.equal(long.event.sequence, NORMAL_BEFORE.length + 1);
    assert.ok(long.tags?.includes('truncated'), JSON.stringify(long.tags));
    const original = long.event.original!;
    assert.equal(Buffer.byteLength(original), LIMIT);
    assert.equal(original, LONG_HEAD + 'A'.repeat(LIMIT - LONG_HEAD.length));
    assert.equal(long.process?.name, 'sshd');
    assert.ok(original.endsWith(long.message!) && long.message!.startsWith('Invalid user AAAA'));
    assert.ok(evs.filter((e) => e !== long).every((e) => !e.tags?.includes('truncated')));

    // The normal lines: the same events and the same alerts as without the long line.
    const ctl = events(c.stdout);
    const ctlEvents = ctl.filter((e) => e.event.kind === 'event');
    assert.deepEqual(evs.filter((e) => e !== long).map(content), ctlEvents.map(content));
    assert.ok(ctlEvents.filter((e) => e.event.outcome === 'failure').length >= 7);
    const rules = (o: TwEvent[]) => o.filter((e) => e.event.kind === 'alert').map((a) => `${a.rule!.id} ${a.source?.ip ?? ''}`).sort();
    assert.ok(rules(ctl).length > 0, 'the control raises alerts');
    assert.deepEqual(rules(out), rules(ctl));

    assert.match(r50.stderr, new RegExp(`fifty\\.log:${NORMAL_BEFORE.length + 1}: line of ${50 * MiB} bytes cut to its first ${LIMIT} \\(limit ${LIMIT} bytes: syslog\\.max_message_bytes\\)`));
    assert.equal(r50.stdout.length < 4 * LIMIT + c.stdout.length, true, 'the skipped bytes are not in the output');

    console.log(`peak RSS: 1 MB line ${(r1.peakKiB / 1024).toFixed(1)} MiB, 50 MB line ${(r50.peakKiB / 1024).toFixed(1)} MiB, control ${(c.peakKiB / 1024).toFixed(1)} MiB`);
    assert.ok(r1.peakKiB > 0 && r50.peakKiB > 0);
    assert.ok(r50.peakKiB < 200 * 1024, `peak ${r50.peakKiB} KiB for a 50 MB line`);
    assert.ok(r50.peakKiB - r1.peakKiB < 16 * 1024, `50 MB line ${r50.peakKiB} KiB vs 1 MB line ${r1.peakKiB} KiB`);
  });

  it('cuts where the live syslog receiver cuts (its Framer over the same bytes), at a UTF-8 boundary, by syslog.max_message_bytes or --max-line-bytes', async () => {
    // '€' is 3 bytes: a limit of 1000 falls inside one.
    const line = sshd(1, 77, 'Invalid user ' + '€'.repeat(2000) + ' from 203.0.113.5 port 5022');
    const p = join(tmp.dir, 'euro.log');
    writeFileSync(p, `${NORMAL_BEFORE[0]}\n${line}\r\n${NORMAL_BEFORE[1]}\n`);
    const framer = new Framer(1000);
    const bytes = readFileSync(p);
    for (let at = 0; at < bytes.length; at += 700) framer.push(bytes.subarray(at, at + 700));
    framer.end();
    assert.deepEqual(framer.truncated, [1]);
    const live = framer.lines;

    const cfg = join(tmp.dir, 'small-limit.yaml');
    writeFileSync(cfg, 'syslog:\n  max_message_bytes: 1000\n');
    for (const args of [['--config', cfg, 'replay', p], ['replay', p, '--max-line-bytes', '1000']]) {
      const r = await measured([...args, '--year', '2024', '--no-default-rules']);
      assert.equal(r.code, 0, r.stderr);
      const evs = events(r.stdout);
      assert.deepEqual(evs.map((e) => e.event.original), live);
      assert.deepEqual(evs.map((e) => !!e.tags?.includes('truncated')), [false, true, false]);
      assert.ok(Buffer.byteLength(live[1]) <= 1000 && Buffer.byteLength(live[1]) > 997);
      assert.match(r.stderr, new RegExp(`euro\\.log:2: line of ${Buffer.byteLength(line)} bytes cut to its first ${Buffer.byteLength(live[1])} \\(limit 1000 bytes: ${args[0] === '--config' ? 'syslog\\.max_message_bytes' : '--max-line-bytes'}\\)`));
    }
  });
});

describe('rules > replay > limits > 1 GB of zeros without a newline', () => {
  it('is one truncated event and a notice naming file, line and limit; exit code 0; bounded memory', async () => {
    const p = join(tmp.dir, 'zeros.bin');
    writeFileSync(p, '');
    truncateSync(p, 1024 * MiB); // sparse: cheap on disk, still 1 GiB to read (twice: the lateness pass, then the replay)
    const started = Date.now();
    const r = await measured(['replay', p, '--year', '2024', '--summary']);
    const seconds = (Date.now() - started) / 1000;
    assert.equal(r.code, 0, r.stderr);
    const evs = events(r.stdout);
    assert.equal(evs.length, 1);
    assert.ok(evs[0].tags?.includes('truncated'));
    assert.equal(evs[0].event.original, '\0'.repeat(LIMIT));
    assert.match(r.stderr, new RegExp(`zeros\\.bin:1: line of ${1024 * MiB} bytes cut to its first ${LIMIT} \\(limit ${LIMIT} bytes: syslog\\.max_message_bytes\\)`));
    assert.match(r.stderr, /lines: 1 {2}alerts: 0 .* truncated: 1\n/);
    assert.doesNotMatch(r.stderr, /Invalid string length|RangeError/);
    console.log(`1 GiB of zeros: ${seconds.toFixed(1)} s, peak RSS ${(r.peakKiB / 1024).toFixed(1)} MiB`);
    assert.ok(r.peakKiB > 0 && r.peakKiB < 200 * 1024, `peak ${r.peakKiB} KiB`);
  });
});

describe('rules > replay > limits > NDJSON and journal records over the limit', () => {
  const record = (i: number) => JSON.stringify(failedLogin(T0 + i * 1000, '203.0.113.9', `user${i}`));

  it('a cut NDJSON record is an event tagged trailwatch_bad_json and truncated; the error names the file, line and limit', async () => {
    const p = join(tmp.dir, 'events.ndjson');
    // 10 MB: over session_log.max_body_bytes (8 MiB), what POST /v1/session-log takes.
    const huge = JSON.stringify({ ...failedLogin(T0 + 2500, '203.0.113.9', 'huge'), message: 'x'.repeat(10 * MiB) });
    writeFileSync(p, [record(0), record(1), huge, ...[2, 3, 4, 5].map(record)].join('\n') + '\n');
    for (const [args, limit, source] of [
      [[], 8 * MiB, 'session_log\\.max_body_bytes'],
      [['--max-line-bytes', '4096'], 4096, '--max-line-bytes'],
    ] as const) {
      const r = await measured(['replay', p, '--format', 'ndjson', ...args]);
      assert.equal(r.code, 0, r.stderr);
      const out = events(r.stdout);
      const evs = out.filter((e) => e.event.kind === 'event');
      assert.equal(evs.length, 7);
      const cut = evs[2];
      assert.deepEqual(cut.tags, ['trailwatch_bad_json', 'truncated']);
      assert.equal(Buffer.byteLength(cut.event.original!), limit);
      assert.equal(cut.event.original, huge.slice(0, limit));
      assert.match(String(cut.trailwatch!.error), new RegExp(`events\\.ndjson:3: record cut at ${limit} bytes \\(limit ${limit} bytes: ${source}\\), not JSON any more`));
      assert.match(r.stderr, new RegExp(`events\\.ndjson:3: line of ${Buffer.byteLength(huge)} bytes cut to its first ${limit}; not JSON any more, kept as event\\.original tagged trailwatch_bad_json \\(limit ${limit} bytes: ${source}\\)`));
      assert.ok(evs.filter((e) => e !== cut).every((e) => e.event.outcome === 'failure' && !e.tags));
      assert.ok(out.some((e) => e.event.kind === 'alert'), 'the other records still raise their alerts');
    }
  });

  it('a journal JSON line over journal.max_field_bytes is an unparsed, truncated event whose error names the file, line and limit', async () => {
    const entry = (msg: string) => JSON.stringify({ __REALTIME_TIMESTAMP: String(T0 * 1000), _HOSTNAME: 'web1', SYSLOG_IDENTIFIER: 'sshd', _COMM: 'sshd', PRIORITY: '6', MESSAGE: msg });
    const p = join(tmp.dir, 'journal.json');
    writeFileSync(p, [entry('Failed password for root from 203.0.113.5 port 5022 ssh2'), '', entry('x'.repeat(2 * MiB))].join('\n') + '\n');
    const r = await measured(['replay', p, '--no-default-rules']);
    assert.equal(r.code, 0, r.stderr);
    const evs = events(r.stdout);
    assert.equal(evs.length, 2);
    assert.equal(evs[0].message, 'Failed password for root from 203.0.113.5 port 5022 ssh2');
    assert.deepEqual(evs[1].tags, ['unparsed', 'truncated']);
    assert.equal(Buffer.byteLength(evs[1].event.original!), MiB);
    assert.match(String(evs[1].trailwatch!.error), /^.*journal\.json:3: cut at 1048576 bytes \(limit 1048576 bytes: journal\.max_field_bytes\): not JSON/);
    assert.match(r.stderr, /journal\.json:3: line of \d+ bytes cut to its first 1048576; not JSON any more, kept as an unparsed event \(limit 1048576 bytes: journal\.max_field_bytes\)/);
  });

  it('a journal export field over the limit is cut as the live receiver cuts it; a broken entry is reported with its bytes and lines', async () => {
    const fields = (host: string, msg: string) => `__REALTIME_TIMESTAMP=${T0 * 1000}\n_HOSTNAME=${host}\nSYSLOG_IDENTIFIER=sshd\n_COMM=sshd\nPRIORITY=6\nMESSAGE=${msg}\n\n`;
    const p = join(tmp.dir, 'in.export');
    writeFileSync(p, fields('web1', 'Failed password for root from 203.0.113.5 port 5022 ssh2') + fields('web2', 'y'.repeat(3 * MiB)) + 'bad name=1\nMESSAGE=x\n\n' + fields('web3', 'ok'));
    const r = await measured(['replay', p, '--no-default-rules', '--max-line-bytes', '100000']);
    assert.equal(r.code, 0, r.stderr);
    const evs = events(r.stdout);
    assert.deepEqual(evs.map((e) => e.host?.name ?? null), ['web1', 'web2', null, 'web3']);
    assert.ok(evs[1].tags?.includes('truncated'));
    assert.equal(evs[1].message, 'y'.repeat(100000));
    assert.ok(evs[2].tags?.includes('unparsed'));
    assert.match(r.stderr, /in\.export: journal entry 2: a field value cut at the limit, the event is tagged truncated \(limit 100000 bytes: --max-line-bytes\)/);
    // The broken entry starts on line 15; the notice gives the lines of the read in which it ended.
    const m = /in\.export: journal entry 3, ending in bytes (\d+)-(\d+) \(lines (\d+)-(\d+)\): bad field name "bad name"; kept as an unparsed event \(limit 100000 bytes: --max-line-bytes\)/.exec(r.stderr);
    assert.ok(m, r.stderr);
    const [from, to, lineFrom, lineTo] = m.slice(1).map(Number);
    assert.ok(from <= 3 * MiB + 150 && to >= 3 * MiB + 150, `${from}-${to}`);
    assert.ok(lineFrom <= 15 && lineTo >= 15, `${lineFrom}-${lineTo}`);
  });
});

describe('rules > replay > limits > the bounded reader', () => {
  /** What the reader must give: split("\n"), one CR off, each line's bytes cut to max at a UTF-8 boundary. */
  function reference(buf: Buffer, max: number) {
    const lines: { text: string; cut: boolean; total: number }[] = [];
    let start = 0;
    while (start < buf.length) {
      let nl = buf.indexOf(10, start);
      const last = nl < 0;
      if (last) nl = buf.length;
      let end = nl;
      if (end > start && buf[end - 1] === 13) end--;
      const cut = end - start > max;
      lines.push({ text: buf.toString('utf8', start, cut ? cutUtf8(buf, start, start + max) : end), cut, total: end - start });
      start = nl + 1;
    }
    return lines;
  }

  it('gives every line whole or cut to its first max bytes, however the input is chunked', async () => {
    const text = fc.array(fc.constantFrom('a', 'é', '€', '😀', ' ', '\r', '\n', 'x'.repeat(70)), { maxLength: 60 }).map((a) => a.join(''));
    await fc.assert(
      fc.asyncProperty(text, fc.integer({ min: 1, max: 90 }), fc.array(fc.integer({ min: 1, max: 50 }), { maxLength: 20 }), async (t, max, cuts) => {
        const buf = Buffer.from(t);
        const chunks: Buffer[] = [];
        let at = 0;
        for (const c of cuts) {
          if (at >= buf.length) break;
          chunks.push(buf.subarray(at, at + c));
          at += c;
        }
        if (at < buf.length) chunks.push(buf.subarray(at));
        const got: { text: string; cut: boolean; total: number }[] = [];
        const reported: number[][] = [];
        await eachLine(Readable.from(chunks, { objectMode: false }), (l, cut, n) => got.push({ text: l, cut, total: n }) > 3, async () => {}, {
          maxBytes: max,
          onCut: (n, kept, total) => reported.push([n, kept, total]),
        });
        const want = reference(buf, max);
        assert.deepEqual(got.map((g) => [g.text, g.cut]), want.map((w) => [w.text, w.cut]));
        assert.deepEqual(got.map((g) => g.total), want.map((_, i) => i + 1), 'line numbers');
        // A cut line is reported once, with its number, the bytes kept and all its bytes (without LF or CRLF).
        const cutLines = want.map((w, i) => ({ ...w, n: i + 1 })).filter((w) => w.cut);
        assert.deepEqual(reported, cutLines.map((w) => [w.n, Buffer.byteLength(w.text), w.total]));
      }),
      { numRuns: 500 },
    );
  });
});
