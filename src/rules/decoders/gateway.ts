// The gateway's session-log events arrive already structured
// (event.dataset "trailwatch.gateway"). The gateway sets event.action (one of
// the gateway-* values in vocabulary.ts), trailwatch.session.{id, operator,
// account, target, offset, recording}, source.ip (the operator's address),
// process.command_line (commands), trailwatch.transfer.* and file.* (transfers),
// and event.outcome where it knows it. This decoder completes the rest the
// same way for every event: ECS categorisation, user.name / user.target.name,
// destination, process.args, related.*.
import type { Outcome, TwEvent } from '../../event.js';
import { ACTIONS, DATASETS } from './vocabulary.js';
import { addRelatedHost, addRelatedIp, addRelatedUser, isIPv4, relateHost } from './fields.js';
import { splitArgs } from './sudo.js';

const D = 'gateway';

interface Shape {
  category: string[];
  type: string[];
  outcome: Outcome;
}

// A command is a process start (so rules on ECS process starts, Sigma's
// process_creation, see every command); a blocked one is a start that was
// refused: start pairs with process, denied with intrusion_detection, and the
// outcome is failure. Neither is authentication, so no command counts as a
// login attempt (vocabulary.ts).

const SHAPES = new Map<string, Shape>([
  // A gateway login is one attempt in the counting convention, like an sshd "Failed/Accepted".
  [ACTIONS.gatewayLogin, { category: ['authentication'], type: ['start'], outcome: 'unknown' }],
  [ACTIONS.gatewaySessionStart, { category: ['session'], type: ['start'], outcome: 'success' }],
  [ACTIONS.gatewayForwarding, { category: ['network'], type: ['connection'], outcome: 'unknown' }],
  [ACTIONS.gatewaySessionEnd, { category: ['session'], type: ['end'], outcome: 'success' }],
  [ACTIONS.gatewaySessionTerminated, { category: ['session'], type: ['end'], outcome: 'success' }],
  [ACTIONS.gatewayCommand, { category: ['process'], type: ['start'], outcome: 'success' }],
  [ACTIONS.gatewayCommandBlocked, { category: ['process', 'intrusion_detection'], type: ['start', 'denied'], outcome: 'failure' }],
  [ACTIONS.gatewayTransfer, { category: ['file'], type: ['info'], outcome: 'unknown' }],
  [ACTIONS.gatewayRotation, { category: ['iam'], type: ['change'], outcome: 'unknown' }],
  [ACTIONS.gatewayHostKeyMismatch, { category: ['network', 'intrusion_detection'], type: ['denied'], outcome: 'failure' }],
]);

/** trailwatch.transfer.status -> event.type and default outcome. */
function transferShape(ev: TwEvent, status: string | undefined): void {
  const e = ev.event;
  switch (status) {
    case 'requested':
      e.type = ['info'];
      break;
    case 'approved':
      e.type = ['allowed'];
      e.outcome ??= 'success';
      break;
    case 'denied':
    case 'refused':
      e.type = ['denied'];
      e.outcome ??= 'failure';
      break;
    case 'completed':
      e.type = ev.trailwatch?.transfer?.direction === 'upload' ? ['creation'] : ['access'];
      e.outcome ??= 'success';
      break;
  }
}

function setDestination(ev: TwEvent, target: string): void {
  let host = target;
  // "host:port" (but not a bare IPv6 address)
  const colon = host.lastIndexOf(':');
  if (colon > 0 && host.indexOf(':') === colon) host = host.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const dst = (ev.destination ??= {});
  if (isIPv4(host) || host.indexOf(':') >= 0) {
    dst.ip ??= host;
    addRelatedIp(ev, host);
  } else {
    dst.domain ??= host;
    addRelatedHost(ev, host);
  }
}

function basename(p: string): string {
  const s = p.lastIndexOf('/');
  return s < 0 ? p : p.slice(s + 1);
}

export function decodeGateway(ev: TwEvent): boolean {
  const e = ev.event;
  e.dataset = DATASETS.gateway;
  const action = e.action;
  const shape = action === undefined ? undefined : SHAPES.get(action);
  if (shape === undefined) return false;
  e.category = shape.category.slice();
  e.type = shape.type.slice();
  if (action === ACTIONS.gatewayTransfer) transferShape(ev, ev.trailwatch?.transfer?.status);
  e.outcome ??= shape.outcome;
  (ev.trailwatch ??= {}).decoder = D;

  const s = ev.trailwatch.session;
  const operator = ev.user?.name ?? s?.operator;
  if (operator) {
    (ev.user ??= {}).name = operator;
    addRelatedUser(ev, operator);
  }
  if (s?.account) {
    const u = (ev.user ??= {});
    u.target ??= { name: s.account };
    addRelatedUser(ev, s.account);
  }
  if (s?.target) setDestination(ev, s.target);
  if (ev.source?.ip) addRelatedIp(ev, ev.source.ip);

  const p = ev.process;
  if (p?.command_line !== undefined && p.args === undefined) {
    p.args = splitArgs(p.command_line);
    p.args_count = p.args.length;
    // What the operator typed: the first word is the program as the shell will look it up.
    const first = p.args[0];
    if (first !== undefined) {
      if (first.indexOf('/') >= 0) p.executable ??= first;
      p.name ??= basename(first);
    }
  }
  relateHost(ev);
  return true;
}
