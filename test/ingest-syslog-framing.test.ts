import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Framer } from '../src/ingest/syslog/framing.js';

function octet(...msgs: string[]): Buffer {
  return Buffer.concat(msgs.map((m) => Buffer.concat([Buffer.from(`${Buffer.byteLength(m)} `), Buffer.from(m)])));
}

/** Feed `data` in pieces cut at `cuts` (any order, any value); return frames, truncated indexes and tallies. */
function frame(data: Buffer, cuts: number[] = [], max = 1024) {
  const f = new Framer(max);
  let prev = 0;
  for (const c of [...cuts.map((c) => Math.min(c, data.length)).sort((a, b) => a - b), data.length]) {
    f.push(data.subarray(prev, Math.max(prev, c)));
    prev = Math.max(prev, c);
  }
  f.end();
  return { lines: f.lines, truncated: f.truncated, framing: f.framing, errors: f.badCounts + f.bogusCounts, skippedTooLong: f.skippedTooLong, skippedBogus: f.skippedBogus };
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

describe('ingest > syslog > framing > bogus octet counts resynchronise', () => {
  const a = '<13>1 - h a - - - first';
  const b = '<14>Jan 19 10:00:00 h b: second';
  const c = '<15>1 - h c - - - third 35 <13> inside a frame is content';

  it('a count over the limit followed at once by valid frames loses none of them', () => {
    const data = Buffer.concat([Buffer.from('999999999 '), octet(a, b, c)]);
    for (let i = 0; i <= data.length; i++) {
      const r = frame(data, [i], 480);
      assert.deepEqual(r.lines, [a, b, c], `cut at ${i}`);
      assert.equal(r.errors, 1);
      assert.equal(r.skippedBogus, 10, 'the bogus header is counted as skipped');
      assert.equal(r.framing, 'octet-counting');
    }
  });

  it('keeps what a bogus count covered (up to the limit, tagged truncated) and counts the rest', () => {
    const junk = 'x'.repeat(2000);
    const data = Buffer.concat([octet(a), Buffer.from(`999999999 ${junk}`), octet(b, c)]);
    for (const cuts of [[], [30], [45, 46, 47], [700, 2040, 2041]]) {
      const r = frame(data, cuts, 480);
      assert.deepEqual(r.lines, [a, 'x'.repeat(480), b, c], `cuts ${cuts}`);
      assert.deepEqual(r.truncated, [1]);
      assert.equal(r.skippedBogus, 10 + 2000 - 480);
      assert.equal(r.skippedTooLong, 0);
    }
  });

  it('resynchronises on <PRI> after an LF and reads lines until the next octet header', () => {
    const data = Buffer.concat([Buffer.from('999999999 <13>partial\n<13>line one\n<13>line two\n'), octet(a)]);
    for (let i = 0; i <= data.length; i++) {
      const r = frame(data, [i], 480);
      assert.deepEqual(r.lines, ['<13>partial', '<13>line one', '<13>line two', a], `cut at ${i}`);
      assert.deepEqual(r.truncated, [0]);
    }
  });

  it('an honest count over the limit still keeps the stream in step (the body has no frame start)', () => {
    const big = '<13>1 - h app - - - ' + 'y'.repeat(3000);
    const r = frame(octet(a, big, b), [], 600);
    assert.deepEqual(r.lines, [a, big.slice(0, 600), b]);
    assert.equal(r.errors, 0);
    assert.equal(r.skippedTooLong, big.length - 600);
    assert.equal(r.skippedBogus, 0);
  });

  it('garbage that is not a count, after good frames, becomes lines until the next header', () => {
    const data = Buffer.concat([octet(a), Buffer.from('#garbage\nmore garbage'), octet(b, c)]);
    for (let i = 0; i <= data.length; i++) {
      const r = frame(data, [i]);
      assert.deepEqual(r.lines, [a, '#garbage', 'more garbage', b, c], `cut at ${i}`);
      assert.equal(r.errors, 1);
    }
  });

  it('counts the skipped rest of an over-long LF line', () => {
    const r = frame(Buffer.from(`<13>${'z'.repeat(1000)}\n<13>next\n`), [100, 700], 500);
    assert.deepEqual(r.lines.map((l) => l.length), [500, 8]);
    assert.equal(r.skippedTooLong, 1004 - 500);
  });
});

describe('ingest > syslog > properties > garbage between octet-counted frames', () => {
  // What is guaranteed, exactly. Frames are "N <PRI>body" with N at most the
  // limit. (1) Garbage after at least one good frame that starts with a byte
  // that cannot begin a count (not 1-9, LF, CR, NUL), does not end in a digit
  // and holds no "D <PRI>" (digit, space, <, 1-3 digits, >) comes out as its
  // own LF/NUL-split lines, and every frame after it comes out intact.
  // (2) A count over the limit, and over the bytes up to the next frame,
  // followed by bytes that hold no "D <PRI>" and no
  // LF followed by "<PRI>", and do not end in a digit, comes out as one frame
  // of its first `max` bytes (tagged truncated; none when empty), the header
  // and the rest counted as skipped, and every frame after it intact.
  // Garbage that does look like a header is a header: the frames it covers
  // are then inside another frame, not lost as bytes.
  const MAX = 256;
  const body = fc
    .tuple(fc.integer({ min: 0, max: 191 }), fc.string({ unit: fc.constantFrom('a', ' ', '1', '<', '>', '\n', 'é', '9 <1>'), maxLength: 60 }))
    .map(([pri, rest]) => `<${pri}>${rest}`)
    .filter((m) => !m.endsWith('\n') && !m.endsWith('\r'));
  const garbageByte = fc.constantFrom(...'ab <>1290\n\r\0#é'.split(''));
  const looksLikeHeader = /[0-9] <[0-9]{1,3}>/;
  const cuts = fc.array(fc.nat(4000), { maxLength: 5 });

  it('(1) garbage that is not a count costs no frame after it', () => {
    fc.assert(
      fc.property(fc.array(body, { minLength: 1, maxLength: 4 }), fc.array(garbageByte, { minLength: 1, maxLength: 120 }).map((g) => g.join('')), fc.array(body, { minLength: 1, maxLength: 4 }), cuts, (before, g, after, at) => {
        fc.pre(!/^[1-9\n\r\0]/.test(g) && !/[0-9]$/.test(g) && !looksLikeHeader.test(g));
        const data = Buffer.concat([octet(...before), Buffer.from(g), octet(...after)]);
        const r = frame(data, at, MAX);
        const lines = g
          .split(/[\n\0]/)
          .map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l))
          .filter((l) => l !== '');
        assert.deepEqual(r.lines, [...before, ...lines, ...after]);
        assert.equal(r.errors, 1);
      }),
      { numRuns: 800 },
    );
  });

  it('(2) a count over the limit costs no frame after it, and what it skipped is counted', () => {
    fc.assert(
      fc.property(
        fc.array(body, { maxLength: 3 }),
        fc.integer({ min: MAX + 1, max: 999_999_999 }),
        fc.array(garbageByte, { maxLength: 600 }).map((g) => g.join('')),
        fc.array(body, { minLength: 1, maxLength: 4 }),
        cuts,
        (before, count, g, after, at) => {
          const gb = Buffer.from(g);
          fc.pre(count > gb.length && !/[0-9]$/.test(g) && !looksLikeHeader.test(g) && !/\n<[0-9]{1,3}>/.test(g));
          const header = `${count} `;
          const data = Buffer.concat([octet(...before), Buffer.from(header), gb, octet(...after)]);
          const r = frame(data, at, MAX);
          const mid = gb.length ? [trimmed(gb.subarray(0, MAX))] : [];
          assert.deepEqual(r.lines, [...before, ...mid, ...after]);
          assert.deepEqual(r.truncated, mid.length ? [before.length] : []);
          assert.equal(r.skippedBogus, header.length + Math.max(0, gb.length - MAX));
          assert.equal(r.errors, 1);
        },
      ),
      { numRuns: 800 },
    );
  });
});

/** A kept frame as the framer gives it: one trailing LF, then one CR, are framing. */
function trimmed(b: Buffer): string {
  let end = b.length;
  if (b[end - 1] === 10) end--;
  if (b[end - 1] === 13) end--;
  return b.toString('utf8', 0, end);
}
