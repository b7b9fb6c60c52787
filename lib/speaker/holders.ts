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
function olderFirst(a: { ms: number; index: SpeakerIndex }, b: { ms: number; index: SpeakerIndex }): number {
  if (a.ms !== b.ms) return a.ms < b.ms ? -1 : 1;
  return a.index.key < b.index.key ? -1 : a.index.key > b.index.key ? 1 : 0;
}

/** The last answer per indices array: decide() and the metrics ask about the same view in one turn. */
const computed = new WeakMap<readonly SpeakerIndex[], AddressHolders>();

export function addressHolders(indices: readonly SpeakerIndex[]): AddressHolders {
  const known = computed.get(indices);
  if (known) return known;
  const eligible = new Map<string, SpeakerIndex>();
  const conflicts: AddressHolders['conflicts'] = [];
  const aged = indices.filter((i) => i.address).map((index) => ({ ms: createdMs(index), index }));
  for (const { index } of aged.sort(olderFirst)) {
    const heldBy = eligible.get(index.address);
    if (heldBy) conflicts.push({ index, heldBy });
    else eligible.set(index.address, index);
  }
  const answer = { eligible, conflicts };
  computed.set(indices, answer);
  return answer;
}
