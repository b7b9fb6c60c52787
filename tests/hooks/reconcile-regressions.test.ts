// Each defect of issue 10, reproduced on a plain cluster state through the built reconcile hook.
// Every test here failed on the control loop before the fix (wrong family, unbounded quoting, no
// serviceAllocation, pinned addresses past the maximum, no reservations (nor when a Service's
// children were collected before a run saw it deleted), `count: all` shrinking on an empty group,
// no second record, colliding child names, writes without preconditions).
import { Story, changes, fixture, yamlObjects } from '../support/hook-harness';
import type { ClusterObject } from '../../lib/sdk/simulate';

const L2LB = 'network.deckhouse.io/v1alpha1';
const NAME = 'network.deckhouse.io/l2-load-balancer-name';
const COUNT = 'network.deckhouse.io/l2-load-balancer-external-ips-count';
const PINNED = 'network.deckhouse.io/load-balancer-ips';

function service(
  name: string,
  annotations: Record<string, string>,
  options: { namespace?: string; created?: string; spec?: string; labels?: string; status?: string } = {},
): ClusterObject {
  const ann = Object.entries(annotations)
    .map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`)
    .join('\n');
  return yamlObjects(`
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: ${options.namespace ?? 'shop'}
  uid: uid-${options.namespace ?? 'shop'}-${name}
  creationTimestamp: "${options.created ?? '2026-11-02T09:00:00Z'}"
  labels: ${options.labels ?? '{}'}
  annotations:
${ann || '    {}'}
spec:
  type: LoadBalancer
  clusterIP: 10.0.0.10
  ipFamilies: [IPv4]
  ipFamilyPolicy: SingleStack
  selector: { app: ${name} }
  ports: [{ name: http, port: 80, targetPort: 8080, protocol: TCP }]
${options.spec ?? ''}
${options.status ?? ''}`)[0]!;
}

const count = (n: string): Record<string, string> => ({ [NAME]: 'public', [COUNT]: n });

function withPool(pool: string[], extra: Record<string, unknown> = {}): ClusterObject[] {
  return fixture('three-frontends.yaml').map((o) =>
    o.kind === 'L2LoadBalancer' ? { ...o, spec: { ...(o.spec as object), addressPool: pool, ...extra } } : o,
  );
}

function lbStatus(story: Story): Record<string, unknown> {
  return (story.cluster.get(L2LB, 'L2LoadBalancer', undefined, 'public')?.status ?? {}) as Record<
    string,
    unknown
  >;
}

describe('address families follow the Service (spec.ipFamilies, ipFamilyPolicy)', () => {
  const MIXED = ['192.0.2.10', '192.0.2.11', '2001:db8::/124'];

  it('gives a SingleStack IPv4 Service only IPv4 addresses from a mixed pool, and says how many are missing', () => {
    const story = new Story([...withPool(MIXED), service('web', count('3'))]);
    story.run();
    expect(story.ingress('shop', 'web')).toEqual(['192.0.2.10', '192.0.2.11']);
    expect(story.condition('shop', 'web')).toMatchObject({
      status: 'False',
      reason: 'PoolExhausted',
      message: expect.stringContaining('2 of 3 public IPs assigned') as string,
    });
  });

  it('gives a SingleStack IPv6 Service only IPv6 addresses', () => {
    const svc = service('web', count('2'));
    (svc.spec as Record<string, unknown>).ipFamilies = ['IPv6'];
    (svc.spec as Record<string, unknown>).clusterIP = 'fd00::10';
    const story = new Story([...withPool(MIXED), svc]);
    story.run();
    expect(story.ingress('shop', 'web')).toEqual(['2001:db8::', '2001:db8::1']);
  });

  it('gives a RequireDualStack Service one address of each family per index, both on the same node', () => {
    const svc = service('web', count('2'));
    Object.assign(svc.spec as object, { ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack' });
    const story = new Story([...withPool(MIXED), svc]);
    story.run();
    expect(story.ingress('shop', 'web')).toEqual(['192.0.2.10', '2001:db8::', '192.0.2.11', '2001:db8::1']);
    const byIndex = new Map<string, string[]>();
    for (const c of story.children('web')) {
      const index = c.metadata.labels?.['network.deckhouse.io/index'] ?? '';
      byIndex.set(index, [...(byIndex.get(index) ?? []), (c.spec as { nodes: string[] }).nodes[0] ?? '']);
    }
    expect([...byIndex.values()].map((nodes) => new Set(nodes).size)).toEqual([1, 1]);
    expect(story.condition('shop', 'web')).toMatchObject({ status: 'True', reason: 'AllAssigned' });
  });

  it('leaves a RequireDualStack Service short on an IPv4-only pool and never falls back to IPv4 for IPv6', () => {
    const svc = service('web', count('1'));
    Object.assign(svc.spec as object, { ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack' });
    const story = new Story([...withPool(['192.0.2.10', '192.0.2.11']), svc]);
    story.run();
    expect(story.ingress('shop', 'web')).toEqual(['192.0.2.10']);
    expect(story.condition('shop', 'web')).toMatchObject({ status: 'False', reason: 'IPFamilyNotInPool' });
  });
});

describe('user text is quoted only up to a bound', () => {
  it('keeps the condition and Events of a Service with a 40 KB annotation small enough for the API server', () => {
    const huge = 'x'.repeat(40_000);
    const story = new Story([
      ...fixture('three-frontends.yaml'),
      service('web', { [NAME]: huge, [COUNT]: huge, [PINNED]: huge }),
    ]);
    story.run();
    const condition = story.condition('shop', 'web');
    expect(condition?.status).toBe('False');
    expect(condition?.message?.length).toBeLessThanOrEqual(2048);
    const events = story.events().filter((e) => e.involved === 'Service/web');
    expect(events.length).toBeGreaterThan(0);
    for (const e of events) expect(e.message.length).toBeLessThanOrEqual(1024);
  });
});

describe('pinned addresses count toward maxExternalIPsPerService', () => {
  it('refuses 40 pinned addresses without a count when the maximum is 16, and allocates none', () => {
    const pinned = Array.from({ length: 40 }, (_, i) => `192.0.2.${i + 1}`).join(',');
    const story = new Story([
      ...withPool(['192.0.2.0/26']),
      service('web', { [NAME]: 'public', [PINNED]: pinned }),
    ]);
    story.run();
    expect(story.addresses('web')).toEqual({});
    expect(story.condition('shop', 'web')).toMatchObject({
      status: 'False',
      reason: 'TooManyLoadBalancerIPs',
    });
  });
});

describe('serviceAllocation decides who may take addresses from an L2LoadBalancer', () => {
  const namespace = (name: string, labels: string): ClusterObject =>
    yamlObjects(`apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n  labels: ${labels}`)[0]!;

  it('gives a Service of a namespace not listed no address, with NotAllowed and a Warning Event', () => {
    const story = new Story([
      ...withPool(['192.0.2.0/29'], { serviceAllocation: { namespaces: ['team-a'] } }),
      service('web', count('1')),
      service('api', count('1'), { namespace: 'team-a' }),
    ]);
    story.run();
    expect(story.ingress('shop', 'web')).toEqual([]);
    expect(story.condition('shop', 'web')).toMatchObject({ status: 'False', reason: 'NotAllowed' });
    expect(story.events()).toContainEqual(
      expect.objectContaining({ reason: 'NotAllowed', type: 'Warning', involved: 'Service/web' }),
    );
    expect(story.ingress('team-a', 'api')).toEqual(['192.0.2.1']);
  });

  it('matches namespaceSelector against the Namespace labels and serviceSelector against the Service labels', () => {
    const story = new Story([
      ...withPool(['192.0.2.0/29'], {
        serviceAllocation: {
          namespaceSelector: { matchLabels: { team: 'a' } },
          serviceSelector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['edge'] }] },
        },
      }),
      namespace('shop', '{ team: a }'),
      namespace('other', '{ team: b }'),
      service('edge', count('1'), { labels: '{ tier: edge }' }),
      service('db', count('1'), { labels: '{ tier: data }' }),
      service('edge', count('1'), { namespace: 'other', labels: '{ tier: edge }' }),
    ]);
    story.run();
    expect(story.ingress('shop', 'edge')).toEqual(['192.0.2.1']);
    expect(story.condition('shop', 'db')).toMatchObject({ reason: 'NotAllowed' });
    expect(story.condition('other', 'edge')).toMatchObject({ reason: 'NotAllowed' });
  });

  it('keeps and reports the addresses a Service holds when the rule is narrowed', () => {
    const story = new Story([...withPool(['192.0.2.0/29']), service('web', count('2'))]);
    story.run();
    const before = story.ingress('shop', 'web');
    story.edit(L2LB, 'L2LoadBalancer', undefined, 'public', (lb) => {
      (lb.spec as Record<string, unknown>).serviceAllocation = { namespaces: ['team-a'] };
    });
    story.run();
    expect(story.ingress('shop', 'web')).toEqual(before);
    expect(story.condition('shop', 'web')).toMatchObject({
      reason: 'NotAllowed',
      message: expect.stringContaining('the 2 addresses it holds are kept') as string,
    });
  });
});

describe('released addresses stay reserved for the Service that held them', () => {
  it('gives a released address to another Service only when nothing unreserved is free, and back to its holder first', () => {
    const story = new Story([...withPool(['192.0.2.1-192.0.2.4']), service('web', count('2'))]);
    story.run();
    expect(story.ingress('shop', 'web')).toEqual(['192.0.2.1', '192.0.2.2']);
    story.edit('v1', 'Service', 'shop', 'web', (s) => (s.metadata.annotations = count('1')));
    story.run();
    expect(lbStatus(story).reservations).toEqual([
      expect.objectContaining({ address: '192.0.2.2', service: 'shop/web' }),
    ]);
    story.add(service('api', count('1'), { created: '2026-11-03T00:00:00Z' }));
    story.run();
    expect(story.ingress('shop', 'api')).toEqual(['192.0.2.3']);
    story.edit('v1', 'Service', 'shop', 'web', (s) => (s.metadata.annotations = count('2')));
    story.run();
    expect(story.ingress('shop', 'web')).toEqual(['192.0.2.1', '192.0.2.2']);
  });
});

describe('a deleted Service keeps its addresses reserved even when its children went first', () => {
  it('reserves them from the L2LoadBalancer record when the Service and its children vanish in one snapshot', () => {
    const story = new Story([...withPool(['192.0.2.1-192.0.2.4']), service('web', count('2'))]);
    story.run();
    expect(story.ingress('shop', 'web')).toEqual(['192.0.2.1', '192.0.2.2']);
    expect(lbStatus(story).allocations).toEqual({ 'shop/web': ['192.0.2.1', '192.0.2.2'] });
    // The garbage collector (simulated: this harness has none) deletes the children with the
    // Service before the next run sees either; a new Service asks in the same snapshot.
    for (const c of story.children('web'))
      story.remove(c.apiVersion, c.kind, c.metadata.namespace, c.metadata.name);
    story.remove('v1', 'Service', 'shop', 'web');
    story.add(service('api', count('1'), { created: '2026-11-03T00:00:00Z' }));
    story.run();
    expect(story.ingress('shop', 'api')).toEqual(['192.0.2.3']);
    expect(lbStatus(story).reservations).toEqual([
      expect.objectContaining({ address: '192.0.2.1', service: 'shop/web' }),
      expect.objectContaining({ address: '192.0.2.2', service: 'shop/web' }),
    ]);
    expect(lbStatus(story).allocations).toEqual({ 'shop/api': ['192.0.2.3'] });
    story.add(service('web', count('2'), { created: '2026-11-04T00:00:00Z' }));
    story.run();
    expect(story.ingress('shop', 'web')).toEqual(['192.0.2.1', '192.0.2.2']);
    expect(lbStatus(story).reservations).toBeUndefined();
  });
});

describe('count "all" never shrinks because the node group became empty', () => {
  it('keeps every address when the nodes lose the selected label, and reports NoNodes', () => {
    const story = new Story([...fixture('three-frontends.yaml'), service('web', count('all'))]);
    story.run();
    const before = story.ingress('shop', 'web');
    expect(before).toHaveLength(3);
    for (const n of ['frontend-1', 'frontend-2', 'frontend-3'])
      story.edit(
        'v1',
        'Node',
        undefined,
        n,
        (node) => (node.metadata.labels = { 'node-role.kubernetes.io/frontnd': '' }),
      );
    story.run();
    expect(story.ingress('shop', 'web')).toEqual(before);
    expect(story.condition('shop', 'web')).toMatchObject({ reason: 'NoNodes' });
  });
});

describe('two records of every allocation', () => {
  it('takes a deleted child address back from the Service status, before a Service waiting for one', () => {
    const story = new Story([...withPool(['192.0.2.1-192.0.2.2']), service('web', count('2'))]);
    story.run();
    story.add(service('late', count('1'), { created: '2026-11-03T00:00:00Z' }));
    story.run();
    expect(story.ingress('shop', 'late')).toEqual([]);
    const lost = story.children('web')[0]!;
    story.remove(L2LB.replace('network', 'internal.network'), 'L2LBService', 'shop', lost.metadata.name);
    story.run();
    story.run();
    expect(story.ingress('shop', 'web')).toEqual(['192.0.2.1', '192.0.2.2']);
    expect(story.ingress('shop', 'late')).toEqual([]);
    expect(story.events()).toContainEqual(expect.objectContaining({ reason: 'PublicIPRestored' }));
  });

  it('does not swap addresses of Services restored with reset timestamps and no children', () => {
    const status = (ip: string): string => `status:\n  loadBalancer:\n    ingress: [{ ip: ${ip} }]`;
    const restoredAt = '2026-12-01T00:00:00Z';
    const story = new Story([
      ...withPool(['192.0.2.1-192.0.2.2']),
      service('a', count('1'), { created: restoredAt, status: status('192.0.2.2') }),
      service('b', count('1'), { created: restoredAt, status: status('192.0.2.1') }),
    ]);
    story.run();
    expect(story.addresses('a')).toEqual({ 0: '192.0.2.2' });
    expect(story.addresses('b')).toEqual({ 0: '192.0.2.1' });
  });
});

describe('child names never collide, and children of the old naming are adopted', () => {
  it('gives web on L2LoadBalancer prod-a and web-prod on L2LoadBalancer a two objects', () => {
    const [node] = fixture('three-frontends.yaml');
    const lb = (name: string, pool: string): ClusterObject =>
      yamlObjects(`
apiVersion: ${L2LB}
kind: L2LoadBalancer
metadata: { name: ${name}, generation: 1, creationTimestamp: '2026-11-01T10:00:00Z' }
spec: { addressPool: ['${pool}'] }`)[0]!;
    const story = new Story([
      node!,
      lb('prod-a', '192.0.2.1'),
      lb('a', '198.51.100.1'),
      service('web', { [NAME]: 'prod-a' }),
      service('web-prod', { [NAME]: 'a' }),
    ]);
    story.run();
    expect(story.ingress('shop', 'web')).toEqual(['192.0.2.1']);
    expect(story.ingress('shop', 'web-prod')).toEqual(['198.51.100.1']);
    expect(story.children()).toHaveLength(2);
  });

  it('keeps every address and every object of a cluster made with <service>-<l2loadbalancer>-<index> names', () => {
    const old = (index: number, ip: string, node: string): ClusterObject =>
      yamlObjects(`
apiVersion: internal.network.deckhouse.io/v1alpha1
kind: L2LBService
metadata:
  name: web-public-${index}
  namespace: shop
  creationTimestamp: '2026-11-02T09:00:01Z'
  labels:
    network.deckhouse.io/parent-service: web
    network.deckhouse.io/l2-load-balancer: public
    network.deckhouse.io/index: '${index}'
  annotations: { network.deckhouse.io/spec-hash: 0000000000000000 }
spec: { loadBalancerIP: ${ip}, nodes: [${node}] }`)[0]!;
    const story = new Story([
      ...fixture('three-frontends.yaml'),
      service('web', count('2'), {
        status: 'status:\n  loadBalancer:\n    ingress: [{ ip: 192.0.2.5 }, { ip: 192.0.2.3 }]',
      }),
      old(0, '192.0.2.5', 'frontend-1'),
      old(1, '192.0.2.3', 'frontend-2'),
    ]);
    const run = story.run();
    expect(run.patches.filter((p) => p.operation === 'Create' || p.operation.startsWith('Delete'))).toEqual(
      [],
    );
    expect(story.children('web').map((c) => c.metadata.name)).toEqual(['web-public-0', 'web-public-1']);
    expect(story.addresses('web')).toEqual({ 0: '192.0.2.5', 1: '192.0.2.3' });
    expect(changes(story.run().patches)).toEqual([]);
  });
});

describe('writes carry a precondition on what the run saw', () => {
  it('fails, instead of rewriting a live child, when the run worked from a lagging snapshot', () => {
    const story = new Story([...withPool(['192.0.2.10-192.0.2.12']), service('web', count('1'))]);
    story.run();
    const lagging = story.cluster.list();
    // The live child moved on to .11 (a later run); the lagging view still shows .10 and a spec
    // change (new port) that makes the hook rewrite the child.
    const child = story.children('web')[0]!;
    story.edit(child.apiVersion, child.kind, 'shop', child.metadata.name, (c) => {
      (c.spec as Record<string, unknown>).loadBalancerIP = '192.0.2.11';
    });
    const svc = lagging.find((o) => o.kind === 'Service')!;
    (svc.spec as Record<string, unknown>).ports = [{ name: 'https', port: 443, protocol: 'TCP' }];
    const errors = story.runFrom(lagging);
    expect(errors).toEqual([expect.stringContaining('test failed')]);
    expect(story.addresses('web')).toEqual({ 0: '192.0.2.11' });
    expect(story.last?.patches.some((p) => p.operation === 'CreateOrUpdate')).toBe(false);
  });
});
