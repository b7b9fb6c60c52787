// Stage 7, L2LoadBalancer status: the Ready condition (with the checks' problems and NoNodes),
// address counts, eligible nodes, and the reservations of released addresses (docs/ARCHITECTURE.md §4.1).
//
// Where reservations live: in the L2LoadBalancer's own `status.reservations`. The status is the
// hooks' to write, it survives a hook restart, and a released address belongs to one pool. The
// children cannot carry it: the garbage collector deletes them with their Service, which is also
// why the status keeps the record of allocations that releases are derived from
// (allocation-record.ts).
import type { Allocation } from '../../allocation/allocate';
import { L2LB_API_VERSION, type Condition, type EventRequest, type Reservation } from '../../model';
import { clampMessage, quote } from '../../messages';
import type { PlacementResult } from '../../placement/place';
import { jsonEqual } from '../../json';
import type { L2LoadBalancerSnapshot } from '../snapshot';
import type { BalancerSummary } from '../state';
import { recordPatch } from './allocation-record';
import type { BalancerCheck } from './balancer-checks';
import { sameCondition, upsertCondition } from './service-status';

/** At most this many reservations per L2LoadBalancer (the newest are kept): a bound on status size. */
export const MAX_RESERVATIONS = 1000;

export interface BalancerStatusResult {
  updates: Array<{ name: string; status: Record<string, unknown> }>;
  events: EventRequest[];
  summaries: BalancerSummary[];
}

/**
 * The reservations each L2LoadBalancer keeps after this run: the unexpired ones it had, less those
 * whose address is allocated again, plus the addresses released in this run.
 */
export function nextReservations(
  current: ReadonlyMap<string, readonly Reservation[]>,
  released: ReadonlyArray<{ l2lbName: string; address: string; serviceKey: string }>,
  /** Every address an allocation of this run holds (allocatedAddresses). */
  allocated: ReadonlySet<string>,
  seconds: number,
  now: Date,
): Map<string, Reservation[]> {
  const byAddress = new Map<string, Map<string, Reservation>>();
  for (const [name, list] of current) {
    const m = new Map<string, Reservation>();
    for (const r of list) if (!allocated.has(r.address)) m.set(r.address, r);
    byAddress.set(name, m);
  }
  if (seconds > 0) {
    const until = new Date(now.getTime() + seconds * 1000).toISOString();
    for (const r of released) {
      if (allocated.has(r.address)) continue;
      let m = byAddress.get(r.l2lbName);
      if (m === undefined) byAddress.set(r.l2lbName, (m = new Map()));
      // Seen released again (children and record both say so, or a record written late): the
      // reservation keeps the end it got when the address was first let go.
      if (m.get(r.address)?.service === r.serviceKey) continue;
      m.set(r.address, { address: r.address, service: r.serviceKey, until });
    }
  }
  const out = new Map<string, Reservation[]>();
  for (const [name, m] of byAddress) {
    const list = [...m.values()];
    list.sort((a, b) => a.until.localeCompare(b.until) || a.address.localeCompare(b.address));
    out.set(name, list.slice(-MAX_RESERVATIONS));
  }
  return out;
}

/** Two sets of reservations as one, per L2LoadBalancer (for the allocator, which needs no `until`). */
export function mergeReservations(
  a: ReadonlyMap<string, readonly Reservation[]>,
  b: ReadonlyMap<string, readonly Reservation[]>,
): Map<string, Reservation[]> {
  const out = new Map<string, Reservation[]>();
  for (const m of [a, b]) for (const [name, list] of m) out.set(name, [...(out.get(name) ?? []), ...list]);
  return out;
}

/** The unexpired reservations of each L2LoadBalancer, as its status records them. */
export function currentReservations(
  balancers: readonly L2LoadBalancerSnapshot[],
  now: Date,
): Map<string, Reservation[]> {
  const nowMs = now.getTime();
  return new Map(
    balancers.map((b) => [
      b.balancer.name,
      b.reservations.filter((r) => {
        const until = Date.parse(r.until);
        return !Number.isNaN(until) && until > nowMs;
      }),
    ]),
  );
}

export function balancerStatuses(input: {
  balancers: readonly L2LoadBalancerSnapshot[];
  checks: ReadonlyMap<string, BalancerCheck>;
  allocations: readonly Allocation[];
  placement: PlacementResult;
  reservations: ReadonlyMap<string, readonly Reservation[]>;
  /** Each L2LoadBalancer's record of allocations after this run (allocation-record.ts). */
  records: ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;
  now: Date;
}): BalancerStatusResult {
  const nowIso = input.now.toISOString();
  const out: BalancerStatusResult = { updates: [], events: [], summaries: [] };
  const allocatedByBalancer = new Map<string, number>();
  for (const a of input.allocations) {
    if (a.address) allocatedByBalancer.set(a.l2lbName, (allocatedByBalancer.get(a.l2lbName) ?? 0) + 1);
  }
  for (const snap of input.balancers) {
    const b = snap.balancer;
    const check = input.checks.get(b.name)!;
    const eligible = input.placement.eligible.get(b.name)?.length ?? 0;
    const problems = [...check.problems];
    if (eligible === 0) {
      problems.push({
        reason: 'NoNodes',
        message: `L2LoadBalancer ${b.name}: no Ready node matches spec.nodeSelector ${quote(JSON.stringify(b.nodeSelector))}`,
      });
    }
    const ready: Omit<Condition, 'lastTransitionTime'> = {
      type: 'Ready',
      status: problems.length === 0 ? 'True' : 'False',
      reason: problems[0]?.reason ?? 'Ready',
      message: clampMessage(
        problems.length === 0 ? `${eligible} eligible nodes` : problems.map((p) => p.message).join('; '),
      ),
      observedGeneration: snap.generation,
    };
    const conditions = upsertCondition(snap.conditions, ready, nowIso);
    const allocated = allocatedByBalancer.get(b.name) ?? 0;
    const reservations = input.reservations.get(b.name) ?? [];
    const status: Record<string, unknown> = {
      conditions,
      addressesTotal: check.pool.size.toString(),
      addressesAllocated: allocated,
      eligibleNodes: eligible,
      observedGeneration: snap.generation,
      // A merge patch replaces the list; null removes it once the last reservation is gone.
      reservations: reservations.length > 0 ? reservations : null,
    };
    const readyNow = conditions.find((c) => c.type === 'Ready')!;
    const changedReady = !sameCondition(
      snap.conditions.find((c) => c.type === 'Ready'),
      readyNow,
    );
    const current = {
      conditions: snap.conditions,
      addressesTotal: snap.status.addressesTotal,
      addressesAllocated: snap.status.addressesAllocated,
      eligibleNodes: snap.status.eligibleNodes,
      observedGeneration: snap.status.observedGeneration,
      reservations: snap.reservations.length > 0 ? snap.reservations : null,
    };
    const record = recordPatch(snap.allocations, input.records.get(b.name) ?? new Map());
    if (record !== undefined) status.allocations = record;
    if (record !== undefined || !jsonEqual(current, status)) out.updates.push({ name: b.name, status });
    if (changedReady) {
      for (const p of problems.slice(0, 10)) {
        out.events.push({
          involved: { apiVersion: L2LB_API_VERSION, kind: 'L2LoadBalancer', name: b.name },
          type: 'Warning',
          reason: p.reason,
          message: p.message,
        });
      }
    }
    out.summaries.push({
      name: b.name,
      total: check.pool.size,
      allocated,
      eligibleNodes: eligible,
      ready: readyNow,
    });
  }
  return out;
}
