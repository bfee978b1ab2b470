// The rules stage on the bus: raw -> decode/enrich/detect -> events + alerts.
import type { Stage, StageContext } from '../stage.js';
import type { TwEvent } from '../event.js';
import { createProcessor } from './processor.js';

export function createRulesStage(ctx: StageContext): Stage {
  const processor = createProcessor(ctx.config.rules);
  const processed = ctx.metrics.counter('trailwatch_rules_processed_events_total', 'Events through the rules stage.');
  const raised = ctx.metrics.counter('trailwatch_rules_alerts_total', 'Alerts raised.', ['rule']);
  let sub: { stop(): Promise<void> } | undefined;
  let timer: NodeJS.Timeout | undefined;
  const publishAlerts = async (alerts: TwEvent[]) => {
    if (!alerts.length) return;
    for (const a of alerts) raised.inc({ rule: a.rule?.id ?? 'unknown' });
    await ctx.bus.publish(
      ctx.topics.alerts,
      alerts.map((a) => ({ key: a.event.id, value: a })),
    );
  };
  return {
    name: 'rules',
    async start() {
      sub = await ctx.bus.subscribe({
        topics: [ctx.topics.raw],
        group: 'rules',
        handler: async (batch) => {
          const events = batch.map((m) => m.value);
          const alerts = processor.process(events);
          await ctx.bus.publish(
            ctx.topics.events,
            events.map((e) => ({ key: e.host?.name ?? null, value: e })),
          );
          await publishAlerts(alerts);
          processed.inc(events.length);
        },
      });
      timer = setInterval(() => void publishAlerts(processor.tick(new Date())).catch(() => {}), 1000);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await sub?.stop();
    },
  };
}
