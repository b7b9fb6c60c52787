// What the module-objects hook applies: the templates rendered for the current values, with the
// module's own knowledge of the cluster (which pools are valid, which optional CRDs exist).
import { parsePool } from '../lib/address/pool';
import { L2LB_API_VERSION, type InternalValues, type ModuleSettings } from '../lib/model';
import { renderModule, moduleValuesFromSettings, type KubernetesObject } from './index';

export const METALLB_POOL_CRD = 'ipaddresspools.metallb.io';
export const PODMONITOR_CRD = 'podmonitors.monitoring.coreos.com';
/** Deckhouse's prometheus-crd module: where Deckhouse's Grafana reads dashboards from. */
export const GRAFANA_DASHBOARD_CRD = 'grafanadashboarddefinitions.deckhouse.io';

export interface BalancerRef {
  name: string;
  uid: string;
  addressPool: readonly string[];
}

export interface ModuleObjectsInput {
  settings: ModuleSettings;
  balancers: readonly BalancerRef[];
  crds: ReadonlySet<string>;
  speakerImage?: string;
  /** Where MetalLB reads IPAddressPools; the renderer's default when absent. */
  metallbNamespace?: string;
  /**
   * Applied under addon-operator (Deckhouse), where the hooks may apply what plain shell-operator's
   * ServiceAccount may not: the user-authz roles, and the GrafanaDashboardDefinition (see RenderOptions).
   */
  deckhouse?: boolean;
}

/** Only valid pools are mirrored to MetalLB; an invalid one is reported on its L2LoadBalancer. */
function validBalancers(balancers: readonly BalancerRef[]): BalancerRef[] {
  return balancers.filter((b) => b.addressPool.length > 0 && parsePool(b.addressPool).errors.length === 0);
}

/**
 * The `internal` values the templates render from what the hook sees of the cluster (the pools of
 * the valid L2LoadBalancers, whether MetalLB's CRDs exist); under addon-operator the hook also
 * keeps them in the module values (openapi/values.yaml).
 */
export function moduleInternalValues(
  input: Pick<ModuleObjectsInput, 'balancers' | 'crds'>,
): Pick<InternalValues, 'pools' | 'metallbCRDsPresent'> {
  return {
    pools: validBalancers(input.balancers).map((b) => ({ name: b.name, addressPool: [...b.addressPool] })),
    metallbCRDsPresent: input.crds.has(METALLB_POOL_CRD),
  };
}

export function moduleObjects(input: ModuleObjectsInput): KubernetesObject[] {
  const valid = validBalancers(input.balancers);
  const values = moduleValuesFromSettings(input.settings, moduleInternalValues(input));
  const objects = renderModule(values, {
    podMonitor: input.crds.has(PODMONITOR_CRD),
    userAuthz: input.deckhouse ?? false,
    grafanaDashboardDefinition: (input.deckhouse ?? false) && input.crds.has(GRAFANA_DASHBOARD_CRD),
    ...(input.speakerImage ? { image: { speaker: input.speakerImage } } : {}),
    ...(input.metallbNamespace ? { metallbNamespace: input.metallbNamespace } : {}),
  });
  // An IPAddressPool belongs to its L2LoadBalancer, so the garbage collector removes it with it.
  const byName = new Map(valid.map((b) => [b.name, b]));
  for (const o of objects) {
    if (o.kind !== 'IPAddressPool') continue;
    const owner = byName.get(o.metadata.labels?.['network.deckhouse.io/l2-load-balancer'] ?? '');
    if (owner?.uid) {
      o.metadata.ownerReferences = [
        {
          apiVersion: L2LB_API_VERSION,
          kind: 'L2LoadBalancer',
          name: owner.name,
          uid: owner.uid,
          blockOwnerDeletion: false,
        },
      ];
    }
  }
  return objects;
}
