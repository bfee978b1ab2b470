import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../src/config.js';
import * as live from '../src/gateway/live.js';
import { silentLogger } from '../src/log.js';
import { createApprovalsStore } from '../src/web/approvals.js';
import { newToken } from '../src/web/auth.js';
import { CastFollower, sse } from '../src/web/live-feed.js';
import { buildWebServer } from '../src/web/server.js';
import { FileSessionSource } from '../src/web/sources.js';
import { tempDir, within } from './helpers.js';

describe('web > live feed of a growing recording', () => {
  it('starts at the screen so far, then sends output and resizes as lines complete, never input or markers', () => {
    const tmp = tempDir('tw-feed-');
    try {
      const file = join(tmp.dir, 's-1.cast');
      const follower = new CastFollower(file);
      assert.deepEqual(follower.poll(), [], 'no file yet');
      writeFileSync(file, '{"version":2,"width":80,"height":24}\n[0.5,"o","$ "]\n[1.0,"i","ls\\r"]\n[1.1,"o","ls\\r\\n"]\n[1.2,"r","100x30"]\n[1.3,"m","ls"]\n');
      const [reset] = follower.poll();
      assert.deepEqual(JSON.parse(reset.data), { cols: 100, rows: 30, time: 1.3, init: '$ ls\r\n' });
      appendFileSync(file, '[2.0,"o","a  b');
      assert.deepEqual(follower.poll(), [], 'half a line waits');
      appendFileSync(file, '"]\n[2.1,"i","x"]\n[2.2,"r","90x20"]\n');
      assert.deepEqual(follower.poll().map((e) => JSON.parse(e.data)), [[2.0, 'o', 'a  b'], [2.2, 'r', '90x20']]);
      assert.equal(sse({ event: 'done', data: '{}' }), 'event: done\ndata: {}\n\n');
      assert.equal(sse({ data: '[1,"o","x"]' }), 'data: [1,"o","x"]\n\n');
    } finally {
      tmp.cleanup();
    }
  });
});

describe('web > live feed over HTTP', () => {
  it('streams the session, says done when it ends, and does not hold the console open at shutdown', async () => {
    const tmp = tempDir('tw-feed-http-');
    const admin = newToken();
    const config = parseConfig({ data_dir: tmp.dir, web: { admins: [{ name: 'dana', token_sha256: admin.sha256 }] } });
    const recordings = join(tmp.dir, 'recordings');
    mkdirSync(recordings);
    const app = buildWebServer({ config: config.web, sessions: new FileSessionSource(recordings), recordingsDir: recordings, approvals: await createApprovalsStore(config), dataDir: tmp.dir, log: silentLogger() });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const session = (id: string) => {
      live.register(tmp.dir, { id, operator: 'eve', account: 'root', target: 'db1', source_ip: '198.51.100.7', started_at: new Date().toISOString() });
      writeFileSync(join(recordings, `${id}-1.cast`), `{"version":2,"width":80,"height":24}\n[0.1,"o","hello ${id.slice(0, 4)}"]\n`);
    };
    /** Reads the stream until `until` matches what arrived; resolves with all of it once the stream ends. */
    const open = async (id: string, until: RegExp) => {
      const res = await fetch(`${base}/live/${id}/feed`, { headers: { authorization: `Bearer ${admin.token}` } });
      assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
      const reader = res.body!.getReader();
      let text = '';
      while (!until.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString('utf8');
      }
      const rest = (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return text;
          text += Buffer.from(value).toString('utf8');
        }
      })();
      return { first: text, all: rest };
    };
    try {
      assert.equal((await fetch(`${base}/live/${randomUUID()}/feed`, { headers: { authorization: `Bearer ${admin.token}` } })).status, 404);
      const a = randomUUID();
      session(a);
      const s1 = await open(a, /"init":"hello/);
      assert.match(s1.first, /^data: \{"cols":80,"rows":24,"time":0.1,"init":"hello /);
      appendFileSync(join(recordings, `${a}-1.cast`), '[0.2,"o","more"]\n');
      live.unregister(tmp.dir, a);
      assert.match(await s1.all, /data: \[0.2,"o","more"\]\n\n[\s\S]*event: done\n/);
      const b = randomUUID();
      session(b);
      const s2 = await open(b, /"init":"hello/);
      const closed = app.close();
      await within(closed, 5000, () => 'the console to stop with a watcher connected');
      await s2.all;
    } finally {
      app.server.closeAllConnections(); // (a stream left open must not hang the test)
      await app.close();
      tmp.cleanup();
    }
  });
});
