// The one event shape every stage shares: ECS (Elastic Common Schema) field
// names, nested as ECS JSON documents are. Alerts are events with
// event.kind "alert" plus rule.* and trailwatch.alert.*.
import { fastUuid } from './ids.js';

export type Outcome = 'success' | 'failure' | 'unknown';
export type SeverityName = 'low' | 'medium' | 'high' | 'critical';

/** ECS event.severity numbers used for rule severities (as Elastic detection rules do). */
export const SEVERITY_SCORE: Readonly<Record<SeverityName, number>> = {
  low: 21,
  medium: 47,
  high: 73,
  critical: 99,
};

export interface SyslogFields {
  facility?: { code: number; name: string };
  severity?: { code: number; name: string };
  priority?: number;
  version?: number;
  hostname?: string;
  appname?: string;
  procid?: string;
  msgid?: string;
  /** RFC 5424 structured data: SD-ID -> param -> value. */
  structured_data?: Record<string, Record<string, string>>;
}

export interface ProcessFields {
  name?: string;
  pid?: number;
  executable?: string;
  command_line?: string;
  args?: string[];
  args_count?: number;
  working_directory?: string;
  title?: string;
  user?: { name?: string; id?: string };
  parent?: { name?: string; pid?: number; executable?: string; command_line?: string };
  tty?: { name?: string };
}

/** Gateway session fields (trailwatch.session.*), shared by the gateway and the rules stage. */
export interface SessionFields {
  id?: string;
  operator?: string;
  account?: string;
  target?: string;
  /** Seconds from the start of the recording (asciicast time) of this event. */
  offset?: number;
  recording?: string;
}

export interface AlertFields {
  severity: SeverityName;
  /** Group key fields and their values, e.g. { "source.ip": "203.0.113.9" }. */
  group: Record<string, string>;
  /** event.id of the events that caused the alert (capped). */
  events: string[];
  count: number;
  first_seen: string;
  last_seen: string;
  window?: { start: string; end: string };
}

export interface GatewayAlertRequest {
  rule: string;
  name: string;
  severity: SeverityName;
}

export interface TrailwatchFields {
  session?: SessionFields;
  transfer?: { id?: string; direction?: 'upload' | 'download'; status?: string; mode?: string };
  collation?: { verdict?: 'gateway' | 'direct' | 'unknown'; gateway_session?: string };
  /** A gateway rotation: the accounts it logged in to on the target (management user, then the account), for collation. */
  rotation?: { users?: string[] };
  /** auditd's login identity of a process: the login user (auid) and audit session, as the auditd decoder sets them. */
  audit?: { auid?: string; auid_name?: string; session?: string; key?: string };
  /** An exec the gateway's command policy blocks, seen by auditd on the target (rules/policy-audit.ts). */
  policy?: { rule?: string; target?: string };
  alert?: AlertFields;
  /**
   * Set by the gateway on an event that should raise an alert (a blocked
   * command, a transfer waiting for approval): the rules stage builds the
   * alert from it, with an id it computes. Nothing sends alerts as such.
   */
  gateway_alert?: GatewayAlertRequest;
  /** Login details: how (password, publickey, keyboard-interactive, none) and whether the user exists. */
  auth?: { method?: string; invalid_user?: boolean; /** A refused second factor at the gateway: bad-code, replayed-code, no-code, throttled. */ mfa?: string };
  /** Where the line came in: "udp", "tcp", "tls", "session-log", "journal-upload", "replay", "file". */
  input?: { type?: string; peer?: string };
  decoder?: string;
  [k: string]: unknown;
}

export interface TwEvent {
  '@timestamp': string;
  event: {
    id: string;
    kind: 'event' | 'alert' | 'state' | 'pipeline_error';
    category?: string[];
    type?: string[];
    action?: string;
    outcome?: Outcome;
    dataset?: string;
    module?: string;
    severity?: number;
    original?: string;
    sequence?: number;
    /** When trailwatch received it (ISO 8601). */
    created?: string;
    ingested?: string;
    reason?: string;
    count?: number;
  };
  message?: string;
  tags?: string[];
  host?: { name?: string; hostname?: string; ip?: string[] };
  source?: { ip?: string; port?: number; domain?: string; user?: { name?: string } };
  destination?: { ip?: string; port?: number; domain?: string };
  user?: { name?: string; id?: string; target?: { name?: string; id?: string }; effective?: { name?: string } };
  process?: ProcessFields;
  log?: { syslog?: SyslogFields; source?: { address?: string }; level?: string; file?: { path?: string } };
  file?: { path?: string; name?: string; size?: number; hash?: { sha256?: string }; target_path?: string };
  rule?: {
    id: string;
    name: string;
    description?: string;
    category?: string;
    ruleset?: string;
    version?: string;
    reference?: string;
    author?: string[];
  };
  threat?: { framework?: string; technique?: { id: string[]; name?: string[] }; tactic?: { id?: string[]; name?: string[] } };
  related?: { ip?: string[]; user?: string[]; hosts?: string[]; hash?: string[] };
  observer?: { name?: string; type?: string; hostname?: string };
  service?: { name?: string; type?: string };
  url?: { full?: string };
  /** Raw auditd records (Auditbeat/Filebeat's shape): record type, serial, and each key=value of the record, decoded. */
  auditd?: { record_type?: string; sequence?: string; data?: Record<string, string> };
  /** journald's trusted fields of the writer (Filebeat's journald input shape); program-chosen fields under `custom`. */
  journald?: {
    pid?: number;
    uid?: number;
    gid?: number;
    process?: { name?: string; executable?: string; command_line?: string };
    host?: { boot_id?: string };
    cursor?: string;
    custom?: Record<string, string>;
  };
  systemd?: { unit?: string; user_unit?: string; slice?: string; transport?: string; invocation_id?: string };
  trailwatch?: TrailwatchFields;
}

export type Alert = TwEvent & {
  event: TwEvent['event'] & { kind: 'alert'; severity: number };
  rule: NonNullable<TwEvent['rule']>;
  trailwatch: TrailwatchFields & { alert: AlertFields };
};

export function newEventId(): string {
  return fastUuid();
}

/** A fresh event with the two fields every event has. */
export function baseEvent(timestamp: string, original?: string, id: string = newEventId()): TwEvent {
  const ev: TwEvent = { '@timestamp': timestamp, event: { id, kind: 'event' } };
  if (original !== undefined) ev.event.original = original;
  return ev;
}

export function addTag(ev: TwEvent, tag: string): void {
  if (!ev.tags) ev.tags = [tag];
  else if (!ev.tags.includes(tag)) ev.tags.push(tag);
}

export function isAlert(ev: TwEvent): ev is Alert {
  return ev.event.kind === 'alert';
}

/**
 * Read a dotted ECS path ("source.ip", "event.outcome", "@timestamp") from an event.
 * Used by rules and sinks; paths are split once by the caller where it matters.
 */
export function getField(ev: unknown, path: string | readonly string[]): unknown {
  const parts = typeof path === 'string' ? splitPath(path) : path;
  let cur: unknown = ev;
  for (let i = 0; i < parts.length; i++) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[parts[i]];
  }
  return cur;
}

export function setField(ev: object, path: string, value: unknown): void {
  const parts = splitPath(path);
  let cur = ev as Record<string, unknown>;
  for (let i = 0; i < parts.length - 1; i++) {
    const next = cur[parts[i]];
    if (next === null || typeof next !== 'object') cur = cur[parts[i]] = {} as Record<string, unknown>;
    else cur = next as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]] = value;
}

export function splitPath(path: string): string[] {
  return path === '@timestamp' ? ['@timestamp'] : path.split('.');
}
