import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SyslogParser, type Receipt } from '../src/ingest/syslog/parse.js';
import { Framer } from '../src/ingest/syslog/framing.js';

const NOW = Date.UTC(2024, 0, 20, 12, 0, 0);

function receipt(nowMs = NOW): Receipt {
  return { nowMs, created: new Date(nowMs).toISOString(), input: 'tcp', peer: '192.0.2.7:51234', peerHost: '192.0.2.7' };
}

function parse(line: string, opts: { now?: number; year?: 'nearest' | 'receipt' } = {}) {
  const p = new SyslogParser({ timezone: 'utc', defaultYearFrom: opts.year ?? 'nearest' });
  return p.parse(line, receipt(opts.now));
}

describe('ingest > syslog > parse > RFC 3164 and traditional formats', () => {
  it('reads the RFC 3164 example with PRI, hostname and tag', () => {
    const ev = parse("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8");
    assert.equal(ev['@timestamp'], '2023-10-11T22:14:15.000Z');
    assert.equal(ev.host?.name, 'mymachine');
    assert.equal(ev.process?.name, 'su');
    assert.equal(ev.process?.pid, undefined);
    assert.equal(ev.message, "'su root' failed for lonvick on /dev/pts/8");
    assert.deepEqual(ev.log?.syslog, {
      facility: { code: 4, name: 'auth' },
      severity: { code: 2, name: 'Critical' },
      priority: 34,
      hostname: 'mymachine',
      appname: 'su',
    });
    assert.equal(ev.event.dataset, 'syslog');
    assert.equal(ev.event.original, "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8");
    assert.equal(ev.event.created, '2024-01-20T12:00:00.000Z');
    assert.deepEqual(ev.trailwatch?.input, { type: 'tcp', peer: '192.0.2.7:51234' });
    assert.equal(ev.log?.source?.address, '192.0.2.7:51234');
    assert.equal(ev.tags, undefined);
    assert.match(ev.event.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('reads a Debian auth.log line (no PRI) with app[pid]', () => {
    const ev = parse('Jan 19 03:00:01 web1 sshd[1234]: Failed password for invalid user admin from 203.0.113.9 port 4242 ssh2');
    assert.equal(ev['@timestamp'], '2024-01-19T03:00:01.000Z');
    assert.equal(ev.host?.name, 'web1');
    assert.deepEqual(ev.process, { name: 'sshd', pid: 1234 });
    assert.equal(ev.log?.syslog?.procid, '1234');
    assert.equal(ev.log?.syslog?.priority, undefined);
    assert.equal(ev.message, 'Failed password for invalid user admin from 203.0.113.9 port 4242 ssh2');
  });

  it('reads a RHEL secure line with a space-padded day and leading spaces in the message', () => {
    const ev = parse('Jan  5 09:12:33 rhel9 sudo[4242]:   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/cat /etc/shadow');
    assert.equal(ev['@timestamp'], '2024-01-05T09:12:33.000Z');
    assert.equal(ev.host?.name, 'rhel9');
    assert.deepEqual(ev.process, { name: 'sudo', pid: 4242 });
    assert.equal(ev.message, '  alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/cat /etc/shadow');
  });

  it('keeps tags with dashes, slashes and dots', () => {
    assert.equal(parse('<38>Jan  5 09:12:33 h systemd-logind[812]: New session 42 of user alice.').process?.name, 'systemd-logind');
    assert.equal(parse('<22>Jan  5 09:12:33 mx1 postfix/smtpd[99]: connect from unknown').process?.name, 'postfix/smtpd');
    const pam = parse('<37>Jan  5 09:12:33 rhel9 su: pam_unix(su-l:auth): authentication failure; logname=alice uid=1000');
    assert.equal(pam.process?.name, 'su');
    assert.equal(pam.message, 'pam_unix(su-l:auth): authentication failure; logname=alice uid=1000');
  });

  it('reads RFC 3339 timestamps as rsyslog forwards them (RSYSLOG_ForwardFormat and Debian 12 files)', () => {
    const ev = parse('<38>2024-01-15T10:00:00.123456+01:00 web1 sshd[1234]: Accepted publickey for deploy from 198.51.100.7 port 50022 ssh2');
    assert.equal(ev['@timestamp'], '2024-01-15T09:00:00.123456Z');
    assert.equal(ev.host?.name, 'web1');
    assert.deepEqual(ev.process, { name: 'sshd', pid: 1234 });
    assert.equal(ev.log?.syslog?.version, undefined);
    const file = parse('2024-01-15T10:00:00.123456+00:00 web1 CRON[77]: pam_unix(cron:session): session closed for user root');
    assert.equal(file['@timestamp'], '2024-01-15T10:00:00.123456Z');
    assert.equal(file.process?.name, 'CRON');
  });

  it('reads lines without hostname (the first word is the tag)', () => {
    const ev = parse('<86>Jan 19 10:00:00 sshd[5]: Connection closed by 198.51.100.1 port 22');
    assert.equal(ev.log?.syslog?.hostname, undefined);
    assert.equal(ev.host?.name, '192.0.2.7', 'host.name falls back to the sender address');
    assert.deepEqual(ev.process, { name: 'sshd', pid: 5 });
  });

  it('reads a line without a tag (RFC 3164 example 2)', () => {
    const ev = parse('<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!');
    assert.equal(ev.host?.name, '10.0.0.99');
    assert.equal(ev.process, undefined);
    assert.equal(ev.message, 'Use the BFG!');
  });

  it('reads an IPv6 address as hostname', () => {
    const ev = parse('<13>Jan 19 09:12:33 2001:db8::1 app: hello');
    assert.equal(ev.host?.name, '2001:db8::1');
    assert.equal(ev.process?.name, 'app');
  });

  it('reads a year and fractional seconds after the date (Cisco style, colon after the time)', () => {
    const ev = parse('<189>Jan 15 2023 10:00:00.250: %SYS-5-CONFIG_I: Configured from console by admin');
    assert.equal(ev['@timestamp'], '2023-01-15T10:00:00.250Z');
    assert.equal(ev.log?.syslog?.severity?.name, 'Notice');
    assert.equal(ev.log?.syslog?.facility?.name, 'local7');
  });

  it('takes a PRI without a timestamp as syslog with the receipt time', () => {
    const ev = parse('<13>hello world');
    assert.equal(ev['@timestamp'], '2024-01-20T12:00:00.000Z');
    assert.equal(ev.message, 'hello world');
    assert.equal(ev.tags, undefined);
  });
});

describe('ingest > syslog > parse > year-less timestamps', () => {
  it('"nearest" puts Dec 31 received on Jan 1 in the previous year', () => {
    const ev = parse('<13>Dec 31 23:59:59 h app: x', { now: Date.UTC(2025, 0, 1, 0, 0, 5) });
    assert.equal(ev['@timestamp'], '2024-12-31T23:59:59.000Z');
  });
  it('"nearest" puts Jan 1 from a fast clock received on Dec 31 in the next year', () => {
    const ev = parse('<13>Jan  1 00:00:01 h app: x', { now: Date.UTC(2024, 11, 31, 23, 59, 58) });
    assert.equal(ev['@timestamp'], '2025-01-01T00:00:01.000Z');
  });
  it('"nearest" never puts a line months in the future', () => {
    const ev = parse('<13>Feb  5 10:00:00 h app: x', { now: Date.UTC(2024, 10, 29, 12, 0, 0) });
    assert.equal(ev['@timestamp'], '2024-02-05T10:00:00.000Z');
  });
  it('"receipt" uses the year of receipt', () => {
    const ev = parse('<13>Dec 31 23:59:59 h app: x', { now: Date.UTC(2025, 0, 1, 0, 0, 5), year: 'receipt' });
    assert.equal(ev['@timestamp'], '2025-12-31T23:59:59.000Z');
  });
  it('"local" reads the time in the process time zone', () => {
    const saved = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      const p = new SyslogParser({ timezone: 'local' });
      const ev = p.parse('<13>Jan 19 10:00:00 h app: x', receipt());
      assert.equal(ev['@timestamp'], '2024-01-19T15:00:00.000Z');
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
});

describe('ingest > syslog > parse > RFC 5424', () => {
  it('reads RFC 5424 example 1 (NILVALUE procid and SD, BOM before MSG)', () => {
    const ev = parse("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \uFEFF'su root' failed for lonvick on /dev/pts/8");
    assert.equal(ev['@timestamp'], '2003-10-11T22:14:15.003Z');
    assert.equal(ev.message, "'su root' failed for lonvick on /dev/pts/8");
    assert.deepEqual(ev.log?.syslog, {
      facility: { code: 4, name: 'auth' },
      severity: { code: 2, name: 'Critical' },
      priority: 34,
      version: 1,
      hostname: 'mymachine.example.com',
      appname: 'su',
      msgid: 'ID47',
    });
    assert.deepEqual(ev.process, { name: 'su' });
  });

  it('reads RFC 5424 example 2 (microseconds and a negative offset)', () => {
    const ev = parse("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.");
    assert.equal(ev['@timestamp'], '2003-08-24T12:14:15.000003Z');
    assert.equal(ev.host?.name, '192.0.2.1');
    assert.deepEqual(ev.process, { name: 'myproc', pid: 8710 });
    assert.equal(ev.log?.syslog?.msgid, undefined);
    assert.equal(ev.message, "%% It's time to make the do-nuts.");
  });

  it('reads RFC 5424 examples 3 and 4 (structured data, one and two elements)', () => {
    const three = parse(
      '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] \uFEFFAn application event log entry...',
    );
    assert.deepEqual(three.log?.syslog?.structured_data, { 'exampleSDID@32473': { iut: '3', eventSource: 'Application', eventID: '1011' } });
    assert.equal(three.message, 'An application event log entry...');
    const four = parse(
      '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]',
    );
    assert.deepEqual(four.log?.syslog?.structured_data, {
      'exampleSDID@32473': { iut: '3', eventSource: 'Application', eventID: '1011' },
      'examplePriority@32473': { class: 'high' },
    });
    assert.equal(four.message, '');
  });

  it('unescapes \\" \\\\ \\] in PARAM-VALUE and keeps other backslashes', () => {
    const ev = parse('<13>1 2024-01-19T10:00:00Z h app - - [x@1 a="say \\"hi\\"" b="c:\\\\dir" c="[1\\]" d="\\n"] m');
    assert.deepEqual(ev.log?.syslog?.structured_data, { 'x@1': { a: 'say "hi"', b: 'c:\\dir', c: '[1]', d: '\\n' } });
    assert.equal(ev.message, 'm');
  });

  it('reads an all-NILVALUE header with the receipt time', () => {
    const ev = parse('<13>1 - - - - - -');
    assert.equal(ev['@timestamp'], '2024-01-20T12:00:00.000Z');
    assert.equal(ev.host?.name, '192.0.2.7');
    assert.equal(ev.process, undefined);
    assert.equal(ev.tags, undefined);
  });

  it('normalises offsets and short fractions to UTC with milliseconds', () => {
    assert.equal(parse('<13>1 2024-01-19T23:30:00.5+05:30 h a - - - m')['@timestamp'], '2024-01-19T18:00:00.500Z');
    assert.equal(parse('<13>1 2024-02-29T23:59:59-00:30 h a - - - m')['@timestamp'], '2024-03-01T00:29:59.000Z');
  });

  it('keeps a non-numeric PROCID as log.syslog.procid only', () => {
    const ev = parse('<13>1 2024-01-19T10:00:00Z h app worker-3 - - m');
    assert.equal(ev.log?.syslog?.procid, 'worker-3');
    assert.deepEqual(ev.process, { name: 'app' });
  });

  it('takes "__proto__" in structured data as data, not as a prototype', () => {
    const ev = parse('<13>1 2024-01-19T10:00:00Z h app - - [__proto__ __proto__="x" polluted="yes"] m');
    const sd = ev.log?.syslog?.structured_data as Record<string, Record<string, string>>;
    assert.equal(Object.getOwnPropertyDescriptor(sd, '__proto__')?.value.polluted, 'yes');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe('ingest > syslog > parse > lines without PRI or timestamp (journalctl, header-stripping relays)', () => {
  it('reads "app[pid]: msg" with the receipt time and the sender as host', () => {
    const ev = parse('sshd[4242]: Failed password for root from 203.0.113.9 port 4711 ssh2');
    assert.equal(ev.tags, undefined);
    assert.deepEqual(ev.process, { name: 'sshd', pid: 4242 });
    assert.equal(ev.host?.name, '192.0.2.7');
    assert.equal(ev['@timestamp'], '2024-01-20T12:00:00.000Z');
    assert.equal(ev.message, 'Failed password for root from 203.0.113.9 port 4711 ssh2');
    assert.equal(ev.log?.syslog?.priority, undefined);
  });

  it('reads "host app[pid]: msg" with the host it names', () => {
    const ev = parse('web1.example.org sshd[4242]: Invalid user oracle from 198.51.100.20 port 50000');
    assert.equal(ev.host?.name, 'web1.example.org');
    assert.equal(ev.log?.syslog?.hostname, 'web1.example.org');
    assert.deepEqual(ev.process, { name: 'sshd', pid: 4242 });
    assert.equal(ev.message, 'Invalid user oracle from 198.51.100.20 port 50000');
    assert.equal(parse('2001:db8::5 sudo[77]: m').host?.name, '2001:db8::5');
  });

  it('reads "app: msg" without a pid (sudo, su)', () => {
    const ev = parse('sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id');
    assert.deepEqual(ev.process, { name: 'sudo' });
    assert.equal(ev.message, '   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id');
  });

  for (const line of ['two words: then prose', 'web1 sudo: no pid after a host', 'sshd[12x]: pid not numeric', 'a=b: key value', 'word[]: empty pid', ':: colons']) {
    it(`keeps ${JSON.stringify(line)} unparsed (not shaped like a TAG)`, () => {
      const ev = parse(line);
      assert.deepEqual(ev.tags, ['unparsed']);
      assert.equal(ev.message, line);
    });
  }

  it('counts them as RFC 3164', () => {
    const p = new SyslogParser();
    for (const l of ['sshd[1]: a', 'h sshd[1]: b', 'su: c', 'prose here']) p.parse(l, receipt());
    assert.deepEqual([p.rfc3164, p.unparsed], [3, 1]);
  });
});

describe('ingest > syslog > parse > journalctl -o short-iso offsets', () => {
  it('reads +hhmm as well as +hh:mm', () => {
    assert.equal(parse('2024-01-19T10:00:00+0000 web1 sshd[1]: m')['@timestamp'], '2024-01-19T10:00:00.000Z');
    assert.equal(parse('2024-01-19T10:00:00.123456-0130 web1 sshd[1]: m')['@timestamp'], '2024-01-19T11:30:00.123456Z');
    assert.equal(parse('<13>1 2024-01-19T23:30:00+0530 h a - - - m')['@timestamp'], '2024-01-19T18:00:00.000Z');
    assert.deepEqual(parse('2024-01-19T10:00:00+00 web1 sshd[1]: m').tags, ['unparsed']);
  });
});

describe('ingest > syslog > parse > what cannot be parsed', () => {
  for (const line of ['garbage line', '<999>Oct 11 22:14:15 x y: z', '<13>1 2024-01-19T10:00:00Z h app - - [broken m', '<13>1 notatime h a - - - m', '']) {
    it(`keeps ${JSON.stringify(line)} as an unparsed event`, () => {
      const ev = parse(line);
      assert.deepEqual(ev.tags, ['unparsed']);
      assert.equal(ev.message, line);
      assert.equal(ev.event.original, line);
      assert.equal(ev['@timestamp'], '2024-01-20T12:00:00.000Z');
      assert.equal(ev.host?.name, '192.0.2.7');
    });
  }

  it('counts outcomes per format', () => {
    const p = new SyslogParser();
    for (const l of ['<13>Jan 19 10:00:00 h a: m', '<13>1 - - - - - -', 'junk', 'junk']) p.parse(l, receipt());
    assert.deepEqual([p.rfc3164, p.rfc5424, p.unparsed], [1, 1, 2]);
  });

  it('replaces invalid UTF-8 instead of failing', () => {
    const f = new Framer(1024);
    f.push(Buffer.concat([Buffer.from('<13>Jan 19 10:00:00 h app: bad '), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(' end\n')]));
    assert.equal(f.lines.length, 1);
    const ev = parse(f.lines[0]);
    assert.equal(ev.message, 'bad \uFFFD\uFFFD\uFFFD end');
    assert.equal(ev.tags, undefined);
  });
});
