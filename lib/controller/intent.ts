// What each Service asks for: which L2LoadBalancer, how many public IPs, which exact addresses.
// Bad annotations never cost a Service its addresses: they turn the intent into `keepOnly`,
// which keeps what the Service holds and allocates nothing new until the input is fixed.
import { parseCanonical, type Family } from '../address/pool';
import { matchesSelector } from '../placement/place';
import { listSome, quote } from '../messages';
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
  /** Indices asked for; a dual-stack index holds one address of each family. */
  count: number;
  /** `load-balancer-ips` entries, in index order (trimmed, blanks dropped, at most `count`). */
  requested: string[];
  /**
   * The address families of the Service, primary first (docs/ARCHITECTURE.md §2.3): one for SingleStack, its
   * `spec.ipFamilies` for PreferDualStack and RequireDualStack. `undefined` only for a Service
   * without `spec.ipFamilies` and without a clusterIP address (hand-written fixtures): any family.
   */
  families: Family[] | undefined;
  /** `spec.ipFamilyPolicy`, `SingleStack` when absent. */
  familyPolicy: string;
  keepOnly: boolean;
  problems: ServiceProblem[];
}

const FAMILY_NAMES: Readonly<Record<string, Family>> = { IPv4: 4, IPv6: 6 };
export const familyName = (f: Family): string => (f === 4 ? 'IPv4' : 'IPv6');

/**
 * The families a Service takes addresses of. The API server always fills `spec.ipFamilies`;
 * without it the clusterIP's family is the Service's family.
 */
export function serviceFamilies(service: ServiceState): { families: Family[] | undefined; policy: string } {
  const policy = service.ipFamilyPolicy ?? 'SingleStack';
  const declared: Family[] = [];
  for (const name of service.ipFamilies ?? []) {
    const f = FAMILY_NAMES[name];
    if (f !== undefined && !declared.includes(f)) declared.push(f);
  }
  if (declared.length === 0 && service.clusterIP) {
    const parsed = parseCanonical(service.clusterIP);
    if (parsed) declared.push(parsed.address.family);
  }
  if (declared.length === 0) return { families: undefined, policy };
  return { families: policy === 'SingleStack' ? declared.slice(0, 1) : declared, policy };
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

/** Per run (its node list), the group size of each balancer: every `count: all` Service asks. */
const groupSizes = new WeakMap<readonly NodeState[], Map<L2LoadBalancer, number>>();

/** Nodes of a balancer's group: those matching its selector, ready or not (for `count: all`). */
export function groupSize(balancer: L2LoadBalancer, nodes: readonly NodeState[]): number {
  let sizes = groupSizes.get(nodes);
  if (sizes === undefined) groupSizes.set(nodes, (sizes = new Map()));
  let size = sizes.get(balancer);
  if (size === undefined) {
    size = nodes.filter((n) => matchesSelector(n.labels, balancer.nodeSelector)).length;
    sizes.set(balancer, size);
  }
  return size;
}

/** Per run (its balancer map), the default balancer: looked up once, not once per Service. */
const defaults = new WeakMap<ReadonlyMap<string, L2LoadBalancer>, L2LoadBalancer | null>();

function defaultOf(balancers: ReadonlyMap<string, L2LoadBalancer>): L2LoadBalancer | undefined {
  let found = defaults.get(balancers);
  if (found === undefined)
    defaults.set(balancers, (found = defaultBalancer([...balancers.values()]) ?? null));
  return found ?? undefined;
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
  const fallback = defaultOf(balancers);
  const l2lbName = named || fallback?.name || '';
  const balancer = balancers.get(l2lbName);
  if (!balancer) {
    keepOnly = true;
    problems.push(
      named
        ? {
            reason: 'UnknownL2LoadBalancer',
            message: `${where}: annotation ${ANNOTATION_LB_NAME} names L2LoadBalancer ${quote(named)}, which does not exist`,
          }
        : {
            reason: 'NoDefaultL2LoadBalancer',
            message: `${where}: loadBalancerClass ${quote(service.loadBalancerClass ?? '')} is handled by this module, but no L2LoadBalancer has spec.isDefault: true`,
          },
    );
  }

  const requested = (service.annotations[ANNOTATION_LB_IPS] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

  const { families, policy } = serviceFamilies(service);
  const rawCount = service.annotations[ANNOTATION_IPS_COUNT];
  let count = Math.max(1, pinnedIndices(requested, families));
  if (rawCount === undefined && count > settings.maxExternalIPsPerService) {
    // Pinned addresses count toward the maximum: listing 40 addresses without a count would
    // otherwise take 40 addresses past maxExternalIPsPerService.
    keepOnly = true;
    problems.push({
      reason: 'TooManyLoadBalancerIPs',
      message: `${where}: annotation ${ANNOTATION_LB_IPS} pins ${count} addresses per family; at most ${settings.maxExternalIPsPerService} (maxExternalIPsPerService) are allowed; current addresses are kept`,
    });
  }
  if (rawCount !== undefined) {
    const text = rawCount.trim();
    if (text === 'all') {
      count = balancer ? groupSize(balancer, nodes) : 0;
      if (balancer && count === 0) {
        // An empty node group is a selector typo or nodes being replaced, not a request for
        // nothing: what the Service holds stays (docs/ARCHITECTURE.md §4.1), and nothing is added.
        if (held > 0) keepOnly = true;
        problems.push({
          reason: 'NoNodes',
          message: `${where}: "${ANNOTATION_IPS_COUNT}: all" asks for one address per node of L2LoadBalancer ${quote(l2lbName)}, which selects no node${held > 0 ? `; the ${held} addresses it holds are kept` : ''}`,
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
        message: `${where}: annotation ${ANNOTATION_IPS_COUNT} is ${quote(rawCount)}; it must be "all" or a whole number from 1 to ${settings.maxExternalIPsPerService} (maxExternalIPsPerService); current addresses are kept`,
      });
    } else {
      count = Number(text);
    }
  }
  const pinned = pinnedIndices(requested, families);
  if (pinned > count && !keepOnly) {
    const extra = families && families.length > 1 ? [] : requested.slice(count);
    problems.push({
      reason: 'ExtraLoadBalancerIPs',
      message: `${where}: annotation ${ANNOTATION_LB_IPS} pins ${pinned} indices but ${count} are requested${extra.length ? `; ${listSome(extra.map((e) => quote(e, 64)))} ignored` : '; the entries past the count are ignored'}`,
    });
  }
  return {
    service,
    key,
    l2lbName,
    count,
    // A dual-stack Service's list is split by family later; it keeps every entry until then.
    requested: families && families.length > 1 ? requested : requested.slice(0, count),
    families,
    familyPolicy: policy,
    keepOnly,
    problems,
  };
}

/** How many indices a `load-balancer-ips` list pins: its length, or per family for a dual-stack Service. */
function pinnedIndices(requested: readonly string[], families: readonly Family[] | undefined): number {
  if (!families || families.length < 2) return requested.length;
  const perFamily = new Map<Family, number>();
  for (const entry of requested) {
    const f = parseCanonical(entry)?.address.family;
    if (f !== undefined) perFamily.set(f, (perFamily.get(f) ?? 0) + 1);
  }
  return Math.max(0, ...perFamily.values());
}
