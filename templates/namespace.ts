import { MODULE_NAMESPACE } from '../lib/model';
import { moduleLabels } from './meta';
import type { KubernetesObject } from './types';

/** The module namespace. The speaker needs host networking and NET_ADMIN, hence the privileged policy. */
export function namespace(): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: MODULE_NAMESPACE,
      labels: {
        ...moduleLabels(),
        'pod-security.kubernetes.io/enforce': 'privileged',
        'security.deckhouse.io/pod-policy': 'privileged',
        'prometheus.deckhouse.io/monitor-watcher-enabled': 'true',
        // Without it Deckhouse's Prometheus ignores the module's PrometheusRule.
        'prometheus.deckhouse.io/rules-watcher-enabled': 'true',
      },
    },
  };
}
