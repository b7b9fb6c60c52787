// The speaker's decision: which addresses to add, keep, hand over and remove, which announcements
// are due, and which statuses to write. Pure: the view and the time in, a Decision out.
import { nextGarpAt, nextProbeAt } from './garp';
import { addressHolders } from './holders';
import { leaseExpiresAt, leaseFresh } from './lease';
import { poolContains } from './pools';
import { announcedStatus, notAnnouncedStatus } from './status';
import type { Decision, HeldAddress, SpeakerIndex, SpeakerView } from './types';

/** The first candidate whose speaker Lease is fresh; a speaker that is shutting down is no candidate. */
export function ownerOf(index: SpeakerIndex, view: SpeakerView, now: number): string | undefined {
  return index.nodes.find(
    (n) => !(view.shuttingDown && n === view.node) && leaseFresh(view.leases.get(n), now),
  );
}

export function inSomePool(view: SpeakerView, address: string): boolean {
  return view.balancers.some((b) => poolContains(b.pool, address));
}

/** Among the fresh speakers, the one that reports on indices nobody can announce. */
function isReporter(view: SpeakerView, now: number): boolean {
  const fresh = [...view.leases.values()]
    .filter((l) => leaseFresh(l, now) && !(view.shuttingDown && l.node === view.node))
    .map((l) => l.node)
    .sort();
  return fresh[0] === view.node;
}

export function decide(view: SpeakerView, now: number): Decision {
  const decision: Decision = {
    viewFresh: now < view.viewFreshUntil,
    announce: [],
    withdraw: [],
    startRelease: [],
    cancelRelease: [],
    claim: [],
    garp: [],
    probe: [],
    refusals: [],
    statusUpdates: [],
    wakeAt: Number.POSITIVE_INFINITY,
  };
  const wake = (at: number | undefined): void => {
    if (at !== undefined && at > now) decision.wakeAt = Math.min(decision.wakeAt, at);
  };
  const frozen = !decision.viewFresh && !view.shuttingDown;
  const { eligible: byAddress, conflicts } = addressHolders(view.indices);
  const held = new Map<string, HeldAddress>(view.held.map((h) => [h.address, h]));
  /** The refresh and the duplicate probe of an address this node keeps announcing. */
  const keepAnnounced = (h: HeldAddress): void => {
    const due = nextGarpAt(h, view.timings.garp);
    if (due !== undefined && due <= now) decision.garp.push({ address: h.address, iface: h.iface });
    else wake(due);
    const probe = nextProbeAt(h, view.timings);
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
      decision.statusUpdates.push(...notAnnouncedStatus(index, 'AddressConflict', message, now));
    }
  }

  // Addresses this node should announce now.
  const owned = new Map<string, SpeakerIndex>();
  for (const [address, index] of byAddress) {
    const owner = ownerOf(index, view, now);
    if (owner === view.node) {
      if (!inSomePool(view, address)) {
        decision.refusals.push({ address, indexKey: index.key, reason: 'AddressOutsidePools' });
        if (!frozen) {
          const message = `${address} lies outside every L2LoadBalancer pool; not announced`;
          decision.statusUpdates.push(...notAnnouncedStatus(index, 'AddressOutsidePools', message, now));
        }
        continue;
      }
      owned.set(address, index);
    } else if (
      owner === undefined &&
      !frozen &&
      index.status.announcingNode !== undefined &&
      !held.has(address) &&
      !leaseFresh(view.leases.get(index.status.announcingNode), now) &&
      isReporter(view, now)
    ) {
      const message = `no candidate node (${index.nodes.join(', ') || 'none'}) has a live speaker`;
      decision.statusUpdates.push(...notAnnouncedStatus(index, 'NoLiveCandidate', message, now));
    }
  }

  for (const h of view.held) {
    const index = byAddress.get(h.address);
    const ownedIndex = owned.get(h.address);
    if (ownedIndex) {
      if (h.releasingSince !== undefined) decision.cancelRelease.push(h.address);
      if (h.adopted || h.indexKey !== ownedIndex.key)
        decision.claim.push({ address: h.address, indexKey: ownedIndex.key });
      keepAnnounced(h);
      const settled = h.since + view.timings.statusSettleMs;
      if (frozen) continue;
      if (now >= settled)
        decision.statusUpdates.push(
          ...announcedStatus(ownedIndex, view.node, h.iface, h.since, now, h.conflict),
        );
      else wake(settled);
      continue;
    }
    if (frozen) {
      // Cut off from the API: keep what it has (and keep it announced), decide nothing new.
      if (h.releasingSince === undefined) keepAnnounced(h);
      continue;
    }
    const withdraw = (reason: string): void => {
      decision.withdraw.push({ address: h.address, iface: h.iface, indexKey: index?.key, reason });
    };
    if (!index) {
      withdraw(h.adopted ? 'LeftoverWithoutIndex' : 'IndexGone');
      continue;
    }
    const newOwner = ownerOf(index, view, now);
    if (newOwner === undefined || newOwner === view.node) {
      // Out of pool (refused above) or nobody left to hand over to.
      withdraw(newOwner === view.node ? 'AddressOutsidePools' : 'NoLiveCandidate');
      if (newOwner === undefined && index.status.announcingNode === view.node) {
        const message = `no candidate node (${index.nodes.join(', ') || 'none'}) has a live speaker`;
        decision.statusUpdates.push(...notAnnouncedStatus(index, 'NoLiveCandidate', message, now));
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
    // Make-before-break: keep the address until the new owner reports it announces, or a bound.
    const bound = view.shuttingDown ? view.timings.shutdownTimeoutMs : view.timings.handoverTimeoutMs;
    const since = h.releasingSince ?? now;
    if (h.releasingSince === undefined) decision.startRelease.push(h.address);
    if (now >= since + bound) withdraw('HandoverTimeout');
    else wake(since + bound);
  }

  if (decision.viewFresh && !view.shuttingDown) {
    for (const [address, index] of owned) {
      if (held.has(address)) continue;
      const previous = index.status.announcingNode;
      const previousExpiredAt =
        previous !== undefined && previous !== view.node
          ? leaseExpiresAt(view.leases.get(previous))
          : undefined;
      decision.announce.push({
        address,
        indexKey: index.key,
        interfaces: view.balancers.find((b) => b.name === index.l2lbName)?.interfaces ?? [],
        ...(previous !== undefined && previous !== view.node ? { previousAnnouncer: previous } : {}),
        ...(previousExpiredAt !== undefined && previousExpiredAt <= now ? { previousExpiredAt } : {}),
        reason: index.nodes[0] === view.node ? 'PreferredCandidate' : 'FirstLiveCandidate',
      });
    }
  }

  // Ownership can change without an event when a lease runs out, or when the own view goes stale.
  for (const lease of view.leases.values()) wake(leaseExpiresAt(lease));
  wake(view.viewFreshUntil);
  return decision;
}
