import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { runHookExecutable, type ClusterObject } from '../../lib/sdk/simulate';
import type { BindingContext } from '../../lib/sdk/binding';
import type { PatchOperation } from '../../lib/sdk/output';
import type { ValuesPatchOperation } from '../../lib/sdk/output';
import { parseValues } from '../../lib/settings';
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

describe('module objects hook: the heartbeat key in the values (addon-operator)', () => {
  const fresh = (): { global: Record<string, unknown>; l2LoadBalancer: Record<string, unknown> } =>
    load(readFileSync(join(ROOT, 'tests/fixtures/values/addon-operator-fresh.yaml'), 'utf8')) as {
      global: Record<string, unknown>;
      l2LoadBalancer: Record<string, unknown>;
    };
  const KEY_A = Buffer.alloc(32, 0xa1).toString('base64');
  const KEY_B = Buffer.alloc(32, 0xb2).toString('base64');
  // One valid pool and one the hook must leave out of the values.
  const pools = [
    { name: 'public', uid: 'uid-public', addressPool: ['192.0.2.0/28'] },
    { name: 'broken', uid: 'uid-broken', addressPool: ['10.0.0.300'] },
  ];

  /** addon-operator's values of a fresh install, `internal.heartbeatKey` set when given. */
  function values(heartbeatKey?: string): ReturnType<typeof fresh> {
    const v = fresh();
    const internal = v.l2LoadBalancer.internal as Record<string, unknown>;
    if (heartbeatKey !== undefined) internal.heartbeatKey = heartbeatKey;
    return v;
  }

  /** The group context with the `heartbeat_key` binding's snapshot: no Secret, or one with `key`. */
  function withSecret(secret: 'none' | { key: string | null }): BindingContext[] {
    const [ctx] = context([], []);
    return [
      {
        ...ctx!,
        snapshots: { ...ctx!.snapshots, heartbeat_key: secret === 'none' ? [] : [{ filterResult: secret }] },
      },
    ];
  }

  /** addon-operator's part after a run: the patch applied (only `add` and `remove` exist). */
  function applyPatch<T>(target: T, ops: readonly ValuesPatchOperation[]): T {
    const out = structuredClone(target) as Record<string, unknown>;
    for (const op of ops) {
      const keys = op.path.split('/').slice(1);
      const last = keys.pop()!;
      let at = out;
      for (const k of keys) at = (at[k] ??= {}) as Record<string, unknown>;
      if (op.op === 'add') at[last] = op.value;
      else delete at[last];
    }
    return out as T;
  }

  const secretOps = (ops: PatchOperation[]): Array<{ op: string; key: string }> =>
    ops.flatMap((o) =>
      'object' in o && o.object.kind === 'Secret'
        ? [{ op: o.operation, key: String((o.object.data as Record<string, unknown>).key) }]
        : [],
    );

  it('on a fresh install draws a 32-byte key, keeps it in internal values and creates the Secret with it', () => {
    const run = runHookExecutable(HOOK, withSecret('none'), { values: values() });
    expect(run.exitCode).toBe(0);
    expect(run.valuesPatches).toHaveLength(1);
    const [patch] = run.valuesPatches;
    expect(patch).toMatchObject({ op: 'add', path: '/l2LoadBalancer/internal/heartbeatKey' });
    expect(Buffer.from(String(patch!.value), 'base64')).toHaveLength(32);
    expect(secretOps(run.patches)).toEqual([{ op: 'CreateIfNotExists', key: patch!.value }]);
  });

  it('after a restart of addon-operator (values without the key) takes the key from the Secret and leaves the Secret alone', () => {
    const run = runHookExecutable(HOOK, withSecret({ key: KEY_A }), { values: values() });
    expect(run.valuesPatches).toEqual([
      { op: 'add', path: '/l2LoadBalancer/internal/heartbeatKey', value: KEY_A },
    ]);
    expect(secretOps(run.patches)).toEqual([]);
  });

  it('writes nothing about the key when the values and the Secret agree', () => {
    const run = runHookExecutable(HOOK, withSecret({ key: KEY_A }), { values: values(KEY_A) });
    expect(run.valuesPatches).toEqual([]);
    expect(secretOps(run.patches)).toEqual([]);
  });

  it('puts a deleted Secret back with the key of the values, so running speakers keep theirs', () => {
    const run = runHookExecutable(HOOK, withSecret('none'), { values: values(KEY_A) });
    expect(run.valuesPatches).toEqual([]);
    expect(secretOps(run.patches)).toEqual([{ op: 'CreateIfNotExists', key: KEY_A }]);
  });

  it('the Secret wins over the values when both hold a valid key: the values follow it', () => {
    const run = runHookExecutable(HOOK, withSecret({ key: KEY_B }), { values: values(KEY_A) });
    expect(run.valuesPatches).toEqual([
      { op: 'add', path: '/l2LoadBalancer/internal/heartbeatKey', value: KEY_B },
    ]);
    expect(secretOps(run.patches)).toEqual([]);
  });

  it('replaces a Secret without a usable key (none, too short, not base64) with the key of the values', () => {
    for (const key of [null, Buffer.alloc(16, 1).toString('base64'), 'not base64!']) {
      const run = runHookExecutable(HOOK, withSecret({ key }), { values: values(KEY_A) });
      expect(secretOps(run.patches)).toEqual([{ op: 'CreateOrUpdate', key: KEY_A }]);
      expect(run.valuesPatches).toEqual([]);
    }
  });

  it('every values patch it writes leaves values that pass openapi/values.yaml, as addon-operator checks them after the run', () => {
    const states: Array<[BindingContext[], ReturnType<typeof values>]> = [
      [withSecret('none'), values()],
      [withSecret({ key: KEY_A }), values()],
      [withSecret({ key: KEY_B }), values(KEY_A)],
      [withSecret({ key: null }), values()],
      [withSecret({ key: 'short' }), values(KEY_A)],
      [context(['ipaddresspools.metallb.io'], pools), values()],
    ];
    let patched = 0;
    for (const [ctx, v] of states) {
      const run = runHookExecutable(HOOK, ctx, { values: v });
      expect(run.exitCode).toBe(0);
      patched += run.valuesPatches.length;
      for (const op of run.valuesPatches) expect(op.path.startsWith('/l2LoadBalancer/internal/')).toBe(true);
      const after = applyPatch(v, run.valuesPatches);
      expect(parseValues(after.l2LoadBalancer, 'l2LoadBalancer')).toMatchObject({ ok: true });
    }
    expect(patched).toBe(7);
  });

  it('keeps the valid pools and whether MetalLB is installed in internal values, patching only what changed', () => {
    const [ctx] = context(['ipaddresspools.metallb.io'], pools);
    const withKey: BindingContext[] = [
      { ...ctx!, snapshots: { ...ctx!.snapshots, heartbeat_key: [{ filterResult: { key: KEY_A } }] } },
    ];
    const first = runHookExecutable(HOOK, withKey, { values: values(KEY_A) });
    expect(first.valuesPatches).toEqual([
      {
        op: 'add',
        path: '/l2LoadBalancer/internal/pools',
        value: [{ name: 'public', addressPool: ['192.0.2.0/28'] }],
      },
      { op: 'add', path: '/l2LoadBalancer/internal/metallbCRDsPresent', value: true },
    ]);
    const after = applyPatch(values(KEY_A), first.valuesPatches);
    expect(parseValues(after.l2LoadBalancer, 'l2LoadBalancer')).toMatchObject({ ok: true });
    const again = runHookExecutable(HOOK, withKey, { values: after });
    expect(again.valuesPatches).toEqual([]);
  });

  it('openapi/values.yaml refuses a key shorter than 32 bytes or not base64, naming the field', () => {
    for (const bad of [Buffer.alloc(31, 7).toString('base64'), `${KEY_A.slice(0, -1)}!`, 42]) {
      const v = values();
      (v.l2LoadBalancer.internal as Record<string, unknown>).heartbeatKey = bad;
      const parsed = parseValues(v.l2LoadBalancer, 'l2LoadBalancer');
      expect(parsed.ok).toBe(false);
      expect(parsed.ok ? '' : parsed.errors.join('\n')).toContain('l2LoadBalancer.internal.heartbeatKey');
    }
    const ok = values(KEY_A);
    expect(parseValues(ok.l2LoadBalancer, 'l2LoadBalancer').ok).toBe(true);
  });

  it('under plain shell-operator (no values) writes no values patch and creates the Secret once with a fresh key', () => {
    const run = runHookExecutable(HOOK, context([], []), { env: { L2LB_STANDALONE: 'true' } });
    expect(run.exitCode).toBe(0);
    expect(run.valuesPatches).toEqual([]);
    const [secret] = secretOps(run.patches);
    expect(secret?.op).toBe('CreateIfNotExists');
    expect(Buffer.from(secret!.key, 'base64')).toHaveLength(32);
  });

  it('watches the Secret only under addon-operator (the standalone hooks may read no Secret)', () => {
    const bindings = (env: Record<string, string>): string[] =>
      (
        JSON.parse(
          spawnSync(HOOK, ['--config'], { encoding: 'utf8', env: { ...process.env, ...env } }).stdout,
        ) as {
          kubernetes: Array<{ name: string }>;
        }
      ).kubernetes.map((b) => b.name);
    expect(bindings({})).toContain('heartbeat_key');
    expect(bindings({ L2LB_STANDALONE: 'true' })).not.toContain('heartbeat_key');
  });
});
