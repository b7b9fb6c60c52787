// Least privilege, asked of the real API server's RBAC authorizer with SubjectAccessReviews: the
// standalone render output (`l2lb render --standalone`) is applied, then each ServiceAccount is
// checked for every request its code makes — read off the hooks' own bindings and outputs, so a new
// binding or object without its rule fails here — and for a list of things it must never do.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { reconcileConfig } from '../../lib/controller/bindings';
import { METALLB_POOL_CRD, moduleObjects, PODMONITOR_CRD } from '../../templates/module-objects';
import { MODULE_NAMESPACE } from '../../lib/model';
import type { HookConfig } from '../../lib/sdk/binding';
import type { PatchOperation } from '../../lib/sdk/output';
import { groupContext, runHookExecutable, type ClusterObject } from '../../lib/sdk/simulate';
import { parseSettings } from '../../lib/settings';
import { startControlPlane, type ControlPlane } from '../../testbed/control-plane';
import { fixture, RECONCILE_HOOK, ROOT, yamlObjects } from '../support/hook-harness';

jest.setTimeout(300_000);

const HOOKS = `system:serviceaccount:${MODULE_NAMESPACE}:hooks`;
const SPEAKER = `system:serviceaccount:${MODULE_NAMESPACE}:speaker`;
const HOOKS_DIR = join(ROOT, 'dist', 'module', 'hooks');

interface Access {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

const describeAccess = (a: Access): string =>
  `${a.verb} ${a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.group ? `.${a.group}` : ''}` +
  `${a.name ? ` ${a.name}` : ''}${a.namespace ? ` in ${a.namespace}` : ' (cluster-wide)'}`;

let cp: ControlPlane | undefined;

beforeAll(async () => {
  cp = await startControlPlane({ crdDir: join(ROOT, 'crds') });
  const manifests = execFileSync(
    process.execPath,
    [join(ROOT, 'dist', 'bin', 'l2lb.js'), 'render', '--standalone', '--no-monitoring'],
    { encoding: 'utf8' },
  );
  execFileSync('kubectl', ['--kubeconfig', cp.kubeconfigPath, 'apply', '--server-side', '-f', '-'], {
    input: manifests,
    encoding: 'utf8',
    timeout: 60_000,
  });
}, 300_000);

afterAll(async () => {
  await cp?.stop();
});

function plane(): ControlPlane {
  if (cp === undefined) throw new Error('control plane did not start');
  return cp;
}

/** What the RBAC authorizer answers for `user` in `groups`. */
async function review(user: string, groups: string[], a: Access): Promise<boolean> {
  const { verb, group, resource, subresource, namespace, name } = a;
  const answer = await plane().request<{ status?: { allowed?: boolean } }>(
    'POST',
    '/apis/authorization.k8s.io/v1/subjectaccessreviews',
    {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: { user, groups, resourceAttributes: { verb, group, resource, subresource, namespace, name } },
    },
  );
  return answer.status?.allowed === true;
}

/** The same for a ServiceAccount, with the groups its token carries. */
function allowed(user: string, a: Access): Promise<boolean> {
  const namespace = user.split(':')[2] ?? '';
  return review(
    user,
    ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
    a,
  );
}

/** The accesses of `wanted` that `user` lacks (`expect(...).toEqual([])` names them all at once). */
async function missing(user: string, wanted: readonly Access[]): Promise<string[]> {
  const out: string[] = [];
  for (const a of wanted) if (!(await allowed(user, a))) out.push(describeAccess(a));
  return out;
}

async function granted(user: string, forbidden: readonly Access[]): Promise<string[]> {
  const out: string[] = [];
  for (const a of forbidden) if (await allowed(user, a)) out.push(describeAccess(a));
  return out;
}

// --- what the code does, in RBAC terms --------------------------------------------------------

const plurals = new Map<string, string>();

/** `apiVersion` + `kind` -> resource, by the live API server's discovery (kinds it does not serve: by rule). */
async function resourceOf(apiVersion: string, kind: string): Promise<{ group: string; resource: string }> {
  const group = apiVersion.includes('/') ? apiVersion.split('/')[0]! : '';
  const key = `${apiVersion}/${kind}`;
  if (!plurals.has(key)) {
    const path = group === '' ? `/api/${apiVersion}` : `/apis/${apiVersion}`;
    const list = await plane()
      .request<{ resources?: { name: string; kind: string }[] }>('GET', path)
      .catch(() => ({ resources: [] }));
    const found = list.resources?.find((r) => r.kind === kind && !r.name.includes('/'));
    plurals.set(key, found?.name ?? `${kind.toLowerCase()}s`);
  }
  return { group, resource: plurals.get(key)! };
}

function hookConfig(hook: string): HookConfig {
  return JSON.parse(
    execFileSync(join(HOOKS_DIR, hook), ['--config'], {
      env: { ...process.env, L2LB_STANDALONE: 'true' },
      encoding: 'utf8',
    }),
  ) as HookConfig;
}

/** A shell-operator kubernetes binding lists and watches its kind, in its namespaces or cluster-wide. */
async function bindingAccess(config: HookConfig): Promise<Access[]> {
  const out: Access[] = [];
  for (const b of config.kubernetes ?? []) {
    const r = await resourceOf(b.apiVersion, b.kind);
    for (const namespace of b.namespace?.nameSelector?.matchNames ?? [undefined]) {
      for (const verb of ['list', 'watch']) out.push({ verb, ...r, ...(namespace ? { namespace } : {}) });
    }
  }
  return out;
}

/** What shell-operator sends for each patch operation a hook writes. */
async function patchAccess(ops: readonly PatchOperation[]): Promise<Access[]> {
  const out: Access[] = [];
  for (const op of ops) {
    if ('object' in op) {
      const o = op.object;
      const r = await resourceOf(o.apiVersion, o.kind);
      const where = o.metadata.namespace ? { namespace: o.metadata.namespace } : {};
      out.push({ verb: 'create', ...r, ...where });
      // CreateOrUpdate reads the object and patches it when it exists.
      if (op.operation === 'CreateOrUpdate') {
        for (const verb of ['get', 'patch']) out.push({ verb, ...r, ...where, name: o.metadata.name });
      }
      continue;
    }
    const r = await resourceOf(op.apiVersion, op.kind);
    out.push({
      verb: ['MergePatch', 'JSONPatch', 'JQPatch'].includes(op.operation) ? 'patch' : 'delete',
      ...r,
      ...('subresource' in op && op.subresource ? { subresource: op.subresource } : {}),
      ...(op.namespace ? { namespace: op.namespace } : {}),
      name: op.name,
    });
  }
  return out;
}

const LEFTOVER = yamlObjects(`
# Left behind by a Service that is gone: the control loop deletes it.
apiVersion: internal.network.deckhouse.io/v1alpha1
kind: L2LBService
metadata:
  name: old-public-0
  namespace: shop
  creationTimestamp: "2026-11-01T09:00:00Z"
  labels:
    network.deckhouse.io/parent-service: old
    network.deckhouse.io/l2-load-balancer: public
    network.deckhouse.io/index: "0"
spec:
  serviceRef: { name: old, namespace: shop }
  loadBalancerIP: 192.0.2.6
  nodes: [frontend-1]
---
# web's first child, written by an older run with a stale node list: the control loop patches it.
apiVersion: internal.network.deckhouse.io/v1alpha1
kind: L2LBService
metadata:
  name: web-public-0
  namespace: shop
  creationTimestamp: "2026-11-02T09:00:01Z"
  labels:
    network.deckhouse.io/parent-service: web
    network.deckhouse.io/l2-load-balancer: public
    network.deckhouse.io/index: "0"
spec:
  serviceRef: { name: web, namespace: shop }
  loadBalancerIP: 192.0.2.1
  nodes: [frontend-9]
`);

describe('the hooks ServiceAccount', () => {
  it('may list and watch everything the hooks subscribe to', async () => {
    const wanted = [
      ...(await bindingAccess(hookConfig('reconcile'))),
      ...(await bindingAccess(hookConfig('module_objects'))),
    ];
    expect(wanted.length).toBeGreaterThan(15);
    expect(await missing(HOOKS, wanted)).toEqual([]);
  });

  it('may write everything the control loop writes: L2LBServices, Service and L2LoadBalancer status, Node labels, Events', async () => {
    const objects: ClusterObject[] = [
      ...fixture('three-frontends.yaml'),
      ...fixture('web-three-ips.yaml'),
      ...LEFTOVER,
    ];
    const run = runHookExecutable(RECONCILE_HOOK, groupContext(reconcileConfig, objects), {
      values: { l2LoadBalancer: {} },
    });
    expect(run.exitCode).toBe(0);
    const wanted = await patchAccess(run.patches);
    const kinds = new Set(
      wanted.map((a) => `${a.verb} ${a.resource}${a.subresource ? '/' + a.subresource : ''}`),
    );
    // The run exercises every kind of write the control loop makes.
    for (const k of [
      'create l2lbservices',
      'patch l2lbservices',
      'delete l2lbservices',
      'patch services/status',
      'patch l2loadbalancers/status',
      'patch nodes',
      'create events',
    ]) {
      expect(kinds).toContain(k);
    }
    expect(await missing(HOOKS, wanted)).toEqual([]);
  });

  it('may apply every object module_objects renders, with MetalLB and prometheus-operator installed', async () => {
    const parsed = parseSettings({});
    if (!parsed.ok) throw new Error('the default settings do not parse');
    const objects = moduleObjects({
      settings: parsed.settings,
      balancers: [{ name: 'public', uid: 'uid-public', addressPool: ['192.0.2.0/28'] }],
      crds: new Set([METALLB_POOL_CRD, PODMONITOR_CRD]),
      metallbNamespace: 'metallb-system',
    });
    const kinds = new Set(objects.map((o) => o.kind));
    for (const k of [
      'Namespace',
      'DaemonSet',
      'ClusterRole',
      'Role',
      'IPAddressPool',
      'ValidatingAdmissionPolicy',
    ])
      expect(kinds).toContain(k);
    const wanted = await patchAccess(objects.map((object) => ({ operation: 'CreateOrUpdate', object })));
    expect(await missing(HOOKS, wanted)).toEqual([]);
  });

  it('may not read Secrets, touch other namespaces, change Services or grant itself more', async () => {
    const forbidden: Access[] = [
      { verb: 'get', group: '', resource: 'secrets', namespace: MODULE_NAMESPACE },
      { verb: 'list', group: '', resource: 'secrets' },
      { verb: 'create', group: '', resource: 'services', namespace: 'shop' },
      { verb: 'update', group: '', resource: 'services', namespace: 'shop', name: 'web' },
      { verb: 'patch', group: '', resource: 'services', namespace: 'shop', name: 'web' },
      { verb: 'delete', group: '', resource: 'services', namespace: 'shop', name: 'web' },
      { verb: 'delete', group: '', resource: 'nodes', name: 'frontend-1' },
      { verb: 'create', group: '', resource: 'pods', namespace: MODULE_NAMESPACE },
      {
        verb: 'create',
        group: '',
        resource: 'pods',
        subresource: 'exec',
        namespace: MODULE_NAMESPACE,
        name: 'x',
      },
      {
        verb: 'create',
        group: '',
        resource: 'serviceaccounts',
        subresource: 'token',
        namespace: MODULE_NAMESPACE,
        name: 'speaker',
      },
      { verb: 'get', group: '', resource: 'configmaps', namespace: 'kube-system' },
      { verb: 'list', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-node-lease' },
      {
        verb: 'update',
        group: 'coordination.k8s.io',
        resource: 'leases',
        namespace: 'kube-system',
        name: 'kube-scheduler',
      },
      { verb: 'create', group: 'apps', resource: 'daemonsets', namespace: 'kube-system' },
      { verb: 'delete', group: '', resource: 'namespaces', name: MODULE_NAMESPACE },
      { verb: 'patch', group: '', resource: 'namespaces', name: 'kube-system' },
      { verb: 'patch', group: 'rbac.authorization.k8s.io', resource: 'clusterroles', name: 'cluster-admin' },
      {
        verb: 'patch',
        group: 'rbac.authorization.k8s.io',
        resource: 'clusterrolebindings',
        name: 'cluster-admin',
      },
      { verb: 'escalate', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
      { verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' },
      { verb: 'impersonate', group: '', resource: 'users' },
      { verb: 'create', group: 'network.deckhouse.io', resource: 'l2loadbalancers' },
      { verb: 'delete', group: 'network.deckhouse.io', resource: 'l2loadbalancers', name: 'public' },
      { verb: 'update', group: 'network.deckhouse.io', resource: 'l2loadbalancers', name: 'public' },
      {
        verb: 'delete',
        group: 'apiextensions.k8s.io',
        resource: 'customresourcedefinitions',
        name: METALLB_POOL_CRD,
      },
      {
        verb: 'delete',
        group: 'admissionregistration.k8s.io',
        resource: 'validatingadmissionpolicies',
        name: 'other',
      },
    ];
    expect(await granted(HOOKS, forbidden)).toEqual([]);
  });
});

describe('the speaker ServiceAccount', () => {
  it('may renew its Lease, watch its work and write its status (images/speaker/cluster.ts)', async () => {
    const lease = { group: 'coordination.k8s.io', resource: 'leases', namespace: MODULE_NAMESPACE };
    const wanted: Access[] = [
      ...['get', 'list', 'watch', 'create', 'update', 'patch'].map((verb) => ({ verb, ...lease })),
      { verb: 'patch', ...lease, name: 'l2lb-speaker-frontend-1' },
      ...['get', 'list', 'watch'].map((verb) => ({
        verb,
        group: 'internal.network.deckhouse.io',
        resource: 'l2lbservices',
      })),
      {
        verb: 'patch',
        group: 'internal.network.deckhouse.io',
        resource: 'l2lbservices',
        subresource: 'status',
        namespace: 'shop',
        name: 'web-public-0',
      },
      ...['get', 'list', 'watch'].map((verb) => ({
        verb,
        group: 'network.deckhouse.io',
        resource: 'l2loadbalancers',
      })),
    ];
    expect(await missing(SPEAKER, wanted)).toEqual([]);
  });

  it('may not create or change L2LBServices, write Leases elsewhere, read Secrets, Nodes or EndpointSlices, or write Events', async () => {
    const l2lbservices = {
      group: 'internal.network.deckhouse.io',
      resource: 'l2lbservices',
      namespace: 'shop',
    };
    const forbidden: Access[] = [
      ...['create', 'update', 'patch', 'delete'].map((verb) => ({ verb, ...l2lbservices })),
      { verb: 'deletecollection', ...l2lbservices },
      { verb: 'get', group: '', resource: 'secrets', namespace: MODULE_NAMESPACE },
      { verb: 'list', group: '', resource: 'secrets' },
      { verb: 'list', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-node-lease' },
      { verb: 'create', group: 'coordination.k8s.io', resource: 'leases', namespace: 'kube-system' },
      {
        verb: 'patch',
        group: 'coordination.k8s.io',
        resource: 'leases',
        namespace: 'shop',
        name: 'l2lb-speaker-x',
      },
      { verb: 'delete', group: 'coordination.k8s.io', resource: 'leases', namespace: MODULE_NAMESPACE },
      { verb: 'create', group: 'network.deckhouse.io', resource: 'l2loadbalancers' },
      { verb: 'patch', group: 'network.deckhouse.io', resource: 'l2loadbalancers', subresource: 'status' },
      { verb: 'list', group: '', resource: 'services' },
      {
        verb: 'patch',
        group: '',
        resource: 'services',
        subresource: 'status',
        namespace: 'shop',
        name: 'web',
      },
      { verb: 'patch', group: '', resource: 'nodes', name: 'frontend-1' },
      { verb: 'list', group: '', resource: 'nodes' },
      // Nothing in the speaker reads Nodes or EndpointSlices or writes Events.
      { verb: 'get', group: '', resource: 'nodes', name: 'frontend-1' },
      ...['list', 'watch'].map((verb) => ({ verb, group: 'discovery.k8s.io', resource: 'endpointslices' })),
      { verb: 'create', group: '', resource: 'events', namespace: MODULE_NAMESPACE },
      { verb: 'create', group: 'events.k8s.io', resource: 'events', namespace: MODULE_NAMESPACE },
      { verb: 'get', group: '', resource: 'configmaps', namespace: MODULE_NAMESPACE },
      { verb: 'create', group: '', resource: 'pods', namespace: MODULE_NAMESPACE },
      { verb: 'create', group: 'apps', resource: 'daemonsets', namespace: MODULE_NAMESPACE },
      { verb: 'impersonate', group: '', resource: 'users' },
    ];
    expect(await granted(SPEAKER, forbidden)).toEqual([]);
  });
});

test('the reviews reach the RBAC authorizer: an unbound ServiceAccount may do nothing, system:masters anything', async () => {
  const probe: Access = { verb: 'list', group: 'internal.network.deckhouse.io', resource: 'l2lbservices' };
  expect(await allowed('system:serviceaccount:shop:nobody', probe)).toBe(false);
  expect(await review('root', ['system:masters'], { verb: 'delete', group: '', resource: 'secrets' })).toBe(
    true,
  );
});
