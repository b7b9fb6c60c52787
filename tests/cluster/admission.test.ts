// The module's ValidatingAdmissionPolicies (templates/admission.ts) on the real API server: a user
// who holds every RBAC right on L2LBServices and Leases still cannot write the objects that steer the
// speakers; the module's own ServiceAccounts can, with real tokens from the TokenRequest API.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { MODULE_NAMESPACE } from '../../lib/model';
import {
  KubeApiError,
  kubeRequest,
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

let cp: ControlPlane | undefined;
/** Bearer tokens from the TokenRequest API, by ServiceAccount. */
const tokens: Record<'alice' | 'hooks' | 'speaker', string> = { alice: '', hooks: '', speaker: '' };

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

beforeAll(async () => {
  cp = await startControlPlane({ crdDir: join(ROOT, 'crds') });
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
  for (const [path, body] of setup) await plane().request('POST', path, body);
  tokens.alice = await tokenFor('shop', 'alice');
  tokens.hooks = await tokenFor(MODULE_NAMESPACE, 'hooks');
  tokens.speaker = await tokenFor(MODULE_NAMESPACE, 'speaker');

  // The admission plugin loads policies from an informer: wait until both refuse (dry runs).
  for (const [path, body] of [
    [L2LBSERVICES, l2lbService('probe', '192.0.2.9')],
    [LEASES, lease('l2lb-speaker-probe')],
  ] as const) {
    await waitFor(
      async () => {
        const r = await attempt(tokens.alice, 'POST', `${path}?dryRun=All`, body);
        return r.code === 403 && r.message.includes('l2-load-balancer:') ? true : undefined;
      },
      { timeoutMs: 30_000, describe: (e) => `the admission policies did not start refusing ${path}: ${e}` },
    );
  }
}, 300_000);

afterAll(async () => {
  await cp?.stop();
});

describe('L2LBService objects', () => {
  it('a namespace admin with every RBAC right on them may not create one, and is told why', async () => {
    const review = await plane().request<{ status?: { allowed?: boolean } }>(
      'POST',
      '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: 'system:serviceaccount:shop:alice',
          groups: ['system:serviceaccounts', 'system:serviceaccounts:shop', 'system:authenticated'],
          resourceAttributes: {
            verb: 'create',
            group: 'internal.network.deckhouse.io',
            resource: 'l2lbservices',
            namespace: 'shop',
          },
        },
      },
    );
    expect(review.status?.allowed).toBe(true); // RBAC says yes: the refusal below is admission's.

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
