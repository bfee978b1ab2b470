import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SyslogParser, type Receipt } from '../src/ingest/syslog/parse.js';
import { Framer } from '../src/ingest/syslog/framing.js';

const R: Receipt = { nowMs: Date.UTC(2024, 5, 1), created: '2024-06-01T00:00:00.000Z', input: 'udp', peer: '198.51.100.2:514', peerHost: '198.51.100.2' };
const parser = new SyslogParser({ timezone: 'utc' });

/** Pieces that steer random lines into the parser's deeper paths. */
const syslogish = fc
  .array(
    fc.constantFrom('<', '>', '<13>', '<191>', '1 ', '- ', ' ', '[', ']', '"', '\\', '=', ':', 'T', 'Z', '+01:00', '.', '[x@1 a="b"]', 'Oct 11 22:14:15 ', 'Feb 29 ', '2024-01-19T10:00:00', '.123456', '\uFEFF', 'app[12]: ', 'host ', '\uFFFD', '\0', 'é'),
    { maxLength: 40 },
  )
  .map((a) => a.join(''));

function checkEvent(line: string): void {
  const ev = parser.parse(line, R);
  assert.equal(ev.event.original, line);
  assert.equal(typeof ev.message, 'string');
  assert.ok(!Number.isNaN(Date.parse(ev['@timestamp'])), `bad @timestamp ${ev['@timestamp']} for ${JSON.stringify(line)}`);
  assert.ok(typeof ev.host?.name === 'string' && ev.host.name.length > 0);
  if (ev.tags?.includes('unparsed')) assert.equal(ev.message, line);
  JSON.stringify(ev);
}

describe('ingest > syslog > properties > never throws', () => {
  it('gives a well-formed event for any string', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), syslogish), checkEvent), { numRuns: 3000 });
  });

  it('frames any bytes, cut anywhere, into lines within the size limit', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.array(fc.nat(2000), { maxLength: 6 }), fc.integer({ min: 16, max: 600 }), (bytes, cuts, max) => {
        const data = Buffer.from(bytes);
        const f = new Framer(max);
        let prev = 0;
        for (const c of [...cuts.map((c) => Math.min(c, data.length)).sort((a, b) => a - b), data.length]) {
          f.push(data.subarray(prev, Math.max(prev, c)));
          prev = Math.max(prev, c);
        }
        f.end();
        for (const l of f.lines) {
          assert.ok(Buffer.byteLength(l) <= max * 3, 'a frame far over the limit'); // U+FFFD may stand for one byte
          checkEvent(l);
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('frames octet-counted streams of random messages back to the same messages', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 80 }), fc.constantFrom('a\n', 'b\r\n', '\n', 'c\n\n')), { minLength: 1, maxLength: 8 }), fc.nat(1000), (msgs, cut) => {
        const data = Buffer.concat(msgs.map((m) => Buffer.concat([Buffer.from(`${Buffer.byteLength(m)} `), Buffer.from(m)])));
        const f = new Framer(4096);
        const at = Math.min(cut, data.length);
        f.push(data.subarray(0, at));
        f.push(data.subarray(at));
        f.end();
        const want = msgs.map((m) => Buffer.from(m).toString('utf8').replace(/\n$/, '').replace(/\r$/, '')).filter((m) => m !== '');
        assert.deepEqual(f.lines, want);
      }),
      { numRuns: 500 },
    );
  });
});

describe('ingest > syslog > properties > hostile input terminates', () => {
  const N = 1_000_000;
  const hostile: [string, string][] = [
    ['brackets', '<13>1 - h a - - ' + '['.repeat(N)],
    ['open SD values', '<13>1 - h a - - [x' + ' a="'.repeat(N / 4)],
    ['backslashes', '<13>1 - h a - - [x a="' + '\\'.repeat(N)],
    ['many params', '<13>1 - h a - - [x' + ' a="b"'.repeat(N / 6) + ']'],
    ['many elements', '<13>1 - h a - - ' + '[x a="b"]'.repeat(N / 9) + ' m'],
    ['quotes', '<13>1 - h a - - ' + '"'.repeat(N)],
    ['spaces', '<13>Jan 19 10:00:00' + ' '.repeat(N) + 'x'],
    ['colons', '<13>Jan 19 10:00:00 h ' + ':'.repeat(N)],
    ['tag bracket', '<13>Jan 19 10:00:00 h app[' + '1'.repeat(N)],
    ['digits', '<' + '1'.repeat(N)],
    ['word', 'x'.repeat(N)],
  ];
  for (const [name, line] of hostile) {
    it(`parses a ${line.length}-character line of ${name}`, { timeout: 20_000 }, () => {
      checkEvent(line);
    });
  }

  it('frames a megabyte without a newline or a valid count', { timeout: 20_000 }, () => {
    for (const data of [Buffer.alloc(N, 0x31), Buffer.alloc(N, 0x5b)]) {
      const f = new Framer(65536);
      for (let i = 0; i < N; i += 1000) f.push(data.subarray(i, i + 1000));
      f.end();
      assert.ok(f.lines.length <= 2);
      for (const l of f.lines) assert.ok(l.length <= 65536);
    }
  });
});

// ---- RFC 5424 round trip ----

const printusascii = (min: number, max: number, exclude = '') =>
  fc
    .string({ unit: fc.integer({ min: 33, max: 126 }).map((c) => String.fromCharCode(c)).filter((c) => !exclude.includes(c)), minLength: min, maxLength: max })
    .filter((s) => s !== '-');
const nilable = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const sdName = printusascii(1, 32, '= ]"').filter((s) => s !== '__proto__');

const fields = fc.record({
  pri: fc.integer({ min: 0, max: 191 }),
  version: fc.integer({ min: 1, max: 99 }),
  time: nilable(
    fc.record({
      ms: fc.integer({ min: Date.UTC(1, 0, 2), max: Date.UTC(9999, 11, 30) }).map((ms) => Math.floor(ms / 1000) * 1000),
      frac: fc.option(fc.stringMatching(/^[0-9]{1,6}$/), { nil: undefined }),
      offsetMin: fc.option(fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 }), { nil: undefined }),
    }),
  ),
  hostname: nilable(printusascii(1, 255)),
  appname: nilable(printusascii(1, 48)),
  procid: nilable(printusascii(1, 128)),
  msgid: nilable(printusascii(1, 32)),
  sd: fc.uniqueArray(fc.tuple(sdName, fc.uniqueArray(fc.tuple(sdName, fc.string({ unit: 'grapheme', maxLength: 20 })), { selector: (p) => p[0], maxLength: 4 })), {
    selector: (e) => e[0],
    maxLength: 3,
  }),
  msg: nilable(fc.string({ unit: 'grapheme', maxLength: 100 }).filter((m) => !m.startsWith('\uFEFF'))),
  bom: fc.boolean(),
});

const pad = (n: number, w: number) => String(Math.abs(n)).padStart(w, '0');

function timestamp(t: { ms: number; frac?: string; offsetMin?: number }): string {
  const local = new Date(t.ms + (t.offsetMin ?? 0) * 60_000);
  const date = `${pad(local.getUTCFullYear(), 4)}-${pad(local.getUTCMonth() + 1, 2)}-${pad(local.getUTCDate(), 2)}`;
  const time = `${pad(local.getUTCHours(), 2)}:${pad(local.getUTCMinutes(), 2)}:${pad(local.getUTCSeconds(), 2)}`;
  const off = t.offsetMin === undefined ? 'Z' : `${t.offsetMin < 0 ? '-' : '+'}${pad(Math.trunc(t.offsetMin / 60), 2)}:${pad(t.offsetMin % 60, 2)}`;
  return `${date}T${time}${t.frac !== undefined ? '.' + t.frac : ''}${off}`;
}

const escape = (v: string) => v.replace(/[\\"\]]/g, (c) => '\\' + c);

describe('ingest > syslog > properties > RFC 5424 round trip', () => {
  it('parses lines made from random fields back to the same fields', () => {
    fc.assert(
      fc.property(fields, (f) => {
        const sd = f.sd.length ? f.sd.map(([id, ps]) => `[${id}${ps.map(([k, v]) => ` ${k}="${escape(v)}"`).join('')}]`).join('') : '-';
        const nil = (v?: string) => v ?? '-';
        let line = `<${f.pri}>${f.version} ${f.time ? timestamp(f.time) : '-'} ${nil(f.hostname)} ${nil(f.appname)} ${nil(f.procid)} ${nil(f.msgid)} ${sd}`;
        if (f.msg !== undefined) line += ' ' + (f.bom ? '\uFEFF' : '') + f.msg;
        const ev = parser.parse(line, R);
        const s = ev.log?.syslog;
        assert.equal(ev.tags, undefined, `unparsed: ${line}`);
        assert.equal(s?.priority, f.pri);
        assert.equal(s?.facility?.code, f.pri >> 3);
        assert.equal(s?.severity?.code, f.pri & 7);
        assert.equal(s?.version, f.version);
        assert.equal(s?.hostname, f.hostname);
        assert.equal(s?.appname, f.appname);
        assert.equal(s?.procid, f.procid);
        assert.equal(s?.msgid, f.msgid);
        assert.equal(ev.host?.name, f.hostname ?? R.peerHost);
        assert.equal(ev.process?.name, f.appname);
        assert.deepEqual(s?.structured_data, f.sd.length ? Object.fromEntries(f.sd.map(([id, ps]) => [id, Object.fromEntries(ps)])) : undefined);
        assert.equal(ev.message, f.msg ?? '');
        const want = f.time ? f.time.ms + (f.time.frac ? Math.floor(Number(`0.${f.time.frac}`) * 1000 + 1e-6) : 0) : Date.parse(R.created);
        assert.equal(Date.parse(ev['@timestamp']), want, `${line} -> ${ev['@timestamp']}`);
      }),
      { numRuns: 2000 },
    );
  });
});
