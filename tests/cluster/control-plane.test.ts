// The test harness itself: a real kube-apiserver (over kine) and a real shell-operator.
// The first run builds the binaries (scripts/binaries.sh, ~15 minutes on 2 cores); later runs
// take seconds.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Lease } from '@kubernetes/client-node';
import {
  KubeApiError,
  loadClientNode,
  resolveBinaries,
  startControlPlane,
  startShellOperator,
  waitFor,
  type ControlPlane,
} from '../../testbed/control-plane';

jest.setTimeout(180_000);

const GROUP = 'harness.l2lb.test';
const TEST_CRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.${GROUP}
spec:
  group: ${GROUP}
  scope: Namespaced
  names: { plural: widgets, singular: widget, kind: Widget, listKind: WidgetList }
  versions:
    - name: v1
      served: true
      storage: true
      subresources: { status: {} }
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: { type: integer, minimum: 1 }
            status:
              type: object
              properties:
                phase: { type: string }
`;

let cp: ControlPlane | undefined;
const scratch: string[] = [];

function scratchDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  scratch.push(d);
  return d;
}

beforeAll(async () => {
  // Build (or find) all three binaries up front so no single test pays the cold build.
  await resolveBinaries(['kubeApiserver', 'kine', 'shellOperator']);
  cp = await startControlPlane();
  console.log(`control plane ready in ${cp.startupMs} ms at ${cp.server} (kubeconfig ${cp.kubeconfigPath})`);
}, 100 * 60_000);

afterAll(async () => {
  await cp?.stop();
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

function controlPlane(): ControlPlane {
  if (cp === undefined) throw new Error('control plane did not start');
  return cp;
}

test('serves namespaces and coordination.k8s.io/v1 Leases', async () => {
  const plane = controlPlane();
  await plane.request('POST', '/api/v1/namespaces', { metadata: { name: 'harness-lease' } });
  const leases = '/apis/coordination.k8s.io/v1/namespaces/harness-lease/leases';
  await plane.request('POST', leases, {
    metadata: { name: 'l2lb-speaker-node-a' },
    spec: { holderIdentity: 'node-a', leaseDurationSeconds: 15, renewTime: '2026-01-01T00:00:00.000000Z' },
  });

  const lease = await plane.request<V1Lease>('GET', `${leases}/l2lb-speaker-node-a`);
  expect(lease.spec?.holderIdentity).toBe('node-a');
  expect(lease.spec?.leaseDurationSeconds).toBe(15);
});

test('writes a kubeconfig that kubectl reads', () => {
  const out = execFileSync(
    'kubectl',
    ['--kubeconfig', controlPlane().kubeconfigPath, 'get', 'namespace', 'default', '-o', 'name'],
    {
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  expect(out.trim()).toBe('namespace/default');
});

// client-node 2 loads only where undici 8 does (Node.js >= 22.19, or an undici override on 20).
let clientNodeProblem: string | undefined;
try {
  loadClientNode();
} catch (err) {
  clientNodeProblem = err instanceof Error ? err.message : String(err);
  console.warn(`skipping the @kubernetes/client-node test: ${clientNodeProblem}`);
}
(clientNodeProblem === undefined ? test : test.skip)(
  'gives a KubeConfig that @kubernetes/client-node uses',
  async () => {
    const k8s = loadClientNode();
    const kc = controlPlane().kubeConfig();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const ns = await core.readNamespace({ name: 'default' });
    expect(ns.metadata?.name).toBe('default');
  },
);

test('establishes a CRD whose objects validate and take status patches', async () => {
  const plane = controlPlane();
  const crdDir = scratchDir('l2lb-crds-');
  writeFileSync(join(crdDir, 'widgets.yaml'), TEST_CRD);
  expect(await plane.applyCrds(crdDir)).toEqual([`widgets.${GROUP}`]);
  // Applying again replaces in place.
  expect(await plane.applyCrds(crdDir)).toEqual([`widgets.${GROUP}`]);

  await plane.request('POST', '/api/v1/namespaces', { metadata: { name: 'harness-crd' } });
  const widgets = `/apis/${GROUP}/v1/namespaces/harness-crd/widgets`;
  await plane.request('POST', widgets, {
    apiVersion: `${GROUP}/v1`,
    kind: 'Widget',
    metadata: { name: 'w1' },
    spec: { size: 3 },
  });
  // The schema is enforced (size >= 1).
  const rejected = await plane
    .request('POST', widgets, {
      apiVersion: `${GROUP}/v1`,
      kind: 'Widget',
      metadata: { name: 'bad' },
      spec: { size: 0 },
    })
    .then(
      () => undefined,
      (err: unknown) => err,
    );
  expect(rejected).toBeInstanceOf(KubeApiError);
  expect((rejected as KubeApiError).code).toBe(422);

  // The status subresource takes patches; the main resource ignores status.
  await plane.request('PATCH', `${widgets}/w1/status`, { status: { phase: 'Ready' } });
  await plane.request('PATCH', `${widgets}/w1`, { status: { phase: 'Ignored' }, spec: { size: 4 } });
  const got = await plane.request<{ spec?: { size?: number }; status?: { phase?: string } }>(
    'GET',
    `${widgets}/w1`,
  );
  expect(got.status?.phase).toBe('Ready');
  expect(got.spec?.size).toBe(4);
});

test('shell-operator runs an onStartup hook against the control plane', async () => {
  const hooksDir = scratchDir('l2lb-hooks-');
  const outDir = scratchDir('l2lb-hook-out-');
  const marker = join(outDir, 'ran');
  const hook = join(hooksDir, 'startup.sh');
  writeFileSync(
    hook,
    [
      '#!/usr/bin/env bash',
      'set -euo pipefail',
      'if [[ "${1:-}" == "--config" ]]; then',
      '  echo \'{"configVersion":"v1","onStartup":1}\'',
      '  exit 0',
      'fi',
      'cp "$BINDING_CONTEXT_PATH" "$MARKER"',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );

  const op = await startShellOperator({
    kubeconfigPath: controlPlane().kubeconfigPath,
    hooksDir,
    env: { MARKER: marker },
  });
  try {
    await waitFor(async () => (existsSync(marker) ? true : undefined), {
      timeoutMs: 30_000,
      describe: () =>
        `the onStartup hook did not run within 30s; shell-operator log:\n${op.logs().slice(-30).join('\n')}`,
    });
    expect(JSON.parse(readFileSync(marker, 'utf8'))).toEqual([{ binding: 'onStartup' }]);
  } finally {
    await op.stop();
  }
});
