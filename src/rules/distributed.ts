// The rules stage split for many workers, as Kafka Streams splits a
// group-by: decode+enrich is stateless and runs on whichever worker owns a
// raw partition; every event is then re-published to a repartition topic once
// per stateful grouping (source.ip, user.name, …) keyed by its group value, so
// one source IP hitting fifty hosts lands on one partition and is counted by
// one worker, whatever the partitions of the raw topic.
//
//   raw ─▶ rules.decode ─▶ events            (key host)
//                       ├▶ alerts            (single-event rules; key alert group)
//                       └▶ <prefix>.rules-repartition (key route|group value)
//   rules-repartition ─▶ rules.detect ─▶ alerts (stateful rules)
//
// A detect worker that restarts or is handed a partition rewinds it by two of
// the longest window and replays it, rebuilding its windows. Windowed rules
// decide on the set of events (windows.ts) and ignore a copy of an event they
// hold, so a re-read raises only ids the whole input raises, again with the
// same deterministic id, and the sinks store each id once.
//
// Collation runs in decode: gateway sessions teach a decode worker managed
// accounts only from the raw partitions it owns (the gateway's host key), so
// with several workers only rules.managed_accounts is known everywhere.
import type { Alert, TwEvent } from '../event.js';
import type { Stage, StageContext } from '../stage.js';
import type { BusMessage, Subscription } from '../bus/types.js';
import { createPartitionedProcessor, type PartitionedProcessor } from './partitioned.js';
import { hotReload, type RuleWatcher } from './watch.js';
import { commandPolicyFile, loadPolicyAudit } from './policy-audit.js';

export type { PartitionedProcessor, RouteKey } from './partitioned.js';

export interface RepartitionRecord {
  route: string;
  event: TwEvent;
}

export function repartitionTopic(prefix: string): string {
  return `${prefix}.rules-repartition`;
}

export function alertKey(a: Alert): string {
  const group = a.trailwatch?.alert?.group;
  const values = group ? Object.keys(group).sort().map((k) => `${k}=${group[k]}`).join(',') : '';
  return `${a.rule?.id ?? 'rule'}|${values}`;
}

async function publishAlerts(ctx: StageContext, alerts: Alert[], raised: { inc(l: { rule: string }): void }): Promise<void> {
  if (!alerts.length) return;
  const out = new Array<BusMessage>(alerts.length);
  for (let i = 0; i < alerts.length; i++) {
    raised.inc({ rule: alerts[i].rule?.id ?? 'unknown' });
    out[i] = { key: alertKey(alerts[i]), value: alerts[i], id: alerts[i].event.id };
  }
  await ctx.bus.publish(ctx.topics.alerts, out);
}

export function createRulesDecodeStage(ctx: StageContext, proc: PartitionedProcessor = createPartitionedProcessor(ctx.config.rules)): Stage {
  const processed = ctx.metrics.counter('trailwatch_rules_decoded_events_total', 'Events decoded and enriched by the rules stage.');
  const raised = ctx.metrics.counter('trailwatch_rules_alerts_total', 'Alerts raised.', ['rule']);
  const rekeyed = ctx.metrics.counter('trailwatch_rules_repartitioned_records_total', 'Event copies re-keyed by a stateful grouping.');
  const topic = repartitionTopic(ctx.config.topic_prefix);
  let sub: Subscription | undefined;
  let watcher: RuleWatcher | undefined;
  let unwatchPolicy: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  return {
    name: 'rules.decode',
    async start() {
      watcher = hotReload(ctx, 'rules.decode', (set) => proc.setRules(set));
      const audit = await loadPolicyAudit(commandPolicyFile(ctx.config), ctx.log.child({ stage: 'rules.decode' }));
      proc.setPolicyAudit(audit);
      unwatchPolicy = audit?.watch();
      sub = await ctx.bus.subscribe<TwEvent>({
        topics: [ctx.topics.raw],
        group: 'rules-decode',
        handler: async (batch) => {
          const events = new Array<TwEvent>(batch.length);
          for (let i = 0; i < batch.length; i++) events[i] = batch[i].value;
          const alerts = proc.decode(events);
          const keyed: BusMessage<TwEvent>[] = new Array(events.length);
          const copies: BusMessage<RepartitionRecord>[] = [];
          for (let i = 0; i < events.length; i++) {
            const ev = events[i];
            // Serialized once for the events topic and every re-keyed copy.
            const json = JSON.stringify(ev);
            keyed[i] = { key: ev.host?.name ?? null, value: ev, id: ev.event.id, json };
            for (const r of proc.routes(ev)) copies.push({ key: `${r.route}|${r.key}`, value: { route: r.route, event: ev }, json: `{"route":${JSON.stringify(r.route)},"event":${json}}` });
          }
          // Everything downstream is published before the raw offsets are committed.
          await Promise.all([ctx.bus.publish(ctx.topics.events, keyed), copies.length ? ctx.bus.publish(topic, copies) : undefined, publishAlerts(ctx, alerts, raised)]);
          processed.inc(events.length);
          rekeyed.inc(copies.length);
        },
      });
      // execs held for their gateway session's start go on when it comes, or after HOLD_MS without one
      if (audit) {
        timer = setInterval(() => void publishAlerts(ctx, proc.tick(new Date()), raised).catch((err) => ctx.log.error({ err }, 'publishing due alerts failed')), 1000);
        timer.unref();
      }
    },
    async stop() {
      if (timer) clearInterval(timer);
      watcher?.close();
      unwatchPolicy?.();
      await sub?.stop();
    },
  };
}

export function createRulesDetectStage(ctx: StageContext, proc: PartitionedProcessor = createPartitionedProcessor(ctx.config.rules)): Stage {
  const raised = ctx.metrics.counter('trailwatch_rules_alerts_total', 'Alerts raised.', ['rule']);
  const detected = ctx.metrics.counter('trailwatch_rules_detect_events_total', 'Event copies run through stateful rules.');
  let sub: Subscription | undefined;
  let timer: NodeJS.Timeout | undefined;
  let watcher: RuleWatcher | undefined;
  return {
    name: 'rules.detect',
    async start() {
      watcher = hotReload(ctx, 'rules.detect', (set) => proc.setRules(set));
      sub = await ctx.bus.subscribe<RepartitionRecord>({
        topics: [repartitionTopic(ctx.config.topic_prefix)],
        group: 'rules-detect',
        // asked at each assignment: a hot reload may lengthen the longest window
        rewindMs: () => proc.windowMs(),
        handler: async (batch) => {
          // Group by route, keeping each route's events in partition order.
          const byRoute = new Map<string, TwEvent[]>();
          for (const m of batch) {
            const list = byRoute.get(m.value.route);
            if (list) list.push(m.value.event);
            else byRoute.set(m.value.route, [m.value.event]);
          }
          const alerts: Alert[] = [];
          for (const [route, events] of byRoute) for (const a of proc.detect(route, events)) alerts.push(a);
          await publishAlerts(ctx, alerts, raised);
          detected.inc(batch.length);
        },
      });
      timer = setInterval(() => void publishAlerts(ctx, proc.tick(new Date()), raised).catch((err) => ctx.log.error({ err }, 'publishing due alerts failed')), 1000);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      watcher?.close();
      await sub?.stop();
    },
  };
}
