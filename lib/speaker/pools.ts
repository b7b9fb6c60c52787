// Which addresses the speaker may announce: only those inside some L2LoadBalancer's pool. Pool
// parsing and membership are lib/address/pool.ts's, so the speaker and the allocator agree on
// every entry (a CIDR's network and broadcast addresses are in neither).
import ipaddr from 'ipaddr.js';
import {
  canonicalAddress,
  makePool,
  parsePool,
  poolContains,
  type Pool,
  type PoolEntry,
} from '../address/pool';

export { canonicalAddress, poolContains };
export type SpeakerPool = Pool;

/**
 * Space no speaker announces on a link, whatever a pool says: an address there either cannot be
 * a host's (unspecified, multicast, broadcast, reserved) or belongs to every host (loopback,
 * link-local). A pool entry that reaches into it (0.0.0.0/0, 224.0.0.0/4, ff00::/8) is refused whole:
 * it is a mistake, and announcing the unicast part of it would hide that.
 */
const NOT_ANNOUNCEABLE: readonly string[] = [
  '0.0.0.0/8',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '224.0.0.0/3',
  '::/127',
  '::ffff:0:0/96',
  'fe80::/10',
  'ff00::/8',
];
const forbidden: readonly PoolEntry[] = parsePool(NOT_ANNOUNCEABLE).pool.entries;

function reachesForbidden(e: PoolEntry): string | undefined {
  const hit = forbidden.find((f) => f.family === e.family && f.first <= e.last && e.first <= f.last);
  return hit?.text;
}

/** The entries the speaker announces from, and the ones it refuses with the reason. */
export function parseSpeakerPoolEntries(entries: readonly string[]): {
  pool: SpeakerPool;
  refused: { entry: string; message: string }[];
} {
  // One entry at a time: overlaps between entries are the control loop's to report, and harmless
  // for membership.
  const refused: { entry: string; message: string }[] = [];
  const usable: PoolEntry[] = [];
  for (const text of entries) {
    const { pool, errors } = parsePool([text]);
    for (const e of errors) refused.push({ entry: e.entry, message: e.message });
    for (const e of pool.entries) {
      const space = reachesForbidden(e);
      if (space === undefined) usable.push(e);
      else refused.push({ entry: text, message: `reaches into ${space}, which is never announced` });
    }
  }
  return { pool: makePool(usable), refused };
}

/** The entries of a pool the speaker announces from; parseSpeakerPoolEntries tells what it refused. */
export function parseSpeakerPool(entries: readonly string[]): SpeakerPool {
  return parseSpeakerPoolEntries(entries).pool;
}

/**
 * Whether `name` can be a Linux interface name (the kernel's dev_valid_name): 1 to 15 bytes, not
 * "." or "..", no "/", ":" or whitespace; and not starting with "-", which a command would read as
 * an option. Names come from L2LoadBalancer objects and reach `ip`, `arping`, `na6` and `ndisc6` as
 * arguments; one that no interface can have is refused, not tried.
 */
export function validInterfaceName(name: string): boolean {
  return (
    Buffer.byteLength(name) >= 1 &&
    Buffer.byteLength(name) <= 15 &&
    name !== '.' &&
    name !== '..' &&
    !/[/:\s]/.test(name) &&
    !name.startsWith('-')
  );
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
