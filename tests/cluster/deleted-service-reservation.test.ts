// A deleted Service's addresses stay reserved even when its L2LBServices are gone before a hook run
// sees the Service gone (docs/ARCHITECTURE.md §4.1), on the real API server with shell-operator and
// the built hooks. In a real cluster the garbage collector deletes the children through their
// ownerReference; this control plane runs no kube-controller-manager, so the garbage collection is
// SIMULATED: the test deletes the children itself. The hooks are stopped meanwhile, so that the first
// run afterwards sees the Service and its children vanished in one snapshot, with a new Service asking.
import { L2LBSERVICE_API, ModuleCluster } from '../../testbed/module';

jest.setTimeout(240_000);

const FRONTEND = { 'node-role.kubernetes.io/frontend': '' };

let m: ModuleCluster | undefined;

function cluster(): ModuleCluster {
  if (m === undefined) throw new Error('the module did not start');
  return m;
}

interface BalancerStatus {
  reservations?: Array<{ address: string; service: string; until: string }>;
  allocations?: Record<string, string[]>;
}

async function balancerStatus(): Promise<BalancerStatus> {
  return ((await cluster().getL2LoadBalancer('public')).status ?? {}) as BalancerStatus;
}

beforeAll(async () => {
  m = await ModuleCluster.start({ settings: {} });
  for (const name of ['fe-1', 'fe-2']) await m.createNode({ name, labels: FRONTEND });
  await m.createNode({ name: 'worker-1' });
  await m.createL2LoadBalancer('public', { addressPool: ['192.0.2.1-192.0.2.3'], nodeSelector: FRONTEND });
}, 10 * 60_000);

afterAll(async () => {
  await m?.stop();
});

describe('a Service deleted together with its L2LBServices (garbage collection simulated)', () => {
  it('keeps its addresses reserved from the L2LoadBalancer record, away from a new Service, and gives them back to it', async () => {
    const c = cluster();
    const errorsBefore = c.hookErrors().length;
    await c.createService({ name: 'web', l2lb: 'public', count: 2 });
    await c.untilAssigned('default', 'web', 2, 60_000);
    const held = await c.ingress('default', 'web');
    expect(held).toEqual(['192.0.2.1', '192.0.2.2']);
    await c.until('the record of web in the L2LoadBalancer status', async () =>
      (await balancerStatus()).allocations?.['default/web']?.length === 2 ? true : undefined,
    );

    await c.stopHooks();
    // What the garbage collector does after the Service is deleted: remove its dependents.
    for (const child of await c.l2lbServices('default', 'web')) {
      await c.request(
        'DELETE',
        `${L2LBSERVICE_API}/namespaces/default/l2lbservices/${encodeURIComponent(child.metadata.name)}`,
      );
    }
    await c.deleteService('default', 'web');
    await c.createService({ name: 'api', l2lb: 'public', count: 1 });
    await c.startHooks();

    await c.untilAssigned('default', 'api', 1, 60_000);
    expect(await c.ingress('default', 'api')).toEqual(['192.0.2.3']);
    const status = await c.until('the reservations of web', async () => {
      const s = await balancerStatus();
      return s.reservations?.length === 2 ? s : undefined;
    });
    expect(status.reservations?.map((r) => [r.address, r.service])).toEqual([
      ['192.0.2.1', 'default/web'],
      ['192.0.2.2', 'default/web'],
    ]);
    expect(status.allocations).toEqual({ 'default/api': ['192.0.2.3'] });

    await c.createService({ name: 'web', l2lb: 'public', count: 2 });
    await c.untilAssigned('default', 'web', 2, 60_000);
    expect(await c.ingress('default', 'web')).toEqual(held);
    await c.untilConverged({ pokeNode: 'worker-1' });
    expect((await balancerStatus()).reservations ?? []).toEqual([]);
    expect(c.hookErrors().slice(errorsBefore)).toEqual([]);
  });
});
