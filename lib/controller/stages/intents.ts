// Stage 2, intents: what each Service the module handles asks for (which L2LoadBalancer, how many
// indices, which families, which pinned addresses), and every reason it may not get it: bad
// annotations, a frozen L2LoadBalancer, serviceAllocation, a family the pool lacks.
import type { Family } from '../../address/pool';
import type { L2LoadBalancer, ModuleSettings, NamespaceState, NodeState, ServiceState } from '../../model';
import type { ChildIndex } from '../children';
import { familyName, isOurs, resolveIntent, type ServiceIntent } from '../intent';
import { notAllowedBecause } from '../service-allocation';
import type { BalancerCheck } from './balancer-checks';

export interface IntentInput {
  services: readonly ServiceState[];
  balancers: ReadonlyMap<string, L2LoadBalancer>;
  checks: ReadonlyMap<string, BalancerCheck>;
  children: ChildIndex;
  nodes: readonly NodeState[];
  namespaces: ReadonlyMap<string, NamespaceState>;
  settings: ModuleSettings;
}

/** A Service's intent, with the families its pool cannot give (those get no request). */
export interface PoolIntent extends ServiceIntent {
  /** Families of the Service the pool has no address of: left short, never replaced by another. */
  unavailable: Family[];
}

export function resolveIntents(input: IntentInput): Map<string, PoolIntent> {
  const intents = new Map<string, PoolIntent>();
  for (const s of input.services) {
    if (!isOurs(s, input.settings)) continue;
    const key = `${s.namespace}/${s.name}`;
    // Both records count: a Service whose children were lost (a restore) still holds what its
    // status shows, until the allocation stage adopts it back.
    const held = Math.max(input.children.heldCount(key), ingressIndices(s.ingress));
    const intent: PoolIntent = {
      ...resolveIntent(s, input.balancers, input.nodes, input.settings, held),
      unavailable: [],
    };
    const check = input.checks.get(intent.l2lbName);
    if (check?.frozen) {
      intent.keepOnly = true;
      intent.problems.push({
        reason: 'L2LoadBalancerNotReady',
        message: `Service ${intent.key}: L2LoadBalancer ${intent.l2lbName} is not ready (${check.problems.map((p) => p.reason).join(', ')}); current addresses are kept, none is added`,
      });
    }
    const balancer = input.balancers.get(intent.l2lbName);
    const why = balancer && notAllowedBecause(balancer.serviceAllocation, s, input.namespaces);
    if (why) {
      // Narrowing the rule never takes an address away: what the Service holds is kept and reported.
      intent.keepOnly = true;
      intent.problems.push({
        reason: 'NotAllowed',
        message: `Service ${intent.key} may not take addresses from L2LoadBalancer ${intent.l2lbName}: ${why}; ${held > 0 ? `the ${held} addresses it holds are kept, none is added` : 'it gets no address'}`,
      });
    }
    if (check && intent.families) restrictFamilies(intent, check);
    intents.set(key, intent);
  }
  return intents;
}

/** How many indices a Service's status shows: per family, as a dual-stack index shows one of each. */
function ingressIndices(ingress: readonly string[]): number {
  let v4 = 0;
  let v6 = 0;
  for (const ip of ingress) {
    if (ip.includes(':')) v6++;
    else v4++;
  }
  return Math.max(v4, v6);
}

/** The families of a pool, once per check (every Service of the pool asks). */
const offeredByCheck = new WeakMap<BalancerCheck, Set<Family>>();
function offeredFamilies(check: BalancerCheck): Set<Family> {
  let offered = offeredByCheck.get(check);
  if (offered === undefined)
    offeredByCheck.set(check, (offered = new Set(check.pool.entries.map((e) => e.family))));
  return offered;
}

/**
 * The families the pool offers. A PreferDualStack Service takes those of its families the pool has;
 * a SingleStack or RequireDualStack Service missing one is left short, with a condition that says so.
 */
function restrictFamilies(intent: PoolIntent, check: BalancerCheck): void {
  const families = intent.families as Family[];
  const offered = offeredFamilies(check);
  const missing = families.filter((f) => !offered.has(f));
  if (missing.length === 0 || offered.size === 0) return;
  if (intent.familyPolicy === 'PreferDualStack' && missing.length < families.length) {
    intent.families = families.filter((f) => offered.has(f));
    return;
  }
  intent.unavailable = missing;
  intent.problems.push({
    reason: 'IPFamilyNotInPool',
    message: `Service ${intent.key}: L2LoadBalancer ${intent.l2lbName} has no ${missing.map(familyName).join(' or ')} address, which the Service asks for (spec.ipFamilies ${families.map(familyName).join(', ')}, ${intent.familyPolicy}); no other family is given instead`,
  });
}
