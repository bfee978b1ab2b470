// The rule file format (Falco-style): a YAML list of entries, each a `list:`,
// a `macro:` or a `rule:`. Later entries with the same name replace earlier
// ones (lists can `append: true`); a later `rule:` entry without `kind`
// patches the earlier rule field by field (tune or disable a shipped rule
// from a user directory without editing the pack).
import { z } from 'zod';
import type { SeverityName } from '../event.js';

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export const duration = z
  .union([z.number().positive(), z.string().regex(DURATION, 'expected a duration such as 30s, 5m, 1h, 2d')])
  .describe('A duration: seconds as a number, or a string with unit ms|s|m|h|d.')
  .transform((v) => (typeof v === 'number' ? v * 1000 : Number(DURATION.exec(v)![1]) * UNIT_MS[DURATION.exec(v)![2]]));

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const fieldPath = z.string().regex(/^(@timestamp|[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*)$/, 'expected a dotted field path such as source.ip');

export const listEntry = z.strictObject({
  list: z.string().regex(ID).describe('List name, referenced as { list: name } or `in: name`.'),
  items: z.array(z.union([z.string(), z.number()])).describe('The values.'),
  append: z.boolean().default(false).describe('Add to an earlier list of the same name instead of replacing it.'),
});

export const macroEntry = z.strictObject({
  macro: z.string().regex(ID).describe('Macro name, referenced as { macro: name } in conditions.'),
  condition: z.unknown().describe('A condition (see conditions.ts).'),
});

const step = z.strictObject({
  name: z.string().optional().describe('A label for the step.'),
  condition: z.unknown().describe('Events that make up this step.'),
  count: z.number().int().positive().default(1).describe('How many (weighted by event.count) this step needs.'),
});

export const KINDS = ['match', 'threshold', 'distinct', 'sequence', 'absence', 'unmatched'] as const;
export type RuleKind = (typeof KINDS)[number];

export const ruleEntry = z
  .strictObject({
    rule: z.string().regex(ID, 'rule ids are letters, digits and . _ : -').describe('Stable rule id (rule.id on alerts).'),
    name: z.string().min(1).describe('Human title (rule.name).'),
    description: z.string().default('').describe('What it detects and why it matters (rule.description).'),
    kind: z.enum(KINDS).describe('match | threshold | distinct | sequence | absence | unmatched.'),
    severity: z.enum(['low', 'medium', 'high', 'critical']).describe('Mapped to event.severity 21/47/73/99.'),
    tags: z.array(z.string()).default([]).describe('MITRE ATT&CK ids (T1110, T1110.001, attack.t1110) and free tags.'),
    category: z.string().optional().describe('rule.category on alerts.'),
    references: z.array(z.string()).default([]),
    author: z.string().optional(),
    enabled: z.boolean().default(true).describe('false disables the rule (also from an override).'),
    condition: z.unknown().optional().describe('Which events the rule looks at (all kinds but sequence).'),
    group_by: z.array(fieldPath).default([]).describe('Group key fields; events missing one are not counted. Across hosts unless host.name is listed.'),
    window: duration.optional().describe('Event-time window (threshold, distinct, sequence; match: alert once per group per window; unmatched: how far apart an event and its partner may be).'),
    threshold: z.number().int().positive().optional().describe('threshold: events (weighted by event.count) per group per window; distinct: distinct values.'),
    distinct: fieldPath.optional().describe('distinct: the field whose distinct values are counted.'),
    steps: z.array(step).min(2).optional().describe('sequence: steps in order per group within the window.'),
    period: duration.optional().describe('absence: alert when a group key has not been seen for this long.'),
    partner: z
      .strictObject({
        condition: z.unknown().describe('The partner events.'),
        group_by: z
          .array(fieldPath)
          .optional()
          .describe("The partner's key fields, one per group_by field (default: the same fields). A field holding a list gives one key per value."),
      })
      .optional()
      .describe('unmatched: the events that explain one matching event each (same key, within ±window); an event left without one raises the alert.'),
    max_keys: z.number().int().positive().default(100_000).describe('Cap on group keys held; the least recently seen go first.'),
    supersedes: z
      .array(z.string().regex(ID))
      .default([])
      .describe('Rule ids this rule makes redundant: once it has alerted for a group, those rules raise no alert for the same group in an overlapping window (one attack, one alert: the most specific). Same group_by required.'),
  })
  .superRefine((r, ctx) => {
    const need = (field: string, why: string) => ctx.addIssue({ code: 'custom', path: [field], message: `required for kind ${r.kind}: ${why}` });
    if (r.kind !== 'sequence' && r.condition === undefined) need('condition', 'which events the rule looks at');
    if (r.kind === 'threshold' || r.kind === 'distinct' || r.kind === 'sequence') {
      if (r.window === undefined) need('window', 'the event-time window');
      if (!r.group_by.length && r.kind !== 'threshold') need('group_by', 'the group key');
    }
    if ((r.kind === 'threshold' || r.kind === 'distinct') && r.threshold === undefined) need('threshold', 'how many');
    if (r.kind === 'distinct' && !r.distinct) need('distinct', 'the field to count distinct values of');
    if (r.kind === 'sequence' && !r.steps) need('steps', 'at least two steps');
    if (r.kind === 'absence') {
      if (r.period === undefined) need('period', 'how long a key may stay silent');
      if (!r.group_by.length) need('group_by', 'the key that goes silent (e.g. host.name)');
    }
    if (r.kind === 'unmatched') {
      if (!r.partner) need('partner', 'the events that explain one matching event each');
      if (r.window === undefined) need('window', 'how far apart in event time an event and its partner may be');
      if (!r.group_by.length) need('group_by', 'the key an event and its partner share');
      const pg = r.partner?.group_by;
      if (pg && pg.length !== r.group_by.length) ctx.addIssue({ code: 'custom', path: ['partner', 'group_by'], message: `needs one field per group_by field (${r.group_by.length})` });
    } else if (r.partner) ctx.addIssue({ code: 'custom', path: ['partner'], message: 'only for kind unmatched' });
    if (r.kind === 'match' && r.group_by.length && r.window === undefined) need('window', 'group_by on a match rule alerts once per group per window');
    if (r.supersedes.length && (r.kind === 'absence' || r.kind === 'unmatched' || r.window === undefined)) ctx.addIssue({ code: 'custom', path: ['supersedes'], message: 'only a windowed rule (threshold, distinct, sequence, or match with window) can supersede others' });
  });

export type RuleDef = z.infer<typeof ruleEntry>;
export type ListDef = z.infer<typeof listEntry>;
export type MacroDef = z.infer<typeof macroEntry>;

export const SEVERITIES: readonly SeverityName[] = ['low', 'medium', 'high', 'critical'];
