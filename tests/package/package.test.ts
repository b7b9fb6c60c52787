// The shipped module directory (`npm run package`): its hooks run where there is no Node.js, as in
// addon-operator's container, and answer exactly as the dist/ bundles the other hook tests run.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { reconcileConfig } from '../../lib/controller/bindings';
import type { HookConfig } from '../../lib/sdk/binding';
import type { PatchOperation } from '../../lib/sdk/output';
import { groupContext, runHookExecutable, type HookRun } from '../../lib/sdk/simulate';
import { DASHBOARD_FILE, dashboardJson, grafanaDashboardDefinition } from '../../templates/dashboard';
import { VERSION } from '../../templates/images';
import { fixture, ROOT } from '../support/hook-harness';

jest.setTimeout(300_000);

const PACKAGE = join(ROOT, 'dist', 'package', 'l2-load-balancer');
const PACKAGED_HOOKS = join(PACKAGE, 'hooks');
const BUNDLED_HOOKS = join(ROOT, 'dist', 'module', 'hooks');
const HOOK_NAMES = readdirSync(join(ROOT, 'hooks'))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => basename(f, '.ts'))
  .sort();

/** A PATH holding only `sh`: whatever the hooks need beyond it, they must carry. */
let barePath = '';

beforeAll(() => {
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'package.mjs')], {
    stdio: 'inherit',
    timeout: 240_000,
  });
  barePath = mkdtempSync(join(tmpdir(), 'l2lb-bare-path-'));
  symlinkSync('/bin/sh', join(barePath, 'sh'));
});

afterAll(() => {
  if (barePath !== '') rmSync(barePath, { recursive: true, force: true });
});

/** The environment of a run with nothing from ours but `env`: no node anywhere on PATH. */
function bareEnv(env: Record<string, string> = {}): Record<string, string> {
  return { PATH: barePath, ...env };
}

/**
 * Timestamps are the run's clock, and an Event's name is hashed from its time: the same run at two
 * instants differs only there.
 */
function withoutTimes<T>(value: T): T {
  return JSON.parse(
    JSON.stringify(value)
      .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
      .replace(/"name":"([^"]+)\.[0-9a-f]{10}"/g, '"name":"$1.<hash>"'),
  ) as T;
}

/** The kind a patch operation writes, whether it carries the object or names it. */
function kindOf(p: PatchOperation): string {
  return 'object' in p ? p.object.kind : p.kind;
}

/** The heartbeat key is drawn at random in every run: two runs differ there and must nowhere else. */
function withoutRandomKeys<T>(value: T): T {
  return JSON.parse(
    JSON.stringify(value).replace(/"data":\{"key":"[A-Za-z0-9+/=]{44,}"\}/g, '"data":{"key":"<random>"}'),
  ) as T;
}

function outputs(run: HookRun): Pick<HookRun, 'exitCode' | 'patches' | 'metrics'> {
  return withoutRandomKeys(
    withoutTimes({ exitCode: run.exitCode, patches: run.patches, metrics: run.metrics }),
  );
}

const WEB = fixture('web-three-ips.yaml');

describe('npm run package', () => {
  it('lays out the module directory: module.yaml, openapi, crds, docs, and one sh entry per hook', () => {
    for (const p of [
      'module.yaml',
      'openapi/config-values.yaml',
      'openapi/values.yaml',
      // What Deckhouse's documentation reads beside them, and the settings cases of its tests.
      'openapi/doc-ru-config-values.yaml',
      'openapi/openapi-case-tests.yaml',
      'crds/doc-ru-l2loadbalancer.yaml',
      'docs/README.md',
      'docs/README_RU.md',
      'docs/CONFIGURATION_RU.md',
    ]) {
      expect(existsSync(join(PACKAGE, p))).toBe(true);
    }
    // The version a user can name, the one `l2lb --version` prints.
    expect(readFileSync(join(PACKAGE, 'VERSION'), 'utf8')).toBe(`${VERSION}\n`);
    expect(readdirSync(join(PACKAGE, 'crds')).sort()).toEqual(
      readdirSync(join(ROOT, 'crds'))
        .filter((f) => f.endsWith('.yaml'))
        .sort(),
    );
    expect(readdirSync(PACKAGED_HOOKS).sort()).toEqual([...HOOK_NAMES, 'lib'].sort());
    expect(readdirSync(join(PACKAGED_HOOKS, 'lib'))).toEqual(['l2lb-hooks']);
    for (const hook of HOOK_NAMES) {
      const entry = join(PACKAGED_HOOKS, hook);
      accessSync(entry, constants.X_OK);
      expect(readFileSync(entry, 'utf8')).toMatch(/^#!\/bin\/sh\n/);
      expect(readFileSync(entry, 'utf8')).toContain(`exec "$dir/lib/l2lb-hooks" ${hook} "$@"`);
    }
  });

  it('ships the dashboard of templates/dashboard.ts where Deckhouse modules keep dashboards', () => {
    expect(readFileSync(join(PACKAGE, DASHBOARD_FILE), 'utf8')).toBe(dashboardJson());
    // What helm_lib makes of that file is what the hooks apply under Deckhouse.
    const definition = grafanaDashboardDefinition(DASHBOARD_FILE);
    expect((definition.spec as { definition: string }).definition).toBe(
      readFileSync(join(PACKAGE, DASHBOARD_FILE), 'utf8'),
    );
  });

  it('puts every hook into one native executable, not a script for some interpreter on PATH', () => {
    const binary = join(PACKAGED_HOOKS, 'lib', 'l2lb-hooks');
    accessSync(binary, constants.X_OK);
    expect(readFileSync(binary).subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46])); // ELF
    expect(statSync(binary).size).toBeGreaterThan(10 * 2 ** 20);
    const r = spawnSync(binary, ['--list'], { env: bareEnv(), encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(HOOK_NAMES);
  });

  it('refuses a hook name it does not carry, naming the ones it does', () => {
    const r = spawnSync(join(PACKAGED_HOOKS, 'lib', 'l2lb-hooks'), ['nope'], {
      env: bareEnv(),
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown hook "nope"');
    expect(r.stderr).toContain('reconcile');
  });
});

describe('the packaged hooks, with no node on PATH', () => {
  it('has no node on the PATH the hooks get', () => {
    const r = spawnSync('/bin/sh', ['-c', 'command -v node || echo none'], {
      env: bareEnv(),
      encoding: 'utf8',
    });
    expect(r.stdout.trim()).toBe('none');
    // And the dist bundle indeed needs one: the environment is a real test of the package.
    const bundled = runHookExecutable(join(BUNDLED_HOOKS, 'reconcile'), '[]', { env: bareEnv() });
    expect(bundled.exitCode).not.toBe(0);
  });

  it.each(HOOK_NAMES.map((h) => [h]))('%s answers --config as its dist bundle does', (hook) => {
    for (const standalone of ['true', 'false']) {
      const env = bareEnv({ L2LB_STANDALONE: standalone });
      const packaged = spawnSync(join(PACKAGED_HOOKS, hook), ['--config'], { env, encoding: 'utf8' });
      const bundled = spawnSync(join(BUNDLED_HOOKS, hook), ['--config'], {
        env: { ...env, PATH: process.env.PATH ?? '' },
        encoding: 'utf8',
      });
      expect(packaged.stderr).toBe('');
      expect(packaged.status).toBe(0);
      const config = JSON.parse(packaged.stdout) as HookConfig;
      expect(config.configVersion).toBe('v1');
      expect(config).toEqual(JSON.parse(bundled.stdout));
    }
  });

  it('reconcile gives a Service its three addresses, patch for patch as the dist bundle does', () => {
    const contexts = groupContext(reconcileConfig, [...fixture('three-frontends.yaml'), ...WEB]);
    const values = { l2LoadBalancer: {} };
    const packaged = runHookExecutable(join(PACKAGED_HOOKS, 'reconcile'), contexts, {
      values,
      env: bareEnv(),
    });
    const bundled = runHookExecutable(join(BUNDLED_HOOKS, 'reconcile'), contexts, { values });
    expect(packaged.stderr).not.toContain('"level":"error"');
    expect(packaged.exitCode).toBe(0);
    const status = packaged.patches.find(
      (p) => kindOf(p) === 'Service' && 'subresource' in p && p.subresource === 'status',
    );
    expect(JSON.stringify(status)).toContain(
      '"ingress":[{"ip":"192.0.2.1"},{"ip":"192.0.2.2"},{"ip":"192.0.2.3"}]',
    );
    expect(packaged.patches.filter((p) => kindOf(p) === 'L2LBService')).toHaveLength(3);
    expect(packaged.metrics.length).toBeGreaterThan(0);
    expect(outputs(packaged)).toEqual(outputs(bundled));
  });

  it('module_objects applies the standalone objects as the dist bundle does', () => {
    const hookConfig = JSON.parse(
      execFileSync(join(BUNDLED_HOOKS, 'module_objects'), ['--config'], {
        env: { ...process.env, L2LB_STANDALONE: 'true' },
        encoding: 'utf8',
      }),
    ) as HookConfig;
    const contexts = groupContext(hookConfig, fixture('three-frontends.yaml'));
    const env = { L2LB_STANDALONE: 'true', L2LB_SPEAKER_IMAGE: 'registry.example/l2lb-speaker:v1' };
    const packaged = runHookExecutable(join(PACKAGED_HOOKS, 'module_objects'), contexts, {
      env: bareEnv(env),
    });
    const bundled = runHookExecutable(join(BUNDLED_HOOKS, 'module_objects'), contexts, { env });
    expect(packaged.exitCode).toBe(0);
    expect(packaged.patches.some((p) => kindOf(p) === 'DaemonSet')).toBe(true);
    // Each run draws its own key, so the two keys differ; everything else is the same.
    const keyOf = (run: HookRun): unknown =>
      run.patches.flatMap((p) => ('object' in p && p.object.kind === 'Secret' ? [p.object.data] : []))[0];
    expect(keyOf(packaged)).toBeDefined();
    expect(keyOf(packaged)).not.toEqual(keyOf(bundled));
    expect(outputs(packaged)).toEqual(outputs(bundled));
  });

  it('fails a run on a broken binding context as the dist bundle does: exit 1, nothing written', () => {
    const packaged = runHookExecutable(join(PACKAGED_HOOKS, 'reconcile'), '{not json', { env: bareEnv() });
    expect(packaged.exitCode).toBe(1);
    expect(packaged.patches).toEqual([]);
    expect(packaged.stderr).toContain('"level":"error"');
  });
});
