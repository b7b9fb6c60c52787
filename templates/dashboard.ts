// The module's Grafana dashboard: pool use, addresses per node, takeovers, gratuitous ARP rate and
// Lease renew failures. Its queries read only metrics the code emits (tests/unit/monitoring.test.ts).
import { MODULE_NAME } from '../lib/model';
import { hookMetric, POOL_USE, SPEAKER_JOB } from './alerts';
import { moduleLabels, namespacedMeta } from './meta';
import type { KubernetesObject } from './types';

export const DASHBOARD_UID = 'l2-load-balancer';
export const DASHBOARD_TITLE = 'L2 load balancer';
/** The ConfigMap that Grafana's dashboard sidecar picks up by its `grafana_dashboard` label. */
export const DASHBOARD_CONFIGMAP = 'l2-load-balancer-dashboard';
export const DASHBOARD_FOLDER = 'L2 load balancer';

/** The speakers of the nodes chosen in the dashboard's `node` variable. */
const NODES = 'node=~"$node"';

interface Target {
  expr: string;
  legendFormat: string;
}

interface PanelSpec {
  title: string;
  description: string;
  type: 'timeseries' | 'stat';
  unit: string;
  targets: readonly Target[];
  /** Grid columns out of 24. */
  width: number;
}

const PANELS: readonly PanelSpec[] = [
  {
    title: 'Pool use',
    description: 'Share of each L2LoadBalancer pool allocated to Services. The alert fires above 90%.',
    type: 'timeseries',
    unit: 'percentunit',
    width: 12,
    targets: [{ expr: POOL_USE, legendFormat: '{{l2loadbalancer}}' }],
  },
  {
    title: 'Addresses per pool',
    description: 'Allocated and total addresses, and the balancer nodes eligible to announce them.',
    type: 'timeseries',
    unit: 'short',
    width: 12,
    targets: [
      {
        expr: hookMetric('l2lb_pool_addresses_allocated', ['l2loadbalancer']),
        legendFormat: '{{l2loadbalancer}} allocated',
      },
      {
        expr: hookMetric('l2lb_pool_addresses_total', ['l2loadbalancer']),
        legendFormat: '{{l2loadbalancer}} total',
      },
      {
        expr: hookMetric('l2lb_pool_eligible_nodes', ['l2loadbalancer']),
        legendFormat: '{{l2loadbalancer}} eligible nodes',
      },
    ],
  },
  {
    title: 'Announced addresses per node',
    description:
      'Addresses each speaker holds and announces now, and how many the control loop prefers on that node. ' +
      'A gap between the two is a failover in progress or a node whose speaker is down.',
    type: 'timeseries',
    unit: 'short',
    width: 12,
    targets: [
      {
        expr: `sum by (node) (l2lb_speaker_announced_addresses{${NODES}})`,
        legendFormat: '{{node}} announced',
      },
      {
        expr: hookMetric(`l2lb_node_preferred_addresses{${NODES}}`, ['node']),
        legendFormat: '{{node}} preferred',
      },
    ],
  },
  {
    title: 'Services short of addresses',
    description:
      'Public IPs each Service asked for and did not get (pool exhausted, pinned address refused).',
    type: 'timeseries',
    unit: 'short',
    width: 12,
    targets: [
      {
        expr: hookMetric('l2lb_service_public_ips_missing', ['namespace', 'service']),
        legendFormat: '{{namespace}}/{{service}}',
      },
    ],
  },
  {
    title: 'Takeovers',
    description: 'Addresses a speaker took over from another node (failover or rebalancing), per node.',
    type: 'timeseries',
    unit: 'short',
    width: 12,
    targets: [
      {
        expr: `sum by (node) (increase(l2lb_speaker_takeovers_total{${NODES}}[$__rate_interval]))`,
        legendFormat: '{{node}}',
      },
    ],
  },
  {
    title: 'Takeover duration',
    description: "From the expiry of the previous announcer's Lease to the new owner's first gratuitous ARP.",
    type: 'timeseries',
    unit: 's',
    width: 12,
    targets: [0.5, 0.9, 0.99].map((q) => ({
      expr: `histogram_quantile(${q}, sum by (le) (rate(l2lb_speaker_takeover_duration_seconds_bucket{${NODES}}[$__rate_interval])))`,
      legendFormat: `p${Math.round(q * 100)}`,
    })),
  },
  {
    title: 'Gratuitous ARP / unsolicited NA rate',
    description:
      'Announcements sent per second, per node and address family (takeovers and periodic refresh).',
    type: 'timeseries',
    unit: 'ops',
    width: 12,
    targets: [
      {
        expr: `sum by (node, family) (rate(l2lb_speaker_gratuitous_sent_total{${NODES}}[$__rate_interval]))`,
        legendFormat: '{{node}} {{family}}',
      },
    ],
  },
  {
    title: 'Lease renew failures',
    description:
      'Failed renewals of each speaker Lease. Persistent failures make the node lose its addresses.',
    type: 'timeseries',
    unit: 'short',
    width: 12,
    targets: [
      {
        expr: `sum by (node) (increase(l2lb_speaker_lease_renew_failures_total{${NODES}}[$__rate_interval]))`,
        legendFormat: '{{node}}',
      },
    ],
  },
  {
    title: 'Command failures',
    description: 'Failed `ip`, `arping` and `na6` runs per node.',
    type: 'timeseries',
    unit: 'short',
    width: 12,
    targets: [
      {
        expr: `sum by (node, command) (increase(l2lb_speaker_command_failures_total{${NODES}}[$__rate_interval]))`,
        legendFormat: '{{node}} {{command}}',
      },
    ],
  },
  {
    title: 'Speakers up and fresh',
    description: 'Whether Prometheus reaches each speaker, and whether its view of the cluster is fresh.',
    type: 'timeseries',
    unit: 'short',
    width: 12,
    targets: [
      { expr: `max by (node) (up{job="${SPEAKER_JOB}", ${NODES}})`, legendFormat: '{{node}} up' },
      { expr: `max by (node) (l2lb_speaker_view_fresh{${NODES}})`, legendFormat: '{{node}} fresh' },
    ],
  },
];

const DATASOURCE = { type: 'prometheus', uid: '${ds_prometheus}' };

/** Panels laid out left to right, wrapping at 24 columns. */
function panels(): Record<string, unknown>[] {
  const height = 8;
  let x = 0;
  let y = 0;
  return PANELS.map((p, i) => {
    if (x + p.width > 24) {
      x = 0;
      y += height;
    }
    const gridPos = { x, y, w: p.width, h: height };
    x += p.width;
    return {
      id: i + 1,
      type: p.type,
      title: p.title,
      description: p.description,
      datasource: DATASOURCE,
      gridPos,
      fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
      options: { legend: { displayMode: 'list', placement: 'bottom', showLegend: true } },
      targets: p.targets.map((t, j) => ({
        datasource: DATASOURCE,
        expr: t.expr,
        legendFormat: t.legendFormat,
        refId: String.fromCharCode(65 + j),
      })),
    };
  });
}

/** The dashboard model Grafana imports (schema of Grafana 10 and later). */
export function dashboardModel(): Record<string, unknown> {
  return {
    uid: DASHBOARD_UID,
    title: DASHBOARD_TITLE,
    tags: [MODULE_NAME],
    editable: false,
    schemaVersion: 39,
    time: { from: 'now-3h', to: 'now' },
    refresh: '30s',
    templating: {
      list: [
        {
          name: 'ds_prometheus',
          label: 'Prometheus',
          type: 'datasource',
          query: 'prometheus',
          hide: 0,
        },
        {
          name: 'node',
          label: 'Node',
          type: 'query',
          datasource: DATASOURCE,
          query: { query: 'label_values(l2lb_speaker_announced_addresses, node)', refId: 'node' },
          definition: 'label_values(l2lb_speaker_announced_addresses, node)',
          refresh: 2,
          multi: true,
          includeAll: true,
          allValue: '.*',
          current: { text: 'All', value: '$__all' },
        },
      ],
    },
    panels: panels(),
  };
}

/** For Grafana's dashboard sidecar (kube-prometheus-stack and most Helm installs of Grafana). */
export function grafanaDashboardConfigMap(): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: namespacedMeta(DASHBOARD_CONFIGMAP, 'grafana', {
      labels: { grafana_dashboard: '1' },
      annotations: { grafana_folder: DASHBOARD_FOLDER },
    }),
    data: { [`${DASHBOARD_UID}.json`]: dashboardJson() },
  };
}

/**
 * Where a Deckhouse module keeps its dashboards: `monitoring/grafana-dashboards/<folder>/<name>.json` in
 * the module directory (`npm run package` writes dashboardModel() there).
 */
export const DASHBOARDS_DIR = 'monitoring/grafana-dashboards';
export const DASHBOARD_FILE = `${DASHBOARDS_DIR}/${MODULE_NAME}/overview.json`;

/**
 * The GrafanaDashboardDefinition that Deckhouse's helm_lib (`helm_lib_grafana_dashboard_definitions`)
 * makes of a dashboard file of a module: Deckhouse's Grafana (the prometheus module) reads dashboards
 * from these cluster-scoped objects only. This module has no Helm chart, so its hooks apply it, named
 * and foldered from the file's path as helm_lib does: the folder is the directory under
 * grafana-dashboards in title case, the name `d8-<module>-<directories and file, dashed>`.
 */
export function grafanaDashboardDefinition(file = DASHBOARD_FILE): KubernetesObject {
  const parts = file
    .replace(/\.json$/, '')
    .split('/')
    .slice(DASHBOARDS_DIR.split('/').length);
  const folder = (parts[0] ?? '').replace(/-/g, ' ').replace(/\b\w/g, (c) => c.toUpperCase());
  const name = [MODULE_NAME, ...parts].join('-').replace(/[ ._]/g, '-');
  return {
    apiVersion: 'deckhouse.io/v1',
    kind: 'GrafanaDashboardDefinition',
    metadata: {
      name: `d8-${name}`,
      labels: {
        ...moduleLabels('grafana'),
        'prometheus.deckhouse.io/grafana-dashboard': '',
        'observability.deckhouse.io/skip-dashboard-conversion': '',
      },
    },
    spec: { folder, definition: dashboardJson() },
  };
}

/** The dashboard as its file holds it, and as the ConfigMap and the definition carry it. */
export function dashboardJson(): string {
  return JSON.stringify(dashboardModel(), null, 2) + '\n';
}
