// Delivery of one notification to one receiver: format, sign each attempt,
// retry with jittered backoff honouring Retry-After, 410 disables the
// receiver, and whatever never got through goes to the dead-letter topic
// (and, in embedded mode, data_dir/dlq) with the reason. Secrets stay out of
// every message: errors name the receiver, never its URL or keys.
import { isRetriable, errorMessage } from '../../errors.js';
import { newEventId, type TwEvent } from '../../event.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import { retry } from '../../retry.js';
import type { Bus, TopicNames } from '../../bus/types.js';
import type { ReceiverConfig, WebhookConfig } from '../webhook-config.js';
import { parseDuration } from './duration.js';
import { formatGeneric } from './generic.js';
import type { FormatOptions, Formatted, Notification } from './model.js';
import { formatPagerDuty, PAGERDUTY_URL } from './pagerduty.js';
import { scrub, type Secret } from './secret.js';
import { checkResponse, DeliveryError, post } from './send.js';
import { signedHeaders } from './sign.js';
import { formatSlack } from './slack.js';
import { SsrfError } from './ssrf.js';
import { formatTeams } from './teams.js';

export type Outcome = 'delivered' | 'dead-lettered' | 'aborted';

export interface DelivererDeps {
  cfg: WebhookConfig;
  receivers: readonly ReceiverConfig[];
  metrics: Metrics;
  log: Logger;
  bus: Bus;
  topics: TopicNames;
  /** Why a receiver is disabled (410 earlier), or undefined. */
  disabledReason(receiver: ReceiverConfig): string | undefined;
  onGone(receiver: ReceiverConfig, reason: string): Promise<void>;
}

export function receiverSecrets(r: ReceiverConfig): Secret[] {
  return [r.url, r.routing_key, ...r.secrets, ...Object.values(r.headers)].filter((s): s is Secret => !!s);
}

export function formatFor(r: ReceiverConfig, n: Notification, o: FormatOptions): Formatted {
  switch (r.type) {
    case 'slack':
      return formatSlack(n, o);
    case 'pagerduty':
      return formatPagerDuty(n, o, r.routing_key!);
    case 'teams':
      return formatTeams(n, o);
    default:
      return formatGeneric(n, o);
  }
}

export class Deliverer {
  private readonly byName = new Map<string, ReceiverConfig>();
  private readonly deliveries;
  private readonly latency;

  constructor(private readonly d: DelivererDeps) {
    for (const r of d.receivers) this.byName.set(r.name, r);
    this.deliveries = d.metrics.counter('trailwatch_webhook_deliveries_total', 'Webhook delivery attempts by route, receiver and outcome.', ['route', 'receiver', 'outcome']);
    this.latency = d.metrics.histogram('trailwatch_webhook_delivery_duration_seconds', 'Webhook request latency per attempt.', ['route', 'receiver'], [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]);
  }

  receiver(name: string): ReceiverConfig | undefined {
    return this.byName.get(name);
  }

  async deliver(n: Notification, signal?: AbortSignal): Promise<Outcome> {
    const r = this.byName.get(n.receiver);
    const doc = { id: n.id, group_key: n.groupKey, group_labels: n.groupLabels, repeat: n.repeat, status: n.status ?? 'firing', created_at: n.createdAt, alerts: n.alerts };
    if (!r) return this.deadLetter(n.receiver, n.route, undefined, `no receiver named "${n.receiver}"`, 0, { notification: doc });
    const o: FormatOptions = { publicUrl: this.d.cfg.public_url, maxAlerts: r.max_alerts, maxEvents: r.max_events };
    return this.send(r, n.route, n.id, formatFor(r, n, o), { notification: doc }, signal);
  }

  /** Deliver any formatted document (reports) to a named receiver, with the same retries and DLQ. */
  async deliverDocument(receiver: string, id: string, format: (r: ReceiverConfig) => Formatted, dlqDoc: Record<string, unknown>, signal?: AbortSignal): Promise<Outcome> {
    const r = this.byName.get(receiver);
    if (!r) return this.deadLetter(receiver, receiver, undefined, `no receiver named "${receiver}"`, 0, dlqDoc);
    return this.send(r, r.name, id, format(r), dlqDoc, signal);
  }

  private async send(r: ReceiverConfig, route: string, id: string, formatted: Formatted, dlqDoc: Record<string, unknown>, signal?: AbortSignal): Promise<Outcome> {
    const labels = { route, receiver: r.name };
    const disabled = this.d.disabledReason(r);
    if (disabled) {
      this.deliveries.inc({ ...labels, outcome: 'disabled' });
      return this.deadLetter(r.name, route, r, disabled, 0, dlqDoc);
    }
    const secrets = receiverSecrets(r);
    const clean = (s: string) => scrub(s, secrets);
    const { body, headers: fmtHeaders } = formatted;
    const url = r.url?.reveal() ?? PAGERDUTY_URL;
    const policy = { allowPrivate: r.allow_private ?? this.d.cfg.allow_private, allowLinkLocal: this.d.cfg.allow_link_local };
    const timeoutMs = parseDuration(r.timeout) ?? 10_000;
    const rc = this.d.cfg.retry;
    const maxRetryAfter = parseDuration(rc.max_retry_after) ?? 300_000;
    let attempts = 0;
    const attempt = async () => {
      attempts++;
      const headers: Record<string, string> = { ...fmtHeaders };
      for (const [k, v] of Object.entries(r.headers)) headers[k] = v.reveal();
      if (r.type === 'generic') Object.assign(headers, signedHeaders(id, body, r.secrets));
      const end = this.latency.startTimer(labels);
      try {
        const res = await post(url, body, headers, { timeoutMs, policy, signal });
        end();
        checkResponse(res, r.name, clean);
      } catch (err) {
        if (err instanceof DeliveryError || err instanceof SsrfError || signal?.aborted) throw err;
        end();
        const code = (err as NodeJS.ErrnoException).code;
        throw new DeliveryError('TW_WEBHOOK_NETWORK', clean(`receiver "${r.name}": ${errorMessage(err)}`), undefined, {
          retriable: isRetriable(err) || code === 'ETIMEDOUT',
        });
      }
    };
    try {
      await retry(attempt, {
        retries: rc.attempts - 1,
        initialMs: parseDuration(rc.initial) ?? 1000,
        maxMs: parseDuration(rc.max) ?? 60_000,
        signal,
        delayFor: (err, computed) => {
          const ra = (err as DeliveryError).retryAfterMs;
          return ra === undefined ? computed : Math.min(ra, maxRetryAfter);
        },
        onRetry: (err, n2, delayMs) => {
          this.deliveries.inc({ ...labels, outcome: 'retry' });
          this.d.log.warn({ receiver: r.name, route: labels.route, attempt: n2, delay_ms: delayMs, err: errorMessage(err) }, 'webhook delivery failed; retrying');
        },
      });
      this.deliveries.inc({ ...labels, outcome: 'success' });
      this.d.log.info({ receiver: r.name, route: labels.route, notification: id, attempts }, 'webhook delivered');
      return 'delivered';
    } catch (err) {
      if (signal?.aborted) return 'aborted';
      const reason = clean(errorMessage(err));
      if (err instanceof DeliveryError && err.status === 410) {
        this.deliveries.inc({ ...labels, outcome: 'gone' });
        await this.d.onGone(r, reason);
      } else this.deliveries.inc({ ...labels, outcome: 'failed' });
      this.d.log.error({ receiver: r.name, route: labels.route, notification: id, attempts, err: reason }, 'webhook delivery gave up; dead-lettered');
      return this.deadLetter(r.name, route, r, reason, attempts, dlqDoc, err instanceof DeliveryError ? err.status : undefined);
    }
  }

  /** Record what never got through: the dead-letter topic, and data_dir/dlq in embedded mode. */
  private async deadLetter(
    receiver: string,
    route: string,
    r: ReceiverConfig | undefined,
    reason: string,
    attempts: number,
    doc: Record<string, unknown>,
    status?: number,
  ): Promise<Outcome> {
    const now = new Date().toISOString();
    const record: TwEvent = {
      '@timestamp': now,
      event: { id: newEventId(), kind: 'pipeline_error', dataset: 'trailwatch.webhook', reason, created: now },
      message: `webhook delivery to "${receiver}" failed: ${reason}`,
      trailwatch: { dlq: { stage: 'sink.webhook', receiver, receiver_type: r?.type, route, reason, attempts, status, ...doc } },
    };
    // The in-process bus keeps dead letters in data_dir/dlq; Kafka in the topic.
    // Never wait on it forever.
    const published = this.d.bus.publish(this.d.topics.dlq, [{ key: receiver, value: record }]);
    published.catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), 5000)));
    try {
      if ((await Promise.race([published, timeout])) === 'timeout') this.d.log.error({ receiver }, 'dead-letter topic is full; record kept only in the file');
    } catch (err) {
      this.d.log.error({ err: errorMessage(err) }, 'cannot publish to the dead-letter topic');
    } finally {
      clearTimeout(timer);
    }
    return 'dead-lettered';
  }
}
