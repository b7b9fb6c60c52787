// What the speaker knows and what it decides, as plain data. The shell (images/speaker) fills a
// SpeakerView from the API and the network, calls decide(), and carries the decision out.
import type { Condition, GarpSettings } from '../model';
import type { L2LBServicePort } from '../objects';
import type { TakeoverCause } from './heartbeat/combine';
import type { Verdict } from './heartbeat/liveness';
import type { SpeakerPool } from './pools';

/** `status` of an L2LBService, as the speakers write it. */
export interface IndexStatus {
  announcingNode?: string;
  announcedSince?: string;
  ingress: readonly string[];
  announced?: Condition;
}

/** One index (an L2LBService) reduced to what the speaker needs. */
export interface SpeakerIndex {
  /** `namespace/name`. */
  key: string;
  namespace: string;
  name: string;
  /** Canonical `spec.loadBalancerIP`; empty while nothing is allocated. */
  address: string;
  /** `spec.nodes`: ranked candidates, first = preferred. */
  nodes: readonly string[];
  /** Label `network.deckhouse.io/l2-load-balancer`. */
  l2lbName: string;
  /** `metadata.creationTimestamp` (RFC 3339); empty when unknown. */
  createdAt: string;
  /** `spec.serviceRef`: the Service the index announces an address of. */
  service: { namespace: string; name: string };
  /** `spec.ports`: the only ports that answer on the address (the node drops the rest). */
  ports: readonly ServicePort[];
  status: IndexStatus;
}

/** An entry of `spec.ports`, as lib/objects reads it for the control loop and the speaker alike. */
export type ServicePort = L2LBServicePort;

/** One L2LoadBalancer, reduced to its pool and its interfaces. */
export interface SpeakerBalancer {
  name: string;
  pool: SpeakerPool;
  interfaces: readonly string[];
  /** Entries of `spec.addressPool` the speaker refuses (unparseable, or covering non-unicast space). */
  refusedEntries?: readonly { entry: string; message: string }[];
  /** Names in `spec.interfaces` no Linux interface can have; with no valid name left, nothing is announced. */
  invalidInterfaces?: readonly string[];
}

/** An address this speaker has put on an interface (the shell's memory of its own actions). */
export interface HeldAddress {
  address: string;
  iface: string;
  /** The index it is held for; undefined for an address found on the interface at start. */
  indexKey?: string;
  /** Found on an interface at start, left there by an earlier run. */
  adopted: boolean;
  /** When it was added (or adopted), on the speaker's monotonic clock (ms). */
  since: number;
  /**
   * When the current round of announcements began (default: `since`). A node that becomes the
   * owner again of an address it carries starts a new round at once.
   */
  burstAt?: number;
  /** The last decision counted this node as the owner, with a fresh view. */
  owner?: boolean;
  /** Announcements sent in the current round (and refreshes after it). */
  garpsSent: number;
  lastGarpAt?: number;
  /** When this speaker stopped being the owner and began waiting for the new owner. */
  releasingSince?: number;
  /** When the last duplicate-address probe for it started. */
  lastProbeAt?: number;
  /** Another host answered the last duplicate-address probe. */
  conflict?: WireConflict;
}

/**
 * What the last duplicate-address probe found (`arping -D` for IPv4, a neighbour solicitation by
 * `ndisc6` for IPv6): another host answers for the address.
 */
export interface WireConflict {
  /** The MAC address of the host that answered, when the probe printed one. */
  mac?: string;
  /** When the probe that saw it started (monotonic ms). */
  at: number;
}

export interface SpeakerTimings {
  garp: GarpSettings;
  /** How long an old owner keeps an address for a live new owner on a planned move. */
  handoverTimeoutMs: number;
  /** The same bound while shutting down. */
  shutdownTimeoutMs: number;
  /**
   * How long after adding an address its status is first written. The status is what tells the
   * old owner to let go, so it must not come before the first gratuitous ARP reached the wire.
   */
  statusSettleMs: number;
  /** How often each held address is probed for a duplicate on the link while the view is fresh (0 = never). */
  conflictCheckMs: number;
  /**
   * How often each held address is probed while the view is stale: the probe is how a cut-off
   * speaker learns that another node took the address over, and yields it.
   */
  staleProbeMs: number;
}

/**
 * Every time in a view is on the speaker's own monotonic clock (ms): freshness never compares one
 * node's clock with another's (see lease.ts). Only the timestamps written into statuses are wall
 * clock, `wallOffsetMs` away.
 */
export interface SpeakerView {
  node: string;
  /**
   * Until when each node counts as alive (monotonic ms), this speaker's own entry included (its last
   * good renewal plus the lease duration; absent while it shuts down). A node without an entry is dead.
   */
  liveUntil: ReadonlyMap<string, number>;
  indices: readonly SpeakerIndex[];
  balancers: readonly SpeakerBalancer[];
  held: readonly HeldAddress[];
  /** Until when the speaker's own view counts as fresh (last good renewal + lease duration, watches up). */
  viewFreshUntil: number;
  shuttingDown: boolean;
  timings: SpeakerTimings;
  /** Wall-clock ms minus monotonic ms: turns a view time into a status timestamp. */
  wallOffsetMs: number;
  /**
   * Each peer's heartbeat verdict (lib/speaker/heartbeat); absent when heartbeats are off.
   * `liveUntil` has them folded in already (combineLiveness); decide() reads them for the cause of a
   * takeover and to find out whether this node is cut off from the segment (isolated).
   */
  heartbeats?: ReadonlyMap<string, Verdict>;
  /** Nodes whose Lease this speaker saw released (no renewTime): they stopped gracefully. */
  releasedLeases?: ReadonlySet<string>;
  /** The last proof that the API server saw this speaker (monotonic ms): its last good renewal. */
  apiContactAt?: number;
}

export interface Announce {
  address: string;
  indexKey: string;
  /** Interfaces configured on the index's L2LoadBalancer (empty = choose by subnet/default route). */
  interfaces: readonly string[];
  /** The node whose status said it announced this index before, when it is another node. */
  previousAnnouncer?: string;
  /**
   * When the previous announcer stopped counting as alive (its lease expired, or it was declared dead
   * or leaving by heartbeat), for the takeover latency.
   */
  previousExpiredAt?: number;
  /** Why the previous announcer lost the address, when there was one. */
  cause?: TakeoverCause;
  reason: string;
}

export interface Withdraw {
  address: string;
  iface: string;
  indexKey?: string;
  reason: string;
}

export interface Refusal {
  address: string;
  indexKey: string;
  reason: 'AddressOutsidePools' | 'AddressConflict' | 'InvalidInterface';
  /** AddressConflict: the key of the older L2LBService that keeps the address. */
  heldBy?: string;
}

export interface StatusUpdate {
  namespace: string;
  name: string;
  status: IndexStatus;
  /** Clear `announcingNode`/`announcedSince` (a merge patch writes null). */
  clearAnnouncer: boolean;
}

export interface Decision {
  viewFresh: boolean;
  announce: Announce[];
  withdraw: Withdraw[];
  /** Addresses whose hand-over starts now (record `releasingSince`). */
  startRelease: string[];
  /** Addresses whose hand-over is called off (this node owns them again). */
  cancelRelease: string[];
  /**
   * Held addresses this node owns for an index other than the one recorded (a leftover of an earlier
   * run, or an address whose eligible index changed): record the index, and that it is no leftover
   * any more, so a later move hands it over make-before-break.
   */
  claim: { address: string; indexKey: string }[];
  /** Held addresses this node owns, with a fresh view (record it as `owner`). */
  owned: string[];
  /**
   * Held addresses this node owns again after not owning them (a hand-over called off, fail-back,
   * re-ranking, a view fresh again, a leftover claimed): a new round of announcements starts now
   * (record `burstAt`, reset `garpsSent`); their first announcement is in `garp`.
   */
  regained: string[];
  /** Held addresses due a gratuitous ARP / unsolicited NA now. */
  garp: { address: string; iface: string }[];
  /** Held addresses due a duplicate-address probe now. */
  probe: { address: string; iface: string }[];
  refusals: Refusal[];
  statusUpdates: StatusUpdate[];
  /** The next time something can change without an event (lease expiry, GARP, hand-over bound). */
  wakeAt: number;
}
