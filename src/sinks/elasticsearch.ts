// Elasticsearch sink: events into a data stream, alerts into an index, with
// the client's bulk helper (sized by bytes, and by count through slicing).
// Document _id = event.id, so a batch redelivered after a crash or an outage
// stores nothing twice: a repeated `create` into the data stream answers 409,
// which means "already stored". Items refused with 429/5xx are retried alone
// with jittered backoff; items refused for good (mapping errors) go to the
// dead-letter topic with the reason. If Elasticsearch cannot be reached the
// handler fails and the bus redelivers the batch later (offsets uncommitted).
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@elastic/elasticsearch';
import type { ElasticsearchConfig } from './elasticsearch-config.js';
import type { Stage, StageContext } from '../stage.js';
import type { TwEvent } from '../event.js';
import type { BusMessage, Subscription } from '../bus/types.js';
import { backoffDelay } from '../retry.js';
import { TrailwatchError, errorMessage } from '../errors.js';
import { setupElasticsearch } from './elasticsearch-setup.js';

/** Elasticsearch could not be reached or is overloaded: worth waiting for (unlike 4xx refusals). */
function unreachable(err: unknown): boolean {
  const e = err as { name?: string; meta?: { statusCode?: number } };
  if (e?.name === 'ConnectionError' || e?.name === 'TimeoutError' || e?.name === 'NoLivingConnectionsError') return true;
  const status = e?.meta?.statusCode;
  return status === 429 || (status !== undefined && status >= 500);
}

export function esClient(cfg: ElasticsearchConfig): Client {
  const a = cfg.auth;
  const auth = a.api_key ? { apiKey: a.api_key } : a.username ? { username: a.username, password: a.password ?? '' } : undefined;
  const tls = cfg.url.startsWith('https:') ? { ca: a.ca_file ? readFileSync(a.ca_file, 'utf8') : undefined, rejectUnauthorized: a.reject_unauthorized } : undefined;
  return new Client({ node: cfg.url, auth, tls, requestTimeout: cfg.request_timeout_ms, maxRetries: 2, compression: false });
}

export interface BulkDoc {
  index: string;
  op: 'create' | 'index';
  id: string;
  doc: TwEvent;
}

export interface DeadLetter {
  reason: string;
  status: number;
  error_type?: string;
  index: string;
  id: string;
  document: TwEvent;
}

export interface BulkResult {
  stored: number;
  duplicates: number;
  dead: DeadLetter[];
  retried: number;
}

interface Drop {
  status: number;
  error: { type?: string; reason?: string } | null;
  operation: Record<string, { _index?: string; _id?: string }>;
}

/** Write documents; retriable item failures are retried, permanent ones returned as dead letters. */
export async function bulkWrite(client: Client, cfg: ElasticsearchConfig, docs: BulkDoc[]): Promise<BulkResult> {
  const result: BulkResult = { stored: 0, duplicates: 0, dead: [], retried: 0 };
  let pending = docs;
  for (let round = 0; pending.length; round++) {
    const byId = new Map<string, BulkDoc>();
    for (const d of pending) byId.set(d.id, d);
    const again: BulkDoc[] = [];
    const onDrop = (item: Drop) => {
      const op = Object.keys(item.operation)[0];
      const id = item.operation[op]?._id ?? '';
      const doc = byId.get(id);
      if (!doc) return;
      if (item.status === 409 && op === 'create') result.duplicates++;
      else if (item.status === 429 || item.status >= 500) again.push(doc);
      else
        result.dead.push({ reason: item.error?.reason ?? `status ${item.status}`, status: item.status, error_type: item.error?.type, index: doc.index, id, document: doc.doc });
    };
    for (let i = 0; i < pending.length; i += cfg.bulk.flush_records) {
      const slice = pending.slice(i, i + cfg.bulk.flush_records);
      const stats = await client.helpers.bulk<BulkDoc>({
        datasource: slice,
        onDocument: (d) => [{ [d.op]: { _index: d.index, _id: d.id } } as never, d.doc],
        flushBytes: cfg.bulk.flush_bytes,
        concurrency: cfg.bulk.concurrency,
        retries: 0,
        onDrop: onDrop as never,
      });
      result.stored += stats.successful;
    }
    if (!again.length) break;
    if (round >= cfg.bulk.retries) throw new TrailwatchError('TW_ES_BULK_RETRIES', `${again.length} documents still refused (429/5xx) after ${round + 1} rounds`, { retriable: true });
    result.retried += again.length;
    await sleep(backoffDelay(round, { initialMs: cfg.bulk.retry_initial_ms, maxMs: cfg.bulk.retry_max_ms }));
    pending = again;
  }
  return result;
}

export function createElasticsearchSinkStage(ctx: StageContext): Stage {
  const cfg = ctx.config.sinks.elasticsearch;
  const client = esClient(cfg);
  const docsTotal = ctx.metrics.counter('trailwatch_elasticsearch_documents_total', 'Documents sent to Elasticsearch, by result.', ['result']);
  const retriedTotal = ctx.metrics.counter('trailwatch_elasticsearch_retried_documents_total', 'Documents retried after 429/5xx.');
  let sub: Subscription | undefined;
  let lastError: string | null = null;
  // Set while the templates could not be installed because Elasticsearch was
  // unreachable: the first write would otherwise create the data stream (or a
  // plain index) without our mappings, for good.
  let setupPending = false;
  const setup = async (): Promise<void> => {
    try {
      await setupElasticsearch(client, cfg, ctx.log);
      setupPending = false;
    } catch (err) {
      if (unreachable(err)) {
        setupPending = true;
        throw err;
      }
      // Refused for good (e.g. a user without manage_index_templates): write anyway.
      setupPending = false;
      ctx.log.warn({ err: errorMessage(err) }, 'elasticsearch setup failed; run `trailwatch setup elasticsearch`');
    }
  };
  const toDocs = (batch: BusMessage<TwEvent>[], alerts: boolean): BulkDoc[] => {
    const out = new Array<BulkDoc>(batch.length);
    for (let i = 0; i < batch.length; i++) {
      const ev = batch[i].value;
      out[i] = alerts ? { index: cfg.alerts_index, op: 'index', id: ev.event.id, doc: ev } : { index: cfg.events_data_stream, op: 'create', id: ev.event.id, doc: ev };
    }
    return out;
  };
  return {
    name: 'sink.elasticsearch',
    async start() {
      // Templates first, so the first event creates the data stream with our
      // mappings; if Elasticsearch is not up yet, before the first write.
      await setup().catch((err) => ctx.log.warn({ err: errorMessage(err) }, 'elasticsearch unreachable; templates will be installed before the first write'));
      sub = await ctx.bus.subscribe<TwEvent>({
        topics: [ctx.topics.events, ctx.topics.alerts],
        group: 'sink-elasticsearch',
        handler: async (batch, topic) => {
          let r: BulkResult;
          try {
            if (setupPending) await setup();
            r = await bulkWrite(client, cfg, toDocs(batch, topic === ctx.topics.alerts));
            lastError = null;
          } catch (err) {
            lastError = errorMessage(err);
            ctx.log.warn({ err: lastError, records: batch.length }, 'elasticsearch write failed; the batch will be redelivered');
            throw err;
          }
          if (r.dead.length) {
            ctx.log.warn({ count: r.dead.length, first: r.dead[0].reason }, 'documents refused by Elasticsearch sent to the dead-letter topic');
            await ctx.bus.publish(ctx.topics.dlq, r.dead.map((d) => ({ key: d.id, value: { ...d, sink: 'elasticsearch' } })));
          }
          docsTotal.inc({ result: 'stored' }, r.stored);
          docsTotal.inc({ result: 'duplicate' }, r.duplicates);
          docsTotal.inc({ result: 'dead_letter' }, r.dead.length);
          retriedTotal.inc(r.retried);
        },
      });
    },
    async stop() {
      await sub?.stop();
      await client.close();
    },
    health() {
      return { ok: lastError === null, lastError };
    },
  };
}
