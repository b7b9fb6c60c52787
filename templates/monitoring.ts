// Monitoring for Prometheus (prometheus-operator) and Grafana: the speakers' PodMonitor, the alerts
// (templates/alerts.ts) and the dashboard (templates/dashboard.ts).
import { MODULE_NAMESPACE } from '../lib/model';
import { prometheusRule } from './alerts';
import { grafanaDashboardConfigMap } from './dashboard';
import { HOOKS_NAME, namespacedMeta, SPEAKER_NAME } from './meta';
import type { KubernetesObject } from './types';

/** Scrapes every speaker; `prometheus: main` is the label Deckhouse's Prometheus selects monitors by. */
export function speakerPodMonitor(): KubernetesObject {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PodMonitor',
    metadata: namespacedMeta(SPEAKER_NAME, SPEAKER_NAME, { labels: { prometheus: 'main' } }),
    spec: {
      selector: { matchLabels: { app: SPEAKER_NAME } },
      namespaceSelector: { matchNames: [MODULE_NAMESPACE] },
      podMetricsEndpoints: [
        {
          port: 'metrics',
          path: '/metrics',
          scheme: 'http',
          relabelings: [{ sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node' }],
        },
      ],
    },
  };
}

/** shell-operator's port for its own and the hooks' metrics (`--listen-port`, default 9115). */
export const SHELL_OPERATOR_METRICS_PORT = 9115;

/**
 * Standalone only: scrapes the hooks' metrics from shell-operator (in Deckhouse, addon-operator's
 * are scraped by Deckhouse). shell-operator serves hook metrics under `/metrics/hooks`, not
 * `/metrics` (checked with shell-operator 1.20), with the labels the hooks set plus `hook`;
 * `honorLabels` keeps their `namespace` label from being renamed to `exported_namespace`. Needs a
 * container port named `metrics` on the hooks Deployment.
 */
export function hooksPodMonitor(): KubernetesObject {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PodMonitor',
    metadata: namespacedMeta(HOOKS_NAME, HOOKS_NAME, { labels: { prometheus: 'main' } }),
    spec: {
      selector: { matchLabels: { app: HOOKS_NAME } },
      namespaceSelector: { matchNames: [MODULE_NAMESPACE] },
      podMetricsEndpoints: [{ port: 'metrics', path: '/metrics/hooks', scheme: 'http', honorLabels: true }],
    },
  };
}

/**
 * The alerts and the dashboard. Like the PodMonitor they are for a cluster that runs
 * prometheus-operator; the dashboard is a ConfigMap for Grafana's sidecar, so it needs no CRD.
 */
export function alertsAndDashboard(): KubernetesObject[] {
  return [prometheusRule(), grafanaDashboardConfigMap()];
}
