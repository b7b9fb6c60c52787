// Two tenants on one cluster, through the real API server, shell-operator and hooks: what a tenant
// (a ServiceAccount with the rights `edit` gives on Services in its namespace) can write into a Service is
// bounded by the admission policy; what got in anyway (written before the policy, or by
// system:masters) costs the control loop nothing: no hook error, every other Service converges, the
// tenant's Service gets its condition, never more than maxExternalIPsPerService addresses. And the
// address families of the issue: SingleStack IPv4 and IPv6, PreferDualStack and RequireDualStack
// Services on one mixed pool, with a dual-stack service CIDR as a dual-stack cluster has.
import { isIPv4, isIPv6 } from 'node:net';
import { MESSAGE_MAX } from '../../lib/messages';
import { KubeApiError, kubeRequest } from '../../testbed/control-plane';
import {
  ANNOTATION_IPS_COUNT,
  ANNOTATION_LB_IPS,
  ANNOTATION_LB_NAME,
  IngressRecorder,
  ModuleCluster,
  serviceObject,
  type Condition,
  type ServiceSpec,
} from '../../testbed/module';

jest.setTimeout(240_000);

const FRONTEND = { 'node-role.kubernetes.io/frontend': '' };
const MAX = 16; // maxExternalIPsPerService, the default

let m: ModuleCluster | undefined;
let rec: IngressRecorder | undefined;
let tenantToken = '';

function cluster(): ModuleCluster {
  if (m === undefined) throw new Error('the module did not start');
  return m;
}

const converged = (): Promise<void> => cluster().untilConverged({ pokeNode: 'worker-1' });

/** A Service created with the tenant's token; resolves to the HTTP status and the refusal. */
async function tenantCreates(s: ServiceSpec): Promise<{ code: number; message: string }> {
  try {
    await kubeRequest(
      { server: cluster().cp.server, token: tenantToken },
      'POST',
      `/api/v1/namespaces/${s.namespace ?? 'default'}/services`,
      serviceObject(s),
    );
    return { code: 201, message: '' };
  } catch (err) {
    if (!(err instanceof KubeApiError)) throw err;
    return { code: err.code, message: err.message };
  }
}

async function untilCondition(namespace: string, name: string): Promise<Condition> {
  return cluster().until(`a condition on ${namespace}/${name}`, async () => {
    const c = await cluster().serviceCondition(namespace, name);
    return c?.status === 'False' || c?.status === 'True' ? c : undefined;
  });
}

beforeAll(async () => {
  m = await ModuleCluster.start({
    settings: {},
    extraApiserverArgs: ['--service-cluster-ip-range=10.0.0.0/24,fd00:10:96::/112'],
  });
  rec = await IngressRecorder.start(m.cp);
  for (const name of ['fe-1', 'fe-2', 'fe-3']) await m.createNode({ name, labels: FRONTEND });
  await m.createNode({ name: 'worker-1' });
  for (const [name, team] of [
    ['shop', 'shop'],
    ['billing', 'billing'],
  ] as const) {
    await m.request('POST', '/api/v1/namespaces', {
      metadata: { name, labels: { 'example.com/team': team } },
    });
  }
  await m.request('POST', '/api/v1/namespaces/billing/serviceaccounts', { metadata: { name: 'tom' } });
  // What the built-in `edit` role gives on Services in namespace billing (`edit` itself is an
  // aggregated role, filled by kube-controller-manager, which this control plane does not run).
  await m.request('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/billing/roles', {
    metadata: { name: 'edit-services' },
    rules: [
      {
        apiGroups: [''],
        resources: ['services'],
        verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
      },
    ],
  });
  await m.request('POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/billing/rolebindings', {
    metadata: { name: 'edit-services-tom' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'edit-services' },
    subjects: [{ kind: 'ServiceAccount', name: 'tom', namespace: 'billing' }],
  });
  tenantToken = (
    await m.request<{ status: { token: string } }>(
      'POST',
      '/api/v1/namespaces/billing/serviceaccounts/tom/token',
      { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
    )
  ).status.token;

  await m.createL2LoadBalancer('shop', {
    addressPool: ['192.0.2.0/27', '2001:db8::/123'],
    nodeSelector: FRONTEND,
    serviceAllocation: { namespaceSelector: { matchLabels: { 'example.com/team': 'shop' } } },
  });
  await m.createL2LoadBalancer('billing', {
    addressPool: ['198.51.100.0/26'],
    nodeSelector: FRONTEND,
    serviceAllocation: { namespaces: ['billing'] },
  });
  await m.createService({
    namespace: 'shop',
    name: 'storefront',
    l2lb: 'shop',
    count: 2,
    ipFamilies: ['IPv4'],
  });
  await m.createService({ namespace: 'billing', name: 'invoices', l2lb: 'billing' });
  await m.untilAssigned('shop', 'storefront', 2, 60_000);
  await m.untilAssigned('billing', 'invoices', 1, 60_000);
  // The admission policies come with the module objects the hooks apply: wait until they refuse.
  await m.until('the Service admission policy', async () => {
    const r = await tenantCreates({ namespace: 'billing', name: 'probe', l2lb: 'billing', count: '0' });
    if (r.code === 422 && r.message.includes('l2-load-balancer:')) return true;
    throw new Error(`${r.code} ${r.message.slice(0, 300)}`);
  });
}, 100 * 60_000);

afterAll(async () => {
  rec?.stop();
  await m?.stop();
});

describe('a tenant', () => {
  it("gets no address from another team's pool: condition NotAllowed and a Warning Event", async () => {
    expect(await tenantCreates({ namespace: 'billing', name: 'sneaky', l2lb: 'shop' })).toEqual({
      code: 201,
      message: '',
    });
    const c = await untilCondition('billing', 'sneaky');
    expect(c).toMatchObject({ status: 'False', reason: 'NotAllowed' });
    expect(c.message).toContain('serviceAllocation');
    await converged();
    expect(await cluster().ingress('billing', 'sneaky')).toEqual([]);
    expect(await cluster().l2lbServices('billing', 'sneaky')).toEqual([]);
    const warnings = (await cluster().events('billing', 'sneaky')).filter((e) => e.type === 'Warning');
    expect(warnings.map((e) => e.reason)).toContain('NotAllowed');
  });

  it('may not write a 40 KB annotation, 40 pinned addresses or a count above the maximum', async () => {
    const huge = 'x'.repeat(40 * 1024);
    const pinned = Array.from({ length: 40 }, (_, i) => `198.51.100.${i + 1}`);
    for (const s of [
      { namespace: 'billing', name: 'huge', l2lb: huge },
      { namespace: 'billing', name: 'forty', l2lb: 'billing', ips: pinned },
      { namespace: 'billing', name: 'many', l2lb: 'billing', count: MAX + 1 },
    ]) {
      const r = await tenantCreates(s);
      expect({ name: s.name, code: r.code }).toEqual({ name: s.name, code: 422 });
      expect(r.message).toContain("ValidatingAdmissionPolicy 'd8-l2-load-balancer-service-annotations'");
      expect(r.message.length).toBeLessThan(1000);
    }
  });
});

describe('what got in before the policy (written by system:masters)', () => {
  it('a 40 KB annotation: no hook error, the Service gets a bounded condition, every other Service converges', async () => {
    const c = cluster();
    const errorsBefore = c.hookErrors().length;
    for (const [key, value] of [
      [ANNOTATION_LB_NAME, 'x'.repeat(40 * 1024)],
      [ANNOTATION_IPS_COUNT, '9'.repeat(40 * 1024)],
      [ANNOTATION_LB_IPS, '198.51.100.1,'.repeat(3200)],
    ] as const) {
      const name = `huge-${key.split('/')[1]!.slice(0, 20)}`;
      await c.createService({
        namespace: 'billing',
        name,
        annotations: { [ANNOTATION_LB_NAME]: 'billing', [key]: value },
      });
      const cond = await untilCondition('billing', name);
      expect(cond.status).toBe('False');
      // The module's bound on a condition message, far below the API server's 32 KiB.
      expect(cond.message?.length ?? 0).toBeLessThanOrEqual(MESSAGE_MAX);
    }
    // A Service created after them still converges.
    await c.createService({ namespace: 'billing', name: 'after-huge', l2lb: 'billing' });
    await c.untilAssigned('billing', 'after-huge', 1, 60_000);
    await converged();
    expect(c.hookErrors().slice(errorsBefore)).toEqual([]);
    expect(await c.ingress('billing', 'invoices')).toHaveLength(1);
    expect(rec!.losses()).toEqual([]);
  });

  it('40 pinned addresses give at most maxExternalIPsPerService', async () => {
    const c = cluster();
    const pinned = Array.from({ length: 40 }, (_, i) => `198.51.100.${i + 10}`);
    await c.createService({ namespace: 'billing', name: 'forty', l2lb: 'billing', ips: pinned });
    const cond = await untilCondition('billing', 'forty');
    await converged();
    const ingress = await c.ingress('billing', 'forty');
    expect(ingress.length).toBeLessThanOrEqual(MAX);
    expect(cond.status).toBe('False');
    expect(rec!.losses()).toEqual([]);
  });
});

describe('address families on a mixed pool (dual-stack service CIDR)', () => {
  const families = (ips: string[]) => ips.map((ip) => (isIPv4(ip) ? 'IPv4' : isIPv6(ip) ? 'IPv6' : ip));

  it.each<[string, Partial<ServiceSpec>, string[]]>([
    ['SingleStack IPv4', { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv4'] }, ['IPv4', 'IPv4']],
    ['SingleStack IPv6', { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6'] }, ['IPv6', 'IPv6']],
    ['PreferDualStack', { ipFamilyPolicy: 'PreferDualStack' }, ['IPv4', 'IPv4', 'IPv6', 'IPv6']],
    [
      'RequireDualStack IPv6 first',
      { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'] },
      ['IPv4', 'IPv4', 'IPv6', 'IPv6'],
    ],
  ])('%s with count 2 gets addresses of its families only', async (what, spec, expected) => {
    const c = cluster();
    const name = what.toLowerCase().replace(/[^a-z0-9]+/g, '-');
    await c.createService({ namespace: 'shop', name, l2lb: 'shop', count: 2, ...spec });
    const assigned = await c.untilAssigned('shop', name, expected.length, 60_000);
    const ingress = assigned.status?.loadBalancer?.ingress?.map((i) => i.ip ?? '') ?? [];
    expect(families(ingress).sort()).toEqual(expected);
    // For each index, both families of a dual-stack Service are placed on the same node.
    const nodesByIndex = new Map<string, Set<string>>();
    for (const child of await c.l2lbServices('shop', name)) {
      const index = child.metadata.labels?.['network.deckhouse.io/index'] ?? '';
      const set = nodesByIndex.get(index) ?? new Set<string>();
      set.add(child.spec.nodes?.[0] ?? '');
      nodesByIndex.set(index, set);
    }
    for (const nodes of nodesByIndex.values()) expect(nodes.size).toBe(1);
  });
});
