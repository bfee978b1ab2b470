// Warnings a sender can cause at will (a refused connection, a bad octet
// count), said at most once an interval per kind: the first at once, then one
// line with the count of the others at the end of the interval. A flood of
// refusals is then a line every 10 s, not a line each.
import type { Logger } from '../../log.js';

export const NOTICE_INTERVAL_MS = 10_000;

interface Pending {
  msg: string;
  detail: Record<string, unknown>;
  count: number;
}

export class Notices {
  private readonly pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = NOTICE_INTERVAL_MS,
  ) {}

  warn(kind: string, detail: Record<string, unknown>, msg: string): void {
    const p = this.pending.get(kind);
    if (p) {
      p.count++;
      p.detail = detail;
      return;
    }
    this.log.warn({ ...detail, count: 1 }, msg);
    this.pending.set(kind, { msg, detail, count: 0 });
    this.timer ??= setTimeout(this.tick, this.intervalMs).unref();
  }

  /** Say what is pending now (on stop). */
  flush(): void {
    clearTimeout(this.timer);
    this.tick();
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    for (const [kind, p] of this.pending) {
      // A quiet interval: the next one is said at once again.
      if (p.count === 0) {
        this.pending.delete(kind);
        continue;
      }
      this.log.warn({ ...p.detail, count: p.count, interval_ms: this.intervalMs }, `${p.msg} (repeated)`);
      p.count = 0;
    }
    if (this.pending.size) this.timer = setTimeout(this.tick, this.intervalMs).unref();
  };
}
