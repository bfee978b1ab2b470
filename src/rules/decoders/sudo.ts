// sudo: "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id"
// with an optional leading reason ("3 incorrect password attempts", "user NOT
// in sudoers", "command not allowed", …) and, in newer sudo, GROUP=, TSID=,
// ENV= and CHROOT= fields. COMMAND= is always last and may itself contain " ; ".
import type { TwEvent } from '../../event.js';
import { ACTIONS, DATASETS } from './vocabulary.js';
import { categorise, relateHost, setTargetUser, setUser, parseUint, skipDigits } from './fields.js';
import { decodePam, decodePamMore } from './pam.js';
import { summaryLine, type DecodeState } from './state.js';

const D = 'sudo';
const DS = DATASETS.sudo;

interface SudoFields {
  reason: string;
  tty: string;
  pwd: string;
  runas: string;
  command: string;
}

/** Walk "REASON ; TTY=… ; PWD=… ; USER=… ; COMMAND=…" once, left to right. */
function fields(s: string): SudoFields {
  const f: SudoFields = { reason: '', tty: '', pwd: '', runas: '', command: '' };
  let i = 0;
  while (i < s.length) {
    if (s.startsWith('COMMAND=', i)) {
      f.command = s.slice(i + 8);
      break;
    }
    let end = s.indexOf(' ; ', i);
    if (end < 0) end = s.length;
    const eq = s.indexOf('=', i);
    if (eq > i && eq < end) {
      const key = s.slice(i, eq);
      const val = s.slice(eq + 1, end);
      if (key === 'TTY') f.tty = val;
      else if (key === 'PWD') f.pwd = val;
      else if (key === 'USER') f.runas = val;
    } else if (f.reason === '') f.reason = s.slice(i, end);
    i = end + 3;
  }
  return f;
}

/** Split a command line on blanks (sudo logs argv joined by single spaces; quoting is lost). */
export function splitArgs(cmd: string): string[] {
  const out: string[] = [];
  let start = -1;
  for (let i = 0; i <= cmd.length; i++) {
    const blank = i === cmd.length || cmd.charCodeAt(i) === 32 || cmd.charCodeAt(i) === 9;
    if (blank) {
      if (start >= 0) out.push(cmd.slice(start, i));
      start = -1;
    } else if (start < 0) start = i;
  }
  return out;
}

function applyCommand(ev: TwEvent, f: SudoFields): void {
  const p = (ev.process ??= {});
  if (f.command !== '') {
    p.command_line = f.command;
    const args = splitArgs(f.command);
    p.args = args;
    p.args_count = args.length;
    if (args.length > 0) p.executable = args[0];
  }
  if (f.pwd !== '') p.working_directory = f.pwd;
  if (f.tty !== '' && f.tty !== 'unknown') p.tty = { name: f.tty.startsWith('/dev/') ? f.tty.slice(5) : f.tty };
}

/**
 * The process is the command (an ECS process start): sudo logs its resolved
 * path as COMMAND's first word and runs it as its child, so sudo (the syslog
 * program and pid of the line) becomes the parent. After classify: the
 * attempt ledger keys on sudo's pid.
 */
function commandAsProcess(ev: TwEvent): void {
  const p = ev.process;
  const exe = p?.executable;
  if (p === undefined || exe === undefined) return;
  const parent: NonNullable<typeof p.parent> = { name: p.name ?? 'sudo' };
  if (p.pid !== undefined) parent.pid = p.pid;
  p.parent = parent;
  p.pid = undefined;
  const slash = exe.lastIndexOf('/');
  p.name = slash < 0 ? exe : exe.slice(slash + 1);
}

function classify(ev: TwEvent, reason: string, st: DecodeState): void {
  if (reason === '') {
    categorise(ev, D, DS, ACTIONS.sudoCommand, 'process', 'start', 'success');
    return;
  }
  const d = skipDigits(reason, 0);
  if (d > 0 && reason.startsWith(' incorrect password attempt', d)) {
    // One line for all the wrong passwords of one sudo run (the PAM line may have counted the first).
    categorise(ev, D, DS, ACTIONS.sudoAuthFailure, 'authentication', 'start', 'failure');
    summaryLine(st, ev, parseUint(reason, 0, d));
  } else if (reason.startsWith('a password is required')) {
    // sudo -n without cached credentials: no password was tried.
    categorise(ev, D, DS, ACTIONS.sudoAuthFailure, 'authentication', 'info', 'failure');
  } else if (reason.includes('NOT in sudoers') || reason.includes('not allowed') || reason.includes('NOT authorized')) {
    categorise(ev, D, DS, ACTIONS.sudoNotAllowed, 'process', 'denied', 'failure');
  } else {
    categorise(ev, D, DS, ACTIONS.sudoNotAllowed, 'process', 'info', 'failure');
  }
  ev.event.reason = reason;
}

export function decodeSudo(ev: TwEvent, raw: string, st: DecodeState): boolean {
  if (raw.startsWith('pam_')) return decodePam(ev, raw, st);
  if (raw.startsWith('PAM ')) return decodePamMore(ev, raw, st);
  // Some sudo builds pad the line: "sudo:    alice : TTY=…".
  let at = 0;
  while (at < raw.length && raw.charCodeAt(at) === 32) at++;
  const sep = raw.indexOf(' : ', at);
  if (sep <= at || sep - at > 64) return false;
  const user = raw.slice(at, sep);
  if (user.indexOf(' ') >= 0) return false;
  const body = raw.slice(sep + 3);
  if (body.startsWith('(command continued) ')) {
    categorise(ev, D, DS, ACTIONS.sudoCommandContinued, 'process', 'info', 'unknown');
    (ev.process ??= {}).command_line = body.slice(20);
    setUser(ev, user);
    relateHost(ev);
    return true;
  }
  if (body.indexOf('=') < 0) return false; // "alice : unable to resolve host …" and the like
  const f = fields(body);
  if (f.reason === '' && f.command === '' && f.tty === '') return false;
  setUser(ev, user);
  setTargetUser(ev, f.runas);
  applyCommand(ev, f);
  relateHost(ev);
  classify(ev, f.reason, st);
  commandAsProcess(ev);
  return true;
}
