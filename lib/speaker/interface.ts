// Which interface an address is announced on: one of the L2LoadBalancer's `interfaces` when it
// lists any (the one whose subnet holds the address, else the first present), otherwise the
// interface whose subnet holds the address, otherwise the one with the default route.
import { familyOf, subnetContains } from './pools';

export interface LinkAddress {
  address: string;
  prefixLength: number;
  /** Added by a speaker: it carries the speaker's marker (see OWN_ADDRESS_METRIC). */
  own?: boolean;
}

/**
 * The marker of the addresses a speaker adds: the address metric (IFA_RT_PRIORITY), which both
 * families have, survives on the address and shows in `ip -j addr`. IPv4 labels (`eth0:l2lb`) do
 * not exist for IPv6 and must fit 15 bytes with the interface name; the address protocol
 * (IFA_PROTO) needs iproute2 6.2, and Debian 12 has 6.1. On a /32 or /128 the metric changes
 * nothing else: it is the metric of the address's own prefix route, which a host address has
 * none of (IPv4) or only for itself (IPv6).
 */
export const OWN_ADDRESS_METRIC = 7474;

export interface LinkInfo {
  name: string;
  addresses: readonly LinkAddress[];
}

export interface RouteTable {
  links: readonly LinkInfo[];
  /** Interface of the default route, per family. */
  defaultV4?: string;
  defaultV6?: string;
}

const fullLength = (address: string): number => (familyOf(address) === 'ipv4' ? 32 : 128);

function holdsSubnet(link: LinkInfo, address: string): boolean {
  return link.addresses.some(
    (a) => a.prefixLength < fullLength(a.address) && subnetContains(a.address, a.prefixLength, address),
  );
}

export function chooseInterface(
  address: string,
  configured: readonly string[],
  table: RouteTable,
): string | undefined {
  if (configured.length > 0) {
    const present = configured
      .map((name) => table.links.find((l) => l.name === name))
      .filter((l): l is LinkInfo => l !== undefined);
    return (present.find((l) => holdsSubnet(l, address)) ?? present[0])?.name;
  }
  const bySubnet = table.links.find((l) => l.name !== 'lo' && holdsSubnet(l, address));
  if (bySubnet) return bySubnet.name;
  return familyOf(address) === 'ipv4' ? table.defaultV4 : table.defaultV6;
}

/**
 * The addresses a speaker added (marked, host-length, off loopback): where an earlier run's
 * announcements are. Anything else on an interface is someone else's and never touched.
 */
export function ownAddresses(table: RouteTable): { address: string; iface: string }[] {
  return table.links
    .filter((l) => l.name !== 'lo')
    .flatMap((l) =>
      l.addresses
        .filter((a) => a.own === true && a.prefixLength === fullLength(a.address))
        .map((a) => ({ address: a.address, iface: l.name })),
    );
}
