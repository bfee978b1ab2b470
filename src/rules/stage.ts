// The rules stage on the bus: raw -> decode/enrich/detect -> events + alerts.
// Rules are loaded at start (invalid rules stop the start with the reasons)
// and hot-reloaded from the rule directories; a bad edit is logged and the
// previous set stays active.
import { networkInterfaces } from 'node:os';
import type { Stage, StageContext } from '../stage.js';
import type { BusMessage } from '../bus/types.js';
import type { Alert, TwEvent } from '../event.js';
import { createProcessor } from './processor.js';
import { loadRules, ruleDirs } from './loader.js';
import { hotReload, type RuleWatcher } from './watch.js';
import { commandPolicyFile, loadPolicyAudit } from './policy-audit.js';

/**
 * With the gateway in this process (gateway.enabled) and no
 * rules.gateway_addresses, the gateway's addresses are this host's: its
 * management and session logins to targets come from one of them.
 */
function rulesConfigOf(ctx: StageContext): StageContext['config']['rules'] {
  const r = ctx.config.rules;
  if (!ctx.config.gateway.enabled || r.gateway_addresses.length) return r;
  const own = Object.values(networkInterfaces())
    .flat()
    .filter((i): i is NonNullable<typeof i> => !!i)
    .map((i) => i.address.replace(/%.*$/, ''));
  ctx.log.info({ gateway_addresses: own }, 'rules: rules.gateway_addresses not set; using this host\'s addresses (the gateway runs here)');
  return { ...r, gateway_addresses: own };
}

export function createRulesStage(ctx: StageContext): Stage {
  const dirs = ruleDirs(ctx.config.rules);
  const processed = ctx.metrics.counter('trailwatch_rules_processed_events_total', 'Events through the rules stage.');
  const raised = ctx.metrics.counter('trailwatch_rules_alerts_total', 'Alerts raised.', ['rule']);
  const log = ctx.log.child({ stage: 'rules' });
  let processor: ReturnType<typeof createProcessor> | undefined;
  let watcher: RuleWatcher | undefined;
  let unwatchPolicy: (() => void) | undefined;
  let sub: { stop(): Promise<void> } | undefined;
  let timer: NodeJS.Timeout | undefined;
  const publishAlerts = async (alerts: Alert[]) => {
    if (!alerts.length) return;
    for (const a of alerts) {
      raised.inc({ rule: a.rule.id });
      log.warn({ alert: a.event.id, rule: a.rule.id, name: a.rule.name, group: a.trailwatch?.alert?.group, severity: a.trailwatch?.alert?.severity }, `alert: ${a.message ?? a.rule.name}`);
    }
    await ctx.bus.publish(
      ctx.topics.alerts,
      alerts.map((a) => ({ key: a.event.id, value: a as TwEvent, id: a.event.id })),
    );
  };
  return {
    name: 'rules',
    async start() {
      const set = loadRules(dirs);
      processor = createProcessor(rulesConfigOf(ctx), { rules: set });
      const audit = await loadPolicyAudit(commandPolicyFile(ctx.config), log);
      processor.setPolicyAudit(audit);
      unwatchPolicy = audit?.watch();
      log.info({ rules: set.rules.length, files: set.files.length, command_policy: audit?.file }, 'rules loaded');
      watcher = hotReload(ctx, 'rules', (next) => processor!.setRules(next));
      const p = processor;
      sub = await ctx.bus.subscribe({
        topics: [ctx.topics.raw],
        group: 'rules',
        handler: async (batch) => {
          const events = batch.map((m) => m.value);
          const alerts = p.process(events);
          const plain: BusMessage[] = [];
          for (const e of events) if (e.event.kind !== 'alert') plain.push({ key: e.host?.name ?? null, value: e, id: e.event.id });
          await ctx.bus.publish(ctx.topics.events, plain);
          await publishAlerts(alerts);
          processed.inc(events.length);
        },
      });
      timer = setInterval(() => void publishAlerts(p.tick(new Date())).catch((err) => log.error({ err }, 'publishing due alerts failed')), 1000);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      watcher?.close();
      unwatchPolicy?.();
      await sub?.stop();
    },
    health() {
      return { ok: true, ...(processor ? processor.detector.stats() : {}) };
    },
  };
}
