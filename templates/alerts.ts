// The module's alerts, as a PrometheusRule. Every expression reads only metrics the code emits: the
// control-loop hooks (lib/controller/apply.ts, hooks/*.ts, exported by addon-operator or
// shell-operator) and the speakers (images/speaker/metrics.ts, scraped through the PodMonitor).
// tests/unit/monitoring.test.ts fails when an expression names a metric nobody emits.
import { MODULE_NAMESPACE } from '../lib/model';
import { namespacedMeta, SPEAKER_NAME } from './meta';
import type { KubernetesObject } from './types';

/** The `job` label prometheus-operator gives the targets of a PodMonitor: `<namespace>/<name>`. */
export const SPEAKER_JOB = `${MODULE_NAMESPACE}/${SPEAKER_NAME}`;

/**
 * One series per label set of a hook metric. The hooks' metrics can reach Prometheus more than once
 * (two hooks set `l2lb_settings_valid`; a restarted operator Pod is a second target for a while), so
 * queries take the maximum, or the minimum where a low value is the bad one.
 */
export function hookMetric(
  name: string,
  labels: readonly string[],
  aggregation: 'max' | 'min' = 'max',
): string {
  return labels.length > 0 ? `${aggregation} by (${labels.join(', ')}) (${name})` : `${aggregation}(${name})`;
}

/** Share of each pool's addresses that Services hold (0..1). */
export const POOL_USE = `${hookMetric('l2lb_pool_addresses_allocated', ['l2loadbalancer'])} / ${hookMetric('l2lb_pool_addresses_total', ['l2loadbalancer'])}`;

/** Addresses allocated to Services, per L2LoadBalancer. */
export const ALLOCATED_BY_POOL = hookMetric('l2lb_pool_addresses_allocated', ['l2loadbalancer']);

/**
 * Distinct addresses the speakers announce, per L2LoadBalancer: `l2lb_speaker_address_announced` has
 * one series per node and address, so the inner count folds an address two nodes hold into one.
 */
export const ANNOUNCED_BY_POOL =
  'count by (l2loadbalancer) (count by (address, l2loadbalancer) (l2lb_speaker_address_announced))';

export type Severity = 'critical' | 'warning' | 'info';

/** Deckhouse routes alerts by `severity_level` (1 is the most severe); other Alertmanagers by `severity`. */
const SEVERITY_LEVEL: Record<Severity, string> = { critical: '3', warning: '4', info: '6' };

export interface AlertRule {
  alert: string;
  expr: string;
  /** How long the condition must hold, a Prometheus duration. */
  for: string;
  severity: Severity;
  summary: string;
  /** What it means and what to do, in Markdown; may use `{{ $labels.x }}` and `{{ $value }}`. */
  description: string;
}

export interface AlertGroup {
  name: string;
  rules: readonly AlertRule[];
}

export const ALERT_GROUPS: readonly AlertGroup[] = [
  {
    name: 'l2-load-balancer.pools',
    rules: [
      {
        alert: 'L2LBPoolNearlyExhausted',
        expr: `${POOL_USE} > 0.9`,
        for: '15m',
        severity: 'warning',
        summary: 'L2LoadBalancer {{ $labels.l2loadbalancer }} has given out more than 90% of its addresses.',
        description:
          '{{ $value | humanizePercentage }} of the address pool of L2LoadBalancer `{{ $labels.l2loadbalancer }}` ' +
          'is allocated. Once it is exhausted, new Services and higher `external-ips-count` values get fewer ' +
          'addresses than they ask for.\n\n' +
          'Add addresses to `spec.addressPool` (`kubectl edit l2loadbalancer {{ $labels.l2loadbalancer }}`), ' +
          'or lower the counts of Services that do not need that many.',
      },
      {
        alert: 'L2LBPoolNotReady',
        expr: `${hookMetric('l2lb_l2loadbalancer_ready', ['l2loadbalancer'], 'min')} == 0`,
        for: '5m',
        severity: 'warning',
        summary: 'L2LoadBalancer {{ $labels.l2loadbalancer }} is not Ready.',
        description:
          'The pool allocates no new addresses (its Services keep the ones they have) or has no node to ' +
          'announce them. The reason is in its Ready condition (`InvalidPool`, `OverlappingPool`, `NoNodes`):\n\n' +
          "`kubectl get l2loadbalancer {{ $labels.l2loadbalancer }} -o jsonpath='{.status.conditions}'`",
      },
    ],
  },
  {
    name: 'l2-load-balancer.services',
    rules: [
      {
        alert: 'L2LBServiceShortOfAddresses',
        expr: `${hookMetric('l2lb_service_public_ips_missing', ['namespace', 'service', 'l2loadbalancer'])} > 0`,
        for: '5m',
        severity: 'warning',
        summary: 'Service {{ $labels.namespace }}/{{ $labels.service }} lacks {{ $value }} public IPs.',
        description:
          'The Service asks L2LoadBalancer `{{ $labels.l2loadbalancer }}` for more addresses than it got. ' +
          'The condition `network.deckhouse.io/AllPublicIPsAssigned` and the Events of the Service say why: ' +
          '`kubectl -n {{ $labels.namespace }} describe service {{ $labels.service }}`. Usually the pool is ' +
          'exhausted (add addresses) or a pinned address is taken or outside the pool.',
      },
      {
        alert: 'L2LBServiceInvalidInput',
        expr: `${hookMetric('l2lb_service_invalid_input', ['namespace', 'service'])} > 0`,
        for: '10m',
        severity: 'info',
        summary:
          'Service {{ $labels.namespace }}/{{ $labels.service }} has an invalid l2-load-balancer annotation.',
        description:
          'An annotation of the Service was refused (a count that is not a whole number within ' +
          '`maxExternalIPsPerService`, a pinned address that is malformed, outside the pool, repeated or ' +
          'taken, or an unknown L2LoadBalancer). The Service keeps the addresses it has. The Warning Event ' +
          'names the annotation: `kubectl -n {{ $labels.namespace }} get events ' +
          '--field-selector involvedObject.name={{ $labels.service }}`.',
      },
    ],
  },
  {
    name: 'l2-load-balancer.announcements',
    rules: [
      {
        alert: 'L2LBAddressesNotAnnounced',
        // `or … * 0`: a pool none of whose addresses is announced has no announced series at all.
        expr: `${ALLOCATED_BY_POOL} - (${ANNOUNCED_BY_POOL} or ${ALLOCATED_BY_POOL} * 0) > 0`,
        for: '5m',
        severity: 'critical',
        summary:
          '{{ $value }} allocated addresses of L2LoadBalancer {{ $labels.l2loadbalancer }} are announced by no node.',
        description:
          'More addresses of the pool are allocated to Services than the speakers announce, so some public ' +
          'IPs answer no ARP/NDP and their share of the DNS A records fails. Find them: ' +
          '`kubectl get l2lbservices -A` shows an empty ANNOUNCED BY column, and the condition `Announced` of ' +
          'each says why (`NoLiveCandidate`, `AddressConflict`, `AddressOutsidePools`, `NoInterface`, ' +
          '`AddAddressFailed`). Check that the speaker runs on the nodes in their `spec.nodes` and that those ' +
          'nodes are Ready.',
      },
      {
        alert: 'L2LBAddressAnnouncedTwice',
        expr: 'count by (address) (l2lb_speaker_address_announced) > 1',
        for: '2m',
        severity: 'critical',
        summary: 'Address {{ $labels.address }} is announced by {{ $value }} nodes.',
        description:
          'Outside a planned move (which overlaps for a few seconds) each address is held by one speaker. ' +
          'Held by several, the address answers ARP/NDP from several nodes and clients flip between their ' +
          'MAC addresses. A speaker cut off from the API server keeps its addresses while another node takes ' +
          'them over; otherwise a speaker kept an address it should have released. ' +
          '`l2lb_speaker_address_announced{address="{{ $labels.address }}"}` names the nodes (label `node`); ' +
          "compare with `kubectl get l2lbservices -A` and read those speakers' logs " +
          '(`kubectl -n d8-l2-load-balancer logs ds/speaker`).',
      },
      {
        alert: 'L2LBAddressConflict',
        expr: 'increase(l2lb_speaker_address_conflicts_total[10m]) > 0',
        for: '1m',
        severity: 'warning',
        summary: 'Another host answers for {{ $labels.address }}, which node {{ $labels.node }} announces.',
        description:
          'The speaker on `{{ $labels.node }}` probes each IPv4 address it announces for a duplicate ' +
          '(`arping -D`, once a few seconds after taking it and then every minute), and another host on the ' +
          'link answered for `{{ $labels.address }}`: clients flip between two MAC addresses. The speaker log ' +
          '(message "another host answers for an address this node announces") and the condition `Announced` ' +
          '(reason `DuplicateOnLink`) of the L2LBService name the MAC of that host. Usually the address is ' +
          'configured statically somewhere (take it out there, or out of the pool); it can also be a node ' +
          'whose speaker died and whose network came back with the addresses still on it, until its speaker ' +
          'runs again.',
      },
    ],
  },
  {
    name: 'l2-load-balancer.speakers',
    rules: [
      {
        alert: 'L2LBSpeakerDown',
        expr: `up{job="${SPEAKER_JOB}"} == 0`,
        for: '2m',
        severity: 'warning',
        summary: 'The speaker on node {{ $labels.node }} does not answer.',
        description:
          'Prometheus cannot scrape the speaker. If it stopped renewing its Lease, its addresses have ' +
          'moved to the next candidate node; until it returns that node carries more than its share. ' +
          "`kubectl -n d8-l2-load-balancer get pods -l app=speaker -o wide` and the Pod's logs say more.",
      },
      {
        alert: 'L2LBSpeakerLeaseRenewFailing',
        expr: 'increase(l2lb_speaker_lease_renew_failures_total[5m]) > 0',
        for: '2m',
        severity: 'warning',
        summary: 'The speaker on node {{ $labels.node }} fails to renew its Lease.',
        description:
          'When the Lease expires (`speaker.leaseDurationSeconds`) the other speakers take over this ' +
          "node's addresses, and it takes over nothing new while its view of the cluster is stale. " +
          "Usually the node cannot reach the API server; check the speaker's logs.",
      },
      {
        alert: 'L2LBSpeakerViewStale',
        expr: 'l2lb_speaker_view_fresh == 0',
        for: '5m',
        severity: 'warning',
        summary: 'The speaker on node {{ $labels.node }} has a stale view of the cluster.',
        description:
          'The speaker has not heard from the API server recently, so it takes over no address from a ' +
          'failed node. The addresses it holds stay announced.',
      },
      {
        alert: 'L2LBSpeakerCommandsFailing',
        expr: 'increase(l2lb_speaker_command_failures_total[10m]) > 0',
        for: '5m',
        severity: 'warning',
        summary: 'The speaker on node {{ $labels.node }} fails to run `{{ $labels.command }}`.',
        description:
          'Adding or removing addresses (`ip`) or announcing them (`arping`, `na6`) fails, so addresses ' +
          "may be held but not announced, or announced on the wrong interface. The speaker's logs have " +
          'the command and its error; check `spec.interfaces` of the L2LoadBalancer.',
      },
    ],
  },
  {
    name: 'l2-load-balancer.module',
    rules: [
      {
        alert: 'L2LBSettingsInvalid',
        expr: `${hookMetric('l2lb_settings_valid', [], 'min')} == 0`,
        for: '5m',
        severity: 'warning',
        summary: 'The l2-load-balancer settings are invalid; the module changes nothing.',
        description:
          'The hooks refuse the module settings and leave every object as it is. The hook log names the ' +
          'field. Fix the ModuleConfig `l2-load-balancer` (standalone: the ConfigMap ' +
          '`d8-l2-load-balancer/l2-load-balancer-settings`, key `settings.yaml`).',
      },
      {
        alert: 'L2LBObjectsSkipped',
        expr: `${hookMetric('l2lb_objects_skipped', [])} > 0`,
        for: '15m',
        severity: 'info',
        summary: 'The control loop skips {{ $value }} objects it cannot read.',
        description:
          'Some objects the hooks watch could not be parsed and are left out of allocation and placement. ' +
          'The hook log names each object and field.',
      },
    ],
  },
];

/** Every alert, for Deckhouse's Prometheus (`prometheus: main`, `component: rules`) or any other. */
export function prometheusRule(groups: readonly AlertGroup[] = ALERT_GROUPS): KubernetesObject {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: namespacedMeta('l2-load-balancer', 'prometheus', {
      labels: { prometheus: 'main', component: 'rules' },
    }),
    spec: {
      groups: groups.map((g) => ({
        name: g.name,
        rules: g.rules.map((r) => ({
          alert: r.alert,
          expr: r.expr,
          for: r.for,
          labels: { severity: r.severity, severity_level: SEVERITY_LEVEL[r.severity], tier: 'cluster' },
          annotations: {
            plk_protocol_version: '1',
            plk_markup_format: 'markdown',
            summary: r.summary,
            description: r.description,
          },
        })),
      })),
    },
  };
}
