// The speaker's narrow I/O interfaces: the decisions are tested against fakes of these.
import type { RouteTable } from './interface';

/**
 * `now()` is monotonic (ms, any origin): every decision is timed by it, so a wall clock that steps
 * (NTP, an operator) or differs between nodes changes nothing. `wallNow()` is what is written for
 * people and the API: Lease renewTime, status timestamps.
 */
export interface Clock {
  now(): number;
  wallNow(): number;
}

export interface NetworkOps {
  /** `ip addr add <addr>/32|/128 nodad dev <iface>`; an address already there is no error. */
  addAddress(address: string, iface: string): Promise<void>;
  /** `ip addr del ...`; an address already gone is no error. */
  removeAddress(address: string, iface: string): Promise<void>;
  /** Links with their addresses, and the default-route interfaces. */
  listAddresses(): Promise<RouteTable>;
  /** Starts the gratuitous ARPs (IPv6: an unsolicited NA) without waiting for them to finish. */
  sendGratuitous(address: string, iface: string): void;
  /**
   * Whether another host answers for an address this node holds, and its MAC: `arping -D` for IPv4,
   * a neighbour solicitation by `ndisc6` for IPv6. The node's own kernel does not answer its own
   * probe. Rejects when no probe could be sent (no interface, link down).
   */
  probeDuplicate(address: string, iface: string): Promise<DuplicateProbe>;
  /** The interface to announce `address` on (see chooseInterface). */
  routeInterfaceFor(address: string, configured: readonly string[]): Promise<string | undefined>;
}

export interface DuplicateProbe {
  duplicate: boolean;
  /** The MAC address of the host that answered. */
  mac?: string;
}
