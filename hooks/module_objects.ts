// Applies the module's own objects (namespace, speaker DaemonSet, RBAC, PodMonitor, MetalLB
// IPAddressPools) rendered from templates/, and the heartbeat key Secret, and removes them when the
// module is disabled (addon-operator's afterDeleteHelm). Under addon-operator the heartbeat key is
// kept in the values (`internal.heartbeatKey`, written through $VALUES_JSON_PATCH_PATH, which
// addon-operator validates against openapi/values.yaml) and taken from the Secret when it exists
// (lib/heartbeat-key.ts), and so are the pools and the MetalLB CRDs' presence the templates rendered
// from (`internal.pools`, `internal.metallbCRDsPresent`). Under plain shell-operator (L2LB_STANDALONE=true) the addon-operator-only
// binding and the Secret binding are left out (shell-operator rejects unknown keys; the standalone
// hooks may read no Secret): the Secret, created once, is the key's only record there.
import { randomBytes } from 'node:crypto';
import { HEARTBEAT_KEY_BYTES, HEARTBEAT_KEY_VALUES_PATH, planHeartbeatKey } from '../lib/heartbeat-key';
import {
  GRAFANA_DASHBOARD_CRD,
  METALLB_POOL_CRD,
  PODMONITOR_CRD,
  moduleInternalValues,
  moduleObjects,
  type BalancerRef,
} from '../templates/module-objects';
import { HEARTBEAT_KEY_FIELD, HEARTBEAT_KEY_SECRET, heartbeatKeySecret } from '../templates/heartbeat-key';
import { runSettings, settingsBinding } from '../lib/controller/bindings';
import { L2LB_API_VERSION, MODULE_NAMESPACE } from '../lib/model';
import { VALUES_KEY } from '../lib/settings';
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
    ...(standalone
      ? []
      : [
          {
            name: 'heartbeat_key',
            apiVersion: 'v1',
            kind: 'Secret',
            namespace: { nameSelector: { matchNames: [MODULE_NAMESPACE] } },
            nameSelector: { matchNames: [HEARTBEAT_KEY_SECRET] },
            jqFilter: `{key: (.data["${HEARTBEAT_KEY_FIELD}"] // null)}`,
            keepFullObjectsInMemory: false,
            group: GROUP,
          },
        ]),
  ],
  ...(standalone ? {} : { afterDeleteHelm: 10 }),
};

runHook(
  config,
  'l2lb_module_objects',
  ({ contexts, values }, { patches, metrics, values: valuesPatch, log }) => {
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
    // After the namespace, which holds the Secret.
    const key = planHeartbeatKey({
      ...(standalone ? {} : { secret: heartbeatKeySnapshot(filterResults(snapshots, 'heartbeat_key')) }),
      ...(values === undefined ? {} : { values: { key: internalValue(values, 'heartbeatKey') } }),
      fresh: () => randomBytes(HEARTBEAT_KEY_BYTES).toString('base64'),
    });
    const secret = heartbeatKeySecret(Buffer.from(key.key, 'base64'));
    if (key.secret === 'createIfNotExists') patches.createIfNotExists(secret);
    if (key.secret === 'createOrUpdate') patches.createOrUpdate(secret);
    if (key.patchValues) valuesPatch.push({ op: 'add', path: HEARTBEAT_KEY_VALUES_PATH, value: key.key });
    // What the templates rendered from, kept in the values where it differs (addon-operator only).
    if (values !== undefined) {
      for (const [name, value] of Object.entries(moduleInternalValues({ balancers, crds }))) {
        if (JSON.stringify(internalValue(values, name)) !== JSON.stringify(value)) {
          valuesPatch.push({ op: 'add', path: `/${VALUES_KEY}/internal/${name}`, value });
        }
      }
    }
    metrics.set('l2lb_settings_valid', 1);
    log('module objects applied', { objects: objects.length, metallb: crds.has(METALLB_POOL_CRD) });
  },
);

/** The Secret as the `heartbeat_key` binding's filter shows it (`{key}`), or absent. */
function heartbeatKeySnapshot(
  results: unknown[],
): { present: false } | { present: true; key: string | null } {
  if (results.length === 0) return { present: false };
  const r = results[0] as { key?: unknown } | null;
  return { present: true, key: typeof r?.key === 'string' ? r.key : null };
}

/** `<module>.internal.<name>` of addon-operator's values. */
function internalValue(values: Record<string, unknown>, name: string): unknown {
  const module = values[VALUES_KEY] as { internal?: Record<string, unknown> } | undefined;
  return module?.internal?.[name];
}
