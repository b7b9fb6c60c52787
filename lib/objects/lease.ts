// A speaker Lease (`coordination.k8s.io/v1`, `l2lb-speaker-<node>` in the module namespace), read
// the one way the control loop and the speaker must agree on: whose it is, whether it was
// released, and until when it is fresh.
//
// Freshness has two clocks. The control loop runs once per event and has no memory between runs:
// it compares renewTime + duration with the wall clock (isLeaseFresh). The speaker watches all the
// time, and judges a peer on its OWN monotonic clock (observeLeases, liveUntil).
//
// A Lease's renewTime is written with the renewing node's wall clock. Comparing it with the local
// wall clock makes liveness depend on the skew between the two nodes: a node 3 s ahead saw every
// peer as expired and took their addresses for good. So renewTime is used only as a stamp that
// changes on every renewal: a peer is alive for one lease duration after this speaker SAW its stamp
// change, measured on its own monotonic clock. Skew between nodes then changes nothing.
//
// The stamp is renewTime, not resourceVersion: any write to the object (a label, an annotation, a
// managedFields update) changes the resourceVersion, and must not make a dead node look alive.
import { LEASE_PREFIX, type LeaseState } from '../model';
import { obj, str } from '../json';
import type { Parsed } from './parsed';

/** The fields of a Lease this module reads, as a jqFilter or `leaseFields` cut them. */
export interface LeaseFields {
  name?: unknown;
  holder?: unknown;
  renewTime?: unknown;
  durationSeconds?: unknown;
  /** The heartbeat annotation (lib/speaker/heartbeat), passed through as written. */
  heartbeatEndpoints?: unknown;
}

/** The same fields from a whole Lease object as the API returns it. */
export function leaseFields(object: unknown, heartbeatAnnotation?: string): LeaseFields {
  const o = obj(object);
  const meta = obj(o.metadata);
  const spec = obj(o.spec);
  return {
    name: meta.name,
    holder: spec.holderIdentity,
    renewTime: spec.renewTime,
    durationSeconds: spec.leaseDurationSeconds,
    ...(heartbeatAnnotation ? { heartbeatEndpoints: obj(meta.annotations)[heartbeatAnnotation] } : {}),
  };
}

/**
 * A speaker Lease: the node is the name after `l2lb-speaker-`; a Lease whose holderIdentity was
 * cleared was released by a stopping speaker and carries no renewTime (it counts as expired). Any
 * other Lease is refused with the reason.
 */
export function readLease(fields: LeaseFields): Parsed<LeaseState> {
  const name = str(fields.name);
  if (!name) return { ok: false, error: 'Lease: metadata.name is missing' };
  if (!name.startsWith(LEASE_PREFIX) || name.length === LEASE_PREFIX.length)
    return { ok: false, error: `Lease ${name}: not a speaker Lease (${LEASE_PREFIX}<node>)` };
  const held = Boolean(str(fields.holder));
  const renewTime = str(fields.renewTime);
  const duration = fields.durationSeconds;
  const endpoints = str(fields.heartbeatEndpoints);
  return {
    ok: true,
    value: {
      node: name.slice(LEASE_PREFIX.length),
      ...(held && renewTime ? { renewTime } : {}),
      durationSeconds: typeof duration === 'number' && Number.isFinite(duration) ? duration : 0,
      ...(endpoints ? { heartbeatEndpoints: endpoints } : {}),
    },
  };
}

/** When a Lease stops being fresh (ms since the epoch); undefined if released, unparseable or of no duration. */
export function leaseExpiresAt(lease: LeaseState | undefined): number | undefined {
  if (!lease?.renewTime) return undefined;
  const renewed = Date.parse(lease.renewTime);
  if (Number.isNaN(renewed) || !(lease.durationSeconds > 0)) return undefined;
  return renewed + lease.durationSeconds * 1000;
}

/** Fresh while renewTime + leaseDurationSeconds lies after `now` (ms since the epoch). */
export function isLeaseFresh(lease: LeaseState | undefined, now: number): boolean {
  const expires = leaseExpiresAt(lease);
  return expires !== undefined && expires > now;
}

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

/** RFC 3339 with microseconds, as `coordination.k8s.io` MicroTime fields want. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
