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
  /** The interface to announce `address` on (see chooseInterface). */
  routeInterfaceFor(address: string, configured: readonly string[]): Promise<string | undefined>;
}
