// The speaker's narrow I/O interfaces: the decisions are tested against fakes of these.
import type { RouteTable } from './interface';

export interface Clock {
  now(): number;
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
   * Duplicate address detection for an IPv4 address this node holds (`arping -D`): whether another
   * host answers for it, and its MAC. The node's own kernel does not answer its own probe. Rejects
   * when no probe could be sent (no interface, link down).
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
