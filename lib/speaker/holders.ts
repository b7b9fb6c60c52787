// Which L2LBService an address is announced for. Two L2LBServices can carry the same
// `spec.loadBalancerIP` for a moment (the control loop allocates from snapshots that may lag its own
// writes, and settles the conflict on its next run, the older holder keeping the address). The
// speaker never announces one address for two objects: only the oldest holder is eligible, by
// creationTimestamp, then namespace/name; the others are in conflict with it.
import type { SpeakerIndex } from './types';

export interface AddressHolders {
  /** The eligible index of each address. */
  eligible: Map<string, SpeakerIndex>;
  /** Indices that carry an address an older index holds, each with that older index. */
  conflicts: { index: SpeakerIndex; heldBy: SpeakerIndex }[];
}

function createdMs(index: SpeakerIndex): number {
  const ms = Date.parse(index.createdAt);
  // Unknown age counts as the youngest: an object the API made always has a timestamp.
  return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
}

/** Oldest first; equal timestamps (they have whole seconds) by namespace/name. */
export function olderFirst(a: SpeakerIndex, b: SpeakerIndex): number {
  const ta = createdMs(a);
  const tb = createdMs(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

export function addressHolders(indices: readonly SpeakerIndex[]): AddressHolders {
  const eligible = new Map<string, SpeakerIndex>();
  const conflicts: AddressHolders['conflicts'] = [];
  for (const index of [...indices].sort(olderFirst)) {
    if (!index.address) continue;
    const heldBy = eligible.get(index.address);
    if (heldBy) conflicts.push({ index, heldBy });
    else eligible.set(index.address, index);
  }
  return { eligible, conflicts };
}
