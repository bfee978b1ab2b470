export interface BenchRow {
  bench: string;
  case: string;
  unit: string;
  trailwatch: number;
  reference?: number;
  referenceName?: string;
  /** trailwatch / reference; which way is better is said in notes where it is not "higher". */
  ratio?: number;
  notes?: string;
}

export function printRows(rows: BenchRow[]): void {
  const head = ['bench', 'case', 'trailwatch', 'reference', 'ratio', 'notes'];
  const fmt = (n: number | undefined) => (n === undefined ? '' : Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));
  const body = rows.map((r) => [
    r.bench,
    r.case,
    `${fmt(r.trailwatch)} ${r.unit}`,
    r.reference === undefined ? '' : `${fmt(r.reference)} ${r.unit} (${r.referenceName ?? 'reference'})`,
    r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`,
    r.notes ?? '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const b of body) console.log(line(b));
}

/** Run a bench module's run() when the file is executed directly. */
export async function mainIfDirect(metaUrl: string, run: () => Promise<BenchRow[]>): Promise<void> {
  const { fileURLToPath } = await import('node:url');
  if (process.argv[1] && fileURLToPath(metaUrl) === process.argv[1]) printRows(await run());
}
