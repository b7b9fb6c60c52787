// Which interface an address is announced on: one of the L2LoadBalancer's `interfaces` when it
// lists any (the one whose subnet holds the address, else the first present), otherwise the
// interface whose subnet holds the address, otherwise the one with the default route.
import { familyOf, subnetContains } from './pools';

export interface LinkAddress {
  address: string;
  prefixLength: number;
}

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

/** Host-length addresses on non-loopback links: where an earlier run's announcements would be. */
export function hostAddresses(table: RouteTable): { address: string; iface: string }[] {
  return table.links
    .filter((l) => l.name !== 'lo')
    .flatMap((l) =>
      l.addresses
        .filter((a) => a.prefixLength === fullLength(a.address))
        .map((a) => ({ address: a.address, iface: l.name })),
    );
}
