// Gateway policy: operators, targets, grants, command rules. YAML validated by
// zod; compiled once per load so the hot paths (key lookup, command checks)
// do no parsing or regex compilation.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { formatIssues } from '../config.js';
import { ConfigError } from '../errors.js';
import ssh2 from 'ssh2';
import { normalFlag } from './command-wrappers.js';

export { checkCommand, type CheckOptions, type RuleHit } from './command-check.js';

const name = z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ - only');
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM (24 h, UTC)');

const operator = z.strictObject({
  keys: z.array(z.string()).min(1).describe('OpenSSH public keys ("ssh-ed25519 AAAA… comment").'),
  groups: z.array(name).default([]).describe('Groups the operator belongs to (used by grants).'),
});

const target = z.strictObject({
  address: z.string().min(1).describe('Host name or IP of the managed server.'),
  port: z.number().int().min(1).max(65535).default(22),
  host_key: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'SHA256:<base64> as printed by ssh-keygen -lf').describe('Pinned host key fingerprint.'),
  groups: z.array(name).default([]).describe('Target groups (used by grants and command rules).'),
  management: z.strictObject({
    user: z.string().min(1).describe('Management account (root, or one allowed `sudo -n chpasswd`).'),
    private_key_file: z.string().min(1).describe('Its private key file (readable by the gateway only).'),
    sudo: z.boolean().default(false).describe('Run `sudo -n chpasswd` instead of `chpasswd`.'),
  }),
  accounts: z.array(z.string().regex(/^[a-z_][a-z0-9_.-]*$/i, 'a Unix user name')).min(1).describe('Accounts whose passwords the gateway manages.'),
  os: z.enum(['linux']).default('linux').describe('Rotation driver.'),
});

const window = z.strictObject({
  days: z.array(z.enum(DAYS)).default([...DAYS]),
  from: hhmm,
  to: hhmm,
});

const grant = z
  .strictObject({
    operators: z.array(name).default([]),
    groups: z.array(name).default([]).describe('Operator groups.'),
    targets: z.array(z.string()).min(1).describe('Target names, "group:<target group>" or "*".'),
    accounts: z.array(z.string()).min(1).describe('Account names or "*".'),
    windows: z.array(window).default([]).describe('UTC time windows; empty = any time.'),
    file_transfer: z.enum(['deny', 'approve', 'allow']).default('deny'),
    port_forwarding: z.boolean().default(false).describe('Local forwarding (ssh -L, direct-tcpip): the operator reaches addresses from the target. Default false.'),
    remote_forwarding: z
      .boolean()
      .default(false)
      .describe('Remote forwarding (ssh -R, tcpip-forward): a port on the target leads back into the operator\'s network. Separate from port_forwarding because it opens the other way. Default false.'),
    agent_forwarding: z
      .boolean()
      .default(false)
      .describe('Agent forwarding (ssh -A): the target may use the operator\'s ssh-agent while the session lasts; anyone with root there can too. Default false.'),
    x11: z.boolean().default(false).describe('X11 forwarding (ssh -X/-Y): programs on the target open windows on (and can read) the operator\'s display. Default false.'),
    shell: z.boolean().default(true).describe('Interactive shells. false: the grant is for exec, SFTP or forwarding only. Default true.'),
    exec: z
      .union([z.boolean(), z.strictObject({ allow: z.array(z.string().min(1)).min(1).describe('Shell-style patterns (* any text, ? one character) a whole command line must match.') })])
      .default(true)
      .describe('Remote commands (ssh gw CMD): true, false, or { allow: [patterns] }. scp and sftp follow file_transfer instead. Default true.'),
    idle_timeout_seconds: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe('End the session after this long without input from the operator (keystrokes, exec input, SFTP requests), with a warning before. Default: no limit.'),
    max_session_seconds: z.number().int().min(1).optional().describe('End the session this long after it reached the target, with a warning before. Default: no limit.'),
  })
  .refine((g) => g.operators.length + g.groups.length > 0, 'a grant needs operators or groups');

const severity = z.enum(['low', 'medium', 'high', 'critical']).default('high');

const commandRule = z
  .strictObject({
    id: name,
    description: z.string().optional(),
    targets: z.array(z.string()).default(['*']).describe('Target groups ("*" = all) the rule applies to.'),
    regex: z
      .string()
      .optional()
      .describe('Regular expression matched against the line as typed, and against each command in it as the shell would run it (name, then unquoted arguments: `\\rm -r -f "/"` is checked as "rm -r -f /").'),
    glob: z.string().optional().describe('Shell-style: * any text, ? one character; matched against the whole line, and against each command in it as for regex.'),
    command: z
      .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
      .optional()
      .describe(
        'Command name(s) as the shell resolves them, e.g. rm: basename (/bin/rm, \\rm, "rm" are rm), found anywhere in the line (after ;, &&, ||, |, in ( ) and { }, $( )) and inside sudo, env, nice, nohup, timeout, command, exec, busybox, xargs, find -exec, watch, su -c, sh/bash -c and eval. Give exactly one of regex, glob or command.',
      ),
    flags: z
      .array(z.string().regex(/^-{0,2}[A-Za-z0-9][A-Za-z0-9-]*$/, 'a flag: r, -r, recursive or --recursive'))
      .default([])
      .describe('With command: flags that must all be given, in any spelling (-rf, -fr, -r -f, --recursive --force are r and f; -R is r for rm and cp). Example [r, f]. Default none.'),
    args: z
      .array(z.string().min(1))
      .default([])
      .describe("With command: at least one operand must match one of these patterns (* any text, ? one character, backslash for a literal * or ?); absolute paths also match in normal form (//tmp/./x is /tmp/x). Example ['/', '/\\*'] (the root, and the unexpanded glob /*). Default: any operands."),
    action: z.enum(['block', 'alert']),
    severity,
  })
  .refine((r) => [r.regex, r.glob, r.command].filter((x) => x !== undefined).length === 1, 'give exactly one of regex, glob or command')
  .refine((r) => r.command !== undefined || (!r.flags.length && !r.args.length), 'flags and args go with command')
  .refine((r) => {
    try {
      if (r.regex) new RegExp(r.regex);
      return true;
    } catch {
      return false;
    }
  }, 'regex does not compile');

const unresolvedCommands = z
  .strictObject({
    action: z
      .enum(['block', 'alert'])
      .default('block')
      .describe('block (default): the line is held and refused, as for a block rule; alert: it runs and raises an alert.'),
    severity,
  })
  .prefault({})
  .describe(
    'Lines whose commands cannot be known before they run, on targets that have command rules: a command name made by $( ), backticks or a variable, a pipe into a shell (… | sh, base64 -d | bash), eval or sh -c of a variable, a script from <( ), xargs/find -exec feeding operands to a command a rule names, or a line typed with echo off and edited with keys the gateway cannot follow. Rule id unresolved-command.',
  );

export const policySchema = z.strictObject({
  operators: z.record(name, operator).default({}),
  targets: z.record(name, target).default({}),
  grants: z.array(grant).default([]),
  command_rules: z.array(commandRule).default([]),
  unresolved_commands: unresolvedCommands,
});

export type TargetSpec = z.infer<typeof target> & { name: string };
export type GrantSpec = z.infer<typeof grant>;
export type CommandRuleSpec = z.infer<typeof commandRule>;

export interface CompiledRule {
  spec: CommandRuleSpec;
  /** Text rules (regex, glob). */
  re: RegExp | null;
  /** Command rules: each name with the rule's flags normalised for it. */
  names: Map<string, string[]> | null;
  argRes: RegExp[];
  groups: Set<string>;
}

/** What a command line is checked with on one target. */
export interface CommandCheck {
  rules: readonly CompiledRule[];
  unresolved: z.infer<typeof unresolvedCommands>;
}

export interface Access {
  operator: string;
  target: TargetSpec;
  account: string;
  grant: GrantSpec;
}

function globSource(glob: string): string {
  return glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
}

export function globToRegExp(glob: string): RegExp {
  return new RegExp(`^\\s*${globSource(glob)}\\s*$`);
}

/** An args pattern: * any text, ? one character, a backslash makes the next character literal (\\* is a star). */
function argPattern(p: string): RegExp {
  let src = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '\\' && i + 1 < p.length) src += escapeRe(p[++i]);
    else src += c === '*' ? '.*' : c === '?' ? '.' : escapeRe(c);
  }
  return new RegExp(`^${src}$`, 's');
}

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? '\\' + c : c;
}

function compileRule(r: CommandRuleSpec): CompiledRule {
  const names = r.command === undefined ? null : new Map((Array.isArray(r.command) ? r.command : [r.command]).map((n) => [n, r.flags.map((f) => normalFlag(n, f))]));
  return {
    spec: r,
    re: r.regex ? new RegExp(r.regex) : r.glob ? globToRegExp(r.glob) : null,
    names,
    argRes: r.args.map(argPattern),
    groups: new Set(r.targets),
  };
}

/** SHA256:<base64, unpadded> of an SSH public key blob, as ssh-keygen prints it. */
export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

export class Policy {
  readonly operators: Map<string, { groups: Set<string>; keys: Set<string> }>;
  readonly targets: Map<string, TargetSpec>;
  private readonly rules: CompiledRule[];

  constructor(readonly doc: z.infer<typeof policySchema>) {
    this.operators = new Map();
    for (const [op, o] of Object.entries(doc.operators)) {
      const keys = new Set<string>();
      for (const k of o.keys) {
        const parsed = ssh2.utils.parseKey(k);
        if (parsed instanceof Error) throw new ConfigError([`operators.${op}.keys: cannot parse key: ${parsed.message}`]);
        const key = Array.isArray(parsed) ? parsed[0] : parsed;
        keys.add(fingerprint(key.getPublicSSH()));
      }
      this.operators.set(op, { groups: new Set(o.groups), keys });
    }
    this.targets = new Map(Object.entries(doc.targets).map(([n, t]) => [n, { ...t, name: n }]));
    this.rules = doc.command_rules.map(compileRule);
  }

  /** Operator whose key has this fingerprint and is named `operator`. */
  keyMatches(operator: string, fp: string): boolean {
    return this.operators.get(operator)?.keys.has(fp) ?? false;
  }

  /** The first grant letting `operator` reach account@target now, or null. */
  authorize(operator: string, targetName: string, account: string, now = new Date()): Access | null {
    const op = this.operators.get(operator);
    const t = this.targets.get(targetName);
    if (!op || !t || !t.accounts.includes(account)) return null;
    for (const g of this.doc.grants) {
      if (!g.operators.includes(operator) && !g.groups.some((x) => op.groups.has(x))) continue;
      if (!g.targets.some((x) => x === '*' || x === t.name || (x.startsWith('group:') && t.groups.includes(x.slice(6))))) continue;
      if (!g.accounts.includes('*') && !g.accounts.includes(account)) continue;
      if (!inWindows(g.windows, now)) continue;
      return { operator, target: t, account, grant: g };
    }
    return null;
  }

  /** Everything the operator may reach now (for the menu). */
  choices(operator: string, now = new Date()): Access[] {
    const out: Access[] = [];
    for (const t of this.targets.values())
      for (const a of t.accounts) {
        const acc = this.authorize(operator, t.name, a, now);
        if (acc) out.push(acc);
      }
    return out;
  }

  /** Command rules that apply to a target, in policy order. */
  rulesFor(t: TargetSpec): CompiledRule[] {
    return this.rules.filter((r) => r.groups.has('*') || t.groups.some((g) => r.groups.has(g)) || r.groups.has(t.name));
  }

  commandCheckFor(t: TargetSpec): CommandCheck {
    return { rules: this.rulesFor(t), unresolved: this.doc.unresolved_commands };
  }
}

function inWindows(windows: GrantSpec['windows'], now: Date): boolean {
  if (!windows.length) return true;
  const day = DAYS[now.getUTCDay()];
  const mins = now.getUTCHours() * 60 + now.getUTCMinutes();
  return windows.some((w) => {
    const from = toMin(w.from);
    const to = toMin(w.to);
    if (!w.days.includes(day)) return false;
    return from <= to ? mins >= from && mins < to : mins >= from || mins < to;
  });
}

function toMin(s: string): number {
  return Number(s.slice(0, 2)) * 60 + Number(s.slice(3));
}

export function parsePolicy(text: string, source: string): Policy {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError([`${source}: not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  const r = policySchema.safeParse(doc ?? {});
  if (!r.success) throw new ConfigError(formatIssues(r.error).map((l) => `${source}: ${l}`));
  return new Policy(r.data);
}

export function loadPolicy(file: string): Policy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  return parsePolicy(text, file);
}

/** Whether the grant lets the operator open a shell (command null) or run this command; why not, if not. */
export function channelAllowed(grant: GrantSpec, command: string | null): string | null {
  if (command === null) return grant.shell ? null : 'interactive shells are not allowed by your grant';
  const e = grant.exec;
  if (e === true) return null;
  if (e === false) return 'remote commands are not allowed by your grant';
  return e.allow.some((p) => globToRegExp(p).test(command)) ? null : 'this command is not in the commands your grant allows';
}
