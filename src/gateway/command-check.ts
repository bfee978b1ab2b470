// A command line against the command rules of a target: parsed once
// (command-parse.ts), then each rule asks the parsed commands (command rules)
// or the typed text and each parsed command's text (regex/glob rules).
// A block beats an alert; a line that cannot be resolved before it runs gets
// the policy's `unresolved_commands` action when the target has any rules.
import { posix } from 'node:path';
import { parseCommandLine, type ParsedLine, type SimpleCommand } from './command-parse.js';
import type { CommandCheck, CommandRuleSpec, CompiledRule } from './policy.js';

export interface RuleHit {
  spec: Pick<CommandRuleSpec, 'id' | 'description' | 'action' | 'severity'>;
  /** Why an unresolved-command hit could not be resolved. */
  detail?: string;
}

export const UNRESOLVED_RULE = 'unresolved-command';

export interface CheckOptions {
  /** Only rules that certainly match count; the unresolved_commands choice does not apply. */
  definiteOnly?: boolean;
  /** The line is known not to be what runs (typed blind with editing keys): unresolved for this reason. */
  unknown?: string;
}

type Match = 'yes' | 'maybe' | 'no';

/** The rule hit for a command line (block wins over alert), or null. */
export function checkCommand(check: CommandCheck, line: string, opts: CheckOptions = {}): RuleHit | null {
  if (!check.rules.length) return null;
  const parsed = parseCommandLine(line);
  let alert: RuleHit | null = null;
  let undecided: string | undefined;
  for (const r of check.rules) {
    const m = matches(r, line, parsed);
    if (m === 'no') continue;
    if (m === 'maybe') {
      undecided ??= `operands of a command rule ${r.spec.id} names are only known when it runs`;
      continue;
    }
    if (r.spec.action === 'block') return r;
    alert ??= r;
  }
  if (opts.definiteOnly) return alert;
  const why = opts.unknown ?? parsed.unresolved[0] ?? undecided;
  if (why === undefined) return alert;
  const u: RuleHit = { spec: { id: UNRESOLVED_RULE, description: 'Command that cannot be resolved before it runs', action: check.unresolved.action, severity: check.unresolved.severity }, detail: why };
  return u.spec.action === 'block' ? u : (alert ?? u);
}

function matches(r: CompiledRule, line: string, parsed: ParsedLine): Match {
  if (r.re) {
    const re = r.re;
    return re.test(line) || parsed.commands.some((c) => re.test(c.text)) ? 'yes' : 'no';
  }
  let best: Match = 'no';
  for (const c of parsed.commands) {
    const m = commandMatches(r, c);
    if (m === 'yes') return m;
    if (m === 'maybe') best = m;
  }
  return best;
}

function commandMatches(r: CompiledRule, c: SimpleCommand): Match {
  const flags = r.names!.get(c.name);
  if (!flags || !flags.every((f) => c.flags.has(f))) return 'no';
  if (!r.argRes.length) return 'yes';
  for (const o of c.operands) {
    const norm = o.startsWith('/') ? normalPath(o) : o;
    if (r.argRes.some((re) => re.test(o) || re.test(norm))) return 'yes';
  }
  return c.open ? 'maybe' : 'no';
}

/** /a//b/./c/ → /a/b/c; /tmp/.. → /. */
function normalPath(p: string): string {
  const n = posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}
