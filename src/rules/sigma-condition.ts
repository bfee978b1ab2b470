// Sigma condition expressions: and / or / not, parentheses, `1 of sel*`,
// `all of sel*`, `1 of them`, `all of them`. Compiled onto trailwatch
// conditions (all/any/not) over the converted search identifiers.

export class SigmaError extends Error {}

type Node = Record<string, unknown>;

export function parseSigmaCondition(text: string, searches: Map<string, Node>): Node {
  if (/\|/.test(text)) throw new SigmaError(`aggregation in condition "${text}" (| count() …) is not supported`);
  const tokens = text.match(/\(|\)|[^\s()]+/g) ?? [];
  let i = 0;
  const peek = () => tokens[i]?.toLowerCase();
  const next = () => tokens[i++];
  const expr = (): Node => {
    const parts = [term()];
    while (peek() === 'or') {
      next();
      parts.push(term());
    }
    return parts.length === 1 ? parts[0] : { any: parts };
  };
  const term = (): Node => {
    const parts = [factor()];
    while (peek() === 'and') {
      next();
      parts.push(factor());
    }
    return parts.length === 1 ? parts[0] : { all: parts };
  };
  const factor = (): Node => {
    const t = next();
    if (t === undefined) throw new SigmaError(`condition "${text}" ends too early`);
    const low = t.toLowerCase();
    if (low === 'not') return { not: factor() };
    if (t === '(') {
      const e = expr();
      if (next() !== ')') throw new SigmaError(`condition "${text}": missing ")"`);
      return e;
    }
    if (low === '1' || low === 'any' || low === 'all') {
      if (peek() !== 'of') return ident(t);
      next();
      const target = next();
      if (target === undefined) throw new SigmaError(`condition "${text}": "of" needs a pattern or "them"`);
      const names = target.toLowerCase() === 'them' ? [...searches.keys()].filter((n) => !n.startsWith('_')) : matchNames(target, searches);
      if (!names.length) throw new SigmaError(`condition "${text}": no search identifier matches "${target}"`);
      const nodes = names.map((n) => searches.get(n)!);
      if (nodes.length === 1) return nodes[0];
      return low === 'all' ? { all: nodes } : { any: nodes };
    }
    if (t === ')' || low === 'and' || low === 'or') throw new SigmaError(`condition "${text}": unexpected "${t}"`);
    return ident(t);
  };
  const ident = (name: string): Node => {
    const n = searches.get(name);
    if (!n) throw new SigmaError(`condition "${text}": unknown search identifier "${name}"`);
    return n;
  };
  const result = expr();
  if (i < tokens.length) throw new SigmaError(`condition "${text}": unexpected "${tokens[i]}"`);
  return result;
}

function matchNames(pattern: string, searches: Map<string, Node>): string[] {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
  return [...searches.keys()].filter((n) => re.test(n));
}
