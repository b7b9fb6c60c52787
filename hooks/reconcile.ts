// The control loop. Every relevant change (Services, Nodes, L2LoadBalancers, L2LBServices,
// EndpointSlices, settings) and a 15-second schedule run it with the whole state as one group;
// speaker Leases are a snapshot only, so lease renewals never run it (DESIGN §4.2).
import { load as loadYaml } from 'js-yaml';
import { applyPlan, planMetrics } from '../lib/controller/apply';
import { reconcile, type ClusterState } from '../lib/controller/reconcile';
import {
  ENDPOINTSLICE_FILTER,
  L2LB_FILTER,
  L2LBSERVICE_FILTER,
  LEASE_FILTER,
  NODE_FILTER,
  SERVICE_FILTER,
  parseEndpointSlice,
  parseL2LBService,
  parseL2LoadBalancer,
  parseLease,
  parseNode,
  parseService,
  type Parsed,
} from '../lib/controller/snapshot';
import { L2LB_API_VERSION, L2LBSERVICE_API_VERSION, MODULE_NAMESPACE } from '../lib/model';
import { filterResults, latestSnapshots, type HookConfig } from '../lib/sdk/binding';
import { runHook } from '../lib/sdk/run';
import { parseSettings } from '../lib/settings';

export const SETTINGS_CONFIGMAP = 'l2-load-balancer-settings';
const GROUP = 'main';

export const config: HookConfig = {
  configVersion: 'v1',
  schedule: [{ name: 'rerank', crontab: '*/15 * * * * *', group: GROUP }],
  kubernetes: [
    { name: 'services', apiVersion: 'v1', kind: 'Service', jqFilter: SERVICE_FILTER, keepFullObjectsInMemory: false, group: GROUP },
    { name: 'nodes', apiVersion: 'v1', kind: 'Node', jqFilter: NODE_FILTER, keepFullObjectsInMemory: false, group: GROUP },
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
      name: 'settings',
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: { nameSelector: { matchNames: [MODULE_NAMESPACE] } },
      nameSelector: { matchNames: [SETTINGS_CONFIGMAP] },
      jqFilter: '.data["settings.yaml"] // ""',
      keepFullObjectsInMemory: false,
      group: GROUP,
    },
  ],
};

if (require.main === module) {
  runHook(config, 'l2lb_controller', ({ contexts, values, now }, { patches, metrics, log }) => {
    const snapshots = latestSnapshots(contexts);
    const invalid: string[] = [];
    const take = <T>(binding: string, parse: (raw: unknown) => Parsed<T>): T[] =>
      filterResults(snapshots, binding).flatMap((raw) => {
        const r = parse(raw);
        if (r.ok) return [r.value];
        invalid.push(r.error);
        return [];
      });

    // Settings: addon-operator's values, else the standalone ConfigMap, else the defaults.
    let rawSettings: unknown = values?.l2LoadBalancer;
    if (rawSettings === undefined) {
      const text = filterResults(snapshots, 'settings')[0];
      rawSettings = typeof text === 'string' && text.trim() ? loadYaml(text) : {};
    }
    const parsed = parseSettings(rawSettings ?? {});
    if (!parsed.ok) {
      // Invalid settings change nothing in the cluster: every Service keeps what it has.
      log('settings are invalid; no change is made until they are fixed', { errors: parsed.errors });
      metrics.set('l2lb_settings_valid', 0);
      return;
    }
    metrics.set('l2lb_settings_valid', 1);

    const state: ClusterState = {
      services: take('services', parseService),
      nodes: take('nodes', parseNode),
      balancers: take('l2loadbalancers', parseL2LoadBalancer),
      l2lbServices: take('l2lbservices', parseL2LBService),
      leases: take('leases', parseLease),
      endpoints: take('endpointslices', parseEndpointSlice),
    };
    for (const e of invalid) log('object skipped', { error: e });
    metrics.set('l2lb_objects_skipped', invalid.length);

    const plan = reconcile(state, parsed.settings, now);
    applyPlan(plan, patches, now);
    planMetrics(plan, metrics);
    log('reconciled', {
      services: plan.services.length,
      upserts: plan.upserts.length,
      deletes: plan.deletes.length,
      statusUpdates: plan.serviceStatus.length,
      moves: plan.moves.length,
    });
  });
}
