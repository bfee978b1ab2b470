// The pure parts of command checking: the bash parser and the wrappers it
// follows, flag normalisation, command rules in the policy schema, the echo
// gate that hides unechoed input in recordings, and the typed-line buffer.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseCommandLine } from '../src/gateway/command-parse.js';
import { checkCommand, parsePolicy } from '../src/gateway/policy.js';
import { EchoGate } from '../src/gateway/echo-gate.js';
import { TypedLine } from '../src/gateway/typed-line.js';
import { ConfigError } from '../src/errors.js';

const cmds = (line: string) => parseCommandLine(line).commands.map((c) => `${c.name} ${[...c.flags].sort().join('')} ${c.operands.join(',')}${c.open ? ' +' : ''}`.trim());

function policyWith(rules: unknown[], extra: Record<string, unknown> = {}) {
  return parsePolicy(JSON.stringify({ command_rules: rules, ...extra }), 'test');
}
const T = { name: 't', groups: [] } as never;

describe('gateway > commands > parsed as bash parses them', () => {
  it('unquotes and unescapes the command name and arguments', () => {
    for (const l of ['rm -rf /', 'r\\m -rf /', '\\rm -rf /', "'rm' -rf /", '"r"m -rf "/"', "r''m -rf /", "$'\\x72m' -rf /", '{rm,-rf,/}', 'x=1 rm -rf /', '/bin/rm -rf /', '/usr/bin/rm -rf /'])
      assert.deepEqual(cmds(l), ['rm fr /'], l);
  });

  it('finds every command in lists, pipelines, subshells, groups, substitutions and functions', () => {
    assert.deepEqual(cmds('true; rm -rf /'), ['true', 'rm fr /']);
    assert.deepEqual(cmds('ls && rm x || (cd /; rm y) | { tee z; }'), ['ls', 'rm  x', 'cd  /', 'rm  y', 'tee  z']);
    assert.deepEqual(cmds('echo $(rm a) `rm b` <(rm c)'), ['echo  $(rm a),`rm b`,<(rm c)', 'rm  a', 'rm  b', 'rm  c']);
    assert.deepEqual(cmds('f() { rm -rf /; }; f'), ['rm fr /', 'f']);
    assert.deepEqual(cmds('! rm x &'), ['rm  x']);
  });

  it('follows commands that run commands', () => {
    assert.deepEqual(cmds("bash -c 'rm -rf /'"), ['bash c rm -rf /', 'rm fr /']);
    assert.deepEqual(cmds('sudo -u root -E env A=1 B=2 nice -n 5 nohup timeout -s KILL 10 /bin/rm -fr /'), ['sudo Eu root', 'env  A=1,B=2', 'nice n 5', 'nohup', 'timeout s KILL,10', 'rm fr /']);
    assert.deepEqual(cmds('echo / | xargs -0 rm -rf'), ['echo  /', 'xargs 0', 'rm fr  +']);
    assert.deepEqual(cmds('find / -name x -exec rm -rf {} \\;').at(-1), 'rm fr {} +');
    assert.deepEqual(cmds("su - root -c 'rm -r /'").at(-1), 'rm r /');
    assert.deepEqual(cmds("sh -ec \"bash -c 'eval rm -rf /'\"").at(-1), 'rm fr /');
    assert.deepEqual(cmds('command exec busybox rm -rf /'), ['command', 'exec', 'busybox', 'rm fr /']);
    assert.deepEqual(cmds('bash <<< "rm -rf /"'), ['bash', 'rm fr /']);
    assert.deepEqual(cmds("env -S 'rm -rf /'").at(-1), 'rm fr /');
    assert.deepEqual(cmds('watch -n 1 rm -rf /').at(-1), 'rm fr /');
    assert.deepEqual(cmds('command -v rm'), ['command v rm'], 'command -v runs nothing');
    assert.deepEqual(cmds('sudo -l rm'), ['sudo l rm'], 'sudo -l runs nothing');
  });

  it('normalises flags: -rf, -fr, -r -f, --recursive --force, -R are the same', () => {
    const flags = (l: string) => [...parseCommandLine(l).commands[0].flags].sort().join(',');
    for (const l of ['rm -rf x', 'rm -fr x', 'rm -r -f x', 'rm --recursive --force x', 'rm -R --force x', 'rm -f -R x']) assert.equal(flags(l), 'f,r', l);
    assert.equal(flags('rm -- -rf'), '', 'after -- it is an operand');
    assert.equal(flags('chmod --recursive 777 /'), 'R');
    assert.equal(flags('rm --no-preserve-root -rf /'), 'f,no-preserve-root,r');
  });

  it('reports what cannot be known before the line runs', () => {
    const why = (l: string) => parseCommandLine(l).unresolved;
    assert.match(why('$(echo rm) -rf /')[0], /command name decided when it runs/);
    assert.match(why('`echo rm` -rf /')[0], /command name decided when it runs/);
    assert.match(why('$CMD -rf /')[0], /command name decided when it runs/);
    assert.match(why('echo cm0gLXJmIC8K | base64 -d | sh')[0], /pipe into sh/);
    assert.match(why('curl x | sudo bash -s')[0], /pipe into bash/);
    assert.match(why('eval "$x"')[0], /eval of a value/);
    assert.match(why('bash -c "$x"')[0], /bash -c of a command made when it runs/);
    assert.match(why('bash <(curl x)')[0], /script made when it runs/);
    assert.match(why('/bin/r? -rf /')[0], /pattern/);
    for (const ok of ['ls -la', 'echo "$HOME" $(date)', 'bash script.sh', 'cat x | grep y', 'for x in a b; do', "echo 'unterminated", 'bash']) assert.deepEqual(why(ok), [], ok);
  });

  it('any quoting or escaping of a word gives the same word back (property)', () => {
    // A backslash before a blank is left out: tree-sitter-bash drops an escaped blank that starts a word (README: limits).
    const quoteChar = (c: string, how: number): string => {
      if (c === ' ') return how % 2 ? "' '" : '" "';
      if (how === 0 && /[A-Za-z0-9_./-]/.test(c)) return c;
      if (how === 1 && c !== "'") return `'${c}'`;
      if (how === 2 && !/[$`"\\!]/.test(c)) return `"${c}"`;
      if (how === 3) return `$'\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}'`;
      return `\\${c}`;
    };
    const word = fc.string({ unit: fc.constantFrom(...' !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~abcRMrm019'.split('')), minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(word, fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 12, maxLength: 12 }), (w, hows) => {
        const quoted = [...w].map((c, i) => quoteChar(c, hows[i])).join('');
        const p = parseCommandLine(`echo ${quoted} end`);
        assert.deepEqual(p.commands[0]?.argv, ['echo', w, 'end'], quoted);
        const n = parseCommandLine(`${[...'rm'].map((c, i) => quoteChar(c, hows[i])).join('')} -rf /`);
        assert.equal(n.commands[0]?.name, 'rm', quoted);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('gateway > commands > command rules in the policy', () => {
  const rm = { id: 'rm-root', command: 'rm', flags: ['r', '--force'], args: ['/'], action: 'block' };

  it('one rule matches every spelling, and not what it does not name', () => {
    const check = policyWith([rm]).commandCheckFor(T);
    for (const l of ['rm -rf /', '\\rm -fr /', 'sudo /bin/rm --recursive --force /', "bash -c 'true; rm -r -f //'", 'echo | xargs rm -rf /', 'rm -rf /tmp/..'])
      assert.equal(checkCommand(check, l)?.spec.id, 'rm-root', l);
    for (const l of ['rm -r /', 'rm -rf /tmp', 'echo rm -rf /', 'ls /', "grep 'rm -rf /' notes"]) assert.equal(checkCommand(check, l), null, l);
  });

  it('args patterns: * and ? match, a backslash makes them literal', () => {
    const check = policyWith([{ id: 'star', command: 'rm', args: ['/\\*', '/home/*/x?'], action: 'block' }]).commandCheckFor(T);
    for (const l of ['rm -rf /*', 'rm /home/al/x1', 'rm /home/al/b/xz']) assert.equal(checkCommand(check, l)?.spec.id, 'star', l);
    for (const l of ['rm -rf /tmp', 'rm /home/al/x', 'rm /home/al/x12']) assert.equal(checkCommand(check, l), null, l);
  });

  it('unresolvable lines get the policy choice: block by default, alert when set, nothing without rules', () => {
    const line = '$(echo rm) -rf /';
    assert.equal(checkCommand(policyWith([rm]).commandCheckFor(T), line)?.spec.action, 'block');
    const alert = checkCommand(policyWith([rm], { unresolved_commands: { action: 'alert', severity: 'low' } }).commandCheckFor(T), line);
    assert.deepEqual([alert?.spec.id, alert?.spec.action, alert?.spec.severity], ['unresolved-command', 'alert', 'low']);
    assert.match(alert!.detail!, /command name decided when it runs/);
    assert.equal(checkCommand(policyWith([]).commandCheckFor(T), line), null);
    assert.equal(checkCommand(policyWith([rm]).commandCheckFor(T), 'find / | xargs rm -rf')?.spec.id, 'unresolved-command', 'operands from input');
    assert.equal(checkCommand(policyWith([rm]).commandCheckFor(T), line, { definiteOnly: true }), null);
  });

  it('text rules still work, on the typed line and on each parsed command', () => {
    const check = policyWith([{ id: 'old', regex: '^rm\\s+-\\S*r\\S*\\s+/', action: 'alert' }, { id: 'w', glob: 'whoami*', action: 'alert' }]).commandCheckFor(T);
    assert.equal(checkCommand(check, 'rm -rf /')?.spec.id, 'old');
    assert.equal(checkCommand(check, "bash -c '\\rm -rf /'")?.spec.id, 'old');
    assert.equal(checkCommand(check, 'whoami')?.spec.id, 'w');
    assert.equal(checkCommand(check, 'ls'), null);
  });

  it('refuses rules that can never work, naming the field', () => {
    const bad = (r: unknown) => assert.throws(() => policyWith([r]), (e: unknown) => e instanceof ConfigError && /command_rules\[0\]/.test(e.message));
    bad({ id: 'x', command: 'rm', regex: 'rm', action: 'block' });
    bad({ id: 'x', regex: 'rm', flags: ['r'], action: 'block' });
    bad({ id: 'x', command: 'rm', flags: ['-r f'], action: 'block' });
    bad({ id: 'x', action: 'block' });
  });
});

describe('gateway > commands > recording hides what the target does not echo', () => {
  const gate = () => {
    const out: [string, string, number][] = [];
    return { out, g: new EchoGate((code, data, at) => out.push([code, data, at])) };
  };

  it('writes typed input as typed once the echo shows it, in time order', () => {
    const { out, g } = gate();
    g.input('ls -l', 1);
    assert.equal(out.length, 0, 'held until the echo');
    g.output('ls', 2);
    g.output(' \x1b[1m-l\x1b[0m', 3);
    g.input('\r', 4);
    g.output('\r\ntotal 0\r\n$ ', 5);
    assert.deepEqual(out, [['i', 'ls -l', 1], ['o', 'ls', 2], ['o', ' \x1b[1m-l\x1b[0m', 3], ['i', '\r', 4], ['o', '\r\ntotal 0\r\n$ ', 5]]);
    assert.equal(g.endLine(), 0);
  });

  it('hides what is typed and not echoed by the end of the line', () => {
    const { out, g } = gate();
    for (const c of 'hunter2') g.input(c, 1);
    assert.equal(g.endLine(), 7);
    g.input('\r', 2);
    g.output('\r\nok\r\n', 3);
    assert.deepEqual(out, [['i', '[7 chars hidden]', 1], ['i', '\r', 2], ['o', '\r\nok\r\n', 3]]);
  });

  it('hides input when output comes that shows none of it, or a line feed comes first', () => {
    const { out, g } = gate();
    g.input('pw', 1);
    g.output('something else', 2);
    g.input('xy', 3);
    g.output('\r\nx y', 4);
    assert.deepEqual(out.map((e) => e[1]), ['[2 chars hidden]', 'something else', '[2 chars hidden]', '\r\nx y']);
  });

  it('keys with nothing to echo (arrows, Ctrl keys) are written as typed', () => {
    const { out, g } = gate();
    g.input('\x1b[A\x03', 1);
    assert.deepEqual(out, [['i', '\x1b[A\x03', 1]]);
  });
});

describe('gateway > commands > the line as typed', () => {
  it('applies Backspace, DEL, Ctrl-U, Ctrl-W and Ctrl-C', () => {
    const t = new TypedLine();
    t.feed('rm -rf /tmp/xx\x7f\x7fyz');
    assert.deepEqual(t.take(), { text: 'rm -rf /tmp/yz', exact: true });
    t.feed('junk\x15echo a b\x17c\x08d');
    assert.deepEqual(t.take(), { text: 'echo a d', exact: true });
    t.feed('x\x03ls');
    assert.deepEqual(t.take(), { text: 'ls', exact: true });
    t.feed('\x1b[200~pasted\x1b[201~');
    assert.deepEqual(t.take(), { text: 'pasted', exact: true });
  });

  it('is inexact after keys that recall or move (arrows, Tab, Ctrl-R)', () => {
    const t = new TypedLine();
    for (const k of ['\x1b[A', 'ls\t', '\x12rm', 'ab\x1b[Dc']) {
      t.feed(k);
      assert.equal(t.take().exact, false, JSON.stringify(k));
    }
  });
});
