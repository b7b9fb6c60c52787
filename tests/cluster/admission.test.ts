// The module's ValidatingAdmissionPolicies (templates/admission.ts) on the real API server: a user
// who holds every RBAC right on L2LBServices and Leases still cannot write the objects that steer the
// speakers; the module's own ServiceAccounts can, with real tokens from the TokenRequest API.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { MODULE_NAMESPACE } from '../../lib/model';
import {
  KubeApiError,
  kubeRequest,
  standInCrd,
  startControlPlane,
  waitFor,
  type ControlPlane,
  type HttpMethod,
} from '../../testbed/control-plane';
import { ROOT } from '../support/hook-harness';

jest.setTimeout(300_000);

const L2LBSERVICES = '/apis/internal.network.deckhouse.io/v1alpha1/namespaces/shop/l2lbservices';
const LEASES = `/apis/coordination.k8s.io/v1/namespaces/${MODULE_NAMESPACE}/leases`;
const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';
const SERVICES = '/api/v1/namespaces/shop/services';
const POOLS = '/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools';
const NAME = 'network.deckhouse.io/l2-load-balancer-name';
const COUNT = 'network.deckhouse.io/l2-load-balancer-external-ips-count';
const PINNED = 'network.deckhouse.io/load-balancer-ips';

let cp: ControlPlane | undefined;
/** Bearer tokens from the TokenRequest API, by ServiceAccount. */
const tokens: Record<'alice' | 'tom' | 'hooks' | 'speaker', string> = {
  alice: '',
  tom: '',
  hooks: '',
  speaker: '',
};

function plane(): ControlPlane {
  if (cp === undefined) throw new Error('control plane did not start');
  return cp;
}

async function tokenFor(
  namespace: string,
  name: string,
  boundObjectRef?: Record<string, string>,
): Promise<string> {
  const r = await plane().request<{ status: { token: string } }>(
    'POST',
    `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
    {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 3600, ...(boundObjectRef ? { boundObjectRef } : {}) },
    },
  );
  return r.status.token;
}

/** A request with `token`; resolves to the HTTP status and, on refusal, the API server's message. */
async function attempt(
  token: string,
  method: HttpMethod,
  path: string,
  body?: unknown,
): Promise<{ code: number; message: string }> {
  try {
    await kubeRequest({ server: plane().server, token }, method, path, body);
    return { code: 200, message: '' };
  } catch (err) {
    if (!(err instanceof KubeApiError)) throw err;
    return { code: err.code, message: err.message };
  }
}

/** Whether RBAC alone lets a ServiceAccount do it (a SubjectAccessReview with its token's groups). */
async function rbacAllows(
  namespace: string,
  name: string,
  resourceAttributes: Record<string, string>,
): Promise<boolean> {
  const review = await plane().request<{ status?: { allowed?: boolean } }>(
    'POST',
    '/apis/authorization.k8s.io/v1/subjectaccessreviews',
    {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: `system:serviceaccount:${namespace}:${name}`,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
        resourceAttributes,
      },
    },
  );
  return review.status?.allowed === true;
}

function l2lbService(name: string, address: string): Record<string, unknown> {
  return {
    apiVersion: 'internal.network.deckhouse.io/v1alpha1',
    kind: 'L2LBService',
    metadata: { name, namespace: 'shop' },
    spec: {
      type: 'LoadBalancer',
      ports: [{ port: 443, protocol: 'TCP' }],
      serviceRef: { name: 'web', namespace: 'shop' },
      loadBalancerIP: address,
      nodes: ['frontend-1'],
    },
  };
}

function service(name: string, annotations: Record<string, string>): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'shop', annotations: { [NAME]: 'public', ...annotations } },
    spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ name: 'https', port: 443 }] },
  };
}

function lease(name: string): Record<string, unknown> {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace: MODULE_NAMESPACE },
    spec: { holderIdentity: name.replace('l2lb-speaker-', ''), leaseDurationSeconds: 3 },
  };
}

function kubectl(args: string[], input?: string): { status: number; out: string } {
  const r = spawnSync('kubectl', ['--kubeconfig', plane().kubeconfigPath, ...args], {
    input,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

const role = (name: string, namespace: string, rules: unknown[]): Record<string, unknown> => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'Role',
  metadata: { name, namespace },
  rules,
});

const binding = (
  name: string,
  namespace: string,
  roleRef: { kind: string; name: string },
  subject: Record<string, string>,
): Record<string, unknown> => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'RoleBinding',
  metadata: { name, namespace },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...roleRef },
  subjects: [subject],
});

/**
 * MetalLB's IPAddressPool is another project's CRD, which the test cannot fetch: a stand-in with its
 * group, kind, scope and version (spec left open) is enough for what admission sees.
 */
const IPADDRESSPOOL_STAND_IN_CRD = standInCrd({
  group: 'metallb.io',
  version: 'v1beta1',
  kind: 'IPAddressPool',
  plural: 'ipaddresspools',
  scope: 'Namespaced',
});

function ipAddressPool(name: string, labels: Record<string, string>): Record<string, unknown> {
  return {
    apiVersion: 'metallb.io/v1beta1',
    kind: 'IPAddressPool',
    metadata: { name, namespace: 'metallb-system', labels },
    spec: { addresses: ['203.0.113.0/28'], autoAssign: false },
  };
}

beforeAll(async () => {
  cp = await startControlPlane({ crdDir: join(ROOT, 'crds') });
  await cp.request(
    'POST',
    '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
    IPADDRESSPOOL_STAND_IN_CRD,
  );
  const manifests = execFileSync(
    process.execPath,
    [join(ROOT, 'dist', 'bin', 'l2lb.js'), 'render', '--standalone', '--no-monitoring'],
    { encoding: 'utf8' },
  );
  const applied = kubectl(['apply', '--server-side', '-f', '-'], manifests);
  if (applied.status !== 0) throw new Error(`kubectl apply of the render output failed:\n${applied.out}`);

  // Alice administers namespace `shop` and holds every right on L2LBServices there and on Leases in
  // the module namespace; Jane (a person, impersonated) is in a group with the same rights.
  const everything = [
    {
      apiGroups: ['internal.network.deckhouse.io'],
      resources: ['l2lbservices', 'l2lbservices/status'],
      verbs: ['*'],
    },
  ];
  const leases = [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['*'] }];
  const alice = { kind: 'ServiceAccount', name: 'alice', namespace: 'shop' };
  const admins = { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'shop-admins' };
  const setup: Array<[string, unknown]> = [
    ['/api/v1/namespaces', { metadata: { name: 'shop' } }],
    ['/api/v1/namespaces', { metadata: { name: 'metallb-system' } }],
    ['/api/v1/namespaces/shop/serviceaccounts', { metadata: { name: 'alice' } }],
    ['/apis/rbac.authorization.k8s.io/v1/namespaces/shop/roles', role('l2lb-all', 'shop', everything)],
    [
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${MODULE_NAMESPACE}/roles`,
      role('leases-all', MODULE_NAMESPACE, leases),
    ],
  ];
  for (const [subject, suffix] of [
    [alice, 'alice'],
    [admins, 'admins'],
  ] as const) {
    setup.push(
      [
        '/apis/rbac.authorization.k8s.io/v1/namespaces/shop/rolebindings',
        binding(`admin-${suffix}`, 'shop', { kind: 'ClusterRole', name: 'admin' }, subject),
      ],
      [
        '/apis/rbac.authorization.k8s.io/v1/namespaces/shop/rolebindings',
        binding(`l2lb-all-${suffix}`, 'shop', { kind: 'Role', name: 'l2lb-all' }, subject),
      ],
      [
        `/apis/rbac.authorization.k8s.io/v1/namespaces/${MODULE_NAMESPACE}/rolebindings`,
        binding(`leases-all-${suffix}`, MODULE_NAMESPACE, { kind: 'Role', name: 'leases-all' }, subject),
      ],
    );
  }
  // Tom is a tenant: what the built-in `edit` role gives on Services in namespace shop. (`edit` itself
  // is an aggregated role, filled by kube-controller-manager, which this control plane does not run.)
  const editServices = [
    {
      apiGroups: [''],
      resources: ['services'],
      verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'],
    },
  ];
  const tom = { kind: 'ServiceAccount', name: 'tom', namespace: 'shop' };
  setup.push(
    ['/api/v1/namespaces/shop/serviceaccounts', { metadata: { name: 'tom' } }],
    ['/apis/rbac.authorization.k8s.io/v1/namespaces/shop/roles', role('edit-services', 'shop', editServices)],
    [
      '/apis/rbac.authorization.k8s.io/v1/namespaces/shop/rolebindings',
      binding('edit-services-tom', 'shop', { kind: 'Role', name: 'edit-services' }, tom),
    ],
  );
  for (const [path, body] of setup) await plane().request('POST', path, body);
  tokens.tom = await tokenFor('shop', 'tom');
  tokens.alice = await tokenFor('shop', 'alice');
  tokens.hooks = await tokenFor(MODULE_NAMESPACE, 'hooks');
  tokens.speaker = await tokenFor(MODULE_NAMESPACE, 'speaker');

  // The admission plugin loads policies from an informer: wait until both refuse (dry runs).
  for (const [token, path, body] of [
    [tokens.alice, L2LBSERVICES, l2lbService('probe', '192.0.2.9')],
    [tokens.alice, LEASES, lease('l2lb-speaker-probe')],
    [tokens.tom, SERVICES, service('probe', { [COUNT]: '0' })],
  ] as const) {
    await waitFor(
      async () => {
        const r = await attempt(token, 'POST', `${path}?dryRun=All`, body);
        // 403 Forbidden for who may write, 422 Invalid for what a Service may say.
        if ([403, 422].includes(r.code) && r.message.includes('l2-load-balancer:')) return true;
        throw new Error(`${r.code} ${r.message.slice(0, 300)}`);
      },
      { timeoutMs: 30_000, describe: (e) => `the admission policies did not start refusing ${path}: ${e}` },
    );
  }
  await waitFor(
    async () => {
      // The CRD must be served first, then the policy loaded: a 403 from the policy says both.
      const r = await attempt(tokens.hooks, 'POST', `${POOLS}?dryRun=All`, ipAddressPool('probe', {}));
      return r.code === 403 && r.message.includes('l2-load-balancer:') ? true : undefined;
    },
    { timeoutMs: 30_000, describe: (e) => `the IPAddressPool policy did not start refusing: ${e}` },
  );
}, 300_000);

afterAll(async () => {
  await cp?.stop();
});

describe('L2LBService objects', () => {
  it('a namespace admin with every RBAC right on them may not create one, and is told why', async () => {
    const rbac = await rbacAllows('shop', 'alice', {
      verb: 'create',
      group: 'internal.network.deckhouse.io',
      resource: 'l2lbservices',
      namespace: 'shop',
    });
    expect(rbac).toBe(true); // RBAC says yes: the refusal below is admission's.

    const r = await attempt(tokens.alice, 'POST', L2LBSERVICES, l2lbService('evil-0', '198.51.100.7'));
    expect(r.code).toBe(403);
    expect(r.message).toContain("ValidatingAdmissionPolicy 'd8-l2-load-balancer-l2lbservices' with binding");
    expect(r.message).toContain(
      'l2-load-balancer: system:serviceaccount:shop:alice may not CREATE L2LBService shop/evil-0: ' +
        'only the module writes these objects',
    );
    expect(r.message).toContain('network.deckhouse.io/load-balancer-ips');
  });

  it('the hooks ServiceAccount creates, changes and deletes them', async () => {
    expect(
      await attempt(tokens.hooks, 'POST', L2LBSERVICES, l2lbService('web-public-0', '192.0.2.1')),
    ).toEqual({
      code: 200,
      message: '',
    });
    const move = { spec: { nodes: ['frontend-2', 'frontend-1'] } };
    expect((await attempt(tokens.hooks, 'PATCH', `${L2LBSERVICES}/web-public-0`, move)).code).toBe(200);
    expect(
      (await attempt(tokens.hooks, 'POST', L2LBSERVICES, l2lbService('tmp-public-0', '192.0.2.2'))).code,
    ).toBe(200);
    expect((await attempt(tokens.hooks, 'DELETE', `${L2LBSERVICES}/tmp-public-0`)).code).toBe(200);
  });

  it('a namespace admin may not move, re-address, fake the status of, or delete one the hooks made', async () => {
    const path = `${L2LBSERVICES}/web-public-0`;
    const steps: Array<[HttpMethod, string, unknown, string]> = [
      ['PATCH', path, { spec: { nodes: ['attacker-node'] } }, 'UPDATE L2LBService shop/web-public-0:'],
      ['PATCH', path, { spec: { loadBalancerIP: '198.51.100.7' } }, 'UPDATE L2LBService shop/web-public-0:'],
      [
        'PATCH',
        `${path}/status`,
        { status: { announcingNode: 'attacker-node' } },
        'UPDATE L2LBService shop/web-public-0/status:',
      ],
      ['DELETE', path, undefined, 'DELETE L2LBService shop/web-public-0:'],
    ];
    for (const [method, p, body, what] of steps) {
      const r = await attempt(tokens.alice, method, p, body);
      expect({ method, p, code: r.code }).toEqual({ method, p, code: 403 });
      expect(r.message).toContain(`system:serviceaccount:shop:alice may not ${what}`);
    }
    const kept = await plane().request<{ spec: { nodes: string[]; loadBalancerIP: string } }>('GET', path);
    expect(kept.spec).toMatchObject({ nodes: ['frontend-2', 'frontend-1'], loadBalancerIP: '192.0.2.1' });
  });

  it('a person with the same rights through a group is refused alike', () => {
    const asJane = ['--as=jane', '--as-group=shop-admins', '--as-group=system:authenticated'];
    const r = kubectl(
      ['create', ...asJane, '-f', '-'],
      JSON.stringify(l2lbService('jane-0', '198.51.100.8')),
    );
    expect(r.status).not.toBe(0);
    expect(r.out).toContain('l2-load-balancer: jane may not CREATE L2LBService shop/jane-0');
    // RBAC alone would let her: a Lease of her own in the module namespace goes through.
    expect(kubectl(['create', ...asJane, '-f', '-'], JSON.stringify(lease('jane-lock'))).status).toBe(0);
  });

  it('the speaker writes the status, and nothing else', async () => {
    const path = `${L2LBSERVICES}/web-public-0`;
    const status = {
      status: { announcingNode: 'frontend-2', loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } },
    };
    expect((await attempt(tokens.speaker, 'PATCH', `${path}/status`, status)).code).toBe(200);
    expect((await attempt(tokens.speaker, 'PATCH', path, { spec: { nodes: ['frontend-3'] } })).code).toBe(
      403,
    );
    expect(
      (await attempt(tokens.speaker, 'POST', L2LBSERVICES, l2lbService('speaker-0', '192.0.2.3'))).code,
    ).toBe(403);
  });

  it('the garbage collector deletes one whose Service is gone', () => {
    const gc = '--as=system:serviceaccount:kube-system:generic-garbage-collector';
    expect(
      kubectl(['delete', gc, '-n', 'shop', 'l2lbservices.internal.network.deckhouse.io', 'web-public-0']),
    ).toMatchObject({ status: 0 });
  });

  it('system:masters, the break-glass identity, is not held back', async () => {
    expect(
      (await attempt(plane().token, 'POST', L2LBSERVICES, l2lbService('admin-0', '192.0.2.4'))).code,
    ).toBe(200);
  });
});

describe('speaker Leases', () => {
  it('a user with every RBAC right on Leases in the module namespace may not write a speaker Lease', async () => {
    const r = await attempt(tokens.alice, 'POST', LEASES, lease('l2lb-speaker-frontend-1'));
    expect(r.code).toBe(403);
    expect(r.message).toContain(
      `l2-load-balancer: system:serviceaccount:shop:alice may not CREATE Lease ${MODULE_NAMESPACE}/l2lb-speaker-frontend-1: ` +
        'speaker Leases decide which node announces an address',
    );
    // Other Leases are RBAC's business alone.
    expect((await attempt(tokens.alice, 'POST', LEASES, lease('alice-lock'))).code).toBe(200);
  });

  it('the speaker writes them; nobody else changes or deletes them', async () => {
    const path = `${LEASES}/l2lb-speaker-frontend-1`;
    expect((await attempt(tokens.speaker, 'POST', LEASES, lease('l2lb-speaker-frontend-1'))).code).toBe(200);
    const renew = { spec: { renewTime: '2026-11-02T09:00:00.000000Z' } };
    expect((await attempt(tokens.speaker, 'PATCH', path, renew)).code).toBe(200);
    expect((await attempt(tokens.alice, 'PATCH', path, renew)).code).toBe(403);
    expect((await attempt(tokens.alice, 'DELETE', path)).code).toBe(403);
    // The hooks only read Leases: writing one is not theirs either.
    expect((await attempt(tokens.hooks, 'PATCH', path, renew)).code).toBe(403);
  });

  it("a speaker whose token is bound to a Pod on a node writes only that node's Lease", async () => {
    await plane().request('POST', '/api/v1/nodes', { metadata: { name: 'frontend-2' } });
    const pod = await plane().request<{ metadata: { name: string; uid: string } }>(
      'POST',
      `/api/v1/namespaces/${MODULE_NAMESPACE}/pods`,
      {
        metadata: { name: 'speaker-frontend-2' },
        spec: {
          serviceAccountName: 'speaker',
          nodeName: 'frontend-2',
          containers: [{ name: 'speaker', image: 'l2lb-speaker:latest' }],
        },
      },
    );
    const bound = await tokenFor(MODULE_NAMESPACE, 'speaker', {
      apiVersion: 'v1',
      kind: 'Pod',
      name: pod.metadata.name,
      uid: pod.metadata.uid,
    });
    const self = await kubeRequest<{ status: { userInfo: { extra?: Record<string, string[]> } } }>(
      { server: plane().server, token: bound },
      'POST',
      '/apis/authentication.k8s.io/v1/selfsubjectreviews',
      { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    );
    expect(self.status.userInfo.extra?.[NODE_NAME_EXTRA]).toEqual(['frontend-2']);

    expect((await attempt(bound, 'POST', LEASES, lease('l2lb-speaker-frontend-2'))).code).toBe(200);
    const other = await attempt(bound, 'PATCH', `${LEASES}/l2lb-speaker-frontend-1`, {
      spec: { holderIdentity: 'frontend-2' },
    });
    expect(other.code).toBe(403);
    expect(other.message).toContain(
      'the speaker on node frontend-2 may write only its own Lease l2lb-speaker-frontend-2, not l2lb-speaker-frontend-1',
    );
  });
});

describe('Service annotations, written by a tenant (rights on Services in its namespace)', () => {
  const create = (name: string, annotations: Record<string, string>) =>
    attempt(tokens.tom, 'POST', `${SERVICES}?dryRun=All`, service(name, annotations));
  const addresses = (n: number, sep = ',') =>
    Array.from({ length: n }, (_, i) => (i % 2 === 0 ? `192.0.2.${10 + i}` : `2001:db8::${10 + i}`)).join(
      sep,
    );

  it('takes well-formed annotations up to maxExternalIPsPerService (16)', async () => {
    const wellFormed: Record<string, string>[] = [
      {},
      { [COUNT]: '1' },
      { [COUNT]: '16' },
      { [COUNT]: 'all' },
      { [PINNED]: addresses(16) },
      { [PINNED]: ` ${addresses(3, ', ')} ` },
      { [COUNT]: '3', [PINNED]: '192.0.2.10,2001:db8::1' },
    ];
    for (const annotations of wellFormed) {
      expect({ annotations, ...(await create('web', annotations)) }).toEqual({
        annotations,
        code: 200,
        message: '',
      });
    }
  });

  it.each<[string, Record<string, string>, string]>([
    [
      'a count of 0',
      { [COUNT]: '0' },
      `annotation ${COUNT} is "0"; it must be "all" or a whole number from 1 to 16`,
    ],
    [
      'a count above the maximum',
      { [COUNT]: '17' },
      `${COUNT} is "17"; it must be "all" or a whole number from 1 to 16`,
    ],
    ['a count that is no number', { [COUNT]: 'three' }, `${COUNT} is "three"`],
    ['an empty count', { [COUNT]: '' }, `${COUNT} is ""`],
    ['17 pinned addresses', { [PINNED]: addresses(17) }, `${PINNED} is "192.0.2.10,2001:db8::11,`],
    [
      'a pinned entry that is no address',
      { [PINNED]: '192.0.2.10,192.0.2.300' },
      'it must be at most 16 IP addresses',
    ],
    ['a pinned CIDR', { [PINNED]: '192.0.2.0/28' }, 'it must be at most 16 IP addresses'],
    ['a name that is no L2LoadBalancer name', { [NAME]: 'Public Pool' }, `${NAME} is "Public Pool"`],
  ])('refuses %s, naming the Service and the annotation', async (_what, annotations, message) => {
    const r = await create('web', annotations);
    expect(r.code).toBe(422);
    expect(r.message).toContain(`ValidatingAdmissionPolicy 'd8-l2-load-balancer-service-annotations'`);
    expect(r.message).toContain(`l2-load-balancer: Service shop/web: `);
    expect(r.message).toContain(message);
  });

  it('refuses a 40 KB value and quotes only its first 64 characters', async () => {
    for (const key of [NAME, COUNT, PINNED]) {
      const huge = key === PINNED ? addresses(2000) : 'x'.repeat(40 * 1024);
      const r = await create('web', { [key]: huge });
      expect({ key, code: r.code }).toEqual({ key, code: 422 });
      expect(r.message).toContain(`${key} is "${huge.slice(0, 64)}..."`);
      expect(r.message.length).toBeLessThan(1000);
    }
  });

  it("leaves Services without the module's annotations alone", async () => {
    const plain = service('plain', {});
    (plain.metadata as { annotations: Record<string, string> }).annotations = {
      'example.com/notes': 'x'.repeat(40 * 1024),
    };
    expect(await attempt(tokens.tom, 'POST', `${SERVICES}?dryRun=All`, plain)).toEqual({
      code: 200,
      message: '',
    });
  });

  it('lets a Service that got in before the policy be updated while that annotation stays as it was', async () => {
    // system:masters passes the policy: this is what a Service written before the module was
    // installed (or upgraded) looks like.
    const old = service('legacy', { [COUNT]: '40' });
    expect((await attempt(plane().token, 'POST', SERVICES, old)).code).toBe(200);
    const path = `${SERVICES}/legacy`;
    expect(await attempt(tokens.tom, 'PATCH', path, { metadata: { labels: { tier: 'web' } } })).toEqual({
      code: 200,
      message: '',
    });
    const changed = await attempt(tokens.tom, 'PATCH', path, {
      metadata: { annotations: { [COUNT]: '41' } },
    });
    expect(changed.code).toBe(422);
    expect(changed.message).toContain(`${COUNT} is "41"`);
    expect(
      (await attempt(tokens.tom, 'PATCH', path, { metadata: { annotations: { [COUNT]: '4' } } })).code,
    ).toBe(200);
  });
});

describe("MetalLB IPAddressPools, written by the hooks' ServiceAccount", () => {
  const OURS = {
    heritage: 'deckhouse',
    module: 'l2-load-balancer',
    'network.deckhouse.io/l2-load-balancer': 'public',
  };

  it("RBAC lets the hooks write any IPAddressPool: the limit below is admission's", async () => {
    const rbac = await rbacAllows(MODULE_NAMESPACE, 'hooks', {
      verb: 'delete',
      group: 'metallb.io',
      resource: 'ipaddresspools',
      namespace: 'metallb-system',
      name: 'team-pool',
    });
    expect(rbac).toBe(true);
  });

  it('creates, changes and deletes its own pools', async () => {
    const path = `${POOLS}/l2-load-balancer-public`;
    expect(
      await attempt(tokens.hooks, 'POST', POOLS, ipAddressPool('l2-load-balancer-public', OURS)),
    ).toEqual({
      code: 200,
      message: '',
    });
    expect(
      (await attempt(tokens.hooks, 'PATCH', path, { spec: { addresses: ['203.0.113.0/27'] } })).code,
    ).toBe(200);
    expect((await attempt(tokens.hooks, 'DELETE', path)).code).toBe(200);
  });

  it("may not create a pool without the module's name and labels", async () => {
    for (const [name, labels] of [
      ['team-pool', OURS],
      ['l2-load-balancer-public', {}],
      ['l2-load-balancer-public', { ...OURS, module: 'metallb' }],
    ] as const) {
      const r = await attempt(tokens.hooks, 'POST', POOLS, ipAddressPool(name, labels));
      expect({ name, labels, code: r.code }).toEqual({ name, labels, code: 403 });
      expect(r.message).toContain(
        `l2-load-balancer: the hooks may CREATE only their own IPAddressPools (named l2-load-balancer-<L2LoadBalancer>`,
      );
    }
  });

  it('may not change, adopt or delete a pool someone else wrote', async () => {
    expect(
      (await attempt(plane().token, 'POST', POOLS, ipAddressPool('l2-load-balancer-team', {}))).code,
    ).toBe(200);
    const path = `${POOLS}/l2-load-balancer-team`;
    const steps: Array<[HttpMethod, unknown, string]> = [
      ['PATCH', { spec: { addresses: ['0.0.0.0/0'] } }, 'UPDATE'],
      ['PATCH', { metadata: { labels: OURS } }, 'UPDATE'],
      ['DELETE', undefined, 'DELETE'],
    ];
    for (const [method, body, operation] of steps) {
      const r = await attempt(tokens.hooks, method, path, body);
      expect({ method, body, code: r.code }).toEqual({ method, body, code: 403 });
      expect(r.message).toContain(`the hooks may ${operation} only their own IPAddressPools`);
      expect(r.message).toContain('not metallb-system/l2-load-balancer-team');
    }
    const kept = await plane().request<{ metadata: { labels?: Record<string, string> }; spec: unknown }>(
      'GET',
      path,
    );
    expect(kept.spec).toEqual({ addresses: ['203.0.113.0/28'], autoAssign: false });
    expect(kept.metadata.labels ?? {}).toEqual({});
  });

  it('may not strip its labels from a pool of its own and so hand it over', async () => {
    expect(
      (await attempt(tokens.hooks, 'POST', POOLS, ipAddressPool('l2-load-balancer-keep', OURS))).code,
    ).toBe(200);
    const r = await attempt(tokens.hooks, 'PATCH', `${POOLS}/l2-load-balancer-keep`, {
      metadata: { labels: { module: null } },
    });
    expect(r.code).toBe(403);
  });
});
