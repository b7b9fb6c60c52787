// What each Service asks for: which L2LoadBalancer, how many public IPs, which exact addresses.
// Bad annotations never cost a Service its addresses: they turn the intent into `keepOnly`,
// which keeps what the Service holds and allocates nothing new until the input is fixed.
import { matchesSelector } from '../placement/place';
import {
  ANNOTATION_IPS_COUNT,
  ANNOTATION_LB_IPS,
  ANNOTATION_LB_NAME,
  type L2LoadBalancer,
  type ModuleSettings,
  type NodeState,
  type ServiceState,
} from '../model';

export interface ServiceProblem {
  /** CamelCase, used as the Event reason and the condition reason. */
  reason: string;
  message: string;
}

export interface ServiceIntent {
  service: ServiceState;
  key: string;
  /** The L2LoadBalancer the Service names (or the default one); may not exist. */
  l2lbName: string;
  count: number;
  requested: string[];
  keepOnly: boolean;
  problems: ServiceProblem[];
}

export const serviceKey = (s: { namespace: string; name: string }): string => `${s.namespace}/${s.name}`;

/** The one default L2LoadBalancer: if several claim it, the oldest wins (deterministically). */
export function defaultBalancer(balancers: readonly L2LoadBalancer[]): L2LoadBalancer | undefined {
  return [...balancers]
    .filter((b) => b.isDefault)
    .sort(
      (a, b) => a.creationTimestamp.localeCompare(b.creationTimestamp) || a.name.localeCompare(b.name),
    )[0];
}

/** Whether the module handles this Service at all. A foreign loadBalancerClass is never touched. */
export function isOurs(service: ServiceState, settings: ModuleSettings): boolean {
  if (service.type !== 'LoadBalancer') return false;
  const cls = service.loadBalancerClass;
  if (cls !== undefined && cls !== settings.loadBalancerClass) return false;
  if (service.annotations[ANNOTATION_LB_NAME] !== undefined) return true;
  return cls !== undefined && cls === settings.loadBalancerClass;
}

/** Nodes of a balancer's group: those matching its selector, ready or not (for `count: all`). */
export function groupSize(balancer: L2LoadBalancer, nodes: readonly NodeState[]): number {
  return nodes.filter((n) => matchesSelector(n.labels, balancer.nodeSelector)).length;
}

const COUNT_PATTERN = /^[1-9][0-9]{0,5}$/;

export function resolveIntent(
  service: ServiceState,
  balancers: ReadonlyMap<string, L2LoadBalancer>,
  nodes: readonly NodeState[],
  settings: ModuleSettings,
  /** How many indices the Service holds an address for now. */
  held = 0,
): ServiceIntent {
  const key = serviceKey(service);
  const problems: ServiceProblem[] = [];
  const where = `Service ${key}`;
  let keepOnly = false;

  const named = service.annotations[ANNOTATION_LB_NAME]?.trim();
  const fallback = defaultBalancer([...balancers.values()]);
  const l2lbName = named || fallback?.name || '';
  const balancer = balancers.get(l2lbName);
  if (!balancer) {
    keepOnly = true;
    problems.push(
      named
        ? {
            reason: 'UnknownL2LoadBalancer',
            message: `${where}: annotation ${ANNOTATION_LB_NAME} names L2LoadBalancer "${named}", which does not exist`,
          }
        : {
            reason: 'NoDefaultL2LoadBalancer',
            message: `${where}: loadBalancerClass "${service.loadBalancerClass}" is handled by this module, but no L2LoadBalancer has spec.isDefault: true`,
          },
    );
  }

  const requested = (service.annotations[ANNOTATION_LB_IPS] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

  const rawCount = service.annotations[ANNOTATION_IPS_COUNT];
  let count = Math.max(1, requested.length);
  if (rawCount !== undefined) {
    const text = rawCount.trim();
    if (text === 'all') {
      count = balancer ? groupSize(balancer, nodes) : 0;
      if (balancer && count === 0) {
        problems.push({
          reason: 'NoNodes',
          message: `${where}: "${ANNOTATION_IPS_COUNT}: all" asks for one address per node of L2LoadBalancer ${l2lbName}, which selects no node`,
        });
      }
      if (count > settings.maxExternalIPsPerService) {
        // The cap stops growth; it never takes back what the Service holds (the cap may have been
        // lowered in the settings after the addresses were given).
        const capped = Math.min(count, Math.max(settings.maxExternalIPsPerService, held));
        problems.push({
          reason: 'ExternalIPsCountCapped',
          message: `${where}: "${ANNOTATION_IPS_COUNT}: all" means ${count} addresses; capped at maxExternalIPsPerService (${settings.maxExternalIPsPerService})${capped > settings.maxExternalIPsPerService ? `, keeping the ${capped} it holds` : ''}`,
        });
        count = capped;
      }
    } else if (!COUNT_PATTERN.test(text) || Number(text) > settings.maxExternalIPsPerService) {
      keepOnly = true;
      problems.push({
        reason: 'InvalidExternalIPsCount',
        message: `${where}: annotation ${ANNOTATION_IPS_COUNT} is "${rawCount}"; it must be "all" or a whole number from 1 to ${settings.maxExternalIPsPerService} (maxExternalIPsPerService); current addresses are kept`,
      });
    } else {
      count = Number(text);
    }
  }
  if (requested.length > count && !keepOnly) {
    problems.push({
      reason: 'ExtraLoadBalancerIPs',
      message: `${where}: annotation ${ANNOTATION_LB_IPS} lists ${requested.length} addresses but ${count} are requested; ${requested.slice(count).join(', ')} ignored`,
    });
  }
  return { service, key, l2lbName, count, requested: requested.slice(0, count), keepOnly, problems };
}
