// Applies the module's own objects (namespace, speaker DaemonSet, RBAC, PodMonitor, MetalLB
// IPAddressPools) rendered from templates/, creates the heartbeat key Secret once, and removes them
// when the module is disabled (addon-operator's afterDeleteHelm). Under plain shell-operator (L2LB_STANDALONE=true) the
// addon-operator-only binding is left out, since shell-operator rejects unknown keys.
import { randomBytes } from 'node:crypto';
import {
  GRAFANA_DASHBOARD_CRD,
  METALLB_POOL_CRD,
  PODMONITOR_CRD,
  moduleObjects,
  type BalancerRef,
} from '../templates/module-objects';
import { heartbeatKeySecret } from '../templates/heartbeat-key';
import { runSettings, settingsBinding } from '../lib/controller/bindings';
import { L2LB_API_VERSION } from '../lib/model';
import { filterResults, latestSnapshots, type HookConfig } from '../lib/sdk/binding';
import { runHook } from '../lib/sdk/run';
import { deckhouseImage } from '../templates/images';

const GROUP = 'objects';
const standalone = process.env.L2LB_STANDALONE === 'true';

const config: HookConfig & { afterDeleteHelm?: number } = {
  configVersion: 'v1',
  kubernetes: [
    {
      name: 'l2loadbalancers',
      apiVersion: L2LB_API_VERSION,
      kind: 'L2LoadBalancer',
      jqFilter: '{name: .metadata.name, uid: .metadata.uid, addressPool: (.spec.addressPool // [])}',
      keepFullObjectsInMemory: false,
      group: GROUP,
    },
    {
      name: 'crds',
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      nameSelector: { matchNames: [METALLB_POOL_CRD, PODMONITOR_CRD, GRAFANA_DASHBOARD_CRD] },
      jqFilter: '.metadata.name',
      keepFullObjectsInMemory: false,
      group: GROUP,
    },
    settingsBinding(GROUP),
  ],
  ...(standalone ? {} : { afterDeleteHelm: 10 }),
};

runHook(config, 'l2lb_module_objects', ({ contexts, values }, { patches, metrics, log }) => {
  const snapshots = latestSnapshots(contexts);
  const parsed = runSettings(values, snapshots);
  if (!parsed.ok) {
    log('settings are invalid; module objects are left as they are', { errors: parsed.errors });
    metrics.set('l2lb_settings_valid', 0);
    return;
  }
  const balancers = filterResults(snapshots, 'l2loadbalancers').flatMap((b): BalancerRef[] => {
    const r = b as Partial<BalancerRef>;
    return typeof r.name === 'string' && Array.isArray(r.addressPool)
      ? [
          {
            name: r.name,
            uid: typeof r.uid === 'string' ? r.uid : '',
            addressPool: r.addressPool.filter((x): x is string => typeof x === 'string'),
          },
        ]
      : [];
  });
  const crds = new Set(filterResults(snapshots, 'crds').filter((n): n is string => typeof n === 'string'));
  // Deckhouse names the image in the values (registry + digest); standalone, the Deployment does.
  const speakerImage = deckhouseImage(values, 'speaker') ?? process.env.L2LB_SPEAKER_IMAGE;
  const objects = moduleObjects({
    settings: parsed.settings,
    balancers,
    crds,
    deckhouse: !standalone,
    ...(speakerImage ? { speakerImage } : {}),
    ...(process.env.L2LB_METALLB_NAMESPACE ? { metallbNamespace: process.env.L2LB_METALLB_NAMESPACE } : {}),
  });

  if (contexts.some((c) => c.binding === 'afterDeleteHelm')) {
    // The module is being disabled: remove what it deployed, the namespace last. L2LBService
    // objects and Service statuses stay, so re-enabling keeps every address.
    for (const o of [...objects].reverse()) {
      patches.delete({
        apiVersion: o.apiVersion,
        kind: o.kind,
        name: o.metadata.name,
        ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
      });
    }
    log('module objects removed', { objects: objects.length });
    return;
  }
  for (const o of objects) patches.createOrUpdate(o);
  // After the namespace: a key drawn anew each run, kept only by the run that creates the Secret.
  patches.createIfNotExists(heartbeatKeySecret(randomBytes(32)));
  metrics.set('l2lb_settings_valid', 1);
  log('module objects applied', { objects: objects.length, metallb: crds.has(METALLB_POOL_CRD) });
});
