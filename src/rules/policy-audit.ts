// Ground truth for the gateway's command rules. The gateway judges what an
// operator types; auditd on the target records what really ran (EXECVE). A
// command the gateway's policy blocks that ran anyway (through a script, an
// editor's shell escape, a cron job the session planted, a login that did not
// come through the gateway) is marked on its event: trailwatch.policy.rule
// (the command rule) and trailwatch.policy.target, and, when a gateway session
// to that account on that target was open at the time, trailwatch.session.*
// naming it. The default rule gateway-policy-command-ran alerts on the mark.
//
// The gateway's session log comes in batches (gateway.session_log.flush_ms),
// so an exec run right as a session starts (ssh gw 'cmd') can arrive before
// the session's start. A marked exec with no session yet is held (check()
// returns true; the processor runs the rules on it when release() gives it
// back): until that session's start arrives, or for HOLD_MS at most, then it
// goes on without one.
//
// A target is the policy target whose name or address is the event's
// host.name (or one of its host.ip). The argv is shell-quoted into a line and
// checked as the gateway checks a line, definite matches only: an exec's
// arguments are what ran, so nothing is unresolved.
import { stat, statSync, type Stats } from 'node:fs';
import type { TwEvent } from '../event.js';
import type { Logger } from '../log.js';
import { ACTIONS } from './decoders/vocabulary.js';

type PolicyModule = typeof import('../gateway/policy.js');
type Policy = InstanceType<PolicyModule['Policy']>;
type TargetSpec = Policy extends { targets: Map<string, infer T> } ? T : never;

interface Held {
  /** A copy for the rules, the session named on it when one turns up (the event itself has gone on). */
  ev: TwEvent;
  account: string;
  target: string;
  ts: number;
  until: number;
  ready: boolean;
}

/** How long (wall clock) a marked exec waits for its session's start to arrive. */
export const HOLD_MS = 10_000;
/** At most this many held at once; past it the oldest goes on at once. */
const MAX_HELD = 10_000;

interface OpenSession {
  id: string;
  operator?: string;
  start: number;
  end: number;
}

/** Sessions remembered per account@target (the newest kept), and in all. */
const MAX_PER_KEY = 16;
const MAX_KEYS = 10_000;

export class PolicyAudit {
  private policy: Policy;
  private byHost = new Map<string, TargetSpec>();
  private readonly sessions = new Map<string, OpenSession[]>();
  private held: Held[] = [];
  /** The file as it was when last read (whether or not it was valid). */
  private loaded: Stats | null = null;

  constructor(
    private readonly mod: PolicyModule,
    readonly file: string,
    private readonly log?: Logger,
  ) {
    this.loaded = statOrNull(file);
    this.policy = mod.loadPolicy(file);
    this.index();
  }

  /** Read the policy file again; a bad edit keeps the previous policy (logged). */
  reload(): void {
    this.loaded = statOrNull(this.file);
    try {
      this.policy = this.mod.loadPolicy(this.file);
      this.index();
      this.log?.info({ file: this.file }, 'rules: gateway policy reloaded for command checks');
    } catch (err) {
      this.log?.error({ file: this.file, err: (err as Error).message }, 'rules: gateway policy not reloaded; the previous one stays');
    }
  }

  /**
   * Follow the file: polled, and compared with what was read last (so an
   * editor's rename, and a change made between the load and the first poll,
   * are seen). Timestamps are coarse, so size and inode count too. Returns
   * the stop function.
   */
  watch(intervalMs = 2000): () => void {
    const timer = setInterval(() => {
      stat(this.file, (err, st) => {
        if (err) return;
        const was = this.loaded;
        if (!was || st.mtimeMs !== was.mtimeMs || st.size !== was.size || st.ino !== was.ino) this.reload();
      });
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  private index(): void {
    const m = new Map<string, TargetSpec>();
    for (const t of this.policy.targets.values()) {
      m.set(t.name.toLowerCase(), t);
      m.set(t.address.toLowerCase(), t);
    }
    this.byHost = m;
  }

  /** Note gateway sessions; mark an exec the policy blocks. True: the event is held (see release()). */
  check(ev: TwEvent, nowMs = Date.now()): boolean {
    const action = ev.event.action;
    if (action === ACTIONS.gatewaySessionStart || action === ACTIONS.gatewaySessionEnd) {
      this.noteSession(ev, action === ACTIONS.gatewaySessionStart);
      return false;
    }
    if (action !== ACTIONS.execve || ev.event.outcome === 'failure') return false;
    const args = ev.process?.args;
    if (!args?.length) return false;
    const target = this.targetOf(ev);
    if (!target) return false;
    const check = this.policy.commandCheckFor(target);
    if (!check.rules.length) return false;
    const hit = this.mod.checkCommand(check, args.map(shellQuote).join(' '), { definiteOnly: true });
    if (!hit || hit.spec.action !== 'block') return false;
    const tw = (ev.trailwatch ??= {});
    tw.policy = { rule: hit.spec.id, target: target.name };
    const account = tw.audit?.auid_name ?? ev.user?.name;
    if (!account) return false;
    const ts = Date.parse(ev['@timestamp']);
    const s = this.openAt(target.name, account, ts);
    if (s) {
      tw.session = { ...tw.session, id: s.id, operator: s.operator, account, target: target.name };
      return false;
    }
    if (this.held.length >= MAX_HELD) this.held[0].until = -Infinity;
    this.held.push({ ev: { ...ev, trailwatch: { ...tw } }, account, target: target.name, ts, until: nowMs + HOLD_MS, ready: false });
    return true;
  }

  /** Held execs whose session turned up, or whose time is up (all of them with drain). */
  release(nowMs: number, drain = false): TwEvent[] {
    if (!this.held.length) return [];
    const out: TwEvent[] = [];
    const keep: Held[] = [];
    for (const h of this.held) {
      if (drain || h.ready || nowMs >= h.until) out.push(h.ev);
      else keep.push(h);
    }
    this.held = keep;
    return out;
  }

  private targetOf(ev: TwEvent): TargetSpec | undefined {
    const name = ev.host?.name?.toLowerCase();
    const t = name ? this.byHost.get(name) : undefined;
    if (t) return t;
    for (const ip of ev.host?.ip ?? []) {
      const byIp = this.byHost.get(ip.toLowerCase());
      if (byIp) return byIp;
    }
    return undefined;
  }

  private noteSession(ev: TwEvent, start: boolean): void {
    const s = ev.trailwatch?.session;
    if (!s?.id || !s.account || !s.target) return;
    const key = `${s.target}\0${s.account}`;
    const ts = Date.parse(ev['@timestamp']);
    let list = this.sessions.get(key);
    if (start) {
      if (!list) {
        if (this.sessions.size >= MAX_KEYS) this.sessions.delete(this.sessions.keys().next().value!);
        this.sessions.set(key, (list = []));
      }
      const open: OpenSession = { id: s.id, operator: s.operator, start: ts, end: Infinity };
      list.push(open);
      if (list.length > MAX_PER_KEY) list.shift();
      for (const h of this.held)
        if (!h.ready && h.target === s.target && h.account === s.account && open.start - SLACK_MS <= h.ts) {
          h.ev.trailwatch!.session = { ...h.ev.trailwatch!.session, id: open.id, operator: open.operator, account: h.account, target: h.target };
          h.ready = true;
        }
      return;
    }
    const open = list?.find((x) => x.id === s.id);
    if (open) open.end = ts;
  }

  /** The newest session to account@target open at ts (a little slack for clocks and the end event's lag). */
  private openAt(target: string, account: string, ts: number): OpenSession | undefined {
    const list = this.sessions.get(`${target}\0${account}`);
    if (!list || Number.isNaN(ts)) return undefined;
    for (let i = list.length - 1; i >= 0; i--) if (list[i].start - SLACK_MS <= ts && ts <= list[i].end + SLACK_MS) return list[i];
    return undefined;
  }
}

const SLACK_MS = 5000;

function statOrNull(file: string): Stats | null {
  try {
    return statSync(file);
  } catch {
    return null;
  }
}

/** An argument as bash would take it back as one word. */
export function shellQuote(a: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** The gateway policy whose command rules judge auditd's execs: rules.command_policy_file, else the gateway's own when it runs in this process. */
export function commandPolicyFile(config: { rules: { command_policy_file?: string }; gateway: { enabled: boolean; policy_file: string } }): string | undefined {
  return config.rules.command_policy_file ?? (config.gateway.enabled ? config.gateway.policy_file : undefined);
}

/**
 * The command checker for the gateway policy at `file`, or null without one.
 * Loads the gateway's command parser (tree-sitter, WASM) only when there is a
 * policy. Throws ConfigError when the file cannot be read or is invalid.
 */
export async function loadPolicyAudit(file: string | undefined, log?: Logger): Promise<PolicyAudit | null> {
  if (!file) return null;
  const mod = await import('../gateway/policy.js');
  return new PolicyAudit(mod, file, log);
}
