// A speaker Lease (`coordination.k8s.io/v1`, `l2lb-speaker-<node>` in the module namespace), read
// the one way the control loop and the speaker must agree on: whose it is, whether it was
// released, and until when it is fresh.
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
