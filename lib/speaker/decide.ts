// The speaker's decision: which addresses to add, keep, hand over and remove, which announcements
// are due, and which statuses to write. Pure: the view and the time in, a Decision out.
//
// One owner on the wire (DESIGN.md §5):
// - with a fresh view, a node owns an index when it is the first candidate that is alive (lease.ts:
//   judged on this speaker's monotonic clock, never by comparing another node's clock with its own);
// - with a stale view (cut off from the API server, frozen and resumed) it takes nothing new and keeps
//   what it holds, announced, while nobody else announces it, so an API outage is no traffic outage;
//   it yields an address at once when a probe on the wire finds another host answering for it;
// - a node that becomes the owner again of an address it carries announces it at once.
//
// Heartbeats (DESIGN.md §5, lib/speaker/heartbeat): `liveUntil` comes with the peers' heartbeat
// verdicts folded in, so a node dead by heartbeat loses its addresses to the next candidate within
// the detection time, and a node heard on the network keeps them while cut from the API. With a
// stale view, a node that hears none of the peers it heard before (isolated) withdraws: it is cut
// off from the segment, and the other side has taken its addresses over.
import { nextGarpAt, nextProbeAt } from './garp';
import { isolated, takeoverCause, type TakeoverCause } from './heartbeat/combine';
import { addressHolders } from './holders';
import { poolContains } from './pools';
import { announcedStatus, notAnnouncedStatus } from './status';
import type { Decision, HeldAddress, Refusal, SpeakerIndex, SpeakerView } from './types';

/** Whether `node` counts as alive at `now`; a speaker that is shutting down is not, for itself. */
export function isAlive(view: SpeakerView, node: string, now: number): boolean {
  if (view.shuttingDown && node === view.node) return false;
  return (view.liveUntil.get(node) ?? Number.NEGATIVE_INFINITY) > now;
}

/** The first candidate whose speaker is alive. */
export function ownerOf(index: SpeakerIndex, view: SpeakerView, now: number): string | undefined {
  return index.nodes.find((n) => isAlive(view, n, now));
}

export function inSomePool(view: SpeakerView, address: string): boolean {
  return view.balancers.some((b) => poolContains(b.pool, address));
}

/** Among the live speakers, the one that reports on indices nobody can announce. */
function isReporter(view: SpeakerView, now: number): boolean {
  const alive = [...view.liveUntil.keys()].filter((n) => isAlive(view, n, now)).sort();
  return alive[0] === view.node;
}

/** Why this node must not announce an index it owns, if it must not. */
function refusalOf(
  view: SpeakerView,
  index: SpeakerIndex,
): { reason: Refusal['reason']; message: string } | undefined {
  const { address } = index;
  if (!inSomePool(view, address)) {
    const refused = view.balancers.flatMap((b) =>
      (b.refusedEntries ?? []).map((e) => `"${e.entry}" of ${b.name}: ${e.message}`),
    );
    const also = refused.length ? ` (refused pool entries: ${refused.join('; ')})` : '';
    return {
      reason: 'AddressOutsidePools',
      message: `${address} lies outside every L2LoadBalancer pool; not announced${also}`,
    };
  }
  const balancer = view.balancers.find((b) => b.name === index.l2lbName);
  const invalid = balancer?.invalidInterfaces ?? [];
  if (balancer && balancer.interfaces.length === 0 && invalid.length > 0) {
    return {
      reason: 'InvalidInterface',
      message:
        `L2LoadBalancer ${balancer.name} lists no valid interface (${invalid.map((i) => JSON.stringify(i)).join(', ')} ` +
        'cannot be a Linux interface name); not announced',
    };
  }
  return undefined;
}

/** Why `previous` lost an address this node takes now. */
function causeOf(view: SpeakerView, previous: string, now: number): TakeoverCause {
  if (isAlive(view, previous, now)) return 'planned';
  return takeoverCause(view.heartbeats?.get(previous), view.releasedLeases?.has(previous) ?? false);
}

/** When `previous` stopped counting as alive: its lease ran out, or heartbeats said dead or leaving. */
function previousExpiredAt(view: SpeakerView, previous: string, now: number): number | undefined {
  const until = view.liveUntil.get(previous);
  if (until !== undefined && Number.isFinite(until) && until <= now) return until;
  const verdict = view.heartbeats?.get(previous);
  if (verdict && (verdict.state === 'dead' || verdict.state === 'leaving') && verdict.since <= now)
    return verdict.since;
  return undefined;
}

export function decide(view: SpeakerView, now: number): Decision {
  const decision: Decision = {
    viewFresh: now < view.viewFreshUntil,
    announce: [],
    withdraw: [],
    startRelease: [],
    cancelRelease: [],
    claim: [],
    owned: [],
    regained: [],
    garp: [],
    probe: [],
    refusals: [],
    statusUpdates: [],
    wakeAt: Number.POSITIVE_INFINITY,
  };
  const wall = (t: number): number => t + view.wallOffsetMs;
  const wake = (at: number | undefined): void => {
    if (at !== undefined && at > now) decision.wakeAt = Math.min(decision.wakeAt, at);
  };
  const frozen = !decision.viewFresh && !view.shuttingDown;
  const cutOff = frozen && view.heartbeats !== undefined && isolated(view.heartbeats, view.apiContactAt);
  const { eligible: byAddress, conflicts } = addressHolders(view.indices);
  const held = new Map<string, HeldAddress>(view.held.map((h) => [h.address, h]));
  /** The announcements and the duplicate probe of an address this node keeps announcing. */
  const keepAnnounced = (h: HeldAddress): void => {
    const due = nextGarpAt(h, view.timings.garp);
    if (due !== undefined && due <= now) decision.garp.push({ address: h.address, iface: h.iface });
    else wake(due);
    const probe = nextProbeAt(h, view.timings, frozen);
    if (probe !== undefined && probe <= now) decision.probe.push({ address: h.address, iface: h.iface });
    else wake(probe);
  };

  // An address carried by several indices is announced for the oldest only. The younger ones are
  // refused; the node that would own each (or the reporter, when no candidate is alive) says why.
  for (const { index, heldBy } of conflicts) {
    decision.refusals.push({
      address: index.address,
      indexKey: index.key,
      reason: 'AddressConflict',
      heldBy: heldBy.key,
    });
    if (frozen) continue;
    const owner = ownerOf(index, view, now);
    if (owner === view.node || (owner === undefined && isReporter(view, now))) {
      const message =
        `${index.address} is also the address of L2LBService ${heldBy.key}, which is older and keeps ` +
        'it; this one is not announced until the control loop gives it another address';
      decision.statusUpdates.push(...notAnnouncedStatus(index, 'AddressConflict', message, wall(now)));
    }
  }

  // Addresses this node should announce now, by its view.
  const owned = new Map<string, SpeakerIndex>();
  const refusedHere = new Map<string, Refusal['reason']>();
  for (const [address, index] of byAddress) {
    const owner = ownerOf(index, view, now);
    if (owner === view.node) {
      const refusal = refusalOf(view, index);
      if (refusal) {
        decision.refusals.push({ address, indexKey: index.key, reason: refusal.reason });
        refusedHere.set(address, refusal.reason);
        if (!frozen)
          decision.statusUpdates.push(
            ...notAnnouncedStatus(index, refusal.reason, refusal.message, wall(now)),
          );
        continue;
      }
      owned.set(address, index);
    } else if (
      owner === undefined &&
      !frozen &&
      index.status.announcingNode !== undefined &&
      !held.has(address) &&
      !isAlive(view, index.status.announcingNode, now) &&
      isReporter(view, now)
    ) {
      const message = `no candidate node (${index.nodes.join(', ') || 'none'}) has a live speaker`;
      decision.statusUpdates.push(...notAnnouncedStatus(index, 'NoLiveCandidate', message, wall(now)));
    }
  }

  for (const h of view.held) {
    const index = byAddress.get(h.address);
    const withdraw = (reason: string): void => {
      decision.withdraw.push({ address: h.address, iface: h.iface, indexKey: index?.key, reason });
    };
    /** Make-before-break: keep the address until the new owner reports it announces, or a bound. */
    const release = (): void => {
      const bound = view.shuttingDown ? view.timings.shutdownTimeoutMs : view.timings.handoverTimeoutMs;
      const since = h.releasingSince ?? now;
      if (h.releasingSince === undefined) decision.startRelease.push(h.address);
      if (now >= since + bound) withdraw('HandoverTimeout');
      else wake(since + bound);
    };

    if (frozen) {
      // Cut off from the API and from every peer it heard: the rest of the segment cannot hear it
      // either and has taken its addresses by heartbeat. Keeping them would answer beside the new
      // owners once the segment heals.
      if (cutOff) {
        withdraw('Isolated');
        continue;
      }
      // Cut off from the API: this node cannot know who owns what now. Another host answering for
      // the address on the wire is the one fact it has: that host took it, so let go at once.
      if (h.conflict !== undefined) {
        withdraw('AnsweredElsewhere');
        continue;
      }
      // A hand-over that began while the view was fresh ends as it would have: the new owner had a
      // fresh view when it took the address, and has announced it by the bound.
      if (h.releasingSince !== undefined) {
        release();
        continue;
      }
      // Otherwise keep it, announced, and probe it (every staleProbeMs) for another answer.
      keepAnnounced(h);
      continue;
    }

    const ownedIndex = owned.get(h.address);
    if (ownedIndex) {
      decision.owned.push(h.address);
      if (h.releasingSince !== undefined) decision.cancelRelease.push(h.address);
      if (h.adopted || h.indexKey !== ownedIndex.key)
        decision.claim.push({ address: h.address, indexKey: ownedIndex.key });
      // Owner again after not being the owner: the hosts on the link may have learnt another MAC in
      // between, so a new round of announcements starts now, not at the next refresh.
      const regained = h.owner !== true;
      const round = regained ? { ...h, burstAt: now, garpsSent: 0 } : h;
      if (regained) decision.regained.push(h.address);
      keepAnnounced(round);
      // The status is what tells the old owner to let go: never before this round's first announcement.
      const settled = Math.max(h.since, round.burstAt ?? h.since) + view.timings.statusSettleMs;
      if (now >= settled)
        decision.statusUpdates.push(
          ...announcedStatus(
            ownedIndex,
            view.node,
            h.iface,
            wall(h.since),
            wall(now),
            h.conflict && { ...h.conflict, at: wall(h.conflict.at) },
          ),
        );
      else wake(settled);
      continue;
    }
    if (!index) {
      withdraw(h.adopted ? 'LeftoverWithoutIndex' : 'IndexGone');
      continue;
    }
    const newOwner = ownerOf(index, view, now);
    if (newOwner === undefined || newOwner === view.node) {
      // Refused here (outside the pools, no valid interface) or nobody left to hand over to.
      withdraw(newOwner === view.node ? (refusedHere.get(h.address) ?? 'Refused') : 'NoLiveCandidate');
      if (newOwner === undefined && index.status.announcingNode === view.node) {
        const message = `no candidate node (${index.nodes.join(', ') || 'none'}) has a live speaker`;
        decision.statusUpdates.push(...notAnnouncedStatus(index, 'NoLiveCandidate', message, wall(now)));
      }
      continue;
    }
    if (h.adopted) {
      withdraw('LeftoverOwnedElsewhere');
      continue;
    }
    if (index.status.announcingNode === newOwner) {
      withdraw('HandedOver');
      continue;
    }
    release();
  }

  if (decision.viewFresh && !view.shuttingDown) {
    for (const [address, index] of owned) {
      if (held.has(address)) continue;
      const announcedBy = index.status.announcingNode;
      const previous = announcedBy !== undefined && announcedBy !== view.node ? announcedBy : undefined;
      const expiredAt = previous === undefined ? undefined : previousExpiredAt(view, previous, now);
      decision.announce.push({
        address,
        indexKey: index.key,
        interfaces: view.balancers.find((b) => b.name === index.l2lbName)?.interfaces ?? [],
        ...(previous !== undefined
          ? { previousAnnouncer: previous, cause: causeOf(view, previous, now) }
          : {}),
        ...(expiredAt !== undefined ? { previousExpiredAt: expiredAt } : {}),
        reason: index.nodes[0] === view.node ? 'PreferredCandidate' : 'FirstLiveCandidate',
      });
    }
  }

  // Ownership can change without an event when a node stops counting as alive, or when the own view
  // goes stale.
  for (const until of view.liveUntil.values()) wake(until);
  wake(view.viewFreshUntil);
  return decision;
}
