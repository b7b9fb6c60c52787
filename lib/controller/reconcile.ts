// The control loop as a pipeline of pure stages: the cluster as the hook's snapshots show it, in;
// the changes that bring it to the desired state, out. Nothing here talks to Kubernetes. Every
// output is a difference against what the snapshots already show, so a run on a converged cluster
// produces nothing (idempotence) and a restart loses nothing (the state lives in the cluster).
//
// Stages, in order (each in lib/controller/stages/, exported and tested on its own):
//   1. checkBalancers   pools parsed, invalid and overlapping pools found
//   2. resolveIntents   what each Service asks for, and why it may not get it
//   3. allocateAddresses which address each index holds (both records, reservations, and
//                        the balancers' records of what deleted Services held)
//   4. placeIndices     the ranked candidate nodes of each index
//   5. diffChildren     L2LBServices to create, update (with a precondition) and delete
//   6. serviceStatuses  Service ingress and condition
//   7. balancerStatuses L2LoadBalancer status, reservations and the allocation record included
//   8. nodeLabels       the member label of each node
import type { ModuleSettings, NamespaceState } from '../model';
import { ChildIndex } from './children';
import { checkBalancers } from './stages/balancer-checks';
import { allocateAddresses } from './stages/allocation';
import {
  allocatedAddresses,
  nextRecord,
  releasedFromRecord,
  unheldRecorded,
} from './stages/allocation-record';
import {
  balancerStatuses,
  currentReservations,
  mergeReservations,
  nextReservations,
} from './stages/balancer-status';
import { diffChildren } from './stages/children-diff';
import { resolveIntents } from './stages/intents';
import { nodeLabels } from './stages/node-labels';
import { placeIndices } from './stages/placement';
import { serviceStatuses } from './stages/service-status';
import type { ClusterState, ReconcilePlan } from './state';

export type {
  BalancerSummary,
  ChildUpdate,
  ClusterState,
  ReconcilePlan,
  ServiceStatusUpdate,
  ServiceSummary,
} from './state';
export { l2lbServiceName } from './children';
export { upsertCondition } from './stages/service-status';

export function reconcile(state: ClusterState, settings: ModuleSettings, now: Date): ReconcilePlan {
  const balancers = new Map(state.balancers.map((b) => [b.balancer.name, b.balancer]));
  const namespaces = new Map<string, NamespaceState>((state.namespaces ?? []).map((n) => [n.name, n]));
  const children = new ChildIndex(state.l2lbServices);

  const checks = checkBalancers([...balancers.values()]);
  const intents = resolveIntents({
    services: state.services,
    balancers,
    checks,
    children,
    nodes: state.nodes,
    namespaces,
    settings,
  });
  const reservations = currentReservations(state.balancers, now);
  // Addresses the balancers' own records show and no child holds: their Service went, maybe with
  // its children before this run saw it; held back from new askers in this run already.
  const unheld = unheldRecorded(state.balancers, children, reservations, settings.addressReservationSeconds);
  const allocation = allocateAddresses({
    intents,
    children,
    balancers,
    checks,
    // What a Service held last (its record, in index order) before what it let go earlier: a
    // Service created again with fewer indices than it has reservations gets its latest addresses.
    reservations: mergeReservations(unheld, reservations),
  });
  for (const p of allocation.problems) {
    intents.get(p.serviceKey)?.problems.push({ reason: p.kind, message: p.message });
  }
  const placement = placeIndices({
    allocations: allocation.allocations,
    intents,
    children,
    nodes: state.nodes,
    leases: state.leases,
    balancers,
    endpoints: state.endpoints,
    settings,
    now,
  });
  const diff = diffChildren({
    intents,
    allocations: allocation.allocations,
    restored: allocation.restored,
    placement,
    children,
  });
  const status = serviceStatuses({
    intents,
    held: diff.held,
    services: state.services,
    childAddresses: (key) => children.of(key).map((c) => c.state.address),
    now,
  });
  const allocated = allocatedAddresses(allocation.allocations);
  const kept = nextReservations(
    reservations,
    [...diff.released, ...releasedFromRecord(state.balancers, allocated, checks)],
    allocated,
    settings.addressReservationSeconds,
    now,
  );
  const balancerStatus = balancerStatuses({
    balancers: state.balancers,
    checks,
    allocations: allocation.allocations,
    placement,
    reservations: kept,
    records: nextRecord(state.balancers, allocation.allocations),
    now,
  });
  return {
    creates: diff.creates,
    updates: diff.updates,
    deletes: diff.deletes,
    serviceStatus: status.updates,
    balancerStatus: balancerStatus.updates,
    nodeLabels: nodeLabels(state.nodes, balancers.values()),
    events: [...diff.events, ...status.events, ...balancerStatus.events],
    services: status.summaries,
    balancers: balancerStatus.summaries,
    moves: placement.moves,
    reservations: kept,
  };
}
