// The webhook sink stage: alerts topic -> route tree -> aggregation groups ->
// receivers (generic signed JSON, Slack, PagerDuty, Teams). Runs in the
// embedded pipeline and as `trailwatch sink webhook` on any bus.
import { TrailwatchError, errorMessage } from '../errors.js';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { isAlert, SEVERITY_SCORE, type Alert, type TwEvent } from '../event.js';
import type { Stage, StageContext } from '../stage.js';
import { compileWebhookRoutes, effectiveReceivers, type ReceiverConfig } from './webhook-config.js';
import { Deliverer } from './webhook/deliver.js';
import { parseDuration } from './webhook/duration.js';
import { Grouper } from './webhook/grouping.js';
import { compileHostGroups } from './webhook/matchers.js';
import { matchRoutes, type CompiledRoute } from './webhook/routes.js';
import { SilenceSet, silencesFile } from './webhook/silences.js';
import { WebhookState } from './webhook/state.js';

export const RECEIVER_GONE_RULE = 'trailwatch.webhook.receiver_gone';

export function receiverFingerprint(r: ReceiverConfig): string {
  return createHash('sha256')
    .update(`${r.type}\u0000${r.url?.reveal() ?? ''}\u0000${r.routing_key?.reveal() ?? ''}`)
    .digest('hex')
    .slice(0, 16);
}

function indexRoutes(r: CompiledRoute, out = new Map<string, CompiledRoute>()): Map<string, CompiledRoute> {
  out.set(r.id, r);
  for (const c of r.children) indexRoutes(c, out);
  return out;
}

/** Why an alert cannot be routed, or undefined when it has what routing needs. */
function invalidAlert(ev: TwEvent): string | undefined {
  if (!ev || typeof ev !== 'object' || !ev.event) return 'not an event';
  if (!isAlert(ev)) return `event.kind is "${ev.event.kind}", not "alert"`;
  if (!ev.rule?.id) return 'missing rule.id';
  if (!ev.trailwatch?.alert) return 'missing trailwatch.alert';
  return undefined;
}

export function goneAlert(receiver: string, reason: string, now = new Date()): Alert {
  const ts = now.toISOString();
  const day = ts.slice(0, 10);
  return {
    '@timestamp': ts,
    event: {
      id: createHash('sha256').update(`${RECEIVER_GONE_RULE}\u0000${receiver}\u0000${day}`).digest('hex').slice(0, 32),
      kind: 'alert',
      severity: SEVERITY_SCORE.high,
      category: ['configuration'],
      type: ['change'],
      action: 'webhook-receiver-disabled',
      dataset: 'trailwatch.webhook',
    },
    message: `Webhook receiver "${receiver}" answered 410 Gone and is disabled; its notifications go to the dead-letter topic until its URL changes. (${reason})`,
    rule: { id: RECEIVER_GONE_RULE, name: 'Webhook receiver disabled (410 Gone)', category: 'pipeline' },
    tags: ['trailwatch', 'webhook'],
    trailwatch: { alert: { severity: 'high', group: { 'webhook.receiver': receiver }, events: [], count: 1, first_seen: ts, last_seen: ts } },
  };
}

export function createWebhookStage(ctx: StageContext): Stage {
  const cfg = ctx.config.sinks.webhook;
  const { route: root } = compileWebhookRoutes(cfg);
  if (!root) throw new Error('sink.webhook: no receivers configured (sinks.webhook.receivers, or TRAILWATCH_WEBHOOK_URL and TRAILWATCH_WEBHOOK_SECRET)');
  const receivers = effectiveReceivers(cfg);
  const dataDir = ctx.config.data_dir;
  const routes = indexRoutes(root);
  const counted = ctx.metrics.counter('trailwatch_webhook_alerts_total', 'Alerts seen by the webhook sink, by outcome.', ['outcome']);
  const abort = new AbortController();
  let grouper: Grouper;
  const state = new WebhookState(join(dataDir, 'webhook', 'state.json'), cfg.max_notified_ids, () => grouper.snapshot());
  const silences = new SilenceSet(silencesFile(dataDir), compileHostGroups(cfg.host_groups), (err) => ctx.log.warn({ err: err.message }, 'silences'));

  const disabledReason = (r: ReceiverConfig) => {
    const d = state.disabled[r.name];
    return d && d.fingerprint === receiverFingerprint(r) ? `receiver disabled since ${d.at}: ${d.reason}` : undefined;
  };
  const deliverer = new Deliverer({
    cfg,
    receivers,
    metrics: ctx.metrics,
    log: ctx.log,
    bus: ctx.bus,
    topics: ctx.topics,
    disabledReason,
    onGone: async (r, reason) => {
      state.disabled[r.name] = { fingerprint: receiverFingerprint(r), reason, at: new Date().toISOString() };
      await state.save();
      ctx.log.error({ receiver: r.name }, 'webhook receiver answered 410 Gone; disabled');
      const alert = goneAlert(r.name, reason);
      await ctx.bus.publish(ctx.topics.alerts, [{ key: alert.event.id, value: alert }]).catch((err) => ctx.log.error({ err }, 'cannot raise the receiver-gone alert'));
    },
  });
  grouper = new Grouper({
    state,
    deliver: (n) => deliverer.deliver(n, abort.signal),
    silenced: (a) => !!silences.silenced(a),
    onSilenced: () => counted.inc({ outcome: 'silenced' }),
    resolveTimeoutMs: parseDuration(cfg.resolve_timeout) ?? 300_000,
    sendResolved: (name) => receivers.some((r) => r.name === name && r.send_resolved),
    log: ctx.log,
  });

  const route = (alert: Alert) => {
    const gone = alert.rule.id === RECEIVER_GONE_RULE;
    for (const r of matchRoutes(root, alert)) {
      // The alert about a disabled receiver goes through the same routes minus that receiver.
      if (gone) {
        const rc = deliverer.receiver(r.receiver);
        if (rc && disabledReason(rc)) continue;
      }
      grouper.accept(alert, r);
    }
  };

  let sub: { stop(): Promise<void> } | undefined;
  return {
    name: 'sink.webhook',
    async start() {
      await state.load();
      grouper.restore(state.groups, routes, route);
      sub = await ctx.bus.subscribe({
        topics: [ctx.topics.alerts],
        group: 'sink-webhook',
        handler: async (batch) => {
          for (const m of batch) {
            const why = invalidAlert(m.value);
            if (why) {
              counted.inc({ outcome: 'invalid' });
              ctx.log.warn({ event_id: m.value?.event?.id, reason: why }, 'webhook sink skipped a record on the alerts topic');
              continue;
            }
            counted.inc({ outcome: 'received' });
            route(m.value as Alert);
          }
          // The batch counts as consumed only once its alerts are in the state file;
          // a disk that cannot take it is waited for (redelivery), the alerts are not at fault.
          await state.save().catch((err) => {
            throw new TrailwatchError('TW_WEBHOOK_STATE', `cannot save the webhook state: ${errorMessage(err)}`, { retriable: true, cause: err });
          });
        },
      });
    },
    async stop() {
      await sub?.stop();
      abort.abort();
      await grouper.stop();
      await state.save();
    },
    health() {
      const disabled = receivers.filter((r) => disabledReason(r)).map((r) => r.name);
      return { ok: true, groups: grouper.groups.size, disabled_receivers: disabled };
    },
  };
}
