// Which addresses the speaker may announce: only those inside some L2LoadBalancer's pool. Pool
// parsing and membership are lib/address/pool.ts's, so the speaker and the allocator agree on
// every entry (a CIDR's network and broadcast addresses are in neither).
import ipaddr from 'ipaddr.js';
import { canonicalAddress, parsePool, poolContains, type Pool } from '../address/pool';

export { canonicalAddress, poolContains };
export type SpeakerPool = Pool;

/** The valid entries of a pool; the control loop reports the invalid ones. */
export function parseSpeakerPool(entries: readonly string[]): SpeakerPool {
  return parsePool(entries).pool;
}

/** The address family of a canonical address. */
export function familyOf(address: string): 'ipv4' | 'ipv6' {
  return address.includes(':') ? 'ipv6' : 'ipv4';
}

/** Whether `address` lies in the subnet `network/prefixLength` (same family only). */
export function subnetContains(network: string, prefixLength: number, address: string): boolean {
  if (!ipaddr.isValid(network) || !ipaddr.isValid(address)) return false;
  const net = ipaddr.parse(network);
  const addr = ipaddr.parse(address);
  if (net.kind() !== addr.kind()) return false;
  return addr.match(net, prefixLength);
}
