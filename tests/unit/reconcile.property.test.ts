// The control loop over EVENT SEQUENCES (DESIGN §4.1): a small cluster lives through generated
// events (nodes deleted and added, a selector typo and its fix, a child deleted, a restore with
// reset timestamps, a run on a lagging child snapshot, count edits, a Service recreated with the
// same name, a pool narrowed), the pure reconcile() runs after each, and its plan is applied the
// way the API server would (Create fails on an existing name; a JSON patch whose `test` fails
// fails the run, and the operations after it are not applied). After every step:
// - no Service that still asks for as many addresses loses one its status showed, unless the
//   address left the pool; a Service recreated (its children collected first) gets them back, as
//   they stay reserved for its namespace/name;
// - no address is shown by two Services.
import fc from 'fast-check';
import { parsePool, poolContains } from '../../lib/address/pool';
import { childPatch } from '../../lib/controller/apply';
import { reconcile, type ClusterState, type ReconcilePlan } from '../../lib/controller/reconcile';
import type { L2LBServiceSnapshot, L2LoadBalancerSnapshot } from '../../lib/controller/snapshot';
import {
  ANNOTATION_IPS_COUNT,
  ANNOTATION_LB_NAME,
  ANNOTATION_SPEC_HASH,
  type NodeState,
  type ServiceState,
} from '../../lib/model';
import { jsonPatch } from '../../lib/sdk/memory-cluster';
import { childSnapshotOf } from '../../testbed/children';
import { defaultSettings } from '../../lib/settings';

const SELECTOR = { 'node-role.kubernetes.io/frontend': '' };
const FULL_POOL = ['192.0.2.0/29', '2001:db8::/125'];
const START = Date.parse('2026-11-02T00:00:00Z');
const settings = defaultSettings();

type Event =
  | { kind: 'nodeDeleted'; node: number }
  | { kind: 'nodeAdded'; node: number }
  | { kind: 'selectorTypo' }
  | { kind: 'selectorFixed' }
  | { kind: 'childDeleted'; pick: number }
  | { kind: 'restore'; keepChildren: boolean }
  | { kind: 'laggingRun'; stepsBehind: number }
  | { kind: 'countEdited'; service: number; count: string }
  | { kind: 'serviceRecreated'; service: number }
  | { kind: 'poolNarrowed' }
  | { kind: 'poolRestored' }
  | { kind: 'calm' };

const SERVICES = 4;
const eventArb: fc.Arbitrary<Event> = fc.oneof(
  fc.record({ kind: fc.constant('nodeDeleted' as const), node: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ kind: fc.constant('nodeAdded' as const), node: fc.integer({ min: 0, max: 4 }) }),
  fc.constant({ kind: 'selectorTypo' as const }),
  fc.constant({ kind: 'selectorFixed' as const }),
  fc.record({ kind: fc.constant('childDeleted' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('restore' as const), keepChildren: fc.boolean() }),
  fc.record({ kind: fc.constant('laggingRun' as const), stepsBehind: fc.integer({ min: 1, max: 3 }) }),
  fc.record({
    kind: fc.constant('countEdited' as const),
    service: fc.integer({ min: 0, max: SERVICES - 1 }),
    count: fc.constantFrom('1', '2', '3', 'all', '0', 'x'),
  }),
  fc.record({
    kind: fc.constant('serviceRecreated' as const),
    service: fc.integer({ min: 0, max: SERVICES - 1 }),
  }),
  fc.constant({ kind: 'poolNarrowed' as const }),
  fc.constant({ kind: 'poolRestored' as const }),
  fc.constant({ kind: 'calm' as const }),
);

interface World {
  now: number;
  services: ServiceState[];
  nodes: NodeState[];
  balancer: L2LoadBalancerSnapshot;
  children: L2LBServiceSnapshot[];
  /** Child lists of earlier steps, newest last: what a lagging snapshot shows. */
  history: L2LBServiceSnapshot[][];
  uids: number;
}

function node(i: number, frontend = true): NodeState {
  return {
    name: `frontend-${i}`,
    labels: frontend ? { ...SELECTOR } : {},
    ready: true,
    readySince: '2026-11-01T00:00:00Z',
  };
}

function service(i: number, count: string, dual: boolean, uid: number, created: string): ServiceState {
  return {
    namespace: 'shop',
    name: `svc-${i}`,
    uid: `uid-${uid}`,
    creationTimestamp: created,
    type: 'LoadBalancer',
    annotations: { [ANNOTATION_LB_NAME]: 'public', [ANNOTATION_IPS_COUNT]: count },
    ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    clusterIP: '10.0.0.10',
    ipFamilies: dual ? ['IPv4', 'IPv6'] : ['IPv4'],
    ipFamilyPolicy: dual ? 'RequireDualStack' : 'SingleStack',
    ingress: [],
    conditions: [],
  };
}

function initialWorld(counts: string[], dual: boolean[]): World {
  return {
    now: START,
    services: counts.map((c, i) =>
      service(i, c, dual[i] ?? false, i, new Date(START - (SERVICES - i) * 1000).toISOString()),
    ),
    nodes: [0, 1, 2, 3].map((i) => node(i)),
    balancer: {
      balancer: {
        name: 'public',
        addressPool: FULL_POOL,
        nodeSelector: SELECTOR,
        interfaces: [],
        isDefault: false,
        creationTimestamp: '2026-11-01T00:00:00Z',
      },
      generation: 1,
      conditions: [],
      status: {},
      reservations: [],
      allocations: new Map(),
    },
    children: [],
    history: [],
    uids: SERVICES,
  };
}

/** The child as the API server holds it, for a JSON patch's `test`. */
function childObject(c: L2LBServiceSnapshot): Record<string, unknown> {
  return {
    metadata: { annotations: { [ANNOTATION_SPEC_HASH]: c.specHash }, labels: {}, ownerReferences: [] },
    spec: { loadBalancerIP: c.state.address, nodes: c.state.nodes },
  };
}

/** Applies a plan in order, as shell-operator does; the first refused operation ends the run. */
function apply(world: World, plan: ReconcilePlan): boolean {
  const created = new Date(world.now).toISOString();
  const at = (ns: string | undefined, name: string): number =>
    world.children.findIndex((c) => c.state.namespace === ns && c.state.name === name);
  for (const d of plan.deletes) {
    const i = at(d.namespace, d.name);
    if (i >= 0) world.children.splice(i, 1);
  }
  for (const o of plan.creates) {
    if (at(o.metadata.namespace, o.metadata.name) >= 0) return false;
    world.children.push(childSnapshotOf(o, created));
  }
  for (const u of plan.updates) {
    const i = at(u.object.metadata.namespace, u.object.metadata.name);
    if (i < 0) return false;
    const live = world.children[i]!;
    const tests = childPatch(u).filter((op) => op.op === 'test');
    if (!jsonPatch(childObject(live), tests).ok) return false;
    world.children[i] = childSnapshotOf(u.object, live.state.creationTimestamp);
  }
  for (const s of plan.serviceStatus) {
    const svc = world.services.find((x) => x.namespace === s.ref.namespace && x.name === s.ref.name);
    if (svc) Object.assign(svc, { ingress: s.ingress, conditions: s.conditions });
  }
  for (const b of plan.balancerStatus) {
    const status = b.status as {
      conditions: L2LoadBalancerSnapshot['conditions'];
      reservations: unknown;
      allocations?: Record<string, string[] | null>;
    };
    // status.allocations is a merge patch of the changed Services (null: gone).
    const allocations = new Map(world.balancer.allocations);
    for (const [key, list] of Object.entries(status.allocations ?? {})) {
      if (list === null) allocations.delete(key);
      else allocations.set(key, list);
    }
    world.balancer = {
      ...world.balancer,
      status: b.status,
      conditions: status.conditions,
      reservations: Array.isArray(status.reservations)
        ? (status.reservations as L2LoadBalancerSnapshot['reservations'])
        : [],
      allocations,
    };
  }
  return true;
}

function state(world: World, children = world.children): ClusterState {
  return {
    services: world.services,
    nodes: world.nodes,
    balancers: [world.balancer],
    l2lbServices: children,
    leases: [],
    endpoints: [],
  };
}

function run(world: World, children = world.children): boolean {
  return apply(world, reconcile(state(world, children), settings, new Date(world.now)));
}

function happen(world: World, e: Event): void {
  const reset = (): string => new Date(world.now).toISOString();
  switch (e.kind) {
    case 'nodeDeleted':
      world.nodes = world.nodes.filter((n) => n.name !== `frontend-${e.node}`);
      break;
    case 'nodeAdded':
      if (!world.nodes.some((n) => n.name === `frontend-${e.node}`)) world.nodes.push(node(e.node));
      break;
    case 'selectorTypo':
      world.balancer.balancer = {
        ...world.balancer.balancer,
        nodeSelector: { 'node-role.kubernetes.io/frontnd': '' },
      };
      break;
    case 'selectorFixed':
      world.balancer.balancer = { ...world.balancer.balancer, nodeSelector: SELECTOR };
      break;
    case 'childDeleted':
      if (world.children.length > 0) world.children.splice(e.pick % world.children.length, 1);
      break;
    case 'restore':
      // A restore from a backup: every object recreated with a fresh creationTimestamp; the
      // Services keep their status; the children come back too, or are lost.
      world.services = world.services.map((s) => ({ ...s, creationTimestamp: reset() }));
      world.children = e.keepChildren
        ? world.children.map((c) => ({ ...c, state: { ...c.state, creationTimestamp: reset() } }))
        : [];
      world.balancer = {
        ...world.balancer,
        status: {},
        conditions: [],
        reservations: [],
        allocations: new Map(),
      };
      break;
    case 'laggingRun': {
      const lagging = world.history[world.history.length - e.stepsBehind];
      if (lagging) run(world, lagging);
      break;
    }
    case 'countEdited':
      world.services = world.services.map((s) =>
        s.name === `svc-${e.service}`
          ? { ...s, annotations: { ...s.annotations, [ANNOTATION_IPS_COUNT]: e.count } }
          : s,
      );
      break;
    case 'serviceRecreated': {
      const name = `svc-${e.service}`;
      const old = world.services.find((s) => s.name === name)!;
      // The garbage collector deletes the children of the deleted Service.
      world.children = world.children.filter((c) => c.state.serviceName !== name);
      world.uids += 1;
      world.services = world.services.map((s) =>
        s.name === name
          ? {
              ...service(
                e.service,
                old.annotations[ANNOTATION_IPS_COUNT] ?? '1',
                old.ipFamilies?.length === 2,
                world.uids,
                reset(),
              ),
            }
          : s,
      );
      break;
    }
    case 'poolNarrowed':
      world.balancer.balancer = {
        ...world.balancer.balancer,
        addressPool: ['192.0.2.0/30', '2001:db8::/126'],
      };
      break;
    case 'poolRestored':
      world.balancer.balancer = { ...world.balancer.balancer, addressPool: FULL_POOL };
      break;
    case 'calm':
      break;
  }
}

/** How many indices a Service asks for now: its count, or the size of its node group for `all`. */
function asks(world: World, s: ServiceState): number | undefined {
  const c = s.annotations[ANNOTATION_IPS_COUNT];
  if (c === 'all') {
    const sel = world.balancer.balancer.nodeSelector;
    const group = world.nodes.filter((n) => Object.entries(sel).every(([k, v]) => n.labels[k] === v)).length;
    // An empty group is a typo or a replacement, not a request for nothing: the Service keeps all.
    return group === 0 ? Number.MAX_SAFE_INTEGER : group;
  }
  return c !== undefined && /^[1-9]$/.test(c) ? Number(c) : undefined;
}

describe('reconcile over event sequences (property)', () => {
  it('never takes a shown address from a Service that still asks for as many, and never shows one address twice', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('1', '2', '3', 'all'), { minLength: SERVICES, maxLength: SERVICES }),
        fc.array(fc.boolean(), { minLength: SERVICES, maxLength: SERVICES }),
        fc.array(eventArb, { minLength: 1, maxLength: 12 }),
        (counts, dual, events) => {
          const world = initialWorld(counts, dual);
          for (let i = 0; i < 3 && !run(world); i++);
          for (const e of events) {
            const before = new Map(world.services.map((s) => [s.name, { ...s, asks: asks(world, s) }]));
            world.history.push(world.children.map((c) => ({ ...c, state: { ...c.state } })));
            world.now += 30_000;
            happen(world, e);
            // A failed run (a precondition, a name taken) is retried, as the operator does.
            for (let i = 0; i < 3 && !run(world); i++);
            const pool = parsePool(world.balancer.balancer.addressPool).pool;
            const shownBy = new Map<string, string>();
            for (const s of world.services) {
              for (const ip of s.ingress) {
                const other = shownBy.get(ip);
                if (other !== undefined && other !== s.name)
                  throw new Error(`${ip} shown by ${other} and ${s.name} after ${e.kind}`);
                shownBy.set(ip, s.name);
              }
              const prev = before.get(s.name);
              if (!prev) continue;
              const nowAsks = asks(world, s);
              if (prev.uid !== s.uid) {
                // Deleted with its children in one step (the garbage collector first) and created
                // again: the addresses stay reserved for its namespace/name, so it gets them back.
                // (`all` on an empty node group: a new Service holds nothing to keep, so asks none.)
                if (prev.asks === undefined || nowAsks === undefined || nowAsks < prev.asks) continue;
                if (nowAsks === Number.MAX_SAFE_INTEGER) continue;
                for (const ip of prev.ingress) {
                  if (poolContains(pool, ip) && !s.ingress.includes(ip))
                    throw new Error(
                      `recreated ${s.name} did not get back ${ip} (${JSON.stringify(prev.ingress)} -> ${JSON.stringify(s.ingress)})`,
                    );
                }
                continue;
              }
              if (prev.asks === undefined || nowAsks === undefined || nowAsks < prev.asks) continue;
              for (const ip of prev.ingress) {
                if (!poolContains(pool, ip)) continue;
                if (!s.ingress.includes(ip))
                  throw new Error(
                    `${s.name} lost ${ip} after ${e.kind} (${JSON.stringify(prev.ingress)} -> ${JSON.stringify(s.ingress)})`,
                  );
              }
            }
          }
        },
      ),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 150) },
    );
  });
});
