// Event ids for hot paths: random (version 4) UUIDs made 256 at a time.
// crypto.randomUUID() allocates about 1 KiB of garbage per call in Node 20,
// which at ingest rates is most of the GC work; here one random fill and one
// string serve 256 ids, and each id is a slice of that string.
import { randomFillSync } from 'node:crypto';

const BATCH = 256;
const HEX = Buffer.from('0123456789abcdef', 'latin1');
const random = Buffer.alloc(16 * BATCH);
const text = Buffer.alloc(36 * BATCH);
let block = '';
let next = BATCH;

function refill(): void {
  randomFillSync(random);
  let o = 0;
  for (let i = 0; i < BATCH; i++) {
    const r = i * 16;
    random[r + 6] = (random[r + 6] & 0x0f) | 0x40; // version 4
    random[r + 8] = (random[r + 8] & 0x3f) | 0x80; // RFC 4122 variant
    for (let b = 0; b < 16; b++) {
      if (b === 4 || b === 6 || b === 8 || b === 10) text[o++] = 45; // "-"
      const v = random[r + b];
      text[o++] = HEX[v >> 4];
      text[o++] = HEX[v & 15];
    }
  }
  block = text.toString('latin1');
  next = 0;
}

/** A random UUID (v4), like crypto.randomUUID(), for code that makes many. */
export function fastUuid(): string {
  if (next === BATCH) refill();
  const start = 36 * next++;
  return block.slice(start, start + 36);
}
