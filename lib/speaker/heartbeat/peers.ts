// Where a speaker's heartbeats go. Each speaker writes the address and port it listens on into an
// annotation of its own Lease; the others read it from the Leases they already watch.
//
// Why the Lease and not the Node object: the Leases are exactly the running speakers (the peers),
// the speaker already watches them (no extra watch, no Node RBAC), and the address is the one the
// speaker bound, not a guess among a Node's InternalIP/ExternalIP entries. It costs no extra write:
// the annotation rides on the Lease the speaker creates and renews anyway.
import { canonicalAddress } from '../../address/pool';
import type { LeaseState } from '../../model';

export const HEARTBEAT_ANNOTATION = 'network.deckhouse.io/heartbeat-endpoints';
export const DEFAULT_HEARTBEAT_PORT = 7947;

export interface Endpoint {
  /** Canonical IPv4 or IPv6 text. */
  address: string;
  port: number;
}

export interface HeartbeatPeer {
  node: string;
  endpoints: readonly Endpoint[];
}

/** `10.0.0.11:7947,[fd00::11]:7947` */
export function formatEndpoints(endpoints: readonly Endpoint[]): string {
  return endpoints
    .map((e) => (e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`))
    .join(',');
}

/** The endpoints in an annotation value; entries that do not parse are left out, never thrown. */
export function parseEndpoints(value: string | undefined): Endpoint[] {
  if (!value) return [];
  const out: Endpoint[] = [];
  for (const raw of value.split(',').slice(0, 8)) {
    const m = /^\s*(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})\s*$/.exec(raw);
    const text = m?.[1] ?? m?.[2];
    const port = Number(m?.[3]);
    const address = text === undefined ? undefined : canonicalAddress(text);
    if (!address || !(port > 0 && port < 65536)) continue;
    if ((m?.[1] !== undefined) !== address.includes(':')) continue;
    out.push({ address, port });
  }
  return out;
}

/** The heartbeat peers: every speaker Lease that names where it listens (this node's own included). */
export function peersFromLeases(leases: readonly LeaseState[]): HeartbeatPeer[] {
  return leases.flatMap((l) => {
    const endpoints = parseEndpoints(l.heartbeatEndpoints);
    return endpoints.length ? [{ node: l.node, endpoints }] : [];
  });
}
