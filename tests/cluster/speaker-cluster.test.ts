// The speaker's window on the API (images/speaker/cluster.ts, @kubernetes/client-node informers and
// typed writes) against a real kube-apiserver, reached through a TCP relay that a test can cut:
// what the speaker sees while the API is away, and how it writes its Lease and status.
import { resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeCluster } from '../../images/speaker/cluster';
import { LEASE_PREFIX, MODULE_NAMESPACE } from '../../lib/model';
import { readSpeakerIndex } from '../../lib/speaker/objects';
import {
  kubeconfigVia,
  startTestControlPlane,
  TcpRelay,
  TestApi,
  type ControlPlaneLike,
} from '../../testbed/speakers';
import { expectOk } from '../../testbed/kube-client';

jest.setTimeout(120_000);

const NS = 'shop';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 50 ms until it holds, for at most `ms`; whether it held. */
async function within(ms: number, check: () => boolean): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(50)) if (check()) return true;
  return check();
}

describe('the speaker reading and writing the cluster through @kubernetes/client-node', () => {
  let cp: ControlPlaneLike;
  let api: TestApi;
  let relay: TcpRelay;
  let cluster: KubeCluster;
  const failures: string[] = [];

  beforeAll(async () => {
    cp = await startTestControlPlane();
    api = new TestApi(cp.kubeconfigPath);
    await api.applyCrds(resolve(__dirname, '..', '..', 'crds'));
    await api.moduleNamespace();
    await api.namespace(NS);
    await api.balancer('public', ['192.0.2.200-192.0.2.220']);
    await api.index(NS, 'web-public-0', '192.0.2.200', ['node-a', 'node-b']);
    const url = new URL(cp.server);
    relay = new TcpRelay({ host: url.hostname, port: Number(url.port) });
    await relay.start();
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigVia(cp.kubeconfigPath, `https://127.0.0.1:${relay.port}`));
    cluster = new KubeCluster(
      kc,
      { node: 'node-a', namespace: MODULE_NAMESPACE, leaseDurationSeconds: 3 },
      () => undefined,
      (what, err) => failures.push(`${what}: ${String(err)}`),
    );
    cluster.start();
  }, 180_000);

  afterAll(async () => {
    cluster?.stop();
    await relay?.stop();
    api?.client.close();
    await cp?.stop();
  }, 60_000);

  it('lists and watches every collection, and reads the L2LBService through the shared parser', async () => {
    expect(await within(10_000, () => cluster.synced())).toBe(true);
    expect(cluster.indices().map((i) => [i.key, i.address, i.nodes])).toEqual([
      ['shop/web-public-0', '192.0.2.200', ['node-a', 'node-b']],
    ]);
    expect(cluster.balancers().map((b) => b.name)).toEqual(['public']);
  });

  it('creates its Lease, renews it with the resourceVersion as precondition, and sees it through the watch', async () => {
    await cluster.renewLease(Date.now());
    expect(await within(5000, () => cluster.leases().some((l) => l.node === 'node-a'))).toBe(true);
    const first = cluster.ownLeaseVersion();
    await cluster.renewLease(Date.now());
    expect(await within(5000, () => cluster.ownLeaseVersion() !== first)).toBe(true);
    // Someone else writes the Lease in between: the next renewal's precondition fails (409), the
    // speaker reads the Lease again and renews on top of that write, keeping it.
    const path = `/apis/coordination.k8s.io/v1/namespaces/${MODULE_NAMESPACE}/leases/${LEASE_PREFIX}node-a`;
    expectOk(
      'annotate lease',
      await api.client.request('PATCH', path, {
        body: { metadata: { annotations: { 'example.com/touched': 'yes' } } },
        contentType: 'application/merge-patch+json',
        timeoutMs: 5000,
      }),
    );
    const at = Date.now();
    await cluster.renewLease(at);
    const lease = expectOk('get lease', await api.client.request('GET', path, { timeoutMs: 5000 })) as {
      metadata: { annotations?: Record<string, string> };
      spec: { holderIdentity?: string; renewTime?: string };
    };
    expect(lease.metadata.annotations?.['example.com/touched']).toBe('yes');
    expect(lease.spec.holderIdentity).toBe('node-a');
    expect(Date.parse(lease.spec.renewTime ?? '')).toBe(at);
  });

  it('shows its own status write at once, before the watch brings it', async () => {
    await cluster.patchStatus({
      namespace: NS,
      name: 'web-public-0',
      status: { announcingNode: 'node-a', ingress: ['192.0.2.200'] },
      clearAnnouncer: false,
    });
    expect(cluster.indices()[0]?.status.announcingNode).toBe('node-a');
    expect(await api.announcingNode(NS, 'web-public-0')).toBe('node-a');
  });

  it('keeps its last view while the API is away, says it is not synced, and catches up when it is back', async () => {
    expect(await within(10_000, () => cluster.synced())).toBe(true);
    await relay.stop();
    // Every watch breaks at once (the relay closes their connections).
    expect(await within(10_000, () => !cluster.synced())).toBe(true);
    await expect(cluster.renewLease(Date.now())).rejects.toThrow();
    // Nothing forgotten: an outage must not look like every L2LBService deleted.
    expect(cluster.indices().map((i) => i.key)).toEqual(['shop/web-public-0']);
    expect(cluster.balancers().map((b) => b.name)).toEqual(['public']);
    expect(cluster.leases().map((l) => l.node)).toEqual(['node-a']);
    // Changes made meanwhile arrive once the API is reachable again.
    await api.index(NS, 'web-public-1', '192.0.2.201', ['node-b', 'node-a']);
    await relay.start();
    expect(await within(15_000, () => cluster.synced() && cluster.indices().length === 2)).toBe(true);
    expect(failures.length).toBeGreaterThan(0);
    await cluster.renewLease(Date.now());
  });

  it('meets a malformed L2LBService refused twice: by the CRD schema at the API, and by the shared reader', async () => {
    const object = {
      apiVersion: 'internal.network.deckhouse.io/v1alpha1',
      kind: 'L2LBService',
      metadata: {
        name: 'web-public-2',
        namespace: NS,
        labels: { 'network.deckhouse.io/l2-load-balancer': 'public' },
      },
      spec: {
        type: 'LoadBalancer',
        loadBalancerIP: '192.0.2.999',
        nodes: ['node-a'],
        serviceRef: { name: 'web', namespace: NS },
        ports: [{ name: 'http', protocol: 'TCP', port: 80 }],
      },
    };
    const r = await api.client.request(
      'POST',
      `/apis/internal.network.deckhouse.io/v1alpha1/namespaces/${NS}/l2lbservices`,
      { body: object, timeoutMs: 5000 },
    );
    expect(r.status).toBe(422);
    // Where the schema lags (a CRD not yet upgraded), the speaker refuses the object by itself.
    expect(readSpeakerIndex(object)?.problems).toEqual([
      'L2LBService shop/web-public-2: spec.loadBalancerIP: want an IP address, got "192.0.2.999"',
    ]);
    await sleep(500);
    expect(cluster.malformed()).toEqual([]);
    expect(
      cluster
        .indices()
        .map((i) => i.key)
        .sort(),
    ).toEqual(['shop/web-public-0', 'shop/web-public-1']);
  });
});
