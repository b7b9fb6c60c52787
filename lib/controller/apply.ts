// Turns a Plan into the hook's outputs: object patch operations, Events and metrics.
import { createHash } from 'node:crypto';
import {
  ANNOTATION_SPEC_HASH,
  L2LB_API_VERSION,
  LABEL_MEMBER,
  MODULE_NAME,
  type EventRequest,
} from '../model';
import {
  pointer,
  type JsonPatchOperation,
  type KubeObject,
  type MetricsCollector,
  type PatchCollector,
} from '../sdk/output';
import type { ChildUpdate, ReconcilePlan } from './state';

export function eventObject(e: EventRequest, now: Date): KubeObject {
  const ts = now.toISOString();
  // Cluster-scoped objects get their Events in `default`, as kubectl expects.
  const namespace = e.involved.namespace ?? 'default';
  const suffix = createHash('sha256').update(`${e.reason}\n${e.message}\n${ts}`).digest('hex').slice(0, 10);
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${e.involved.name}.${suffix}`, namespace },
    involvedObject: { ...e.involved },
    type: e.type,
    reason: e.reason,
    message: e.message.length > 1024 ? `${e.message.slice(0, 1021)}...` : e.message,
    source: { component: MODULE_NAME },
    reportingComponent: MODULE_NAME,
    reportingInstance: `${MODULE_NAME}-hooks`,
    firstTimestamp: ts,
    lastTimestamp: ts,
    count: 1,
  };
}

/**
 * A child's change as a JSON patch that first tests what the run saw (its address and spec hash):
 * a run working from a lagging snapshot fails here and runs again on a fresh one, instead of
 * rewriting a live child (docs/ARCHITECTURE.md §4.1). The module owns labels, annotations and owners of its
 * children, so those are written whole.
 */
export function childPatch(update: ChildUpdate): JsonPatchOperation[] {
  const { object, seen } = update;
  const ops: JsonPatchOperation[] = [];
  if (seen.address !== '') ops.push({ op: 'test', path: '/spec/loadBalancerIP', value: seen.address });
  if (seen.specHash !== '')
    ops.push({
      op: 'test',
      path: pointer('metadata', 'annotations', ANNOTATION_SPEC_HASH),
      value: seen.specHash,
    });
  ops.push(
    { op: 'add', path: '/spec', value: object.spec },
    { op: 'add', path: '/metadata/labels', value: object.metadata.labels ?? {} },
    { op: 'add', path: '/metadata/annotations', value: object.metadata.annotations ?? {} },
    { op: 'add', path: '/metadata/ownerReferences', value: object.metadata.ownerReferences ?? [] },
  );
  return ops;
}

export function applyPlan(plan: ReconcilePlan, patches: PatchCollector, now: Date): void {
  for (const d of plan.deletes) patches.delete(d);
  // New children with Create: if the name exists after all, the run fails and runs again.
  for (const o of plan.creates) patches.create(o);
  for (const u of plan.updates) {
    const { apiVersion, kind, metadata } = u.object;
    patches.jsonPatch(
      { apiVersion, kind, namespace: metadata.namespace, name: metadata.name },
      childPatch(u),
    );
  }
  for (const s of plan.serviceStatus) {
    patches.mergePatch(
      s.ref,
      { status: { loadBalancer: { ingress: s.ingress.map((ip) => ({ ip })) }, conditions: s.conditions } },
      { subresource: 'status' },
    );
  }
  for (const b of plan.balancerStatus) {
    patches.mergePatch(
      { apiVersion: L2LB_API_VERSION, kind: 'L2LoadBalancer', name: b.name },
      { status: b.status },
      {
        subresource: 'status',
      },
    );
  }
  for (const n of plan.nodeLabels) {
    patches.mergePatch(
      { apiVersion: 'v1', kind: 'Node', name: n.name },
      { metadata: { labels: { [LABEL_MEMBER]: n.member ? '' : null } } },
    );
  }
  for (const e of plan.events)
    patches.operations.push({ operation: 'CreateIfNotExists', object: eventObject(e, now) });
}

export function planMetrics(plan: ReconcilePlan, metrics: MetricsCollector): void {
  for (const b of plan.balancers) {
    const labels = { l2loadbalancer: b.name };
    metrics.set('l2lb_pool_addresses_total', Number(b.total), labels);
    metrics.set('l2lb_pool_addresses_allocated', b.allocated, labels);
    metrics.set('l2lb_pool_eligible_nodes', b.eligibleNodes, labels);
    metrics.set('l2lb_l2loadbalancer_ready', b.ready.status === 'True' ? 1 : 0, labels);
  }
  const perNode = new Map<string, number>();
  let services = 0;
  for (const s of plan.services) {
    services++;
    const [namespace = '', service = ''] = s.key.split('/');
    const missing = s.requested - s.addresses.length;
    if (missing > 0)
      metrics.set('l2lb_service_public_ips_missing', missing, {
        namespace,
        service,
        l2loadbalancer: s.l2lbName,
      });
    if (s.problems.length > 0) metrics.set('l2lb_service_invalid_input', 1, { namespace, service });
    for (const a of s.addresses) {
      const node = a.nodes[0];
      if (node) perNode.set(node, (perNode.get(node) ?? 0) + 1);
    }
  }
  metrics.set('l2lb_services', services);
  for (const [node, n] of [...perNode].sort()) metrics.set('l2lb_node_preferred_addresses', n, { node });
}
