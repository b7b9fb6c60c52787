// Standalone mode end to end on a real API server: `l2lb render --standalone` goes in whole with
// `kubectl apply`, then the built hooks run under a real shell-operator as the hooks' ServiceAccount
// of that output (a TokenRequest token, no admin rights), with the Deployment's own environment. The
// README's L2LoadBalancer and Service then get their three addresses: the rendered RBAC is enough.
//
// No kubelet or controllers run here, so the rendered Deployment and DaemonSet make no Pods.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump, load, loadAll } from 'js-yaml';
import { MODULE_NAMESPACE } from '../../lib/model';
import { L2LBSERVICE_POLICY } from '../../templates/admission';
import {
  startControlPlane,
  startShellOperator,
  waitFor,
  type ControlPlane,
  type ShellOperator,
} from '../../testbed/control-plane';
import { ROOT } from '../support/hook-harness';
import { ingressOf, readyCondition, type ServiceObject } from '../../testbed/module';

jest.setTimeout(300_000);

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

/** prometheus-operator's CRDs, as far as the API server needs them to store the rendered monitoring. */
const MONITORING_CRDS = ['PodMonitor', 'PrometheusRule']
  .map((kind) => {
    const plural = `${kind.toLowerCase()}s`;
    return dump({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `${plural}.monitoring.coreos.com` },
      spec: {
        group: 'monitoring.coreos.com',
        scope: 'Namespaced',
        names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List` },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
          },
        ],
      },
    });
  })
  .join('---\n');

let cp: ControlPlane | undefined;
let operator: ShellOperator | undefined;
let scratch = '';
let manifests: Manifest[] = [];

function plane(): ControlPlane {
  if (cp === undefined) throw new Error('control plane did not start');
  return cp;
}

function kubectl(args: string[], input?: string): string {
  const r = spawnSync('kubectl', ['--kubeconfig', plane().kubeconfigPath, ...args], {
    input,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed:\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** The README's example objects of `kind` (its ```yaml blocks). */
function readmeExample(kind: string): Manifest {
  const blocks = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)];
  const found = blocks.map((m) => load(m[1]!) as Manifest).find((o) => o.kind === kind);
  if (found === undefined) throw new Error(`README.md has no ${kind} example`);
  return found;
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'l2lb-standalone-'));
  cp = await startControlPlane();
  writeFileSync(join(scratch, 'monitoring-crds.yaml'), MONITORING_CRDS);
  await plane().applyCrds(scratch);
}, 300_000);

afterAll(async () => {
  await operator?.stop();
  await cp?.stop();
  if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
});

test('kubectl apply installs the whole `render --standalone` output', async () => {
  const text = execFileSync(
    process.execPath,
    [join(ROOT, 'dist', 'bin', 'l2lb.js'), 'render', '--standalone'],
    {
      encoding: 'utf8',
    },
  );
  manifests = loadAll(text).filter((d): d is Manifest => typeof d === 'object' && d !== null);
  const kinds = new Set(manifests.map((m) => m.kind));
  for (const k of ['CustomResourceDefinition', 'Namespace', 'Deployment', 'DaemonSet', 'ServiceAccount'])
    expect(kinds).toContain(k);

  const out = kubectl(['apply', '--server-side', '-f', '-'], text);
  for (const m of manifests) {
    expect(out).toMatch(
      new RegExp(`/${m.metadata.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} serverside-applied`),
    );
  }
  // Everything is there, as rendered.
  for (const m of manifests) {
    const args = ['get', `${m.kind}.${m.apiVersion.includes('/') ? m.apiVersion.split('/')[0] : ''}`];
    const got = kubectl([
      ...args,
      m.metadata.name,
      ...(m.metadata.namespace ? ['-n', m.metadata.namespace] : []),
      '-o',
      'name',
    ]);
    expect(got.trim()).not.toBe('');
  }
});

test('the hooks, as their own ServiceAccount, give the README Service its three addresses', async () => {
  expect(manifests.length).toBeGreaterThan(0);
  const deployment = manifests.find((m) => m.kind === 'Deployment')!;
  const container = (
    deployment as unknown as {
      spec: {
        template: {
          spec: { serviceAccountName: string; containers: [{ env: { name: string; value?: string }[] }] };
        };
      };
    }
  ).spec.template.spec;
  // The Deployment's environment, with the namespace its fieldRef would give.
  const env: Record<string, string> = { SHELL_OPERATOR_NAMESPACE: MODULE_NAMESPACE };
  for (const e of container.containers[0].env) if (e.value !== undefined) env[e.name] = e.value;
  expect(env.L2LB_STANDALONE).toBe('true');

  // A kubeconfig with a token of the Deployment's ServiceAccount instead of the admin's.
  const account = container.serviceAccountName;
  const token = await plane().request<{ status: { token: string } }>(
    'POST',
    `/api/v1/namespaces/${MODULE_NAMESPACE}/serviceaccounts/${account}/token`,
    { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
  );
  const kubeconfig = load(readFileSync(plane().kubeconfigPath, 'utf8')) as {
    users: [{ user: Record<string, string> }];
  };
  kubeconfig.users[0].user = { token: token.status.token };
  const kubeconfigPath = join(scratch, 'hooks.kubeconfig');
  writeFileSync(kubeconfigPath, dump(kubeconfig), { mode: 0o600 });

  operator = await startShellOperator({
    kubeconfigPath,
    hooksDir: join(ROOT, 'dist', 'module', 'hooks'),
    env: { ...env, SHELL_OPERATOR_HOOKS_DIR: join(ROOT, 'dist', 'module', 'hooks') },
  });

  // Three balancer nodes with a Ready condition, written through the status subresource.
  for (const name of ['frontend-1', 'frontend-2', 'frontend-3']) {
    await plane().request('POST', '/api/v1/nodes', {
      metadata: { name, labels: { 'node-role.kubernetes.io/frontend': '' } },
    });
    await plane().request('PATCH', `/api/v1/nodes/${name}/status`, {
      status: { conditions: [readyCondition(true, new Date(Date.now() - 3600_000))] },
    });
  }
  const balancer = readmeExample('L2LoadBalancer');
  const service = readmeExample('Service');
  kubectl(['create', '-f', '-'], JSON.stringify(balancer));
  kubectl(['create', '-f', '-'], JSON.stringify(service));

  const { namespace = 'default', name } = service.metadata;
  const ingress = await waitFor(
    async () => {
      const s = await plane().request<ServiceObject>(
        'GET',
        `/api/v1/namespaces/${namespace}/services/${name}`,
      );
      const ips = ingressOf(s);
      return ips.length === 3 ? ips : undefined;
    },
    {
      timeoutMs: 90_000,
      intervalMs: 500,
      describe: (e) =>
        `Service ${namespace}/${name} did not get 3 addresses within 90 s (${e}); shell-operator:\n` +
        (operator
          ?.logs()
          .slice(-20)
          .map((l) => l.slice(0, 600))
          .join('\n') ?? ''),
    },
  );
  // As the README shows: the lowest addresses of the pool, in index order.
  expect(ingress).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3']);

  // The module_objects hook applied the module's own objects with the same token: the admission
  // policy and the balancer node labels are there, and no request was forbidden.
  await waitFor(
    async () =>
      (await plane().request(
        'GET',
        `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${L2LBSERVICE_POLICY}`,
      )) as unknown,
    {
      timeoutMs: 30_000,
      describe: (e) => `the module_objects hook did not apply the admission policy: ${e}`,
    },
  );
  const node = await plane().request<{ metadata: { labels?: Record<string, string> } }>(
    'GET',
    '/api/v1/nodes/frontend-1',
  );
  expect(node.metadata.labels).toHaveProperty(['l2-load-balancer.network.deckhouse.io/member']);
  const forbidden = (operator?.logs() ?? []).filter((l) => /forbidden/i.test(l));
  expect(forbidden).toEqual([]);
});
