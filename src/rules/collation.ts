// Collation: was a login to a managed account made through the gateway?
// Managed accounts are the configured ones plus every account the gateway has
// opened a session to. A login from a gateway address is "gateway" (for any
// account); to a managed account from anywhere else "direct" (someone used a password or key the gateway does not
// control); without a source address "unknown".
import { BlockList, isIP } from 'node:net';
import type { TwEvent } from '../event.js';
import { ACTIONS } from './decoders/vocabulary.js';

const MAX_SEEN_ACCOUNTS = 100_000;
const MAX_VERDICTS = 10_000;

export interface CollationConfig {
  gateway_addresses: string[];
  managed_accounts: string[];
}

export class Collator {
  private readonly gateways = new BlockList();
  private readonly anyGateway: boolean;
  /** ip -> isGateway: BlockList.check builds a SocketAddress per call, far dearer than the rest of collation. */
  private readonly verdicts = new Map<string, boolean>();
  private readonly configured: Set<string>;
  /** account -> latest gateway session id, insertion-ordered for the cap. */
  private readonly sessions = new Map<string, string>();

  constructor(cfg: CollationConfig) {
    for (const a of cfg.gateway_addresses) addAddress(this.gateways, a);
    this.anyGateway = cfg.gateway_addresses.length > 0;
    this.configured = new Set(cfg.managed_accounts);
  }

  isManaged(account: string): boolean {
    return this.configured.has(account) || this.sessions.has(account);
  }

  isGateway(ip: string): boolean {
    if (!this.anyGateway) return false;
    let v = this.verdicts.get(ip);
    if (v === undefined) {
      const fam = isIP(ip);
      v = fam !== 0 && this.gateways.check(ip, fam === 4 ? 'ipv4' : 'ipv6');
      if (this.verdicts.size >= MAX_VERDICTS) this.verdicts.clear();
      this.verdicts.set(ip, v);
    }
    return v;
  }

  enrich(ev: TwEvent): void {
    const action = ev.event.action;
    if (action === ACTIONS.gatewaySessionStart) return this.noteSession(ev);
    if (action !== ACTIONS.sshLogin) return;
    const user = ev.user?.name;
    if (!user) return;
    const ip = ev.source?.ip;
    // Any login from the gateway came through it (the gateway's own management
    // logins included, to whatever account); elsewhere only managed accounts are judged.
    const viaGateway = !!ip && this.isGateway(ip);
    if (!viaGateway && !this.isManaged(user)) return;
    const verdict = viaGateway ? 'gateway' : !ip ? 'unknown' : 'direct';
    const tw = (ev.trailwatch ??= {});
    tw.collation = { verdict };
    const session = this.sessions.get(user);
    if (verdict === 'gateway' && session) tw.collation.gateway_session = session;
  }

  private noteSession(ev: TwEvent): void {
    const account = ev.trailwatch?.session?.account;
    if (!account) return;
    this.sessions.delete(account);
    if (this.sessions.size >= MAX_SEEN_ACCOUNTS) this.sessions.delete(this.sessions.keys().next().value!);
    this.sessions.set(account, ev.trailwatch?.session?.id ?? '');
  }
}

/** An IP or CIDR into a BlockList; throws with the bad value. */
export function addAddress(bl: BlockList, value: string): void {
  const [addr, bits] = value.split('/');
  const fam = isIP(addr);
  const max = fam === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (!fam || !Number.isInteger(prefix) || prefix < 0 || prefix > max) throw new Error(`"${value}" is not an IP address or CIDR`);
  bl.addSubnet(addr, prefix, fam === 4 ? 'ipv4' : 'ipv6');
}
