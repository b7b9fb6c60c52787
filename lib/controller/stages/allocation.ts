// Stage 3, allocation: the requests of every intent (one per family), the addresses held today
// from both records of an allocation (the L2LBServices, and the Service's own
// status.loadBalancer.ingress for a child that went missing), and the reservations of released
// addresses, handed to the pure allocator.
import { parseCanonical, poolContains, type Family } from '../../address/pool';
import {
  allocate,
  type Allocation,
  type AllocationProblem,
  type AllocationRequest,
  type ExistingAllocation,
} from '../../allocation/allocate';
import type { L2LoadBalancer, Reservation } from '../../model';
import type { ChildIndex } from '../children';
import type { BalancerCheck } from './balancer-checks';
import type { PoolIntent } from './intents';

export interface AllocationStageInput {
  intents: ReadonlyMap<string, PoolIntent>;
  children: ChildIndex;
  balancers: ReadonlyMap<string, L2LoadBalancer>;
  checks: ReadonlyMap<string, BalancerCheck>;
  /** Unexpired reservations, per L2LoadBalancer. */
  reservations: ReadonlyMap<string, readonly Reservation[]>;
}

export interface AllocationStageResult {
  allocations: Allocation[];
  problems: AllocationProblem[];
  /** `serviceKey|l2lb|index|address` of the addresses taken back from a Service's status. */
  restored: Set<string>;
}

export const restoredKey = (serviceKey: string, l2lb: string, index: number, address: string): string =>
  `${serviceKey}|${l2lb}|${index}|${address}`;

export function allocateAddresses(input: AllocationStageInput): AllocationStageResult {
  const { intents, children, balancers, checks } = input;
  const requests: AllocationRequest[] = [];
  const l2lbOf = new Map<string, string>();
  for (const i of intents.values()) {
    // A Service whose annotation names no existing balancer keeps the one it has.
    const l2lbName = balancers.has(i.l2lbName)
      ? i.l2lbName
      : (children.of(i.key)[0]?.state.l2lbName ?? i.l2lbName);
    l2lbOf.set(i.key, l2lbName);
    const base = {
      serviceKey: i.key,
      l2lbName,
      count: i.count,
      createdAt: i.service.creationTimestamp,
      ...(i.keepOnly ? { keepOnly: true } : {}),
    };
    if (i.families === undefined) {
      requests.push({ ...base, requested: i.requested });
      continue;
    }
    const dual = i.families.length > 1;
    for (const family of i.families) {
      if (!i.keepOnly && i.unavailable.includes(family)) continue;
      const requested = dual ? entriesOf(i.requested, family, family === i.families[0]) : i.requested;
      requests.push({ ...base, requested: requested.slice(0, i.count), family });
    }
  }

  const existing: ExistingAllocation[] = [];
  for (const c of children.all) {
    if (c.state.address === '') continue;
    existing.push({
      serviceKey: `${c.state.namespace}/${c.state.serviceName}`,
      l2lbName: c.state.l2lbName,
      index: c.state.index,
      address: c.state.address,
      createdAt: c.state.creationTimestamp,
    });
  }
  const restored = new Set<string>();
  for (const i of intents.values()) {
    const l2lbName = l2lbOf.get(i.key) as string;
    const pool = checks.get(l2lbName)?.pool;
    if (pool === undefined || i.service.ingress.length === 0) continue;
    // Ingress is in index order, but an index left empty (exhaustion) leaves no gap in it: an
    // address taken back goes to the lowest index of its family that has no child yet.
    const used = new Set<string>();
    for (const ip of i.service.ingress) {
      // The usual case, a child holds what the status shows: no parse needed.
      if (children.holders.has(ip)) continue;
      const parsed = parseCanonical(ip);
      if (parsed === undefined) continue;
      const family = parsed.address.family;
      // The second record: a child that went missing (deleted by hand, lost in a restore) is
      // adopted back from the Service's status, unless another child holds the address.
      if (i.families !== undefined && !i.families.includes(family)) continue;
      if (children.holders.has(parsed.text) || !poolContains(pool, parsed.address)) continue;
      const slot = i.families === undefined ? undefined : family;
      let index = 0;
      while (used.has(`${slot}/${index}`) || children.at(i.key, l2lbName, index, slot)) index++;
      used.add(`${slot}/${index}`);
      existing.push({
        serviceKey: i.key,
        l2lbName,
        index,
        address: parsed.text,
        createdAt: i.service.creationTimestamp,
      });
      restored.add(restoredKey(i.key, l2lbName, index, parsed.text));
    }
  }

  const reservations = [...input.reservations.values()].flatMap((list) =>
    list.map((r) => ({ address: r.address, serviceKey: r.service })),
  );
  const pools = new Map([...checks].map(([name, c]) => [name, c.pool]));
  const result = allocate({ pools, requests, existing, reservations });
  return { ...result, restored };
}

/** The pinned entries of one family, in order; entries that are no address go to the primary family. */
function entriesOf(requested: readonly string[], family: Family, primary: boolean): string[] {
  return requested.filter((e) => {
    const f = parseCanonical(e)?.address.family;
    return f === family || (f === undefined && primary);
  });
}
