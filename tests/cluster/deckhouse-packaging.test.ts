// Deckhouse packaging on a real API server. Who may read the module's resources, asked of the RBAC
// authorizer with SubjectAccessReviews, for the roles of templates/user-authz.ts:
// - a user bound to the built-in `view`, `edit` or `admin` role in a namespace reads the L2LBServices
//   of that namespace and nothing more of the module;
// - the user-authz access levels, as Deckhouse's user-authz module binds them cluster-wide.
// Two stand-ins, named as such: kube-controller-manager does not run here, so its clusterrole-
// aggregation controller is played by `aggregate()` below (the same label match, the same union of
// rules written into the aggregated role); Deckhouse's ClusterAuthorizationRule is played by the
// ClusterRoleBindings it would create.
import { INTERNAL_GROUP, GROUP } from '../../lib/model';
import { userAuthzRoleName, userAuthzRoles } from '../../templates/user-authz';
import { startControlPlane, type ControlPlane } from '../../testbed/control-plane';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

jest.setTimeout(300_000);

const ROOT = join(__dirname, '..', '..');
const RBAC = '/apis/rbac.authorization.k8s.io/v1';

/** A SubjectAccessReview's resourceAttributes, as far as these checks use them. */
type Access = { verb: string; group: string; resource: string; subresource?: string; namespace?: string };

interface ClusterRole {
  metadata: { name: string; labels?: Record<string, string>; resourceVersion?: string };
  aggregationRule?: {
    clusterRoleSelectors?: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] }[];
  };
  rules?: unknown[];
}

let cp: ControlPlane | undefined;

function plane(): ControlPlane {
  if (cp === undefined) throw new Error('control plane did not start');
  return cp;
}

beforeAll(async () => {
  cp = await startControlPlane({ crdDir: join(ROOT, 'crds') });
  for (const name of ['shop', 'other']) {
    await cp.request('POST', '/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name },
    });
  }
  const bind = (user: string, role: string, namespace?: string) =>
    plane().request(
      'POST',
      namespace ? `${RBAC}/namespaces/${namespace}/rolebindings` : `${RBAC}/clusterrolebindings`,
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: namespace ? 'RoleBinding' : 'ClusterRoleBinding',
        metadata: { name: `${user}-${role.replace(/:/g, '-')}`, ...(namespace ? { namespace } : {}) },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
      },
    );
  await bind('viewer@example.com', 'view', 'shop');
  await bind('editor@example.com', 'edit', 'shop');
  await bind('admin@example.com', 'admin', 'shop');
  await bind('user@example.com', userAuthzRoleName('User'));
  // user-authz grants an access level with every level below it.
  await bind('cluster-editor@example.com', userAuthzRoleName('User'));
  await bind('cluster-editor@example.com', userAuthzRoleName('ClusterEditor'));
}, 300_000);

afterAll(async () => {
  await cp?.stop();
});

/**
 * Stand-in for kube-controller-manager's clusterrole-aggregation controller: every ClusterRole with an
 * aggregationRule gets the rules of the ClusterRoles its selectors match.
 */
async function aggregate(): Promise<void> {
  const { items } = await plane().request<{ items: ClusterRole[] }>('GET', `${RBAC}/clusterroles`);
  const matches = (role: ClusterRole, labels: Record<string, string>): boolean =>
    Object.entries(labels).every(([k, v]) => role.metadata.labels?.[k] === v);
  for (const target of items.filter((r) => r.aggregationRule)) {
    const selectors = target.aggregationRule?.clusterRoleSelectors ?? [];
    // The bootstrap roles select by labels only; anything else would need the full selector logic.
    expect(selectors.every((s) => s.matchExpressions === undefined)).toBe(true);
    const rules = items
      .filter((r) => r.metadata.name !== target.metadata.name)
      .filter((r) => selectors.some((s) => matches(r, s.matchLabels ?? {})))
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
      .flatMap((r) => r.rules ?? []);
    await plane().request('PUT', `${RBAC}/clusterroles/${target.metadata.name}`, { ...target, rules });
  }
}

async function allowed(user: string, a: Access): Promise<boolean> {
  const answer = await plane().request<{ status?: { allowed?: boolean } }>(
    'POST',
    '/apis/authorization.k8s.io/v1/subjectaccessreviews',
    {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: { user, groups: ['system:authenticated'], resourceAttributes: a },
    },
  );
  return answer.status?.allowed === true;
}

const show = (a: Access): string =>
  `${a.verb} ${a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.namespace ? ` in ${a.namespace}` : ' (cluster-wide)'}`;

/** The accesses of `list` that `user` gets, by name, so a failure shows them all at once. */
async function grantedOf(user: string, list: readonly Access[]): Promise<string[]> {
  const out: string[] = [];
  for (const a of list) if (await allowed(user, a)) out.push(show(a));
  return out;
}

const L2LBSERVICES = { group: INTERNAL_GROUP, resource: 'l2lbservices' };
const L2LOADBALANCERS = { group: GROUP, resource: 'l2loadbalancers' };
const READ = ['get', 'list', 'watch'];
const CHANGE = ['create', 'update', 'patch', 'delete', 'deletecollection'];
const readIn = (namespace?: string): Access[] =>
  READ.map((verb) => ({ verb, ...L2LBSERVICES, ...(namespace ? { namespace } : {}) }));

/** Everything of the module a namespace user must not do. */
const BEYOND_THE_NAMESPACE: Access[] = [
  ...readIn('other'),
  ...readIn(),
  ...CHANGE.map((verb) => ({ verb, ...L2LBSERVICES, namespace: 'shop' })),
  { verb: 'patch', ...L2LBSERVICES, subresource: 'status', namespace: 'shop' },
  ...[...READ, ...CHANGE].map((verb) => ({ verb, ...L2LOADBALANCERS })),
];

describe('before the module applies its roles', () => {
  it("a viewer of shop reads no L2LBServices: the access comes from the module's role", async () => {
    await aggregate();
    expect(await grantedOf('viewer@example.com', readIn('shop'))).toEqual([]);
  });
});

describe('with the roles of templates/user-authz.ts applied', () => {
  beforeAll(async () => {
    for (const role of userAuthzRoles()) await plane().request('POST', `${RBAC}/clusterroles`, role);
    await aggregate();
  });

  it.each(['viewer@example.com', 'editor@example.com', 'admin@example.com'])(
    '%s (bound in shop) reads the L2LBServices of shop, and nothing more of the module',
    async (user) => {
      expect(await grantedOf(user, readIn('shop'))).toEqual(readIn('shop').map(show));
      expect(await grantedOf(user, BEYOND_THE_NAMESPACE)).toEqual([]);
    },
  );

  it('user-authz User (bound cluster-wide, as a ClusterAuthorizationRule does) reads L2LBServices everywhere and L2LoadBalancers, and changes nothing', async () => {
    const reads = [...readIn('shop'), ...readIn(), ...READ.map((verb) => ({ verb, ...L2LOADBALANCERS }))];
    expect(await grantedOf('user@example.com', reads)).toEqual(reads.map(show));
    const changes = [
      ...CHANGE.map((verb) => ({ verb, ...L2LBSERVICES, namespace: 'shop' })),
      ...CHANGE.map((verb) => ({ verb, ...L2LOADBALANCERS })),
    ];
    expect(await grantedOf('user@example.com', changes)).toEqual([]);
  });

  it('user-authz ClusterEditor also changes L2LoadBalancers, never L2LBServices', async () => {
    const pools = CHANGE.map((verb) => ({ verb, ...L2LOADBALANCERS }));
    expect(await grantedOf('cluster-editor@example.com', pools)).toEqual(pools.map(show));
    const children = [
      ...CHANGE.map((verb) => ({ verb, ...L2LBSERVICES, namespace: 'shop' })),
      { verb: 'patch', ...L2LBSERVICES, subresource: 'status', namespace: 'shop' },
    ];
    expect(await grantedOf('cluster-editor@example.com', children)).toEqual([]);
  });
});

describe('the POOL column of kubectl get l2loadbalancers', () => {
  it('shows every entry of the pool, as the API server prints the table', async () => {
    await plane().request('POST', '/apis/network.deckhouse.io/v1alpha1/l2loadbalancers', {
      apiVersion: 'network.deckhouse.io/v1alpha1',
      kind: 'L2LoadBalancer',
      metadata: { name: 'public' },
      spec: { addressPool: ['192.0.2.0/28', '198.51.100.10-198.51.100.12'] },
    });
    const out = execFileSync('kubectl', ['--kubeconfig', plane().kubeconfigPath, 'get', 'l2loadbalancers'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(out.split('\n')[0]).toMatch(/^NAME\s+POOL\s+TOTAL/);
    expect(out).toContain('["192.0.2.0/28","198.51.100.10-198.51.100.12"]');
  });
});
