// sinks.webhook: receivers (generic signed JSON, Slack, PagerDuty, Teams), an
// Alertmanager-style route tree, host groups and delivery settings. Validated
// at load: matchers, durations, receiver names and secret formats are checked
// here so a config that can never deliver is refused with its field path.
import { z } from 'zod';
import { compileHostGroups } from './webhook/matchers.js';
import { compileRoute, type CompiledRoute, type Issue, type RouteInput } from './webhook/routes.js';
import { Secret } from './webhook/secret.js';
import { parseDuration } from './webhook/duration.js';

export { Secret };

const WHSEC = /^whsec_([A-Za-z0-9+/]+={0,2})$/;

/** Decoded HMAC key of a `whsec_<base64>` secret, or undefined when malformed (Standard Webhooks: 24..64 bytes). */
export function whsecKey(secret: string): Buffer | undefined {
  const m = WHSEC.exec(secret);
  if (!m) return undefined;
  const key = Buffer.from(m[1], 'base64');
  return key.length >= 24 && key.length <= 64 ? key : undefined;
}

const secretString = z.string().min(1).transform((s) => new Secret(s));
const whsecSecret = z
  .string()
  .refine((s) => whsecKey(s) !== undefined, { message: 'must be whsec_<base64 of 24 to 64 random bytes> (generate one with `trailwatch webhook new-secret`)' })
  .transform((s) => new Secret(s));
const secretUrl = z
  .string()
  .refine((s) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol), { message: 'must be an http:// or https:// URL' })
  .transform((s) => new Secret(s));
const durationString = (def: string) =>
  z.string().default(def).refine((s) => parseDuration(s) !== undefined, { message: 'not a duration (e.g. 500ms, 30s, 5m, 4h)' });

export const receiverConfig = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only').describe('Receiver name, used by routes and in metrics and logs.'),
    type: z
      .enum(['generic', 'slack', 'pagerduty', 'teams'])
      .default('generic')
      .describe('generic: Standard Webhooks signed JSON; slack: incoming webhook (Block Kit); pagerduty: Events API v2; teams: Adaptive Card to an incoming webhook / workflow.'),
    url: secretUrl
      .optional()
      .describe('Endpoint URL (secret: Slack and Teams URLs embed tokens). Required except for pagerduty (default https://events.pagerduty.com/v2/enqueue).'),
    secrets: z
      .array(whsecSecret)
      .default([])
      .describe('generic: whsec_ signing secrets (secret). The first is current; more during rotation, each signs (space-separated v1 signatures).'),
    routing_key: secretString.optional().describe('pagerduty: the Events API v2 integration (routing) key (secret).'),
    headers: z.record(z.string(), secretString).default({}).describe('Extra request headers, e.g. Authorization (values are secret).'),
    timeout: durationString('10s').describe('Per-attempt request timeout (default 10s).'),
    max_alerts: z.number().int().min(1).max(100).default(20).describe('Most alerts listed in one notification (the count says how many there were).'),
    max_events: z.number().int().min(0).max(100).default(10).describe('Most contributing event ids listed per alert.'),
    allow_private: z.boolean().optional().describe('Override sinks.webhook.allow_private for this receiver.'),
    send_resolved: z
      .boolean()
      .default(false)
      .describe(
        'Also notify when a group goes quiet (no alert for resolve_timeout): PagerDuty resolves its incident (same dedup_key), other types get a [RESOLVED] message. Default false: an attacker going quiet does not close a security incident; a person does.',
      ),
  })
  .superRefine((r, ctx) => {
    if (r.type !== 'pagerduty' && !r.url) ctx.addIssue({ code: 'custom', path: ['url'], message: `a ${r.type} receiver needs a url` });
    if (r.type === 'generic' && !r.secrets.length)
      ctx.addIssue({ code: 'custom', path: ['secrets'], message: 'a generic receiver signs every request: give at least one whsec_ secret' });
    if (r.type === 'pagerduty' && !r.routing_key) ctx.addIssue({ code: 'custom', path: ['routing_key'], message: 'a pagerduty receiver needs a routing_key' });
  });
export type ReceiverConfig = z.infer<typeof receiverConfig>;

const severityDurations = z.strictObject({
  low: z.string().optional(),
  medium: z.string().optional(),
  high: z.string().optional(),
  critical: z.string().optional(),
});

// Routes are checked by compileRoute (durations, matchers, receiver names) so the
// schema keeps them as written; recursion through z.lazy.
const routeConfig: z.ZodType<RouteInput> = z.lazy(() =>
  z.strictObject({
    name: z.string().optional().describe('Route name for metrics and logs (default receiver/position).'),
    receiver: z.string().optional().describe('Receiver for alerts this route delivers (inherited from the parent).'),
    matchers: z.array(z.string()).optional().describe('All must hold: severity>=high, rule.id=…, rule.id=~regex, tags=…, host_group=…, any.ecs.path!=….'),
    continue: z.boolean().optional().describe('Keep matching later sibling routes after this one matched (default false).'),
    group_by: z.array(z.string()).optional().describe('Fields that make the group key (default [rule.id, alert.group]; ["..."] = every alert alone).'),
    group_wait: z
      .union([z.string(), severityDurations])
      .optional()
      .describe('Wait before the first notification of a new group; one duration or per severity (default low/medium 30s, high 2s, critical 1s).'),
    group_interval: z.string().optional().describe('Wait before notifying about new alerts in a group already notified (default 1m).'),
    repeat_interval: z.string().optional().describe('Wait before repeating a notification for alerts still firing (default 4h).'),
    routes: z.array(routeConfig).optional().describe('Child routes.'),
  }),
);

export const webhookConfig = z
  .strictObject({
    enabled: z.boolean().optional().describe('Run the webhook sink (default: when a receiver or TRAILWATCH_WEBHOOK_URL is set).'),
    public_url: z.url().optional().describe('Base URL of the trailwatch web console, for links in notifications (e.g. https://trailwatch.example.com).'),
    allow_private: z
      .boolean()
      .default(false)
      .describe('Allow receivers on loopback and private addresses (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7). Default false (SSRF guard).'),
    allow_link_local: z
      .boolean()
      .default(false)
      .describe('Allow link-local and cloud metadata addresses (169.254/16, fe80::/10, 169.254.169.254, fd00:ec2::254). Almost never wanted.'),
    quick_start: z
      .strictObject({
        url: secretUrl.optional().describe('From env TRAILWATCH_WEBHOOK_URL: a generic signed receiver for every alert.'),
        secret: whsecSecret.optional().describe('From env TRAILWATCH_WEBHOOK_SECRET (whsec_…; secret).'),
      })
      .optional()
      .describe('Set by TRAILWATCH_WEBHOOK_URL and TRAILWATCH_WEBHOOK_SECRET; adds receiver "env" and a route sending it every alert.'),
    receivers: z.array(receiverConfig).default([]).describe('Where notifications go.'),
    host_groups: z
      .record(z.string(), z.array(z.string()))
      .default({})
      .describe('Named lists of host globs for host_group matchers, e.g. {prod: ["db-*", "web-?.example.com"]}.'),
    route: routeConfig.optional().describe('The route tree (Alertmanager style). Without one, every alert goes to the only receiver.'),
    retry: z
      .strictObject({
        attempts: z.number().int().min(1).max(50).default(6).describe('Attempts per notification before it goes to the dead-letter topic (default 6).'),
        initial: durationString('1s').describe('First backoff (jittered, doubling; default 1s).'),
        max: durationString('60s').describe('Longest backoff between attempts (default 60s).'),
        max_retry_after: durationString('5m').describe('Longest Retry-After honoured (default 5m).'),
      })
      .prefault({}),
    resolve_timeout: durationString('5m').describe(
      'An alert not re-sent by the rules for this long counts as no longer firing: it leaves its group and is not repeated (default 5m).',
    ),
    max_notified_ids: z
      .number()
      .int()
      .min(100)
      .default(20_000)
      .describe('Alert ids remembered as notified under data_dir/webhook (no duplicate after a restart).'),
  })
  .superRefine((c, ctx) => {
    const issues = compileWebhookRoutes(c).issues;
    for (const i of issues) ctx.addIssue({ code: 'custom', path: i.path, message: i.message });
  })
  .prefault({})
  .describe('Alert delivery to on-call over webhooks.');
export type WebhookConfig = z.infer<typeof webhookConfig>;

export const QUICK_START_RECEIVER = 'env';

/** Receivers including the env quick-start one. */
export function effectiveReceivers(c: WebhookConfig): ReceiverConfig[] {
  const out = [...c.receivers];
  const qs = c.quick_start;
  if (qs?.url && qs.secret)
    out.push({ name: QUICK_START_RECEIVER, type: 'generic', url: qs.url, secrets: [qs.secret], headers: {}, timeout: '10s', max_alerts: 20, max_events: 10, send_resolved: false });
  return out;
}

/** The route tree as configured, with the env quick-start route added for every alert. */
export function effectiveRoute(c: WebhookConfig): RouteInput | undefined {
  const receivers = effectiveReceivers(c);
  const quick = receivers.some((r) => r.name === QUICK_START_RECEIVER) && !c.receivers.some((r) => r.name === QUICK_START_RECEIVER);
  let route = c.route;
  if (!route && c.receivers.length === 1) route = { receiver: c.receivers[0].name };
  if (!quick) return route;
  if (!route) return { receiver: QUICK_START_RECEIVER };
  // Every alert also goes to the quick-start receiver: a first child that matches all and continues.
  return { ...route, routes: [{ name: 'env', receiver: QUICK_START_RECEIVER, continue: true }, ...(route.routes ?? [])] };
}

export function compileWebhookRoutes(c: WebhookConfig): { route?: CompiledRoute; issues: Issue[] } {
  const issues: Issue[] = [];
  const receivers = effectiveReceivers(c);
  const names = new Set<string>();
  receivers.forEach((r, i) => {
    if (names.has(r.name)) issues.push({ path: ['receivers', i, 'name'], message: `duplicate receiver name "${r.name}"` });
    names.add(r.name);
  });
  if (c.quick_start && !!c.quick_start.url !== !!c.quick_start.secret)
    issues.push({ path: ['quick_start'], message: 'TRAILWATCH_WEBHOOK_URL and TRAILWATCH_WEBHOOK_SECRET go together (the quick-start receiver signs)' });
  const input = effectiveRoute(c);
  if (!input) {
    if (c.receivers.length > 1) issues.push({ path: ['route'], message: 'several receivers need a route (at least route.receiver, the default)' });
    return { issues };
  }
  const route = compileRoute(input, { receivers: names, hostGroups: compileHostGroups(c.host_groups), path: ['route'] }, issues);
  return { route, issues };
}

/** Whether the webhook stage runs in embedded mode. */
export function webhookEnabled(c: WebhookConfig): boolean {
  if (c.enabled === false) return false;
  return effectiveReceivers(c).length > 0;
}
