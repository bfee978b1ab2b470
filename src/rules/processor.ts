// The rules stage's core: decode, enrich, detect, one batch at a time, in event order.
import { addTag, type Alert, type TwEvent } from '../event.js';
import { gatewayAlert, refuseAlertKind } from './alert.js';
import type { RulesConfig } from './config.js';
import { Collator } from './collation.js';
import { createDecoder } from './decoders/index.js';
import { Detector } from './engine.js';
import { loadRules, ruleDirs, type RuleSet } from './loader.js';
import type { PolicyAudit } from './policy-audit.js';

export interface Processor {
  /** Decode and enrich the batch in place; return the alerts it raised. */
  process(batch: TwEvent[]): Alert[];
  /** Advance the clock (for absence rules and window expiry); return alerts that became due. */
  tick(now: Date): Alert[];
  /** Swap the rule set (hot reload); unchanged rules keep their state. */
  setRules(set: RuleSet): void;
  /** Check execs against the gateway's command policy (null: none). */
  setPolicyAudit(audit: PolicyAudit | null): void;
  /** End of input (replay): what is still held for a gateway session goes through the rules now. */
  drain(): Alert[];
  readonly detector: Detector;
}

export interface ProcessorOptions {
  /** Rules to use instead of loading them from the config's directories. */
  rules?: RuleSet;
  /** Called per event after decoding (replay's --summary counts). */
  onDecoded?: (ev: TwEvent, decoded: boolean) => void;
  /** Allowed lateness of windowed rules (DetectorOptions). */
  latenessMs?: number;
}

/** Throws RuleLoadError when the configured rules are invalid. */
export function createProcessor(cfg: RulesConfig, opts: ProcessorOptions = {}): Processor {
  const detector = new Detector(opts.rules ?? loadRules(ruleDirs(cfg)), { latenessMs: opts.latenessMs });
  const collator = new Collator(cfg);
  // Each processor has its own decoder state (attempt ledger), so replays and workers never share it.
  const { decode } = createDecoder();
  const onDecoded = opts.onDecoded;
  let audit: PolicyAudit | null = null;
  return {
    detector,
    process(batch) {
      const out: Alert[] = [];
      for (let i = 0; i < batch.length; i++) {
        const ev = batch[i];
        refuseAlertKind(ev);
        const ga = gatewayAlert(ev);
        if (ga) out.push(ga);
        let decoded = false;
        try {
          decoded = decode(ev);
        } catch {
          // A decoder bug must not lose the event or stop the stage.
          addTag(ev, 'trailwatch_decode_error');
        }
        if (onDecoded) onDecoded(ev, decoded);
        collator.enrich(ev);
        // an exec the gateway policy blocks may wait for its session's start (policy-audit.ts)
        if (audit && audit.check(ev)) continue;
        detector.process(ev, out);
      }
      if (audit) for (const ev of audit.release(Date.now())) detector.process(ev, out);
      return out;
    },
    tick(now) {
      const out: Alert[] = [];
      if (audit) for (const ev of audit.release(now.getTime())) detector.process(ev, out);
      for (const a of detector.tick(now.getTime())) out.push(a);
      return out;
    },
    drain() {
      const out: Alert[] = [];
      if (audit) for (const ev of audit.release(Infinity, true)) detector.process(ev, out);
      return out;
    },
    setRules(set) {
      detector.setRules(set);
    },
    setPolicyAudit(a) {
      audit = a;
    },
  };
}
export { createPartitionedProcessor, type PartitionedProcessor } from './partitioned.js';
