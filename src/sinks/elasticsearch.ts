// Elasticsearch sink: events into a data stream, alerts into an index, by
// bulk requests built from the records' JSON bytes (elasticsearch-bulk.ts).
// Document _id = event.id, so a batch redelivered after a crash or an outage
// stores nothing twice: a repeated `create` into the data stream answers 409,
// which means "already stored". Items refused with 429/5xx are retried alone
// with jittered backoff; items refused for good (mapping errors) go to the
// dead-letter topic with the reason. If Elasticsearch cannot be reached the
// handler fails and the bus redelivers the batch later (offsets uncommitted).
import { readFileSync } from 'node:fs';
import { Client } from '@elastic/elasticsearch';
import type { ElasticsearchConfig } from './elasticsearch-config.js';
import type { Stage, StageContext } from '../stage.js';
import type { TwEvent } from '../event.js';
import type { BusMessage, Subscription } from '../bus/types.js';
import { TrailwatchError, errorMessage } from '../errors.js';
import { setupElasticsearch } from './elasticsearch-setup.js';
import { bulkWriteRaw, type BulkResult, type RawDoc } from './elasticsearch-bulk.js';

export type { BulkResult, DeadLetter, RawDoc } from './elasticsearch-bulk.js';

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

/** Write documents given as objects (serialized here); see bulkWriteRaw. */
export async function bulkWrite(client: Client, cfg: ElasticsearchConfig, docs: BulkDoc[]): Promise<BulkResult> {
  const raw = new Array<RawDoc>(docs.length);
  for (let i = 0; i < docs.length; i++) raw[i] = { index: docs[i].index, op: docs[i].op, id: docs[i].id, json: JSON.stringify(docs[i].doc) };
  return bulkWriteRaw(client, cfg, raw);
}

export function createElasticsearchSinkStage(ctx: StageContext): Stage {
  const cfg = ctx.config.sinks.elasticsearch;
  const client = esClient(cfg);
  const docsTotal = ctx.metrics.counter('trailwatch_elasticsearch_documents_total', 'Documents sent to Elasticsearch, by result.', ['result']);
  const retriedTotal = ctx.metrics.counter('trailwatch_elasticsearch_retried_documents_total', 'Documents retried after 429/5xx.');
  const subs: Subscription[] = [];
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
  // Records arrive as their JSON bytes with event.id beside them (raw
  // subscription), so a document goes into the bulk body without being parsed.
  // A record without an id (written by another producer) is parsed for it; one
  // that is not JSON, or has no event.id, is dead-lettered.
  const toDocs = (batch: BusMessage<TwEvent>[], alerts: boolean, bad: BusMessage<unknown>[]): RawDoc[] => {
    const out: RawDoc[] = [];
    const index = alerts ? cfg.alerts_index : cfg.events_data_stream;
    const op = alerts ? 'index' : 'create';
    for (const m of batch) {
      let id = m.id;
      if (id === undefined) {
        try {
          id = m.value?.event?.id;
        } catch (err) {
          bad.push({ key: m.key, value: { reason: `not JSON: ${errorMessage(err)}`, sink: 'elasticsearch', original: String(m.json ?? '').slice(0, 65536) } });
          continue;
        }
        if (typeof id !== 'string' || !id) {
          bad.push({ key: m.key, value: { reason: 'no event.id', sink: 'elasticsearch', document: m.value } });
          continue;
        }
      }
      out.push({ index, op, id, json: m.json ?? JSON.stringify(m.value) });
    }
    return out;
  };
  return {
    name: 'sink.elasticsearch',
    async start() {
      // Templates first, so the first event creates the data stream with our
      // mappings; if Elasticsearch is not up yet, before the first write.
      await setup().catch((err) => ctx.log.warn({ err: errorMessage(err) }, 'elasticsearch unreachable; templates will be installed before the first write'));
      // Alerts have their own consumer (group sink-elasticsearch-alerts), so an
      // alert never waits behind a backlog of events.
      const handler = async (batch: BusMessage<TwEvent>[], topic: string): Promise<void> => {
        let r: BulkResult;
        const bad: BusMessage<unknown>[] = [];
        const docs = toDocs(batch, topic === ctx.topics.alerts, bad);
        try {
          if (setupPending) await setup();
          r = await bulkWriteRaw(client, cfg, docs);
          lastError = null;
        } catch (err) {
          lastError = errorMessage(err);
          ctx.log.warn({ err: lastError, records: batch.length }, 'elasticsearch write failed; the batch will be redelivered');
          // Whatever the cause (down, refusing, misconfigured), the records are
          // not at fault: retried until Elasticsearch takes them, never dead-lettered.
          throw new TrailwatchError('TW_ES_WRITE', `elasticsearch write failed: ${lastError}`, { retriable: true, cause: err });
        }
        for (const d of r.dead) bad.push({ key: d.id, value: { ...d, sink: 'elasticsearch' } });
        if (bad.length) {
          ctx.log.warn({ count: bad.length, first: (bad[0].value as { reason: string }).reason }, 'records the sink cannot store sent to the dead-letter topic');
          await ctx.bus.publish(ctx.topics.dlq, bad);
        }
        docsTotal.inc({ result: 'stored' }, r.stored);
        docsTotal.inc({ result: 'duplicate' }, r.duplicates);
        docsTotal.inc({ result: 'dead_letter' }, bad.length);
        retriedTotal.inc(r.retried);
      };
      subs.push(await ctx.bus.subscribe<TwEvent>({ topics: [ctx.topics.events], group: 'sink-elasticsearch', raw: true, handler }));
      subs.push(await ctx.bus.subscribe<TwEvent>({ topics: [ctx.topics.alerts], group: 'sink-elasticsearch-alerts', raw: true, handler }));
    },
    async stop() {
      await Promise.all(subs.splice(0).map((s) => s.stop()));
      await client.close();
    },
    health() {
      return { ok: lastError === null, lastError };
    },
  };
}
