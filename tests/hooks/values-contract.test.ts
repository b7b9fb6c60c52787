// Where the hooks find their settings (docs/ARCHITECTURE.md §2.1): addon-operator's values (settings plus
// `internal`, defaults applied) under Deckhouse, the settings ConfigMap under plain shell-operator.
// Both built hooks run as executables on the same cluster in both shapes.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dump, load } from 'js-yaml';
import { reconcileConfig } from '../../lib/controller/bindings';
import { MODULE_NAMESPACE } from '../../lib/model';
import type { HookConfig } from '../../lib/sdk/binding';
import { groupContext, runHookExecutable, type ClusterObject, type HookRun } from '../../lib/sdk/simulate';
import { ROOT, RECONCILE_HOOK, changes, fixture, yamlObjects } from '../support/hook-harness';

const MODULE_OBJECTS_HOOK = join(ROOT, 'dist', 'module', 'hooks', 'module_objects');

type Values = { global: Record<string, unknown>; l2LoadBalancer: Record<string, unknown> };
const freshValues = (): Values =>
  load(readFileSync(join(ROOT, 'tests/fixtures/values/addon-operator-fresh.yaml'), 'utf8')) as Values;

/** addon-operator's values with `settings` set by the user (the defaults of what is left stay). */
function addonOperatorValues(settings: Record<string, unknown>): Values {
  const values = freshValues();
  return { ...values, l2LoadBalancer: { ...values.l2LoadBalancer, ...settings } };
}

function settingsConfigMap(settings: Record<string, unknown> | string): ClusterObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'l2-load-balancer-settings', namespace: MODULE_NAMESPACE },
    data: { 'settings.yaml': typeof settings === 'string' ? settings : dump(settings) },
  };
}

/** The README's cluster, its L2LoadBalancer the default one, and a Service that only names the class. */
const cluster = (): ClusterObject[] => [
  ...fixture('three-frontends.yaml').map((o) =>
    o.kind === 'L2LoadBalancer' ? { ...o, spec: { ...(o.spec as object), isDefault: true } } : o,
  ),
  ...fixture('web-three-ips.yaml'),
  ...yamlObjects(`
apiVersion: v1
kind: Service
metadata:
  name: api
  namespace: shop
  uid: uid-api
  creationTimestamp: '2026-11-02T09:05:00Z'
  annotations:
    network.deckhouse.io/l2-load-balancer-external-ips-count: '2'
spec:
  type: LoadBalancer
  loadBalancerClass: l2-load-balancer.network.deckhouse.io/default
  clusterIP: 10.0.0.11
  selector: { app: api }
  ports: [{ name: http, port: 80, targetPort: 8080, protocol: TCP }]
`),
];

const underAddonOperator = (
  hook: string,
  config: HookConfig,
  objects: ClusterObject[],
  values: unknown,
): HookRun => runHookExecutable(hook, groupContext(config, objects), { values });
const underShellOperator = (hook: string, config: HookConfig, objects: ClusterObject[]): HookRun =>
  runHookExecutable(hook, groupContext(config, objects), { env: { L2LB_STANDALONE: 'true' } });

/**
 * Patches with the run's own clock taken out (timestamps, and Event names, which hash the time),
 * so two runs of the same state compare equal.
 */
const timeless = (run: HookRun): unknown =>
  run.patches.map((p) => {
    const text = JSON.stringify(p).replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, 'T');
    const copy = JSON.parse(text) as typeof p;
    if ('object' in copy && copy.object.kind === 'Event') copy.object.metadata.name = 'event';
    return copy;
  });

/** The errors the hook logged (its stderr is one JSON object per line). */
const loggedErrors = (run: HookRun): string =>
  run.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => (JSON.parse(l) as { errors?: string[] }).errors ?? [])
    .join('\n');

const hookConfig = (hook: string): HookConfig =>
  JSON.parse(spawnSync(hook, ['--config'], { encoding: 'utf8' }).stdout) as HookConfig;

const SETTINGS = {
  loadBalancerClass: 'l2-load-balancer.network.deckhouse.io/default',
  maxExternalIPsPerService: 4,
  speaker: { logLevel: 'Debug', leaseDurationSeconds: 5, renewIntervalSeconds: 2 },
};

describe('values contract: the settings as addon-operator hands them', () => {
  it('reconciles with the values of a fresh install, internal included', () => {
    const run = underAddonOperator(RECONCILE_HOOK, reconcileConfig, cluster(), freshValues());
    expect(run.exitCode).toBe(0);
    expect(run.stderr).not.toContain('settings are invalid');
    const children = changes(run.patches).filter((p) => 'object' in p && p.object.kind === 'L2LBService');
    expect(children).toHaveLength(3);
  });

  it('applies the module objects with the values of a fresh install, internal included', () => {
    const run = underAddonOperator(
      MODULE_OBJECTS_HOOK,
      hookConfig(MODULE_OBJECTS_HOOK),
      cluster(),
      freshValues(),
    );
    expect(run.exitCode).toBe(0);
    expect(run.patches.map((p) => ('object' in p ? p.object.kind : ''))).toEqual(
      expect.arrayContaining(['Namespace', 'DaemonSet']),
    );
  });

  it('reads the settings inside the values: loadBalancerClass picks up the unannotated Service', () => {
    const run = underAddonOperator(RECONCILE_HOOK, reconcileConfig, cluster(), addonOperatorValues(SETTINGS));
    const parents = changes(run.patches).flatMap((p) =>
      'object' in p && p.object.kind === 'L2LBService'
        ? [p.object.metadata.labels?.['network.deckhouse.io/parent-service']]
        : [],
    );
    expect(parents.filter((s) => s === 'api')).toHaveLength(2);
  });
});

describe('values contract: both engines give the same plan', () => {
  it('plans the same patches from addon-operator values and from the standalone settings ConfigMap', () => {
    const fromValues = underAddonOperator(
      RECONCILE_HOOK,
      reconcileConfig,
      cluster(),
      addonOperatorValues(SETTINGS),
    );
    const fromConfigMap = underShellOperator(RECONCILE_HOOK, reconcileConfig, [
      ...cluster(),
      settingsConfigMap(SETTINGS),
    ]);
    expect(fromValues.exitCode).toBe(0);
    expect(fromConfigMap.exitCode).toBe(0);
    expect(changes(fromValues.patches).length).toBeGreaterThan(0);
    expect(timeless(fromConfigMap)).toEqual(timeless(fromValues));
  });

  it('renders the same module objects from both', () => {
    const config = hookConfig(MODULE_OBJECTS_HOOK);
    const fromValues = underAddonOperator(
      MODULE_OBJECTS_HOOK,
      config,
      cluster(),
      addonOperatorValues(SETTINGS),
    );
    const fromConfigMap = underShellOperator(MODULE_OBJECTS_HOOK, config, [
      ...cluster(),
      settingsConfigMap(SETTINGS),
    ]);
    const daemonSet = (run: HookRun): unknown =>
      run.patches.find((p) => 'object' in p && p.object.kind === 'DaemonSet');
    expect(JSON.stringify(daemonSet(fromValues))).toContain('Debug');
    expect(daemonSet(fromConfigMap)).toEqual(daemonSet(fromValues));
  });
});

describe('values contract: values a hook cannot use change nothing and name the field', () => {
  const refusals: Array<[string, Values, string]> = [
    [
      'an unknown setting',
      addonOperatorValues({ speaker: { ...(freshValues().l2LoadBalancer.speaker as object), garpCount: 3 } }),
      'l2LoadBalancer.speaker.garpCount is not a known field',
    ],
    [
      'a setting of the wrong type',
      addonOperatorValues({ maxExternalIPsPerService: 'many' }),
      'l2LoadBalancer.maxExternalIPsPerService must be an integer, got "many"',
    ],
    [
      'an internal value of the wrong shape',
      addonOperatorValues({ internal: { pools: 'public', metallbCRDsPresent: false } }),
      'l2LoadBalancer.internal.pools must be an array, got "public"',
    ],
    [
      'an unknown internal value',
      addonOperatorValues({ internal: { pools: [], metallbCRDsPresent: false, leader: 'frontend-1' } }),
      'l2LoadBalancer.internal.leader is not a known field',
    ],
    [
      'settings that break a rule across fields',
      addonOperatorValues({ speaker: { leaseDurationSeconds: 3, renewIntervalSeconds: 3 } }),
      'l2LoadBalancer.speaker.renewIntervalSeconds must be less than speaker.leaseDurationSeconds',
    ],
    [
      'values under another module name',
      { global: freshValues().global, l2LoadBalancerr: freshValues().l2LoadBalancer } as unknown as Values,
      'values have no l2LoadBalancer key (found: global, l2LoadBalancerr)',
    ],
  ];

  it.each(refusals)(
    '%s: the reconcile hook writes nothing and says which field',
    (_what, values, message) => {
      const run = underAddonOperator(RECONCILE_HOOK, reconcileConfig, cluster(), values);
      expect(run.exitCode).toBe(0);
      expect(run.patches).toEqual([]);
      expect(loggedErrors(run)).toContain(message);
    },
  );

  it.each(refusals)(
    '%s: the module objects hook writes nothing and says which field',
    (_what, values, message) => {
      const run = underAddonOperator(MODULE_OBJECTS_HOOK, hookConfig(MODULE_OBJECTS_HOOK), cluster(), values);
      expect(run.exitCode).toBe(0);
      expect(run.patches).toEqual([]);
      expect(loggedErrors(run)).toContain(message);
    },
  );

  it('a settings ConfigMap that is not YAML changes nothing and names the ConfigMap', () => {
    const run = underShellOperator(RECONCILE_HOOK, reconcileConfig, [
      ...cluster(),
      settingsConfigMap('speaker: {logLevel: Debug\n'),
    ]);
    expect(run.exitCode).toBe(0);
    expect(run.patches).toEqual([]);
    expect(loggedErrors(run)).toContain(
      `ConfigMap ${MODULE_NAMESPACE}/l2-load-balancer-settings key settings.yaml is not valid YAML`,
    );
  });

  it('a settings ConfigMap with an unknown field changes nothing and names the field', () => {
    const run = underShellOperator(RECONCILE_HOOK, reconcileConfig, [
      ...cluster(),
      settingsConfigMap({ speaker: { garpCount: 3 } }),
    ]);
    expect(run.patches).toEqual([]);
    expect(loggedErrors(run)).toContain('speaker.garpCount is not a known field');
  });
});
