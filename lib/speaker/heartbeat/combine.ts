// How heartbeats and Leases together say whether a node is alive, for decide()'s `liveUntil`
// (monotonic ms until which a node counts as alive). The Lease is the slow, API-visible record;
// the heartbeat is the fast one. Per peer:
// - alive by heartbeat: alive, whatever its Lease says. A node cut from the API server but still
//   heard on the node network keeps its addresses (its Lease expires, its beats do not stop).
// - leaving: not alive from that beat on; its addresses move at once (a graceful stop).
// - dead by heartbeat: not alive, even with a fresh Lease, so the next candidate takes over within
//   the detection time instead of the lease duration. The Lease corrects it: a renewal of that
//   Lease seen after the death (the node writes to the API, so it runs) makes the Lease decide
//   again. That ends a split where two halves of the segment cannot hear each other but both
//   reach the API: the half that took over yields at the next renewal it sees.
// - unknown (never heard: no heartbeats from that node, UDP blocked, another key): the Lease alone.
import { liveUntil, type LeaseSighting } from '../../objects';
import type { Verdict } from './liveness';

export interface LeaseLiveness {
  /** Until when the Lease keeps the node alive (monotonic ms); absent = dead by Lease. */
  liveUntil: number;
  /** When this speaker last saw the node's Lease renewed (monotonic ms). */
  renewedSeenAt: number;
}

export function combineLiveness(
  leases: ReadonlyMap<string, LeaseLiveness>,
  heartbeats: ReadonlyMap<string, Verdict>,
  now: number,
  detectionMs: number,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const node of new Set([...leases.keys(), ...heartbeats.keys()])) {
    const lease = leases.get(node);
    const byLease = lease?.liveUntil ?? Number.NEGATIVE_INFINITY;
    const hb = heartbeats.get(node);
    switch (hb?.state) {
      case 'alive':
        out.set(node, Math.max(byLease, now + detectionMs));
        break;
      case 'leaving':
        out.set(node, Number.NEGATIVE_INFINITY);
        break;
      case 'dead':
        out.set(
          node,
          lease !== undefined && lease.renewedSeenAt > hb.since ? byLease : Number.NEGATIVE_INFINITY,
        );
        break;
      default:
        out.set(node, byLease);
    }
  }
  return out;
}

/**
 * This node hears none of the peers it heard before: it is cut off from the segment, or it is the
 * last one standing. With a stale API view as well it cannot tell which; a node that is cut off
 * and keeps announcing would, once the segment heals, answer beside the node that took over, so
 * decide() has it yield (see the README, "Partitions"). A node that never heard a peer (a group of
 * one, heartbeats not reaching it from the start) is not isolated by this rule.
 *
 * `lastContactAt` (monotonic ms) is the last proof that the API server saw this speaker (its last
 * good renewal). Only peers declared dead after it count: a peer that died while this speaker still
 * reached the API was judged with the API's help (its Lease stopped too, or its renewal brought it
 * back), so the last node standing keeps its addresses through a later API outage. A cable cut
 * loses the peers and the API together, so the peers die after the last contact and it counts.
 */
export function isolated(
  heartbeats: ReadonlyMap<string, Verdict>,
  lastContactAt = Number.NEGATIVE_INFINITY,
): boolean {
  const verdicts = [...heartbeats.values()];
  return (
    verdicts.some((v) => v.state === 'dead' && v.since > lastContactAt) &&
    !verdicts.some((v) => v.state === 'alive')
  );
}

/**
 * Why a takeover happened, for `l2lb_speaker_takeovers_total{cause}`: the previous announcer was
 * dead by heartbeat, its Lease ran out, or it stopped gracefully (a leaving beat or a released
 * Lease); `planned` when it is alive and the address moves by rank (fail-back, re-ranking).
 */
export type TakeoverCause = 'heartbeat' | 'lease' | 'graceful' | 'planned';

/** The cause from the previous announcer's heartbeat state and whether it released its Lease. */
export function takeoverCause(previous: Verdict | undefined, leaseReleased: boolean): TakeoverCause {
  if (previous?.state === 'leaving' || leaseReleased) return 'graceful';
  if (previous?.state === 'dead') return 'heartbeat';
  return 'lease';
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
