// Standalone mode end to end on a real API server with no Prometheus operator CRDs (a plain
// cluster): the one-liner of docs/FAQ.md (`l2lb render --standalone ... | kubectl apply -f -`) goes
// in whole, then the built hooks image (`npm run images`: its shell-operator and hooks) runs under
// podman as the hooks' ServiceAccount of that output (a TokenRequest token, no admin rights), as the
// Deployment's user on a read-only root, with the Deployment's own environment. The README's
// L2LoadBalancer and Service then get their three addresses: the rendered RBAC is enough.
//
// No kubelet or controllers run here, so the rendered Deployment and DaemonSet make no Pods: the
// test starts the hooks container itself.
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
import { requireBuiltImage } from '../../testbed/podman';
import { ingressOf, readyCondition, type ServiceObject } from '../../testbed/module';

jest.setTimeout(300_000);

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

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
}, 300_000);

afterAll(async () => {
  await operator?.stop();
  await cp?.stop();
  if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
});

/** The one-liner docs/FAQ.md gives for a cluster without Deckhouse (its `$ ` line). */
function faqOneLiner(): string {
  const line = readFileSync(join(ROOT, 'docs', 'FAQ.md'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith('$ ') && l.includes('render --standalone') && l.includes('kubectl apply'));
  if (line === undefined) throw new Error('docs/FAQ.md has no `render --standalone | kubectl apply` line');
  return line.slice(2);
}

test('the FAQ one-liner installs the whole `render --standalone` output on a cluster without monitoring CRDs', () => {
  expect(kubectl(['get', 'customresourcedefinitions', '-o', 'name'])).not.toMatch(/monitoring\.coreos\.com/);
  const command = faqOneLiner();
  const run = spawnSync('bash', ['-o', 'pipefail', '-c', command], {
    cwd: ROOT,
    env: { ...process.env, KUBECONFIG: plane().kubeconfigPath },
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (run.status !== 0) throw new Error(`\`${command}\` failed (${run.status}):\n${run.stdout}${run.stderr}`);

  // What the one-liner rendered, rendered again to see that each object went in.
  const renderPart = command.slice(0, command.indexOf('|')).trim().split(/\s+/);
  expect(renderPart.slice(0, 2)).toEqual(['node', 'dist/bin/l2lb.js']);
  const text = execFileSync(process.execPath, renderPart.slice(1), { cwd: ROOT, encoding: 'utf8' });
  manifests = loadAll(text).filter((d): d is Manifest => typeof d === 'object' && d !== null);
  const kinds = new Set(manifests.map((m) => m.kind));
  for (const k of ['CustomResourceDefinition', 'Namespace', 'Deployment', 'DaemonSet', 'ServiceAccount'])
    expect(kinds).toContain(k);
  for (const m of manifests) {
    expect(run.stdout).toMatch(
      new RegExp(`/${m.metadata.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} created`),
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

  // The built hooks image, with the Deployment's environment as it is (SHELL_OPERATOR_HOOKS_DIR
  // names the image's /module/hooks).
  operator = await startShellOperator({
    kubeconfigPath,
    hooksDir: '/module/hooks',
    env,
    image: requireBuiltImage('hooks'),
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
