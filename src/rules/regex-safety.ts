// Rule regexes come from files anyone with write access to a rules directory
// can edit, so a pattern must not be able to make the matcher take
// super-linear time. Two layers:
//  1. a static check on the pattern (like safe-regex / the RE2 subset):
//     no backreferences, no lookarounds, no repeated group that itself holds a
//     quantifier or an alternation (star height > 1: `(a+)+`, `(a|a)*`);
//  2. V8's linear-time engine as a fallback when a pattern that passed the
//     check still backtracks excessively (polynomial cases such as `.*a.*a.*a`).
//     Patterns that pass (1) are exactly those that engine can run.
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

export class UnsafeRegexError extends Error {}

interface Frame {
  quantified: boolean; // holds a quantifier somewhere inside
  unbounded: boolean; // holds *, + or {n,} somewhere inside
  alternation: boolean; // holds a top-level `|`
}

/** Throws UnsafeRegexError with the reason when `pattern` is not allowed. */
export function checkRegexSafety(pattern: string): void {
  const stack: Frame[] = [{ quantified: false, unbounded: false, alternation: false }];
  // What the next quantifier would apply to: a plain atom, or a closed group.
  let last: 'none' | 'atom' | Frame = 'none';
  let i = 0;
  const n = pattern.length;
  while (i < n) {
    const q = readQuantifier(pattern, i);
    if (q) {
      if (last === 'none') throw new UnsafeRegexError(`quantifier at offset ${i} has nothing to repeat`);
      if (typeof last === 'object' && q.repeats) {
        // Bounded repeats of bounded groups ((\.\d{1,3}){3}) are finite; anything else nests.
        if (last.unbounded || (last.quantified && q.unbounded)) throw new UnsafeRegexError(`nested quantifier at offset ${i}: a repeated group must not itself contain a quantifier`);
        if (last.alternation) throw new UnsafeRegexError(`repeated alternation at offset ${i}: write the alternatives without repeating the group`);
      }
      const top = stack[stack.length - 1];
      top.quantified = true;
      if (q.unbounded) top.unbounded = true;
      i = q.end;
      if (pattern[i] === '?') i++; // lazy
      last = 'none';
      continue;
    }
    if (typeof last === 'object') propagate(stack[stack.length - 1], last);
    const c = pattern[i];
    if (c === '\\') {
      const d = pattern[i + 1];
      if (d === undefined) throw new UnsafeRegexError('pattern ends with a lone backslash');
      if (d >= '1' && d <= '9') throw new UnsafeRegexError(`backreference \\${d} is not allowed`);
      if (d === 'k' && pattern[i + 2] === '<') throw new UnsafeRegexError('named backreference \\k<…> is not allowed');
      i += 2;
      if ((d === 'p' || d === 'P' || d === 'u') && pattern[i] === '{') i = pattern.indexOf('}', i) + 1 || n;
      last = 'atom';
      continue;
    }
    if (c === '[') {
      i = skipClass(pattern, i);
      last = 'atom';
      continue;
    }
    if (c === '(') {
      if (pattern[i + 1] === '?') {
        const a = pattern[i + 2];
        const b = pattern[i + 3];
        if (a === '=' || a === '!' || (a === '<' && (b === '=' || b === '!')))
          throw new UnsafeRegexError('lookaround assertions ((?=, (?!, (?<=, (?<!) are not allowed');
      }
      stack.push({ quantified: false, unbounded: false, alternation: false });
      i = skipGroupPrefix(pattern, i);
      last = 'none';
      continue;
    }
    if (c === ')') {
      if (stack.length === 1) throw new UnsafeRegexError('unbalanced ")"');
      last = stack.pop()!;
      i++;
      continue;
    }
    if (c === '|') {
      stack[stack.length - 1].alternation = true;
      last = 'none';
      i++;
      continue;
    }
    last = 'atom';
    i++;
  }
  if (typeof last === 'object') propagate(stack[stack.length - 1], last);
  if (stack.length !== 1) throw new UnsafeRegexError('unbalanced "("');
}

function propagate(parent: Frame, child: Frame): void {
  if (child.quantified) parent.quantified = true;
  if (child.unbounded) parent.unbounded = true;
}

function skipClass(p: string, i: number): number {
  i++;
  if (p[i] === '^') i++;
  if (p[i] === ']') i++;
  while (i < p.length && p[i] !== ']') i += p[i] === '\\' ? 2 : 1;
  if (i >= p.length) throw new UnsafeRegexError('unterminated character class "["');
  return i + 1;
}

function skipGroupPrefix(p: string, i: number): number {
  if (p[i + 1] !== '?') return i + 1;
  if (p[i + 2] === ':') return i + 3;
  if (p[i + 2] === '<') {
    const end = p.indexOf('>', i + 3);
    if (end < 0) throw new UnsafeRegexError('unterminated group name');
    return end + 1;
  }
  throw new UnsafeRegexError(`unsupported group syntax at offset ${i}`);
}

function readQuantifier(p: string, i: number): { end: number; repeats: boolean; unbounded: boolean } | null {
  const c = p[i];
  if (c === '*' || c === '+') return { end: i + 1, repeats: true, unbounded: true };
  if (c === '?') return { end: i + 1, repeats: false, unbounded: false };
  if (c !== '{') return null;
  const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i, i + 24));
  if (!m) return null; // a literal "{"
  const max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
  return { end: i + m[0].length, repeats: max > 1, unbounded: max === Infinity };
}

/** Check and compile a rule regex; throws UnsafeRegexError or SyntaxError with the reason. */
export function compileRuleRegex(pattern: string, caseInsensitive = false): RegExp {
  checkRegexSafety(pattern);
  return new RegExp(pattern, caseInsensitive ? 'i' : '');
}
