// SSRF guard for outgoing webhooks. Every address a receiver's host resolves to
// is checked inside the socket's own lookup, so the checked address is the one
// connected to (no DNS-rebinding gap). Policy:
//   - public addresses: allowed
//   - loopback and private (RFC 1918, CGNAT, fc00::/7): only with allow_private
//   - link-local and cloud metadata (169.254/16, fe80::/10, fd00:ec2::254,
//     metadata.google.internal): only with allow_link_local
//   - unspecified, multicast, reserved, broadcast: never
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { TrailwatchError } from '../../errors.js';

export type AddressClass = 'public' | 'loopback' | 'private' | 'link-local' | 'metadata' | 'forbidden';
export interface SsrfPolicy {
  allowPrivate: boolean;
  allowLinkLocal: boolean;
}

function list(entries: [string, number, 'ipv4' | 'ipv6'][]): BlockList {
  const b = new BlockList();
  for (const [net, prefix, type] of entries) b.addSubnet(net, prefix, type);
  return b;
}

const METADATA = list([
  ['169.254.169.254', 32, 'ipv4'],
  ['169.254.170.2', 32, 'ipv4'], // ECS task metadata
  ['fd00:ec2::254', 128, 'ipv6'],
]);
const LINK_LOCAL = list([
  ['169.254.0.0', 16, 'ipv4'],
  ['fe80::', 10, 'ipv6'],
]);
const LOOPBACK = list([
  ['127.0.0.0', 8, 'ipv4'],
  ['::1', 128, 'ipv6'],
]);
const PRIVATE = list([
  ['10.0.0.0', 8, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'],
  ['fc00::', 7, 'ipv6'],
]);
const FORBIDDEN = list([
  ['0.0.0.0', 8, 'ipv4'],
  ['224.0.0.0', 4, 'ipv4'],
  ['240.0.0.0', 4, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['ff00::', 8, 'ipv6'],
]);
const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata.goog', 'metadata']);

/** IPv4-mapped and NAT64 IPv6 addresses are judged by the IPv4 address inside. */
function embeddedV4(ip: string): string | undefined {
  const m = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (m) return m[1];
  const h = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
  if (h) {
    const a = parseInt(h[1], 16);
    const b = parseInt(h[2], 16);
    return `${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`;
  }
  return undefined;
}

export function classifyAddress(ip: string): AddressClass {
  const v4 = embeddedV4(ip);
  if (v4) return classifyAddress(v4);
  const fam = isIP(ip);
  if (!fam) return 'forbidden';
  const type = fam === 4 ? 'ipv4' : 'ipv6';
  if (METADATA.check(ip, type)) return 'metadata';
  if (LINK_LOCAL.check(ip, type)) return 'link-local';
  if (FORBIDDEN.check(ip, type)) return 'forbidden';
  if (LOOPBACK.check(ip, type)) return 'loopback';
  if (PRIVATE.check(ip, type)) return 'private';
  return 'public';
}

export function addressAllowed(ip: string, p: SsrfPolicy): boolean {
  const c = classifyAddress(ip);
  if (c === 'public') return true;
  if (c === 'loopback' || c === 'private') return p.allowPrivate;
  if (c === 'link-local' || c === 'metadata') return p.allowLinkLocal;
  return false;
}

export class SsrfError extends TrailwatchError {
  constructor(what: string, cls: AddressClass | 'metadata-host') {
    super(
      'TW_WEBHOOK_SSRF',
      `refused to connect to ${what} (${cls} address); set sinks.webhook.${cls === 'loopback' || cls === 'private' ? 'allow_private' : 'allow_link_local'}: true if this receiver is meant to be there`,
      { retriable: false },
    );
  }
}

/** Check a URL's host before connecting (IP literals never reach lookup). */
export function checkHost(hostname: string, p: SsrfPolicy): void {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '');
  if (METADATA_HOSTS.has(host) && !p.allowLinkLocal) throw new SsrfError(host, 'metadata-host');
  if (isIP(host) && !addressAllowed(host, p)) throw new SsrfError(host, classifyAddress(host));
}

type LookupCb = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A socket lookup function that refuses disallowed addresses. */
export function guardedLookup(p: SsrfPolicy) {
  return (hostname: string, options: { all?: boolean; family?: number | string }, cb: LookupCb): void => {
    dnsLookup(hostname, { family: options.family as number | undefined, all: true }, (err, addrs) => {
      if (err) return cb(err, '');
      // Refuse when any address is disallowed: the resolver could hand out either.
      const bad = addrs.find((a) => !addressAllowed(a.address, p));
      if (bad) return cb(new SsrfError(hostname, classifyAddress(bad.address)) as unknown as NodeJS.ErrnoException, '');
      if (options.all) return cb(null, addrs);
      cb(null, addrs[0].address, addrs[0].family);
    });
  };
}
