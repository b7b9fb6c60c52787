// The control loop's subscriptions: a jqFilter per kind that cuts each object down to the fields
// the logic reads (so unrelated changes do not re-run the hook), and a parser per kind that turns
// the filter result into a typed state. A parser never throws on a bad object: it returns an error
// that names the object and the field, and the object is left out of this run.
import {
  ANNOTATION_IPS_COUNT,
  ANNOTATION_LB_IPS,
  ANNOTATION_LB_NAME,
  ANNOTATION_SPEC_HASH,
  LABEL_INDEX,
  LABEL_L2LB,
  LABEL_PARENT_SERVICE,
  LEASE_PREFIX,
  type Condition,
  type L2LBServiceState,
  type L2LoadBalancer,
  type LeaseState,
  type NodeState,
  type ServiceEndpoints,
  type ServicePort,
  type ServiceState,
  type LabelSelector,
  type NamespaceState,
  type Reservation,
  type ServiceAllocation,
} from '../model';
import { isRec, str, type JsonObject } from '../json';
import { readL2LBService, readLease, type Parsed } from '../objects';

// A Service of another type is reduced to its name and type: the module has nothing to do with it
// but release what it may still hold.
export const SERVICE_FILTER = `if .spec.type != "LoadBalancer" then {namespace: .metadata.namespace, name: .metadata.name, type: .spec.type} else {
  namespace: .metadata.namespace, name: .metadata.name, uid: .metadata.uid,
  creationTimestamp: .metadata.creationTimestamp, type: .spec.type,
  loadBalancerClass: .spec.loadBalancerClass,
  annotations: ((.metadata.annotations // {}) | with_entries(select(.key == "${ANNOTATION_LB_NAME}" or .key == "${ANNOTATION_IPS_COUNT}" or .key == "${ANNOTATION_LB_IPS}"))),
  labels: (.metadata.labels // {}),
  ipFamilies: .spec.ipFamilies, ipFamilyPolicy: .spec.ipFamilyPolicy,
  ports: (.spec.ports // []), selector: .spec.selector, clusterIP: .spec.clusterIP,
  externalTrafficPolicy: .spec.externalTrafficPolicy, internalTrafficPolicy: .spec.internalTrafficPolicy,
  ingress: [(.status.loadBalancer.ingress // [])[] | .ip // empty],
  conditions: (.status.conditions // [])
} end`;

export const NODE_FILTER = `{
  name: .metadata.name, labels: (.metadata.labels // {}),
  ready: ((([(.status.conditions // [])[] | select(.type == "Ready")][0].status) // "Unknown") == "True"),
  readySince: ([(.status.conditions // [])[] | select(.type == "Ready")][0].lastTransitionTime)
}`;

export const L2LB_FILTER = `{
  name: .metadata.name, generation: .metadata.generation, creationTimestamp: .metadata.creationTimestamp,
  addressPool: .spec.addressPool, nodeSelector: .spec.nodeSelector, interfaces: .spec.interfaces,
  isDefault: .spec.isDefault, serviceAllocation: .spec.serviceAllocation, status: .status
}`;

/** Namespaces, for `serviceAllocation.namespaceSelector`: the name and the labels only. */
export const NAMESPACE_FILTER = `{name: .metadata.name, labels: (.metadata.labels // {})}`;

/**
 * L2LBServices come as tuples (field order in L2LBSERVICE_FIELDS): there are tens of thousands of
 * them in every run's context, and keys would double its size.
 */
const L2LBSERVICE_FIELDS = [
  'namespace',
  'name',
  'creationTimestamp',
  'serviceName',
  'l2lbName',
  'index',
  'specHash',
  'address',
  'nodes',
  'announcingNode',
] as const;
export const L2LBSERVICE_FILTER = `[
  .metadata.namespace, .metadata.name, .metadata.creationTimestamp,
  (.metadata.labels["${LABEL_PARENT_SERVICE}"] // .spec.serviceRef.name), .metadata.labels["${LABEL_L2LB}"],
  .metadata.labels["${LABEL_INDEX}"], .metadata.annotations["${ANNOTATION_SPEC_HASH}"],
  .spec.loadBalancerIP, .spec.nodes, .status.announcingNode
]`;

export const LEASE_FILTER = `if (.metadata.name | startswith("${LEASE_PREFIX}")) | not then null else {
  name: .metadata.name, holder: .spec.holderIdentity, renewTime: .spec.renewTime,
  durationSeconds: .spec.leaseDurationSeconds
} end`;

export const ENDPOINTSLICE_FILTER = `{
  namespace: .metadata.namespace, service: .metadata.labels["kubernetes.io/service-name"],
  nodes: ([(.endpoints // [])[] | select(.conditions.ready != false) | .nodeName // empty] | unique)
}`;

export type { Parsed } from '../objects';

type Rec = JsonObject;

function strMap(v: unknown, what: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isRec(v)) throw new Error(`${what} must be a map of strings`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw new Error(`${what}["${k}"] must be a string`);
    out[k] = val;
  }
  return out;
}

function strList(v: unknown, what: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Error(`${what} must be a list of strings`);
  return v.map((x, i) => {
    if (typeof x !== 'string') throw new Error(`${what}[${i}] must be a string`);
    return x;
  });
}

function guarded<T>(what: (raw: Rec) => string, parse: (raw: Rec) => T) {
  return (raw: unknown): Parsed<T> => {
    if (!isRec(raw)) return { ok: false, error: 'snapshot entry is not an object' };
    try {
      return { ok: true, value: parse(raw) };
    } catch (e) {
      return { ok: false, error: `${what(raw)}: ${(e as Error).message}` };
    }
  };
}

function required(raw: Rec, field: string): string {
  const v = str(raw[field]);
  if (!v) throw new Error(`${field} is missing`);
  return v;
}

function conditions(v: unknown): Condition[] {
  if (!Array.isArray(v)) return [];
  return v.filter(isRec).map((c) => ({
    type: str(c.type) ?? '',
    status: c.status === 'True' || c.status === 'False' ? c.status : 'Unknown',
    reason: str(c.reason) ?? '',
    message: str(c.message) ?? '',
    lastTransitionTime: str(c.lastTransitionTime) ?? '',
    ...(typeof c.observedGeneration === 'number' ? { observedGeneration: c.observedGeneration } : {}),
  }));
}

export const parseService = guarded<ServiceState>(
  (r) => `Service ${str(r.namespace)}/${str(r.name)}`,
  (r) => ({
    namespace: required(r, 'namespace'),
    name: required(r, 'name'),
    uid: str(r.uid) ?? '',
    creationTimestamp: str(r.creationTimestamp) ?? '',
    type: str(r.type) ?? 'LoadBalancer',
    ...(str(r.loadBalancerClass) ? { loadBalancerClass: str(r.loadBalancerClass) } : {}),
    annotations: strMap(r.annotations, 'metadata.annotations'),
    ports: Array.isArray(r.ports) ? (r.ports.filter(isRec) as unknown as ServicePort[]) : [],
    selector: isRec(r.selector) ? strMap(r.selector, 'spec.selector') : undefined,
    clusterIP: str(r.clusterIP),
    externalTrafficPolicy: str(r.externalTrafficPolicy),
    internalTrafficPolicy: str(r.internalTrafficPolicy),
    ingress: strList(r.ingress, 'status.loadBalancer.ingress'),
    conditions: conditions(r.conditions),
    ...(r.ipFamilies !== undefined && r.ipFamilies !== null
      ? { ipFamilies: strList(r.ipFamilies, 'spec.ipFamilies') }
      : {}),
    ...(str(r.ipFamilyPolicy) ? { ipFamilyPolicy: str(r.ipFamilyPolicy) } : {}),
    labels: strMap(r.labels, 'metadata.labels'),
  }),
);

export const parseNamespace = guarded<NamespaceState>(
  (r) => `Namespace ${str(r.name)}`,
  (r) => ({ name: required(r, 'name'), labels: strMap(r.labels, 'metadata.labels') }),
);

const OPERATORS = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist']);

function labelSelector(v: unknown, what: string): LabelSelector | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isRec(v)) throw new Error(`${what} must be a label selector`);
  const expressions = v.matchExpressions;
  if (expressions !== undefined && expressions !== null && !Array.isArray(expressions))
    throw new Error(`${what}.matchExpressions must be a list`);
  return {
    matchLabels: strMap(v.matchLabels, `${what}.matchLabels`),
    matchExpressions: (expressions ?? []).map((e: unknown, i: number) => {
      const where = `${what}.matchExpressions[${i}]`;
      if (!isRec(e)) throw new Error(`${where} must be an object`);
      const key = str(e.key);
      if (!key) throw new Error(`${where}.key is missing`);
      const operator = str(e.operator);
      if (!operator || !OPERATORS.has(operator))
        throw new Error(`${where}.operator must be one of In, NotIn, Exists, DoesNotExist`);
      return {
        key,
        operator: operator as 'In' | 'NotIn' | 'Exists' | 'DoesNotExist',
        values: strList(e.values, `${where}.values`),
      };
    }),
  };
}

/**
 * `spec.serviceAllocation`, parsed defensively: the CRD schema may not check it (older CRDs), so
 * a malformed rule is reported on the L2LoadBalancer and freezes it instead of opening it to all.
 */
function serviceAllocation(v: unknown): { rule?: ServiceAllocation; error?: string } {
  if (v === undefined || v === null) return {};
  try {
    if (!isRec(v)) throw new Error('spec.serviceAllocation must be an object');
    const namespaceSelector = labelSelector(v.namespaceSelector, 'spec.serviceAllocation.namespaceSelector');
    const serviceSelector = labelSelector(v.serviceSelector, 'spec.serviceAllocation.serviceSelector');
    return {
      rule: {
        ...(v.namespaces !== undefined && v.namespaces !== null
          ? { namespaces: strList(v.namespaces, 'spec.serviceAllocation.namespaces') }
          : {}),
        ...(namespaceSelector ? { namespaceSelector } : {}),
        ...(serviceSelector ? { serviceSelector } : {}),
      },
    };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

function reservations(v: unknown): Reservation[] {
  if (!Array.isArray(v)) return [];
  return v.filter(isRec).flatMap((r) => {
    const address = str(r.address);
    const service = str(r.service);
    const until = str(r.until);
    return address && service && until ? [{ address, service, until }] : [];
  });
}

/** `status.allocations`, leniently: the record only adds reservations, so a bad entry is skipped. */
function allocationRecord(v: unknown): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (!isRec(v)) return out;
  for (const [service, addresses] of Object.entries(v)) {
    if (!Array.isArray(addresses)) continue;
    const list = addresses.filter((a): a is string => typeof a === 'string' && a !== '');
    if (list.length > 0) out.set(service, list);
  }
  return out;
}

export const parseNode = guarded<NodeState>(
  (r) => `Node ${str(r.name)}`,
  (r) => ({
    name: required(r, 'name'),
    labels: strMap(r.labels, 'metadata.labels'),
    ready: r.ready === true,
    ...(str(r.readySince) ? { readySince: str(r.readySince) } : {}),
  }),
);

export interface L2LoadBalancerSnapshot {
  balancer: L2LoadBalancer;
  generation: number;
  conditions: Condition[];
  status: Rec;
  /** `status.reservations`: released addresses kept for the Service that held them. */
  reservations: Reservation[];
  /** `status.allocations`: the hooks' record of which Service holds which addresses. */
  allocations: Map<string, string[]>;
}

export const parseL2LoadBalancer = guarded<L2LoadBalancerSnapshot>(
  (r) => `L2LoadBalancer ${str(r.name)}`,
  (r) => {
    const status = isRec(r.status) ? r.status : {};
    const allocation = serviceAllocation(r.serviceAllocation);
    return {
      balancer: {
        name: required(r, 'name'),
        addressPool: strList(r.addressPool, 'spec.addressPool'),
        nodeSelector: strMap(r.nodeSelector, 'spec.nodeSelector'),
        interfaces: strList(r.interfaces, 'spec.interfaces'),
        isDefault: r.isDefault === true,
        creationTimestamp: str(r.creationTimestamp) ?? '',
        ...(allocation.rule ? { serviceAllocation: allocation.rule } : {}),
        ...(allocation.error ? { serviceAllocationError: allocation.error } : {}),
      },
      generation: typeof r.generation === 'number' ? r.generation : 0,
      conditions: conditions(status.conditions),
      status,
      reservations: reservations(status.reservations),
      allocations: allocationRecord(status.allocations),
    };
  },
);

export interface L2LBServiceSnapshot {
  state: L2LBServiceState;
  /**
   * Hash of the spec the hook last wrote (annotation), compared with the desired spec's hash. The
   * snapshot carries the hash rather than the spec: it keeps the snapshot of 30,000 children small,
   * and only the module's identities may write these objects (the admission policy).
   */
  specHash: string;
}

/**
 * An L2LBService through the parser the speaker shares (lib/objects), plus what the control loop
 * needs of it: the parent Service, L2LoadBalancer and index labels.
 */
function parseL2LBServiceRecord(r: Rec): Parsed<L2LBServiceSnapshot> {
  const read = readL2LBService(r);
  if (!read.ok) return read;
  const c = read.value;
  const where = `L2LBService ${c.namespace}/${c.name}`;
  if (!c.namespace) return { ok: false, error: `${where}: namespace is missing` };
  if (!c.service.name) return { ok: false, error: `${where}: label ${LABEL_PARENT_SERVICE} is missing` };
  if (!c.l2lbName) return { ok: false, error: `${where}: label ${LABEL_L2LB} is missing` };
  if (c.index === undefined)
    return { ok: false, error: `${where}: label ${LABEL_INDEX} must be a non-negative integer` };
  return {
    ok: true,
    value: {
      state: {
        namespace: c.namespace,
        name: c.name,
        serviceName: c.service.name,
        l2lbName: c.l2lbName,
        index: c.index,
        address: c.address,
        nodes: c.nodes,
        creationTimestamp: c.creationTimestamp,
        ...(c.status.announcingNode ? { announcingNode: c.status.announcingNode } : {}),
      },
      specHash: c.specHash,
    },
  };
}

export function parseL2LBService(raw: unknown): Parsed<L2LBServiceSnapshot> {
  if (!Array.isArray(raw))
    return isRec(raw)
      ? parseL2LBServiceRecord({ ...raw, status: { announcingNode: raw.announcingNode } })
      : { ok: false, error: 'snapshot entry is not an object' };
  const r: Rec = {};
  L2LBSERVICE_FIELDS.forEach((field, i) => (r[field] = raw[i]));
  // The snapshot carries only the announcing node of the status: without one there is nothing to read.
  if (r.announcingNode) r.status = { announcingNode: r.announcingNode };
  return parseL2LBServiceRecord(r);
}

/** A speaker Lease, through the parser the speaker shares (lib/objects). */
export function parseLease(raw: unknown): Parsed<LeaseState> {
  if (!isRec(raw)) return { ok: false, error: 'snapshot entry is not an object' };
  return readLease(raw);
}

export const parseEndpointSlice = guarded<ServiceEndpoints>(
  (r) => `EndpointSlice of ${str(r.namespace)}/${str(r.service)}`,
  (r) => ({
    serviceKey: `${required(r, 'namespace')}/${required(r, 'service')}`,
    nodes: strList(r.nodes, 'endpoints[].nodeName'),
  }),
);
