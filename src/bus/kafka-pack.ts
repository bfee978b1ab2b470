// The record format on trailwatch's Kafka topics. kafkajs spends most of its
// time per Kafka record (varints, CRC, objects, garbage), and the brokers do
// too, so the bus packs the records of one partition and one publish batch
// into one Kafka message:
//   value    the records' JSON documents joined by "\n" (NDJSON; JSON text
//            never holds a raw newline)
//   headers  tw-format: ndjson-1
//            tw-keys:   JSON array of the records' keys (string or null)
//            tw-ids:    JSON array of the records' ids (string or null), when
//                       the publisher gave ids (events and alerts: event.id)
//   key      null; the partition is the one kafkajs' default partitioner
//            (murmur2, Java compatible) picks for each record's key, so every
//            record of a key still lands on one partition, in order.
// A Kafka message without tw-format is one plain record (JSON value, its key):
// what other producers write, and what the bus writes while it does not know
// a topic's partitions yet. Consumers read both.
import { Partitioners, type IHeaders, type KafkaMessage, type Message } from 'kafkajs';
import type { BusMessage } from './types.js';

export const FORMAT_HEADER = 'tw-format';
export const PACK_FORMAT = 'ndjson-1';

/** A record ready to send: its key, id and JSON text. */
export interface Encoded {
  key: string | null;
  id: string | undefined;
  json: string;
  /** Bytes the record adds to a request before compression (value, key, id, separators). */
  bytes: number;
}

export function encode<T>(m: BusMessage<T>): Encoded {
  let json = typeof m.json === 'string' ? m.json : m.json ? m.json.toString('utf8') : undefined;
  // A publisher's own serialization must not break the NDJSON framing (pretty-printed JSON).
  if (json === undefined || json.indexOf('\n') >= 0) json = JSON.stringify(m.value);
  if (json === undefined) throw new TypeError('bus: a record value must be JSON-serializable');
  const bytes = Buffer.byteLength(json) + (m.key ? Buffer.byteLength(m.key) : 0) + (m.id ? Buffer.byteLength(m.id) : 0) + 8;
  return { key: m.key, id: m.id, json, bytes };
}

/** One Kafka message holding the records (all for `partition`). */
export function pack(records: Encoded[], partition: number): Message {
  const n = records.length;
  const docs = new Array<string>(n);
  const keys = new Array<string | null>(n);
  const ids = new Array<string | null>(n);
  let withIds = false;
  for (let i = 0; i < n; i++) {
    const r = records[i];
    docs[i] = r.json;
    keys[i] = r.key;
    ids[i] = r.id ?? null;
    if (r.id !== undefined) withIds = true;
  }
  const headers: IHeaders = { [FORMAT_HEADER]: PACK_FORMAT, 'tw-keys': JSON.stringify(keys) };
  if (withIds) headers['tw-ids'] = JSON.stringify(ids);
  return { partition, key: null, value: docs.join('\n'), headers };
}

/** Record-to-partition mapping of kafkajs' default partitioner, cached per key (keys repeat: hosts, addresses, users). */
export class KeyPartitioner {
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private readonly cache = new Map<string, number>();
  private meta: { partitionId: number; leader: number }[] = [];
  private rr = 0;

  constructor(readonly partitions: number) {
    for (let p = 0; p < partitions; p++) this.meta.push({ partitionId: p, leader: 0 });
  }

  partition(key: string | null): number {
    if (key === null) return this.rr++ % this.partitions;
    let p = this.cache.get(key);
    if (p === undefined) {
      p = this.partitioner({ topic: '', partitionMetadata: this.meta as never, message: { key, value: null } });
      if (this.cache.size >= 50_000) this.cache.clear();
      this.cache.set(key, p);
    }
    return p;
  }
}

function header(h: IHeaders | undefined, name: string): string | undefined {
  const v = h?.[name];
  if (v === undefined) return undefined;
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : one.toString();
}

/**
 * A record delivered to a `raw` subscriber: `json` is a view of the Kafka
 * message's bytes; `value` is parsed on first read.
 */
export class RawRecord<T> implements BusMessage<T> {
  private parsed: T | undefined;
  constructor(
    readonly key: string | null,
    readonly id: string | undefined,
    readonly json: Buffer,
  ) {}
  get value(): T {
    if (this.parsed === undefined) this.parsed = JSON.parse(this.json.toString('utf8')) as T;
    return this.parsed;
  }
}

/** A record that could not be read, for the dead-letter topic. */
export interface Unreadable {
  key: string | null;
  /** Offset of the Kafka message that held it. */
  offset: string;
  reason: string;
  original: string;
}

function stringArray(text: string | undefined, n: number, what: string): (string | null)[] {
  if (text === undefined) return new Array<null>(n).fill(null);
  const a = JSON.parse(text) as unknown;
  if (!Array.isArray(a) || a.length !== n) throw new Error(`${what} does not list ${n} records`);
  return a as (string | null)[];
}

/** Line boundaries of an NDJSON buffer: [start0, end0, start1, end1, ...]. */
function lines(buf: Buffer): number[] {
  const out: number[] = [];
  let start = 0;
  for (;;) {
    const nl = buf.indexOf(10, start);
    if (nl < 0) break;
    out.push(start, nl);
    start = nl + 1;
  }
  out.push(start, buf.length);
  return out;
}

/**
 * Append the records of one Kafka message to `out` (parsed, or as RawRecord
 * when raw), and what cannot be read to `bad`.
 */
export function unpack<T>(m: KafkaMessage, raw: boolean, out: BusMessage<T>[], bad: Unreadable[]): void {
  const value = m.value ?? Buffer.alloc(0);
  const format = header(m.headers, FORMAT_HEADER);
  if (format === undefined) {
    const key = m.key ? m.key.toString('utf8') : null;
    if (raw) out.push(new RawRecord<T>(key, undefined, value));
    else parseOne(key, undefined, value.toString('utf8'), m.offset, out, bad);
    return;
  }
  const keyText = m.key ? m.key.toString('utf8') : null;
  if (format !== PACK_FORMAT) {
    unreadableLines(keyText, m.offset, `unknown record format ${format}`, value, bad);
    return;
  }
  const bounds = lines(value);
  const n = bounds.length / 2;
  let keys: (string | null)[];
  let ids: (string | null)[];
  try {
    keys = stringArray(header(m.headers, 'tw-keys'), n, 'tw-keys');
    ids = stringArray(header(m.headers, 'tw-ids'), n, 'tw-ids');
  } catch (err) {
    unreadableLines(keyText, m.offset, `bad ${PACK_FORMAT} headers: ${(err as Error).message}`, value, bad);
    return;
  }
  if (raw) {
    for (let i = 0; i < n; i++) out.push(new RawRecord<T>(keys[i], ids[i] ?? undefined, value.subarray(bounds[2 * i], bounds[2 * i + 1])));
    return;
  }
  // One UTF-8 decode of the whole message, then one parse per line.
  const docs = value.toString('utf8').split('\n');
  for (let i = 0; i < n; i++) parseOne(keys[i], ids[i] ?? undefined, docs[i], m.offset, out, bad);
}

function parseOne<T>(key: string | null, id: string | undefined, text: string, offset: string, out: BusMessage<T>[], bad: Unreadable[]): void {
  try {
    const value = JSON.parse(text) as T;
    out.push(id === undefined ? { key, value } : { key, value, id });
  } catch (err) {
    bad.push({ key, offset, reason: `not JSON: ${(err as Error).message}`, original: text.slice(0, 65536) });
  }
}

/** A message that cannot be unpacked goes to the dead-letter topic line by line, so no part of it is cut off. */
function unreadableLines(key: string | null, offset: string, reason: string, value: Buffer, bad: Unreadable[]): void {
  for (const line of value.toString('utf8').split('\n')) bad.push({ key, offset, reason, original: line.slice(0, 65536) });
}
