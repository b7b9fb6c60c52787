// What the control loop reads (ClusterState) and what one run decides (ReconcilePlan). The
// pipeline in reconcile.ts passes these between its stages; the hook turns the plan into patches.
import type {
  Condition,
  EventRequest,
  LeaseState,
  NamespaceState,
  NodeState,
  Reservation,
  ServiceEndpoints,
  ServiceState,
} from '../model';
import type { Move } from '../placement/place';
import type { KubeObject, ObjectRef } from '../sdk/output';
import type { L2LBServiceSnapshot, L2LoadBalancerSnapshot } from './snapshot';

export interface ClusterState {
  services: readonly ServiceState[];
  nodes: readonly NodeState[];
  balancers: readonly L2LoadBalancerSnapshot[];
  l2lbServices: readonly L2LBServiceSnapshot[];
  leases: readonly LeaseState[];
  endpoints: readonly ServiceEndpoints[];
  /** Namespaces with their labels, for `serviceAllocation.namespaceSelector`; absent = none known. */
  namespaces?: readonly NamespaceState[];
}

export interface ServiceStatusUpdate {
  ref: ObjectRef;
  ingress: string[];
  conditions: Condition[];
}

export interface ServiceSummary {
  key: string;
  l2lbName: string;
  /** Addresses asked for: indices times families. */
  requested: number;
  addresses: Array<{ index: number; address: string; nodes: string[] }>;
  problems: string[];
}

export interface BalancerSummary {
  name: string;
  total: bigint;
  allocated: number;
  eligibleNodes: number;
  ready: Condition;
}

/**
 * A change of an existing L2LBService, with what the run saw of it: the hook writes it with a
 * precondition on `seen`, so a run that worked from a stale snapshot fails and runs again instead
 * of overwriting a newer state (docs/ARCHITECTURE.md §4.1).
 */
export interface ChildUpdate {
  object: KubeObject;
  seen: { address: string; specHash: string };
}

export interface ReconcilePlan {
  /** New L2LBServices: written with Create, which fails if the name is already taken. */
  creates: KubeObject[];
  updates: ChildUpdate[];
  deletes: ObjectRef[];
  serviceStatus: ServiceStatusUpdate[];
  balancerStatus: Array<{ name: string; status: Record<string, unknown> }>;
  nodeLabels: Array<{ name: string; member: boolean }>;
  events: EventRequest[];
  services: ServiceSummary[];
  balancers: BalancerSummary[];
  moves: Move[];
  /** Reservations of released addresses, per L2LoadBalancer, as this run leaves them. */
  reservations: Map<string, Reservation[]>;
}
