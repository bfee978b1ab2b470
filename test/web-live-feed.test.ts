import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CastFollower, sse } from '../src/web/live-feed.js';
import { tempDir } from './helpers.js';

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
