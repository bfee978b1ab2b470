// Telemetry catalogue: one prom-client registry per process. Components ask for
// their counters by name (idempotent), named trailwatch_<thing>_<unit>_total.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  private readonly made = new Map<string, Counter<string> | Gauge<string> | Histogram<string>>();

  constructor(opts: { defaults?: boolean; labels?: Record<string, string> } = {}) {
    if (opts.labels) this.registry.setDefaultLabels(opts.labels);
    if (opts.defaults !== false) collectDefaultMetrics({ register: this.registry, prefix: 'trailwatch_' });
  }

  counter<L extends string = string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return this.get(name, () => new Counter({ name, help, labelNames, registers: [this.registry] })) as Counter<L>;
  }

  gauge<L extends string = string>(name: string, help: string, labelNames: readonly L[] = []): Gauge<L> {
    return this.get(name, () => new Gauge({ name, help, labelNames, registers: [this.registry] })) as Gauge<L>;
  }

  histogram<L extends string = string>(name: string, help: string, labelNames: readonly L[] = [], buckets?: number[]): Histogram<L> {
    return this.get(name, () => new Histogram({ name, help, labelNames, buckets, registers: [this.registry] })) as Histogram<L>;
  }

  private get(name: string, make: () => Counter<string> | Gauge<string> | Histogram<string>) {
    let m = this.made.get(name);
    if (!m) this.made.set(name, (m = make()));
    return m;
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Current value of a counter or gauge (summed over labels unless given), for tests and reports. */
  async value(name: string, labels?: Record<string, string>): Promise<number> {
    const m = this.made.get(name);
    if (!m) return 0;
    const data = await m.get();
    let sum = 0;
    for (const v of data.values as { value: number; labels: Record<string, string | number> }[]) {
      if (labels && !Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x)) continue;
      sum += v.value;
    }
    return sum;
  }
}
