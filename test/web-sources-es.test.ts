// Session search over gateway events in a real Elasticsearch (the source the
// console uses when sinks.elasticsearch is configured), and the console page on top.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { parseConfig } from '../src/config.js';
import { silentLogger } from '../src/log.js';
import { createApprovalsStore, type ApprovalsStore } from '../src/web/approvals.js';
import { newToken } from '../src/web/auth.js';
import { buildWebServer } from '../src/web/server.js';
import { ElasticsearchSessionSource } from '../src/web/sources-es.js';
import { replayCorpus } from './dashboards-corpus.js';
import { esSkip, indexCorpus, ES_URL, type TestIndices } from './dashboards-es.js';
import { tempDir } from './helpers.js';

describe('web > sessions from Elasticsearch', { skip: esSkip() }, () => {
  let es: TestIndices;
  let source: ElasticsearchSessionSource;
  const now = Date.now();

  before(async () => {
    const tmp = tempDir('tw-corpus-');
    try {
      es = await indexCorpus(await replayCorpus(now, tmp.dir));
    } finally {
      tmp.cleanup();
    }
    source = new ElasticsearchSessionSource({ url: ES_URL!, index: es.pattern });
  });
  after(async () => {
    await source?.close();
    await es?.cleanup();
  });

  it('finds a session by part of a command, case-insensitively, with the matching command and its offset', async () => {
    const r = await source.search({ command: 'ETC/SHAD' });
    assert.deepEqual(r.map((s) => s.id), ['gw-sess-1']);
    assert.equal(r[0].operator, 'alice');
    assert.equal(r[0].target, 'db1');
    assert.deepEqual(r[0].commands, [{ offset: 11, command: 'cat /etc/shadow', blocked: true }]);
    assert.ok(r[0].ended_at, 'the end event is found');
  });

  it('treats wildcard characters in the search text literally', async () => {
    assert.deepEqual(await source.search({ command: 'u*e' }), []);
    assert.deepEqual((await source.search({ command: '&& make' })).map((s) => s.id), ['gw-sess-2']);
  });

  it('filters by operator, account, target and time', async () => {
    assert.deepEqual((await source.search({ operator: 'bob' })).map((s) => s.id), ['gw-sess-2']);
    assert.deepEqual((await source.search({ account: 'root', target: 'db1' })).map((s) => s.id), ['gw-sess-1']);
    assert.deepEqual((await source.search({})).map((s) => s.id).sort(), ['gw-sess-1', 'gw-sess-2']);
    assert.deepEqual(await source.search({ to: new Date(now - 3 * 3600_000) }), []);
  });

  it('loads one session with all its commands in order', async () => {
    const s = await source.get('gw-sess-1');
    assert.equal(s?.account, 'root');
    assert.deepEqual(s?.commands.map((c) => [c.offset, c.command]), [[2.5, 'uname -a'], [7.25, 'systemctl restart postgresql'], [11, 'cat /etc/shadow']]);
    assert.equal(s?.recording, 'gw-sess-1-1', 'the recording named in the command events');
    assert.equal(await source.get('no-such-session'), undefined);
  });

  it('serves the search in the console page', async () => {
    const tmp = tempDir('tw-web-es-');
    const admin = newToken();
    const config = parseConfig({ data_dir: tmp.dir, web: { admins: [{ name: 'ops', token_sha256: admin.sha256 }] } });
    const app: FastifyInstance = buildWebServer({ config: config.web, sessions: source, recordingsDir: join(tmp.dir, 'recordings'), approvals: await createApprovalsStore(config), log: silentLogger() });
    try {
      const res = await app.inject({ url: '/sessions?q=systemctl', headers: { authorization: `Bearer ${admin.token}` } });
      assert.equal(res.statusCode, 200);
      assert.match(res.body, /data-session="gw-sess-1"/);
      assert.match(res.body, /href="\/sessions\/gw-sess-1\?t=7\.25"/, 'the matching command links to its moment');
      assert.match(res.body, /source: elasticsearch/);
      const play = await app.inject({ url: '/sessions/gw-sess-1?t=7.25', headers: { authorization: `Bearer ${admin.token}` } });
      assert.equal(play.statusCode, 200);
      assert.match(play.body, /id="no-recording"/, 'no recording file on this host: said so, commands still listed');
      assert.match(play.body, /systemctl restart postgresql/);
    } finally {
      await app.close();
      tmp.cleanup();
    }
  });
});
