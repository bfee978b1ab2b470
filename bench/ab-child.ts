// One bench module's run() in a fresh process, for the A/B driver (ab.ts):
// `node ab-child.js MODULE OUT.json` writes the module's rows to OUT.json.
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { BenchRow } from './types.js';

const [module, out] = process.argv.slice(2);
const mod = (await import(pathToFileURL(module).href)) as { run?: () => Promise<BenchRow[]> };
if (typeof mod.run !== 'function') throw new Error(`${module} exports no run()`);
writeFileSync(out, JSON.stringify(await mod.run()));
process.exit(0);
