// Upgrades without losing addresses, on a real API server with a real shell-operator: once three
// Services hold their addresses, changing the settings, replacing the hooks by a new version (the
// packaged single-executable hooks of `npm run package` in place of the dist bundles), and disabling
// then re-enabling the module leave every Service's addresses and every L2LBService as they were —
// checked after each step, and through a watch for every moment in between.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startShellOperator, type ShellOperator } from '../../testbed/control-plane';
import { ROOT } from '../support/hook-harness';
import { IngressRecorder, ModuleCluster, type ServiceSpec } from '../../testbed/module';

jest.setTimeout(300_000);

const FRONTEND = { 'node-role.kubernetes.io/frontend': '' };
const SERVICES: ServiceSpec[] = [
  { namespace: 'shop', name: 'web', l2lb: 'public', count: 3 },
  { namespace: 'shop', name: 'api', l2lb: 'public', count: 'all' },
  { namespace: 'shop', name: 'pinned', l2lb: 'public', count: 1, ips: ['192.0.2.10'] },
];

let m: ModuleCluster | undefined;
let recorder: IngressRecorder | undefined;
let packaged: ShellOperator | undefined;
/** A copy of the packaged hooks, so a parallel `npm run package` cannot swap them mid-test. */
let packagedHooks = '';

function cluster(): ModuleCluster {
  if (m === undefined) throw new Error('the module cluster did not start');
  return m;
}

/** Every Service's ingress, and every L2LBService's address and uid (a recreated object has a new one). */
async function addresses(): Promise<{
  ingress: Record<string, string[]>;
  l2lbServices: Record<string, string>;
}> {
  const c = cluster();
  const ingress: Record<string, string[]> = {};
  for (const s of SERVICES) ingress[s.name] = await c.ingress('shop', s.name);
  const l2lbServices: Record<string, string> = {};
  for (const o of await c.l2lbServices('shop')) {
    l2lbServices[o.metadata.name] = `${o.spec.loadBalancerIP ?? ''} uid=${o.metadata.uid ?? ''}`;
  }
  return { ingress, l2lbServices };
}

/**
 * Waits for a full run of the control loop (its 15-second schedule) that `lines` (shell-operator's
 * log) shows after position `mark`.
 */
async function untilFullRun(lines: () => string[], mark: number): Promise<void> {
  const ran = (l: string): boolean =>
    l.includes('Hook executed successfully') && l.includes('"binding":"rerank"');
  await cluster().until(
    'a full run of the control loop',
    async () => (lines().slice(mark).some(ran) ? true : undefined),
    45_000,
  );
}

let baseline: Awaited<ReturnType<typeof addresses>>;

beforeAll(async () => {
  // The "new version" of the hooks: the packaged module of this source tree.
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'package.mjs')], {
    stdio: 'inherit',
    timeout: 240_000,
  });
  packagedHooks = join(mkdtempSync(join(tmpdir(), 'l2lb-upgrade-')), 'hooks');
  cpSync(join(ROOT, 'dist', 'package', 'l2-load-balancer', 'hooks'), packagedHooks, { recursive: true });
  m = await ModuleCluster.start({ settings: {} });
  recorder = await IngressRecorder.start(m.cp);
  for (const name of ['frontend-1', 'frontend-2', 'frontend-3'])
    await m.createNode({ name, labels: FRONTEND });
  await m.createL2LoadBalancer('public', { addressPool: ['192.0.2.0/28'], nodeSelector: FRONTEND });
  for (const s of SERVICES) await m.createService(s);
  for (const s of SERVICES)
    await m.untilAssigned('shop', s.name, s.count === 'all' ? 3 : Number(s.count), 60_000);
  await untilFullRun(() => cluster().hookLogs(), 0);
  baseline = await addresses();
}, 300_000);

afterAll(async () => {
  recorder?.stop();
  await packaged?.stop();
  await m?.stop();
  if (packagedHooks !== '') rmSync(join(packagedHooks, '..'), { recursive: true, force: true });
});

test('the Services start with their addresses: three, one per node, and the pinned one', () => {
  expect(baseline.ingress.web).toHaveLength(3);
  expect(baseline.ingress.api).toHaveLength(3);
  expect(baseline.ingress.pinned).toEqual(['192.0.2.10']);
  expect(Object.keys(baseline.l2lbServices)).toHaveLength(7);
});

test('changing the settings keeps every address, also a maxExternalIPsPerService lowered to the largest count', async () => {
  const c = cluster();
  for (const settings of [
    // Not below 3: `count: all` is capped at the maximum, which would release api's third address.
    { rebalance: { mode: 'Never' }, maxExternalIPsPerService: 3 },
    {
      rebalance: { mode: 'Gradual', minNodeReadySeconds: 0, maxMovesPerRun: 5 },
      maxExternalIPsPerService: 16,
    },
  ]) {
    const mark = c.hookLogs().length;
    await c.setSettings(settings);
    await untilFullRun(() => c.hookLogs(), mark);
    expect({ settings, ...(await addresses()) }).toEqual({ settings, ...baseline });
  }
});

test('upgrading the hooks to a new version keeps every address', async () => {
  const c = cluster();
  await c.stopHooks();
  packaged = await startShellOperator({
    kubeconfigPath: c.kubeconfigPath,
    hooksDir: packagedHooks,
    env: { L2LB_STANDALONE: 'true' },
  });
  const op = packaged;
  await untilFullRun(() => op.logs(), 0);
  expect(op.logs().filter((l) => l.includes('"level":"error"'))).toEqual([]);
  expect(await addresses()).toEqual(baseline);
  // And back: a downgrade is an upgrade too.
  await op.stop();
  packaged = undefined;
  const mark = c.hookLogs().length;
  await c.startHooks();
  await untilFullRun(() => c.hookLogs(), mark);
  expect(await addresses()).toEqual(baseline);
});

test('disabling the module and enabling it again keeps every address', async () => {
  const c = cluster();
  await c.stopHooks();
  // Disabled for longer than a schedule period: nothing runs, nothing changes.
  await new Promise((r) => setTimeout(r, 16_000));
  expect(await addresses()).toEqual(baseline);
  const mark = c.hookLogs().length;
  await c.startHooks();
  await untilFullRun(() => c.hookLogs(), mark);
  expect(await addresses()).toEqual(baseline);
});

test('no Service lost or swapped an address at any moment, and no hook run failed', () => {
  expect(recorder?.watchErrors).toEqual([]);
  expect(recorder?.losses()).toEqual([]);
  expect(cluster().hookErrors()).toEqual([]);
});
