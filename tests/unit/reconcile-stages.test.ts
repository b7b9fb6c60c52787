// The stages of the control loop's pipeline (lib/controller/stages/), each tested on its own with
// plain typed input, as the cluster would show it.
import { createHash } from 'node:crypto';
import { ChildIndex } from '../../lib/controller/children';
import { reconcile, type ClusterState } from '../../lib/controller/reconcile';
import type { L2LBServiceSnapshot, L2LoadBalancerSnapshot } from '../../lib/controller/snapshot';
import {
  allocatedAddresses,
  MAX_RECORDED_ADDRESSES,
  nextRecord,
  recordPatch,
} from '../../lib/controller/stages/allocation-record';
import { allocateAddresses } from '../../lib/controller/stages/allocation';
import { checkBalancers } from '../../lib/controller/stages/balancer-checks';
import { childSpec, childSpecHash } from '../../lib/controller/stages/children-diff';
import { nextReservations } from '../../lib/controller/stages/balancer-status';
import { resolveIntents } from '../../lib/controller/stages/intents';
import { nodeLabels } from '../../lib/controller/stages/node-labels';
import type { L2LoadBalancer, NodeState, Reservation, ServiceState } from '../../lib/model';
import { defaultSettings } from '../../lib/settings';

const settings = defaultSettings();
const balancer = (name: string, pool: string[], created = '2026-11-01T00:00:00Z'): L2LoadBalancer => ({
  name,
  addressPool: pool,
  nodeSelector: { 'node-role.kubernetes.io/frontend': '' },
  interfaces: [],
  isDefault: false,
  creationTimestamp: created,
});
const svc = (name: string, extra: Partial<ServiceState> = {}): ServiceState => ({
  namespace: 'shop',
  name,
  uid: `uid-${name}`,
  creationTimestamp: '2026-11-02T00:00:00Z',
  type: 'LoadBalancer',
  annotations: { 'network.deckhouse.io/l2-load-balancer-name': 'public' },
  ports: [],
  ipFamilies: ['IPv4'],
  ipFamilyPolicy: 'SingleStack',
  ingress: [],
  conditions: [],
  ...extra,
});
const child = (service: string, index: number, address: string): L2LBServiceSnapshot => ({
  state: {
    namespace: 'shop',
    name: `${service}-public-${index}`,
    serviceName: service,
    l2lbName: 'public',
    index,
    address,
    nodes: [],
    creationTimestamp: '2026-11-02T00:00:01Z',
  },
  specHash: '',
});

function intentsOf(services: ServiceState[], pool: string[], children: L2LBServiceSnapshot[] = []) {
  const balancers = new Map([['public', balancer('public', pool)]]);
  const checks = checkBalancers([...balancers.values()]);
  const index = new ChildIndex(children);
  const nodes: NodeState[] = [];
  const intents = resolveIntents({
    services,
    balancers,
    checks,
    children: index,
    nodes,
    namespaces: new Map(),
    settings,
  });
  return { balancers, checks, index, intents };
}

describe('stage 1, checkBalancers', () => {
  it('freezes the newer of two overlapping L2LoadBalancers and reports the overlap on both', () => {
    const checks = checkBalancers([
      balancer('old', ['192.0.2.0/28']),
      balancer('new', ['192.0.2.8/29'], '2026-11-02T00:00:00Z'),
    ]);
    expect(checks.get('new')).toMatchObject({ frozen: true, problems: [{ reason: 'OverlappingPool' }] });
    expect(checks.get('old')).toMatchObject({ frozen: false, problems: [{ reason: 'OverlappingPool' }] });
  });
});

describe('stage 2, resolveIntents', () => {
  it('leaves a RequireDualStack Service on an IPv4-only pool with IPFamilyNotInPool, and a PreferDualStack one with IPv4 only', () => {
    const dual = { ipFamilies: ['IPv4', 'IPv6'] };
    const { intents } = intentsOf(
      [
        svc('need', { ...dual, ipFamilyPolicy: 'RequireDualStack' }),
        svc('prefer', { ...dual, ipFamilyPolicy: 'PreferDualStack' }),
      ],
      ['192.0.2.0/29'],
    );
    expect(intents.get('shop/need')).toMatchObject({
      unavailable: [6],
      problems: [{ reason: 'IPFamilyNotInPool' }],
    });
    expect(intents.get('shop/prefer')).toMatchObject({ families: [4], unavailable: [], problems: [] });
  });
});

describe('stage 3, allocateAddresses', () => {
  it('takes an address back from the Service status when its child is missing', () => {
    const services = [svc('web', { ingress: ['192.0.2.5'] })];
    const { balancers, checks, index, intents } = intentsOf(services, ['192.0.2.0/29']);
    const result = allocateAddresses({
      intents,
      children: index,
      balancers,
      checks,
      reservations: new Map(),
    });
    expect(result.allocations).toEqual([
      { serviceKey: 'shop/web', l2lbName: 'public', index: 0, address: '192.0.2.5', family: 4 },
    ]);
    expect([...result.restored]).toEqual(['shop/web|public|0|192.0.2.5']);
  });

  it('does not take back an address another Service’s child holds', () => {
    const services = [svc('web', { ingress: ['192.0.2.5'] }), svc('api')];
    const { balancers, checks, index, intents } = intentsOf(
      services,
      ['192.0.2.0/29'],
      [child('api', 0, '192.0.2.5')],
    );
    const result = allocateAddresses({
      intents,
      children: index,
      balancers,
      checks,
      reservations: new Map(),
    });
    expect(result.allocations.find((a) => a.serviceKey === 'shop/web')?.address).toBe('192.0.2.1');
  });

  it('skips an address reserved for another Service while an unreserved one is free', () => {
    const { balancers, checks, index, intents } = intentsOf([svc('web')], ['192.0.2.0/29']);
    const reservations = new Map([
      ['public', [{ address: '192.0.2.1', service: 'shop/gone', until: '2026-11-02T00:10:00Z' }]],
    ]);
    const result = allocateAddresses({ intents, children: index, balancers, checks, reservations });
    expect(result.allocations[0]?.address).toBe('192.0.2.2');
  });
});

describe('stage 7, nextReservations', () => {
  it('reserves a released address until now + addressReservationSeconds and drops one that is allocated again', () => {
    const now = new Date('2026-11-02T00:00:00Z');
    const current = new Map([
      ['public', [{ address: '192.0.2.3', service: 'shop/a', until: '2026-11-02T00:05:00Z' }]],
    ]);
    const next = nextReservations(
      current,
      [{ l2lbName: 'public', address: '192.0.2.4', serviceKey: 'shop/b' }],
      allocatedAddresses([{ serviceKey: 'shop/a', l2lbName: 'public', index: 0, address: '192.0.2.3' }]),
      600,
      now,
    );
    expect(next.get('public')).toEqual([
      { address: '192.0.2.4', service: 'shop/b', until: '2026-11-02T00:10:00.000Z' },
    ]);
  });
});

describe('the allocation record (stages 3 and 7): a Service deleted with its children', () => {
  const now = new Date('2026-11-02T01:00:00Z');
  const snapshot = (
    allocations: Array<[string, string[]]>,
    reservations: Reservation[] = [],
  ): L2LoadBalancerSnapshot => ({
    balancer: balancer('public', ['192.0.2.1-192.0.2.3']),
    generation: 1,
    conditions: [],
    status: {},
    reservations,
    allocations: new Map(allocations),
  });
  const state = (balancers: L2LoadBalancerSnapshot[], services: ServiceState[] = []): ClusterState => ({
    services,
    nodes: [{ name: 'frontend-1', labels: { 'node-role.kubernetes.io/frontend': '' }, ready: true }],
    balancers,
    l2lbServices: [],
    leases: [],
    endpoints: [],
  });

  it('reserves the addresses the record shows when the Service and its children vanished in one snapshot', () => {
    const plan = reconcile(state([snapshot([['shop/web', ['192.0.2.1', '192.0.2.2']]])]), settings, now);
    expect(plan.reservations.get('public')).toEqual([
      { address: '192.0.2.1', service: 'shop/web', until: '2026-11-02T01:10:00.000Z' },
      { address: '192.0.2.2', service: 'shop/web', until: '2026-11-02T01:10:00.000Z' },
    ]);
    // The record forgets web: the next run derives no new release (the reservation keeps its end).
    expect(plan.balancerStatus[0]?.status.allocations).toEqual({ 'shop/web': null });
  });

  it('holds those addresses back from a new Service in the same run', () => {
    const plan = reconcile(
      state([snapshot([['shop/web', ['192.0.2.1', '192.0.2.2']]])], [svc('api')]),
      settings,
      now,
    );
    expect(plan.serviceStatus.find((u) => u.ref.name === 'api')?.ingress).toEqual(['192.0.2.3']);
    expect(plan.balancerStatus[0]?.status.allocations).toEqual({
      'shop/web': null,
      'shop/api': ['192.0.2.3'],
    });
  });

  it('gives them back to the Service created again under the same name, in index order', () => {
    const web = svc('web', {
      annotations: {
        'network.deckhouse.io/l2-load-balancer-name': 'public',
        'network.deckhouse.io/l2-load-balancer-external-ips-count': '2',
      },
    });
    const plan = reconcile(
      state([snapshot([['shop/web', ['192.0.2.2', '192.0.2.3']]])], [svc('api'), web]),
      settings,
      now,
    );
    expect(plan.serviceStatus.find((u) => u.ref.name === 'web')?.ingress).toEqual(['192.0.2.2', '192.0.2.3']);
    expect(plan.serviceStatus.find((u) => u.ref.name === 'api')?.ingress).toEqual(['192.0.2.1']);
  });

  it('reserves no recorded address that left the pool (narrowed since), nor one that is no address', () => {
    const narrowed = snapshot([['shop/web', ['192.0.2.9', '192.0.2.2', 'not-an-address']]]);
    const plan = reconcile(state([narrowed]), settings, now);
    expect(plan.reservations.get('public')).toEqual([
      { address: '192.0.2.2', service: 'shop/web', until: '2026-11-02T01:10:00.000Z' },
    ]);
  });

  it('reserves nothing when addressReservationSeconds is 0', () => {
    const plan = reconcile(
      state([snapshot([['shop/web', ['192.0.2.1']]])], [svc('api')]),
      { ...settings, addressReservationSeconds: 0 },
      now,
    );
    expect(plan.reservations.get('public')).toEqual([]);
    expect(plan.serviceStatus[0]?.ingress).toEqual(['192.0.2.1']);
  });

  it('records an L2LoadBalancer past its bound without churn: recorded Services keep their place', () => {
    const many = Array.from({ length: MAX_RECORDED_ADDRESSES }, (_, i) => `shop/s${i}`);
    const allocations = [...many, 'shop/a-new'].map((serviceKey, i) => ({
      serviceKey,
      l2lbName: 'public',
      index: 0,
      address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    }));
    const record = nextRecord([snapshot(many.map((k) => [k, ['x']]))], allocations).get('public')!;
    expect(record.size).toBe(MAX_RECORDED_ADDRESSES);
    expect(record.has('shop/a-new')).toBe(false);
  });

  it('writes only the Services whose addresses changed', () => {
    expect(
      recordPatch(
        new Map([
          ['shop/web', ['192.0.2.1']],
          ['shop/gone', ['192.0.2.2']],
        ]),
        new Map([
          ['shop/web', ['192.0.2.1']],
          ['shop/api', ['192.0.2.3']],
        ]),
      ),
    ).toEqual({ 'shop/api': ['192.0.2.3'], 'shop/gone': null });
    expect(recordPatch(new Map([['shop/web', ['192.0.2.1']]]), new Map([['shop/web', ['192.0.2.1']]]))).toBe(
      undefined,
    );
  });
});

describe('stage 5, the spec hash of a child', () => {
  it('is the sha256 of the JSON of the whole spec, for a Service with every copied field and with none', () => {
    const full = svc('web', {
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
      selector: { app: 'web' },
      clusterIP: '10.0.0.10',
      externalTrafficPolicy: 'Local',
      internalTrafficPolicy: 'Cluster',
      loadBalancerClass: 'l2-load-balancer.network.deckhouse.io/default',
    });
    for (const s of [full, svc('bare')]) {
      const spec = childSpec(s, '192.0.2.5', ['frontend-1', 'frontend-2']);
      const expected = createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 16);
      expect(childSpecHash(s, '192.0.2.5', ['frontend-1', 'frontend-2'])).toBe(expected);
    }
    expect(childSpecHash(full, '192.0.2.5', [])).not.toBe(childSpecHash(full, '192.0.2.6', []));
  });
});

describe('stage 8, nodeLabels', () => {
  it('labels a node any L2LoadBalancer selects and unlabels one none selects', () => {
    const nodes: NodeState[] = [
      { name: 'frontend-1', labels: { 'node-role.kubernetes.io/frontend': '' }, ready: true },
      { name: 'worker-1', labels: { 'l2-load-balancer.network.deckhouse.io/member': '' }, ready: true },
    ];
    expect(nodeLabels(nodes, [balancer('public', ['192.0.2.0/29'])])).toEqual([
      { name: 'frontend-1', member: true },
      { name: 'worker-1', member: false },
    ]);
  });
});
