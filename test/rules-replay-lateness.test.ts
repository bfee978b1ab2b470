import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import type { Alert, TwEvent } from '../src/event.js';
import { rulesConfig } from '../src/rules/config.js';
import { Detector } from '../src/rules/engine.js';
import { createDecoder } from '../src/rules/decoders/index.js';
import { defaultPackDir, loadRules } from '../src/rules/loader.js';
import { replay, YearTracker } from '../src/rules/replay.js';
import { eachLine, StampScanner, timeRegression } from '../src/rules/replay-input.js';
import { parseLine } from '../src/rules/replay-parse.js';
import { ALLOWED_LATENESS_MS } from '../src/rules/windows.js';
import { tempDir } from './helpers.js';

/** replay's @timestamp for lines before the first one with a time (the file's mtime). */
const START = '2024-06-01T00:00:00.000Z';
const tmp = tempDir('tw-lateness-');
after(() => tmp.cleanup());
const file = (name: string, lines: string[]) => {
  const p = join(tmp.dir, name);
  writeFileSync(p, lines.join('\n') + '\n');
  return p;
};
const rules = loadRules([defaultPackDir()]);
const config = rulesConfig.parse({});

async function run(input: string, stdinText?: string): Promise<TwEvent[]> {
  let text = '';
  const out = new Writable({
    write(c, _e, cb) {
      text += String(c);
      cb();
    },
  });
  const stdin = stdinText === undefined ? undefined : Readable.from([stdinText]);
  await replay({ input, format: 'syslog', rules, config, year: 2024, out, alertsOnly: true, summary: false, stdin });
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as TwEvent);
}

const stamp = (ms: number) => {
  const d = new Date(ms);
  const t = d.toISOString();
  return `Mar ${String(d.getUTCDate()).padStart(2, ' ')} ${t.slice(11, 19)}`;
};
const T = Date.parse('2024-03-03T10:00:00Z');
const fail = (ms: number, ip: string, pid: number) => `${stamp(ms)} web1 sshd[${pid}]: Failed password for admin from ${ip} port 4000 ssh2`;
const cron = (ms: number, pid: number) => `${stamp(ms)} web2 CRON[${pid}]: pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)`;

/**
 * Five failures from one source, 25 minutes of other lines (enough for the
 * engine to sweep idle keys), then a sixth failure stamped right after the
 * five: 25 minutes back in time, as a relay catching up writes it.
 */
function lateBurst(): string[] {
  const lines: string[] = [];
  for (let i = 0; i < 5; i++) lines.push(fail(T + i * 1000, '198.51.100.7', 100 + i));
  for (let i = 0; i < 3000; i++) lines.push(cron(T + 10_000 + i * 500, 1000 + i));
  lines.push(fail(T + 6000, '198.51.100.7', 200));
  return lines;
}

const ids = (evs: TwEvent[]) => evs.map((a) => `${a.rule!.id} ${a.event.id} ${(a as Alert).trailwatch.alert.count}`).sort();

describe('rules > replay > lateness measured from the file', () => {
  it('a file that goes back 25 minutes raises the alerts of the live default (the late failure completes a burst)', async () => {
    const lines = lateBurst();
    const p = file('late.log', lines);
    const years = new YearTracker(2024);
    // The last filler is stamped 10:25:09 (to the second), the late failure 10:00:06.
    assert.equal(await timeRegression(p, (m) => years.yearFor(m), ALLOWED_LATENESS_MS, START), 1_503_000);
    const fromFile = await run(p);
    const fromStdin = await run('-', lines.join('\n') + '\n'); // stdin keeps the default lateness
    assert.ok(fromFile.some((a) => a.rule!.id === 'ssh-failed-login-burst'), 'the late sixth failure counts');
    assert.deepEqual(ids(fromFile), ids(fromStdin));
  });

  it('the test above depends on the lateness: with none, the late failure is lost', () => {
    const det = new Detector(rules, { latenessMs: 0 });
    const { decode } = createDecoder();
    const out: Alert[] = [];
    let last = new Date(0).toISOString();
    lateBurst().forEach((line, i) => {
      const ev = parseLine(line, { id: `x-${i}`, year: () => 2024, fallbackTime: last });
      last = ev['@timestamp'];
      decode(ev);
      det.process(ev, out);
    });
    assert.ok(!out.some((a) => a.rule.id === 'ssh-failed-login-burst'));
  });

  it('an ordered file needs none; beyond the default it is the default; an unsure file is null', async () => {
    const years = () => {
      const y = new YearTracker(2024);
      return (m: number) => y.yearFor(m);
    };
    const ordered = file('ordered.log', [fail(T, '192.0.2.1', 1), fail(T, '192.0.2.1', 2), cron(T + 1000, 3)]);
    assert.equal(await timeRegression(ordered, years(), ALLOWED_LATENESS_MS, START), 0);
    const far = file('far.log', [fail(T + 3 * 3600_000, '192.0.2.1', 1), fail(T, '192.0.2.1', 2)]);
    assert.equal(await timeRegression(far, years(), ALLOWED_LATENESS_MS, START), ALLOWED_LATENESS_MS);
    const oddPrefix = file('odd.log', [fail(T, '192.0.2.1', 1), `<999>${fail(T, '192.0.2.1', 2)}`]);
    assert.equal(await timeRegression(oddPrefix, years(), ALLOWED_LATENESS_MS, START), null);
    const monthBack = file('month.log', ['Apr  1 00:00:00 h app: a', 'Mar 31 23:59:00 h app: b']);
    assert.equal(await timeRegression(monthBack, years(), ALLOWED_LATENESS_MS, START), null);
  });

  it("reads each line's time as replay does, without parsing the plain ones", () => {
    const lines = [
      'Mar  3 10:15:01 web1 sshd[811]: Failed password for root from 203.0.113.9 port 51234 ssh2',
      '<38>Mar  3 10:15:02 web1 sshd[811]: Connection closed',
      '<38>Mar  3 10:15:02.250 web1 sshd[811]: fractional',
      'Mar  3 2024 10:15:03 web1 app: with a year',
      'Mar  3 10:15:04: cisco style',
      'Mar  3 10:15:0x broken time',
      '<86>1 2024-03-03T10:15:03.120Z db1 sudo 901 - [meta sequenceId="7"] alice : COMMAND=/usr/bin/id',
      '<86>1 - db1 sudo 901 - - no time',
      '2024-03-03T10:15:04.000000+00:00 web2 CRON[77]: opened',
      'this line is not syslog at all',
      'web3 sshd[12]: no time, a host',
      'sshd[13]: no time, no host',
      '',
      'Apr  1 00:00:00 h app: next month',
    ];
    const a = new YearTracker(2024);
    const b = new YearTracker(2024);
    const scan = new StampScanner((m) => a.yearFor(m), START);
    let last = START;
    for (const line of lines) {
      const want = parseLine(line, { id: 'x', year: (m) => b.yearFor(m), fallbackTime: last })['@timestamp'];
      assert.equal(scan.next(line), want, line);
      last = want;
    }
  });
});

describe('rules > replay > reading lines', () => {
  it('splits any text into the lines of split("\\n") (one CR trimmed, no line after a final LF), however it is chunked', async () => {
    const text = fc.array(fc.constantFrom('a', 'é', '€', ' ', '\r', '\n', 'x'.repeat(300)), { maxLength: 60 }).map((a) => a.join(''));
    await fc.assert(
      fc.asyncProperty(text, fc.array(fc.integer({ min: 1, max: 50 }), { maxLength: 20 }), async (t, cuts) => {
        const want = t.split('\n');
        if (want[want.length - 1] === '') want.pop();
        const buf = Buffer.from(t);
        const chunks: Buffer[] = [];
        let at = 0;
        for (const c of cuts) {
          if (at >= buf.length) break;
          chunks.push(buf.subarray(at, at + c)); // may split a UTF-8 character
          at += c;
        }
        if (at < buf.length) chunks.push(buf.subarray(at));
        const got: string[] = [];
        await eachLine(Readable.from(chunks, { objectMode: false }), (l) => got.push(l) > 2, async () => {});
        assert.deepEqual(got, want.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)));
      }),
      { numRuns: 300 },
    );
  });
});
