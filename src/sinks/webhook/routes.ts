// The route tree, as Alertmanager's: an alert enters at the root, descends into
// the first child whose matchers all hold (and into later siblings too when that
// child has `continue: true`); the deepest matching routes deliver it. Children
// inherit receiver, group_by and timing from their parent.
import type { Alert, SeverityName } from '../../event.js';
import { parseDuration } from './duration.js';
import { compileMatcher, matchAll, type HostGroups, type Matcher } from './matchers.js';

export interface RouteInput {
  name?: string;
  receiver?: string;
  matchers?: string[];
  continue?: boolean;
  group_by?: string[];
  group_wait?: string | Partial<Record<SeverityName, string>>;
  group_interval?: string;
  repeat_interval?: string;
  routes?: RouteInput[];
}

export interface Timing {
  /** Fields whose values make the group key; "..." alone groups each alert on its own. */
  groupBy: string[];
  groupWait: Record<SeverityName, number>;
  groupInterval: number;
  repeatInterval: number;
}

export interface CompiledRoute {
  id: string;
  name: string;
  receiver: string;
  matchers: Matcher[];
  continue: boolean;
  timing: Timing;
  children: CompiledRoute[];
}

export interface Issue {
  path: (string | number)[];
  message: string;
}

/** Security defaults: a first page within seconds for high and critical, a short batch for the rest. */
export const DEFAULT_TIMING: Timing = {
  groupBy: ['rule.id', 'alert.group'],
  groupWait: { low: 30_000, medium: 30_000, high: 2000, critical: 1000 },
  groupInterval: 60_000,
  repeatInterval: 4 * 3_600_000,
};

function duration(v: string | undefined, fallback: number, path: Issue['path'], issues: Issue[]): number {
  if (v === undefined) return fallback;
  const ms = parseDuration(v);
  if (ms === undefined) issues.push({ path, message: `"${v}" is not a duration (e.g. 500ms, 30s, 5m, 4h)` });
  return ms ?? fallback;
}

function timing(r: RouteInput, parent: Timing, path: Issue['path'], issues: Issue[]): Timing {
  let groupWait = parent.groupWait;
  if (typeof r.group_wait === 'string') {
    const ms = duration(r.group_wait, 0, [...path, 'group_wait'], issues);
    groupWait = { low: ms, medium: ms, high: ms, critical: ms };
  } else if (r.group_wait) {
    groupWait = { ...parent.groupWait };
    for (const [sev, v] of Object.entries(r.group_wait)) {
      if (!(sev in groupWait)) issues.push({ path: [...path, 'group_wait', sev], message: 'severity is one of low, medium, high, critical' });
      else groupWait[sev as SeverityName] = duration(v, 0, [...path, 'group_wait', sev], issues);
    }
  }
  const groupInterval = duration(r.group_interval, parent.groupInterval, [...path, 'group_interval'], issues);
  const repeatInterval = duration(r.repeat_interval, parent.repeatInterval, [...path, 'repeat_interval'], issues);
  if (groupInterval <= 0) issues.push({ path: [...path, 'group_interval'], message: 'must be greater than 0' });
  return { groupBy: r.group_by ?? parent.groupBy, groupWait, groupInterval, repeatInterval };
}

export function compileRoute(
  r: RouteInput,
  opts: { receivers: ReadonlySet<string>; hostGroups: HostGroups; parent?: CompiledRoute; path: Issue['path']; id?: string },
  issues: Issue[],
): CompiledRoute {
  const { path } = opts;
  const receiver = r.receiver ?? opts.parent?.receiver ?? '';
  if (!receiver) issues.push({ path: [...path, 'receiver'], message: 'the root route needs a receiver (the default)' });
  else if (!opts.receivers.has(receiver)) issues.push({ path: [...path, 'receiver'], message: `no receiver named "${receiver}"` });
  if (!opts.parent && r.matchers?.length) issues.push({ path: [...path, 'matchers'], message: 'the root route matches every alert; put matchers on child routes' });
  const matchers: Matcher[] = [];
  (r.matchers ?? []).forEach((text, i) => {
    try {
      matchers.push(compileMatcher(text, opts.hostGroups));
    } catch (err) {
      issues.push({ path: [...path, 'matchers', i], message: (err as Error).message });
    }
  });
  const id = opts.id ?? 'root';
  const route: CompiledRoute = {
    id,
    name: r.name ?? (opts.parent ? `${receiver}/${id}` : receiver),
    receiver,
    matchers,
    continue: r.continue ?? false,
    timing: timing(r, opts.parent?.timing ?? DEFAULT_TIMING, path, issues),
    children: [],
  };
  (r.routes ?? []).forEach((child, i) => {
    route.children.push(compileRoute(child, { ...opts, parent: route, path: [...path, 'routes', i], id: `${id}.${i}` }, issues));
  });
  return route;
}

/** The routes that deliver this alert (Alertmanager's tree walk). */
export function matchRoutes(route: CompiledRoute, alert: Alert, out: CompiledRoute[] = []): CompiledRoute[] {
  const before = out.length;
  for (const child of route.children) {
    if (!matchAll(child.matchers, alert)) continue;
    matchRoutes(child, alert, out);
    if (!child.continue) break;
  }
  if (out.length === before) out.push(route);
  return out;
}
