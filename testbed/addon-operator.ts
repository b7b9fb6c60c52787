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
import { cpSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
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

/** The data of the ConfigMap `addon-operator` for this module. */
export function addonOperatorConfigMapData(config: AddonOperatorModuleConfig): Record<string, string> {
  return {
    [VALUES_KEY]: dumpYaml(config.settings),
    [`${VALUES_KEY}Enabled`]: String(config.enabled),
  };
}

/** Creates or replaces the ConfigMap `addon-operator` (its namespace must exist). */
export async function writeAddonOperatorConfig(
  cp: Pick<ControlPlane, 'request'>,
  config: AddonOperatorModuleConfig,
): Promise<void> {
  const path = `/api/v1/namespaces/${ADDON_OPERATOR_NAMESPACE}/configmaps`;
  const body = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: ADDON_OPERATOR_CONFIGMAP, namespace: ADDON_OPERATOR_NAMESPACE },
    data: addonOperatorConfigMapData(config),
  };
  try {
    await cp.request('POST', path, body);
  } catch (err) {
    if (!(err instanceof KubeApiError && err.code === 409)) throw err;
    await cp.request('PUT', `${path}/${ADDON_OPERATOR_CONFIGMAP}`, body);
  }
}

/** The module's weight from module.yaml: its order among modules, and the `NNN-` of its directory. */
function moduleWeight(): number {
  const meta = loadYaml(readFileSync(join(REPO_ROOT, 'module.yaml'), 'utf8')) as { weight?: unknown };
  return typeof meta.weight === 'number' ? meta.weight : 100;
}

/**
 * A MODULES_DIR under `scratch` holding a private copy of the packaged module as
 * `<weight>-l2-load-balancer` (a rebuild of dist/ while addon-operator runs changes nothing under
 * it). Packages the module first when there is no package yet.
 */
export function prepareModulesDir(scratch: string): string {
  if (!existsSync(join(PACKAGE_DIR, 'hooks', 'reconcile'))) {
    execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'package.mjs')], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: 10 * 60_000,
    });
  }
  const modulesDir = join(scratch, 'modules');
  mkdirSync(modulesDir, { recursive: true });
  cpSync(PACKAGE_DIR, join(modulesDir, `${moduleWeight()}-${MODULE_NAME}`), { recursive: true });
  return modulesDir;
}
