// The module's API against a real kube-apiserver, no hooks running:
// - every object `l2lb render` prints (the Deckhouse, non-standalone rendering), and every object the
//   module-objects hook renders with pools and MetalLB present, passes a server-side dry-run apply
//   with strict field validation;
// - the CRDs' own validation refuses the bad pool entries of the control-loop issue (issue 2) with a
//   message that names the field, and lets through the one the schema cannot see (a reversed range,
//   which the hook reports: tests/cluster/module-bad-input.test.ts).
//
// PodMonitor, PrometheusRule (monitoring.coreos.com) and IPAddressPool (metallb.io) belong to other
// projects' CRDs, which the test cannot fetch. Minimal stand-in CRDs (group, kind, scope, served
// version; spec left open) are installed for them, so for those three kinds the dry run proves the
// apiVersion, kind, scope, namespace and metadata, not the spec.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { moduleObjects, METALLB_POOL_CRD, PODMONITOR_CRD } from '../../templates/module-objects';
import { parseSettings } from '../../lib/settings';
import { KubeApiError, standInCrd, startControlPlane, type ControlPlane } from '../../testbed/control-plane';
import { L2LB_API, L2LBSERVICE_API, REPO_ROOT, serverSideApply } from '../../testbed/module';

jest.setTimeout(180_000);

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [k: string]: unknown;
}

const STAND_IN_CRDS = (
  [
    {
      group: 'monitoring.coreos.com',
      version: 'v1',
      kind: 'PodMonitor',
      plural: 'podmonitors',
      scope: 'Namespaced',
    },
    {
      group: 'monitoring.coreos.com',
      version: 'v1',
      kind: 'PrometheusRule',
      plural: 'prometheusrules',
      scope: 'Namespaced',
    },
    {
      group: 'metallb.io',
      version: 'v1beta1',
      kind: 'IPAddressPool',
      plural: 'ipaddresspools',
      scope: 'Namespaced',
    },
  ] as const
).map(standInCrd);

let cp: ControlPlane | undefined;
let scratch: string | undefined;

function plane(): ControlPlane {
  if (cp === undefined) throw new Error('control plane did not start');
  return cp;
}

const dryRunApply = (o: Obj): Promise<Obj> => serverSideApply<Obj>(plane(), o, { dryRun: true });

function rendered(args: string[]): Obj[] {
  const text = execFileSync(
    process.execPath,
    [join(REPO_ROOT, 'dist', 'bin', 'l2lb.js'), 'render', ...args],
    {
      encoding: 'utf8',
      timeout: 60_000,
    },
  );
  return (loadAll(text) as Obj[]).filter((o) => o !== null && typeof o === 'object');
}

const cliObjects = rendered(['--values', join(REPO_ROOT, 'examples', 'module-config.yaml')]);

// What the module-objects hook applies in a cluster with MetalLB and the Prometheus operator.
const settings = parseSettings({ loadBalancerClass: 'l2-load-balancer' });
if (!settings.ok) throw new Error(settings.errors.join('; '));
const hookObjects = moduleObjects({
  settings: settings.settings,
  balancers: [
    { name: 'public', uid: '', addressPool: ['192.0.2.0/28', '198.51.100.10-198.51.100.12'] },
    { name: 'v6', uid: '', addressPool: ['2001:db8::/120'] },
  ],
  crds: new Set([METALLB_POOL_CRD, PODMONITOR_CRD]),
}) as Obj[];

beforeAll(async () => {
  cp = await startControlPlane({ crdDir: join(REPO_ROOT, 'crds') });
  scratch = mkdtempSync(join(tmpdir(), 'l2lb-stand-in-crds-'));
  STAND_IN_CRDS.forEach((c, i) => writeFileSync(join(scratch!, `stand-in-${i}.json`), JSON.stringify(c)));
  await cp.applyCrds(scratch);
  const namespaces = new Set([...cliObjects, ...hookObjects].flatMap((o) => o.metadata.namespace ?? []));
  for (const name of namespaces) {
    await cp.request('POST', '/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name },
    });
  }
}, 100 * 60_000);

afterAll(async () => {
  await cp?.stop();
  if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
});

describe('rendered objects pass a server-side dry-run apply', () => {
  test('render prints the module objects, and the hook adds IPAddressPools and monitoring', () => {
    const kinds = (objs: Obj[]) => [...new Set(objs.map((o) => o.kind))].sort();
    expect(kinds(cliObjects)).toEqual(
      expect.arrayContaining([
        'ClusterRole',
        'DaemonSet',
        'Namespace',
        'PodMonitor',
        'PrometheusRule',
        'ServiceAccount',
      ]),
    );
    expect(hookObjects.filter((o) => o.kind === 'IPAddressPool').map((o) => o.metadata.name)).toHaveLength(2);
  });

  test.each(cliObjects.map((o) => [`${o.kind}/${o.metadata.name}`, o] as const))(
    'l2lb render: %s',
    async (_what, o) => {
      const out = await dryRunApply(o);
      expect(out.kind).toBe(o.kind);
      expect(out.metadata.name).toBe(o.metadata.name);
    },
  );

  test.each(hookObjects.map((o) => [`${o.kind}/${o.metadata.name}`, o] as const))(
    'module-objects hook: %s',
    async (_what, o) => {
      const out = await dryRunApply(o);
      expect(out.kind).toBe(o.kind);
    },
  );

  test('the dry run refuses what it should (an unknown field), so the passes above mean something', async () => {
    const ds = cliObjects.find((o) => o.kind === 'DaemonSet')!;
    const err = await dryRunApply({ ...ds, spec: { ...(ds.spec as object), replicas: 3 } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).message).toContain('replicas');
  });
});

describe('CRD validation refuses the bad inputs of the control-loop issue, naming the field', () => {
  const l2lb = (name: string, addressPool: unknown[]): Obj => ({
    apiVersion: 'network.deckhouse.io/v1alpha1',
    kind: 'L2LoadBalancer',
    metadata: { name },
    spec: { addressPool },
  });
  const create = (path: string, o: Obj): Promise<KubeApiError | undefined> =>
    plane()
      .request('POST', `${path}?dryRun=All&fieldValidation=Strict`, o)
      .then(
        () => undefined,
        (e: unknown) => {
          if (e instanceof KubeApiError) return e;
          throw e;
        },
      );

  test.each([
    ['an octet past 255', '10.0.0.300'],
    ['an empty string', ''],
    ['a range mixing IPv4 and IPv6', '192.0.2.1-2001:db8::1'],
    ['a prefix length past 32', '192.0.2.0/33'],
    ['a CIDR with host bits set', '192.0.2.5/28'],
    ['a word', 'public'],
  ])('L2LoadBalancer spec.addressPool: %s (%j)', async (_what, entry) => {
    const err = await create(`${L2LB_API}/l2loadbalancers`, l2lb('bad', ['192.0.2.0/28', entry]));
    expect(err?.code).toBe(422);
    expect(err?.message).toContain('spec.addressPool[1]');
  });

  test('L2LoadBalancer spec.addressPool: an empty list', async () => {
    const err = await create(`${L2LB_API}/l2loadbalancers`, l2lb('bad', []));
    expect(err?.code).toBe(422);
    expect(err?.message).toContain('spec.addressPool');
  });

  test('L2LoadBalancer spec.addressPool: a missing one', async () => {
    const err = await create(`${L2LB_API}/l2loadbalancers`, {
      apiVersion: 'network.deckhouse.io/v1alpha1',
      kind: 'L2LoadBalancer',
      metadata: { name: 'bad' },
      spec: {},
    });
    expect(err?.code).toBe(422);
    expect(err?.message).toContain('spec.addressPool');
  });

  test('a reversed range (10.0.0.9-10.0.0.1) passes the schema: the hook reports it in status', async () => {
    // The schema cannot compare two addresses; module-bad-input.test.ts asserts the hook's
    // InvalidPool condition and Warning Event for this very entry on the live API.
    expect(
      await create(`${L2LB_API}/l2loadbalancers`, l2lb('reversed', ['10.0.0.9-10.0.0.1'])),
    ).toBeUndefined();
  });

  test.each([
    ['10.0.0.300', 'spec.loadBalancerIP'],
    ['not-an-ip', 'spec.loadBalancerIP'],
  ])('L2LBService spec.loadBalancerIP %j', async (ip, field) => {
    const err = await create(`${L2LBSERVICE_API}/namespaces/default/l2lbservices`, {
      apiVersion: 'internal.network.deckhouse.io/v1alpha1',
      kind: 'L2LBService',
      metadata: { name: 'bad', namespace: 'default' },
      spec: {
        type: 'LoadBalancer',
        ports: [{ port: 80 }],
        serviceRef: { name: 'web', namespace: 'default' },
        loadBalancerIP: ip,
        nodes: ['n1'],
      },
    });
    expect(err?.code).toBe(422);
    expect(err?.message).toContain(field);
  });
});
