// Bulk writes to Elasticsearch from documents' JSON bytes. The sink gets each
// record's JSON as it lay in Kafka (and its id beside it), so a document is
// never parsed and re-serialized on its way: the request body is the action
// line plus those bytes. Requests are sized by bytes and count, up to
// `concurrency` in flight. Items refused with 429/5xx are retried alone with
// jittered backoff; a repeated `create` (409) means "already stored"; other
// refusals are returned as dead letters with the reason.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@elastic/elasticsearch';
import type { ElasticsearchConfig } from './elasticsearch-config.js';
import type { TwEvent } from '../event.js';
import { backoffDelay } from '../retry.js';
import { TrailwatchError } from '../errors.js';

/** A document as JSON text or bytes, with where it goes. */
export interface RawDoc {
  index: string;
  op: 'create' | 'index';
  id: string;
  json: string | Buffer;
}

export interface DeadLetter {
  reason: string;
  status: number;
  error_type?: string;
  index: string;
  id: string;
  /** The document, or its text when it is not JSON. */
  document: TwEvent | string;
}

export interface BulkResult {
  stored: number;
  duplicates: number;
  dead: DeadLetter[];
  retried: number;
}

interface BulkItem {
  status: number;
  error?: { type?: string; reason?: string };
}

interface BulkResponse {
  errors: boolean;
  items?: Record<string, BulkItem>[];
}

const NL = Buffer.from('\n');
// Only what the sink reads of the response: far less to send and parse than every item's full result.
const FILTER_PATH = 'errors,items.*.status,items.*.error.type,items.*.error.reason';

function actionLine(d: RawDoc): Buffer {
  return Buffer.from(`{"${d.op}":{"_index":${JSON.stringify(d.index)},"_id":${JSON.stringify(d.id)}}}\n`);
}

function docOf(json: string | Buffer): TwEvent | string {
  const text = typeof json === 'string' ? json : json.toString('utf8');
  try {
    return JSON.parse(text) as TwEvent;
  } catch {
    return text;
  }
}

/** Split docs into requests of at most flush_records documents and about flush_bytes bytes. */
function requests(docs: RawDoc[], cfg: ElasticsearchConfig): RawDoc[][] {
  const out: RawDoc[][] = [];
  let cur: RawDoc[] = [];
  let bytes = 0;
  for (const d of docs) {
    const b = d.json.length + 64;
    if (cur.length && (cur.length >= cfg.bulk.flush_records || bytes + b > cfg.bulk.flush_bytes)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(d);
    bytes += b;
  }
  if (cur.length) out.push(cur);
  return out;
}

async function send(client: Client, docs: RawDoc[], result: BulkResult, again: RawDoc[]): Promise<void> {
  const parts: Buffer[] = [];
  for (const d of docs) parts.push(actionLine(d), typeof d.json === 'string' ? Buffer.from(d.json) : d.json, NL);
  const body = Buffer.concat(parts);
  const res = (await client.transport.request({ method: 'POST', path: '/_bulk', querystring: { filter_path: FILTER_PATH }, bulkBody: body })) as BulkResponse;
  if (!res.errors) {
    result.stored += docs.length;
    return;
  }
  const items = res.items ?? [];
  for (let i = 0; i < docs.length; i++) {
    const d = docs[i];
    const item = items[i]?.[d.op];
    const status = item?.status ?? 0;
    if (status >= 200 && status < 300) result.stored++;
    else if (status === 409 && d.op === 'create') result.duplicates++;
    else if (status === 429 || status >= 500 || status === 0) again.push(d);
    else result.dead.push({ reason: item?.error?.reason ?? `status ${status}`, status, error_type: item?.error?.type, index: d.index, id: d.id, document: docOf(d.json) });
  }
}

/** Write documents; retriable item failures are retried, permanent ones returned as dead letters. A failed request throws (retriable when Elasticsearch is down or overloaded). */
export async function bulkWriteRaw(client: Client, cfg: ElasticsearchConfig, docs: RawDoc[]): Promise<BulkResult> {
  const result: BulkResult = { stored: 0, duplicates: 0, dead: [], retried: 0 };
  let pending = docs;
  for (let round = 0; pending.length; round++) {
    const again: RawDoc[] = [];
    const queue = requests(pending, cfg);
    const worker = async () => {
      for (let r = queue.shift(); r; r = queue.shift()) await send(client, r, result, again);
    };
    const workers: Promise<void>[] = [];
    for (let i = 0; i < Math.min(cfg.bulk.concurrency, queue.length); i++) workers.push(worker());
    await Promise.all(workers);
    if (!again.length) break;
    if (round >= cfg.bulk.retries) throw new TrailwatchError('TW_ES_BULK_RETRIES', `${again.length} documents still refused (429/5xx) after ${round + 1} rounds`, { retriable: true });
    result.retried += again.length;
    await sleep(backoffDelay(round, { initialMs: cfg.bulk.retry_initial_ms, maxMs: cfg.bulk.retry_max_ms }));
    pending = again;
  }
  return result;
}
