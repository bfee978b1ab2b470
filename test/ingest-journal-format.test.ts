// The Journal Export Format reader and the entry -> ECS mapping, without a
// network: entries written the way journald's export writer writes them
// (text fields as NAME=value, values holding a newline or non-UTF-8 bytes as
// NAME\n<le64 length><bytes>\n), read back whole or cut at any byte.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ExportReader, readExport, type JournalEntry } from '../src/ingest/journal/export-format.js';
import { entryFromJson, journalEvent, type JournalReceipt } from '../src/ingest/journal/event.js';
import { createDecoder } from '../src/rules/decoders/index.js';

type Field = [name: string, value: Buffer];

/** One entry in the export format; values with a newline go as binary fields, as journald writes them. */
function exportEntry(fields: Field[], forceBinary = false): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    if (forceBinary || value.includes(10)) {
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(value.length));
      parts.push(Buffer.from(`${name}\n`), len, value, Buffer.from('\n'));
    } else parts.push(Buffer.from(`${name}=`), value, Buffer.from('\n'));
  }
  parts.push(Buffer.from('\n'));
  return Buffer.concat(parts);
}

const text = (fields: Record<string, string>): Field[] => Object.entries(fields).map(([k, v]) => [k, Buffer.from(v)]);

/** Feed `data` cut at the given offsets. */
function readInPieces(data: Buffer, cuts: number[], max?: number): JournalEntry[] {
  const r = new ExportReader(max);
  const out: JournalEntry[] = [];
  let at = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    out.push(...r.push(data.subarray(at, c)));
    at = c;
  }
  out.push(...r.push(data.subarray(at)));
  out.push(...r.end());
  return out;
}

const SEQNUM_ID = '95b018169d404740bb94300a083ef87d';
const SSHD = {
  __CURSOR: `s=${SEQNUM_ID};i=1f;b=0123456789abcdef0123456789abcdef;m=3e8;t=661ff2663c052;x=9f`,
  __REALTIME_TIMESTAMP: '1796598348890194',
  __MONOTONIC_TIMESTAMP: '1000',
  _BOOT_ID: '0123456789abcdef0123456789abcdef',
  _HOSTNAME: 'web1',
  _TRANSPORT: 'syslog',
  _UID: '0',
  _COMM: 'sshd',
  _EXE: '/usr/sbin/sshd',
  _PID: '4242',
  _SYSTEMD_UNIT: 'ssh.service',
  PRIORITY: '6',
  SYSLOG_FACILITY: '4',
  SYSLOG_IDENTIFIER: 'sshd',
  SYSLOG_PID: '4242',
  MESSAGE: 'Failed password for root from 192.0.2.10 port 40022 ssh2',
};

const receipt: JournalReceipt = { created: '2026-12-06T12:00:00.000Z', input: 'journal-upload', peer: '127.0.0.1:5000', peerHost: '127.0.0.1' };

describe('ingest > journal > export format', () => {
  it('reads text and binary fields, entry by entry', () => {
    const data = Buffer.concat([
      exportEntry(text(SSHD)),
      exportEntry([...text({ _HOSTNAME: 'web2', SYSLOG_IDENTIFIER: 'app' }), ['MESSAGE', Buffer.from('line one\nline two')]]),
    ]);
    const out = readExport(data);
    assert.equal(out.length, 2);
    assert.deepEqual(Object.fromEntries(out[0].fields), SSHD);
    assert.equal(out[1].fields.get('MESSAGE'), 'line one\nline two');
    assert.equal(out[1].fields.get('_HOSTNAME'), 'web2');
  });

  it('gives the same entries whatever the chunk boundaries (property)', () => {
    const name = fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,20}$/);
    const value = fc.uint8Array({ maxLength: 60 }).map((a) => Buffer.from(a));
    const entry = fc.uniqueArray(fc.tuple(name, value), { minLength: 1, maxLength: 8, selector: ([n]) => n });
    fc.assert(
      fc.property(fc.array(fc.tuple(entry, fc.boolean()), { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 12 }), (entries, rawCuts) => {
        const data = Buffer.concat(entries.map(([e, bin]) => exportEntry(e as Field[], bin)));
        const cuts = rawCuts.map((c) => c % (data.length + 1));
        const out = readInPieces(data, cuts);
        assert.equal(out.length, entries.length);
        entries.forEach(([e], i) => {
          assert.equal(out[i].error, undefined);
          for (const [n, v] of e as Field[]) {
            // Text values are read as UTF-8, like every string in an event.
            assert.equal(out[i].fields.get(n), v.toString('utf8'), `field ${n} of entry ${i}`);
          }
        });
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps an entry that breaks the format as text with the reason, and reads on', () => {
    const bad = Buffer.from('MESSAGE=half an entry\nthis is not a field\nSECOND=x\nTHIRD=y\n\n');
    const data = Buffer.concat([exportEntry(text({ MESSAGE: 'first' })), bad, exportEntry(text({ MESSAGE: 'third' }))]);
    for (const cuts of [[], [30], [45, 46, 47], Array.from({ length: data.length }, (_, i) => i)]) {
      const out = readInPieces(data, cuts);
      assert.deepEqual(
        out.map((e) => e.fields.get('MESSAGE') ?? e.error),
        ['first', 'bad field name "this is not a field"', 'third'],
        `cut at ${cuts.length} places`,
      );
      assert.equal(out[1].raw, 'MESSAGE=half an entry\nthis is not a field\nSECOND=x\nTHIRD=y\n');
    }
  });

  it('a binary field without its newline, and input ending mid-field, are broken entries', () => {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(3n);
    const noNl = Buffer.concat([Buffer.from('MESSAGE\n'), len, Buffer.from('abcX\n\n'), exportEntry(text({ MESSAGE: 'next' }))]);
    const out = readExport(noNl);
    assert.equal(out.length, 2);
    assert.match(out[0].error!, /binary field MESSAGE not followed by a newline/);
    assert.equal(out[1].fields.get('MESSAGE'), 'next');

    len.writeBigUInt64LE(100n);
    const cut = Buffer.concat([Buffer.from('_HOSTNAME=web1\nMESSAGE\n'), len, Buffer.from('only ten b')]);
    const [e] = readExport(cut);
    assert.match(e.error!, /input ended inside binary field MESSAGE/);
    assert.match(e.raw!, /_HOSTNAME=web1/);
  });

  it('a last entry without its blank line still counts', () => {
    const out = readExport('A=1\n\nMESSAGE=no blank line after me');
    assert.deepEqual(out.map((e) => Object.fromEntries(e.fields)), [{ A: '1' }, { MESSAGE: 'no blank line after me' }]);
  });

  it('cuts over-long values at the limit, skips the rest without buffering it, and marks the entry', () => {
    const big = 'x'.repeat(50_000);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(big.length));
    const data = Buffer.concat([
      Buffer.from(`MESSAGE=${big}\n_HOSTNAME=a\n\n`),
      Buffer.from('MESSAGE\n'), len, Buffer.from(big), Buffer.from('\n_HOSTNAME=b\n\n'),
      exportEntry(text({ MESSAGE: 'small', _HOSTNAME: 'c' })),
    ]);
    for (const cuts of [[], Array.from({ length: 40 }, (_, i) => i * 2600), [60_000]]) {
      const out = readInPieces(data, cuts, 1024);
      assert.deepEqual(
        out.map((e) => [e.fields.get('_HOSTNAME'), e.fields.get('MESSAGE')?.length, !!e.truncated]),
        [
          ['a', 1024, true],
          ['b', 1024, true],
          ['c', 5, false],
        ],
        `cut at ${cuts.length} places`,
      );
    }
  });

  it('a huge declared length is skipped, not allocated', () => {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(2n ** 40n);
    const r = new ExportReader(1024);
    const out = r.push(Buffer.concat([Buffer.from('MESSAGE\n'), len, Buffer.alloc(4096, 65)]));
    assert.equal(out.length, 0);
    const [e] = r.end();
    assert.match(e.error!, /input ended inside binary field/);
  });

  it('a repeated field keeps the first value and lists the others', () => {
    const [e] = readExport('TAG=a\nTAG=b\nTAG=c\nMESSAGE=m\n\n');
    assert.equal(e.fields.get('TAG'), 'a');
    assert.deepEqual(e.repeated, { TAG: ['b', 'c'] });
  });

  it('field names are checked: lower case, leading digit, empty and "__proto__"-like names break the entry', () => {
    for (const bad of ['message=x', '1ABC=x', '=x', '__proto__=x', `${'A'.repeat(65)}=x`]) {
      const [e] = readExport(`${bad}\n\n`);
      assert.ok(e.error, `${bad} is refused`);
      assert.equal(e.fields.size, 0);
    }
  });
});

describe('ingest > journal > events', () => {
  it('maps an sshd entry to the event the syslog parser gives for the same line', () => {
    const [entry] = readExport(exportEntry(text(SSHD)));
    const ev = journalEvent(entry, receipt);
    assert.equal(ev['@timestamp'], '2026-12-06T23:05:48.890Z');
    assert.equal(ev.host?.name, 'web1');
    assert.deepEqual(ev.process, { name: 'sshd', pid: 4242 });
    assert.equal(ev.message, SSHD.MESSAGE);
    assert.deepEqual(ev.log?.syslog?.facility, { code: 4, name: 'auth' });
    assert.deepEqual(ev.log?.syslog?.severity, { code: 6, name: 'Informational' });
    assert.equal(ev.log?.syslog?.priority, 38);
    assert.equal(ev.systemd?.unit, 'ssh.service');
    assert.deepEqual(ev.journald?.process, { name: 'sshd', executable: '/usr/sbin/sshd' });
    assert.equal(ev.journald?.uid, 0);
    assert.equal(ev.journald?.cursor, SSHD.__CURSOR);
    assert.equal(ev.tags, undefined);
    // The decoders read it as the syslog form of the line.
    assert.equal(createDecoder().decode(ev), true);
    assert.equal(ev.event.action, 'ssh-login');
    assert.equal(ev.event.outcome, 'failure');
    assert.equal(ev.source?.ip, '192.0.2.10');
    assert.equal(ev.user?.name, 'root');
  });

  it('the id comes from the cursor: the same entry sent twice is one id, another entry another', () => {
    const [a] = readExport(exportEntry(text(SSHD)));
    const [b] = readExport(exportEntry(text(SSHD)));
    const [c] = readExport(exportEntry(text({ ...SSHD, __CURSOR: SSHD.__CURSOR.replace('i=1f', 'i=20') })));
    const id = journalEvent(a, receipt).event.id;
    assert.equal(id, 'j-2b1c-1f'.replace('2b1c', SEQNUM_ID), 'seqnum id and seqnum from the cursor');
    assert.equal(journalEvent(b, receipt).event.id, id);
    assert.notEqual(journalEvent(c, receipt).event.id, id);
    // A cursor of another shape still gives a stable id.
    const [d] = readExport(exportEntry(text({ ...SSHD, __CURSOR: 'weird-cursor' })));
    const dId = journalEvent(d, receipt).event.id;
    assert.match(dId, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(journalEvent(readExport(exportEntry(text({ ...SSHD, __CURSOR: 'weird-cursor' })))[0], receipt).event.id, dId);
  });

  it('timestamps to the millisecond, for any time and in any order (the per-second cache never leaks)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 4102444800000000 }), { minLength: 1, maxLength: 20 }), (list) => {
        for (const us of list) {
          const [e] = readExport(`__REALTIME_TIMESTAMP=${us}\nMESSAGE=x\n\n`);
          assert.equal(journalEvent(e, receipt)['@timestamp'], new Date(Math.floor(us / 1000)).toISOString());
        }
      }),
      { numRuns: 500 },
    );
  });

  it('prefers the source timestamp; without any timestamp takes the receipt time', () => {
    const [e] = readExport(exportEntry(text({ ...SSHD, _SOURCE_REALTIME_TIMESTAMP: '1796598300000000' })));
    assert.equal(journalEvent(e, receipt)['@timestamp'], '2026-12-06T23:05:00.000Z');
    const [n] = readExport('MESSAGE=hello\n\n');
    const ev = journalEvent(n, receipt);
    assert.equal(ev['@timestamp'], receipt.created);
    assert.equal(ev.host?.name, '127.0.0.1', 'no _HOSTNAME: the uploader address');
  });

  it('tags an entry claiming to be sshd, sudo or su from another binary (logger -t sshd)', () => {
    for (const [ident, comm] of [['sshd', 'logger'], ['sudo', 'python3'], ['su', 'bash'], ['sshd-session', 'systemd-cat']]) {
      const [e] = readExport(exportEntry(text({ ...SSHD, SYSLOG_IDENTIFIER: ident, _COMM: comm, _EXE: `/usr/bin/${comm}` })));
      const ev = journalEvent(e, receipt);
      assert.deepEqual(ev.tags, ['log_spoofing_suspected'], `${ident} from ${comm}`);
      assert.deepEqual(ev.trailwatch?.spoofing, { claimed: ident, writer: comm, executable: `/usr/bin/${comm}` });
      assert.equal(ev.process?.name, comm, 'the event names the real writer');
      assert.equal(ev.log?.syslog?.appname, ident, 'and keeps the claimed identifier');
      createDecoder().decode(ev);
      assert.equal(ev.event.action, undefined, `the forged ${ident} line is not read as a login or command`);
      assert.equal(ev.source?.ip, undefined);
    }
    for (const [ident, comm] of [['sshd', 'sshd'], ['sshd', 'sshd-session'], ['sudo', 'sudo'], ['cron', 'logger']]) {
      const [e] = readExport(exportEntry(text({ ...SSHD, SYSLOG_IDENTIFIER: ident, _COMM: comm })));
      assert.equal(journalEvent(e, receipt).tags, undefined, `${ident} from ${comm} is not spoofing`);
    }
  });

  it('program-chosen fields go to journald.custom, lower-cased', () => {
    const [e] = readExport(exportEntry(text({ ...SSHD, CODE_FILE: 'auth.c', MY_FIELD: 'v' })));
    assert.deepEqual(journalEvent(e, receipt).journald?.custom, { code_file: 'auth.c', my_field: 'v' });
  });

  it('a broken entry is an unparsed event holding its text and the reason', () => {
    const [e] = readExport('MESSAGE=x\nnot a field\n\n');
    const ev = journalEvent(e, receipt);
    assert.deepEqual(ev.tags, ['unparsed']);
    assert.equal(ev.event.original, 'MESSAGE=x\nnot a field\n');
    assert.match(String(ev.trailwatch?.error), /bad field name/);
  });

  it('journalctl -o json entries read the same as export ones (binary values as byte arrays, repeated fields as arrays)', () => {
    const json = { ...SSHD, MESSAGE: [...Buffer.from('two\nlines')], TAG: ['a', 'b'] };
    const e = entryFromJson(JSON.parse(JSON.stringify(json)));
    assert.equal(e.fields.get('MESSAGE'), 'two\nlines');
    assert.equal(e.fields.get('TAG'), 'a');
    assert.deepEqual(e.repeated, { TAG: ['b'] });
    const [x] = readExport(exportEntry(text(SSHD)));
    assert.deepEqual(journalEvent(entryFromJson({ ...SSHD }), receipt), journalEvent(x, receipt));
  });
});
