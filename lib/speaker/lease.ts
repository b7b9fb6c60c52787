// Lease freshness: a speaker is alive while renewTime + leaseDuration lies in the future.
// Nodes compare renewTime written by other nodes with their own clock, so node clocks must agree
// to well under the lease duration (NTP does; the docs say so).
import type { LeaseState } from '../model';

/** When the lease stops being fresh (ms since the epoch); undefined if released or unparseable. */
export function leaseExpiresAt(lease: LeaseState | undefined): number | undefined {
  if (!lease?.renewTime) return undefined;
  const renewed = Date.parse(lease.renewTime);
  if (Number.isNaN(renewed) || !(lease.durationSeconds > 0)) return undefined;
  return renewed + lease.durationSeconds * 1000;
}

export function leaseFresh(lease: LeaseState | undefined, now: number): boolean {
  const expires = leaseExpiresAt(lease);
  return expires !== undefined && expires > now;
}

/** RFC 3339 with microseconds, as `coordination.k8s.io` MicroTime fields want. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
