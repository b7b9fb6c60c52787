// Monitoring for Prometheus (prometheus-operator) and Grafana: the speakers' PodMonitor, the alerts
// (templates/alerts.ts) and the dashboard (templates/dashboard.ts).
import { MODULE_NAMESPACE } from '../lib/model';
import { prometheusRule } from './alerts';
import { grafanaDashboardConfigMap, grafanaDashboardDefinition } from './dashboard';
import { HOOKS_NAME, namespacedMeta, SPEAKER_NAME } from './meta';
import type { KubernetesObject } from './types';

/** A PodMonitor for one component's Pods; `prometheus: main` is the label Deckhouse's Prometheus selects monitors by. */
function podMonitor(app: string, endpoint: Record<string, unknown>): KubernetesObject {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PodMonitor',
    metadata: namespacedMeta(app, app, { labels: { prometheus: 'main' } }),
    spec: {
      selector: { matchLabels: { app } },
      namespaceSelector: { matchNames: [MODULE_NAMESPACE] },
      podMetricsEndpoints: [{ port: 'metrics', scheme: 'http', ...endpoint }],
    },
  };
}

/** Scrapes every speaker, labelling its series with the node it runs on. */
export function speakerPodMonitor(): KubernetesObject {
  return podMonitor(SPEAKER_NAME, {
    path: '/metrics',
    relabelings: [{ sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node' }],
  });
}

/** shell-operator's port for its own and the hooks' metrics (`--listen-port`, default 9115). */
export const SHELL_OPERATOR_METRICS_PORT = 9115;

/**
 * Standalone only: scrapes the hooks' metrics from shell-operator (in Deckhouse, addon-operator's
 * are scraped by Deckhouse). shell-operator serves hook metrics under `/metrics/hooks`, not
 * `/metrics` (checked with shell-operator 1.20), with the labels the hooks set plus `hook`;
 * `honorLabels` keeps their `namespace` label from being renamed to `exported_namespace`. Needs a
 * container port named `metrics` (SHELL_OPERATOR_METRICS_PORT) on the hooks Deployment.
 */
export function hooksPodMonitor(): KubernetesObject {
  return podMonitor(HOOKS_NAME, { path: '/metrics/hooks', honorLabels: true });
}

/**
 * The alerts and the dashboard. Like the PodMonitor they are for a cluster that runs
 * prometheus-operator. The dashboard is a GrafanaDashboardDefinition where Deckhouse's Grafana reads
 * it, else a ConfigMap for Grafana's sidecar, which needs no CRD.
 */
export function alertsAndDashboard(dashboard: 'configmap' | 'definition' = 'configmap'): KubernetesObject[] {
  return [
    prometheusRule(),
    dashboard === 'definition' ? grafanaDashboardDefinition() : grafanaDashboardConfigMap(),
  ];
}
