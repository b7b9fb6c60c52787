import { Story, changes, fixture, yamlObjects, RECONCILE_HOOK } from '../support/hook-harness';
import { runHookExecutable } from '../../lib/sdk/simulate';
import { spawnSync } from 'node:child_process';
import type { ClusterObject } from '../../lib/sdk/simulate';

function service(
  name: string,
  annotations: Record<string, string>,
  extra: string = '',
  created = '2026-11-02T09:00:00Z',
): ClusterObject {
  const ann = Object.entries(annotations)
    .map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`)
    .join('\n');
  return yamlObjects(`
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: shop
  uid: uid-${name}
  creationTimestamp: "${created}"
  annotations:
${ann || '    {}'}
spec:
  type: LoadBalancer
  clusterIP: 10.0.0.10
  selector: { app: ${name} }
  ports: [{ name: http, port: 80, targetPort: 8080, protocol: TCP }]
${extra}`)[0]!;
}

const LB = { 'network.deckhouse.io/l2-load-balancer-name': 'public' };
const count = (n: string): Record<string, string> => ({
  ...LB,
  'network.deckhouse.io/l2-load-balancer-external-ips-count': n,
});

describe('reconcile hook: --config', () => {
  it('prints one group of filtered bindings; Leases and L2LBServices snapshot only', () => {
    const r = spawnSync(RECONCILE_HOOK, ['--config'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const cfg = JSON.parse(r.stdout) as { configVersion: string; kubernetes: Array<Record<string, unknown>> };
    expect(cfg.configVersion).toBe('v1');
    for (const b of cfg.kubernetes) {
      expect(b.group).toBe('main');
      expect(typeof b.jqFilter).toBe('string');
    }
    expect(cfg.kubernetes.find((b) => b.name === 'leases')?.executeHookOnEvent).toEqual([]);
    expect(cfg.kubernetes.find((b) => b.name === 'l2lbservices')?.executeHookOnEvent).toEqual([]);
  });
});

describe('reconcile hook: a Service asking for three public IPs', () => {
  it('allocates three addresses on three distinct frontend nodes and reports them in the Service status', () => {
    const story = new Story([...fixture('three-frontends.yaml'), service('web', count('3'))]);
    story.run();
    expect(Object.values(story.addresses('web'))).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3']);
    expect(new Set(story.preferred('web')).size).toBe(3);
    expect(story.preferred('web').every((n) => n.startsWith('frontend-'))).toBe(true);
    expect(story.ingress('shop', 'web')).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3']);
    expect(story.condition('shop', 'web')).toMatchObject({
      status: 'True',
      reason: 'AllAssigned',
      message: '3 of 3 public IPs assigned',
    });
    expect(story.events().filter((e) => e.reason === 'PublicIPAssigned')).toHaveLength(3);
  });

  it('changes nothing when run again on the state it produced', () => {
    const story = new Story([...fixture('three-frontends.yaml'), service('web', count('3'))]);
    story.run();
    expect(story.run().patches).toEqual([]);
  });

  it('names its children <service>-<l2loadbalancer>-<index>-<hash> with labels, MetalLB annotations and an owner reference', () => {
    const story = new Story([...fixture('three-frontends.yaml'), service('web', count('2'))]);
    story.run();
    const [first] = story.children('web');
    expect(first?.metadata.name).toMatch(/^web-public-0-[0-9a-f]{8}$/);
    expect(first?.metadata.labels).toMatchObject({
      'network.deckhouse.io/parent-service': 'web',
      'network.deckhouse.io/l2-load-balancer': 'public',
    });
    expect(first?.metadata.annotations).toMatchObject({
      'metallb.io/address-pool': 'public',
      'metallb.io/loadBalancerIPs': '192.0.2.1',
    });
    expect(first?.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Service', name: 'web', uid: 'uid-web', controller: true }),
    ]);
    expect(first?.spec).toMatchObject({
      type: 'LoadBalancer',
      clusterIP: '10.0.0.10',
      serviceRef: { name: 'web', namespace: 'shop' },
    });
  });

  it('spreads the first IPs of many Services over all nodes rather than stacking them on one', () => {
    const services = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => service(n, count('1')));
    const story = new Story([
      ...fixture('three-frontends.yaml').map((o) =>
        o.kind === 'L2LoadBalancer'
          ? { ...o, spec: { ...(o.spec as object), addressPool: ['192.0.2.0/28'] } }
          : o,
      ),
      ...services,
    ]);
    story.run();
    const load = new Map<string, number>();
    for (const s of ['a', 'b', 'c', 'd', 'e', 'f'])
      for (const n of story.preferred(s)) load.set(n, (load.get(n) ?? 0) + 1);
    expect([...load.values()].sort()).toEqual([2, 2, 2]);
  });
});

describe('reconcile hook: bad count annotations keep what the Service has', () => {
  it.each(['abc', '0', '-1', '1e3', '99999'])(
    'refuses count %p with a Warning and keeps the existing address',
    (bad) => {
      const story = new Story([...fixture('three-frontends.yaml'), service('web', count('1'))]);
      story.run();
      const before = story.addresses('web');
      story.edit('v1', 'Service', 'shop', 'web', (s) => {
        s.metadata.annotations = count(bad);
      });
      const run = story.run();
      expect(run.patches.filter((p) => p.operation === 'DeleteInBackground')).toEqual([]);
      expect(story.addresses('web')).toEqual(before);
      expect(story.ingress('shop', 'web')).toEqual(Object.values(before));
      const cond = story.condition('shop', 'web');
      expect(cond).toMatchObject({ status: 'False', reason: 'InvalidExternalIPsCount' });
      expect(cond?.message).toContain(`"${bad}"`);
      expect(cond?.message).toContain('network.deckhouse.io/l2-load-balancer-external-ips-count');
      expect(story.events()).toContainEqual(
        expect.objectContaining({
          type: 'Warning',
          reason: 'InvalidExternalIPsCount',
          involved: 'Service/web',
        }),
      );
    },
  );

  it('gives a new Service with a bad count no address until it is fixed', () => {
    const story = new Story([...fixture('three-frontends.yaml'), service('web', count('abc'))]);
    story.run();
    expect(story.children('web')).toEqual([]);
    story.edit('v1', 'Service', 'shop', 'web', (s) => (s.metadata.annotations = count('2')));
    story.run();
    expect(Object.keys(story.addresses('web'))).toHaveLength(2);
  });

  it('warns only once for the same bad input, not on every run', () => {
    const story = new Story([...fixture('three-frontends.yaml'), service('web', count('abc'))]);
    story.run();
    const warnings = story.events().filter((e) => e.type === 'Warning').length;
    story.run();
    story.run();
    expect(story.events().filter((e) => e.type === 'Warning').length).toBe(warnings);
  });
});

describe('reconcile hook: exhaustion and pinned addresses', () => {
  it('gives what is free when a count exceeds the pool, and says how many are missing', () => {
    // 192.0.2.0/29 holds 6 usable addresses.
    const story = new Story([...fixture('three-frontends.yaml'), service('web', count('8'))]);
    story.run();
    expect(Object.keys(story.addresses('web'))).toHaveLength(6);
    const cond = story.condition('shop', 'web');
    expect(cond).toMatchObject({ status: 'False', reason: 'PoolExhausted' });
    expect(cond?.message).toMatch(/^6 of 8 public IPs assigned/);
  });

  it('takes pinned addresses in index order and refuses bad ones by name while other indices proceed', () => {
    const story = new Story([
      ...fixture('three-frontends.yaml'),
      service('old', count('1'), '', '2026-11-01T00:00:00Z'),
    ]);
    story.run();
    expect(story.addresses('old')).toEqual({ 0: '192.0.2.1' });
    story.add(
      service('pinned', {
        ...count('4'),
        'network.deckhouse.io/load-balancer-ips': '192.0.2.5, 203.0.113.7, 192.0.2.5, 192.0.2.1',
      }),
    );
    story.run();
    const got = story.addresses('pinned');
    expect(got[0]).toBe('192.0.2.5');
    const message = story.condition('shop', 'pinned')?.message ?? '';
    expect(message).toContain('203.0.113.7');
    expect(message).toContain('192.0.2.1');
    expect(story.addresses('old')).toEqual({ 0: '192.0.2.1' });
    const reasons = story
      .events()
      .filter((e) => e.involved === 'Service/pinned' && e.type === 'Warning')
      .map((e) => e.reason);
    expect(reasons).toEqual(
      expect.arrayContaining([
        'RequestedAddressOutsidePool',
        'RequestedAddressDuplicate',
        'RequestedAddressTaken',
      ]),
    );
  });
});

describe('reconcile hook: Services the module must not touch or must let go', () => {
  it('never touches a Service with a foreign loadBalancerClass', () => {
    const story = new Story([
      ...fixture('three-frontends.yaml'),
      service('foreign', count('2'), '  loadBalancerClass: metallb.io/metallb'),
    ]);
    const run = story.run();
    expect(run.patches.filter((p) => JSON.stringify(p).includes('foreign'))).toEqual([]);
  });

  it('takes a Service by loadBalancerClass alone when it matches the setting, using the default L2LoadBalancer', () => {
    const objects = fixture('three-frontends.yaml').map((o) =>
      o.kind === 'L2LoadBalancer' ? { ...o, spec: { ...(o.spec as object), isDefault: true } } : o,
    );
    const story = new Story([...objects, service('cls', {}, '  loadBalancerClass: l2-load-balancer')], {
      loadBalancerClass: 'l2-load-balancer',
    });
    story.run();
    expect(story.addresses('cls')).toEqual({ 0: '192.0.2.1' });
  });

  it('keeps the addresses of a Service whose annotation names an unknown L2LoadBalancer', () => {
    const story = new Story([...fixture('three-frontends.yaml'), service('web', count('2'))]);
    story.run();
    const before = story.addresses('web');
    story.edit('v1', 'Service', 'shop', 'web', (s) => {
      s.metadata.annotations = { ...count('2'), 'network.deckhouse.io/l2-load-balancer-name': 'pubilc' };
    });
    story.run();
    expect(story.addresses('web')).toEqual(before);
    expect(story.condition('shop', 'web')).toMatchObject({
      status: 'False',
      reason: 'UnknownL2LoadBalancer',
    });
    expect(story.condition('shop', 'web')?.message).toContain('"pubilc"');
  });

  it('releases the addresses of a deleted Service', () => {
    const story = new Story([...fixture('three-frontends.yaml'), service('web', count('2'))]);
    story.run();
    story.remove('v1', 'Service', 'shop', 'web');
    story.run();
    expect(story.children()).toEqual([]);
  });
});

describe('reconcile hook: nodes and pools change', () => {
  it('keeps every address when all balancer nodes are gone, and reports NoNodes on the L2LoadBalancer', () => {
    const story = new Story([...fixture('three-frontends.yaml'), service('web', count('3'))]);
    story.run();
    const before = story.addresses('web');
    for (const n of ['frontend-1', 'frontend-2', 'frontend-3']) story.remove('v1', 'Node', undefined, n);
    story.run();
    expect(story.addresses('web')).toEqual(before);
    expect(story.ingress('shop', 'web')).toEqual(Object.values(before));
    const lb = story.cluster.get('network.deckhouse.io/v1alpha1', 'L2LoadBalancer', undefined, 'public');
    const ready = (lb?.status as { conditions: Array<Record<string, string>> }).conditions.find(
      (c) => c.type === 'Ready',
    );
    expect(ready).toMatchObject({ status: 'False', reason: 'NoNodes' });
  });

  it('moves only the index of a node that became NotReady', () => {
    const story = new Story([...fixture('three-frontends.yaml'), service('web', count('3'))]);
    story.run();
    const before = story.preferred('web');
    const failed = before[1]!;
    story.edit('v1', 'Node', undefined, failed, (n) => {
      n.status = {
        conditions: [{ type: 'Ready', status: 'False', lastTransitionTime: '2026-11-03T00:00:00Z' }],
      };
    });
    story.run();
    const after = story.preferred('web');
    expect(after[0]).toBe(before[0]);
    expect(after[2]).toBe(before[2]);
    expect(after[1]).not.toBe(failed);
    expect(story.events()).toContainEqual(
      expect.objectContaining({ reason: 'PublicIPFailedOver', involved: 'Service/web' }),
    );
  });

  it('reports invalid pool entries on the L2LoadBalancer by index and keeps allocated addresses', () => {
    const story = new Story([...fixture('three-frontends.yaml'), service('web', count('2'))]);
    story.run();
    const before = story.addresses('web');
    story.edit('network.deckhouse.io/v1alpha1', 'L2LoadBalancer', undefined, 'public', (lb) => {
      lb.spec = {
        ...(lb.spec as object),
        addressPool: ['192.0.2.0/29', '10.0.0.300', '10.0.0.9-10.0.0.1', '', '192.0.2.1-2001:db8::1'],
      };
    });
    story.run();
    expect(story.addresses('web')).toEqual(before);
    const lb = story.cluster.get('network.deckhouse.io/v1alpha1', 'L2LoadBalancer', undefined, 'public');
    const ready = (lb?.status as { conditions: Array<Record<string, string>> }).conditions.find(
      (c) => c.type === 'Ready',
    );
    expect(ready).toMatchObject({ status: 'False', reason: 'InvalidPool' });
    for (const bad of [
      'spec.addressPool[1]',
      '10.0.0.300',
      'spec.addressPool[2]',
      'spec.addressPool[3]',
      'spec.addressPool[4]',
    ]) {
      expect(ready?.message).toContain(bad);
    }
  });

  it('reports overlapping pools on both L2LoadBalancers and lets the older one keep allocating', () => {
    const story = new Story([
      ...fixture('three-frontends.yaml'),
      ...yamlObjects(`
apiVersion: network.deckhouse.io/v1alpha1
kind: L2LoadBalancer
metadata: { name: shadow, creationTimestamp: "2026-11-05T00:00:00Z" }
spec: { addressPool: ["192.0.2.4-192.0.2.10"] }
`),
      service('web', count('1')),
      service('other', { 'network.deckhouse.io/l2-load-balancer-name': 'shadow' }),
    ]);
    story.run();
    expect(story.addresses('web')).toEqual({ 0: '192.0.2.1' });
    expect(story.children('other')).toEqual([]);
    expect(story.events()).toContainEqual(
      expect.objectContaining({ reason: 'OverlappingPool', involved: 'L2LoadBalancer/shadow' }),
    );
  });

  it('gives a new address to an index whose address left a shrunk pool, and says so', () => {
    const story = new Story([...fixture('three-frontends.yaml'), service('web', count('2'))]);
    story.run();
    expect(story.addresses('web')).toEqual({ 0: '192.0.2.1', 1: '192.0.2.2' });
    story.edit('network.deckhouse.io/v1alpha1', 'L2LoadBalancer', undefined, 'public', (lb) => {
      lb.spec = { ...(lb.spec as object), addressPool: ['192.0.2.2-192.0.2.6'] };
    });
    story.run();
    expect(story.addresses('web')[1]).toBe('192.0.2.2');
    expect(story.addresses('web')[0]).not.toBe('192.0.2.1');
    expect(story.events()).toContainEqual(expect.objectContaining({ reason: 'AddressLeftPool' }));
  });

  it('labels balancer nodes as members and only them', () => {
    const story = new Story([...fixture('three-frontends.yaml')]);
    story.run();
    const member = (n: string): boolean =>
      story.cluster.get('v1', 'Node', undefined, n)?.metadata.labels?.[
        'l2-load-balancer.network.deckhouse.io/member'
      ] !== undefined;
    expect(['frontend-1', 'frontend-2', 'frontend-3'].every(member)).toBe(true);
    expect(member('worker-1')).toBe(false);
  });
});

describe('reconcile hook: malformed input', () => {
  it('fails a malformed binding context with a clear message and writes no patch', () => {
    const run = runHookExecutable(RECONCILE_HOOK, '{"binding": "oops"', {});
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain('binding context is not valid JSON');
    expect(run.patches).toEqual([]);
  });

  it('skips a malformed object, names it, and still reconciles the rest', () => {
    const story = new Story([...fixture('three-frontends.yaml'), service('web', count('1'))]);
    story.add(
      ...yamlObjects(`
apiVersion: internal.network.deckhouse.io/v1alpha1
kind: L2LBService
metadata: { name: stray, namespace: shop, labels: { network.deckhouse.io/parent-service: web } }
spec: { loadBalancerIP: 192.0.2.6 }
`),
    );
    const run = story.run();
    expect(run.stderr).toContain(
      'L2LBService shop/stray: label network.deckhouse.io/l2-load-balancer is missing',
    );
    expect(story.addresses('web')[0]).toBe('192.0.2.1');
    expect(changes(run.patches).length).toBeGreaterThan(0);
  });
});

describe('reconcile hook: settings change under a Service', () => {
  it('never takes addresses from a count "all" Service when maxExternalIPsPerService is lowered', () => {
    const story = new Story([...fixture('three-frontends.yaml'), service('api', count('all'))]);
    story.run();
    const before = story.addresses('api');
    expect(Object.keys(before)).toHaveLength(3);
    const lowered = new Story(story.cluster.list(), { maxExternalIPsPerService: 2 });
    lowered.run();
    expect(lowered.addresses('api')).toEqual(before);
    expect(lowered.condition('shop', 'api')).toMatchObject({
      status: 'False',
      reason: 'ExternalIPsCountCapped',
    });
  });

  it('caps the growth of a count "all" Service at maxExternalIPsPerService', () => {
    const story = new Story([...fixture('three-frontends.yaml'), service('api', count('all'))], {
      maxExternalIPsPerService: 2,
    });
    story.run();
    expect(Object.keys(story.addresses('api'))).toHaveLength(2);
  });
});
