// Child of bench/journal.ts: the journald receiver alone, into the in-process
// bus, with one consumer that only counts (what the issue calls "into the
// bus": no decoding, rules or sinks). The 202 comes once that consumer has
// taken every entry (MemoryBus.settled), so the uploader's exit is the end.
import { MemoryBus } from '../src/bus/memory.js';
import { topicNames } from '../src/bus/types.js';
import { parseConfig } from '../src/config.js';
import { createJournalStage } from '../src/ingest/journal/index.js';
import { createLogger } from '../src/log.js';
import { Metrics } from '../src/metrics.js';

const config = parseConfig({ journal: { host: '127.0.0.1', port: 0 } });
const bus = new MemoryBus(config.bus.memory);
const topics = topicNames(config.topic_prefix);
let counted = 0;
await bus.subscribe({ topics: [topics.raw], group: 'count', handler: async (batch) => void (counted += batch.length) });
const stage = createJournalStage({ config, bus, topics, metrics: new Metrics(), log: createLogger({ level: 'info' }) });
await stage.start();
process.on('SIGTERM', () => {
  process.stderr.write(`${JSON.stringify({ counted })}\n`);
  void stage.stop().then(() => process.exit(0));
});
