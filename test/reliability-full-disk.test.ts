// `trailwatch run` with its data directory on a real 4 MiB tmpfs that fills
// up mid-stream (issue #17: events were lost for good and a line was torn).
// While the disk is full the file sink reports the error in /healthz and
// /metrics and holds the records on the bus; once space returns every event
// is written exactly once, and every line of every file is one whole record.
// Needs root (mount); the suite runs as root under `npm test`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { TwEvent } from '../src/event.js';
import { freePort, startCli, tempDir, waitFor } from './helpers.js';

const LINES = 3000;
const root = process.getuid?.() === 0;

/** Every line of every file in dir, each parsed on its own (a torn or glued line throws, naming it). */
function lines(dir: string, opts: { writing?: boolean } = {}): TwEvent[] {
  if (!existsSync(dir)) return [];
  const out: TwEvent[] = [];
  for (const f of readdirSync(dir).sort()) {
    let text = readFileSync(join(dir, f), 'utf8');
    // While the sink is still retrying a write, a read may catch bytes it is about to cut back.
    if (opts.writing) text = text.slice(0, text.lastIndexOf('\n') + 1);
    if (text.length) assert.ok(text.endsWith('\n'), `${f} ends with a whole line`);
    text.split('\n').forEach((l, i) => {
      if (!l) return;
      try {
        out.push(JSON.parse(l) as TwEvent);
      } catch {
        assert.fail(`${f}:${i + 1} is not one JSON record: ${l.slice(0, 120)}…`);
      }
    });
  }
  return out;
}

describe('reliability > embedded run with a data directory on a disk that fills up', { skip: root ? false : 'needs root to mount a tmpfs' }, () => {
  const tmp = tempDir('tw-fulldisk-');
  const data = join(tmp.dir, 'data');
  let cli: Awaited<ReturnType<typeof startCli>> | undefined;
  let syslogPort = 0;
  let httpPort = 0;

  before(async () => {
    mkdirSync(data);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', data]);
    syslogPort = await freePort();
    httpPort = await freePort();
    cli = await startCli(['run', '--data-dir', data, '--syslog-port', String(syslogPort), '--http-port', String(httpPort)], {
      // The file sink alone on the 4 MiB disk: the store (its own test) would take the space back as soon as it returns.
      env: { TRAILWATCH_HTTP__HOST: '127.0.0.1', TRAILWATCH_SYSLOG__HOST: '127.0.0.1', TRAILWATCH_SYSLOG__UDP__ENABLED: 'false', TRAILWATCH_STORE__ENABLED: 'false' },
    });
  });
  after(async () => {
    if (cli && cli.child.exitCode === null) {
      const exited = new Promise((r) => cli!.child.once('exit', r));
      cli.child.kill('SIGKILL');
      await exited;
    }
    if (root) execFileSync('umount', ['-l', data]);
    tmp.cleanup();
  });

  it('holds events while the disk is full, reports it, and writes each exactly once as whole lines when space returns', async () => {
    // Leave the sink a few KiB: the stream below needs about 2.5 MiB.
    const fs = statfsSync(data);
    const filler = join(data, 'filler');
    writeFileSync(filler, Buffer.alloc(Number(fs.bavail) * fs.bsize - 16 * 1024));

    const sock = connect(syslogPort, '127.0.0.1');
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    const at = new Date().toISOString();
    for (let i = 0; i < LINES; i++) {
      const l = `<38>1 ${at} web1 sshd ${1000 + (i % 50)} - - Failed password for invalid user u${i} from 198.51.100.${i % 250} port ${20000 + i} ssh2`;
      sock.write(`${Buffer.byteLength(l)} ${l}`);
    }
    await new Promise<void>((resolve) => sock.end(resolve));

    const health = await waitFor(async () => {
      const r = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
      const body = (await r.json()) as { status: string; stages: Record<string, { ok: boolean; lastError?: string }> };
      return r.status === 503 && body.stages['sink.file']?.ok === false ? body : undefined;
    }, { timeoutMs: 30_000, what: 'the file sink reported failing' });
    assert.match(health.stages['sink.file'].lastError!, /ENOSPC/);
    assert.ok(['unhealthy', 'degraded'].includes(health.status));
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    assert.match(metrics, /trailwatch_sink_write_errors_total\{sink="file",kind="event"\} [1-9]/);
    assert.match(metrics, /trailwatch_bus_handler_failures_total\{group="sink-file",topic="trailwatch.events",kind="transient"\} [1-9]/);
    // Nothing was dead-lettered for a full disk: the records are not at fault.
    assert.doesNotMatch(metrics, /trailwatch_bus_dead_letter_records_total\{[^}]*\} [1-9]/);
    const before = lines(join(data, 'events'), { writing: true }).length;
    assert.ok(before < LINES, `only ${before} of ${LINES} fit before the disk filled`);

    rmSync(filler);
    const events = await waitFor(() => {
      const e = lines(join(data, 'events')).filter((x) => /Failed password for invalid user u\d+ /.test(x.message ?? ''));
      return e.length >= LINES ? e : undefined;
    }, { timeoutMs: 60_000, what: `all ${LINES} events written` });
    // Exactly once: one record per line sent, none twice.
    const users = events.map((e) => /invalid user (u\d+) /.exec(e.message!)![1]);
    assert.equal(new Set(users).size, LINES);
    assert.equal(events.length, LINES);
    assert.equal(new Set(events.map((e) => e.event.id)).size, LINES);
    await waitFor(async () => ((await fetch(`http://127.0.0.1:${httpPort}/healthz`)).status === 200 ? true : undefined), { timeoutMs: 20_000, what: 'healthy again' });
  });
});
