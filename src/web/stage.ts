// The console as a stage of `trailwatch run` (web.enabled, or web.admins set), on its own port.
import type { Stage, StageContext } from '../stage.js';
import { startWeb, type RunningWeb } from './index.js';

export function createWebStage(ctx: StageContext): Stage {
  let running: RunningWeb | undefined;
  return {
    name: 'web',
    async start() {
      running = await startWeb(ctx.config, {
        log: ctx.log.child({ stage: 'web' }),
        // Triage changes go out as events, like everything else the pipeline knows.
        publish: (events) => ctx.bus.publish(ctx.topics.events, events.map((value) => ({ key: null, value }))),
        ingest: async () => ({
          received: (await ctx.metrics.value('trailwatch_syslog_received_messages_total')) + (await ctx.metrics.value('trailwatch_journal_received_entries_total')),
          dropped: (await ctx.metrics.value('trailwatch_syslog_dropped_messages_total')) + (await ctx.metrics.value('trailwatch_syslog_udp_kernel_drops_total')),
        }),
      });
      // Where to go, in the log of the terminal that started run.
      ctx.log.info({ url: ctx.config.web.public_url }, `console at ${ctx.config.web.public_url} (log in with a web.admins token)`);
    },
    async stop() {
      await running?.stop();
      running = undefined;
    },
    health: () => ({ ok: !!running, url: running?.url }),
  };
}
