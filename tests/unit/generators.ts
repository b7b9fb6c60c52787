// fast-check arbitraries of small clusters, for property tests of allocation and placement (and of
// anything built on them). Sizes stay small so a property runs 100-200 times in well under a second.
//
// A generated cluster has nodes (some balancer nodes by label, some not ready, some excluded), speaker
// Leases (fresh, expired, released or absent), L2LoadBalancers with disjoint pools, and Services that
// ask for one or more addresses, sometimes specific ones.

import fc from 'fast-check';
import { parsePool, type Pool } from '../../lib/address/pool';
import type { AllocationRequest, ExistingAllocation, Allocation } from '../../lib/allocation/allocate';
import type { PlacementIndex, PlacementInput, PlacementResult } from '../../lib/placement/place';
import {
  LABEL_EXCLUDE_FROM_LB,
  type L2LoadBalancer,
  type LeaseState,
  type NodeState,
  type RebalanceSettings,
} from '../../lib/model';

/** The clock of every generated cluster. */
export const NOW = Date.parse('2025-06-01T12:00:00Z');
export const LONG_AGO = '2025-05-01T00:00:00Z';
export const JUST_NOW = new Date(NOW - 5_000).toISOString();
export const LEASE_SECONDS = 15;

export type LeaseKind = 'fresh' | 'expired' | 'released' | 'absent';

export interface NodeOptions {
  /** Every node Ready, not excluded, labelled as a balancer node. */
  allEligible?: boolean;
  /** Every node Ready for long (mature). */
  allMature?: boolean;
  /** Every speaker Lease fresh or absent. */
  allFresh?: boolean;
}

export function leaseOf(node: string, kind: LeaseKind): LeaseState | undefined {
  switch (kind) {
    case 'absent':
      return undefined;
    case 'released':
      return { node, durationSeconds: LEASE_SECONDS };
    case 'fresh':
      return { node, renewTime: new Date(NOW - 2_000).toISOString(), durationSeconds: LEASE_SECONDS };
    case 'expired':
      return { node, renewTime: new Date(NOW - 60_000).toISOString(), durationSeconds: LEASE_SECONDS };
  }
}

export interface NodeFixture {
  node: NodeState;
  lease: LeaseKind;
}

/** A node named `node-<i>` as the control loop sees it, with its speaker's Lease. */
export function nodeArb(i: number, options: NodeOptions = {}): fc.Arbitrary<NodeFixture> {
  return fc
    .record({
      balancer: options.allEligible ? fc.constant(true) : fc.boolean(),
      zone: fc.constantFrom('a', 'b'),
      ready: options.allEligible
        ? fc.constant(true)
        : fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, fc.constant(false)),
      excluded: options.allEligible
        ? fc.constant(false)
        : fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, fc.constant(true)),
      readySince: options.allMature
        ? fc.constant<string | undefined>(LONG_AGO)
        : fc.constantFrom<string | undefined>(LONG_AGO, LONG_AGO, JUST_NOW, undefined),
      lease: options.allFresh
        ? fc.constantFrom<LeaseKind>('fresh', 'absent')
        : fc.constantFrom<LeaseKind>('fresh', 'fresh', 'fresh', 'absent', 'expired', 'released'),
    })
    .map(({ balancer, zone, ready, excluded, readySince, lease }) => {
      const labels: Record<string, string> = {
        'kubernetes.io/hostname': `node-${i}`,
        'topology.kubernetes.io/zone': zone,
      };
      if (balancer) labels['node-role.kubernetes.io/balancer'] = '';
      if (excluded) labels[LABEL_EXCLUDE_FROM_LB] = '';
      const node: NodeState = {
        name: `node-${i}`,
        labels,
        ready,
        ...(readySince === undefined ? {} : { readySince }),
      };
      return { node, lease };
    });
}

export function nodesArb(min: number, max: number, options: NodeOptions = {}): fc.Arbitrary<NodeFixture[]> {
  return fc
    .integer({ min, max })
    .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => nodeArb(i, options))))
    .map((nodes) => [...nodes]);
}

export function leasesOf(nodes: readonly NodeFixture[]): LeaseState[] {
  return nodes.flatMap((n) => {
    const lease = leaseOf(n.node.name, n.lease);
    return lease === undefined ? [] : [lease];
  });
}

/** `lb-<i>`: selects every node or only the balancer-labelled ones; pool `10.<i>.0.0/28` (14 addresses). */
export function balancerArb(
  i: number,
  options: { selectAll?: boolean; poolEntries?: string[] } = {},
): fc.Arbitrary<L2LoadBalancer> {
  return fc
    .record({ selectAll: options.selectAll ? fc.constant(true) : fc.boolean() })
    .map(({ selectAll }): L2LoadBalancer => ({
      name: `lb-${i}`,
      addressPool: options.poolEntries ?? [`10.${i}.0.0/28`],
      nodeSelector: selectAll ? {} : { 'node-role.kubernetes.io/balancer': '' },
      interfaces: [],
      isDefault: i === 0,
      creationTimestamp: LONG_AGO,
    }));
}

export interface ServiceFixture {
  /** `namespace/name` */
  key: string;
  l2lbName: string;
  count: number;
  createdAt: string;
  requested: string[];
  /** Set for `externalTrafficPolicy: Local`: the nodes with a ready endpoint. */
  localNodes?: string[];
}

export interface ServiceOptions {
  maxCount?: number;
  /** Probability-ish switch: whether Services may ask for specific addresses. */
  withRequested?: boolean;
  /** Whether Services may have `externalTrafficPolicy: Local`. */
  withLocal?: boolean;
}

/** A Service `ns-<i % 3>/svc-<i>` on one of the balancers. */
export function serviceArb(
  i: number,
  balancers: readonly L2LoadBalancer[],
  nodeNames: readonly string[],
  options: ServiceOptions = {},
): fc.Arbitrary<ServiceFixture> {
  const requestedEntry = fc.oneof(
    { weight: 3, arbitrary: fc.constant('') },
    fc
      .integer({ min: 0, max: balancers.length - 1 })
      .chain((b) => fc.integer({ min: 0, max: 16 }).map((h) => `10.${b}.0.${h}`)),
    fc.constantFrom('10.0.0.300', '192.0.2.1'),
  );
  return fc
    .record({
      balancer: fc.integer({ min: 0, max: balancers.length - 1 }),
      // A count of 0 happens (`count: all` on an empty node group), not only 1 and up.
      count: fc.oneof(
        { weight: 9, arbitrary: fc.integer({ min: 1, max: options.maxCount ?? 3 }) },
        fc.constant(0),
      ),
      // Distinct creation times: seconds apart, the index breaking ties deliberately sometimes;
      // now and then one the API server would never write (-1: unparsable).
      ageSeconds: fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 0, max: 50 }) }, fc.constant(-1)),
      requested: options.withRequested
        ? fc.array(requestedEntry, { maxLength: 3 })
        : fc.constant<string[]>([]),
      local: options.withLocal
        ? fc.option(fc.subarray([...nodeNames]), { nil: undefined, freq: 3 })
        : fc.constant<string[] | undefined>(undefined),
    })
    .map(({ balancer, count, ageSeconds, requested, local }) => ({
      key: `ns-${i % 3}/svc-${i}`,
      l2lbName: (balancers[balancer] as L2LoadBalancer).name,
      count,
      createdAt:
        ageSeconds < 0 ? 'not-a-time' : new Date(Date.parse(LONG_AGO) + ageSeconds * 1000).toISOString(),
      requested,
      ...(local === undefined ? {} : { localNodes: local }),
    }));
}

export interface ClusterFixture {
  nodes: NodeState[];
  leases: LeaseState[];
  balancers: L2LoadBalancer[];
  services: ServiceFixture[];
  now: number;
}

export interface ClusterOptions extends NodeOptions, ServiceOptions {
  nodes?: [number, number];
  balancers?: [number, number];
  services?: [number, number];
  selectAll?: boolean;
}

export function clusterArb(options: ClusterOptions = {}): fc.Arbitrary<ClusterFixture> {
  const [minNodes, maxNodes] = options.nodes ?? [1, 7];
  const [minLbs, maxLbs] = options.balancers ?? [1, 3];
  const [minSvcs, maxSvcs] = options.services ?? [0, 10];
  return fc
    .tuple(
      nodesArb(minNodes, maxNodes, options),
      fc
        .integer({ min: minLbs, max: maxLbs })
        .chain((n) =>
          fc.tuple(
            ...Array.from({ length: n }, (_, i) => balancerArb(i, { selectAll: options.selectAll ?? false })),
          ),
        ),
      fc.integer({ min: minSvcs, max: maxSvcs }),
    )
    .chain(([nodes, balancers, serviceCount]) =>
      fc
        .tuple(
          ...Array.from({ length: serviceCount }, (_, i) =>
            serviceArb(
              i,
              balancers,
              nodes.map((n) => n.node.name),
              options,
            ),
          ),
        )
        .map((services) => ({
          nodes: nodes.map((n) => n.node),
          leases: leasesOf(nodes),
          balancers: [...balancers],
          services: [...services],
          now: NOW,
        })),
    );
}

export const NEVER: RebalanceSettings = { mode: 'Never', minNodeReadySeconds: 60, maxMovesPerRun: 3 };
export const GRADUAL: RebalanceSettings = { mode: 'Gradual', minNodeReadySeconds: 60, maxMovesPerRun: 3 };

export function poolsOf(balancers: readonly L2LoadBalancer[]): Map<string, Pool> {
  return new Map(balancers.map((b) => [b.name, parsePool(b.addressPool).pool]));
}

export function allocationRequests(services: readonly ServiceFixture[]): AllocationRequest[] {
  return services.map((s) => ({
    serviceKey: s.key,
    l2lbName: s.l2lbName,
    count: s.count,
    requested: s.requested,
    createdAt: s.createdAt,
  }));
}

/** The allocations of one run as the next run finds them (`L2LBService` objects with an address). */
export function asExisting(
  allocations: readonly Allocation[],
  services: readonly ServiceFixture[],
): ExistingAllocation[] {
  const createdAt = new Map(services.map((s) => [s.key, s.createdAt]));
  return allocations.flatMap((a) =>
    a.address === undefined
      ? []
      : [
          {
            serviceKey: a.serviceKey,
            l2lbName: a.l2lbName,
            index: a.index,
            address: a.address,
            createdAt: createdAt.get(a.serviceKey) ?? LONG_AGO,
          },
        ],
  );
}

/** Key of an index, as the hooks name the `L2LBService`: `<namespace>/<service>-<l2lb>-<index>`. */
export function indexKey(serviceKey: string, l2lbName: string, index: number): string {
  return `${serviceKey}-${l2lbName}-${index}`;
}

/** The placement indices of the Services, with `current` from a previous result (or empty). */
export function placementIndices(
  services: readonly ServiceFixture[],
  previous?: ReadonlyMap<string, readonly string[]>,
): PlacementIndex[] {
  return services.flatMap((s) =>
    Array.from({ length: s.count }, (_, index) => {
      const key = indexKey(s.key, s.l2lbName, index);
      return {
        key,
        serviceKey: s.key,
        l2lbName: s.l2lbName,
        index,
        current: previous?.get(key) ?? [],
        ...(s.localNodes === undefined ? {} : { localNodes: s.localNodes }),
      };
    }),
  );
}

export function placementInput(
  cluster: ClusterFixture,
  rebalance: RebalanceSettings,
  previous?: ReadonlyMap<string, readonly string[]>,
): PlacementInput {
  return {
    nodes: cluster.nodes,
    leases: cluster.leases,
    balancers: cluster.balancers,
    indices: placementIndices(cluster.services, previous),
    rebalance,
    now: cluster.now,
  };
}

/** The preferred node of every index that has one. */
export function preferredOf(result: PlacementResult): Map<string, string> {
  const out = new Map<string, string>();
  for (const [key, nodes] of result.candidates) if (nodes[0] !== undefined) out.set(key, nodes[0]);
  return out;
}

/** A deterministic shuffle (fast-check supplies the seed), for order-independence properties. */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
