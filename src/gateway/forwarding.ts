// The forwardings a grant allows, proxied over the operator's one target
// connection: local (-L, direct-tcpip), remote (-R, tcpip-forward), agent
// (auth-agent@openssh.com) and X11. Each is refused, with an event saying why,
// unless the grant allows it; every forwarded connection is an event and is
// closed at session end.
import ssh2 from 'ssh2';
import type { Client, ClientChannel, Connection, ServerChannel, TcpConnectionDetails, TcpipBindInfo, X11Details, X11Info, X11Options } from 'ssh2';
import { ACTIONS, type Action } from '../rules/decoders/vocabulary.js';
import type { OperatorSession } from './session.js';

/**
 * Its own action, not gateway-session-start (which the web console and the
 * collation read as one per session). Not yet in the rules vocabulary
 * (src/rules belongs to another change): decoded events keep it as is.
 */
export const FORWARDING_ACTION: Action = ACTIONS.gatewayForwarding;

export type ForwardingKind = 'local' | 'remote' | 'agent' | 'x11';

const FLAG = { local: 'port_forwarding', remote: 'remote_forwarding', agent: 'agent_forwarding', x11: 'x11' } as const;
const LABEL: Record<ForwardingKind, string> = { local: 'port forwarding (-L)', remote: 'remote forwarding (-R)', agent: 'agent forwarding', x11: 'X11 forwarding' };

// ssh2's own channel window and packet size (lib/Channel.js).
const MAX_WINDOW = 2 * 1024 * 1024;
const PACKET_SIZE = 32 * 1024;

type Closable = ClientChannel | ServerChannel;
type Accept<T> = () => T;

/** What the operator asked for on one session channel, to be asked of the target in turn. */
export interface ChannelForwarding {
  x11?: X11Options;
  agent?: boolean;
  /** Why a request was refused, told to the operator when the shell or command starts. */
  notices: string[];
  /** The target refused a forwarding the gateway asked for: say so, go on without it. */
  targetRefused(kind: 'x11' | 'agent', err: Error): string;
}

export class Forwardings {
  private readonly open = new Set<Closable>();
  /** "address:port" the target listens on for this operator (-R). */
  private readonly listening = new Set<string>();
  private target: Client | null = null;

  constructor(private readonly s: OperatorSession) {}

  /** Null when the grant allows this kind, else why not. */
  private denied(kind: ForwardingKind): string | null {
    const a = this.s.access;
    if (!a) return 'no account chosen yet (connect as operator:account@target)';
    if (!a.grant[FLAG[kind]]) return `the grant does not allow ${FLAG[kind]}`;
    return null;
  }

  private event(kind: ForwardingKind, ok: boolean, message: string, detail: Record<string, unknown> = {}): void {
    this.s.ctx.events.emit({
      action: FORWARDING_ACTION,
      outcome: ok ? 'success' : 'failure',
      message: `${this.s.user.operator}: ${message}`,
      session: this.s.ref,
      reason: `${kind}-forwarding`,
      extra: { forwarding: { kind, ...detail } },
    });
  }

  private refuse(kind: ForwardingKind, what: string, why: string): string {
    this.s.ctx.log.info({ session: this.s.id, operator: this.s.user.operator, kind }, `refused ${LABEL[kind]}: ${why}`);
    this.event(kind, false, `${LABEL[kind]}${what} refused: ${why}`, { refused: why });
    return `trailwatch: ${LABEL[kind]} refused: ${why}.\r\n`;
  }

  /** The target connection is up: take its forwarded and X11 channels. */
  attach(t: Client): void {
    this.target = t;
    t.on('tcp connection', (d, accept, reject) => this.fromTarget('remote', d, accept, reject));
    t.on('x11', (d, accept, reject) => this.fromTarget('x11', d, accept, reject));
    if (this.s.access && !this.denied('agent')) bindAgent(t, new OperatorAgent(this));
  }

  /** A new session channel's record of what it asked for. */
  forChannel(): ChannelForwarding {
    return {
      notices: [],
      targetRefused: (kind, err) => {
        this.event(kind, false, `${LABEL[kind]} refused by the target ${this.s.access?.target.name}: ${err.message}`, { refused: 'target' });
        return `trailwatch: the target refused ${LABEL[kind]}; continuing without it.\r\n`;
      },
    };
  }

  /** -L: the operator opens direct-tcpip; the gateway opens it from the target. */
  direct(accept: Accept<ServerChannel>, reject: () => void, info: { destIP: string; destPort: number; srcIP: string; srcPort: number }): void {
    const dest = `${info.destIP}:${info.destPort}`;
    const why = this.denied('local');
    if (why) {
      this.refuse('local', ` to ${dest}`, why);
      return reject();
    }
    this.s
      .connect()
      .then((t) =>
        t.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (err, up) => {
          if (err) {
            this.event('local', false, `${LABEL.local} to ${dest} failed on the target: ${err.message}`, { destination: dest });
            return reject();
          }
          this.bridge(accept(), up);
          this.event('local', true, `forwards to ${dest} via ${this.s.access!.target.name}`, { destination: dest });
        }),
      )
      .catch(() => reject());
  }

  /** Global requests: tcpip-forward and cancel-tcpip-forward (-R); anything else is refused. */
  request(accept: ((port?: number) => void) | undefined, reject: (() => void) | undefined, name: string, info: TcpipBindInfo): void {
    if (name === 'tcpip-forward') return this.listen(accept, reject, info);
    if (name === 'cancel-tcpip-forward') return this.unlisten(accept, reject, info);
    this.s.ctx.log.info({ session: this.s.id, operator: this.s.user.operator }, `refused global request ${name}`);
    this.s.ctx.events.emit({ action: FORWARDING_ACTION, outcome: 'failure', message: `${this.s.user.operator}: ${name} refused: not proxied by the gateway`, session: this.s.ref, reason: 'unsupported', extra: { forwarding: { kind: name, refused: 'not proxied' } } });
    reject?.();
  }

  private listen(accept: ((port?: number) => void) | undefined, reject: (() => void) | undefined, info: TcpipBindInfo): void {
    const asked = `${info.bindAddr}:${info.bindPort}`;
    const why = this.denied('remote');
    if (why) {
      this.refuse('remote', ` on ${asked}`, why);
      return reject?.();
    }
    this.s
      .connect()
      .then((t) =>
        t.forwardIn(info.bindAddr, info.bindPort, (err, port) => {
          if (err) {
            this.event('remote', false, `${LABEL.remote} on ${asked} failed on the target: ${err.message}`, { listen: asked });
            return reject?.();
          }
          const bound = `${info.bindAddr}:${port}`;
          this.listening.add(bound);
          this.event('remote', true, `${this.s.access!.target.name} listens on ${bound} for ${this.s.user.operator}`, { listen: bound });
          accept?.(port);
        }),
      )
      .catch(() => reject?.());
  }

  private unlisten(accept: ((port?: number) => void) | undefined, reject: (() => void) | undefined, info: TcpipBindInfo): void {
    const bound = `${info.bindAddr}:${info.bindPort}`;
    const t = this.target;
    if (!t || !this.listening.delete(bound)) return reject?.();
    try {
      t.unforwardIn(info.bindAddr, info.bindPort, (err) => {
        if (err) return reject?.();
        this.event('remote', true, `${this.s.access!.target.name} no longer listens on ${bound}`, { listen: bound, cancelled: true });
        accept?.();
      });
    } catch {
      reject?.(); // the target connection is gone, and its listeners with it
    }
  }

  /** The target opened a forwarded-tcpip (-R) or x11 channel: open the same towards the operator. */
  private fromTarget(kind: 'remote' | 'x11', d: TcpConnectionDetails | X11Details, accept: Accept<ClientChannel>, reject: () => void): void {
    const c = this.s.client;
    const origin = `${d.srcIP}:${d.srcPort}`;
    const done = (err: Error | undefined, down: ServerChannel): void => {
      if (err) {
        this.event(kind, false, `${LABEL[kind]} connection from ${origin} refused by the operator's client: ${err.message}`, { origin });
        return reject();
      }
      this.bridge(down, accept());
      this.event(kind, true, `${LABEL[kind]} connection from ${origin} on ${this.s.access?.target.name}`, { origin });
    };
    if (kind === 'x11') return void c.x11(d.srcIP, d.srcPort, done);
    const t = d as TcpConnectionDetails;
    // Only the ports this operator asked for (ssh2 already rejects any other).
    if (!this.listening.has(`${t.destIP}:${t.destPort}`)) return reject();
    c.forwardOut(t.destIP, t.destPort, t.srcIP, t.srcPort, done);
  }

  /** auth-agent-req on a session channel. */
  agentRequest(accept: (() => void) | undefined, reject: (() => void) | undefined, fwd: ChannelForwarding): void {
    const why = this.denied('agent') ?? (canOpenAgentChannels(this.s.client) ? null : 'not supported by this version of ssh2');
    if (why) {
      fwd.notices.push(this.refuse('agent', '', why));
      return reject?.();
    }
    fwd.agent = true;
    accept?.();
  }

  /** x11-req on a session channel: the operator's (already fake) cookie is passed on as is. */
  x11Request(accept: (() => void) | undefined, reject: (() => void) | undefined, fwd: ChannelForwarding, x: X11Info): void {
    const why = this.denied('x11');
    if (why) {
      fwd.notices.push(this.refuse('x11', '', why));
      return reject?.();
    }
    const cookie: unknown = x.cookie;
    fwd.x11 = { single: x.single, screen: x.screen, protocol: x.protocol, cookie: Buffer.isBuffer(cookie) ? cookie.toString('latin1') : String(cookie) };
    accept?.();
  }

  /** The target wants the operator's agent (its auth-agent@openssh.com channel). */
  agentStream(cb: (err: Error | undefined, stream?: ServerChannel) => void): void {
    openAgentChannel(this.s.client, (err, down) => {
      if (err || !down) {
        this.event('agent', false, `agent request from ${this.s.access?.target.name} refused by the operator's client: ${err?.message ?? 'no channel'}`);
        return cb(err ?? new Error('no channel'));
      }
      this.track(down);
      this.event('agent', true, `${this.s.access?.target.name} used ${this.s.user.operator}'s forwarded agent (as ${this.s.access?.account})`);
      cb(undefined, down);
    });
  }

  private track(ch: Closable): void {
    this.open.add(ch);
    ch.once('close', () => this.open.delete(ch));
  }

  private bridge(down: ServerChannel, up: ClientChannel): void {
    this.track(down);
    this.track(up);
    down.on('error', () => up.close());
    up.on('error', () => down.close());
    down.pipe(up).pipe(down);
  }

  /** Session end: close every forwarded channel still open. */
  closeAll(): void {
    for (const ch of this.open) ch.close();
    this.open.clear();
    this.listening.clear();
  }
}

/**
 * Open a shell or exec on the target asking for the forwardings the operator
 * asked for. ssh2 fails the whole channel when the target refuses one of them;
 * OpenSSH's client goes on without it, and so does the gateway (telling the operator).
 */
export function openForwarded(
  fwd: ChannelForwarding | undefined,
  warn: (msg: string) => void,
  open: (o: { x11?: X11Options; agentForward?: boolean }, cb: (err: Error | undefined, t: ClientChannel) => void) => void,
  cb: (err: Error | undefined, t: ClientChannel) => void,
): void {
  const o = { ...(fwd?.x11 ? { x11: fwd.x11 } : {}), ...(fwd?.agent ? { agentForward: true } : {}) };
  open(o, (err, t) => {
    if (!err || !fwd) return cb(err, t);
    const kind = o.x11 && /x11/i.test(err.message) ? 'x11' : o.agentForward && /agent/i.test(err.message) ? 'agent' : null;
    if (!kind) return cb(err, t);
    warn(fwd.targetRefused(kind, err));
    openForwarded({ ...fwd, ...(kind === 'x11' ? { x11: undefined } : { agent: false }) }, warn, open, cb);
  });
}

/**
 * The operator's agent as seen from the target connection. It only ever
 * hands out a stream to the operator's agent for a channel the target opened;
 * it lists no keys and signs nothing for the gateway itself, so the gateway
 * cannot log in anywhere with it (the target login is the rotated password).
 */
class OperatorAgent extends ssh2.BaseAgent {
  constructor(private readonly f: Forwardings) {
    super();
  }

  getIdentities(cb: (err: Error | undefined, keys?: never[]) => void): void {
    cb(new Error('the gateway does not authenticate with an operator\'s agent'));
  }

  sign(_key: unknown, _data: Buffer, options: unknown, cb?: (err: Error | undefined) => void): void {
    const done = typeof options === 'function' ? (options as (err: Error | undefined) => void) : cb;
    done?.(new Error('the gateway does not sign with an operator\'s agent'));
  }

  override getStream(cb: (err: Error | undefined, stream?: ServerChannel) => void): void {
    this.f.agentStream(cb);
  }
}

// ssh2 (1.x) takes an agent only in connect(), and the target connection is
// made (with the rotated password) before any operator asks for anything; nor
// does its server side let us open an auth-agent@openssh.com channel, though
// its protocol layer can. These two reach into ssh2 internals, checked first.
interface ClientInternals {
  _agent?: unknown;
}
interface ConnectionInternals {
  _chanMgr?: { add(w: unknown): number };
  _protocol?: { openssh_authAgent?(id: number, window: number, packetSize: number): void };
}

function bindAgent(t: Client, agent: ssh2.BaseAgent): void {
  (t as unknown as ClientInternals)._agent = agent;
}

export function canOpenAgentChannels(c: Connection): boolean {
  const i = c as unknown as ConnectionInternals;
  return typeof i._chanMgr?.add === 'function' && typeof i._protocol?.openssh_authAgent === 'function';
}

/** Open an auth-agent@openssh.com channel to the operator, the way ssh2 opens x11 ones. */
function openAgentChannel(c: Connection, cb: (err: Error | undefined, ch?: ServerChannel) => void): void {
  if (!canOpenAgentChannels(c)) return cb(new Error('cannot open agent channels'));
  const i = c as unknown as Required<ConnectionInternals>;
  const wrapper = Object.assign((err: Error | undefined, ch?: ServerChannel) => cb(err, ch), { type: 'auth-agent@openssh.com' });
  const id = i._chanMgr.add(wrapper);
  if (id === -1) return cb(new Error('no free channels'));
  i._protocol.openssh_authAgent!(id, MAX_WINDOW, PACKET_SIZE);
}
