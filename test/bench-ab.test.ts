import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { collect, formatAb, median } from '../bench/ab.js';
import type { BenchRow } from '../bench/types.js';

const row = (c: string, tw: number, ratio?: number): BenchRow => ({ bench: 'syslog', case: c, unit: 'msg/s', trailwatch: tw, ratio, reference: ratio && tw / ratio, referenceName: 'rsyslog' });

describe('bench > --against: alternate runs summed up per row', () => {
  it('groups runs by bench and case, per side, and prints min / median / max and B/A of the medians', () => {
    const runs = [
      { side: 'a' as const, rows: [row('tcp', 100, 0.5), row('udp', 10)] },
      { side: 'b' as const, rows: [row('tcp', 210, 1.0), row('udp', 9)] },
      { side: 'a' as const, rows: [row('tcp', 90, 0.45), row('udp', NaN)] },
      { side: 'b' as const, rows: [row('tcp', 190, 0.95), row('new-case', 5)] },
      { side: 'a' as const, rows: [row('tcp', 120, 0.6)] },
      { side: 'b' as const, rows: [row('tcp', 200, 1.05)] },
    ];
    const rows = collect(runs);
    assert.deepEqual(rows.map((r) => r.case), ['tcp', 'udp', 'new-case']);
    assert.deepEqual(rows[0].a, [100, 90, 120]);
    assert.deepEqual(rows[0].bRatio, [1.0, 0.95, 1.05]);
    assert.deepEqual(rows[1].a, [10], 'a failed measurement (NaN) is left out');
    const text = formatAb(rows, 'old', 'new');
    const tcp = text.split('\n').find((l) => l.includes('| tcp'))!;
    assert.match(tcp, /90\.00 \/ 100 \/ 120/);
    assert.match(tcp, /190 \/ 200 \/ 210/);
    assert.match(tcp, /2\.000x/);
    assert.match(tcp, /0\.50x → 1\.00x \(rsyslog\)/);
    const fresh = text.split('\n').find((l) => l.includes('| new-case'))!;
    assert.match(fresh, /\| — +\| 5\.00 \/ 5\.00 \/ 5\.00 +\| — /, 'a case only one tree has');
  });

  it('medians of odd and even counts', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.ok(Number.isNaN(median([])));
  });
});
