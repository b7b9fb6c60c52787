import {
  matchesSelector,
  place,
  rendezvousScore,
  type PlacementIndex,
  type PlacementInput,
} from '../../lib/placement/place';
import type { L2LoadBalancer, LeaseState, NodeState, RebalanceSettings } from '../../lib/model';

// The cluster: four frontend nodes (the balancer group of L2LoadBalancer `public`), two workers.
//   kubectl get nodes --show-labels
//   frontend-0..3   Ready   node-role.kubernetes.io/frontend=
//   worker-0..1     Ready
const NOW = Date.parse('2025-06-01T12:00:00Z');
const LONG_AGO = '2025-05-01T00:00:00Z';
const JUST_NOW = '2025-06-01T11:59:50Z';

function node(name: string, fields: Partial<NodeState> = {}): NodeState {
  const labels: Record<string, string> = name.startsWith('frontend')
    ? { 'node-role.kubernetes.io/frontend': '' }
    : {};
  return { name, labels, ready: true, readySince: LONG_AGO, ...fields };
}

const FRONTENDS = ['frontend-0', 'frontend-1', 'frontend-2', 'frontend-3'];
const NODES = [...FRONTENDS.map((n) => node(n)), node('worker-0'), node('worker-1')];

function balancer(name: string, nodeSelector: Record<string, string>): L2LoadBalancer {
  return {
    name,
    addressPool: ['192.0.2.0/28'],
    nodeSelector,
    interfaces: [],
    isDefault: false,
    creationTimestamp: LONG_AGO,
  };
}
const PUBLIC = balancer('public', { 'node-role.kubernetes.io/frontend': '' });
const EVERYWHERE = balancer('everywhere', {});

const NEVER: RebalanceSettings = { mode: 'Never', minNodeReadySeconds: 300, maxMovesPerRun: 2 };
const GRADUAL: RebalanceSettings = { mode: 'Gradual', minNodeReadySeconds: 300, maxMovesPerRun: 2 };

/** The L2LBService of index `i` of a Service: `<ns>/<svc>-<l2lb>-<i>`. */
function idx(
  serviceKey: string,
  index: number,
  current: string[] = [],
  fields: Partial<PlacementIndex> = {},
): PlacementIndex {
  const l2lbName = fields.l2lbName ?? 'public';
  return { key: `${serviceKey}-${l2lbName}-${index}`, serviceKey, l2lbName, index, current, ...fields };
}

function service(serviceKey: string, count: number, fields: Partial<PlacementIndex> = {}): PlacementIndex[] {
  return Array.from({ length: count }, (_, i) => idx(serviceKey, i, [], fields));
}

function lease(nodeName: string, renewTime: string | undefined, durationSeconds = 15): LeaseState {
  return renewTime === undefined
    ? { node: nodeName, durationSeconds }
    : { node: nodeName, renewTime, durationSeconds };
}

function input(indices: PlacementIndex[], fields: Partial<PlacementInput> = {}): PlacementInput {
  return {
    nodes: NODES,
    leases: [],
    balancers: [PUBLIC, EVERYWHERE],
    indices,
    rebalance: NEVER,
    now: NOW,
    ...fields,
  };
}

function preferred(result: ReturnType<typeof place>): Record<string, string | undefined> {
  return Object.fromEntries([...result.candidates].map(([k, v]) => [k, v[0]]));
}

/** Preferred load per node. */
function loads(result: ReturnType<typeof place>, nodes: readonly string[] = FRONTENDS): number[] {
  const count = new Map<string, number>();
  for (const [, c] of result.candidates) if (c[0] !== undefined) count.set(c[0], (count.get(c[0]) ?? 0) + 1);
  return nodes.map((n) => count.get(n) ?? 0);
}

describe('matchesSelector and rendezvousScore', () => {
  it('matches every label of the selector, and an empty selector matches all', () => {
    const labels = { 'node-role.kubernetes.io/frontend': '', zone: 'a' };
    expect(matchesSelector(labels, {})).toBe(true);
    expect(matchesSelector(labels, { zone: 'a' })).toBe(true);
    expect(matchesSelector(labels, { zone: 'a', 'node-role.kubernetes.io/frontend': '' })).toBe(true);
    expect(matchesSelector(labels, { zone: 'b' })).toBe(false);
    expect(matchesSelector(labels, { rack: '' })).toBe(false);
  });

  it('scores deterministically, differently per index and per node', () => {
    // A pinned value: the same cluster gives the same plan in every version (and every process).
    expect(rendezvousScore('shop/web-public-0', 'frontend-0')).toBe(3479271787);
    const scores = new Set(
      FRONTENDS.flatMap((n) => [0, 1, 2].map((i) => rendezvousScore(`shop/web-public-${i}`, n))),
    );
    expect(scores.size).toBe(12);
    for (const s of scores) expect(Number.isInteger(s) && s >= 0 && s < 2 ** 32).toBe(true);
  });

  it('gives each index its own order of nodes, so no node is first for everybody', () => {
    const firsts = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const order = [...FRONTENDS].sort(
        (a, b) => rendezvousScore(`ns/svc-${i}-public-0`, a) - rendezvousScore(`ns/svc-${i}-public-0`, b),
      );
      firsts.add(order[0] as string);
    }
    expect(firsts.size).toBe(4);
  });
});

describe('place: eligible nodes', () => {
  it('lists the nodes matching the selector of each L2LoadBalancer, by name', () => {
    const { eligible } = place(input([]));
    expect(eligible).toEqual(
      new Map([
        ['everywhere', ['frontend-0', 'frontend-1', 'frontend-2', 'frontend-3', 'worker-0', 'worker-1']],
        ['public', FRONTENDS],
      ]),
    );
  });

  it('leaves out nodes that are not Ready or carry the exclude-from-external-load-balancers label', () => {
    const nodes = [
      node('frontend-0', { ready: false }),
      node('frontend-1', {
        labels: {
          'node-role.kubernetes.io/frontend': '',
          'node.kubernetes.io/exclude-from-external-load-balancers': '',
        },
      }),
      node('frontend-2'),
    ];
    expect(place(input([], { nodes })).eligible.get('public')).toEqual(['frontend-2']);
  });

  it('keeps a node whose speaker Lease expired in the eligible list (it is only demoted)', () => {
    const result = place(input([], { leases: [lease('frontend-0', '2025-06-01T11:00:00Z')] }));
    expect(result.eligible.get('public')).toEqual(FRONTENDS);
  });

  it('places an externalTrafficPolicy: Local index only on nodes with a local endpoint', () => {
    const result = place(input([idx('shop/web', 0, [], { localNodes: ['frontend-2', 'worker-0'] })]));
    expect(result.candidates.get('shop/web-public-0')).toEqual(['frontend-2']);
  });

  it('gives no candidates when no node is eligible, and records no move', () => {
    const result = place(input([idx('shop/web', 0, [], { l2lbName: 'missing' })]));
    expect(result.candidates.get('shop/web-missing-0')).toEqual([]);
    expect(result.moves).toEqual([]);
  });
});

describe('place: first placement', () => {
  it('puts the indices of one Service on distinct nodes and records New moves', () => {
    const result = place(input(service('shop/web', 3)));
    const nodes = Object.values(preferred(result));
    expect(new Set(nodes).size).toBe(3);
    expect(result.moves.map((m) => [m.key, m.reason, m.from])).toEqual([
      ['shop/web-public-0', 'New', undefined],
      ['shop/web-public-1', 'New', undefined],
      ['shop/web-public-2', 'New', undefined],
    ]);
  });

  it('balances the load across Services: not every first IP on the same node', () => {
    const indices = Array.from({ length: 8 }, (_, i) => service(`ns/svc-${i}`, 2)).flat();
    const result = place(input(indices));
    expect(loads(result)).toEqual([4, 4, 4, 4]);
    const firstIPs = new Set(Array.from({ length: 8 }, (_, i) => preferred(result)[`ns/svc-${i}-public-0`]));
    expect(firstIPs.size).toBeGreaterThan(1);
  });

  it('balances the load across L2LoadBalancers that share nodes', () => {
    const indices = [...service('a/web', 4), ...service('b/api', 2, { l2lbName: 'everywhere' })];
    const result = place(input(indices));
    // The frontends carry `public`'s four; `everywhere` puts its two on the idle workers.
    expect(
      loads(result, ['frontend-0', 'frontend-1', 'frontend-2', 'frontend-3', 'worker-0', 'worker-1']),
    ).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('doubles up a Service only when it has more indices than nodes', () => {
    const result = place(input(service('shop/web', 6)));
    expect(loads(result).sort()).toEqual([1, 1, 2, 2]);
  });

  it('gives a Service its addresses and ranked nodes before any speaker runs (no Leases at all)', () => {
    const result = place(input(service('shop/web', 2), { leases: [] }));
    for (const c of result.candidates.values()) expect(c).toHaveLength(4);
  });
});

describe('place: candidates', () => {
  it('ranks the preferred node first, then other nodes with nodes the Service already uses last', () => {
    const result = place(input(service('shop/web', 2)));
    const p = preferred(result);
    const [first, ...rest] = result.candidates.get('shop/web-public-0') as string[];
    expect(first).toBe(p['shop/web-public-0']);
    expect(rest).toHaveLength(3);
    expect(rest[2]).toBe(p['shop/web-public-1']);
  });

  it('orders the other nodes by rendezvous score', () => {
    const result = place(input([idx('shop/web', 0)]));
    const [, ...rest] = result.candidates.get('shop/web-public-0') as string[];
    const byScore = [...rest].sort(
      (a, b) => rendezvousScore('shop/web-public-0', a) - rendezvousScore('shop/web-public-0', b),
    );
    expect(rest).toEqual(byScore);
  });

  it('truncates to maxCandidates (default 4)', () => {
    const everywhere = idx('shop/web', 0, [], { l2lbName: 'everywhere' });
    expect(place(input([everywhere])).candidates.get('shop/web-everywhere-0')).toHaveLength(4);
    expect(
      place(input([everywhere], { maxCandidates: 2 })).candidates.get('shop/web-everywhere-0'),
    ).toHaveLength(2);
  });

  it('ranks nodes with an expired or released Lease after every fresh node', () => {
    const leases = [
      lease('frontend-0', '2025-06-01T11:00:00Z'),
      lease('frontend-1', undefined),
      lease('frontend-2', '2025-06-01T11:59:59Z'),
    ];
    const result = place(input([idx('shop/web', 0)], { leases }));
    const c = result.candidates.get('shop/web-public-0') as string[];
    // frontend-3 has no Lease yet: counted as fresh.
    expect(c.slice(0, 2).sort()).toEqual(['frontend-2', 'frontend-3']);
    expect(c.slice(2).sort()).toEqual(['frontend-0', 'frontend-1']);
  });
});

describe('place: stability and failover', () => {
  const current = { 'shop/web-public-0': ['frontend-1', 'frontend-0', 'frontend-2'] };

  it('keeps an index on its node while that node stays eligible and fresh, even if another node is idle', () => {
    const indices = [idx('shop/web', 0, ['frontend-1']), idx('shop/api', 0, ['frontend-1'])];
    const result = place(input(indices));
    expect(preferred(result)).toEqual({
      'shop/api-public-0': 'frontend-1',
      'shop/web-public-0': 'frontend-1',
    });
    expect(result.moves).toEqual([]);
  });

  it('moves an index whose node stopped being Ready to the next fresh candidate, where the speakers failed over', () => {
    const nodes = NODES.map((n) => (n.name === 'frontend-1' ? { ...n, ready: false } : n));
    const result = place(input([idx('shop/web', 0, current['shop/web-public-0'])], { nodes }));
    expect(result.moves).toEqual([
      { key: 'shop/web-public-0', from: 'frontend-1', to: 'frontend-0', reason: 'NodeFailed' },
    ]);
  });

  it('moves an index whose speaker Lease expired, skipping candidates that are no longer eligible', () => {
    const nodes = NODES.map((n) => (n.name === 'frontend-0' ? { ...n, ready: false } : n));
    const result = place(
      input([idx('shop/web', 0, current['shop/web-public-0'])], {
        nodes,
        leases: [lease('frontend-1', '2025-06-01T11:00:00Z')],
      }),
    );
    expect(result.moves).toEqual([
      { key: 'shop/web-public-0', from: 'frontend-1', to: 'frontend-2', reason: 'NodeFailed' },
    ]);
    expect((result.candidates.get('shop/web-public-0') as string[]).at(-1)).toBe('frontend-1');
  });

  it('moves an index off a node that left the selector', () => {
    const nodes = NODES.map((n) => (n.name === 'frontend-1' ? { ...n, labels: {} } : n));
    const result = place(input([idx('shop/web', 0, current['shop/web-public-0'])], { nodes }));
    expect(result.moves.map((m) => m.to)).toEqual(['frontend-0']);
  });

  it('keeps a demoted node as preferred only when no fresh node is left, and records no move for it', () => {
    const leases = FRONTENDS.map((n) => lease(n, '2025-06-01T11:00:00Z'));
    const result = place(input([idx('shop/web', 0, ['frontend-1', 'frontend-0'])], { leases }));
    expect(preferred(result)['shop/web-public-0']).toBe('frontend-1');
    expect(result.moves).toEqual([]);
  });

  it('gives up a demoted preferred node as soon as a fresh one exists', () => {
    const leases = [lease('frontend-1', '2025-06-01T11:00:00Z')];
    const result = place(input([idx('shop/web', 0, ['frontend-1'])], { leases }));
    expect(result.moves).toHaveLength(1);
    expect(result.moves[0]).toMatchObject({ from: 'frontend-1', reason: 'NodeFailed' });
    expect(result.moves[0]?.to).not.toBe('frontend-1');
  });

  it('sends an orphan with no fresh candidate left in current to the least loaded node', () => {
    const indices = [
      idx('a/x', 0, ['frontend-0']),
      idx('b/y', 0, ['frontend-1']),
      idx('c/z', 0, ['frontend-2']),
      idx('d/w', 0, ['worker-0']),
    ];
    const result = place(input(indices));
    expect(result.moves).toEqual([
      { key: 'd/w-public-0', from: 'worker-0', to: 'frontend-3', reason: 'NodeFailed' },
    ]);
  });
});

describe('place: rebalancing', () => {
  // frontend-3 just joined: every index sits on frontend-0..2, two on each.
  const crowded = [
    idx('a/x', 0, ['frontend-0']),
    idx('a/x', 1, ['frontend-1']),
    idx('b/y', 0, ['frontend-0']),
    idx('b/y', 1, ['frontend-2']),
    idx('c/z', 0, ['frontend-1']),
    idx('c/z', 1, ['frontend-2']),
  ];

  it('moves nothing back with mode Never', () => {
    expect(place(input(crowded)).moves).toEqual([]);
  });

  it('moves from the most to the least loaded node with mode Gradual, at most maxMovesPerRun', () => {
    const result = place(input(crowded, { rebalance: GRADUAL }));
    expect(result.moves).toHaveLength(1);
    expect(result.moves[0]).toMatchObject({ from: 'frontend-0', to: 'frontend-3', reason: 'Rebalance' });
    expect(loads(result)).toEqual([1, 2, 2, 1]);
  });

  it('stops at maxMovesPerRun', () => {
    const pile = Array.from({ length: 8 }, (_, i) => idx(`ns/svc-${i}`, 0, ['frontend-0']));
    const result = place(input(pile, { rebalance: { ...GRADUAL, maxMovesPerRun: 3 } }));
    expect(result.moves).toHaveLength(3);
    expect(result.moves.every((m) => m.reason === 'Rebalance' && m.from === 'frontend-0')).toBe(true);
  });

  it('does not move onto a node that has not been Ready for minNodeReadySeconds', () => {
    const nodes = NODES.map((n) => (n.name === 'frontend-3' ? { ...n, readySince: JUST_NOW } : n));
    expect(place(input(crowded, { nodes, rebalance: GRADUAL })).moves).toEqual([]);
  });

  it('does not move onto a node whose readySince is unknown', () => {
    const nodes = NODES.map((n) =>
      n.name === 'frontend-3' ? { name: n.name, labels: n.labels, ready: true } : n,
    );
    expect(place(input(crowded, { nodes, rebalance: GRADUAL })).moves).toEqual([]);
  });

  it('does not move onto a node whose speaker Lease is not fresh', () => {
    const leases = [lease('frontend-3', undefined)];
    expect(place(input(crowded, { leases, rebalance: GRADUAL })).moves).toEqual([]);
  });

  it('makes no voluntary move in a run where a node failed; balance resumes in the next run', () => {
    // The speakers of frontend-2's indices fail over to frontend-0, their next candidate.
    const before = crowded.map((i) =>
      i.current[0] === 'frontend-2' ? { ...i, current: ['frontend-2', 'frontend-0'] } : i,
    );
    const nodes = NODES.map((n) => (n.name === 'frontend-2' ? { ...n, ready: false } : n));
    const failing = place(input(before, { nodes, rebalance: GRADUAL }));
    expect(failing.moves.map((m) => [m.reason, m.to])).toEqual([
      ['NodeFailed', 'frontend-0'],
      ['NodeFailed', 'frontend-0'],
    ]);
    const next = before.map((i) => ({ ...i, current: failing.candidates.get(i.key) as string[] }));
    const calm = place(input(next, { nodes, rebalance: GRADUAL }));
    expect(calm.moves.map((m) => [m.key, m.reason, m.from, m.to])).toEqual([
      ['a/x-public-0', 'Rebalance', 'frontend-0', 'frontend-3'],
      ['b/y-public-1', 'Spread', 'frontend-0', 'frontend-3'],
    ]);
  });

  it('lets a failed-over index land on a node too young for rebalancing', () => {
    const nodes = NODES.map((n) =>
      n.name === 'frontend-0'
        ? { ...n, ready: false }
        : n.name === 'frontend-3'
          ? { ...n, readySince: JUST_NOW }
          : n,
    );
    const result = place(
      input([idx('shop/web', 0, ['frontend-0', 'frontend-3'])], { nodes, rebalance: GRADUAL }),
    );
    expect(result.moves).toEqual([
      { key: 'shop/web-public-0', from: 'frontend-0', to: 'frontend-3', reason: 'NodeFailed' },
    ]);
  });

  it('separates two indices of one Service that share a node, first', () => {
    const shared = [
      idx('a/x', 0, ['frontend-0']),
      idx('a/x', 1, ['frontend-0']),
      idx('b/y', 0, ['frontend-1']),
    ];
    const result = place(input(shared, { rebalance: GRADUAL }));
    expect(result.moves).toEqual([
      {
        key: 'a/x-public-1',
        from: 'frontend-0',
        to: expect.stringMatching(/frontend-[23]/),
        reason: 'Spread',
      },
    ]);
  });

  it('never rebalances an index onto a node its Service already uses', () => {
    // Every candidate target holds an index of the only Service on the crowded node.
    const indices = [
      idx('a/x', 0, ['frontend-0']),
      idx('a/x', 1, ['frontend-1']),
      idx('a/x', 2, ['frontend-2']),
      idx('a/x', 3, ['frontend-3']),
      idx('b/y', 0, ['frontend-0']),
      idx('c/z', 0, ['frontend-0']),
    ];
    const result = place(input(indices, { rebalance: GRADUAL }));
    expect(result.moves).toHaveLength(1);
    expect(result.moves[0]?.key).toBe('b/y-public-0');
    expect(loads(result)).toEqual(
      [2, 1, 1, 1].map((l, i) => l + (result.moves[0]?.to === FRONTENDS[i] ? 1 : 0)),
    );
  });

  it('ends balanced after enough runs', () => {
    let indices = crowded;
    for (let run = 0; run < 5; run++) {
      const result = place(input(indices, { rebalance: GRADUAL }));
      indices = indices.map((i) => ({ ...i, current: result.candidates.get(i.key) as string[] }));
    }
    const final = place(input(indices, { rebalance: GRADUAL }));
    expect(final.moves).toEqual([]);
    const l = loads(final);
    expect(Math.max(...l) - Math.min(...l)).toBeLessThanOrEqual(1);
  });
});

describe('place: determinism', () => {
  it('gives the same plan for the same cluster, whatever the input order', () => {
    const indices = Array.from({ length: 5 }, (_, i) => service(`ns/svc-${i}`, 3)).flat();
    const a = place(input(indices));
    const b = place(
      input([...indices].reverse(), { nodes: [...NODES].reverse(), balancers: [EVERYWHERE, PUBLIC] }),
    );
    expect([...b.candidates].sort()).toEqual([...a.candidates].sort());
    expect(b.moves).toEqual(a.moves);
    expect(b.eligible).toEqual(a.eligible);
  });
});

describe('rebalancing Services with more indices than nodes', () => {
  it('balances a node that joins next to one holding 2 Services x 3 indices, keeping each Service as spread as it can be', () => {
    const ready = (name: string) => ({ name, labels: {}, ready: true, readySince: '2026-01-01T00:00:00Z' });
    const balancers = [
      {
        name: 'lb',
        addressPool: ['192.0.2.0/28'],
        nodeSelector: {},
        interfaces: [],
        isDefault: false,
        creationTimestamp: '',
      },
    ];
    let indices = ['a', 'b'].flatMap((svc) =>
      [0, 1, 2].map((index) => ({
        key: `ns/${svc}/${index}`,
        serviceKey: `ns/${svc}`,
        l2lbName: 'lb',
        index,
        current: ['n1'] as string[],
      })),
    );
    const rebalance = { mode: 'Gradual' as const, minNodeReadySeconds: 0, maxMovesPerRun: 1 };
    const now = Date.parse('2026-11-01T00:00:00Z');
    for (let run = 0; run < 10; run++) {
      const result = place({
        nodes: [ready('n1'), ready('n2')],
        leases: [],
        balancers,
        indices,
        rebalance,
        now,
      });
      indices = indices.map((i) => ({ ...i, current: result.candidates.get(i.key) ?? [] }));
    }
    const on = (node: string, svc?: string): number =>
      indices.filter((i) => i.current[0] === node && (!svc || i.serviceKey === `ns/${svc}`)).length;
    expect([on('n1'), on('n2')]).toEqual([3, 3]);
    for (const svc of ['a', 'b']) expect(Math.abs(on('n1', svc) - on('n2', svc))).toBe(1);
  });
});
