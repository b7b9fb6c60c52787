// What the module needs when it runs under plain shell-operator instead of Deckhouse: its CRDs, and
// shell-operator itself running the hooks, with the settings in a ConfigMap (there are no module
// values outside addon-operator).
import { createHash } from 'node:crypto';
import { type ModuleSettings } from '../lib/model';
import { crds } from './crds.generated';
import { HOOKS_NAME, namespacedMeta } from './meta';
import type { KubernetesObject } from './types';

export const HOOKS_CONFIG_NAME = 'l2-load-balancer-settings';
export const HOOKS_CONFIG_DIR = '/etc/l2-load-balancer';
export const HOOKS_CONFIG_FILE = 'config-values.json';
/** Where the hooks image keeps the built hooks (dist/module/hooks of the build). */
export const HOOKS_DIR = '/module/hooks';

export function customResourceDefinitions(): KubernetesObject[] {
  return crds.map((crd) => structuredClone(crd));
}

/** The settings, for the hooks to read from `$L2LB_CONFIG_VALUES_PATH` in place of module values. */
export function hooksConfigMap(settings: ModuleSettings): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: namespacedMeta(HOOKS_CONFIG_NAME, HOOKS_NAME),
    data: { [HOOKS_CONFIG_FILE]: `${JSON.stringify(settings, null, 2)}\n` },
  };
}

export function hooksDeployment(settings: ModuleSettings, image: string): KubernetesObject {
  const selector = { app: HOOKS_NAME };
  const config = hooksConfigMap(settings);
  const checksum = createHash('sha256').update(JSON.stringify(config.data)).digest('hex');
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
        metadata: {
          labels: namespacedMeta(HOOKS_NAME, HOOKS_NAME).labels,
          // A settings change restarts shell-operator, which reads them at start.
          annotations: { 'checksum/settings': checksum },
        },
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
                { name: 'L2LB_CONFIG_VALUES_PATH', value: `${HOOKS_CONFIG_DIR}/${HOOKS_CONFIG_FILE}` },
              ],
              resources: { requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
                seccompProfile: { type: 'RuntimeDefault' },
              },
              volumeMounts: [
                { name: 'settings', mountPath: HOOKS_CONFIG_DIR, readOnly: true },
                // shell-operator writes binding contexts under /tmp and its debug socket under /var/run.
                { name: 'tmp', mountPath: '/tmp' },
                { name: 'run', mountPath: '/var/run/shell-operator' },
              ],
            },
          ],
          volumes: [
            { name: 'settings', configMap: { name: HOOKS_CONFIG_NAME } },
            { name: 'tmp', emptyDir: {} },
            { name: 'run', emptyDir: {} },
          ],
        },
      },
    },
  };
}
