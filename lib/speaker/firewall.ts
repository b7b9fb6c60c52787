// The port filter on public addresses: the speaker puts each public address on the node's uplink,
// so without a filter every host-network listener of a balancer node (sshd, node-exporter, the
// speaker's own /metrics on 0.0.0.0:9474) would answer on every public IP. This module turns the
// addresses the speaker holds and their Services' ports into an nftables ruleset for the speaker's
// own table; images/speaker/firewall.ts applies it with `nft -f -`.
//
// Only locally delivered traffic is filtered (the `input` hook). kube-proxy (iptables, nftables or
// IPVS-less modes) rewrites the destination of a LoadBalancer IP in prerouting (DNAT to a Pod), so
// Service traffic is forwarded and never reaches `input`; whatever reaches `input` with a public
// address still as its destination is for a host listener, and only the Service's own
// protocol/port pairs may pass there (hostNetwork backends, kube-proxy's IPVS mode, which delivers
// to the address locally). The node's own addresses are not matched, so nothing changes for them.
// ARP is not IP traffic and never passes an `inet` table; the ICMPv6 that neighbour discovery needs
// is accepted explicitly.
import { isIPv4, isIPv6 } from 'node:net';
import type { SpeakerIndex, ServicePort } from './types';

/** `table inet l2lb`: the speaker's own, created, replaced and deleted only by the speaker. */
export const FIREWALL_FAMILY = 'inet';
export const FIREWALL_TABLE = 'l2lb';

/** A public address this node holds and the protocol/port pairs that answer on it. */
export interface FilteredAddress {
  address: string;
  ports: readonly ServicePort[];
}

const PROTOCOL = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' } as const;

/**
 * ICMP that keeps a public address usable: ping, and the errors that path MTU discovery and
 * traceroute rely on (those of a connection are accepted as `related` anyway).
 */
const ICMP_TYPES = ['echo-request', 'destination-unreachable', 'time-exceeded', 'parameter-problem'];
/**
 * ICMPv6 an IPv6 address cannot work without: neighbour solicitations sent straight to the address
 * (reachability checks of a client's neighbour cache) and advertisements, plus ping and the errors
 * (packet-too-big is IPv6's path MTU discovery).
 */
const ICMPV6_TYPES = [
  'echo-request',
  'nd-neighbor-solicit',
  'nd-neighbor-advert',
  'packet-too-big',
  'destination-unreachable',
  'time-exceeded',
  'parameter-problem',
];

/**
 * The filtered addresses for what the speaker holds: each held address with the ports of its
 * index (`spec.ports`). An address held for no known index (a leftover of an earlier run, not yet
 * claimed) takes the ports of the index that names it, or none: it answers ICMP only.
 */
export function filteredAddresses(
  held: readonly { address: string; indexKey?: string }[],
  indices: readonly SpeakerIndex[],
): FilteredAddress[] {
  const byKey = new Map(indices.map((i) => [i.key, i]));
  return held.map((h) => {
    const index =
      (h.indexKey !== undefined ? byKey.get(h.indexKey) : undefined) ??
      indices.find((i) => i.address === h.address);
    return { address: h.address, ports: index?.ports ?? [] };
  });
}

const validPort = (p: ServicePort): boolean =>
  Number.isInteger(p.port) && p.port >= 1 && p.port <= 65535 && p.protocol in PROTOCOL;

/**
 * The whole table as one `nft -f -` script that replaces it atomically: `table` creates it when it
 * is missing (so that `delete` cannot fail), `delete` drops the old one, and the new definition
 * follows, all in one transaction. No other table is named. Deterministic (sorted), so that equal
 * inputs give equal text and the shell applies only a change.
 */
export function firewallRuleset(addresses: readonly FilteredAddress[]): string {
  const v4 = new Set<string>();
  const v6 = new Set<string>();
  const services4 = new Set<string>();
  const services6 = new Set<string>();
  for (const a of addresses) {
    // The addresses come canonical from the parsed indices; anything else never reaches nft's parser.
    const family = isIPv4(a.address) ? v4 : isIPv6(a.address) ? v6 : undefined;
    if (!family) continue;
    family.add(a.address);
    for (const p of a.ports.filter(validPort))
      (family === v4 ? services4 : services6).add(`${a.address} . ${PROTOCOL[p.protocol]} . ${p.port}`);
  }
  const elements = (values: Set<string>): string[] =>
    values.size ? [`    elements = { ${[...values].sort().join(', ')} }`] : [];
  const set = (name: string, type: string, values: Set<string>): string[] => [
    `  set ${name} {`,
    `    type ${type}`,
    ...elements(values),
    '  }',
  ];
  return [
    `table ${FIREWALL_FAMILY} ${FIREWALL_TABLE}`,
    `delete table ${FIREWALL_FAMILY} ${FIREWALL_TABLE}`,
    `table ${FIREWALL_FAMILY} ${FIREWALL_TABLE} {`,
    ...set('public4', 'ipv4_addr', v4),
    ...set('public6', 'ipv6_addr', v6),
    ...set('service4', 'ipv4_addr . inet_proto . inet_service', services4),
    ...set('service6', 'ipv6_addr . inet_proto . inet_service', services6),
    // Locally delivered traffic only; forwarded Service traffic (kube-proxy's DNAT in prerouting)
    // never passes here. The policy accepts: the node's own addresses are not this table's business.
    '  chain input {',
    '    type filter hook input priority filter; policy accept;',
    '    ip daddr @public4 jump public',
    '    ip6 daddr @public6 jump public',
    '  }',
    '  chain public {',
    // Replies to what the node itself started, and ICMP errors about an accepted connection.
    '    ct state established,related accept',
    '    ip daddr . meta l4proto . th dport @service4 accept',
    '    ip6 daddr . meta l4proto . th dport @service6 accept',
    `    icmp type { ${ICMP_TYPES.join(', ')} } accept`,
    `    icmpv6 type { ${ICMPV6_TYPES.join(', ')} } accept`,
    '    counter drop',
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Removes the speaker's table (graceful stop, filter switched off); no error when it is absent. */
export function firewallRemoval(): string {
  return [
    `table ${FIREWALL_FAMILY} ${FIREWALL_TABLE}`,
    `delete table ${FIREWALL_FAMILY} ${FIREWALL_TABLE}`,
    '',
  ].join('\n');
}
