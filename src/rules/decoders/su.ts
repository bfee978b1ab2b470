// su: util-linux ("FAILED SU (to root) alice on pts/0", "(to root) alice on
// pts/0"), shadow ("FAILED su for root by alice", "Successful su for root by
// alice", then "- /dev/pts/1 alice:root"), busybox ("+ /dev/pts/0 alice:root"
// only) and the PAM lines of the su / su-l services.
import type { Outcome, TwEvent } from '../../event.js';
import { ACTIONS, DATASETS } from './vocabulary.js';
import { categorise, relateHost, setTargetUser, setUser } from './fields.js';
import { decodePam, decodePamMore } from './pam.js';
import { onceLine, type DecodeState } from './state.js';

const D = 'su';
const DS = DATASETS.su;

function setTty(ev: TwEvent, tty: string): void {
  if (tty === '' || tty === 'none' || tty === '???') return;
  (ev.process ??= {}).tty = { name: tty.startsWith('/dev/') ? tty.slice(5) : tty };
}

/** su tries once per run and may say so on three lines (PAM, "FAILED su for", "- tty"): the first counts. */
function result(ev: TwEvent, ok: boolean, st: DecodeState): void {
  const outcome: Outcome = ok ? 'success' : 'failure';
  categorise(ev, D, DS, ok ? ACTIONS.suSuccess : ACTIONS.suFailure, 'authentication', 'start', outcome);
  onceLine(st, ev, ok);
}

/** "(to root) alice on pts/0" after an optional "FAILED SU " (util-linux). */
function toLine(ev: TwEvent, msg: string, at: number, ok: boolean, st: DecodeState): boolean {
  const close = msg.indexOf(') ', at + 4);
  if (close < 0) return false;
  const on = msg.lastIndexOf(' on ');
  if (on < close) return false;
  result(ev, ok, st);
  setUser(ev, msg.slice(close + 2, on));
  setTargetUser(ev, msg.slice(at + 4, close));
  setTty(ev, msg.slice(on + 4));
  relateHost(ev);
  return true;
}

/** shadow: "FAILED su for root by alice" / "Successful su for root by alice". */
function forBy(ev: TwEvent, msg: string, at: number, ok: boolean, st: DecodeState): boolean {
  const by = msg.indexOf(' by ', at);
  if (by < 0) return false;
  result(ev, ok, st);
  setUser(ev, msg.slice(by + 4));
  setTargetUser(ev, msg.slice(at, by));
  relateHost(ev);
  return true;
}

/** "+ /dev/pts/1 alice:root" / "- /dev/pts/1 alice:root" (shadow after its own line, busybox alone). */
function sulog(ev: TwEvent, msg: string, ok: boolean, st: DecodeState): boolean {
  const sp = msg.indexOf(' ', 2);
  if (sp < 0) return false;
  const pair = msg.slice(sp + 1);
  const colon = pair.indexOf(':');
  if (colon < 0 || pair.indexOf(' ') >= 0) return false;
  result(ev, ok, st);
  setUser(ev, pair.slice(0, colon));
  setTargetUser(ev, pair.slice(colon + 1));
  setTty(ev, msg.slice(2, sp));
  relateHost(ev);
  return true;
}

export function decodeSu(ev: TwEvent, msg: string, st: DecodeState): boolean {
  const c = msg.charCodeAt(0);
  if (c === 40 /* ( */ && msg.startsWith('(to ')) return toLine(ev, msg, 0, true, st);
  if (c === 70 /* F */) {
    if (msg.startsWith('FAILED SU (to ')) return toLine(ev, msg, 10, false, st);
    if (msg.startsWith('FAILED su for ')) return forBy(ev, msg, 14, false, st);
    return false;
  }
  if (c === 83 /* S */ && msg.startsWith('Successful su for ')) return forBy(ev, msg, 18, true, st);
  if ((c === 43 /* + */ || c === 45) /* - */ && msg.charCodeAt(1) === 32) return sulog(ev, msg, c === 43, st);
  if (c === 112 /* p */) {
    if (msg.startsWith('pam_authenticate: Authentication failure')) {
      // shadow su's own echo of the PAM result; "FAILED su for" carries the attempt.
      categorise(ev, D, DS, ACTIONS.pamAuthFailure, 'authentication', 'info', 'failure');
      relateHost(ev);
      return true;
    }
    if (msg.startsWith('pam_')) return decodePam(ev, msg, st);
  }
  if (c === 80 /* P */ && msg.startsWith('PAM ')) return decodePamMore(ev, msg, st);
  return false;
}
