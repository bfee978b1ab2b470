import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '../src/bus/memory.js';

describe('bus > memory', () => {
  it('delivers every record in order to each group', async () => {
    const bus = new MemoryBus({ capacity: 100, batch_size: 7 });
    const a: number[] = [];
    const b: number[] = [];
    await bus.subscribe<number>({ topics: ['t'], group: 'a', handler: async (batch) => void a.push(...batch.map((m) => m.value)) });
    await bus.subscribe<number>({ topics: ['t'], group: 'b', handler: async (batch) => void b.push(...batch.map((m) => m.value)) });
    for (let i = 0; i < 50; i++) await bus.publish('t', [{ key: null, value: i }]);
    await bus.drain();
    const want = Array.from({ length: 50 }, (_, i) => i);
    assert.deepEqual(a, want);
    assert.deepEqual(b, want);
  });

  it('redelivers a batch whose handler failed', async () => {
    const bus = new MemoryBus({ capacity: 100, batch_size: 10 });
    const seen: number[] = [];
    let failures = 0;
    await bus.subscribe<number>({
      topics: ['t'],
      group: 'g',
      handler: async (batch) => {
        if (failures < 2) {
          failures++;
          throw new Error('sink down');
        }
        seen.push(...batch.map((m) => m.value));
      },
    });
    await bus.publish('t', [1, 2, 3].map((value) => ({ key: null, value })));
    await bus.drain();
    assert.equal(failures, 2);
    assert.deepEqual(seen, [1, 2, 3]);
  });

  it('makes publishers wait while a topic is full', async () => {
    const bus = new MemoryBus({ capacity: 10, batch_size: 5 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const got: number[] = [];
    await bus.subscribe<number>({
      topics: ['t'],
      group: 'g',
      handler: async (batch) => {
        await gate;
        got.push(...batch.map((m) => m.value));
      },
    });
    await bus.publish('t', Array.from({ length: 10 }, (_, i) => ({ key: null, value: i })));
    let done = false;
    const p = bus.publish('t', [{ key: null, value: 10 }]).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(done, false, 'publish into a full topic must wait');
    release();
    await p;
    await bus.drain();
    assert.deepEqual(got, Array.from({ length: 11 }, (_, i) => i));
  });

  it('keeps records published before the first subscriber', async () => {
    const bus = new MemoryBus();
    await bus.publish('t', [{ key: 'k', value: 'early' }]);
    const got: string[] = [];
    await bus.subscribe<string>({ topics: ['t'], group: 'g', handler: async (b) => void got.push(...b.map((m) => m.value)) });
    await bus.drain();
    assert.deepEqual(got, ['early']);
  });

  it('settled(): resolves once the topic\'s records and what their consumers published are handled, not before', async () => {
    const bus = new MemoryBus({ capacity: 1000, batch_size: 5 });
    const written: number[] = [];
    let releaseSink!: () => void;
    let sinkGate = new Promise<void>((r) => (releaseSink = r));
    // raw -> (a "rules" consumer) -> events -> (a slow "sink").
    await bus.subscribe<number>({ topics: ['raw'], group: 'rules', handler: async (batch) => bus.publish('events', batch.map((m) => ({ key: null, value: m.value * 10 }))) });
    await bus.subscribe<number>({
      topics: ['events'],
      group: 'sink',
      handler: async (batch) => {
        await sinkGate;
        written.push(...batch.map((m) => m.value));
      },
    });
    // A topic nobody consumes must not hold it up.
    await bus.publish('dlq', [{ key: null, value: 0 }]);
    await bus.publish('raw', [1, 2, 3, 4, 5, 6, 7].map((value) => ({ key: null, value })));
    let done = false;
    const settled = bus.settled('raw').then(() => (done = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(done, false, 'not settled while the sink has not written');
    // Later input does not move the goal post.
    const later = bus.publish('raw', [8, 9].map((value) => ({ key: null, value })));
    releaseSink();
    await settled;
    assert.ok(written.length >= 7 && [10, 20, 30, 40, 50, 60, 70].every((v) => written.includes(v)), `written: ${written}`);
    await later;
    await bus.drain();

    // A sink that keeps failing: settled() gives up after its timeout.
    sinkGate = Promise.reject(new Error('disk full'));
    sinkGate.catch(() => undefined);
    await bus.publish('raw', [{ key: null, value: 11 }]);
    await assert.rejects(bus.settled('raw', 200), /not handled within 200 ms/);
    await bus.close();
  });
});

