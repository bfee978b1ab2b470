// `trailwatch run` (the built CLI) receiving from a real rsyslogd that forwards
// over TCP (octet-counted) and TLS (rsyslog-gnutls, client certificate), plus
// logger straight to trailwatch; events checked in the NDJSON files and /metrics.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TwEvent } from '../src/event.js';
import { freePort, startCli, tempDir, waitFor } from './helpers.js';
import { startRsyslog, type Rsyslog } from './rsyslog-helpers.js';

const run = promisify(execFile);

/** A CA, a server certificate for "trailwatch.test" and a client certificate, made with openssl. */
async function makeCerts(dir: string): Promise<void> {
  const o = (args: string[]) => run('openssl', args, { cwd: dir });
  await o(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=trailwatch test CA', '-keyout', 'ca.key', '-out', 'ca.pem']);
  for (const [name, cn, ext] of [
    ['server', 'trailwatch.test', 'subjectAltName=DNS:trailwatch.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth'],
    ['client', 'sender.test', 'subjectAltName=DNS:sender.test\nextendedKeyUsage=clientAuth'],
  ]) {
    writeFileSync(join(dir, `${name}.ext`), ext + '\n');
    await o(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`]);
    await o(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
  }
}

function readEvents(dataDir: string): TwEvent[] {
  const dir = join(dataDir, 'events');
  if (!existsSync(dir)) return [];
  const out: TwEvent[] = [];
  for (const f of readdirSync(dir).sort())
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) if (line) out.push(JSON.parse(line) as TwEvent);
  return out;
}

function metric(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('ingest > syslog > trailwatch run with rsyslog and logger', () => {
  const tmp = tempDir('tw-rsyslog-');
  const dataDir = join(tmp.dir, 'data');
  let tw: { child: ChildProcess; logs: () => string };
  let rsyslog: Rsyslog | undefined;
  let ports: { udp: number; tcp: number; tls: number; http: number };
  let rsyslogPort = 0;

  before(async () => {
    await makeCerts(tmp.dir);
    const cfg = join(tmp.dir, 'trailwatch.yaml');
    writeFileSync(
      cfg,
      [
        `data_dir: ${dataDir}`,
        'http: { host: 127.0.0.1, port: 0 }',
        'syslog:',
        '  host: 127.0.0.1',
        '  udp: { port: 0, ipv6: false }',
        '  tcp: { port: 0 }',
        `  tls: { enabled: true, port: 0, cert: ${tmp.dir}/server.pem, key: ${tmp.dir}/server.key, ca: ${tmp.dir}/ca.pem, require_client_cert: true }`,
      ].join('\n') + '\n',
    );
    tw = await startCli(['-c', cfg, 'run']);
    const listening = JSON.parse(tw.logs().split('\n').find((l) => l.includes('"syslog listening"'))!);
    const http = JSON.parse(tw.logs().split('\n').find((l) => l.includes('"http listening"'))!);
    ports = { udp: listening.udpPort, tcp: listening.tcpPort, tls: listening.tlsPort, http: http.http.port };

    // rsyslogd: its own config and work dir, no imuxsock/imklog; UDP in, forwarded to trailwatch twice.
    rsyslogPort = await freePort();
    rsyslog = startRsyslog(
      tmp.dir,
      `module(load="imudp")
input(type="imudp" address="127.0.0.1" port="${rsyslogPort}" ruleset="fwd")
ruleset(name="fwd") {
  action(type="omfwd" target="127.0.0.1" port="${ports.tcp}" protocol="tcp" tcp_framing="octet-counted"
         template="RSYSLOG_SyslogProtocol23Format")
  action(type="omfwd" target="127.0.0.1" port="${ports.tls}" protocol="tcp" tcp_framing="octet-counted"
         streamDriver="gtls" streamDriverMode="1" streamDriverAuthMode="x509/name"
         streamDriverPermittedPeers="trailwatch.test" template="RSYSLOG_ForwardFormat")
}`,
      `defaultNetstreamDriverCAFile="${tmp.dir}/ca.pem"
  defaultNetstreamDriverCertFile="${tmp.dir}/client.pem"
  defaultNetstreamDriverKeyFile="${tmp.dir}/client.key"`,
    );
  });

  after(async () => {
    if (process.env.TW_DEBUG) process.stderr.write(`--- trailwatch logs\n${tw?.logs()}\n--- events\n${JSON.stringify(readEvents(dataDir).map((e) => [e.trailwatch?.input?.type, e.message]))}\n`);
    await rsyslog?.stop();
    if (tw?.child.exitCode === null) {
      tw.child.kill('SIGTERM');
      await new Promise((r) => tw.child.once('exit', r));
    }
    tmp.cleanup();
  });

  const events = () => readEvents(dataDir);

  it('receives what rsyslog forwards over TCP (octet counting) and TLS (client certificate)', async () => {
    // rsyslog may still be starting: send until the line shows up.
    const msg = 'Failed password for invalid user bob from 203.0.113.5 port 4242 ssh2 marker-r1';
    const got = await waitFor(
      async () => {
        await run('logger', ['-n', '127.0.0.1', '-P', String(rsyslogPort), '-d', '--rfc3164', '-t', 'sshd', '-i', '-p', 'authpriv.info', msg]);
        // rsyslog's templates keep the space before MSG of an RFC 3164 input.
        const evs = events().filter((e) => e.message?.trim() === msg);
        const tcp = evs.find((e) => e.trailwatch?.input?.type === 'tcp');
        const tls = evs.find((e) => e.trailwatch?.input?.type === 'tls');
        return tcp && tls ? { tcp, tls } : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, what: 'forwarded events over tcp and tls' },
    );
    for (const ev of [got.tcp, got.tls]) {
      assert.equal(ev.process?.name, 'sshd');
      assert.equal(typeof ev.process?.pid, 'number');
      assert.deepEqual(ev.log?.syslog?.facility, { code: 10, name: 'authpriv' });
      assert.equal(ev.log?.syslog?.severity?.name, 'Informational');
      assert.ok(ev.host?.name);
      assert.equal(ev.tags, undefined);
    }
    assert.equal(got.tcp.log?.syslog?.version, 1, 'RSYSLOG_SyslogProtocol23Format is RFC 5424');
    assert.equal(got.tls.log?.syslog?.version, undefined, 'RSYSLOG_ForwardFormat is RFC 3164 with an RFC 3339 time');
    assert.match(got.tls.event.original!, /^<86>\d{4}-\d\d-\d\dT/);
  });

  it('refuses a TLS sender without a client certificate', async () => {
    const before = events().length;
    await new Promise<void>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port: ports.tls, ca: readFileSync(join(tmp.dir, 'ca.pem')), servername: 'trailwatch.test' }, () => {
        s.write('<13>Jan 19 10:00:00 h a: should not land marker-r2\n');
      });
      s.on('error', () => resolve());
      s.on('close', () => resolve());
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(events().slice(before).filter((e) => e.message?.includes('marker-r2')).length, 0);
  });

  it('receives logger over UDP and TCP, keeps malformed input, and counts it in /metrics', async () => {
    await run('logger', ['-n', '127.0.0.1', '-P', String(ports.udp), '-d', '--rfc5424', '-t', 'direct', 'udp marker-r3']);
    await run('logger', ['-n', '127.0.0.1', '-P', String(ports.tcp), '-T', '--octet-count', '--rfc5424', '--sd-id', 'meta@1', '--sd-param', 'k="v"', '-t', 'direct', 'tcp marker-r4']);
    await new Promise<void>((resolve, reject) => {
      const s = tcpConnect({ host: '127.0.0.1', port: ports.tcp }, () => s.end('\u0000\u0001 binary junk marker-r5\n'));
      s.on('close', () => resolve());
      s.on('error', reject);
    });
    await waitFor(() => ['marker-r3', 'marker-r4', 'marker-r5'].every((m) => events().some((e) => e.message?.includes(m))), { what: 'direct events' });
    const junk = events().find((e) => e.message?.includes('marker-r5'))!;
    assert.deepEqual(junk.tags, ['unparsed']);
    assert.deepEqual(events().find((e) => e.message === 'tcp marker-r4')?.log?.syslog?.structured_data?.['meta@1'], { k: 'v' });
    const text = await (await fetch(`http://127.0.0.1:${ports.http}/metrics`)).text();
    assert.ok(metric(text, 'trailwatch_syslog_received_messages_total', 'transport="tcp"') >= 3);
    assert.ok(metric(text, 'trailwatch_syslog_received_messages_total', 'transport="tls"') >= 1);
    assert.ok(metric(text, 'trailwatch_syslog_received_messages_total', 'transport="udp"') >= 1);
    assert.ok(metric(text, 'trailwatch_syslog_parsed_messages_total', 'format="rfc5424"') >= 3);
    assert.ok(metric(text, 'trailwatch_syslog_parsed_messages_total', 'format="rfc3164"') >= 1);
    assert.ok(metric(text, 'trailwatch_syslog_unparsed_messages_total') >= 1);
    assert.ok(metric(text, 'trailwatch_syslog_received_bytes_total', 'transport="tls"') > 0);
  });

  it('flushes what it holds on SIGTERM', async () => {
    const N = 5000;
    let data = '';
    for (let i = 0; i < N; i++) data += `<13>Jan 19 10:00:00 host app: sigterm flush ${i}\n`;
    await new Promise<void>((resolve, reject) => {
      const s = tcpConnect({ host: '127.0.0.1', port: ports.tcp }, () => s.end(data, () => resolve()));
      s.on('error', reject);
    });
    tw.child.kill('SIGTERM');
    const code = await new Promise((r) => tw.child.once('exit', r));
    assert.equal(code, 0);
    const got = events().filter((e) => e.message?.startsWith('sigterm flush '));
    assert.equal(got.length, N);
    assert.match(tw.logs(), /"msg":"stopped"/);
  });
});
