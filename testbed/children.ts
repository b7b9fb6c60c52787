// An L2LBService the control loop wrote, read back as the hooks' snapshot holds it: how the property
// tests and the benchmarks feed one run's output to the next run.
import type { L2LBServiceSnapshot } from '../lib/controller/snapshot';
import { ANNOTATION_SPEC_HASH, LABEL_INDEX, LABEL_L2LB, LABEL_PARENT_SERVICE } from '../lib/model';
import type { KubeObject } from '../lib/sdk/output';

export function childSnapshotOf(o: KubeObject, created: string): L2LBServiceSnapshot {
  const spec = o.spec as { loadBalancerIP: string; nodes: string[] };
  const labels = o.metadata.labels ?? {};
  return {
    state: {
      namespace: o.metadata.namespace ?? '',
      name: o.metadata.name,
      serviceName: labels[LABEL_PARENT_SERVICE] ?? '',
      l2lbName: labels[LABEL_L2LB] ?? '',
      index: Number(labels[LABEL_INDEX]),
      address: spec.loadBalancerIP,
      nodes: spec.nodes,
      creationTimestamp: created,
    },
    specHash: o.metadata.annotations?.[ANNOTATION_SPEC_HASH] ?? '',
  };
}
