// `npm run bench`: every benchmark in bench/, each against a reference measured
// in the same run, printed as one table with ratios. `npm run bench -- syslog rules`
// runs a subset; `--against <git-ref> [--pairs N]` runs them on that ref and on
// this tree alternately (ab.ts).
import { readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { missingFor } from './needs.js';
import { printRows, type BenchRow } from './types.js';

const here = dirname(fileURLToPath(import.meta.url));
const skip = new Set(['run.js', 'types.js', 'needs.js', 'ab.js', 'ab-child.js']);
const { values, positionals: wanted } = parseArgs({
  allowPositionals: true,
  options: { against: { type: 'string' }, pairs: { type: 'string', default: '3' } },
});
if (values.against !== undefined) {
  const pairs = Number(values.pairs);
  if (!Number.isInteger(pairs) || pairs < 1) {
    console.error('bench: --pairs takes a whole number of at least 1');
    process.exit(2);
  }
  const { runAb } = await import('./ab.js');
  process.exit(await runAb({ ref: values.against, cases: wanted, pairs }));
}
const modules = readdirSync(here)
  .filter((f) => f.endsWith('.js') && !skip.has(f) && !f.startsWith('_'))
  .filter((f) => !wanted.length || wanted.includes(f.replace(/\.js$/, '')))
  .sort();

const rows: BenchRow[] = [];
let failed = 0;
for (const f of modules) {
  const mod = (await import(pathToFileURL(join(here, f)).href)) as { run?: () => Promise<BenchRow[]> };
  if (typeof mod.run !== 'function') continue;
  const name = f.replace(/\.js$/, '');
  const missing = await missingFor(name);
  if (missing) {
    failed++;
    console.error(`bench: ${name} cannot run: ${missing}`);
    rows.push({ bench: name, case: 'NOT RUN', unit: '', trailwatch: NaN, notes: missing });
    continue;
  }
  console.error(`bench: ${name} …`);
  try {
    rows.push(...(await mod.run()));
  } catch (err) {
    failed++;
    console.error(`bench: ${f} failed: ${err instanceof Error ? err.stack : String(err)}`);
    rows.push({ bench: f.replace(/\.js$/, ''), case: 'FAILED', unit: '', trailwatch: NaN, notes: String(err instanceof Error ? err.message : err).slice(0, 120) });
  }
}
printRows(rows);
process.exit(failed ? 1 : 0);
