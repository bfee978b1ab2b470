// Every gateway event as an ECS TwEvent (event.dataset trailwatch.gateway):
// appended to <data_dir>/gateway/events.ndjson, and batched as NDJSON to the
// session-log ingester (POST <url>/v1/session-log). Batches the ingester does
// not take after retries are spooled to <data_dir>/gateway/spool.ndjson and
// re-sent first once it answers again.
import { appendFileSync, mkdirSync, readFileSync, renameSync, rmSync, existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { baseEvent, SEVERITY_SCORE, type SeverityName, type TwEvent } from '../event.js';
import { gatewayAlert } from '../rules/alert.js';
import { TrailwatchError } from '../errors.js';
import { retry } from '../retry.js';
import type { Logger } from '../log.js';
import { ACTIONS, DATASETS, type Action } from '../rules/decoders/vocabulary.js';
import type { GatewayConfig } from './config.js';

export interface SessionRef {
  id: string;
  operator: string;
  account?: string;
  target?: string;
  /** The target's address (host.ip) when known. */
  targetAddress?: string;
  sourceIp?: string;
  sourcePort?: number;
  recording?: string;
}

export interface GatewayEventInput {
  action: Action;
  outcome?: 'success' | 'failure' | 'unknown';
  message: string;
  session?: SessionRef;
  offset?: number;
  operator?: string;
  sourceIp?: string;
  commandLine?: string;
  file?: TwEvent['file'];
  transfer?: NonNullable<TwEvent['trailwatch']>['transfer'];
  reason?: string;
  /** Also raise an alert with this rule id and severity (trailwatch.gateway_alert; the rules stage raises it). */
  alert?: { rule: string; name: string; severity: SeverityName };
  extra?: Record<string, unknown>;
}

const CATEGORY: Partial<Record<Action, string[]>> = {
  [ACTIONS.gatewayLogin]: ['authentication'],
  [ACTIONS.gatewaySessionStart]: ['session'],
  [ACTIONS.gatewayForwarding]: ['network'],
  [ACTIONS.gatewaySessionEnd]: ['session'],
  [ACTIONS.gatewaySessionTerminated]: ['session'],
  [ACTIONS.gatewayCommand]: ['process'],
  [ACTIONS.gatewayCommandBlocked]: ['process', 'intrusion_detection'],
  [ACTIONS.gatewayTransfer]: ['file'],
  [ACTIONS.gatewayRotation]: ['iam'],
  [ACTIONS.gatewayHostKeyMismatch]: ['network', 'intrusion_detection'],
};

// A command is an ECS process start, a blocked one a start refused (the rules
// stage's gateway decoder sets the same, and event.type for every action), so
// rules on process starts (Sigma's process_creation) see the gateway's own
// events.ndjson and alert copies too.
const TYPE: Partial<Record<Action, string[]>> = {
  [ACTIONS.gatewayCommand]: ['start'],
  [ACTIONS.gatewayCommandBlocked]: ['start', 'denied'],
};

export function buildEvent(i: GatewayEventInput, observer: string, now = new Date()): TwEvent {
  const ev = baseEvent(now.toISOString());
  ev.event.action = i.action;
  ev.event.dataset = DATASETS.gateway;
  ev.event.module = 'gateway';
  ev.event.created = ev['@timestamp'];
  ev.event.category = CATEGORY[i.action];
  ev.event.type = TYPE[i.action];
  if (i.outcome) ev.event.outcome = i.outcome;
  if (i.reason) ev.event.reason = i.reason;
  if (i.alert) ev.event.severity = SEVERITY_SCORE[i.alert.severity];
  ev.message = i.message;
  ev.observer = { name: observer, type: 'gateway', hostname: observer };
  const s = i.session;
  const operator = s?.operator ?? i.operator;
  const ip = s?.sourceIp ?? i.sourceIp;
  if (ip) ev.source = { ip, ...(s?.sourcePort ? { port: s.sourcePort } : {}) };
  if (s?.target) ev.host = { name: s.target, ...(s.targetAddress ? { ip: [s.targetAddress] } : {}) };
  if (s?.account) ev.user = { name: s.account };
  if (i.commandLine !== undefined) ev.process = { command_line: i.commandLine };
  if (i.file) ev.file = i.file;
  ev.trailwatch = {};
  if (s || operator) {
    ev.trailwatch.session = { operator };
    if (s?.id) ev.trailwatch.session.id = s.id;
    if (s?.account) ev.trailwatch.session.account = s.account;
    if (s?.target) ev.trailwatch.session.target = s.target;
    if (s?.recording) ev.trailwatch.session.recording = s.recording;
    if (i.offset !== undefined) ev.trailwatch.session.offset = Math.round(i.offset * 1e6) / 1e6;
  }
  if (i.transfer) ev.trailwatch.transfer = i.transfer;
  if (i.alert) ev.trailwatch.gateway_alert = { ...i.alert };
  if (i.extra) Object.assign(ev.trailwatch, i.extra);
  const related: NonNullable<TwEvent['related']> = {};
  if (ip) related.ip = [ip];
  const users = [operator, s?.account].filter((u): u is string => !!u);
  if (users.length) related.user = users;
  if (s?.target) related.hosts = [s.target];
  ev.related = related;
  return ev;
}

export class GatewayEvents {
  private queue: TwEvent[] = [];
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> = Promise.resolve();
  private readonly dir: string;
  private readonly localFile: string;
  private readonly spoolFile: string;
  private readonly observer = hostname();
  /** Listeners (tests, the embedded pipeline) see every event as it is made. */
  readonly listeners = new Set<(ev: TwEvent) => void>();

  constructor(
    dataDir: string,
    private readonly cfg: GatewayConfig['session_log'],
    private readonly log: Logger,
  ) {
    this.dir = join(dataDir, 'gateway');
    mkdirSync(this.dir, { recursive: true });
    this.localFile = join(this.dir, 'events.ndjson');
    this.spoolFile = join(this.dir, 'spool.ndjson');
    if (cfg.url) {
      this.timer = setInterval(() => void this.flush(), cfg.flush_ms);
      this.timer.unref();
    }
  }

  emit(i: GatewayEventInput): TwEvent {
    const ev = buildEvent(i, this.observer);
    this.push(ev, true);
    // The alert the event asks for, as the rules stage will raise it (same
    // id), kept locally; the session log carries only the event.
    const alert = i.alert ? gatewayAlert(ev) : null;
    if (alert) this.push(alert, false);
    return ev;
  }

  private push(ev: TwEvent, send: boolean): void {
    // Synchronous append: an event is on disk before the action it describes goes on.
    appendFileSync(this.localFile, JSON.stringify(ev) + '\n');
    for (const l of this.listeners) l(ev);
    if (!this.cfg.url || !send) return;
    this.queue.push(ev);
    if (this.queue.length >= this.cfg.batch_max) void this.flush();
  }

  /** Send what is queued (and spooled) now; resolves when done or spooled. */
  flush(): Promise<void> {
    this.sending = this.sending.then(() => this.sendAll()).catch((err) => this.log.error({ err }, 'gateway session-log send failed'));
    return this.sending;
  }

  private async sendAll(): Promise<void> {
    if (!this.cfg.url) return;
    if (existsSync(this.spoolFile)) {
      const sending = this.spoolFile + '.sending';
      renameSync(this.spoolFile, sending);
      const lines = readFileSync(sending, 'utf8').split('\n').filter(Boolean);
      for (let i = 0; i < lines.length; i += this.cfg.batch_max) {
        const chunk = lines.slice(i, i + this.cfg.batch_max);
        if (!(await this.post(chunk.join('\n') + '\n'))) {
          appendFileSync(this.spoolFile, lines.slice(i).join('\n') + '\n');
          rmSync(sending, { force: true });
          this.spoolQueue();
          return;
        }
      }
      rmSync(sending, { force: true });
    }
    while (this.queue.length) {
      const batch = this.queue.splice(0, this.cfg.batch_max);
      const body = batch.map((e) => JSON.stringify(e)).join('\n') + '\n';
      if (!(await this.post(body))) {
        appendFileSync(this.spoolFile, body);
        this.spoolQueue();
        return;
      }
    }
  }

  private spoolQueue(): void {
    if (!this.queue.length) return;
    appendFileSync(this.spoolFile, this.queue.map((e) => JSON.stringify(e)).join('\n') + '\n');
    this.queue = [];
  }

  /** POST one NDJSON body; false when the ingester did not take it after retries. */
  private async post(body: string): Promise<boolean> {
    const url = this.cfg.url!.replace(/\/+$/, '') + '/v1/session-log';
    try {
      await retry(
        async () => {
          const headers: Record<string, string> = { 'content-type': 'application/x-ndjson' };
          if (this.cfg.token) headers.authorization = `Bearer ${this.cfg.token}`;
          let res: Response;
          try {
            res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
          } catch (err) {
            throw new TrailwatchError('TW_SESSION_LOG_UNREACHABLE', `session-log ingester unreachable: ${(err as Error).message}`, { retriable: true });
          }
          await res.arrayBuffer().catch(() => undefined);
          if (!res.ok) throw new TrailwatchError('TW_SESSION_LOG_HTTP', `session-log ingester answered ${res.status}`, { retriable: res.status >= 500 || res.status === 429 });
        },
        { retries: 2, initialMs: 100, maxMs: 1000 },
      );
      return true;
    } catch (err) {
      this.log.warn({ err: { message: (err as Error).message } }, 'session-log batch spooled');
      return false;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}
