// Benchmark of the pure core (no process start, no I/O): allocate and place for 10,000 Services with
// 3 indices each, 50 L2LoadBalancers with a pool each, 500 nodes (10 balancer groups of 50).
// Then the pool checks: 60 pools of 256 entries parsed and checked for overlaps, and the control
// loop's pipeline stage by stage on the converged cluster.
// Run: npx tsx bench/core.ts   (BENCH_SERVICES=... to scale, BENCH_REPEAT=... runs). Prints wall
// times; asserts nothing.
import { performance } from 'node:perf_hooks';
import { findPoolOverlaps, parsePool, poolOverlaps, type Pool } from '../lib/address/pool';
import { allocate, type AllocationInput, type ExistingAllocation } from '../lib/allocation/allocate';
import { place, type PlacementIndex, type PlacementInput } from '../lib/placement/place';
import {
  ANNOTATION_IPS_COUNT,
  ANNOTATION_LB_NAME,
  type Condition,
  type L2LoadBalancer,
  type NodeState,
  type Reservation,
  type ServiceState,
} from '../lib/model';
import { ChildIndex } from '../lib/controller/children';
import { reconcile, type ClusterState } from '../lib/controller/reconcile';
import type { L2LBServiceSnapshot, L2LoadBalancerSnapshot } from '../lib/controller/snapshot';
import { allocateAddresses } from '../lib/controller/stages/allocation';
import {
  allocatedAddresses,
  nextRecord,
  releasedFromRecord,
  unheldRecorded,
} from '../lib/controller/stages/allocation-record';
import { checkBalancers } from '../lib/controller/stages/balancer-checks';
import { diffChildren } from '../lib/controller/stages/children-diff';
import { resolveIntents } from '../lib/controller/stages/intents';
import { placeIndices } from '../lib/controller/stages/placement';
import { serviceStatuses } from '../lib/controller/stages/service-status';
import { defaultSettings } from '../lib/settings';
import { childSnapshotOf } from '../testbed/children';

const SERVICES = Number(process.env.BENCH_SERVICES ?? 10_000);
const INDICES = 3;
const BALANCERS = 50;
const NODES = 500;
const GROUPS = 10;
const REPEAT = Number(process.env.BENCH_REPEAT ?? 9);
const NOW = Date.parse('2026-11-26T12:00:00Z');

const nodes: NodeState[] = Array.from({ length: NODES }, (_, i) => ({
  name: `node-${String(i).padStart(3, '0')}`,
  labels: { 'l2lb.example/group': `g${i % GROUPS}` },
  ready: true,
  readySince: '2026-11-01T00:00:00Z',
}));
const balancers: L2LoadBalancer[] = Array.from({ length: BALANCERS }, (_, i) => ({
  name: `lb-${i}`,
  // A /22 each (1,022 usable addresses), plus an IPv6 /64 that is never reached.
  addressPool: [`10.${i}.0.0/22`, `2001:db8:${i.toString(16)}::/64`],
  nodeSelector: { 'l2lb.example/group': `g${i % GROUPS}` },
  interfaces: [],
  isDefault: i === 0,
  creationTimestamp: '2026-11-01T00:00:00Z',
}));
const pools = new Map<string, Pool>(balancers.map((b) => [b.name, parsePool(b.addressPool).pool]));
const services = Array.from({ length: SERVICES }, (_, i) => ({
  serviceKey: `ns-${i % 100}/svc-${i}`,
  l2lbName: `lb-${i % BALANCERS}`,
  createdAt: new Date(Date.parse('2026-11-02T00:00:00Z') + i * 1000).toISOString(),
}));

const ms = (values: number[], at: number): string => (values[at] as number).toFixed(1).padStart(7);

/** Wall time (min / median / max) and the median CPU time of the process, which a busy machine distorts less. */
function time<T>(name: string, f: () => T): T {
  let result = f(); // warm-up
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < REPEAT; r++) {
    const startCpu = process.cpuUsage();
    const start = performance.now();
    result = f();
    wall.push(performance.now() - start);
    const used = process.cpuUsage(startCpu);
    cpu.push((used.user + used.system) / 1000);
  }
  wall.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  const mid = Math.floor(REPEAT / 2);
  console.log(
    `${name.padEnd(52)} wall min ${ms(wall, 0)} ms  median ${ms(wall, mid)} ms  max ${ms(wall, REPEAT - 1)} ms   cpu median ${ms(cpu, mid)} ms`,
  );
  return result;
}

console.log(
  `${SERVICES} Services x ${INDICES} indices, ${BALANCERS} pools, ${NODES} nodes; ${REPEAT} runs after a warm-up`,
);

// Allocation: first run (nothing allocated), then the steady state (every index keeps its address).
const requests = services.map((s) => ({ ...s, count: INDICES, requested: [] as string[] }));
const fresh: AllocationInput = { pools, requests, existing: [] };
const first = time('allocate: first run, every address new', () => allocate(fresh));
const existing: ExistingAllocation[] = first.allocations.map((a) => ({
  serviceKey: a.serviceKey,
  l2lbName: a.l2lbName,
  index: a.index,
  address: a.address as string,
  createdAt: '2026-11-02T00:00:00Z',
}));
time('allocate: steady state, every address kept', () => allocate({ ...fresh, existing }));
const grown = requests.map((r, i) => (i % 10 === 0 ? { ...r, count: INDICES + 1 } : r));
time('allocate: 1,000 Services ask for one more address', () =>
  allocate({ pools, requests: grown, existing }),
);
// The same with IPv6-only pools: parsing goes through ipaddr.js, which costs more per address.
const v6pools = new Map<string, Pool>(
  balancers.map((b, i) => [b.name, parsePool([`2001:db8:${i.toString(16)}::/64`]).pool]),
);
const v6first = allocate({ pools: v6pools, requests, existing: [] });
const v6existing = v6first.allocations.map((a) => ({
  ...a,
  address: a.address as string,
  createdAt: '2026-11-02T00:00:00Z',
}));
time('allocate: steady state, IPv6 pools', () =>
  allocate({ pools: v6pools, requests, existing: v6existing }),
);

// Placement: first run, steady state, a node failure, and a node added with Gradual rebalancing.
const indices: PlacementIndex[] = services.flatMap((s) =>
  Array.from({ length: INDICES }, (_, index) => ({
    key: `${s.serviceKey}-${s.l2lbName}-${index}`,
    serviceKey: s.serviceKey,
    l2lbName: s.l2lbName,
    index,
    current: [] as string[],
  })),
);
const never = { mode: 'Never' as const, minNodeReadySeconds: 300, maxMovesPerRun: 10 };
const gradual = { ...never, mode: 'Gradual' as const };
const initial: PlacementInput = { nodes, leases: [], balancers, indices, rebalance: never, now: NOW };
const placed = time('place: first run, every index new', () => place(initial));
const settled = indices.map((i) => ({ ...i, current: placed.candidates.get(i.key) as string[] }));
time('place: steady state, every index kept', () => place({ ...initial, indices: settled }));
const failed = nodes.map((n, i) => (i === 7 ? { ...n, ready: false } : n));
const failover = time('place: one node failed', () => place({ ...initial, nodes: failed, indices: settled }));
const added: NodeState = {
  name: 'node-new',
  labels: { 'l2lb.example/group': 'g3' },
  ready: true,
  readySince: '2026-11-01T00:00:00Z',
};
const rebalanced = time('place: one node added, Gradual (10 moves per run)', () =>
  place({ ...initial, nodes: [...nodes, added], indices: settled, rebalance: gradual }),
);
console.log(`moves: failover ${failover.moves.length}, rebalance ${rebalanced.moves.length}`);

// Pool checks as the control loop runs them on every pass: parse each L2LoadBalancer's pool and find
// every pair of pools sharing an address. 60 pools of 256 entries (192 IPv4 /28s and 64 IPv6 /64s),
// every tenth pool reaching into the next one, so there are overlaps to report.
const POOLS = 60;
const ENTRIES = 256;
const poolTexts = Array.from({ length: POOLS }, (_, i) =>
  Array.from({ length: ENTRIES }, (_, j) => {
    if (j === ENTRIES - 1 && i % 10 === 0) return `172.16.${i + 1}.0-172.16.${i + 1}.3`;
    if (j < 192) return `172.${16 + (j >> 4)}.${i}.${(j % 16) * 16}/28`;
    return `2001:db8:${i.toString(16)}:${(j - 192).toString(16)}::/64`;
  }),
);
const parsedPools = poolTexts.map((texts, i) => ({ name: `lb-${i}`, pool: parsePool(texts).pool }));
time(`pool checks: ${POOLS} pools x ${ENTRIES} entries, parsePool each`, () =>
  poolTexts.map((texts) => parsePool(texts)),
);
const swept = time(`pool checks: overlaps of all ${POOLS} pools, one sweep`, () =>
  findPoolOverlaps(parsedPools),
);
const pairwise = time(`pool checks: overlaps pool by pool (${(POOLS * (POOLS - 1)) / 2} pairs)`, () => {
  let found = 0;
  for (let i = 0; i < POOLS; i++) {
    for (let j = i + 1; j < POOLS; j++)
      found += poolOverlaps(parsedPools[i]!.pool, parsedPools[j]!.pool).length;
  }
  return found;
});
console.log(
  `pool checks: ${swept.length} overlapping pairs of pools, ${swept.reduce((n, o) => n + o.entries.length, 0)} (sweep) and ${pairwise} (pool by pool) overlapping pairs of entries`,
);

// The control loop's pipeline (lib/controller/reconcile.ts) on the same cluster, converged: every
// stage timed on its own with the inputs the pipeline hands it, then reconcile() as a whole. What a
// restart or a single Service event costs inside the hook, without process start and JSON.
const frontTime = '2026-11-02T00:00:00Z';
const serviceStates: ServiceState[] = services.map((s, i) => ({
  namespace: s.serviceKey.split('/')[0] as string,
  name: s.serviceKey.split('/')[1] as string,
  uid: `uid-${i}`,
  creationTimestamp: s.createdAt,
  type: 'LoadBalancer',
  annotations: { [ANNOTATION_LB_NAME]: s.l2lbName, [ANNOTATION_IPS_COUNT]: String(INDICES) },
  labels: {},
  ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
  selector: { app: `svc-${i}` },
  clusterIP: '10.96.0.10',
  ipFamilies: ['IPv4'],
  ipFamilyPolicy: 'SingleStack',
  ingress: [],
  conditions: [],
}));
const balancerSnapshots = (records: ReadonlyMap<string, Record<string, unknown>>): L2LoadBalancerSnapshot[] =>
  balancers.map((b) => {
    const status = records.get(b.name) ?? {};
    const allocations = (status.allocations ?? {}) as Record<string, string[] | null>;
    return {
      balancer: b,
      generation: 1,
      conditions: (status.conditions ?? []) as Condition[],
      status,
      reservations: [],
      allocations: new Map(Object.entries(allocations).filter((e): e is [string, string[]] => e[1] !== null)),
    };
  });
const settings = defaultSettings();
const empty: ClusterState = {
  services: serviceStates,
  nodes,
  balancers: balancerSnapshots(new Map()),
  l2lbServices: [],
  leases: [],
  endpoints: [],
};
const firstPlan = reconcile(empty, settings, new Date(NOW));
const childSnapshots: L2LBServiceSnapshot[] = firstPlan.creates.map((o) => childSnapshotOf(o, frontTime));
const statusOf = new Map(firstPlan.serviceStatus.map((u) => [`${u.ref.namespace}/${u.ref.name}`, u]));
const converged: ClusterState = {
  ...empty,
  services: serviceStates.map((s) => {
    const u = statusOf.get(`${s.namespace}/${s.name}`);
    return u ? { ...s, ingress: u.ingress, conditions: u.conditions } : s;
  }),
  balancers: balancerSnapshots(new Map(firstPlan.balancerStatus.map((b) => [b.name, b.status]))),
  l2lbServices: childSnapshots,
};
const at = new Date(NOW);
const lbMap = new Map(balancers.map((b) => [b.name, b]));
const children = time('pipeline: ChildIndex of 30,000 L2LBServices', () => new ChildIndex(childSnapshots));
const checks = time('pipeline: 1 checkBalancers', () => checkBalancers(balancers));
const intents = time('pipeline: 2 resolveIntents', () =>
  resolveIntents({
    services: converged.services,
    balancers: lbMap,
    checks,
    children,
    nodes,
    namespaces: new Map(),
    settings,
  }),
);
const reservations = new Map<string, Reservation[]>();
const allocation = time('pipeline: 3 allocateAddresses', () =>
  allocateAddresses({ intents, children, balancers: lbMap, checks, reservations }),
);
const placement = time('pipeline: 4 placeIndices', () =>
  placeIndices({
    allocations: allocation.allocations,
    intents,
    children,
    nodes,
    leases: [],
    balancers: lbMap,
    endpoints: [],
    settings,
    now: at,
  }),
);
const diff = time('pipeline: 5 diffChildren', () =>
  diffChildren({
    intents,
    allocations: allocation.allocations,
    restored: allocation.restored,
    placement,
    children,
  }),
);
time('pipeline: 6 serviceStatuses', () =>
  serviceStatuses({
    intents,
    held: diff.held,
    services: converged.services,
    childAddresses: (key) => children.of(key).map((c) => c.state.address),
    now: at,
  }),
);
time('pipeline: 7 allocation record and reservations', () => {
  const allocated = allocatedAddresses(allocation.allocations);
  unheldRecorded(converged.balancers, children, reservations, settings.addressReservationSeconds);
  releasedFromRecord(converged.balancers, allocated, checks);
  return nextRecord(converged.balancers, allocation.allocations);
});
const whole = time('pipeline: reconcile(), converged (all stages)', () => reconcile(converged, settings, at));
console.log(
  `pipeline: converged run writes ${whole.creates.length + whole.updates.length + whole.deletes.length} children, ${whole.serviceStatus.length} Service and ${whole.balancerStatus.length} L2LoadBalancer statuses`,
);
