// A MetalLB IPAddressPool per L2LoadBalancer, so that a MetalLB in the same cluster knows these
// addresses are taken and never hands them out by itself (`autoAssign: false`).
import { LABEL_L2LB, MODULE_NAME, type InternalValues } from '../lib/model';
import { moduleLabels } from './meta';
import type { KubernetesObject } from './types';

/** MetalLB reads its configuration only from its own namespace: `d8-metallb` in Deckhouse. */
export const DECKHOUSE_METALLB_NAMESPACE = 'd8-metallb';
/** Upstream MetalLB's namespace, used when the module runs standalone. */
export const UPSTREAM_METALLB_NAMESPACE = 'metallb-system';

export function ipAddressPools(internal: InternalValues, metallbNamespace: string): KubernetesObject[] {
  if (!internal.metallbCRDsPresent) return [];
  return internal.pools.map((pool) => ({
    apiVersion: 'metallb.io/v1beta1',
    kind: 'IPAddressPool',
    metadata: {
      name: `${MODULE_NAME}-${pool.name}`,
      namespace: metallbNamespace,
      labels: { ...moduleLabels(), [LABEL_L2LB]: pool.name },
    },
    spec: { addresses: [...pool.addressPool], autoAssign: false },
  }));
}
