// The speaker's narrow I/O interfaces: the decisions are tested against fakes of these.
import type { FilteredAddress } from './firewall';
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
  /**
   * `ip addr add <addr>/32|/128 dev <iface> metric <marker> valid_lft <s> preferred_lft <s>` (IPv6:
   * `nodad`): marked as the speaker's own, with a kernel lifetime that renewAddresses extends, so
   * the addresses of a speaker that dies (or is frozen) leave by themselves. An own address already
   * there is no error; someone else's rejects with a ForeignAddressError.
   */
  addAddress(address: string, iface: string): Promise<void>;
  /** `ip addr del ...` of an own address; an address already gone is no error. */
  removeAddress(address: string, iface: string): Promise<void>;
  /**
   * Extends the lifetime of own addresses (`ip -batch`, one process for all). `ip addr change`
   * creates an address that is gone, so callers pass only addresses known to be present.
   */
  renewAddresses(addresses: readonly { address: string; iface: string }[]): Promise<void>;
  /** Links with their addresses, and the default-route interfaces. */
  listAddresses(): Promise<RouteTable>;
  /**
   * Starts the gratuitous ARPs (IPv6: an unsolicited NA) without waiting for them to finish. The
   * commands run with bounded concurrency; `first` (the first announcement of an address whose
   * ownership was just gained) goes ahead of refreshes and later rounds.
   */
  sendGratuitous(address: string, iface: string, first?: boolean): void;
  /**
   * Whether another host answers for an address this node holds, and its MAC: `arping -D` for IPv4,
   * a neighbour solicitation by `ndisc6` for IPv6. The node's own kernel does not answer its own
   * probe. Rejects when no probe could be sent (no interface, link down).
   */
  probeDuplicate(address: string, iface: string): Promise<DuplicateProbe>;
  /** The interface to announce `address` on (see chooseInterface). */
  routeInterfaceFor(address: string, configured: readonly string[]): Promise<string | undefined>;
}

/**
 * The port filter on public addresses (images/speaker/firewall.ts over nft): only the Service's
 * protocol/port pairs answer on an address this node holds. Neither call rejects: a failure is
 * reported by the implementation and never stops an announcement.
 */
export interface PortFilter {
  /** Filters exactly these addresses; applies nothing when that is what is in place. */
  sync(addresses: readonly FilteredAddress[]): Promise<void>;
  /** Removes the filter (graceful stop). */
  remove(): Promise<void>;
}

/** The address is on the interface already, and not as a speaker's: someone else's, left alone. */
export class ForeignAddressError extends Error {}

export interface DuplicateProbe {
  duplicate: boolean;
  /** The MAC address of the host that answered. */
  mac?: string;
}
