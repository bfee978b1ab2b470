import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Running } from '../src/pipeline.js';
import { runCli, startCli, tempDir, waitFor } from './helpers.js';
import { makeAlert, publish, Receiver, SECRET, startSink } from './webhook-helpers.js';

describe('sinks > webhook > silences', () => {
  const tmp = tempDir('tw-webhook-sil-');
  let rx: Receiver;
  let r: Running | undefined;
  after(async () => {
    await r?.stop();
    await rx?.close();
    tmp.cleanup();
  });

  it('a silence from the CLI mutes matching alerts until it is expired', async () => {
    rx = await new Receiver().start();
    const dir = join(tmp.dir, 'd');
    const env = { TRAILWATCH_DATA_DIR: dir };
    const add = await runCli(['silence', 'add', '--matcher', 'rule.id=ssh-brute-force', '--matcher', 'source.ip=203.0.113.9', '--for', '2h', '--comment', 'pentest window'], { env });
    assert.equal(add.code, 0, add.stderr);
    const id = add.stdout.trim();
    const list = await runCli(['silence', 'list'], { env });
    assert.match(list.stdout, new RegExp(`${id}\\s+active.*rule\\.id=ssh-brute-force source\\.ip=203\\.0\\.113\\.9.*pentest window`));

    r = await startSink(dir, { receivers: [{ name: 'soc', url: rx.url(), secrets: [SECRET] }], route: { receiver: 'soc', group_wait: '50ms', group_interval: '100ms' } });
    await publish(r, [makeAlert({ group: { 'source.ip': '203.0.113.9' } }), makeAlert({ group: { 'source.ip': '192.0.2.77' } })]);
    await waitFor(() => rx.delivered.length === 1);
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(rx.delivered.length, 1);
    assert.deepEqual(JSON.parse(rx.delivered[0].body).data.alerts[0].group, { 'source.ip': '192.0.2.77' });

    const exp = await runCli(['silence', 'expire', id.slice(0, 8)], { env });
    assert.equal(exp.code, 0, exp.stderr);
    assert.equal((await runCli(['silence', 'list'], { env })).stdout.trim(), '');
    await new Promise((res) => setTimeout(res, 1100)); // the sink re-reads the file at most once a second
    await publish(r, [makeAlert({ group: { 'source.ip': '203.0.113.9' } })]);
    await waitFor(() => rx.delivered.length === 2, { what: 'delivery after the silence expired' });
  });

  it('refuses a matcher that can never hold', async () => {
    const bad = await runCli(['silence', 'add', '-m', 'severity>=urgent', '--for', '1h', '--comment', 'x'], { env: { TRAILWATCH_DATA_DIR: join(tmp.dir, 'bad') } });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /severity is one of/);
  });

  it('trailwatch sink webhook runs the stage alone from the env quick start', async () => {
    const { child, logs } = await startCli(['sink', 'webhook'], {
      env: { TRAILWATCH_DATA_DIR: join(tmp.dir, 'cli'), TRAILWATCH_HTTP__PORT: '0', TRAILWATCH_HTTP__HOST: '127.0.0.1', TRAILWATCH_WEBHOOK_URL: 'https://hooks.example.com/x', TRAILWATCH_WEBHOOK_SECRET: SECRET },
    });
    const exited = new Promise((res) => child.on('exit', res));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    const started = logs().match(/"stage":"([^"]+)","msg":"stage started"/g) ?? [];
    assert.deepEqual(started, ['"stage":"sink.webhook","msg":"stage started"']);
    assert.ok(!logs().includes(SECRET.slice(6)));
  });
});
