// The journald receiver: what systemd-journal-remote's HTTP(S) listener does,
// for servers that log only to the journal. systemd-journal-upload POSTs
// /upload with Content-Type application/vnd.fdo.journal, a chunked body in
// the Journal Export Format, and moves its saved cursor on only after a 2xx.
// So the reply (202 "OK.") is sent only once every entry of the body is on
// the bus (in-process bus: written by the sinks); an upload cut short is sent
// again from the old cursor, and the entries' ids (from their cursors) make
// the copies one document each. A body that breaks the format gets 400 with
// the entries and reasons, but nothing is dropped: those entries are kept as
// events tagged "unparsed". Over-long fields are cut, tagged "truncated" and
// accepted (a real journal may hold large fields; refusing them would stall
// the uploader on that entry for good).
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { BusMessage } from '../../bus/types.js';
import type { TwEvent } from '../../event.js';
import type { Stage, StageContext } from '../../stage.js';
import { peerOf } from '../syslog/core.js';
import type { JournalConfig } from './config.js';
import { ExportReader, type JournalEntry } from './export-format.js';
import { journalEvent, type JournalReceipt } from './event.js';

export const UPLOAD_PATH = '/upload';
export const JOURNAL_CONTENT_TYPE = 'application/vnd.fdo.journal';
const BATCH = 1000;
const MAX_REPORTED = 20;

export interface JournalStage extends Stage {
  address(): AddressInfo | undefined;
}

function tlsOptions(cfg: JournalConfig) {
  const t = cfg.tls;
  if (!t.enabled) return undefined;
  return {
    cert: readFileSync(t.cert!),
    key: readFileSync(t.key!),
    ...(t.ca ? { ca: readFileSync(t.ca), requestCert: true, rejectUnauthorized: t.require_client_cert } : {}),
  };
}

export function createJournalStage(ctx: StageContext): JournalStage {
  const cfg = ctx.config.journal;
  const m = ctx.metrics;
  const entries = m.counter('trailwatch_journal_received_entries_total', 'Journal entries received (each one event on the raw topic).');
  const unparsed = m.counter('trailwatch_journal_unparsed_entries_total', 'Journal entries that broke the export format (kept, tagged "unparsed").');
  const truncated = m.counter('trailwatch_journal_truncated_entries_total', 'Journal entries with a field cut at journal.max_field_bytes.');
  const bytes = m.counter('trailwatch_journal_received_bytes_total', 'Upload body bytes received.');
  const requests = m.counter('trailwatch_journal_requests_total', 'Upload requests by outcome.', ['outcome']);
  for (const c of [entries, unparsed, truncated, bytes]) c.inc(0);
  let app: FastifyInstance | undefined;

  const toMessages = (list: JournalEntry[], r: JournalReceipt, out: BusMessage<TwEvent>[]) => {
    for (const e of list) {
      const ev = journalEvent(e, r);
      if (e.error !== undefined) unparsed.inc();
      else if (e.truncated) truncated.inc();
      out.push({ key: ev.host?.name ?? null, value: ev, id: ev.event.id });
    }
    entries.inc(list.length);
  };

  const build = (): FastifyInstance => {
    const https = tlsOptions(cfg);
    const server = Fastify({ logger: false, ...(https ? { https } : {}) }) as unknown as FastifyInstance;
    // The body is read as a stream by the route, entry by entry.
    server.removeAllContentTypeParsers();
    server.addContentTypeParser('*', (_req, _payload, done) => done(null));
    server.post(UPLOAD_PATH, async (req, reply) => {
      const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      if (type !== JOURNAL_CONTENT_TYPE) {
        requests.inc({ outcome: 'bad_content_type' });
        return reply.code(415).type('text/plain').send(`Content-Type must be ${JOURNAL_CONTENT_TYPE} (the Journal Export Format)\n`);
      }
      const { peer, host } = peerOf(req.socket.remoteAddress, req.socket.remotePort);
      const r: JournalReceipt = { created: new Date().toISOString(), input: 'journal-upload', peer, peerHost: host };
      const reader = new ExportReader(cfg.max_field_bytes);
      const broken: string[] = [];
      let seen = 0;
      let batch: BusMessage<TwEvent>[] = [];
      let busError: unknown;
      const take = (list: JournalEntry[]) => {
        for (const e of list) {
          seen++;
          if (e.error !== undefined && broken.length < MAX_REPORTED) broken.push(`entry ${seen}: ${e.error}`);
        }
        toMessages(list, r, batch);
      };
      const flush = async () => {
        const b = batch;
        batch = [];
        try {
          if (b.length) await ctx.bus.publish(ctx.topics.raw, b);
        } catch (err) {
          busError = err;
          throw err;
        }
      };
      try {
        for await (const chunk of req.raw as AsyncIterable<Buffer>) {
          bytes.inc(chunk.length);
          take(reader.push(chunk));
          // Awaiting here stops reading the socket: a full bus slows the uploader.
          if (batch.length >= BATCH) await flush();
        }
        take(reader.end());
        await flush();
        // In-process bus: answer only once the sinks hold the entries, so the
        // uploader's cursor never passes an entry a crash could lose.
        if (ctx.bus.settled) await ctx.bus.settled(ctx.topics.raw).catch((err: unknown) => {
          busError = err;
          throw err;
        });
      } catch (err) {
        if (busError !== undefined) {
          requests.inc({ outcome: 'bus_error' });
          ctx.log.error({ err: busError }, 'journal: entries not stored; the uploader will retry');
          return reply.code(503).type('text/plain').send('entries not stored; retry later\n');
        }
        // The uploader went away mid-body; it sends again from its saved cursor.
        requests.inc({ outcome: 'aborted' });
        ctx.log.warn({ peer, err: (err as Error).message }, 'journal: upload cut short; the uploader resends from its saved cursor');
        await flush().catch(() => undefined);
        return reply;
      }
      if (broken.length) {
        // Kept (tagged "unparsed"), but the sender must hear that its data is not the export format.
        requests.inc({ outcome: 'malformed' });
        ctx.log.warn({ peer, broken: broken.length, first: broken[0] }, 'journal: upload held entries that break the export format (kept, tagged "unparsed")');
        return reply
          .code(400)
          .type('text/plain')
          .send(`not the Journal Export Format (those entries are kept, tagged "unparsed"):\n${broken.join('\n')}\n`);
      }
      requests.inc({ outcome: 'accepted' });
      return reply.code(202).type('text/plain').send('OK.\n');
    });
    server.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
      const code = err.statusCode ?? 500;
      requests.inc({ outcome: code === 503 ? 'bus_error' : 'error' });
      if (code >= 500) ctx.log.error({ err }, 'journal: upload failed');
      return reply.code(code).type('text/plain').send(`${err.message}\n`);
    });
    return server;
  };

  return {
    name: 'ingest.journal',
    address: () => {
      const a = app?.server.address();
      return a && typeof a === 'object' ? a : undefined;
    },
    async start() {
      if (!cfg.enabled) return;
      app = build();
      app.server.maxConnections = cfg.max_connections;
      await app.listen({ host: cfg.host, port: cfg.port });
      const a = app.server.address() as AddressInfo;
      ctx.log.info({ journal: `${a.address}:${a.port}`, journalPort: a.port, tls: cfg.tls.enabled }, 'journal receiver listening (systemd-journal-upload)');
    },
    async stop() {
      await app?.close();
      app = undefined;
    },
  };
}
