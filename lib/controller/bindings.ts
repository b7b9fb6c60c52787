// The control-loop hook's subscriptions. Every relevant change (Services, Nodes, L2LoadBalancers,
// L2LBServices, EndpointSlices, settings) and a 15-second schedule run it with the whole state as
// one group; speaker Leases are a snapshot only, so lease renewals never run it (docs/ARCHITECTURE.md §4.2).
import {
  ENDPOINTSLICE_FILTER,
  L2LB_FILTER,
  L2LBSERVICE_FILTER,
  LEASE_FILTER,
  NAMESPACE_FILTER,
  NODE_FILTER,
  SERVICE_FILTER,
} from './snapshot';
import { L2LB_API_VERSION, L2LBSERVICE_API_VERSION, MODULE_NAMESPACE } from '../model';
import { filterResults, type HookConfig, type KubernetesBinding, type SnapshotItem } from '../sdk/binding';
import { hookSettings, type SettingsResult } from '../settings';

export const SETTINGS_CONFIGMAP = 'l2-load-balancer-settings';
const GROUP = 'main';

export const reconcileConfig: HookConfig = {
  configVersion: 'v1',
  schedule: [{ name: 'rerank', crontab: '*/15 * * * * *', group: GROUP }],
  kubernetes: [
    // Every binding is one group: any change runs the hook on the whole state, and shell-operator
    // compacts a burst of queued group events into one run (a burst of 1,000 Service creations is
    // one run, not 1,000). Scoped runs per Service event were tried and dropped: shell-operator
    // gives each combined non-group event its own copy of the included snapshots, so a burst made
    // the binding context grow as events x cluster size (467 MB for 1,000 Services at once).
    {
      name: 'services',
      apiVersion: 'v1',
      kind: 'Service',
      jqFilter: SERVICE_FILTER,
      keepFullObjectsInMemory: false,
      group: GROUP,
    },
    {
      name: 'nodes',
      apiVersion: 'v1',
      kind: 'Node',
      jqFilter: NODE_FILTER,
      keepFullObjectsInMemory: false,
      group: GROUP,
    },
    {
      name: 'l2loadbalancers',
      apiVersion: L2LB_API_VERSION,
      kind: 'L2LoadBalancer',
      jqFilter: L2LB_FILTER,
      keepFullObjectsInMemory: false,
      group: GROUP,
    },
    {
      name: 'l2lbservices',
      apiVersion: L2LBSERVICE_API_VERSION,
      kind: 'L2LBService',
      jqFilter: L2LBSERVICE_FILTER,
      keepFullObjectsInMemory: false,
      // The hook writes these itself; reacting to its own writes would re-run the whole state for
      // nothing. A child removed or edited by hand is restored by the next scheduled run.
      executeHookOnEvent: [],
      group: GROUP,
    },
    {
      name: 'leases',
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      namespace: { nameSelector: { matchNames: [MODULE_NAMESPACE] } },
      jqFilter: LEASE_FILTER,
      keepFullObjectsInMemory: false,
      executeHookOnEvent: [],
      executeHookOnSynchronization: false,
      group: GROUP,
    },
    {
      name: 'endpointslices',
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      jqFilter: ENDPOINTSLICE_FILTER,
      keepFullObjectsInMemory: false,
      group: GROUP,
    },
    {
      // For spec.serviceAllocation.namespaceSelector: a label change on a Namespace may allow or
      // refuse its Services, so it runs the hook like any other member of the group.
      name: 'namespaces',
      apiVersion: 'v1',
      kind: 'Namespace',
      jqFilter: NAMESPACE_FILTER,
      keepFullObjectsInMemory: false,
      group: GROUP,
    },
    settingsBinding(GROUP),
  ],
};

/**
 * The standalone settings (ConfigMap d8-l2-load-balancer/l2-load-balancer-settings, key
 * settings.yaml); under addon-operator the values carry them instead.
 */
export function settingsBinding(group: string): KubernetesBinding {
  return {
    name: 'settings',
    apiVersion: 'v1',
    kind: 'ConfigMap',
    namespace: { nameSelector: { matchNames: [MODULE_NAMESPACE] } },
    nameSelector: { matchNames: [SETTINGS_CONFIGMAP] },
    jqFilter: '.data["settings.yaml"] // ""',
    keepFullObjectsInMemory: false,
    group,
  };
}

/** The module settings of a run: addon-operator's values, else the standalone ConfigMap (lib/settings.ts). */
export function runSettings(
  values: Record<string, unknown> | undefined,
  snapshots: Map<string, SnapshotItem[]>,
): SettingsResult {
  const text = filterResults(snapshots, 'settings')[0];
  return hookSettings(
    values,
    typeof text === 'string' ? text : undefined,
    `ConfigMap ${MODULE_NAMESPACE}/${SETTINGS_CONFIGMAP}`,
  );
}
