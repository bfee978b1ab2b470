#!/usr/bin/env node
// `npm run services:up`: start (or reuse) the single-node Kafka and
// Elasticsearch the tests use, on loopback, and print
//   KAFKA_BROKERS=127.0.0.1:port
//   ELASTICSEARCH_URL=http://127.0.0.1:port
// State (pids, ports, data, logs) lives in $TRAILWATCH_SERVICES_DIR
// (default ~/.cache/trailwatch/services); jars come from Maven Central and
// are cached in ~/.m2. Running it again reuses live, answering servers.
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startElasticsearch, stopElasticsearch } from './elasticsearch.mjs';
import { startKafka, stopKafka } from './kafka.mjs';
import { alive, log, servicesDir, sleep } from './lib.mjs';

/** One up.mjs at a time per services dir (parallel test files may all ask). */
async function withLock(dir, fn) {
  const lock = join(dir, 'up.lock');
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch {
      let holder = 0;
      try {
        holder = Number(readFileSync(lock, 'utf8'));
      } catch {}
      if (holder && !alive(holder)) rmSync(lock, { force: true });
      else if (Date.now() > deadline) throw new Error(`services lock ${lock} held by pid ${holder} for too long`);
      else await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

/** Start or reuse both services; returns the environment the tests need. */
export async function ensureServices(dir = servicesDir()) {
  mkdirSync(dir, { recursive: true });
  return withLock(dir, async () => {
    const t0 = Date.now();
    const [k, e] = await Promise.allSettled([startKafka(join(dir, 'kafka')), startElasticsearch(join(dir, 'elasticsearch'))]);
    if (k.status === 'rejected' || e.status === 'rejected') {
      // Leave nothing behind: a service this call started is stopped when the other could not start.
      if (k.status === 'fulfilled' && !k.value.reused) await stopKafka(join(dir, 'kafka')).catch(() => {});
      if (e.status === 'fulfilled' && !e.value.reused) await stopElasticsearch(join(dir, 'elasticsearch')).catch(() => {});
      throw k.status === 'rejected' ? k.reason : /** @type {PromiseRejectedResult} */ (e).reason;
    }
    const [kafka, es] = [k.value, e.value];
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    log(`kafka ${kafka.reused ? 'reused' : 'started'}, elasticsearch ${es.reused ? 'reused' : 'started'} (${secs}s)`);
    return { KAFKA_BROKERS: kafka.brokers, ELASTICSEARCH_URL: es.url, started: !kafka.reused || !es.reused };
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  ensureServices().then(
    (env) => {
      process.stdout.write(`KAFKA_BROKERS=${env.KAFKA_BROKERS}\nELASTICSEARCH_URL=${env.ELASTICSEARCH_URL}\n`);
    },
    (err) => {
      process.stderr.write(`services: ${err.message}\n`);
      process.exit(1);
    },
  );
}
