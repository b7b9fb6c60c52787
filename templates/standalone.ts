// What the module needs when it runs under plain shell-operator instead of Deckhouse: its CRDs, and
// shell-operator itself running the hooks, with the settings in a ConfigMap that the hooks watch
// (there are no module values outside addon-operator).
import { dump } from 'js-yaml';
import { SETTINGS_CONFIGMAP } from '../lib/controller/bindings';
import { type ModuleSettings } from '../lib/model';
import { jsonClone } from '../lib/settings';
import { crds } from './crds.generated';
import { HOOKS_NAME, namespacedMeta } from './meta';
import type { KubernetesObject } from './types';
import { SHELL_OPERATOR_METRICS_PORT } from './monitoring';

/** The key of the settings ConfigMap that the control-loop hook reads (lib/controller/bindings.ts). */
export const SETTINGS_KEY = 'settings.yaml';
/** Where the hooks image keeps the built hooks (dist/module/hooks of the build). */
export const HOOKS_DIR = '/module/hooks';

export function customResourceDefinitions(): KubernetesObject[] {
  return crds.map((crd) => jsonClone(crd));
}

/** The settings, where the hooks watch for them in place of module values. Edit it to change them. */
export function settingsConfigMap(settings: ModuleSettings): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: namespacedMeta(SETTINGS_CONFIGMAP, HOOKS_NAME),
    data: { [SETTINGS_KEY]: dump(settings) },
  };
}

export interface HooksDeploymentOptions {
  image: string;
  /** The speaker image, for the hook that applies the speaker DaemonSet. */
  speakerImage: string;
  /** Where MetalLB reads its IPAddressPools. */
  metallbNamespace: string;
}

export function hooksDeployment({
  image,
  speakerImage,
  metallbNamespace,
}: HooksDeploymentOptions): KubernetesObject {
  const selector = { app: HOOKS_NAME };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: namespacedMeta(HOOKS_NAME, HOOKS_NAME),
    spec: {
      // One shell-operator: the hooks are the only writer of allocations.
      replicas: 1,
      strategy: { type: 'Recreate' },
      selector: { matchLabels: selector },
      template: {
        metadata: { labels: namespacedMeta(HOOKS_NAME, HOOKS_NAME).labels },
        spec: {
          serviceAccountName: HOOKS_NAME,
          priorityClassName: 'system-cluster-critical',
          securityContext: { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534 },
          containers: [
            {
              name: 'shell-operator',
              image,
              imagePullPolicy: 'IfNotPresent',
              env: [
                { name: 'SHELL_OPERATOR_HOOKS_DIR', value: HOOKS_DIR },
                {
                  name: 'SHELL_OPERATOR_NAMESPACE',
                  valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } },
                },
                { name: 'LOG_TYPE', value: 'json' },
                // Each Service costs about 7 writes; shell-operator's default of 5/s makes a burst of
                // 1,000 Services wait 14 minutes for addresses (bench/cluster.ts).
                { name: 'OBJECT_PATCHER_KUBE_CLIENT_QPS', value: '50' },
                { name: 'OBJECT_PATCHER_KUBE_CLIENT_BURST', value: '100' },
                // Read by hooks/module_objects.ts: no addon-operator bindings, and what to render.
                { name: 'L2LB_STANDALONE', value: 'true' },
                { name: 'L2LB_SPEAKER_IMAGE', value: speakerImage },
                { name: 'L2LB_METALLB_NAMESPACE', value: metallbNamespace },
              ],
              // shell-operator's own and the hooks' metrics (scraped by hooksPodMonitor()).
              ports: [{ name: 'metrics', containerPort: SHELL_OPERATOR_METRICS_PORT, protocol: 'TCP' }],
              resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
                seccompProfile: { type: 'RuntimeDefault' },
              },
              volumeMounts: [
                // shell-operator writes binding contexts under /tmp and its debug socket under /var/run.
                { name: 'tmp', mountPath: '/tmp' },
                { name: 'run', mountPath: '/var/run/shell-operator' },
              ],
            },
          ],
          volumes: [
            { name: 'tmp', emptyDir: {} },
            { name: 'run', emptyDir: {} },
          ],
        },
      },
    },
  };
}
