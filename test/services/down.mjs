#!/usr/bin/env node
// `npm run services:down`: stop the services recorded by up.mjs, by their
// recorded process ids (SIGTERM, then SIGKILL after a grace period).
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopElasticsearch } from './elasticsearch.mjs';
import { stopKafka } from './kafka.mjs';
import { log, servicesDir } from './lib.mjs';

export async function stopServices(dir = servicesDir()) {
  const [k, e] = await Promise.all([stopKafka(join(dir, 'kafka')), stopElasticsearch(join(dir, 'elasticsearch'))]);
  log(`kafka ${k ? 'stopped' : 'was not running'}, elasticsearch ${e ? 'stopped' : 'was not running'}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  stopServices().catch((err) => {
    process.stderr.write(`services: ${err.message}\n`);
    process.exit(1);
  });
}
