// The `status` a speaker writes on an L2LBService, and whether writing it changes anything.
import type { Condition } from '../model';
import type { IndexStatus, SpeakerIndex, StatusUpdate, WireConflict } from './types';

export const CONDITION_ANNOUNCED = 'Announced';

function condition(
  previous: Condition | undefined,
  status: Condition['status'],
  reason: string,
  message: string,
  now: number,
): Condition {
  const lastTransitionTime =
    previous && previous.status === status ? previous.lastTransitionTime : new Date(now).toISOString();
  return { type: CONDITION_ANNOUNCED, status, reason, message, lastTransitionTime };
}

function sameStatus(a: IndexStatus, b: IndexStatus): boolean {
  return (
    a.announcingNode === b.announcingNode &&
    a.ingress.join(',') === b.ingress.join(',') &&
    a.announced?.status === b.announced?.status &&
    a.announced?.reason === b.announced?.reason &&
    a.announced?.message === b.announced?.message
  );
}

function update(index: SpeakerIndex, status: IndexStatus, clearAnnouncer: boolean): StatusUpdate[] {
  if (sameStatus(index.status, status)) return [];
  return [{ namespace: index.namespace, name: index.name, status, clearAnnouncer }];
}

/**
 * This node announces the index from `since` on `iface`. When the last duplicate-address probe got
 * an answer from another host, the condition stays True (this node does announce) with reason
 * `DuplicateOnLink` and a message naming the other host's MAC.
 */
export function announcedStatus(
  index: SpeakerIndex,
  node: string,
  iface: string,
  since: number,
  now: number,
  conflict?: WireConflict,
): StatusUpdate[] {
  const keepSince = index.status.announcingNode === node && index.status.announcedSince;
  const announced = `announced by ${node} on ${iface}`;
  const [reason, message] = conflict
    ? [
        'DuplicateOnLink',
        `${announced}, but another host${conflict.mac ? ` (${conflict.mac})` : ''} answered a duplicate ` +
          `address probe for ${index.address} at ${new Date(conflict.at).toISOString()}`,
      ]
    : ['Announced', announced];
  return update(
    index,
    {
      announcingNode: node,
      announcedSince: keepSince || new Date(since).toISOString(),
      ingress: [index.address],
      announced: condition(index.status.announced, 'True', reason, message, now),
    },
    false,
  );
}

/** Nobody announces the index, for `reason`. */
export function notAnnouncedStatus(
  index: SpeakerIndex,
  reason: string,
  message: string,
  now: number,
): StatusUpdate[] {
  return update(
    index,
    { ingress: [], announced: condition(index.status.announced, 'False', reason, message, now) },
    true,
  );
}
