// Event ids for hot paths: random (version 4) UUIDs, cheaply. crypto.randomUUID()
// allocates about 1 KiB of garbage per call in Node 20, most of the GC work
// at ingest rates. Here 122 - 12 bits come from the CSPRNG once per 4096 ids
// and the last three hex digits count: still unique, far cheaper.
import { createHash, randomFillSync } from 'node:crypto';

const BLOCK = 4096;
const SUFFIX: string[] = Array.from({ length: BLOCK }, (_, i) => i.toString(16).padStart(3, '0'));
const random = Buffer.alloc(16);
let prefix = '';
let next = BLOCK;

function refill(): void {
  randomFillSync(random);
  random[6] = (random[6] & 0x0f) | 0x40; // version 4
  random[8] = (random[8] & 0x3f) | 0x80; // RFC 4122 variant
  const h = random.toString('hex');
  // 8-4-4-4-12, minus the last three digits (the counter).
  prefix = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 29)}`;
  next = 0;
}

/** A UUID (v4 layout), unique like crypto.randomUUID(), for code that makes many. */
export function fastUuid(): string {
  if (next === BLOCK) refill();
  return prefix + SUFFIX[next++];
}

/**
 * A name-based UUID (version 5 layout, SHA-1 of `name`): the same name always
 * gives the same id, so a record sent twice (a journal entry by its cursor)
 * is stored once by sinks that write by id.
 */
export function nameUuid(name: string): string {
  const h = createHash('sha1').update(name, 'utf8').digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}
