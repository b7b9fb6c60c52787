// The control loop as one pure function: the cluster as the hook's snapshots show it, in; the
// changes that bring it to the desired state, out. Nothing here talks to Kubernetes. Every output
// is a difference against what the snapshots already show, so a run on a converged cluster
// produces nothing (idempotence) and a restart loses nothing (the state lives in the cluster).
import { createHash } from 'node:crypto';
import { parsePool, poolOverlaps, type Pool } from '../address/pool';
import {
  allocate,
  type AllocationProblem,
  type AllocationRequest,
  type ExistingAllocation,
} from '../allocation/allocate';
import { matchesSelector, place, type Move, type PlacementIndex } from '../placement/place';
import {
  ANNOTATION_SPEC_HASH,
  CONDITION_ALL_ASSIGNED,
  L2LB_API_VERSION,
  L2LBSERVICE_API_VERSION,
  LABEL_INDEX,
  LABEL_L2LB,
  LABEL_MEMBER,
  LABEL_PARENT_SERVICE,
  MODULE_NAME,
  type Condition,
  type EventRequest,
  type L2LoadBalancer,
  type LeaseState,
  type ModuleSettings,
  type NodeState,
  type ServiceEndpoints,
  type ServiceState,
} from '../model';
import type { KubeObject, ObjectRef } from '../sdk/output';
import { isOurs, resolveIntent, serviceKey, type ServiceIntent, type ServiceProblem } from './intent';
import type { L2LBServiceSnapshot, L2LoadBalancerSnapshot } from './snapshot';

export interface ClusterState {
  services: readonly ServiceState[];
  nodes: readonly NodeState[];
  balancers: readonly L2LoadBalancerSnapshot[];
  l2lbServices: readonly L2LBServiceSnapshot[];
  leases: readonly LeaseState[];
  endpoints: readonly ServiceEndpoints[];
}

export interface ServiceStatusUpdate {
  ref: ObjectRef;
  ingress: string[];
  conditions: Condition[];
}

export interface ServiceSummary {
  key: string;
  l2lbName: string;
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

export interface Plan {
  upserts: KubeObject[];
  deletes: ObjectRef[];
  serviceStatus: ServiceStatusUpdate[];
  balancerStatus: Array<{ name: string; status: Record<string, unknown> }>;
  nodeLabels: Array<{ name: string; member: boolean }>;
  events: EventRequest[];
  services: ServiceSummary[];
  balancers: BalancerSummary[];
  moves: Move[];
}

const SERVICE_REF = (s: ServiceState): EventRequest['involved'] => ({
  apiVersion: 'v1',
  kind: 'Service',
  namespace: s.namespace,
  name: s.name,
  uid: s.uid,
});

const MAX_NAME = 63;

/** `<service>-<l2loadbalancer>-<index>`, shortened with a hash suffix past 63 characters. */
export function l2lbServiceName(service: string, l2lb: string, index: number): string {
  const full = `${service}-${l2lb}-${index}`;
  if (full.length <= MAX_NAME) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 8);
  return `${full.slice(0, MAX_NAME - 9).replace(/[-.]+$/, '')}-${hash}`;
}

/** Upserts a condition by type, keeping lastTransitionTime while the status stays the same. */
export function upsertCondition(
  existing: readonly Condition[],
  next: Omit<Condition, 'lastTransitionTime'>,
  now: string,
): Condition[] {
  const old = existing.find((c) => c.type === next.type);
  const merged: Condition = {
    ...next,
    lastTransitionTime:
      old && old.status === next.status && old.lastTransitionTime ? old.lastTransitionTime : now,
  };
  const out = existing.filter((c) => c.type !== next.type).map((c) => ({ ...c }));
  out.push(merged);
  return out;
}

function sameCondition(a: Condition | undefined, b: Condition): boolean {
  return !!a && a.status === b.status && a.reason === b.reason && a.message === b.message;
}

/** Structural equality of JSON values, ignoring key order (cheap: no serialisation). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  let na = 0;
  for (const k in ra) {
    if (ra[k] === undefined) continue;
    na++;
    if (!jsonEqual(ra[k], rb[k])) return false;
  }
  let nb = 0;
  for (const k in rb) if (rb[k] !== undefined) nb++;
  return na === nb;
}

function problemOfAllocation(p: AllocationProblem): ServiceProblem {
  return { reason: p.kind, message: p.message };
}

interface BalancerCheck {
  pool: Pool;
  problems: Array<{ reason: string; message: string }>;
  /** The balancer's Services keep what they have and get nothing new. */
  frozen: boolean;
}

function checkBalancers(balancers: readonly L2LoadBalancer[]): Map<string, BalancerCheck> {
  const checks = new Map<string, BalancerCheck>();
  for (const b of balancers) {
    const { pool, errors } = parsePool(b.addressPool);
    const problems = errors.map((e) => ({
      reason: 'InvalidPool',
      message: `L2LoadBalancer ${b.name}: spec.addressPool[${e.index}]: ${e.message}`,
    }));
    if (b.addressPool.length === 0) {
      problems.push({
        reason: 'InvalidPool',
        message: `L2LoadBalancer ${b.name}: spec.addressPool is empty`,
      });
    }
    checks.set(b.name, { pool, problems, frozen: problems.length > 0 });
  }
  // Overlaps: the older L2LoadBalancer keeps allocating; the newer one is frozen until fixed.
  const ordered = [...balancers].sort(
    (a, b) => a.creationTimestamp.localeCompare(b.creationTimestamp) || a.name.localeCompare(b.name),
  );
  for (let i = 0; i < ordered.length; i++) {
    for (let j = i + 1; j < ordered.length; j++) {
      const older = ordered[i]!;
      const newer = ordered[j]!;
      const overlaps = poolOverlaps(checks.get(older.name)!.pool, checks.get(newer.name)!.pool);
      if (overlaps.length === 0) continue;
      const what = overlaps.map((o) => `${o.b} overlaps ${o.a}`).join('; ');
      checks.get(newer.name)!.problems.push({
        reason: 'OverlappingPool',
        message: `L2LoadBalancer ${newer.name}: spec.addressPool overlaps L2LoadBalancer ${older.name} (${what}); no new addresses are allocated from it until the overlap is removed`,
      });
      checks.get(newer.name)!.frozen = true;
      checks.get(older.name)!.problems.push({
        reason: 'OverlappingPool',
        message: `L2LoadBalancer ${older.name}: spec.addressPool overlaps newer L2LoadBalancer ${newer.name} (${what})`,
      });
    }
  }
  return checks;
}

export function reconcile(state: ClusterState, settings: ModuleSettings, now: Date): Plan {
  const nowIso = now.toISOString();
  const plan: Plan = {
    upserts: [],
    deletes: [],
    serviceStatus: [],
    balancerStatus: [],
    nodeLabels: [],
    events: [],
    services: [],
    balancers: [],
    moves: [],
  };
  const balancers = new Map(state.balancers.map((b) => [b.balancer.name, b.balancer]));
  const checks = checkBalancers([...balancers.values()]);

  // Existing children, by Service.
  const childrenByService = new Map<string, L2LBServiceSnapshot[]>();
  for (const c of state.l2lbServices) {
    const key = `${c.state.namespace}/${c.state.serviceName}`;
    const list = childrenByService.get(key) ?? [];
    list.push(c);
    childrenByService.set(key, list);
  }

  // Intents of the Services the module handles.
  const intents = new Map<string, ServiceIntent>();
  for (const s of state.services) {
    if (!isOurs(s, settings)) continue;
    const held = (childrenByService.get(serviceKey(s)) ?? []).filter((c) => c.state.address !== '').length;
    const intent = resolveIntent(s, balancers, state.nodes, settings, held);
    const check = checks.get(intent.l2lbName);
    if (check?.frozen) {
      intent.keepOnly = true;
      intent.problems.push({
        reason: 'L2LoadBalancerNotReady',
        message: `Service ${intent.key}: L2LoadBalancer ${intent.l2lbName} is not ready (${check.problems.map((p) => p.reason).join(', ')}); current addresses are kept, none is added`,
      });
    }
    intents.set(intent.key, intent);
  }

  // Allocation.
  const existing: ExistingAllocation[] = state.l2lbServices
    .filter((c) => c.state.address !== '')
    .map((c) => ({
      serviceKey: `${c.state.namespace}/${c.state.serviceName}`,
      l2lbName: c.state.l2lbName,
      index: c.state.index,
      address: c.state.address,
      createdAt: c.state.creationTimestamp,
    }));
  const requests: AllocationRequest[] = [...intents.values()].map((i) => {
    const held = childrenByService.get(i.key)?.[0]?.state.l2lbName;
    return {
      serviceKey: i.key,
      // A Service whose annotation names no existing balancer keeps the one it has.
      l2lbName: balancers.has(i.l2lbName) ? i.l2lbName : (held ?? i.l2lbName),
      count: i.count,
      requested: i.requested,
      createdAt: i.service.creationTimestamp,
      ...(i.keepOnly ? { keepOnly: true } : {}),
    };
  });
  const pools = new Map([...checks].map(([name, c]) => [name, c.pool]));
  const allocation = allocate({ pools, requests, existing });
  for (const p of allocation.problems) intents.get(p.serviceKey)?.problems.push(problemOfAllocation(p));

  // Placement.
  const endpointsByService = new Map<string, Set<string>>();
  for (const e of state.endpoints) {
    const set = endpointsByService.get(e.serviceKey) ?? new Set<string>();
    e.nodes.forEach((n) => set.add(n));
    endpointsByService.set(e.serviceKey, set);
  }
  const childAt = (key: string, index: number, l2lb: string): L2LBServiceSnapshot | undefined =>
    childrenByService.get(key)?.find((c) => c.state.index === index && c.state.l2lbName === l2lb);
  const indices: PlacementIndex[] = [];
  for (const a of allocation.allocations) {
    if (!a.address || !balancers.has(a.l2lbName)) continue;
    const intent = intents.get(a.serviceKey);
    const local = intent?.service.externalTrafficPolicy === 'Local';
    indices.push({
      key: `${a.serviceKey}/${a.index}`,
      serviceKey: a.serviceKey,
      l2lbName: a.l2lbName,
      index: a.index,
      current: childAt(a.serviceKey, a.index, a.l2lbName)?.state.nodes ?? [],
      ...(local ? { localNodes: [...(endpointsByService.get(a.serviceKey) ?? [])].sort() } : {}),
    });
  }
  const placement = place({
    nodes: state.nodes,
    leases: state.leases,
    balancers: [...balancers.values()],
    indices,
    rebalance: settings.rebalance,
    now: now.getTime(),
  });
  plan.moves = placement.moves;

  // Desired children, compared with the existing ones.
  const wanted = new Set<string>();
  const allocationsByService = new Map<string, typeof allocation.allocations>();
  for (const a of allocation.allocations) {
    const list = allocationsByService.get(a.serviceKey) ?? [];
    list.push(a);
    allocationsByService.set(a.serviceKey, list);
  }
  const movesByKey = new Map(placement.moves.map((m) => [m.key, m]));

  for (const intent of intents.values()) {
    const s = intent.service;
    const allocs = (allocationsByService.get(intent.key) ?? []).sort((a, b) => a.index - b.index);
    const summary: ServiceSummary = {
      key: intent.key,
      l2lbName: intent.l2lbName,
      requested: intent.count,
      addresses: [],
      problems: [],
    };
    for (const a of allocs) {
      if (!a.address) continue;
      const old = childAt(intent.key, a.index, a.l2lbName);
      const nodes = placement.candidates.get(`${intent.key}/${a.index}`) ?? old?.state.nodes.slice() ?? [];
      const name = l2lbServiceName(s.name, a.l2lbName, a.index);
      wanted.add(`${s.namespace}/${name}`);
      summary.addresses.push({ index: a.index, address: a.address, nodes });
      const object = l2lbServiceObject(s, a.l2lbName, a.index, a.address, nodes, name);
      if (
        !old ||
        old.state.name !== name ||
        old.specHash !== object.metadata.annotations?.[ANNOTATION_SPEC_HASH]
      ) {
        plan.upserts.push(object);
      }
      if (!old || old.state.address !== a.address) {
        plan.events.push({
          involved: SERVICE_REF(s),
          type: 'Normal',
          reason: 'PublicIPAssigned',
          message: `Public IP ${a.address} (index ${a.index}) assigned from L2LoadBalancer ${a.l2lbName}${nodes[0] ? `, preferred node ${nodes[0]}` : ''}`,
        });
      } else {
        const move = movesByKey.get(`${intent.key}/${a.index}`);
        if (move && move.reason !== 'New') {
          plan.events.push({
            involved: SERVICE_REF(s),
            type: move.reason === 'NodeFailed' ? 'Warning' : 'Normal',
            reason: move.reason === 'NodeFailed' ? 'PublicIPFailedOver' : 'PublicIPRebalanced',
            message:
              move.reason === 'NodeFailed'
                ? `Public IP ${a.address} moved from node ${move.from ?? '(none)'} to ${move.to}: ${move.from ?? 'the node'} is no longer eligible`
                : `Public IP ${a.address} moved from node ${move.from ?? '(none)'} to ${move.to} to spread load`,
          });
        }
      }
    }

    // Status: every address in index order, and one condition saying whether all are there.
    const assigned = summary.addresses.length;
    const ingress = summary.addresses.map((x) => x.address);
    const short = intent.keepOnly ? 0 : Math.max(0, intent.count - assigned);
    const ok = intent.problems.length === 0 && short === 0;
    const reasons = [...new Set(intent.problems.map((p) => p.reason))];
    const condition: Omit<Condition, 'lastTransitionTime'> = {
      type: CONDITION_ALL_ASSIGNED,
      status: ok ? 'True' : 'False',
      reason: ok ? 'AllAssigned' : (reasons[0] ?? 'PoolExhausted'),
      message:
        (intent.keepOnly
          ? `${assigned} public IPs kept, none added`
          : `${assigned} of ${intent.count} public IPs assigned`) +
        (intent.problems.length ? `; ${intent.problems.map((p) => p.message).join('; ')}` : ''),
    };
    const conditions = upsertCondition(s.conditions, condition, nowIso);
    const oldCondition = s.conditions.find((c) => c.type === CONDITION_ALL_ASSIGNED);
    const changedCondition = !sameCondition(oldCondition, conditions[conditions.length - 1]!);
    if (changedCondition || !jsonEqual(s.ingress, ingress)) {
      plan.serviceStatus.push({
        ref: { apiVersion: 'v1', kind: 'Service', namespace: s.namespace, name: s.name },
        ingress,
        conditions,
      });
    }
    if (changedCondition) {
      for (const p of intent.problems) {
        plan.events.push({ involved: SERVICE_REF(s), type: 'Warning', reason: p.reason, message: p.message });
      }
    }
    summary.problems = intent.problems.map((p) => p.message);
    plan.services.push(summary);
  }

  // Children nobody wants any more: their Service was deleted, left the module, or shrank.
  for (const c of state.l2lbServices) {
    if (wanted.has(`${c.state.namespace}/${c.state.name}`)) continue;
    plan.deletes.push({
      apiVersion: L2LBSERVICE_API_VERSION,
      kind: 'L2LBService',
      namespace: c.state.namespace,
      name: c.state.name,
    });
    const parent = intents.get(`${c.state.namespace}/${c.state.serviceName}`);
    if (parent && c.state.address) {
      plan.events.push({
        involved: SERVICE_REF(parent.service),
        type: 'Normal',
        reason: 'PublicIPReleased',
        message: `Public IP ${c.state.address} (index ${c.state.index}) released`,
      });
    }
  }
  // A Service that left the module (annotation removed) loses the ingress the module wrote.
  for (const s of state.services) {
    if (intents.has(serviceKey(s)) || s.loadBalancerClass !== undefined || s.ingress.length === 0) continue;
    const ours = new Set((childrenByService.get(serviceKey(s)) ?? []).map((c) => c.state.address));
    if (s.ingress.every((ip) => ours.has(ip))) {
      plan.serviceStatus.push({
        ref: { apiVersion: 'v1', kind: 'Service', namespace: s.namespace, name: s.name },
        ingress: [],
        conditions: s.conditions.filter((c) => c.type !== CONDITION_ALL_ASSIGNED),
      });
    }
  }

  // L2LoadBalancer status.
  const allocatedByBalancer = new Map<string, number>();
  for (const a of allocation.allocations) {
    if (a.address) allocatedByBalancer.set(a.l2lbName, (allocatedByBalancer.get(a.l2lbName) ?? 0) + 1);
  }
  for (const snap of state.balancers) {
    const b = snap.balancer;
    const check = checks.get(b.name)!;
    const eligible = placement.eligible.get(b.name)?.length ?? 0;
    const problems = [...check.problems];
    if (eligible === 0) {
      problems.push({
        reason: 'NoNodes',
        message: `L2LoadBalancer ${b.name}: no Ready node matches spec.nodeSelector ${JSON.stringify(b.nodeSelector)}`,
      });
    }
    const ready: Omit<Condition, 'lastTransitionTime'> = {
      type: 'Ready',
      status: problems.length === 0 ? 'True' : 'False',
      reason: problems[0]?.reason ?? 'Ready',
      message:
        problems.length === 0 ? `${eligible} eligible nodes` : problems.map((p) => p.message).join('; '),
      observedGeneration: snap.generation,
    };
    const conditions = upsertCondition(snap.conditions, ready, nowIso);
    const allocated = allocatedByBalancer.get(b.name) ?? 0;
    const status = {
      conditions,
      addressesTotal: check.pool.size.toString(),
      addressesAllocated: allocated,
      eligibleNodes: eligible,
      observedGeneration: snap.generation,
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
    };
    if (!jsonEqual(current, status)) plan.balancerStatus.push({ name: b.name, status });
    if (changedReady) {
      for (const p of problems) {
        plan.events.push({
          involved: { apiVersion: L2LB_API_VERSION, kind: 'L2LoadBalancer', name: b.name },
          type: 'Warning',
          reason: p.reason,
          message: p.message,
        });
      }
    }
    plan.balancers.push({
      name: b.name,
      total: check.pool.size,
      allocated,
      eligibleNodes: eligible,
      ready: readyNow,
    });
  }

  // The member label drives the speaker DaemonSet's nodeSelector.
  const selectors = [...balancers.values()].map((b) => b.nodeSelector);
  for (const n of state.nodes) {
    const member = selectors.some((sel) => matchesSelector(n.labels, sel));
    if (member !== (n.labels[LABEL_MEMBER] !== undefined)) plan.nodeLabels.push({ name: n.name, member });
  }
  return plan;
}

function l2lbServiceObject(
  s: ServiceState,
  l2lbName: string,
  index: number,
  address: string,
  nodes: string[],
  name: string,
): KubeObject {
  const spec: Record<string, unknown> = {
    type: 'LoadBalancer',
    ports: s.ports,
    serviceRef: { name: s.name, namespace: s.namespace },
    loadBalancerIP: address,
    nodes,
  };
  if (s.selector) spec.selector = s.selector;
  if (s.clusterIP) spec.clusterIP = s.clusterIP;
  if (s.externalTrafficPolicy) spec.externalTrafficPolicy = s.externalTrafficPolicy;
  if (s.internalTrafficPolicy) spec.internalTrafficPolicy = s.internalTrafficPolicy;
  if (s.loadBalancerClass) spec.loadBalancerClass = s.loadBalancerClass;
  const specHash = createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 16);
  return {
    apiVersion: L2LBSERVICE_API_VERSION,
    kind: 'L2LBService',
    metadata: {
      name,
      namespace: s.namespace,
      labels: {
        [LABEL_PARENT_SERVICE]: s.name,
        [LABEL_L2LB]: l2lbName,
        [LABEL_INDEX]: String(index),
        'app.kubernetes.io/managed-by': MODULE_NAME,
        module: MODULE_NAME,
      },
      annotations: {
        'metallb.io/address-pool': l2lbName,
        'metallb.io/loadBalancerIPs': address,
        ...(nodes[0] ? { 'metallb.io/preferredL2SpeakerNode': nodes[0] } : {}),
        [ANNOTATION_SPEC_HASH]: specHash,
      },
      ownerReferences: s.uid
        ? [
            {
              apiVersion: 'v1',
              kind: 'Service',
              name: s.name,
              uid: s.uid,
              controller: true,
              blockOwnerDeletion: false,
            },
          ]
        : [],
    },
    spec,
  };
}
