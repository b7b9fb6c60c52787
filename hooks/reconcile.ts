// The control loop hook: snapshots in, patches out. The logic lives in lib/controller/.
import { applyPlan, planMetrics } from '../lib/controller/apply';
import { reconcileConfig, runSettings } from '../lib/controller/bindings';
import { reconcile, type ClusterState } from '../lib/controller/reconcile';
import {
  parseEndpointSlice,
  parseL2LBService,
  parseL2LoadBalancer,
  parseLease,
  parseNamespace,
  parseNode,
  parseService,
  type Parsed,
} from '../lib/controller/snapshot';
import { filterResults, latestSnapshots } from '../lib/sdk/binding';
import { runHook } from '../lib/sdk/run';

runHook(reconcileConfig, 'l2lb_controller', ({ contexts, values, now }, { patches, metrics, log }) => {
  const snapshots = latestSnapshots(contexts);
  const invalid: string[] = [];
  // A plain loop: tens of thousands of snapshot items, so no array per item.
  const take = <T>(binding: string, parse: (raw: unknown) => Parsed<T>): T[] => {
    const out: T[] = [];
    for (const raw of filterResults(snapshots, binding)) {
      const r = parse(raw);
      if (r.ok) out.push(r.value);
      else invalid.push(r.error);
    }
    return out;
  };

  const parsed = runSettings(values, snapshots);
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
    namespaces: take('namespaces', parseNamespace),
  };
  for (const e of invalid) log('object skipped', { error: e });
  metrics.set('l2lb_objects_skipped', invalid.length);

  const plan = reconcile(state, parsed.settings, now);
  applyPlan(plan, patches, now);
  planMetrics(plan, metrics);
  log('reconciled', {
    services: plan.services.length,
    creates: plan.creates.length,
    updates: plan.updates.length,
    deletes: plan.deletes.length,
    statusUpdates: plan.serviceStatus.length,
    moves: plan.moves.length,
  });
});
