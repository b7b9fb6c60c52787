// The L2LoadBalancer's own record of its allocations (`status.allocations`: Service -> addresses),
// written by the hooks, read back on the next run. It exists for the reservations of released
// addresses (docs/ARCHITECTURE.md §4.1): when a Service is deleted, the garbage collector may delete
// its L2LBServices before a hook run sees the Service gone, and then no child says what the Service
// held. The record does: an address it shows that no allocation of this run holds was released, by
// whatever way it went (Service deleted, children collected first, count lowered, annotation removed).
//
// Why a record in the balancer status rather than a finalizer: a finalizer on the Service (as the
// cloud controllers' `service.kubernetes.io/load-balancer-cleanup`) writes to every user's Service
// and leaves Services and their namespaces Terminating whenever the hooks are down or the module is
// removed; a finalizer on the children blocks their CRD's removal the same way and keeps a hand-
// deleted child's name taken until a run frees it. The record blocks nobody, survives a hook
// restart (it is in the cluster), and costs one merge patch of the changed keys per allocation change.
import { parseCanonical, poolContains } from '../../address/pool';
import type { Allocation } from '../../allocation/allocate';
import type { Reservation } from '../../model';
import type { ChildIndex } from '../children';
import type { L2LoadBalancerSnapshot } from '../snapshot';
import type { BalancerCheck } from './balancer-checks';

/** Service key -> its addresses on one L2LoadBalancer, in allocation order. */
export type AllocationRecord = Map<string, string[]>;

/**
 * At most this many addresses in one L2LoadBalancer's record (about 0.5 MB of status at most, far
 * below the API server's object limit). Services past it are not recorded: their addresses are
 * still reserved when the run sees their children go, only not when the children went first.
 */
export const MAX_RECORDED_ADDRESSES = 10_000;

export interface Release {
  l2lbName: string;
  address: string;
  serviceKey: string;
}

/**
 * Recorded addresses no child holds any more, reserved for their Service during this run's
 * allocation: a Service deleted together with its children must not lose its addresses to a new
 * asker in the very run that first sees it gone. Addresses a current reservation already covers are
 * left out; with `addressReservationSeconds: 0` there are none.
 */
export function unheldRecorded(
  balancers: readonly L2LoadBalancerSnapshot[],
  children: ChildIndex,
  current: ReadonlyMap<string, readonly Reservation[]>,
  seconds: number,
): Map<string, Reservation[]> {
  const out = new Map<string, Reservation[]>();
  if (seconds <= 0) return out;
  for (const b of balancers) {
    const reserved = new Set((current.get(b.balancer.name) ?? []).map((r) => r.address));
    const list: Reservation[] = [];
    for (const [service, addresses] of b.allocations) {
      for (const address of addresses) {
        if (children.holders.has(address) || reserved.has(address)) continue;
        // `until` is set when the release is confirmed after allocation (nextReservations).
        list.push({ address, service, until: '' });
      }
    }
    if (list.length > 0) out.set(b.balancer.name, list);
  }
  return out;
}

/** Every address some allocation of this run holds. */
export function allocatedAddresses(allocations: readonly Allocation[]): Set<string> {
  const out = new Set<string>();
  for (const a of allocations) if (a.address) out.add(a.address);
  return out;
}

/**
 * The addresses the record shows that no allocation of this run holds and that are still in the
 * pool: released since the record was written, whether or not this run saw the children go.
 */
export function releasedFromRecord(
  balancers: readonly L2LoadBalancerSnapshot[],
  allocated: ReadonlySet<string>,
  checks: ReadonlyMap<string, BalancerCheck>,
): Release[] {
  const out: Release[] = [];
  for (const b of balancers) {
    const pool = checks.get(b.balancer.name)?.pool;
    for (const [serviceKey, addresses] of b.allocations) {
      for (const address of addresses) {
        // The hooks write canonical text, so the first lookup decides almost every address.
        if (allocated.has(address)) continue;
        const parsed = parseCanonical(address);
        if (pool === undefined || parsed === undefined || allocated.has(parsed.text)) continue;
        if (!poolContains(pool, parsed.address)) continue;
        out.push({ l2lbName: b.balancer.name, address: parsed.text, serviceKey });
      }
    }
  }
  return out;
}

/**
 * Each L2LoadBalancer's record after this run: its allocations grouped by Service. Services the
 * record already holds keep their place first, so the bound never makes entries churn.
 */
export function nextRecord(
  balancers: readonly L2LoadBalancerSnapshot[],
  allocations: readonly Allocation[],
): Map<string, AllocationRecord> {
  const wanted = new Map<string, AllocationRecord>();
  for (const a of allocations) {
    if (!a.address) continue;
    let record = wanted.get(a.l2lbName);
    if (record === undefined) wanted.set(a.l2lbName, (record = new Map()));
    const list = record.get(a.serviceKey);
    if (list === undefined) record.set(a.serviceKey, [a.address]);
    else list.push(a.address);
  }
  const out = new Map<string, AllocationRecord>();
  for (const b of balancers) {
    const name = b.balancer.name;
    const want = wanted.get(name) ?? new Map<string, string[]>();
    const record: AllocationRecord = new Map();
    let size = 0;
    const keep = (key: string, addresses: string[]): void => {
      if (record.has(key) || size + addresses.length > MAX_RECORDED_ADDRESSES) return;
      record.set(key, addresses);
      size += addresses.length;
    };
    for (const key of b.allocations.keys()) {
      const addresses = want.get(key);
      if (addresses !== undefined) keep(key, addresses);
    }
    for (const key of [...want.keys()].sort()) keep(key, want.get(key) as string[]);
    out.set(name, record);
  }
  return out;
}

/**
 * The merge patch that turns one record into the next: changed Services with their addresses,
 * gone ones as null, so a write carries only what changed. Undefined when nothing did.
 */
export function recordPatch(
  current: ReadonlyMap<string, readonly string[]>,
  next: ReadonlyMap<string, readonly string[]>,
): Record<string, string[] | null> | undefined {
  const patch: Record<string, string[] | null> = {};
  let changed = false;
  for (const [key, addresses] of next) {
    const old = current.get(key);
    if (old !== undefined && old.length === addresses.length && old.every((a, i) => a === addresses[i]))
      continue;
    patch[key] = [...addresses];
    changed = true;
  }
  for (const key of current.keys()) {
    if (next.has(key)) continue;
    patch[key] = null;
    changed = true;
  }
  return changed ? patch : undefined;
}
