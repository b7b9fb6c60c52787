// `L2LoadBalancer.spec.serviceAllocation` (docs/ARCHITECTURE.md §2.2): who may take addresses from a pool, as
// MetalLB's IPAddressPool.spec.serviceAllocation. Absent = every namespace. All given parts must
// match: the namespace is listed (when `namespaces` is given), its labels match
// `namespaceSelector`, and the Service's labels match `serviceSelector`.
import type { LabelSelector, NamespaceState, ServiceAllocation, ServiceState } from '../model';

/** Whether labels match a Kubernetes label selector; an empty selector matches everything. */
export function matchesLabelSelector(
  labels: Readonly<Record<string, string>>,
  selector: LabelSelector,
): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const value = labels[e.key];
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(value as string)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(value as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/**
 * The labels of a namespace as a selector sees them: the API server sets
 * `kubernetes.io/metadata.name` on every namespace, so it is there even before the Namespace is known.
 */
export function namespaceLabels(
  name: string,
  namespaces: ReadonlyMap<string, NamespaceState>,
): Record<string, string> {
  return { ...(namespaces.get(name)?.labels ?? {}), 'kubernetes.io/metadata.name': name };
}

/** Why a Service may not take addresses from a pool, or undefined when it may. */
export function notAllowedBecause(
  rule: ServiceAllocation | undefined,
  service: ServiceState,
  namespaces: ReadonlyMap<string, NamespaceState>,
): string | undefined {
  if (rule === undefined) return undefined;
  if (rule.namespaces !== undefined && rule.namespaces.length > 0) {
    if (!rule.namespaces.includes(service.namespace))
      return `namespace ${service.namespace} is not in spec.serviceAllocation.namespaces`;
  }
  if (
    rule.namespaceSelector !== undefined &&
    !matchesLabelSelector(namespaceLabels(service.namespace, namespaces), rule.namespaceSelector)
  ) {
    return `the labels of namespace ${service.namespace} do not match spec.serviceAllocation.namespaceSelector`;
  }
  if (
    rule.serviceSelector !== undefined &&
    !matchesLabelSelector(service.labels ?? {}, rule.serviceSelector)
  ) {
    return `the Service's labels do not match spec.serviceAllocation.serviceSelector`;
  }
  return undefined;
}
