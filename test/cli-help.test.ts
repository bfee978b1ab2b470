// Every command the README, the config's documentation (`check-config
// --example`) and the CLI's own help texts name exists: each `trailwatch …`
// in code (backticks, indented or fenced blocks) is walked down the real
// command tree (read from the built CLI's --help) and run with --help.
// Issue #16 found a help text naming `trailwatch gateway mfa enroll`, which
// does not exist (the command is `trailwatch mfa enroll`).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, runCli } from './helpers.js';

interface Node {
  subs: Map<string, Node>;
  /** The subcommand that runs when none is named. */
  default?: string;
  /** Takes positional arguments (its usage line names some besides [options] and [command]). */
  args: boolean;
}

/** The commands a --help text lists (its "Commands:" section), without help itself. */
function commandsOf(help: string): { name: string; isDefault: boolean }[] {
  const at = help.indexOf('\nCommands:\n');
  if (at < 0) return [];
  return help
    .slice(at + 11)
    .split('\n')
    .map((l) => /^ {2}([a-z][a-z0-9-]*)\b(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null && m[1] !== 'help')
    .map((m) => ({ name: m[1], isDefault: /the default/i.test(m[2]) }));
}

async function tree(path: string[], helps: string[]): Promise<Node> {
  const r = await runCli([...path, '--help']);
  assert.equal(r.code, 0, `trailwatch ${path.join(' ')} --help: ${r.stderr}`);
  helps.push(r.stdout);
  const usage = /^Usage: .*$/m.exec(r.stdout)?.[0] ?? '';
  const node: Node = { subs: new Map(), args: /[<[](?!options\]|command\])[^\]>]+[\]>]/.test(usage.replace(/^Usage: \S+/, '')) };
  for (const c of commandsOf(r.stdout)) {
    node.subs.set(c.name, await tree([...path, c.name], helps));
    if (c.isDefault) node.default = c.name;
  }
  return node;
}

/** Every `trailwatch <words>` inside code in a text: backtick spans and indented or fenced code lines. */
function mentions(text: string): string[] {
  const code: string[] = [];
  for (const m of text.matchAll(/`([^`\n]+)`/g)) code.push(m[1]);
  let fenced = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    // (a shell comment on a code line is prose)
    else if (fenced || /^ {4}\S/.test(line)) code.push(line.replace(/\s#\s.*$/, ''));
  }
  const out: string[] = [];
  for (const c of code) for (const m of c.matchAll(/(?:^|[\s$(])trailwatch((?: +[a-z][a-z0-9-]*)+)/g)) out.push(m[1].trim());
  return out;
}

describe('cli > every command named in the README, the config docs and the help texts exists', () => {
  it('walks each mention down the real command tree and runs it with --help', async () => {
    const helps: string[] = [];
    const root = await tree([], helps);
    const example = await runCli(['check-config', '--example']);
    assert.equal(example.code, 0);
    const sources = [
      { name: 'README.md', text: readFileSync(join(ROOT, 'README.md'), 'utf8') },
      { name: 'check-config --example', text: example.stdout },
      { name: '--help texts', text: helps.join('\n') },
    ];
    let checked = 0;
    for (const s of sources) {
      for (const m of mentions(s.text)) {
        const words = m.split(/ +/);
        let node = root;
        const path: string[] = [];
        for (const w of words) {
          let next = node.subs.get(w);
          // A word that is no subcommand goes to the default one, if there is one.
          if (!next && node.default && !node.subs.get(node.default)!.subs.has(w)) {
            node = node.subs.get(node.default)!;
            next = node.subs.get(w);
          }
          if (next) {
            node = next;
            path.push(w);
            continue;
          }
          assert.ok(node.args && path.length > 0, `${s.name} names \`trailwatch ${m}\`: "${w}" is not a command${path.length ? ` of trailwatch ${path.join(' ')}` : ''}, which takes no arguments`);
          break;
        }
        assert.ok(path.length > 0, `${s.name} names \`trailwatch ${m}\`, which is no command`);
        checked++;
      }
    }
    assert.ok(checked > 30, `only ${checked} mentions found`);
  });
});
