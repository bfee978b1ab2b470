// TCP/TLS connection slots, shared by both listeners: max_connections in all,
// max_connections_per_source for one source address, so one sender (or one
// flood of idle sockets) cannot take every slot. At the global cap new
// connections are refused, never evicted: an open connection may be a
// sender in the middle of its messages.
import type { Refusal } from './metrics.js';

export class ConnectionLimit {
  open = 0;
  readonly refused: Record<Refusal, number> = { max_connections: 0, max_connections_per_source: 0 };
  private readonly bySource = new Map<string, number>();

  constructor(
    readonly max: number,
    readonly perSource: number,
  ) {}

  /** Take a slot for source, or say why not. */
  admit(source: string): Refusal | null {
    let why: Refusal | null = null;
    const n = this.bySource.get(source) ?? 0;
    if (this.open >= this.max) why = 'max_connections';
    else if (n >= this.perSource) why = 'max_connections_per_source';
    if (why) {
      this.refused[why]++;
      return why;
    }
    this.bySource.set(source, n + 1);
    this.open++;
    return null;
  }

  release(source: string): void {
    const n = this.bySource.get(source) ?? 0;
    if (n <= 1) this.bySource.delete(source);
    else this.bySource.set(source, n - 1);
    this.open--;
  }

  /** Source addresses holding a connection. */
  get sources(): number {
    return this.bySource.size;
  }

  get saturated(): boolean {
    return this.open >= this.max;
  }
}
