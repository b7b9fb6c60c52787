// The same cluster under both engines gives the same plan (docs/ARCHITECTURE.md §2.1): examples/cluster.yaml with
// the settings of examples/module-config.yaml, once under plain shell-operator (settings in the
// module's ConfigMap) and once under addon-operator (settings in its ConfigMap, handed to the
// hooks as values with `internal` and the schemas' defaults). Every object exists before the
// engine starts, so each engine's first run sees the whole state.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load, loadAll } from 'js-yaml';
import { moduleConfigToAddonOperatorConfig } from '../../testbed/addon-operator';
import {
  CONDITION_ALL_ASSIGNED,
  ENGINES,
  ModuleCluster,
  REPO_ROOT,
  applyManifests,
  conditionOf,
  type Engine,
  type ManifestObject,
} from '../../testbed/module';

jest.setTimeout(20 * 60_000);

const docs = (
  loadAll(readFileSync(join(REPO_ROOT, 'examples', 'cluster.yaml'), 'utf8')) as ManifestObject[]
).filter((d) => d !== null && typeof d === 'object');
const { settings } = moduleConfigToAddonOperatorConfig(
  load(readFileSync(join(REPO_ROOT, 'examples', 'module-config.yaml'), 'utf8')),
);

/** Resolves when the wall clock enters its next whole second (at most one second). */
const nextSecond = (): Promise<void> => new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));

interface Outcome {
  /** `namespace/service/index` -> address and ranked nodes. */
  placements: Record<string, { address: string; nodes: string[] }>;
  /** `namespace/service` -> the Service's status.loadBalancer.ingress. */
  ingress: Record<string, string[]>;
}

async function outcomeUnder(engine: Engine): Promise<Outcome> {
  const m = await ModuleCluster.start({ engine, settings, startHooks: false });
  try {
    // A Service's age (creationTimestamp, whole seconds) decides which one gets the lowest free
    // address; each Service is created in a second of its own, so both clusters hold the same ages
    // in the same order, not only the same objects.
    await applyManifests(
      m,
      docs.filter((d) => d.kind !== 'Service'),
    );
    for (const s of docs.filter((d) => d.kind === 'Service')) {
      await nextSecond();
      await applyManifests(m, [s]);
    }
    await m.startHooks();
    const services = docs.filter((d) => d.kind === 'Service');
    // Every Service gets its condition, the one with a typo too (False, nothing allocated).
    for (const s of services) {
      const ns = s.metadata.namespace ?? 'default';
      await m.until(
        `the condition of Service ${ns}/${s.metadata.name}`,
        async () =>
          conditionOf((await m.getService(ns, s.metadata.name)).status?.conditions, CONDITION_ALL_ASSIGNED)
            ? true
            : undefined,
        120_000,
      );
    }
    await m.untilConverged({ pokeNode: 'worker-1', timeoutMs: 180_000 });
    const placements: Outcome['placements'] = {};
    for (const c of await m.l2lbServices()) {
      const key = `${c.metadata.namespace}/${c.spec.serviceRef?.name ?? '?'}/${c.metadata.labels?.['network.deckhouse.io/index'] ?? '?'}`;
      placements[key] = { address: c.spec.loadBalancerIP ?? '', nodes: c.spec.nodes ?? [] };
    }
    const ingress: Outcome['ingress'] = {};
    for (const s of services) {
      const ns = s.metadata.namespace ?? 'default';
      ingress[`${ns}/${s.metadata.name}`] = await m.ingress(ns, s.metadata.name);
    }
    return { placements, ingress };
  } finally {
    await m.stop();
  }
}

test('examples/cluster.yaml gets the same addresses on the same nodes under shell-operator and addon-operator', async () => {
  // One engine at a time: the machine runs one control plane less.
  const [standalone, deckhouse] = [await outcomeUnder(ENGINES[0]!), await outcomeUnder(ENGINES[1]!)];
  expect(Object.keys(standalone.placements).length).toBeGreaterThanOrEqual(6);
  expect(Object.values(standalone.ingress).some((ips) => ips.length >= 3)).toBe(true);
  expect(deckhouse).toEqual(standalone);
});
