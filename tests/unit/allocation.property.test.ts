import fc from 'fast-check';
import { canonicalAddress, parsePool, poolContains, type Pool } from '../../lib/address/pool';
import {
  allocate,
  type Allocation,
  type AllocationInput,
  type AllocationRequest,
  type AllocationResult,
  type ExistingAllocation,
} from '../../lib/allocation/allocate';
import {
  allocationRequests,
  asExisting,
  clusterArb,
  LONG_AGO,
  poolsOf,
  shuffled,
  type ClusterFixture,
} from './generators';

const RUNS = { numRuns: 150 };

interface Scenario {
  cluster: ClusterFixture;
  input: AllocationInput;
  /** Existing allocations of Services that are no longer requested (being deleted). */
  gone: ExistingAllocation[];
}

/**
 * A cluster in motion: a previous run allocated for other counts and requests, some Services have since
 * been deleted, some L2LBService objects are stray (conflicting, outside the pool, of deleted Services),
 * and some Services now carry invalid annotations.
 */
const scenarioArb: fc.Arbitrary<Scenario> = clusterArb({
  withRequested: true,
  services: [0, 10],
  maxCount: 4,
}).chain((cluster) => {
  const n = cluster.services.length;
  return fc
    .record({
      previousCount: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: n, maxLength: n }),
      stillThere: fc.array(fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, fc.constant(false)), {
        minLength: n,
        maxLength: n,
      }),
      keepOnly: fc.array(fc.oneof({ weight: 8, arbitrary: fc.constant(false) }, fc.constant(true)), {
        minLength: n,
        maxLength: n,
      }),
      strays: fc.array(
        fc.record({
          service: fc.integer({ min: 0, max: n + 1 }),
          index: fc.integer({ min: 0, max: 4 }),
          address: fc.oneof(
            fc
              .integer({ min: 0, max: 2 })
              .chain((b) => fc.integer({ min: 0, max: 16 }).map((h) => `10.${b}.0.${h}`)),
            fc.constant('203.0.113.9'),
          ),
          ageSeconds: fc.integer({ min: 0, max: 60 }),
        }),
        { maxLength: 6 },
      ),
    })
    .map(({ previousCount, stillThere, keepOnly, strays }) => {
      const pools = poolsOf(cluster.balancers);
      const previous = allocate({
        pools,
        requests: allocationRequests(cluster.services).map((r, i) => ({
          ...r,
          count: previousCount[i] ?? 0,
          requested: [],
        })),
        existing: [],
      });
      const serviceKey = (i: number): string => cluster.services[i]?.key ?? `gone/svc-${i}`;
      const l2lb = (i: number): string => cluster.services[i]?.l2lbName ?? 'lb-0';
      const existing: ExistingAllocation[] = [
        ...asExisting(previous.allocations, cluster.services),
        ...strays.map((s) => ({
          serviceKey: serviceKey(s.service),
          l2lbName: l2lb(s.service),
          index: s.index,
          address: s.address,
          createdAt: new Date(Date.parse(LONG_AGO) + s.ageSeconds * 1000).toISOString(),
        })),
      ];
      const requests = allocationRequests(cluster.services)
        .map((r, i) => (keepOnly[i] ? { ...r, keepOnly: true } : r))
        .filter((_, i) => stillThere[i]);
      const requested = new Set(requests.map((r) => r.serviceKey));
      return {
        cluster,
        input: { pools, requests, existing },
        gone: existing.filter((e) => !requested.has(e.serviceKey)),
      };
    });
});

const withAddress = (allocations: readonly Allocation[]): Allocation[] =>
  allocations.filter((a) => a.address !== undefined);
const slot = (a: { serviceKey: string; l2lbName: string; index: number }): string =>
  `${a.serviceKey}|${a.l2lbName}|${a.index}`;

function feedBack(
  input: AllocationInput,
  allocations: readonly Allocation[],
  gone: readonly ExistingAllocation[],
  cluster: ClusterFixture,
): AllocationInput {
  return { ...input, existing: [...asExisting(allocations, cluster.services), ...gone] };
}

/** The first run of a cluster: nothing allocated yet. */
function freshInput(cluster: ClusterFixture): AllocationInput {
  return { pools: poolsOf(cluster.balancers), requests: allocationRequests(cluster.services), existing: [] };
}

/** Re-runs allocation on its own output until nothing changes; a chain of requested addresses takes a run per link. */
function settle(scenario: Scenario): { input: AllocationInput; result: AllocationResult; runs: number } {
  let input = scenario.input;
  let result = allocate(input);
  for (let runs = 1; runs < 50; runs++) {
    const next = feedBack(input, result.allocations, scenario.gone, scenario.cluster);
    const again = allocate(next);
    if (JSON.stringify(again.allocations) === JSON.stringify(result.allocations))
      return { input: next, result: again, runs };
    input = next;
    result = again;
  }
  throw new Error('allocation did not settle in 50 runs');
}

describe('allocate (properties over generated clusters)', () => {
  it('never hands out an address still held by a Service being deleted, nor gives one address to two indices', () => {
    fc.assert(
      fc.property(scenarioArb, ({ input, gone }) => {
        const { allocations } = allocate(input);
        const addresses = withAddress(allocations).map((a) => a.address as string);
        expect(new Set(addresses).size).toBe(addresses.length);
        const heldByGone = new Set(gone.map((g) => canonicalAddress(g.address)));
        // What a Service held before is not handed out when it keeps it, even in another index (a
        // pinned address moves to the front): after a restore a live Service and a deleted one may
        // both have held one address, and the live one keeps what it had.
        const before = new Set(input.existing.map((e) => `${e.serviceKey}=${canonicalAddress(e.address)}`));
        for (const a of withAddress(allocations)) {
          if (!before.has(`${a.serviceKey}=${a.address}`)) expect(heldByGone.has(a.address)).toBe(false);
        }
      }),
      RUNS,
    );
  });

  it('allocates only addresses of the pool, except what a Service with invalid input keeps', () => {
    fc.assert(
      fc.property(scenarioArb, ({ input }) => {
        const keepOnly = new Set(input.requests.filter((r) => r.keepOnly).map((r) => r.serviceKey));
        for (const a of withAddress(allocate(input).allocations)) {
          if (keepOnly.has(a.serviceKey)) continue;
          expect(poolContains(input.pools.get(a.l2lbName) as Pool, a.address as string)).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it('gives each valid Service exactly indices 0..count-1, and says why when one has no address', () => {
    fc.assert(
      fc.property(scenarioArb, ({ input }) => {
        const { allocations, problems } = allocate(input);
        for (const r of input.requests) {
          if (r.keepOnly) continue;
          const mine = allocations.filter((a) => a.serviceKey === r.serviceKey);
          expect(mine.map((a) => a.index)).toEqual(Array.from({ length: r.count }, (_, i) => i));
          if (mine.some((a) => a.address === undefined)) {
            expect(problems.some((p) => p.serviceKey === r.serviceKey)).toBe(true);
          }
        }
      }),
      RUNS,
    );
  });

  it('keeps every address when re-run on its own output; what changes takes an address let go since', () => {
    fc.assert(
      fc.property(scenarioArb, ({ cluster, input, gone }) => {
        const first = allocate(input);
        const second = allocate(feedBack(input, first.allocations, gone, cluster));
        expect(second.allocations.map(slot)).toEqual(first.allocations.map(slot));
        const kept = new Set(withAddress(first.allocations).map((a) => a.address));
        const released = new Set(
          input.existing.map((e) => canonicalAddress(e.address)).filter((a) => !kept.has(a)),
        );
        const requests = new Map(input.requests.map((r) => [r.serviceKey, r]));
        first.allocations.forEach((a, i) => {
          const b = second.allocations[i] as Allocation;
          if (b.address === a.address) return;
          // A hole filled, or an index switching to its requested address, once the holder let go: another
          // Service in the previous run, or another index of this Service that moves on in this one.
          const fromSibling = first.allocations.some(
            (x) => x.serviceKey === a.serviceKey && x.address === b.address,
          );
          expect(released.has(b.address) || fromSibling).toBe(true);
          if (a.address !== undefined) {
            const requested = requests.get(a.serviceKey)?.requested[a.index] ?? '';
            expect(canonicalAddress(requested.trim())).toBe(b.address);
          }
        });
      }),
      RUNS,
    );
  });

  it('reaches a fixpoint when re-run on its own output', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        expect(settle(scenario).runs).toBeLessThanOrEqual(scenario.input.requests.length + 2);
      }),
      RUNS,
    );
  });

  it('re-run on its own output changes nothing at all when nothing was released', () => {
    fc.assert(
      fc.property(clusterArb({ withRequested: true, services: [0, 10], maxCount: 4 }), (cluster) => {
        const input = freshInput(cluster);
        const first = allocate(input);
        const second = allocate(feedBack(input, first.allocations, [], cluster));
        expect(second.allocations).toEqual(first.allocations);
      }),
      RUNS,
    );
  });

  it('moves no address already given when another Service is added', () => {
    fc.assert(
      fc.property(
        scenarioArb,
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 100 }),
        (scenario, count, ageSeconds) => {
          const { cluster, gone } = scenario;
          const { input, result: first } = settle(scenario);
          const newcomer: AllocationRequest = {
            serviceKey: 'new/svc',
            l2lbName: cluster.balancers[0]?.name ?? 'lb-0',
            count,
            requested: [],
            createdAt: new Date(Date.parse(LONG_AGO) + ageSeconds * 1000).toISOString(),
          };
          const next = feedBack(input, first.allocations, gone, cluster);
          const second = allocate({ ...next, requests: [...next.requests, newcomer] });
          const after = new Map(second.allocations.map((a) => [slot(a), a.address]));
          for (const a of withAddress(first.allocations)) expect(after.get(slot(a))).toBe(a.address);
        },
      ),
      RUNS,
    );
  });

  it('gives the same result for the same input in any order', () => {
    fc.assert(
      fc.property(scenarioArb, fc.integer(), ({ input }, seed) => {
        const reordered: AllocationInput = {
          pools: new Map(shuffled([...input.pools], seed)),
          requests: shuffled(input.requests, seed),
          existing: shuffled(input.existing, seed + 1),
        };
        expect(allocate(reordered)).toEqual(allocate(input));
      }),
      RUNS,
    );
  });

  it('gives a fresh Service every requested address that is valid, in the pool and asked for by nobody else', () => {
    fc.assert(
      fc.property(clusterArb({ withRequested: true, services: [0, 10], maxCount: 3 }), (cluster) => {
        const input = freshInput(cluster);
        const asked = new Map<string, number>();
        for (const r of input.requests) {
          for (const text of r.requested.slice(0, r.count)) {
            const c = canonicalAddress(text.trim());
            if (c !== undefined) asked.set(c, (asked.get(c) ?? 0) + 1);
          }
        }
        const { allocations } = allocate(input);
        const got = new Map(allocations.map((a) => [slot(a), a.address]));
        for (const r of input.requests) {
          r.requested.slice(0, r.count).forEach((text, index) => {
            const c = canonicalAddress(text.trim());
            if (
              c === undefined ||
              asked.get(c) !== 1 ||
              !poolContains(input.pools.get(r.l2lbName) as Pool, c)
            )
              return;
            expect(got.get(slot({ serviceKey: r.serviceKey, l2lbName: r.l2lbName, index }))).toBe(c);
          });
        }
      }),
      RUNS,
    );
  });

  it('lets a holder with a real creation time keep a contested address over one whose time is unparsable', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 14 }),
        fc.integer({ min: 0, max: 10_000 }),
        fc.boolean(),
        (host, ageSeconds, badFirst) => {
          const address = `10.0.0.${host}`;
          const valid = new Date(Date.parse('2025-01-01T00:00:00Z') + ageSeconds * 1000).toISOString();
          const holders = [
            { serviceKey: 'ns/bad', createdAt: 'not-a-time' },
            { serviceKey: 'ns/good', createdAt: valid },
          ];
          if (!badFirst) holders.reverse();
          const result = allocate({
            pools: new Map([['lb', parsePool(['10.0.0.0/28']).pool]]),
            requests: holders.map((h) => ({ ...h, l2lbName: 'lb', count: 1, requested: [] })),
            existing: holders.map((h) => ({ ...h, l2lbName: 'lb', index: 0, address })),
          });
          const kept = result.allocations.find((a) => a.address === address);
          expect(kept?.serviceKey).toBe('ns/good');
        },
      ),
      RUNS,
    );
  });
});
