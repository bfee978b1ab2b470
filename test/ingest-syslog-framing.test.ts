import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Framer } from '../src/ingest/syslog/framing.js';

function octet(...msgs: string[]): Buffer {
  return Buffer.concat(msgs.map((m) => Buffer.concat([Buffer.from(`${Buffer.byteLength(m)} `), Buffer.from(m)])));
}

/** Feed `data` in pieces cut at `cuts`; return frames and truncated indexes. */
function frame(data: Buffer, cuts: number[] = [], max = 1024) {
  const f = new Framer(max);
  let prev = 0;
  for (const c of [...cuts, data.length]) {
    f.push(data.subarray(prev, c));
    prev = c;
  }
  f.end();
  return { lines: f.lines, truncated: f.truncated, framing: f.framing, errors: f.framingErrors };
}

describe('ingest > syslog > framing > octet counting (RFC 6587 3.4.1)', () => {
  const msgs = ['<13>1 - h app - - - one', '<13>Jan 19 10:00:00 h app: two\nwith a newline inside', '<13>1 - h app - - - drei ü €'];
  const data = octet(...msgs);

  it('detects octet counting and keeps embedded newlines', () => {
    const r = frame(data);
    assert.equal(r.framing, 'octet-counting');
    assert.deepEqual(r.lines, msgs);
  });

  it('gives the same frames wherever the stream is cut', () => {
    for (let i = 1; i < data.length; i++) assert.deepEqual(frame(data, [i]).lines, msgs, `cut at ${i}`);
    assert.deepEqual(frame(data, Array.from({ length: data.length - 1 }, (_, i) => i + 1)).lines, msgs, 'one byte at a time');
  });

  it('drops a trailing newline inside a frame (rsyslog protocol-23 template)', () => {
    assert.deepEqual(frame(octet('<13>1 - h a - - - m\n', '<13>1 - h a - - - n\r\n')).lines, ['<13>1 - h a - - - m', '<13>1 - h a - - - n']);
  });

  it('tolerates a newline after each frame', () => {
    const withLf = Buffer.concat(msgs.map((m) => Buffer.concat([octet(m), Buffer.from('\n')])));
    assert.deepEqual(frame(withLf).lines, msgs);
  });

  it('truncates a frame over the limit, flags it, and stays in sync after it', () => {
    const big = '<13>1 - h app - - - ' + 'x'.repeat(3000);
    const all = octet('<13>1 - h a - - - before', big, '<13>1 - h a - - - after');
    for (const cuts of [[], [40], [40, 700, 2000]]) {
      const r = frame(all, cuts, 600);
      assert.deepEqual(r.lines.map((l) => l.length), [24, 600, 23], `cuts ${cuts}`);
      assert.deepEqual(r.truncated, [1]);
      assert.equal(r.lines[2], '<13>1 - h a - - - after');
    }
  });

  it('does not cut a UTF-8 character in half when truncating', () => {
    const r = frame(octet('<13>1 - h a - - - ' + '€'.repeat(200)), [], 480);
    assert.ok(!r.lines[0].includes('\uFFFD'));
    assert.ok(Buffer.byteLength(r.lines[0]) <= 480 && Buffer.byteLength(r.lines[0]) > 476);
    assert.deepEqual(r.truncated, [0]);
  });

  it('falls back to LF framing on a bad count, keeping every byte', () => {
    const data2 = Buffer.concat([octet('<13>1 - h a - - - ok'), Buffer.from('12x not a count\n<13>plain line\n')]);
    const r = frame(data2);
    assert.deepEqual(r.lines, ['<13>1 - h a - - - ok', '12x not a count', '<13>plain line']);
    assert.equal(r.errors, 1);
    assert.equal(r.framing, 'non-transparent');
  });

  it('flags a frame cut short by the connection closing', () => {
    const part = octet('<13>1 - h a - - - complete message').subarray(0, 20);
    const r = frame(part);
    assert.deepEqual(r.lines, ['<13>1 - h a - - -']);
    assert.deepEqual(r.truncated, [0]);
  });
});

describe('ingest > syslog > framing > non-transparent (LF / NUL)', () => {
  it('splits on LF, CRLF and NUL and skips empty lines', () => {
    const r = frame(Buffer.from('<13>a\n<13>b\r\n\n<13>c\0<13>d\n'));
    assert.equal(r.framing, 'non-transparent');
    assert.deepEqual(r.lines, ['<13>a', '<13>b', '<13>c', '<13>d']);
  });

  it('reads lines starting with a digit (ISO timestamp, no PRI) as lines', () => {
    const r = frame(Buffer.from('2024-01-15T10:00:00Z h a: one\n2024-01-15T10:00:01Z h a: two\n'));
    assert.deepEqual(r.lines, ['2024-01-15T10:00:00Z h a: one', '2024-01-15T10:00:01Z h a: two']);
  });

  it('joins a line split across chunks and emits a last line without LF at close', () => {
    const data = Buffer.from('<13>first line\n<13>second line');
    for (let i = 1; i < data.length; i++) assert.deepEqual(frame(data, [i]).lines, ['<13>first line', '<13>second line'], `cut at ${i}`);
  });

  it('truncates an over-long line once and skips the rest of it', () => {
    const data = Buffer.from(`<13>short\n<13>${'y'.repeat(5000)}\n<13>next\n`);
    for (const cuts of [[], [100], [100, 600, 1200, 4000]]) {
      const r = frame(data, cuts, 500);
      assert.deepEqual(r.lines.map((l) => l.length), [9, 500, 8], `cuts ${cuts}`);
      assert.deepEqual(r.truncated, [1]);
    }
  });

  it('decodes non-ASCII chunks as UTF-8', () => {
    const text = `<13>${'a'.repeat(2000)} ü\n<13>日本語\n`;
    assert.deepEqual(frame(Buffer.from(text), [], 4096).lines, [`<13>${'a'.repeat(2000)} ü`, '<13>日本語']);
  });
});
