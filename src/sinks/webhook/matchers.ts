// Alertmanager-style matchers over alerts: `name op value`, compiled once.
//   severity>=high          ordered: low < medium < high < critical (also >, <=, <, =, !=)
//   rule.id=ssh-brute-force exact;  rule.id=~ssh-.*  anchored regex;  != and !~ negate
//   tags=brute-force        the alert's tags (rule tags) contain the value
//   host_group=prod         host.name (or any related.hosts) matches a glob of the named group
//   source.ip=203.0.113.9   any other dotted ECS path; arrays match when any element does
import { getField, splitPath, SEVERITY_SCORE, type Alert, type SeverityName } from '../../event.js';

export type Op = '=' | '!=' | '=~' | '!~' | '>=' | '>' | '<=' | '<';
export interface Matcher {
  readonly text: string;
  test(alert: Alert): boolean;
}

const MATCHER = /^\s*([A-Za-z0-9_.@-]+)\s*(=~|!~|!=|>=|<=|=|>|<)\s*(.*?)\s*$/;
const SEVERITIES = Object.keys(SEVERITY_SCORE) as SeverityName[];

/** Numeric severity of an alert (ECS event.severity, else from the name). */
export function alertScore(alert: Alert): number {
  const n = alert.event?.severity;
  if (typeof n === 'number') return n;
  const name = alert.trailwatch?.alert?.severity;
  return name && name in SEVERITY_SCORE ? SEVERITY_SCORE[name] : 0;
}

/** Severity name of an alert (the name it carries, else the band of its score). */
export function alertSeverity(alert: Alert): SeverityName {
  const name = alert.trailwatch?.alert?.severity;
  if (name && name in SEVERITY_SCORE) return name;
  const n = alertScore(alert);
  return n >= SEVERITY_SCORE.critical ? 'critical' : n >= SEVERITY_SCORE.high ? 'high' : n >= SEVERITY_SCORE.medium ? 'medium' : 'low';
}

/** Glob (* and ?) to an anchored regex, compiled once per pattern. */
export function globRegex(glob: string): RegExp {
  const src = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${src}$`, 'i');
}

export type HostGroups = ReadonlyMap<string, readonly RegExp[]>;

export function compileHostGroups(groups: Record<string, string[]>): HostGroups {
  return new Map(Object.entries(groups).map(([name, globs]) => [name, globs.map(globRegex)]));
}

export function alertHosts(alert: Alert): string[] {
  const out: string[] = [];
  if (alert.host?.name) out.push(alert.host.name);
  for (const h of alert.related?.hosts ?? []) if (!out.includes(h)) out.push(h);
  return out;
}

function values(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (Array.isArray(v)) return v.flatMap(values);
  if (typeof v === 'object') return [JSON.stringify(v)];
  return [String(v)];
}

/** Parse and compile one matcher; throws Error with a reason (no secrets involved). */
export function compileMatcher(text: string, hostGroups: HostGroups = new Map()): Matcher {
  const m = MATCHER.exec(text);
  if (!m) throw new Error(`"${text}" is not a matcher (name=value, name!=value, name=~regex, name!~regex, severity>=high)`);
  const [, name, op, raw] = m;
  const value = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
  const negate = op === '!=' || op === '!~';
  if (name === 'severity') return severityMatcher(text, op as Op, value);
  if (op !== '=' && op !== '!=' && op !== '=~' && op !== '!~') throw new Error(`"${text}": ${op} only applies to severity`);
  let re: RegExp | undefined;
  if (op === '=~' || op === '!~') {
    try {
      re = new RegExp(`^(?:${value})$`);
    } catch (err) {
      throw new Error(`"${text}": bad regex: ${(err as Error).message}`);
    }
  }
  const eq = re ? (s: string) => re.test(s) : (s: string) => s === value;
  let pick: (a: Alert) => string[];
  if (name === 'host_group') {
    const globs = hostGroups.get(value);
    if (re) throw new Error(`"${text}": host_group takes = or != with a group name`);
    if (!globs) throw new Error(`"${text}": no host group "${value}" in sinks.webhook.host_groups`);
    const inGroup = (a: Alert) => alertHosts(a).some((h) => globs.some((g) => g.test(h)));
    return { text, test: (a) => inGroup(a) !== negate };
  }
  if (name === 'tags' || name === 'tag') pick = (a) => values(a.tags);
  else {
    const path = splitPath(name);
    pick = (a) => values(getField(a, path));
  }
  return { text, test: (a) => pick(a).some(eq) !== negate };
}

function severityMatcher(text: string, op: Op, value: string): Matcher {
  if (op === '=~' || op === '!~') throw new Error(`"${text}": severity takes =, !=, >=, >, <=, <`);
  const v = value.toLowerCase() as SeverityName;
  if (!SEVERITIES.includes(v)) throw new Error(`"${text}": severity is one of ${SEVERITIES.join(', ')}`);
  const target = SEVERITY_SCORE[v];
  // Compare bands, not raw scores, so "severity=high" holds for any score in the high band.
  const band = (a: Alert) => SEVERITY_SCORE[alertSeverity(a)];
  const cmp: Record<string, (s: number) => boolean> = {
    '=': (s) => s === target,
    '!=': (s) => s !== target,
    '>=': (s) => s >= target,
    '>': (s) => s > target,
    '<=': (s) => s <= target,
    '<': (s) => s < target,
  };
  const f = cmp[op];
  return { text, test: (a) => f(band(a)) };
}

export function matchAll(matchers: readonly Matcher[], alert: Alert): boolean {
  for (let i = 0; i < matchers.length; i++) if (!matchers[i].test(alert)) return false;
  return true;
}
