// The module under addon-operator, the engine Deckhouse runs it with: the packaged module directory
// (`npm run package`, dist/package/l2-load-balancer) in a MODULES_DIR as `NNN-l2-load-balancer`, its
// config in the ConfigMap `addon-operator` of addon-operator's namespace (keys `l2LoadBalancer`:
// settings as YAML text, `l2LoadBalancerEnabled`: "true"|"false"), as addon-operator reads it
// outside Deckhouse (docs/src/VALUES.md of the Go module).
//
// Under Deckhouse, deckhouse-controller turns ModuleConfig `l2-load-balancer` into that module
// config; here `moduleConfigToAddonOperatorConfig` stands in for it (only spec.enabled and
// spec.settings; no conversions between settings versions, no module sources or releases).
//
// addon-operator runs a module without a Helm chart: a module directory with neither Chart.yaml nor
// templates/ is "not a helm chart" (pkg/module_manager/models/modules/helm.go, NewHelmModule), so
// no release is installed and disabling runs only the afterDeleteHelm hooks, where the module's
// objects are removed (hooks/module_objects.ts).
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { dump as dumpYaml, load as loadYaml } from 'js-yaml';
import { KubeApiError, type ControlPlane } from './control-plane';

const REPO_ROOT = resolve(__dirname, '..');
export const MODULE_NAME = 'l2-load-balancer';
/** The values key: the module name in camelCase. */
export const VALUES_KEY = 'l2LoadBalancer';
/** Where Deckhouse runs addon-operator (deckhouse-controller), and so where its ConfigMap lives. */
export const ADDON_OPERATOR_NAMESPACE = 'd8-system';
export const ADDON_OPERATOR_CONFIGMAP = 'addon-operator';
export const PACKAGE_DIR = join(REPO_ROOT, 'dist', 'package', MODULE_NAME);

/** The module config addon-operator reads: the settings and whether the module is on. */
export interface AddonOperatorModuleConfig {
  settings: Record<string, unknown>;
  enabled: boolean;
}

/**
 * What deckhouse-controller derives from a ModuleConfig (`deckhouse.io/v1alpha1`) for addon-operator:
 * `spec.settings` and `spec.enabled` (absent = enabled: a ModuleConfig is written to turn a module on
 * or configure it). Errors name the field.
 */
export function moduleConfigToAddonOperatorConfig(doc: unknown): AddonOperatorModuleConfig {
  const o = doc as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown }; spec?: unknown };
  if (o?.kind !== 'ModuleConfig')
    throw new Error(`kind must be ModuleConfig, got ${JSON.stringify(o?.kind)}`);
  if (o.metadata?.name !== MODULE_NAME) {
    throw new Error(`metadata.name must be ${MODULE_NAME}, got ${JSON.stringify(o.metadata?.name)}`);
  }
  const spec = (o.spec ?? {}) as { settings?: unknown; enabled?: unknown };
  if (spec.settings !== undefined && (typeof spec.settings !== 'object' || spec.settings === null)) {
    throw new Error('spec.settings must be an object');
  }
  if (spec.enabled !== undefined && typeof spec.enabled !== 'boolean') {
    throw new Error(`spec.enabled must be a boolean, got ${JSON.stringify(spec.enabled)}`);
  }
  return { settings: (spec.settings ?? {}) as Record<string, unknown>, enabled: spec.enabled ?? true };
}

/**
 * The data of the ConfigMap `addon-operator` for this module. `enabledRevision`, when given, goes
 * into the `global` section (see writeAddonOperatorConfig for why).
 */
export function addonOperatorConfigMapData(
  config: AddonOperatorModuleConfig,
  enabledRevision?: number,
): Record<string, string> {
  return {
    ...(enabledRevision === undefined
      ? {}
      : { global: dumpYaml({ [ENABLED_REVISION_KEY]: enabledRevision }) }),
    [VALUES_KEY]: dumpYaml(config.settings),
    [`${VALUES_KEY}Enabled`]: String(config.enabled),
  };
}

/**
 * The global value the stand-in for deckhouse-controller bumps whenever it flips the module's
 * enabled flag. addon-operator's ConfigMap backend (the only config backend of the addon-operator
 * binary) sends every ConfigMap change as one batch, and its handler
 * (pkg/kube_config_manager/kube_config_manager.go, handleBatchConfigEvent, v1.19.0 and v1.24.4 alike)
 * notices a changed `<module>Enabled` (it logs "Module section changed. Enabled flag transition") but
 * fires an event only when a values checksum changed, and a module's checksum covers its values, not
 * its enabled flag (pkg/utils/module_config.go, Checksum). So a ConfigMap whose only change is
 * `l2LoadBalancerEnabled` disables nothing. Under Deckhouse the ModuleConfig backend sends one event
 * per module, and that handler (handleUpdateEvent) counts a flipped flag as a change. Changing the
 * global section makes addon-operator take the same path Deckhouse's event takes: it recalculates
 * which modules are enabled and runs ConvergeModules (ReloadAll), which deletes a module turned off
 * (ModuleDelete: afterDeleteHelm hooks) and runs one turned on. The module ignores `global`.
 */
export const ENABLED_REVISION_KEY = 'testbedModuleEnabledRevision';

/**
 * Creates or replaces the ConfigMap `addon-operator` (its namespace must exist). When the enabled
 * flag changes, the global section's ENABLED_REVISION_KEY is bumped with it, so that addon-operator
 * acts on the flag.
 */
export async function writeAddonOperatorConfig(
  cp: Pick<ControlPlane, 'request'>,
  config: AddonOperatorModuleConfig,
): Promise<void> {
  const path = `/api/v1/namespaces/${ADDON_OPERATOR_NAMESPACE}/configmaps`;
  const body = (data: Record<string, string>, resourceVersion?: string) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: ADDON_OPERATOR_CONFIGMAP,
      namespace: ADDON_OPERATOR_NAMESPACE,
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
    },
    data,
  });
  try {
    await cp.request('POST', path, body(addonOperatorConfigMapData(config)));
    return;
  } catch (err) {
    if (!(err instanceof KubeApiError && err.code === 409)) throw err;
  }
  const current = await cp.request<{ metadata: { resourceVersion?: string }; data?: Record<string, string> }>(
    'GET',
    `${path}/${ADDON_OPERATOR_CONFIGMAP}`,
  );
  const globalText = current.data?.global;
  const global = (globalText === undefined ? null : loadYaml(globalText)) as Record<string, unknown> | null;
  const revision = Number(global?.[ENABLED_REVISION_KEY] ?? 0);
  const flipped = current.data?.[`${VALUES_KEY}Enabled`] !== String(config.enabled);
  const data = addonOperatorConfigMapData(
    config,
    flipped ? revision + 1 : global?.[ENABLED_REVISION_KEY] === undefined ? undefined : revision,
  );
  // With the resourceVersion read: a concurrent writer makes this fail rather than be overwritten.
  await cp.request(
    'PUT',
    `${path}/${ADDON_OPERATOR_CONFIGMAP}`,
    body(data, current.metadata.resourceVersion),
  );
}

/** The module's weight from module.yaml: its order among modules, and the `NNN-` of its directory. */
function moduleWeight(): number {
  const meta = loadYaml(readFileSync(join(REPO_ROOT, 'module.yaml'), 'utf8')) as { weight?: unknown };
  return typeof meta.weight === 'number' ? meta.weight : 100;
}

/**
 * A MODULES_DIR under `scratch` holding a private copy of the packaged module as
 * `<weight>-l2-load-balancer` (a rebuild of dist/ while addon-operator runs changes nothing under
 * it). Packages the module first when there is no package yet. `extraHooks` (file name -> content)
 * are added to the copy's hooks/ as executables: hooks a test brings along, never the module's own.
 */
export function prepareModulesDir(scratch: string, extraHooks: Record<string, string> = {}): string {
  if (!existsSync(join(PACKAGE_DIR, 'hooks', 'reconcile'))) {
    execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'package.mjs')], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: 10 * 60_000,
    });
  }
  const modulesDir = join(scratch, 'modules');
  const moduleDir = join(modulesDir, `${moduleWeight()}-${MODULE_NAME}`);
  mkdirSync(modulesDir, { recursive: true });
  cpSync(PACKAGE_DIR, moduleDir, { recursive: true });
  for (const [name, content] of Object.entries(extraHooks)) {
    writeFileSync(join(moduleDir, 'hooks', name), content, { mode: 0o755 });
  }
  return modulesDir;
}
