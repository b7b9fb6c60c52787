// Whether another node's speaker is alive, judged on THIS speaker's monotonic clock.
//
// A Lease's renewTime is written with the renewing node's wall clock. Comparing it with the local
// wall clock makes liveness depend on the skew between the two nodes: a node 3 s ahead saw every
// peer as expired and took their addresses for good. So renewTime is used only as a stamp that
// changes on every renewal: a peer is alive for one lease duration after this speaker SAW its stamp
// change, measured on its own monotonic clock. Skew between nodes then changes nothing.
//
// The stamp is renewTime, not resourceVersion: any write to the object (a label, an annotation, a
// managedFields update) changes the resourceVersion, and must not make a dead node look alive.
import type { LeaseState } from '../model';
import type { LeaseLiveness } from './heartbeat/combine';

/** What this speaker last saw of one peer's Lease, and when (monotonic ms). */
export interface LeaseSighting {
  node: string;
  /** renewTime as written by the peer; absent when the Lease was released (no holder). */
  renewTime?: string;
  durationMs: number;
  /** When this speaker first saw this renewTime, on its own monotonic clock. */
  seenAt: number;
}

/**
 * The sightings after a look at the Leases at monotonic time `now`: a Lease whose renewTime changed
 * (or that is new to this speaker) was seen now; an unchanged one keeps when it was first seen.
 * A Lease that disappeared is forgotten. A Lease seen for the first time counts as renewed now: this
 * speaker cannot know its age without trusting the peer's clock, and taking an address from a live
 * node is worse than taking one from a dead node a lease duration late.
 */
export function observeLeases(
  previous: ReadonlyMap<string, LeaseSighting>,
  leases: readonly LeaseState[],
  now: number,
): Map<string, LeaseSighting> {
  const next = new Map<string, LeaseSighting>();
  for (const l of leases) {
    const before = previous.get(l.node);
    const durationMs = l.durationSeconds > 0 ? l.durationSeconds * 1000 : 0;
    const seenAt = before !== undefined && before.renewTime === l.renewTime ? before.seenAt : now;
    next.set(l.node, {
      node: l.node,
      ...(l.renewTime ? { renewTime: l.renewTime } : {}),
      durationMs,
      seenAt,
    });
  }
  return next;
}

/**
 * Until when (monotonic ms) the peer counts as alive: one lease duration after its renewal was seen.
 * A released Lease (no renewTime) is dead at once.
 *
 * `viewFreshSince` is when this speaker's own view last became fresh. While it was cut off it heard
 * no renewals, so a peer whose renewal it missed is not dead for it: every peer gets a full lease
 * duration from that moment to be heard again, and nobody takes over a live peer's addresses the
 * moment the API server comes back.
 */
export function liveUntil(sighting: LeaseSighting | undefined, viewFreshSince: number): number {
  if (sighting?.renewTime === undefined || !(sighting.durationMs > 0)) return Number.NEGATIVE_INFINITY;
  return Math.max(sighting.seenAt, viewFreshSince) + sighting.durationMs;
}

/**
 * The other nodes' Lease liveness, as combineLiveness() folds the heartbeats into it: until when
 * each Lease keeps its node alive (liveUntil above), and when this speaker last saw it renewed; and
 * the nodes whose Lease is released (their speaker stopped gracefully).
 */
export function leaseLiveness(
  sightings: ReadonlyMap<string, LeaseSighting>,
  viewFreshSince: number,
  self: string,
): { leases: Map<string, LeaseLiveness>; released: Set<string> } {
  const leases = new Map<string, LeaseLiveness>();
  const released = new Set<string>();
  for (const s of sightings.values()) {
    if (s.node === self) continue;
    if (s.renewTime === undefined) released.add(s.node);
    leases.set(s.node, {
      liveUntil: liveUntil(s, viewFreshSince),
      renewedSeenAt: s.renewTime === undefined ? Number.NEGATIVE_INFINITY : s.seenAt,
    });
  }
  return { leases, released };
}

/** RFC 3339 with microseconds, as `coordination.k8s.io` MicroTime fields want. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
