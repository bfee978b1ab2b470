// The journald receiver's promise, tested the hard way: trailwatch is killed
// with SIGKILL while the real systemd-journal-upload is streaming a journal
// to it, started again, and the uploader is rerun with the same state file.
// Distributed (ingest -> Kafka -> rules -> Elasticsearch): every entry is in
// Elasticsearch exactly once. Embedded (`trailwatch run`, NDJSON files):
// every entry is there, duplicates only of what the cut upload had sent.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cliEnv, distributedConfig, uniqueName } from './distributed-helpers.js';
import { runCli, startCli, tempDir, waitFor } from './helpers.js';
import { esCount, logField, httpPortOf, metric, waitForExactly } from './reliability-helpers.js';
import { makeJournal as writeJournal, scanNdjson, startUpload } from './journal-helpers.js';
import { esClient } from '../src/sinks/elasticsearch.js';
import type { TwEvent } from '../src/event.js';
const ENTRIES = Number(process.env.TEST_JOURNAL_CRASH_ENTRIES ?? 30_000);
const tmp = tempDir('tw-journal-crash-');
after(() => tmp.cleanup());

/** A journal file of ENTRIES sshd failures (from OpenSSH's format string), spread over hosts and sources. */
async function makeJournal(dir: string, tag: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const t0 = Date.now() * 1000 - ENTRIES * 1000;
  let text = '';
  for (let i = 0; i < ENTRIES; i++) {
    text +=
      `__REALTIME_TIMESTAMP=${t0 + i * 1000}\n__MONOTONIC_TIMESTAMP=${5_000_000 + i}\n_BOOT_ID=3d0c2b8e9f1a4b6c8d7e6f5a4b3c2d1e\n` +
      `_HOSTNAME=${tag}-${i % 7}\n_TRANSPORT=syslog\n_PID=${2000 + (i % 300)}\n_UID=0\n_COMM=sshd\nPRIORITY=6\nSYSLOG_FACILITY=10\n` +
      `SYSLOG_IDENTIFIER=sshd\nSYSLOG_PID=${2000 + (i % 300)}\n` +
      `MESSAGE=Failed password for invalid user u${i % 89} from 198.51.${(i >> 8) % 200}.${i % 250} port ${20_000 + (i % 40_000)} ssh2\n\n`;
  }
  await writeJournal(dir, tag, Buffer.from(text));
}

/** The warn and error lines (pino level >= 40) of a child's output. */
function warnings(logs: string): string[] {
  return logs.split('\n').filter((l) => /"level":(4|5|6)\d/.test(l)).map((l) => l.slice(0, 400));
}

function upload(port: number, dir: string, state: string): ChildProcess {
  return startUpload(['-u', `http://127.0.0.1:${port}`, `--directory=${dir}`, `--save-state=${state}`, '--follow=no']).child;
}

function exited(p: ChildProcess): Promise<number | null> {
  return new Promise((r) => (p.exitCode !== null ? r(p.exitCode) : p.once('exit', (code) => r(code))));
}

/** Kill `victim` once its journal receiver has taken a part of the upload, not all. */
async function killMidUpload(victim: ChildProcess, httpPort: number): Promise<number> {
  let got = 0;
  await waitFor(async () => {
    got = await metric(httpPort, 'trailwatch_journal_received_entries_total');
    return got >= ENTRIES / 5;
  }, { timeoutMs: 120_000, intervalMs: 20 });
  victim.kill('SIGKILL');
  await exited(victim);
  return got;
}

describe('e2e > journal > SIGKILL mid-upload, restart, upload again', () => {
  it('distributed: every entry in Elasticsearch exactly once', async () => {
    const prefix = uniqueName('tw-jcrash');
    const config = distributedConfig(prefix);
    const cfg = config.sinks.elasticsearch;
    const env = cliEnv(config);
    const client = esClient(cfg);
    const children: ChildProcess[] = [];
    const cleanup = async () => {
      for (const c of children) c.kill('SIGKILL');
      await client.indices.deleteDataStream({ name: cfg.events_data_stream }).catch(() => {});
      await client.indices.delete({ index: cfg.alerts_index, ignore_unavailable: true }).catch(() => {});
      await client.close();
    };
    try {
      for (const what of ['kafka', 'elasticsearch']) {
        const r = await runCli(['setup', what], { env });
        assert.equal(r.code, 0, `setup ${what}: ${r.stderr}`);
      }
      const dir = join(tmp.dir, 'dist', 'journal');
      await makeJournal(dir, 'dj');
      const state = join(tmp.dir, 'dist', 'state');
      const ingestArgs = ['ingest', '--syslog-port', '0', '--http-port', '0', '--journal-port', '0'];
      const first = await startCli(ingestArgs, { env, timeoutMs: 60_000 });
      children.push(first.child);
      const stages: { name: string; logs: () => string }[] = [];
      for (const args of [['rules'], ['sink', 'elasticsearch']]) {
        const c = await startCli([...args, '--http-port', '0'], { env, timeoutMs: 60_000 });
        children.push(c.child);
        stages.push({ name: args.join(' '), logs: c.logs });
      }

      const up1 = upload(logField(first.logs(), 'journal receiver listening (systemd-journal-upload)', 'journalPort') as number, dir, state);
      const before = await killMidUpload(first.child, httpPortOf(first.logs()));
      const code1 = await exited(up1);
      assert.notEqual(code1, 0, 'the uploader saw its upload fail');

      const second = await startCli(ingestArgs, { env, timeoutMs: 60_000 });
      children.push(second.child);
      stages.push({ name: 'ingest (restarted)', logs: second.logs });
      const up2 = upload(logField(second.logs(), 'journal receiver listening (systemd-journal-upload)', 'journalPort') as number, dir, state);
      assert.equal(await exited(up2), 0, 'the rerun uploads the rest');
      const resent = await metric(httpPortOf(second.logs()), 'trailwatch_journal_received_entries_total');
      assert.ok(resent > ENTRIES - before, `the rerun sent from the saved cursor: ${resent} entries after ${before} before the kill`);

      const mine = { term: { 'trailwatch.input.type': 'journal-upload' } };
      await waitForExactly(() => esCount(client, cfg.events_data_stream, mine), ENTRIES, { timeoutMs: 300_000, settleMs: 5000, what: 'journal events in Elasticsearch' }).catch(async (err: Error) => {
        // What the stages said: the warnings and errors of each, last ones first to read.
        const said = stages.map((st) => `${st.name}:\n${warnings(st.logs()).slice(-15).join('\n')}`).join('\n');
        throw new Error(`${err.message}; ${await esCount(client, cfg.events_data_stream, mine)} stored\n${said}`);
      });
      const agg = await client.search({ index: cfg.events_data_stream, size: 0, query: mine, aggs: { ids: { cardinality: { field: 'event.id', precision_threshold: 40_000 } } } });
      const distinct = (agg.aggregations?.ids as { value: number }).value;
      assert.ok(Math.abs(distinct - ENTRIES) <= ENTRIES * 0.01, `about ${ENTRIES} distinct ids, not ${distinct}`);
    } finally {
      await cleanup();
    }
  });

  it('embedded: what got 202 survives a SIGKILL right after; a cut upload is completed by the rerun', async () => {
    const data = join(tmp.dir, 'emb', 'data');
    const args = ['run', '--data-dir', data, '--syslog-port', '0', '--http-port', '0', '--journal-port', '0'];
    const journalIds = () => {
      const ids = new Map<string, number>();
      scanNdjson<TwEvent>(join(data, 'events'), (ev) => {
        if (ev.trailwatch?.input?.type === 'journal-upload') ids.set(ev.event.id, (ids.get(ev.event.id) ?? 0) + 1);
      });
      return ids;
    };
    const children: ChildProcess[] = [];
    const start = async () => {
      const c = await startCli(args, { timeoutMs: 60_000 });
      children.push(c.child);
      return { ...c, journalPort: logField(c.logs(), 'journal receiver listening (systemd-journal-upload)', 'journalPort') as number };
    };
    try {
      // 1. The uploader got its 202 and saved its cursor; trailwatch dies that instant.
      const dirA = join(tmp.dir, 'emb', 'a');
      await makeJournal(dirA, 'ea');
      const first = await start();
      assert.equal(await exited(upload(first.journalPort, dirA, join(tmp.dir, 'emb', 'state-a'))), 0);
      first.child.kill('SIGKILL');
      await exited(first.child);
      assert.equal(journalIds().size, ENTRIES, 'every entry acknowledged with 202 was already written');

      // 2. Killed mid-upload, started again, the uploader rerun with its state file.
      const dirB = join(tmp.dir, 'emb', 'b');
      await makeJournal(dirB, 'eb');
      const stateB = join(tmp.dir, 'emb', 'state-b');
      const second = await start();
      const up = upload(second.journalPort, dirB, stateB);
      await killMidUpload(second.child, httpPortOf(second.logs()));
      assert.notEqual(await exited(up), 0, 'the uploader saw its upload fail');
      const third = await start();
      assert.equal(await exited(upload(third.journalPort, dirB, stateB)), 0);
      const ids = journalIds();
      assert.equal(ids.size, 2 * ENTRIES, 'every entry of both journals is there');
      const copies = [...ids.values()].reduce((a, b) => a + b, 0) - ids.size;
      assert.ok(copies < ENTRIES, `at most the cut upload's entries twice (${copies} copies)`);
    } finally {
      for (const c of children) c.kill('SIGKILL');
    }
  });
});
