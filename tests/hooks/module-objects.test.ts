import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { runHookExecutable, type ClusterObject } from '../../lib/sdk/simulate';
import type { BindingContext } from '../../lib/sdk/binding';
import type { PatchOperation } from '../../lib/sdk/output';
import { ROOT } from '../support/hook-harness';

const HOOK = join(ROOT, 'dist', 'module', 'hooks', 'module_objects');

function context(
  crds: string[],
  balancers: Array<{ name: string; uid: string; addressPool: string[] }>,
  binding = 'l2loadbalancers',
): BindingContext[] {
  return [
    {
      binding,
      type: 'Group',
      groupName: 'objects',
      snapshots: {
        l2loadbalancers: balancers.map((b) => ({ filterResult: b })),
        crds: crds.map((c) => ({ filterResult: c })),
        settings: [],
      },
    },
  ];
}

const created = (ops: PatchOperation[]): ClusterObject[] =>
  ops.flatMap((o) => (o.operation === 'CreateOrUpdate' ? [o.object as ClusterObject] : []));

describe('module objects hook', () => {
  const pools = [
    { name: 'public', uid: 'uid-public', addressPool: ['192.0.2.0/28'] },
    { name: 'broken', uid: 'uid-broken', addressPool: ['10.0.0.300'] },
  ];

  it('applies the namespace, the speaker DaemonSet and its RBAC', () => {
    const run = runHookExecutable(HOOK, context([], pools), { values: { l2LoadBalancer: {} } });
    expect(run.exitCode).toBe(0);
    const kinds = created(run.patches).map((o) => o.kind);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'Namespace',
        'ServiceAccount',
        'DaemonSet',
        'ClusterRole',
        'ClusterRoleBinding',
      ]),
    );
    expect(kinds).not.toContain('IPAddressPool');
    expect(kinds).not.toContain('PodMonitor');
  });

  it('runs the speaker image Deckhouse names in the values: the registry base at this module digest', () => {
    const digest = `sha256:${'5'.repeat(64)}`;
    const values = {
      global: {
        modulesImages: {
          registry: { base: 'registry.deckhouse.example/deckhouse/ce' },
          digests: { l2LoadBalancer: { speaker: digest } },
        },
      },
      l2LoadBalancer: {},
    };
    const run = runHookExecutable(HOOK, context([], pools), { values });
    expect(run.exitCode).toBe(0);
    const daemonSet = created(run.patches).find((o) => o.kind === 'DaemonSet') as unknown as {
      spec: { template: { spec: { containers: Array<{ image: string }> } } };
    };
    expect(daemonSet.spec.template.spec.containers[0]!.image).toBe(
      `registry.deckhouse.example/deckhouse/ce@${digest}`,
    );
  });

  it('creates the heartbeat key Secret only if it does not exist, with 32 random bytes, after the namespace', () => {
    const secrets = (ops: PatchOperation[]): ClusterObject[] =>
      ops.flatMap((o) =>
        'object' in o && o.object.kind === 'Secret'
          ? [{ ...(o.object as ClusterObject), op: o.operation }]
          : [],
      );
    const first = runHookExecutable(HOOK, context([], pools), { values: { l2LoadBalancer: {} } });
    const second = runHookExecutable(HOOK, context([], pools), { values: { l2LoadBalancer: {} } });
    const [a] = secrets(first.patches);
    const [b] = secrets(second.patches);
    expect(a).toMatchObject({
      op: 'CreateIfNotExists',
      metadata: { name: 'l2lb-heartbeat-key', namespace: 'd8-l2-load-balancer' },
    });
    const key = (s: ClusterObject | undefined): Buffer =>
      Buffer.from(String((s?.data as Record<string, unknown> | undefined)?.key), 'base64');
    expect(key(a)).toHaveLength(32);
    // A fresh draw each run; CreateIfNotExists keeps the first one in the cluster.
    expect(key(a).equals(key(b))).toBe(false);
    const order = first.patches.map((o) => ('object' in o ? o.object.kind : ''));
    expect(order.indexOf('Secret')).toBeGreaterThan(order.indexOf('Namespace'));
  });

  it('mirrors each valid pool as a MetalLB IPAddressPool owned by its L2LoadBalancer when MetalLB CRDs exist', () => {
    const run = runHookExecutable(HOOK, context(['ipaddresspools.metallb.io'], pools), {
      values: { l2LoadBalancer: {} },
    });
    const ipPools = created(run.patches).filter((o) => o.kind === 'IPAddressPool');
    expect(ipPools).toHaveLength(1);
    expect(ipPools[0]).toMatchObject({
      spec: { addresses: ['192.0.2.0/28'], autoAssign: false },
      metadata: {
        ownerReferences: [
          expect.objectContaining({ kind: 'L2LoadBalancer', name: 'public', uid: 'uid-public' }),
        ],
      },
    });
  });

  it('renders the PodMonitor only when the prometheus-operator CRD exists', () => {
    const run = runHookExecutable(HOOK, context(['podmonitors.monitoring.coreos.com'], []), {
      values: { l2LoadBalancer: {} },
    });
    expect(created(run.patches).map((o) => o.kind)).toContain('PodMonitor');
  });

  it('removes what it deployed when the module is disabled', () => {
    const run = runHookExecutable(
      HOOK,
      [{ binding: 'afterDeleteHelm', snapshots: context([], pools)[0]!.snapshots }],
      {
        values: { l2LoadBalancer: {} },
      },
    );
    const deleted = run.patches
      .filter((o) => o.operation === 'DeleteInBackground')
      .map((o) => ('kind' in o ? o.kind : ''));
    expect(deleted).toEqual(expect.arrayContaining(['DaemonSet', 'Namespace']));
    expect(deleted[deleted.length - 1]).toBe('Namespace');
  });

  it('leaves everything as it is when the settings are invalid', () => {
    const run = runHookExecutable(HOOK, context([], pools), {
      values: { l2LoadBalancer: { speaker: { leaseDurationSeconds: 0 } } },
    });
    expect(run.exitCode).toBe(0);
    expect(run.patches).toEqual([]);
    expect(run.stderr).toContain('leaseDurationSeconds');
  });

  it('declares afterDeleteHelm for addon-operator and leaves it out under plain shell-operator', () => {
    const addon = JSON.parse(spawnSync(HOOK, ['--config'], { encoding: 'utf8' }).stdout) as Record<
      string,
      unknown
    >;
    const shell = JSON.parse(
      spawnSync(HOOK, ['--config'], { encoding: 'utf8', env: { ...process.env, L2LB_STANDALONE: 'true' } })
        .stdout,
    ) as Record<string, unknown>;
    expect(addon.afterDeleteHelm).toBe(10);
    expect(shell.afterDeleteHelm).toBeUndefined();
  });
});
