// The control-loop hook's subscriptions. Every relevant change (Services, Nodes, L2LoadBalancers,
// L2LBServices, EndpointSlices, settings) and a 15-second schedule run it with the whole state as
// one group; speaker Leases are a snapshot only, so lease renewals never run it (DESIGN §4.2).
import {
  ENDPOINTSLICE_FILTER,
  L2LB_FILTER,
  L2LBSERVICE_FILTER,
  LEASE_FILTER,
  NODE_FILTER,
  SERVICE_FILTER,
} from './snapshot';
import { L2LB_API_VERSION, L2LBSERVICE_API_VERSION, MODULE_NAMESPACE } from '../model';
import type { HookConfig } from '../sdk/binding';

export const SETTINGS_CONFIGMAP = 'l2-load-balancer-settings';
const GROUP = 'main';
export const SERVICE_EVENTS = 'service_events';

export const reconcileConfig: HookConfig = {
  configVersion: 'v1',
  schedule: [{ name: 'rerank', crontab: '*/15 * * * * *', group: GROUP }],
  kubernetes: [
    // Services twice: as part of the whole state for full runs (snapshot only), and as events that
    // run the hook for just the Services they name, with the rest of the state but not the other
    // Services (a scoped run: at 10,000 Services it reads a fraction of the data).
    {
      name: 'services',
      apiVersion: 'v1',
      kind: 'Service',
      jqFilter: SERVICE_FILTER,
      keepFullObjectsInMemory: false,
      executeHookOnEvent: [],
      group: GROUP,
    },
    {
      name: SERVICE_EVENTS,
      apiVersion: 'v1',
      kind: 'Service',
      jqFilter: SERVICE_FILTER,
      keepFullObjectsInMemory: false,
      executeHookOnSynchronization: false,
      includeSnapshotsFrom: [
        'nodes',
        'l2loadbalancers',
        'l2lbservices',
        'leases',
        'endpointslices',
        'settings',
      ],
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
