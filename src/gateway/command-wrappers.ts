// From a simple command's words to what runs: commands that run another
// command (sudo, env, nice, nohup, timeout, command, exec, busybox, xargs,
// find -exec, watch, su -c, sh -c, eval, …) are followed into their
// arguments; names are taken by basename (/usr/bin/rm is rm); flags are
// normalised (-rf, -r -f, -fr, --recursive --force are the same flags).
import { basename } from 'node:path';

/** One argument after unquoting: `dyn` when part of it is only known when the line runs ($x, $(…)). */
export interface Arg {
  v: string;
  dyn: boolean;
  glob: boolean;
}

export interface SimpleCommand {
  /** The command as the shell finds it: basename, unquoted (`\rm`, `/bin/rm`, `'rm'` are rm). */
  name: string;
  /** Its arguments, unquoted (argv[0] as written). */
  argv: string[];
  /** Normalised flags: short letters ("r", "f") and long names with no short form ("no-preserve-root"). */
  flags: Set<string>;
  /** The arguments that are not flags. */
  operands: string[];
  /** More arguments are added when it runs (xargs, find -exec {}): its operands are not all known. */
  open: boolean;
  /** name and arguments joined by spaces: what the text (regex/glob) rules also match. */
  text: string;
}

export interface ResolveCtx {
  /** What the command reads as standard input, when that is part of the line. */
  stdin: Arg | 'pipe' | null;
  out: { commands: SimpleCommand[]; unresolved: string[] };
  /** Parse a string that a shell will run (sh -c, eval), one level deeper. */
  parse(text: string): void;
}

/** How a command that runs another one takes its own options. */
interface Wrapper {
  /** Short options taking a value (the rest of the word or the next word). */
  withArg?: string;
  longWithArg?: string[];
  /** Options meaning no command is run (`command -v`, `sudo -l`). */
  stop?: string;
  longStop?: string[];
  /** Option whose value is a shell command line (`su -c`, `env -S`). */
  string?: string;
  longString?: string[];
  /** NAME=value words before the command (env). */
  assignments?: boolean;
  /** Numeric options like `nice -10`. */
  numeric?: boolean;
  /** Operands before the command (timeout's duration, chroot's directory). */
  positional?: number;
  /** The command is only ever the value of `string` (su). */
  stringOnly?: boolean;
  /** The rest is joined with spaces and run by sh -c (watch). */
  joinShell?: boolean;
}

const WRAPPERS: Record<string, Wrapper> = {
  sudo: {
    withArg: 'ugCDhprtTU',
    longWithArg: ['user', 'group', 'close-from', 'chdir', 'host', 'prompt', 'role', 'type', 'command-timeout', 'other-user'],
    stop: 'elvkKV',
    longStop: ['edit', 'list', 'validate', 'remove-timestamp', 'reset-timestamp', 'version', 'help'],
  },
  doas: { withArg: 'uC' },
  env: { withArg: 'uCP', longWithArg: ['unset', 'chdir'], string: 'S', longString: ['split-string'], assignments: true },
  nice: { withArg: 'n', longWithArg: ['adjustment'], numeric: true },
  nohup: {},
  timeout: { withArg: 'sk', longWithArg: ['signal', 'kill-after'], positional: 1 },
  command: { stop: 'vV' },
  exec: { withArg: 'a' },
  builtin: {},
  time: { withArg: 'fo', longWithArg: ['format', 'output'] },
  setsid: {},
  stdbuf: { withArg: 'ioe', longWithArg: ['input', 'output', 'error'] },
  ionice: { withArg: 'cnpPu', longWithArg: ['class', 'classdata', 'pid', 'pgid', 'uid'] },
  chroot: { longWithArg: ['userspec', 'groups'], positional: 1 },
  strace: { withArg: 'abeEIoOpPsSUX', longWithArg: ['output', 'trace', 'signal'] },
  su: { withArg: 'sgGw', longWithArg: ['shell', 'group', 'supp-group', 'whitelist-environment'], string: 'c', longString: ['command', 'session-command'], stringOnly: true },
  watch: { withArg: 'nq', longWithArg: ['interval', 'equexit'], joinShell: true },
  xargs: { withArg: 'adEILnPs', longWithArg: ['arg-file', 'delimiter', 'eof', 'replace', 'max-lines', 'max-args', 'max-procs', 'max-chars', 'process-slot-var'] },
};

const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'rbash', 'yash', 'posh']);

/** Per-command long↔short flag table (and short aliases), for the commands rules usually name. */
const FLAGS: Record<string, { long?: Record<string, string>; alias?: Record<string, string> }> = {
  rm: { long: { recursive: 'r', force: 'f', dir: 'd', interactive: 'i', verbose: 'v' }, alias: { R: 'r' } },
  cp: { long: { recursive: 'r', force: 'f', archive: 'a', verbose: 'v' }, alias: { R: 'r' } },
  mv: { long: { force: 'f', interactive: 'i', verbose: 'v' } },
  chmod: { long: { recursive: 'R', verbose: 'v', changes: 'c', silent: 'f', quiet: 'f' } },
  chown: { long: { recursive: 'R', verbose: 'v', changes: 'c', silent: 'f', quiet: 'f' } },
  chgrp: { long: { recursive: 'R', verbose: 'v', changes: 'c', silent: 'f', quiet: 'f' } },
  shred: { long: { remove: 'u', zero: 'z', force: 'f', iterations: 'n', verbose: 'v' } },
  userdel: { long: { remove: 'r', force: 'f' } },
  shutdown: { long: { poweroff: 'P', reboot: 'r', halt: 'H' } },
  iptables: { long: { flush: 'F', 'delete-chain': 'X', delete: 'D', append: 'A', insert: 'I', policy: 'P' } },
  ip6tables: { long: { flush: 'F', 'delete-chain': 'X', delete: 'D', append: 'A', insert: 'I', policy: 'P' } },
  crontab: { long: { remove: 'r', edit: 'e', list: 'l' } },
  git: { long: { force: 'f' } },
};

/** A flag as a rule or a command line spells it ("-r", "--recursive", "recursive", "R"), in the normalised form for `command`. */
export function normalFlag(command: string, flag: string): string {
  const t = FLAGS[command];
  const f = flag.replace(/^--?/, '');
  if (f.length > 1) return t?.long?.[f] ?? f;
  return t?.alias?.[f] ?? f;
}

function simple(argv: Arg[], open: boolean): SimpleCommand {
  const name = basename(argv[0].v) || argv[0].v;
  const flags = new Set<string>();
  const operands: string[] = [];
  let ended = false;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i].v;
    if (ended || a.length < 2 || a[0] !== '-') operands.push(a);
    else if (a === '--') ended = true;
    else if (a[1] === '-') flags.add(normalFlag(name, a.slice(2).split('=')[0]));
    else for (const c of a.slice(1)) flags.add(normalFlag(name, c));
  }
  const words = argv.map((a) => a.v);
  return { name, argv: words, flags, operands, open, text: [name, ...words.slice(1)].join(' ') };
}

/** Record the command and follow it into the command it runs, if any. */
export function resolveArgv(argv: Arg[], ctx: ResolveCtx, open = false): void {
  for (let hops = 0; argv.length && hops < 16; hops++) {
    const name = basename(argv[0].v) || argv[0].v;
    const w = WRAPPERS[name];
    if (w) {
      const u = unwrap(w, argv);
      ctx.out.commands.push(simple(argv.slice(0, u.at < 0 ? argv.length : u.at), open));
      if (u.string !== undefined) return runString(u.string, ctx, `${name} of a command made when it runs`);
      if (w.joinShell && u.at < argv.length) return runString(joined(argv.slice(u.at)), ctx, `${name} of a command made when it runs`);
      if (u.at < 0 || w.stringOnly) return;
      argv = argv.slice(u.at);
      if (name === 'xargs') {
        if (!argv.length) argv = [{ v: 'echo', dyn: false, glob: false }];
        open = true;
        ctx = { ...ctx, stdin: null };
      }
      continue;
    }
    if (name === 'busybox' && argv.length > 1 && !argv[1].v.startsWith('-')) {
      ctx.out.commands.push(simple(argv.slice(0, 1), open));
      argv = argv.slice(1);
      continue;
    }
    ctx.out.commands.push(simple(argv, open));
    if (SHELLS.has(name)) return shell(argv, ctx);
    if (name === 'eval') return argv.length > 1 ? runString(joined(argv.slice(1)), ctx, 'eval of a value made when it runs') : undefined;
    if (name === 'find') return findExec(argv, ctx);
    if ((name === 'source' || name === '.') && argv[1] && isProcessSubstitution(argv[1])) ctx.out.unresolved.push(`${name} of a script made when it runs`);
    return;
  }
}

function joined(args: Arg[]): Arg {
  return { v: args.map((a) => a.v).join(' '), dyn: args.some((a) => a.dyn), glob: false };
}

function runString(s: Arg | undefined, ctx: ResolveCtx, why: string): void {
  if (!s) return;
  if (s.dyn) ctx.out.unresolved.push(`${why}: ${s.v}`);
  else ctx.parse(s.v);
}

function isProcessSubstitution(a: Arg): boolean {
  return a.dyn && /^[<>]\(/.test(a.v);
}

/** Where the wrapped command starts (`at`; -1 or past the end: none), or the shell string an option gives. */
function unwrap(w: Wrapper, argv: Arg[]): { at: number; string?: Arg } {
  let i = 1;
  while (i < argv.length) {
    const a = argv[i].v;
    if (a === '--') {
      i++;
      break;
    }
    if (w.assignments && (a === '-' || /^[A-Za-z_][A-Za-z0-9_]*=/.test(a))) {
      i++;
      continue;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const val = eq < 0 ? undefined : { ...argv[i], v: a.slice(eq + 1) };
      if (w.longStop?.includes(name)) return { at: -1 };
      if (w.longString?.includes(name)) return { at: -1, string: val ?? argv[i + 1] };
      i += w.longWithArg?.includes(name) && !val ? 2 : 1;
      continue;
    }
    if (a.length < 2 || a[0] !== '-') {
      if (!w.stringOnly) break;
      i++;
      continue;
    }
    if (w.numeric && /^-\d+$/.test(a)) {
      i++;
      continue;
    }
    let step = 1;
    for (let j = 1; j < a.length; j++) {
      const c = a[j];
      if (w.stop?.includes(c)) return { at: -1 };
      if (w.string?.includes(c)) return { at: -1, string: j + 1 < a.length ? { ...argv[i], v: a.slice(j + 1) } : argv[i + 1] };
      if (w.withArg?.includes(c)) {
        if (j === a.length - 1) step = 2;
        break;
      }
    }
    i += step;
  }
  return { at: w.stringOnly ? -1 : i + (w.positional ?? 0) };
}

/** sh/bash …: a -c string is parsed; a script from a pipe or made when it runs is unresolved; a here-string is parsed. */
function shell(argv: Arg[], ctx: ResolveCtx): void {
  let i = 1;
  let commandString = false;
  let fromStdin = false;
  for (; i < argv.length; i++) {
    const a = argv[i].v;
    if (a === '--' || a === '-') {
      fromStdin ||= a === '-';
      i++;
      break;
    }
    if (a.startsWith('--')) {
      if (a === '--rcfile' || a === '--init-file') i++;
      continue;
    }
    if (!/^[-+][A-Za-z]+$/.test(a)) break;
    if (a[0] === '-' && a.includes('c')) commandString = true;
    if (a.includes('s')) fromStdin = true;
    if (/[oO]/.test(a)) i++;
  }
  const name = basename(argv[0].v);
  if (commandString) return runString(argv[i], ctx, `${name} -c of a command made when it runs`);
  const script = fromStdin ? undefined : argv[i];
  if (script) {
    if (isProcessSubstitution(script)) ctx.out.unresolved.push(`${name} runs a script made when it runs: ${script.v}`);
    return;
  }
  if (ctx.stdin === 'pipe') ctx.out.unresolved.push(`pipe into ${name}: it runs whatever the commands before it print`);
  else if (ctx.stdin) runString(ctx.stdin, ctx, `${name} reading a here-string made when it runs`);
}

/** find … -exec/-execdir/-ok/-okdir CMD … ; or + : each CMD, with {} (open) operands. */
function findExec(argv: Arg[], ctx: ResolveCtx): void {
  for (let i = 1; i < argv.length; i++) {
    if (!/^-(exec|execdir|ok|okdir)$/.test(argv[i].v)) continue;
    let end = i + 1;
    while (end < argv.length && argv[end].v !== ';' && argv[end].v !== '+') end++;
    if (end > i + 1) resolveArgv(argv.slice(i + 1, end), { ...ctx, stdin: null }, true);
    i = end;
  }
}
