// The gateway inside `trailwatch run` (gateway.enabled): the same gateway as
// `trailwatch gateway`, whose events go straight onto the in-process bus
// instead of over HTTP to a session-log ingester (no URL, no token needed).
// With gateway.session_log.url set it posts there as the standalone one does.
import type { Stage, StageContext } from '../stage.js';
import type { TwEvent } from '../event.js';
import type { RunningGateway } from './index.js';

export function createGatewayStage(ctx: StageContext): Stage {
  let gw: RunningGateway | undefined;
  let chain: Promise<void> = Promise.resolve();
  const log = ctx.log.child({ stage: 'gateway' });
  return {
    name: 'gateway',
    async start() {
      const { startGateway } = await import('./index.js');
      gw = await startGateway(ctx.config, { log: ctx.log });
      if (ctx.config.gateway.session_log.url) return;
      gw.ctx.events.listeners.add((ev) => {
        // The local copy of an alert an event asked for: the rules raise it from the event.
        if (ev.event.kind === 'alert') return;
        const copy = structuredClone(ev) as TwEvent;
        copy.trailwatch = { ...copy.trailwatch, input: { type: 'gateway' } };
        // In order; the event is already in the gateway's own events.ndjson, so a failure loses nothing for good.
        chain = chain
          .then(() => ctx.bus.publish(ctx.topics.raw, [{ key: copy.host?.name ?? null, value: copy, id: copy.event.id }]))
          .catch((err) => log.error({ err, id: copy.event.id }, 'gateway event not published to the pipeline (kept in gateway/events.ndjson)'));
      });
    },
    async stop() {
      await gw?.stop();
      await chain;
    },
    health() {
      return { ok: true, sessions: gw?.ctx.sessions.size ?? 0 };
    },
  };
}
