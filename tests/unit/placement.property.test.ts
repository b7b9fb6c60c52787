import fc from 'fast-check';
import {
  isEligibleNode,
  isLeaseFresh,
  place,
  rendezvousScore,
  type Move,
  type PlacementInput,
  type PlacementResult,
} from '../../lib/placement/place';
import type { L2LoadBalancer, NodeState, RebalanceSettings } from '../../lib/model';
import {
  clusterArb,
  GRADUAL,
  LONG_AGO,
  NEVER,
  placementInput,
  preferredOf,
  shuffled,
  type ClusterFixture,
} from './generators';

const RUNS = { numRuns: 150 };
const MODES: Array<[string, RebalanceSettings]> = [
  ['Never', NEVER],
  ['Gradual', GRADUAL],
];

type Current = Map<string, string[]>;

function run(cluster: ClusterFixture, rebalance: RebalanceSettings, previous?: Current): PlacementResult {
  return place(placementInput(cluster, rebalance, previous));
}

/** Runs placement on its own output until nothing moves; returns the settled state. */
function settle(
  cluster: ClusterFixture,
  rebalance: RebalanceSettings,
  start?: Current,
): { current: Current; runs: number } {
  let current = start;
  for (let runs = 1; runs <= 100; runs++) {
    const result = run(cluster, rebalance, current);
    const next = result.candidates;
    if (runs > 1 && result.moves.length === 0 && sameCandidates(next, current as Current))
      return { current: next, runs };
    current = next;
  }
  throw new Error('placement did not settle in 100 runs');
}

function sameCandidates(
  a: ReadonlyMap<string, readonly string[]>,
  b: ReadonlyMap<string, readonly string[]>,
): boolean {
  return JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
}

function eligibleNames(cluster: ClusterFixture, l2lbName: string, local?: readonly string[]): string[] {
  const b = cluster.balancers.find((x) => x.name === l2lbName) as L2LoadBalancer;
  return cluster.nodes
    .filter((n) => isEligibleNode(n, b) && (local === undefined || local.includes(n.name)))
    .map((n) => n.name);
}

function freshNames(cluster: ClusterFixture): Set<string> {
  const leased = new Map(cluster.leases.map((l) => [l.node, isLeaseFresh(l, cluster.now)]));
  return new Set(cluster.nodes.filter((n) => leased.get(n.name) ?? true).map((n) => n.name));
}

/** Index key -> its Service's key, for grouping. */
function serviceOfKey(cluster: ClusterFixture): Map<string, string> {
  return new Map(placementInput(cluster, NEVER).indices.map((i) => [i.key, i.serviceKey]));
}

function withNewService(cluster: ClusterFixture, count: number): ClusterFixture {
  const lb = cluster.balancers[0] as L2LoadBalancer;
  return {
    ...cluster,
    services: [
      ...cluster.services,
      { key: 'new/svc', l2lbName: lb.name, count, createdAt: LONG_AGO, requested: [] },
    ],
  };
}

/**
 * An index that has no node, or only a node whose speaker is not fresh, takes an added node by need:
 * that is not a voluntary move.
 */
function needsNode(cluster: ClusterFixture, current: Current, key: string): boolean {
  const first = current.get(key)?.[0];
  return first === undefined || !freshNames(cluster).has(first);
}

/** The moves of the first run after NEWCOMER joins a settled cluster, but for those by need. */
function voluntaryMovesOnJoin(cluster: ClusterFixture, rebalance: RebalanceSettings): Move[] {
  const { current } = settle(cluster, rebalance);
  const result = run({ ...cluster, nodes: [...cluster.nodes, NEWCOMER] }, rebalance, current);
  return result.moves.filter((m) => !needsNode(cluster, current, m.key));
}

/** A node that joins every balancer group, Ready for long, its speaker running. */
const NEWCOMER: NodeState = {
  name: 'node-new',
  labels: { 'kubernetes.io/hostname': 'node-new', 'node-role.kubernetes.io/balancer': '' },
  ready: true,
  readySince: LONG_AGO,
};

const anyCluster = clusterArb({ withLocal: true, maxCount: 4 });
const plainCluster = clusterArb({ maxCount: 4 });

describe('place (properties over generated clusters)', () => {
  it('gives each index distinct, eligible candidates, preferred first, fresh before demoted, at most maxCandidates', () => {
    fc.assert(
      fc.property(anyCluster, fc.integer({ min: 1, max: 5 }), (cluster, maxCandidates) => {
        const input: PlacementInput = { ...placementInput(cluster, GRADUAL), maxCandidates };
        const result = place(input);
        const fresh = freshNames(cluster);
        for (const index of input.indices) {
          const candidates = result.candidates.get(index.key) as string[];
          const eligible = eligibleNames(cluster, index.l2lbName, index.localNodes);
          expect(new Set(candidates).size).toBe(candidates.length);
          expect(candidates.length).toBe(Math.min(maxCandidates, eligible.length));
          for (const c of candidates) expect(eligible).toContain(c);
          const tiers = candidates.slice(1).map((c) => (fresh.has(c) ? 0 : 1));
          expect(tiers).toEqual([...tiers].sort());
          if (eligible.some((n) => fresh.has(n))) expect(fresh.has(candidates[0] as string)).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it('ranks the other candidates: fresh before demoted, nodes of sibling indices last, then by rendezvous score', () => {
    fc.assert(
      fc.property(anyCluster, fc.integer({ min: 1, max: 6 }), (cluster, maxCandidates) => {
        const input: PlacementInput = { ...placementInput(cluster, NEVER), maxCandidates };
        const result = place(input);
        const fresh = freshNames(cluster);
        const preferred = preferredOf(result);
        for (const index of input.indices) {
          const [first, ...rest] = result.candidates.get(index.key) as string[];
          if (first === undefined) continue;
          const siblings = new Set(
            input.indices
              .filter((o) => o.serviceKey === index.serviceKey && o.key !== index.key)
              .map((o) => preferred.get(o.key)),
          );
          const rank = (n: string): [number, number, string] => [
            (fresh.has(n) ? 0 : 2) + (siblings.has(n) ? 1 : 0),
            rendezvousScore(index.key, n),
            n,
          ];
          const expected = eligibleNames(cluster, index.l2lbName, index.localNodes)
            .filter((n) => n !== first)
            .sort((a, b) => {
              const [ta, sa, na] = rank(a);
              const [tb, sb, nb] = rank(b);
              return ta - tb || sa - sb || (na < nb ? -1 : 1);
            })
            .slice(0, maxCandidates - 1);
          expect(rest).toEqual(expected);
        }
      }),
      RUNS,
    );
  });

  it('gives the same plan for the same cluster, whatever the order of its input', () => {
    fc.assert(
      fc.property(anyCluster, fc.integer(), (cluster, seed) => {
        const first = run(cluster, GRADUAL);
        const input = placementInput(cluster, GRADUAL, first.candidates);
        const reordered: PlacementInput = {
          ...input,
          nodes: shuffled(input.nodes, seed),
          leases: shuffled(input.leases, seed + 1),
          balancers: shuffled(input.balancers, seed + 2),
          indices: shuffled(input.indices, seed + 3),
        };
        const a = place(input);
        const b = place(reordered);
        expect([...b.candidates].sort()).toEqual([...a.candidates].sort());
        expect(b.moves).toEqual(a.moves);
        expect(b.eligible).toEqual(a.eligible);
      }),
      RUNS,
    );
  });

  it('changes nothing when re-run on its own output with mode Never', () => {
    fc.assert(
      fc.property(anyCluster, (cluster) => {
        const first = run(cluster, NEVER);
        const second = run(cluster, NEVER, first.candidates);
        expect(second.moves).toEqual([]);
        expect(sameCandidates(second.candidates, first.candidates)).toBe(true);
      }),
      RUNS,
    );
  });

  it('settles with mode Gradual within the runs its move budget needs, then changes nothing', () => {
    fc.assert(
      fc.property(anyCluster, (cluster) => {
        const indices = placementInput(cluster, GRADUAL).indices.length;
        const { runs } = settle(cluster, GRADUAL);
        expect(runs).toBeLessThanOrEqual(2 + Math.ceil(indices / GRADUAL.maxMovesPerRun));
      }),
      RUNS,
    );
  });

  it.each([
    ['Never', NEVER, anyCluster],
    // With Gradual, global balance may move another index to make room when the newcomer's nodes are
    // shared with other L2LoadBalancers; with one node group it has no reason to.
    ['Gradual over one node group', GRADUAL, clusterArb({ maxCount: 4, selectAll: true })],
  ] as const)(
    'moves nothing already placed when another Service is added (%s)',
    (_name, rebalance, clusters) => {
      fc.assert(
        fc.property(clusters, fc.integer({ min: 1, max: 4 }), (cluster, count) => {
          const { current } = settle(cluster, rebalance);
          const result = run(withNewService(cluster, count), rebalance, current);
          for (const m of result.moves) expect(m.key.startsWith('new/svc-')).toBe(true);
        }),
        RUNS,
      );
    },
  );

  it('answers another Service with at most maxMovesPerRun voluntary moves of what was placed (Gradual)', () => {
    fc.assert(
      fc.property(anyCluster, fc.integer({ min: 1, max: 4 }), (cluster, count) => {
        const { current } = settle(cluster, GRADUAL);
        const result = run(withNewService(cluster, count), GRADUAL, current);
        const others = result.moves.filter((m) => !m.key.startsWith('new/svc-'));
        expect(others.length).toBeLessThanOrEqual(GRADUAL.maxMovesPerRun);
        for (const m of others) expect(['Rebalance', 'Spread']).toContain(m.reason);
      }),
      RUNS,
    );
  });

  describe.each(MODES)('with mode %s', (_mode, rebalance) => {
    it('moves only the indices a failed node held, whether it went NotReady or its speaker Lease expired', () => {
      fc.assert(
        fc.property(
          plainCluster,
          fc.nat(),
          fc.constantFrom('notReady', 'leaseExpired'),
          (cluster, pick, how) => {
            const { current } = settle(cluster, rebalance);
            const used = [
              ...new Set([...current.values()].map((c) => c[0]).filter((n) => n !== undefined)),
            ].sort();
            fc.pre(used.length > 0);
            const failed = used[pick % used.length] as string;
            const expired = {
              node: failed,
              renewTime: new Date(cluster.now - 60_000).toISOString(),
              durationSeconds: 15,
            };
            const after: ClusterFixture =
              how === 'notReady'
                ? {
                    ...cluster,
                    nodes: cluster.nodes.map((n) => (n.name === failed ? { ...n, ready: false } : n)),
                  }
                : { ...cluster, leases: [...cluster.leases.filter((l) => l.node !== failed), expired] };
            const result = run(after, rebalance, current);
            const held = new Set([...current].filter(([, c]) => c[0] === failed).map(([k]) => k));
            for (const m of result.moves) {
              expect(held.has(m.key)).toBe(true);
              expect(m.from).toBe(failed);
            }
            // Every index the node held moves, unless no other node with a fresh speaker can take it.
            const moved = new Set(result.moves.map((m) => m.key));
            const fresh = freshNames(after);
            for (const key of held) {
              if (moved.has(key)) continue;
              for (const n of result.candidates.get(key) ?? [])
                expect(n === failed || !fresh.has(n)).toBe(true);
            }
          },
        ),
        RUNS,
      );
    });
  });

  it('moves nothing onto an added node with mode Never', () => {
    fc.assert(
      fc.property(plainCluster, (cluster) => {
        expect(voluntaryMovesOnJoin(cluster, NEVER)).toEqual([]);
      }),
      RUNS,
    );
  });

  it('moves onto an added node at most maxMovesPerRun voluntary moves, Rebalance or Spread only', () => {
    fc.assert(
      fc.property(plainCluster, fc.integer({ min: 0, max: 4 }), (cluster, maxMovesPerRun) => {
        const voluntary = voluntaryMovesOnJoin(cluster, { ...GRADUAL, maxMovesPerRun });
        expect(voluntary.length).toBeLessThanOrEqual(maxMovesPerRun);
        for (const m of voluntary) expect(['Rebalance', 'Spread']).toContain(m.reason);
      }),
      RUNS,
    );
  });

  it('moves only onto the added node when Services have one index each', () => {
    // With several indices per Service, a Spread onto the added node can let another index move
    // elsewhere for balance; with one index each, balance needs only the added node.
    const settledCluster = clusterArb({ maxCount: 1, services: [0, 16] });
    fc.assert(
      fc.property(settledCluster, fc.integer({ min: 0, max: 4 }), (cluster, maxMovesPerRun) => {
        const voluntary = voluntaryMovesOnJoin(cluster, { ...GRADUAL, maxMovesPerRun });
        expect(voluntary.length).toBeLessThanOrEqual(maxMovesPerRun);
        for (const m of voluntary) expect(m.to).toBe(NEWCOMER.name);
      }),
      RUNS,
    );
  });

  it('puts the indices of a Service on distinct nodes on first placement when there are enough fresh eligible nodes', () => {
    fc.assert(
      fc.property(plainCluster, (cluster) => {
        const preferred = preferredOf(run(cluster, NEVER));
        const fresh = freshNames(cluster);
        const byService = serviceOfKey(cluster);
        for (const s of cluster.services) {
          if (eligibleNames(cluster, s.l2lbName).filter((n) => fresh.has(n)).length < s.count) continue;
          const nodes = [...preferred].filter(([k]) => byService.get(k) === s.key).map(([, n]) => n);
          expect(new Set(nodes).size).toBe(s.count);
        }
      }),
      RUNS,
    );
  });

  it('spreads the indices of a Service over distinct nodes after enough Gradual runs, from any placement', () => {
    const messy = plainCluster.chain((cluster) => {
      const keys = placementInput(cluster, GRADUAL).indices.map((i) => i.key);
      const names = cluster.nodes.map((n) => n.name);
      return fc
        .array(fc.subarray(names), { minLength: keys.length, maxLength: keys.length })
        .map((lists) => ({ cluster, start: new Map(keys.map((k, i) => [k, lists[i] ?? []])) }));
    });
    fc.assert(
      fc.property(messy, ({ cluster, start }) => {
        const { current } = settle(cluster, GRADUAL, start);
        const fresh = freshNames(cluster);
        const mature = new Set(
          cluster.nodes.filter((n) => n.readySince === LONG_AGO && fresh.has(n.name)).map((n) => n.name),
        );
        const byService = serviceOfKey(cluster);
        for (const s of cluster.services) {
          if (eligibleNames(cluster, s.l2lbName).filter((n) => mature.has(n)).length < s.count) continue;
          const nodes = [...current].filter(([k]) => byService.get(k) === s.key).map(([, c]) => c[0]);
          expect(new Set(nodes).size).toBe(s.count);
        }
      }),
      RUNS,
    );
  });

  it('balances the preferred load of one L2LoadBalancer to within one on first placement', () => {
    const oneBalancer = clusterArb({
      balancers: [1, 1],
      services: [1, 12],
      maxCount: 4,
      allEligible: true,
      allFresh: true,
      nodes: [1, 8],
    });
    fc.assert(
      fc.property(oneBalancer, (cluster) => {
        const preferred = preferredOf(run(cluster, NEVER));
        const load = new Map(cluster.nodes.map((n) => [n.name, 0]));
        for (const n of preferred.values()) load.set(n, (load.get(n) ?? 0) + 1);
        const values = [...load.values()];
        expect(Math.max(...values) - Math.min(...values)).toBeLessThanOrEqual(1);
      }),
      RUNS,
    );
  });
});
