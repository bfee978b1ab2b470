// The rules stage's core: decode, enrich, detect, one batch at a time, in event order.
import type { Alert, TwEvent } from '../event.js';
import type { RulesConfig } from './config.js';

export interface Processor {
  /** Decode and enrich the batch in place; return the alerts it raised. */
  process(batch: TwEvent[]): Alert[];
  /** Advance the clock (for absence rules and window expiry); return alerts that became due. */
  tick(now: Date): Alert[];
}

export function createProcessor(_cfg: RulesConfig): Processor {
  return {
    process: () => [],
    tick: () => [],
  };
}
