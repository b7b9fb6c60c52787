// The domain of the module, as plain typed data. Every other part of `lib/` speaks these words:
// pool, address, allocation, candidate, placement, announcement, lease, speaker, index.
// Hooks and the speaker parse Kubernetes objects into these types at their boundary.

/** API groups and names, used the same way everywhere. */
export const GROUP = 'network.deckhouse.io';
export const INTERNAL_GROUP = 'internal.network.deckhouse.io';
export const L2LB_API_VERSION = `${GROUP}/v1alpha1`;
export const L2LBSERVICE_API_VERSION = `${INTERNAL_GROUP}/v1alpha1`;
export const MODULE_NAMESPACE = 'd8-l2-load-balancer';
export const MODULE_NAME = 'l2-load-balancer';

export const ANNOTATION_LB_NAME = `${GROUP}/l2-load-balancer-name`;
export const ANNOTATION_IPS_COUNT = `${GROUP}/l2-load-balancer-external-ips-count`;
export const ANNOTATION_LB_IPS = `${GROUP}/load-balancer-ips`;
export const ANNOTATION_SPEC_HASH = `${GROUP}/spec-hash`;
export const LABEL_PARENT_SERVICE = `${GROUP}/parent-service`;
export const LABEL_L2LB = `${GROUP}/l2-load-balancer`;
export const LABEL_INDEX = `${GROUP}/index`;
export const LABEL_MEMBER = `l2-load-balancer.${GROUP}/member`;
export const LABEL_EXCLUDE_FROM_LB = 'node.kubernetes.io/exclude-from-external-load-balancers';
export const CONDITION_ALL_ASSIGNED = `${GROUP}/AllPublicIPsAssigned`;
export const LEASE_PREFIX = 'l2lb-speaker-';

/** `namespace/name` of a Service. */
export type ServiceKey = string;

/** A balancer node as the control loop sees it. */
export interface NodeState {
  name: string;
  labels: Readonly<Record<string, string>>;
  ready: boolean;
  /** When the Ready condition last changed (ISO 8601); drives "healthy for a while" in rebalancing. */
  readySince?: string;
}

/** A speaker's Lease, reduced to what freshness needs. */
export interface LeaseState {
  node: string;
  /** microTime of the last renewal (ISO 8601), absent when the speaker released it. */
  renewTime?: string;
  durationSeconds: number;
  /** Where the speaker listens for heartbeats (annotation, lib/speaker/heartbeat/peers.ts). */
  heartbeatEndpoints?: string;
}

/** An `L2LoadBalancer` object (cluster-scoped). */
export interface L2LoadBalancer {
  name: string;
  addressPool: readonly string[];
  nodeSelector: Readonly<Record<string, string>>;
  interfaces: readonly string[];
  isDefault: boolean;
  creationTimestamp: string;
  /** `spec.serviceAllocation`: who may take addresses from this pool; absent = every namespace. */
  serviceAllocation?: ServiceAllocation;
  /** Why `spec.serviceAllocation` could not be read; the L2LoadBalancer is frozen until it is fixed. */
  serviceAllocationError?: string;
}

/** A Kubernetes label selector (`matchLabels` and `matchExpressions`). */
export interface LabelSelector {
  matchLabels?: Readonly<Record<string, string>>;
  matchExpressions?: ReadonlyArray<{
    key: string;
    operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
    values?: readonly string[];
  }>;
}

/** `L2LoadBalancer.spec.serviceAllocation`, as MetalLB's `IPAddressPool.spec.serviceAllocation`. */
export interface ServiceAllocation {
  namespaces?: readonly string[];
  namespaceSelector?: LabelSelector;
  serviceSelector?: LabelSelector;
}

/** A Namespace, reduced to what `serviceAllocation.namespaceSelector` reads. */
export interface NamespaceState {
  name: string;
  labels: Readonly<Record<string, string>>;
}

/**
 * A released address kept for the Service that held it (docs/ARCHITECTURE.md §4.1), recorded in the
 * L2LoadBalancer's `status.reservations` so a restarted hook still knows it.
 */
export interface Reservation {
  address: string;
  /** `namespace/name` of the Service that held it. */
  service: ServiceKey;
  /** When the reservation ends (ISO 8601). */
  until: string;
}

/** The parts of a `Service` the control loop reads. */
export interface ServiceState {
  namespace: string;
  name: string;
  uid: string;
  creationTimestamp: string;
  type: string;
  loadBalancerClass?: string;
  annotations: Readonly<Record<string, string>>;
  ports: readonly ServicePort[];
  selector?: Readonly<Record<string, string>>;
  clusterIP?: string;
  externalTrafficPolicy?: string;
  internalTrafficPolicy?: string;
  /** `status.loadBalancer.ingress[].ip` as it is now. */
  ingress: readonly string[];
  /** `spec.ipFamilies` (`IPv4`, `IPv6`), in the Service's order; the API server always sets it. */
  ipFamilies?: readonly string[];
  /** `spec.ipFamilyPolicy`: `SingleStack`, `PreferDualStack` or `RequireDualStack`. */
  ipFamilyPolicy?: string;
  /** `metadata.labels`, for `serviceAllocation.serviceSelector`. */
  labels?: Readonly<Record<string, string>>;
  conditions: readonly Condition[];
}

export interface ServicePort {
  name?: string;
  protocol?: string;
  port: number;
  targetPort?: number | string;
  nodePort?: number;
  appProtocol?: string;
}

/** An existing `L2LBService`: one index of one Service, holding one address. */
export interface L2LBServiceState {
  namespace: string;
  name: string;
  serviceName: string;
  l2lbName: string;
  index: number;
  /** `spec.loadBalancerIP`; empty while nothing is allocated to this index. */
  address: string;
  /** `spec.nodes`: ranked candidates, first = preferred. */
  nodes: readonly string[];
  creationTimestamp: string;
  /** `status.announcingNode` as written by the speaker. */
  announcingNode?: string;
}

/** For `externalTrafficPolicy: Local`: nodes that have a ready endpoint of a Service. */
export interface ServiceEndpoints {
  serviceKey: ServiceKey;
  nodes: readonly string[];
}

/** A Kubernetes condition. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** A request for an Event on an object; the hook turns it into a `v1/Event`. */
export interface EventRequest {
  involved: { apiVersion: string; kind: string; namespace?: string; name: string; uid?: string };
  type: 'Normal' | 'Warning';
  /** CamelCase, e.g. `AddressAllocated`, `InvalidExternalIPsCount`. */
  reason: string;
  message: string;
}

/** Rebalancing settings (`rebalance` in the module config). */
export interface RebalanceSettings {
  /** `Never`: an index moves only when its node fails. `Gradual`: moves back onto nodes that returned. */
  mode: 'Never' | 'Gradual';
  /** A node must have been Ready this long before indices move onto it. */
  minNodeReadySeconds: number;
  /** At most this many indices move in one run of the control loop. */
  maxMovesPerRun: number;
}

/** Gratuitous ARP settings of the speaker. */
export interface GarpSettings {
  count: number;
  intervalMilliseconds: number;
  refreshSeconds: number;
}

/** Heartbeats between the speakers (lib/speaker/heartbeat). */
export interface HeartbeatSettings {
  intervalMilliseconds: number;
  missCount: number;
  port: number;
}

/** The module settings (`l2LoadBalancer` values without `internal`). */
export interface ModuleSettings {
  loadBalancerClass?: string;
  maxExternalIPsPerService: number;
  /** How long a released address stays reserved for the Service that held it (docs/ARCHITECTURE.md §4.1). */
  addressReservationSeconds: number;
  rebalance: RebalanceSettings;
  speaker: {
    logLevel: 'Debug' | 'Info' | 'Warn' | 'Error';
    leaseDurationSeconds: number;
    renewIntervalSeconds: number;
    garp: GarpSettings;
    heartbeat: HeartbeatSettings;
    tolerations: readonly Record<string, unknown>[];
    resources: Record<string, unknown>;
  };
}

/** One `L2LoadBalancer` pool as the hooks hand it to the templates (`internal.pools[]`). */
export interface InternalPool {
  name: string;
  addressPool: readonly string[];
}

/** What the hooks write into the module values (`internal`), read by the templates. */
export interface InternalValues {
  pools: readonly InternalPool[];
  /** Whether the `metallb.io` CRDs exist: then each pool is mirrored as an `IPAddressPool`. */
  metallbCRDsPresent: boolean;
  /** The heartbeat key, base64 (lib/heartbeat-key.ts); under addon-operator only. */
  heartbeatKey?: string;
}

/** The module values: settings (`openapi/config-values.yaml`) plus `internal` (`openapi/values.yaml`). */
export interface ModuleValues extends ModuleSettings {
  internal: InternalValues;
}
