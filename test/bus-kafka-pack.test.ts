import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Partitioners, type IHeaders, type KafkaMessage, type Message } from 'kafkajs';
import { encode, KeyPartitioner, pack, PACK_FORMAT, RawRecord, unpack, type Unreadable } from '../src/bus/kafka-pack.js';
import type { BusMessage } from '../src/bus/types.js';

/** What a consumer gets back for a produced message (headers arrive as Buffers). */
function received(m: Message, offset = '7'): KafkaMessage {
  const headers: IHeaders = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) headers[k] = Buffer.from(String(v));
  return {
    key: m.key === null || m.key === undefined ? null : Buffer.from(m.key),
    value: m.value === null ? null : Buffer.from(m.value as string),
    headers,
    offset,
    timestamp: '0',
    attributes: 0,
  } as KafkaMessage;
}

describe('bus > kafka > packed records', () => {
  it('round-trips keys, ids and values, parsed and raw, in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ key: fc.option(fc.string(), { nil: null }), id: fc.option(fc.string(), { nil: undefined }), value: fc.jsonValue() }), { minLength: 1, maxLength: 40 }),
        (records) => {
          const msgs: BusMessage<unknown>[] = records.map((r) => (r.id === undefined ? { key: r.key, value: r.value } : { key: r.key, value: r.value, id: r.id }));
          const m = received(pack(msgs.map(encode), 2));
          const out: BusMessage<unknown>[] = [];
          const bad: Unreadable[] = [];
          unpack(m, false, out, bad);
          assert.deepEqual(bad, []);
          assert.equal(out.length, msgs.length);
          for (let i = 0; i < msgs.length; i++) {
            assert.equal(out[i].key, msgs[i].key);
            assert.equal(out[i].id, msgs[i].id);
            // JSON drops -0 and the like: compare through JSON, as any consumer would see it.
            assert.deepEqual(out[i].value, JSON.parse(JSON.stringify(msgs[i].value)));
          }
          const raw: BusMessage<unknown>[] = [];
          unpack(m, true, raw, bad);
          assert.ok(raw.every((r) => r instanceof RawRecord));
          assert.deepEqual(
            raw.map((r) => String(r.json)),
            msgs.map((x) => JSON.stringify(x.value)),
          );
        },
      ),
    );
  });

  it('never lets a publisher-given JSON text break the framing', () => {
    const e = encode({ key: 'k', value: { a: 1 }, json: '{\n  "a": 1\n}' });
    assert.equal(e.json, '{"a":1}');
  });

  it('sends a line that is not JSON to the dead letters and delivers the others', () => {
    const m = pack([{ key: 'a', id: '1', json: '{"n":1}' }, { key: 'b', id: '2', json: 'oops {' }, { key: 'c', id: '3', json: '{"n":3}' }].map((r) => ({ ...r, bytes: r.json.length })), 0);
    const out: BusMessage<{ n: number }>[] = [];
    const bad: Unreadable[] = [];
    unpack(received(m, '42'), false, out, bad);
    assert.deepEqual(
      out.map((r) => [r.key, r.id, r.value.n]),
      [
        ['a', '1', 1],
        ['c', '3', 3],
      ],
    );
    assert.equal(bad.length, 1);
    assert.equal(bad[0].key, 'b');
    assert.equal(bad[0].offset, '42');
    assert.equal(bad[0].original, 'oops {');
    assert.match(bad[0].reason, /not JSON/);
  });

  it('reads a plain (unpacked) record as one record with its key', () => {
    const out: BusMessage<unknown>[] = [];
    unpack(received({ key: 'host-1', value: '{"ok":true}' }), false, out, []);
    assert.deepEqual(out, [{ key: 'host-1', value: { ok: true } }]);
  });

  it('dead-letters every line of a message whose format it does not know or whose headers do not match', () => {
    const bad: Unreadable[] = [];
    unpack(received({ key: null, value: '{"a":1}\n{"b":2}', headers: { 'tw-format': 'ndjson-9' } }), false, [], bad);
    unpack(received({ key: null, value: '{"a":1}\n{"b":2}', headers: { 'tw-format': PACK_FORMAT, 'tw-keys': '["only-one"]' } }), false, [], bad);
    assert.deepEqual(
      bad.map((b) => [b.original, /unknown record format|tw-keys/.test(b.reason)]),
      [
        ['{"a":1}', true],
        ['{"b":2}', true],
        ['{"a":1}', true],
        ['{"b":2}', true],
      ],
    );
  });

  it('puts every record of a key on the partition kafkajs would choose for it', () => {
    const ours = new KeyPartitioner(6);
    const theirs = Partitioners.DefaultPartitioner();
    const meta = Array.from({ length: 6 }, (_, partitionId) => ({ partitionId, leader: 0 }));
    fc.assert(
      fc.property(fc.string(), (key) => {
        assert.equal(ours.partition(key), theirs({ topic: 't', partitionMetadata: meta as never, message: { key, value: null } }));
      }),
    );
    assert.notEqual(new Set(Array.from({ length: 50 }, (_, i) => ours.partition(`host-${i}`))).size, 1, 'keys spread');
  });
});
