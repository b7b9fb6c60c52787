// Defects of the hooks found on the real cluster (issue 3), each reproduced as
// precisely as the real API server and shell-operator allow. Both were fixed (placement may shuffle a
// Service's duplicates while rebalancing; children are deleted in the background) and stay as
// regression tests.
//
// This file runs WITHOUT the harness's stand-in for the garbage collector (foregroundDeletion: []),
// as a control plane without kube-controller-manager is: nothing removes a `foregroundDeletion`
// finalizer there.
import { ModuleCluster, serviceObject, type L2LBServiceObject } from '../../testbed/module';

jest.setTimeout(300_000);

const FRONTEND = { 'node-role.kubernetes.io/frontend': '' };
let m: ModuleCluster | undefined;

function cluster(): ModuleCluster {
  if (m === undefined) throw new Error('the module did not start');
  return m;
}

/** Converged: a full run (started by relabelling worker-1, which no balancer selects) wrote nothing. */
const converged = (): Promise<void> => cluster().untilConverged({ pokeNode: 'worker-1' });

beforeAll(async () => {
  m = await ModuleCluster.start({
    foregroundDeletion: [],
    recordBindingContexts: true,
    // Hundreds of writes in the last test: above shell-operator's default 5/s, which only slows it.
    shellOperatorArgs: ['--object-patcher-kube-client-qps=100', '--object-patcher-kube-client-burst=200'],
  });
  await m.createNode({ name: 'fe-1', labels: FRONTEND });
  await m.createNode({ name: 'worker-1' });
  await m.createL2LoadBalancer('public', { addressPool: ['192.0.2.0/28'], nodeSelector: FRONTEND });
}, 100 * 60_000);

afterAll(async () => {
  await m?.stop();
});

// Fixed: lib/placement/place.ts, rebalance() never moved an index "onto a node its Service already
// uses", so with more IPs per Service than nodes the load stayed 4/2 although 3/3 was reachable
// without hurting any Service's spread. Now a move may go to a node holding fewer of the Service's
// indices than the source does.
test('a node added next to one loaded with 2 Services x 3 IPs ends up with half the indices', async () => {
  const c = cluster();
  await c.createService({ name: 'a', l2lb: 'public', count: 3 });
  await c.createService({ name: 'b', l2lb: 'public', count: 3 });
  await c.untilAssigned('default', 'b', 3, 60_000);
  await converged();
  await c.createNode({ name: 'fe-2', labels: FRONTEND });
  // A run must first see fe-2 Ready (it is created, then its status written): then rebalancing
  // moves one index per run until the loads are even.
  await c.until(
    'fe-2 eligible',
    async () => ((await c.getL2LoadBalancer('public')).status?.eligibleNodes === 2 ? true : undefined),
    60_000,
  );
  await converged();
  const preferred = (await c.l2lbServices()).map((x: L2LBServiceObject) => x.spec.nodes?.[0]);
  const onNew = preferred.filter((n) => n === 'fe-2').length;
  console.log(`after adding fe-2: ${onNew} of ${preferred.length} indices prefer it (balanced: 3)`);
  expect(onNew).toBe(3);
});

// lib/controller/apply.ts wrote `operation: Delete` for L2LBServices nobody wants. For
// shell-operator that is a FOREGROUND delete (metav1.DeletePropagationForeground), after which it
// polls the object every second for up to 20 s until it is gone (object_patch/patch.go,
// executeDeleteOperation). A foreground delete leaves the object in place, with a deletionTimestamp
// and the finalizer `foregroundDeletion`, until kube-controller-manager's garbage collector removes
// the finalizer. So every deleted child costs the hooks' queue at least one poll (1 s, serialised
// behind every other hook run) in a healthy cluster, and 20 s plus a failed, retried hook run when
// the garbage collector lags or is absent. Observed here, shell-operator's log:
//   "Hook failed. Will retry after delay." ... "Delete object internal.network.deckhouse.io/v1alpha1/
//   L2LBService/default/api-public-2: client rate limiter Wait returned an error: context deadline exceeded"
// An L2LBService has no dependents: `DeleteInBackground` removes it at once.
test('the L2LBServices of a deleted Service are removed without waiting on the garbage collector', async () => {
  const c = cluster();
  await c.createService({ name: 'short-lived', l2lb: 'public', count: 1 });
  await c.untilAssigned('default', 'short-lived', 1, 60_000);
  await converged();
  await c.deleteService('default', 'short-lived');
  const left = await c
    .until(
      'the L2LBService of short-lived removed',
      async () => ((await c.l2lbServices('default', 'short-lived')).length === 0 ? true : undefined),
      15_000,
    )
    .then(
      () => [],
      async () => c.l2lbServices('default', 'short-lived'),
    );
  const held = left.map((x) => {
    const md = x.metadata as { name: string; deletionTimestamp?: string; finalizers?: string[] };
    return `${md.name} deletionTimestamp=${md.deletionTimestamp ?? '-'} finalizers=${(md.finalizers ?? []).join(',')}`;
  });
  if (held.length > 0) console.log(`still there 15 s after the Service was deleted: ${held.join('; ')}`);
  expect(held).toEqual([]);
});

// Found here and fixed: Service events once ran the hook scoped to the Service, through a binding
// outside the group with `includeSnapshotsFrom`. shell-operator compacts only group contexts when it
// combines queued events (combine_binding_context.go), so each combined Service event brought its
// own full copy of the snapshots: the context grew as (events in the burst) x (cluster size), 467 MB
// for 1,000 Services created at once over 20 nodes, past what V8 can read as a string. Now every
// binding is in the group. Here: 100 Services, then 100 more at once.
test('a burst of Service events gives the hook a binding context that grows with the cluster, not with burst x cluster', async () => {
  const c = cluster();
  await c.createL2LoadBalancer('burst', { addressPool: ['198.51.100.0/24'], nodeSelector: FRONTEND });
  const createAll = async (namespace: string): Promise<void> => {
    await c.ensureNamespace(namespace);
    await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        c.request(
          'POST',
          `/api/v1/namespaces/${namespace}/services`,
          serviceObject({ namespace, name: `s-${i}`, l2lb: 'burst', count: 1 }),
        ),
      ),
    );
    await c.until(
      `100 Services in ${namespace} with an address`,
      async () =>
        (await c.listServices(namespace)).every((s) => (s.status?.loadBalancer?.ingress ?? []).length === 1)
          ? true
          : undefined,
      180_000,
    );
  };
  await createAll('before');
  await converged();
  const from = c.bindingContextSizes().length;
  await createAll('burst');
  const burst = c.bindingContextSizes().slice(from);
  await converged();
  // The last run of converged() is a full run: its context holds the whole state once.
  const full =
    c
      .bindingContextSizes()
      .filter((x) => x.hook === 'reconcile')
      .at(-1)?.bytes ?? 0;
  const largest = Math.max(...burst.filter((x) => x.hook === 'reconcile').map((x) => x.bytes));
  console.log(`binding context of a full run after the burst: ${full} bytes; largest during it: ${largest}`);
  expect(largest).toBeLessThan(3 * full);
});
