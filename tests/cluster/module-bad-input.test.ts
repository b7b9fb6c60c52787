// Bad input on the live API, through the real shell-operator and hooks: every case of the
// control-loop issue gives its Warning Event and condition naming the object and field, and never
// costs a Service an address it holds (a watch on every Service checks that throughout).
import {
  ANNOTATION_LB_NAME,
  ANNOTATION_IPS_COUNT,
  IngressRecorder,
  ModuleCluster,
  conditionOf,
  type Condition,
  type EventObject,
} from '../../testbed/module';

jest.setTimeout(240_000);

const FRONTEND = { 'node-role.kubernetes.io/frontend': '' };

let m: ModuleCluster | undefined;
let rec: IngressRecorder | undefined;

function cluster(): ModuleCluster {
  if (m === undefined) throw new Error('the module did not start');
  return m;
}

/** Converged: a full run (started by relabelling worker-1, which no balancer selects) wrote nothing. */
const converged = (): Promise<void> => cluster().untilConverged({ pokeNode: 'worker-1' });

async function condition(name: string): Promise<Condition | undefined> {
  return cluster().serviceCondition('default', name);
}

async function warnings(name: string, namespace = 'default'): Promise<EventObject[]> {
  return (await cluster().events(namespace, name)).filter((e) => e.type === 'Warning');
}

async function readyOf(l2lb: string): Promise<Condition | undefined> {
  return conditionOf((await cluster().getL2LoadBalancer(l2lb)).status?.conditions, 'Ready');
}

beforeAll(async () => {
  m = await ModuleCluster.start({ settings: { loadBalancerClass: 'l2-load-balancer' } });
  rec = await IngressRecorder.start(m.cp);
  for (const name of ['fe-1', 'fe-2', 'fe-3']) await m.createNode({ name, labels: FRONTEND });
  await m.createNode({ name: 'worker-1' });
  await m.createL2LoadBalancer('public', {
    addressPool: ['192.0.2.0/28'],
    nodeSelector: FRONTEND,
    isDefault: true,
  });
  await m.createL2LoadBalancer('small', {
    addressPool: ['198.51.100.10-198.51.100.12'],
    nodeSelector: FRONTEND,
  });
  await m.createService({ name: 'keep', l2lb: 'public', count: 2 });
  await m.untilAssigned('default', 'keep', 2, 60_000);
}, 100 * 60_000);

afterAll(async () => {
  rec?.stop();
  await m?.stop();
});

describe('count annotations', () => {
  test.each(['abc', '0', '-1', '1e3', '99999'])(
    'a new Service with count %j gets no address, a False condition and one Warning naming the annotation',
    async (count) => {
      const c = cluster();
      const name = `count-${count.replace(/[^a-z0-9]/g, 'x')}`;
      await c.createService({ name, l2lb: 'public', count });
      await c.until(`${name} condition`, async () =>
        (await condition(name))?.status === 'False' ? true : undefined,
      );
      await converged();
      expect(await c.ingress('default', name)).toEqual([]);
      expect(await c.l2lbServices('default', name)).toEqual([]);
      const cond = await condition(name);
      expect(cond).toMatchObject({ status: 'False', reason: 'InvalidExternalIPsCount' });
      expect(cond?.message).toContain(`annotation ${ANNOTATION_IPS_COUNT} is "${count}"`);
      expect(cond?.message).toMatch(/^0 public IPs kept, none added; Service default\//);
      const w = await warnings(name);
      expect(w.map((e) => e.reason)).toEqual(['InvalidExternalIPsCount']);
      expect(w[0]?.message).toContain(ANNOTATION_IPS_COUNT);
    },
  );

  test('an existing Service whose count turns bad keeps its addresses, warns once, and grows when fixed', async () => {
    const c = cluster();
    const before = await c.ingress('default', 'keep');
    await c.annotateService('default', 'keep', { [ANNOTATION_IPS_COUNT]: 'abc' });
    await c.until('keep condition False', async () =>
      (await condition('keep'))?.reason === 'InvalidExternalIPsCount' ? true : undefined,
    );
    await converged();
    await converged(); // more full runs: the Warning is not repeated
    expect(await c.ingress('default', 'keep')).toEqual(before);
    expect((await condition('keep'))?.message).toMatch(/^2 public IPs kept, none added; /);
    expect((await warnings('keep')).map((e) => e.reason)).toEqual(['InvalidExternalIPsCount']);

    await c.annotateService('default', 'keep', { [ANNOTATION_IPS_COUNT]: '3' });
    await c.untilAssigned('default', 'keep', 3, 60_000);
    await converged();
    expect((await c.ingress('default', 'keep')).slice(0, 2)).toEqual(before);
    expect(await condition('keep')).toMatchObject({ status: 'True', message: '3 of 3 public IPs assigned' });
  });

  test('a count beyond the free addresses gets what is free and says how many are missing', async () => {
    const c = cluster();
    await c.createService({ name: 'greedy', l2lb: 'small', count: 5 });
    await c.until('greedy with 3 addresses', async () =>
      (await c.ingress('default', 'greedy')).length === 3 ? true : undefined,
    );
    await converged();
    expect(await c.ingress('default', 'greedy')).toEqual(['198.51.100.10', '198.51.100.11', '198.51.100.12']);
    const cond = await condition('greedy');
    expect(cond).toMatchObject({ status: 'False', reason: 'PoolExhausted' });
    expect(cond?.message).toMatch(/^3 of 5 public IPs assigned/);
    expect((await warnings('greedy')).map((e) => e.reason)).toContain('PoolExhausted');
  });
});

describe('pinned addresses, unknown balancers, classes', () => {
  test('pinned addresses: refused by name when outside the pool, repeated or held; the other indices proceed', async () => {
    const c = cluster();
    const held = (await c.ingress('default', 'keep'))[0]!;
    await c.createService({
      name: 'pinned',
      l2lb: 'public',
      count: 4,
      ips: ['192.0.2.9', '203.0.113.7', '192.0.2.9', held],
    });
    await c.until('pinned condition', async () => ((await condition('pinned')) ? true : undefined));
    await converged();
    const ips = await c.ingress('default', 'pinned');
    expect(ips[0]).toBe('192.0.2.9');
    expect(ips).not.toContain(held);
    expect(ips).not.toContain('203.0.113.7');
    const cond = await condition('pinned');
    expect(cond?.status).toBe('False');
    expect(cond?.message).toContain('203.0.113.7');
    expect(cond?.message).toContain(held);
    // Each refusal names the annotation's entry by index and value.
    expect(cond?.message).toContain('load-balancer-ips entry 1 "203.0.113.7"');
    expect((await warnings('pinned')).map((e) => e.reason)).toEqual(
      expect.arrayContaining([
        'RequestedAddressOutsidePool',
        'RequestedAddressDuplicate',
        'RequestedAddressTaken',
      ]),
    );
  });

  test('an unknown L2LoadBalancer: a new Service gets nothing, an existing one keeps what it has', async () => {
    const c = cluster();
    await c.createService({ name: 'ghost', l2lb: 'pubilc', count: 1 });
    const before = await c.ingress('default', 'keep');
    await c.annotateService('default', 'keep', { [ANNOTATION_LB_NAME]: 'pubilc' });
    await c.until('keep condition UnknownL2LoadBalancer', async () =>
      (await condition('keep'))?.reason === 'UnknownL2LoadBalancer' ? true : undefined,
    );
    await converged();
    expect(await c.ingress('default', 'ghost')).toEqual([]);
    for (const name of ['ghost', 'keep']) {
      const cond = await condition(name);
      expect(cond).toMatchObject({ status: 'False', reason: 'UnknownL2LoadBalancer' });
      expect(cond?.message).toContain('"pubilc"');
      expect((await warnings(name)).map((e) => e.reason)).toContain('UnknownL2LoadBalancer');
    }
    expect(await c.ingress('default', 'keep')).toEqual(before);

    await c.annotateService('default', 'keep', { [ANNOTATION_LB_NAME]: 'public' });
    await c.until('keep condition True', async () =>
      (await condition('keep'))?.status === 'True' ? true : undefined,
    );
    expect(await c.ingress('default', 'keep')).toEqual(before);
  });

  test('a foreign loadBalancerClass is never touched; the module class alone uses the default L2LoadBalancer', async () => {
    const c = cluster();
    await c.createService({
      name: 'foreign',
      l2lb: 'public',
      count: 2,
      loadBalancerClass: 'metallb.io/metallb',
    });
    await c.createService({ name: 'bycls', loadBalancerClass: 'l2-load-balancer' });
    await c.untilAssigned('default', 'bycls', 1, 60_000);
    await converged();
    const foreign = await c.getService('default', 'foreign');
    expect(foreign.status?.loadBalancer ?? {}).toEqual({});
    expect(foreign.status?.conditions ?? []).toEqual([]);
    expect(await c.l2lbServices('default', 'foreign')).toEqual([]);
    expect(await c.events('default', 'foreign')).toEqual([]);
    expect(
      (await c.l2lbServices('default', 'bycls')).map(
        (x) => x.metadata.labels?.['network.deckhouse.io/l2-load-balancer'],
      ),
    ).toEqual(['public']);
  });
});

describe('pools', () => {
  test('a reversed range (the schema lets it through): InvalidPool naming the entry, Services keep what they hold', async () => {
    const c = cluster();
    await c.patchL2LoadBalancer('small', {
      addressPool: ['198.51.100.10-198.51.100.12', '10.0.0.9-10.0.0.1'],
    });
    await c.until('small not Ready', async () =>
      (await readyOf('small'))?.status === 'False' ? true : undefined,
    );
    await converged();
    const ready = await readyOf('small');
    expect(ready).toMatchObject({ status: 'False', reason: 'InvalidPool' });
    expect(ready?.message).toContain('spec.addressPool[1]');
    expect(ready?.message).toContain('10.0.0.9-10.0.0.1');
    const lbWarnings = (await c.events('default', 'small')).filter(
      (e) => e.involvedObject.kind === 'L2LoadBalancer' && e.type === 'Warning',
    );
    expect(lbWarnings.map((e) => e.reason)).toContain('InvalidPool');
    expect(await c.ingress('default', 'greedy')).toEqual(['198.51.100.10', '198.51.100.11', '198.51.100.12']);
    expect(await condition('greedy')).toMatchObject({ status: 'False', reason: 'L2LoadBalancerNotReady' });

    await c.patchL2LoadBalancer('small', { addressPool: ['198.51.100.10-198.51.100.12'] });
    await c.until('small Ready', async () =>
      (await readyOf('small'))?.status === 'True' ? true : undefined,
    );
    await converged();
    expect(await condition('greedy')).toMatchObject({ status: 'False', reason: 'PoolExhausted' });
  });

  test('overlapping pools: reported on both, the newer allocates nothing, the older keeps allocating', async () => {
    const c = cluster();
    await c.createL2LoadBalancer('shadow', { addressPool: ['192.0.2.4-192.0.2.10'], nodeSelector: FRONTEND });
    await c.createService({ name: 'other', l2lb: 'shadow', count: 1 });
    await c.until('shadow not Ready', async () =>
      (await readyOf('shadow'))?.status === 'False' ? true : undefined,
    );
    await converged();
    for (const name of ['shadow', 'public']) {
      expect(await readyOf(name)).toMatchObject({ status: 'False', reason: 'OverlappingPool' });
      expect((await c.events('default', name)).map((e) => e.reason)).toContain('OverlappingPool');
    }
    expect(await c.ingress('default', 'other')).toEqual([]);
    expect(await c.l2lbServices('default', 'other')).toEqual([]);
    // The older pool still allocates.
    await c.createService({ name: 'after-overlap', l2lb: 'public', count: 1 });
    await c.untilAssigned('default', 'after-overlap', 1, 60_000);

    await c.deleteService('default', 'other');
    await c.deleteL2LoadBalancer('shadow');
    await c.until('public Ready again', async () =>
      (await readyOf('public'))?.status === 'True' ? true : undefined,
    );
  });

  test('an L2LoadBalancer whose selector matches no node: NoNodes', async () => {
    const c = cluster();
    await c.createL2LoadBalancer('lonely', {
      addressPool: ['203.0.113.0/29'],
      nodeSelector: { role: 'nowhere' },
    });
    await c.until('lonely not Ready', async () =>
      (await readyOf('lonely'))?.status === 'False' ? true : undefined,
    );
    const ready = await readyOf('lonely');
    expect(ready).toMatchObject({ reason: 'NoNodes' });
    expect(ready?.message).toContain('spec.nodeSelector');
  });
});

test('invalid settings change nothing until fixed', async () => {
  const c = cluster();
  const before = await c.ingress('default', 'keep');
  const mark = c.logMark();
  await c.setSettings({ loadBalancerClass: 'l2-load-balancer', maxExternalIPsPerService: 0 });
  await c.until('the hook refusing the settings', async () =>
    c.logsSince(mark).some((l) => l.includes('settings are invalid')) ? true : undefined,
  );
  await c.createService({ name: 'during-bad-settings', l2lb: 'public', count: 1 });
  await c.untilHookRan(c.logMark(), /"hook":"reconcile"/);
  expect(await c.ingress('default', 'during-bad-settings')).toEqual([]);
  expect(await c.ingress('default', 'keep')).toEqual(before);
  expect(await c.hookMetrics()).toMatch(/^l2lb_settings_valid\{[^}]*hook="reconcile"[^}]*\} 0$/m);

  await c.setSettings({ loadBalancerClass: 'l2-load-balancer' });
  await c.untilAssigned('default', 'during-bad-settings', 1, 60_000);
  expect(await c.ingress('default', 'keep')).toEqual(before);
  await c.until('l2lb_settings_valid 1', async () =>
    /^l2lb_settings_valid\{[^}]*hook="reconcile"[^}]*\} 1$/m.test(await c.hookMetrics()) ? true : undefined,
  );
});

test('no Service lost or swapped an address, and no hook run failed', () => {
  // The only address any Service gave up in this file: none (pools were never shrunk under them).
  expect(rec?.losses()).toEqual([]);
  expect(cluster().hookErrors()).toEqual([]);
});
