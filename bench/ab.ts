// `npm run bench -- --against <git-ref> [cases] [--pairs N]`: the same
// benchmarks on two trees in one run. The ref is checked out in a temporary
// worktree and built; then each case runs alternately on the ref (A) and on
// this tree (B), A B A B …, each run in a fresh process, so a change's effect
// shows above the noise of a shared machine. Printed per row: min / median /
// max of each side, B/A of the medians, and each side's median ratio to the
// case's own reference (rsyslog, fail2ban, …) where it has one.
//
// The child (ab-child.ts, from this tree) imports the other tree's bench
// module by path and calls its run(), so any ref whose bench/<case>.ts
// exports run() can be measured, including refs from before this driver.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingFor } from './needs.js';
import type { BenchRow } from './types.js';

const here = dirname(fileURLToPath(import.meta.url));
const CHILD = join(here, 'ab-child.js');

export interface AbOptions {
  ref: string;
  cases: string[];
  pairs: number;
}

interface Side {
  name: string;
  root: string;
}

/** A worktree of `ref` with this tree's node_modules when the lock files agree (else its own `npm ci`), built. */
function prepare(root: string, ref: string): { side: Side; cleanup: () => void } {
  const git = (args: string[], cwd = root) => execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  const sha = git(['rev-parse', '--verify', `${ref}^{commit}`]);
  const dir = mkdtempSync(join(tmpdir(), 'tw-bench-ab-'));
  const tree = join(dir, 'tree');
  git(['worktree', 'add', '--detach', tree, sha]);
  const cleanup = () => {
    try {
      git(['worktree', 'remove', '--force', tree]);
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const lock = (r: string) => (existsSync(join(r, 'package-lock.json')) ? readFileSync(join(r, 'package-lock.json'), 'utf8') : '');
    if (lock(tree) === lock(root)) symlinkSync(join(root, 'node_modules'), join(tree, 'node_modules'));
    else {
      console.error(`bench: ${ref}'s package-lock.json differs; npm ci in its worktree`);
      execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: tree, stdio: ['ignore', 'ignore', 'inherit'] });
    }
    console.error(`bench: building ${ref} (${sha.slice(0, 10)}) in ${tree}`);
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', '.'], { cwd: tree, stdio: 'inherit' });
  } catch (err) {
    cleanup();
    throw err;
  }
  return { side: { name: `${ref} (${sha.slice(0, 10)})`, root: tree }, cleanup };
}

function casesOf(root: string): string[] {
  const dir = join(root, 'dist/bench');
  const skip = new Set(['run.js', 'types.js', 'needs.js', 'ab.js', 'ab-child.js']);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.js') && !skip.has(f) && !f.startsWith('_'))
    .map((f) => f.replace(/\.js$/, ''))
    .sort();
}

/** One case on one tree in a fresh process; [] when that tree has no such case or it failed. */
function runOnce(side: Side, name: string): Promise<BenchRow[]> {
  const module = join(side.root, 'dist/bench', `${name}.js`);
  if (!existsSync(module)) return Promise.resolve([]);
  const dir = mkdtempSync(join(tmpdir(), 'tw-bench-run-'));
  const out = join(dir, 'rows.json');
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CHILD, module, out], { cwd: side.root, stdio: ['ignore', 'inherit', 'inherit'] });
    p.on('close', (code) => {
      let rows: BenchRow[] = [];
      if (code !== 0) console.error(`bench: ${name} on ${side.name} exited ${code}`);
      else {
        try {
          rows = JSON.parse(readFileSync(out, 'utf8')) as BenchRow[];
        } catch {
          console.error(`bench: ${name} on ${side.name} wrote no rows`);
        }
      }
      rmSync(dir, { recursive: true, force: true });
      resolve(rows);
    });
  });
}

export interface AbRow {
  bench: string;
  case: string;
  unit: string;
  a: number[];
  b: number[];
  aRatio: number[];
  bRatio: number[];
  referenceName?: string;
}

export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Collect rows of repeated runs by bench and case, in first-seen order. */
export function collect(runs: { side: 'a' | 'b'; rows: BenchRow[] }[]): AbRow[] {
  const by = new Map<string, AbRow>();
  for (const { side, rows } of runs) {
    for (const r of rows) {
      const k = `${r.bench}\u0000${r.case}`;
      let row = by.get(k);
      if (!row) by.set(k, (row = { bench: r.bench, case: r.case, unit: r.unit, a: [], b: [], aRatio: [], bRatio: [], referenceName: r.referenceName }));
      if (Number.isFinite(r.trailwatch)) row[side].push(r.trailwatch);
      if (r.ratio !== undefined && Number.isFinite(r.ratio)) row[side === 'a' ? 'aRatio' : 'bRatio'].push(r.ratio);
    }
  }
  return [...by.values()];
}

export function formatAb(rows: AbRow[], a: string, b: string): string {
  const fmt = (n: number) => (Number.isNaN(n) ? '—' : Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));
  const spread = (xs: number[]) => (xs.length ? `${fmt(Math.min(...xs))} / ${fmt(median(xs))} / ${fmt(Math.max(...xs))}` : '—');
  const head = ['bench', 'case', 'unit', `A min / median / max`, `B min / median / max`, 'B/A', 'vs reference A → B'];
  const body = rows.map((r) => [
    r.bench,
    r.case,
    r.unit,
    spread(r.a),
    spread(r.b),
    r.a.length && r.b.length && median(r.a) !== 0 ? `${(median(r.b) / median(r.a)).toFixed(3)}x` : '—',
    r.aRatio.length || r.bRatio.length ? `${fmt(median(r.aRatio))}x → ${fmt(median(r.bRatio))}x${r.referenceName ? ` (${r.referenceName})` : ''}` : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((x) => x[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  return [
    `A = ${a}, B = ${b}; each side ${Math.max(0, ...rows.map((r) => r.a.length))}× per row, alternating A B A B; higher is better unless the unit is a time or a size`,
    line(head),
    '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|',
    ...body.map(line),
  ].join('\n');
}

export async function runAb(opts: AbOptions): Promise<number> {
  const root = join(here, '../..');
  const { side: a, cleanup } = prepare(root, opts.ref);
  const b: Side = { name: 'this tree', root };
  try {
    const names = opts.cases.length ? opts.cases : casesOf(root);
    const runs: { side: 'a' | 'b'; rows: BenchRow[] }[] = [];
    for (const name of names) {
      const missing = await missingFor(name);
      if (missing) {
        console.error(`bench: ${name} cannot run: ${missing}`);
        continue;
      }
      for (let i = 0; i < opts.pairs; i++) {
        console.error(`bench: ${name} pair ${i + 1}/${opts.pairs}: A`);
        runs.push({ side: 'a', rows: await runOnce(a, name) });
        console.error(`bench: ${name} pair ${i + 1}/${opts.pairs}: B`);
        runs.push({ side: 'b', rows: await runOnce(b, name) });
      }
    }
    const rows = collect(runs);
    console.log(formatAb(rows, a.name, b.name));
    // A case only one tree has (new, or removed) shows "—" on the other side.
    return rows.some((r) => r.a.length || r.b.length) ? 0 : 1;
  } finally {
    cleanup();
  }
}
