// Every manifest in the docs goes through a real kube-apiserver's server-side dry run (with strict
// field validation), with the module's CRDs installed: what a user pastes is what the API server
// accepts. Only kinds a plain API server cannot know (Deckhouse's ModuleConfig) are left out, and
// never in EXAMPLES.md.
//
// The requests go through ControlPlane.request rather than @kubernetes/client-node's
// KubernetesObjectApi.create: that takes `dryRun` but no `fieldValidation`, and strict field
// validation is what catches a mistyped field in an example (the API server otherwise drops it
// with a warning). A dry run is one POST with `?dryRun=All&fieldValidation=Strict`.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { docsFiles, fencedBlocks, type FencedBlock } from '../../scripts/gen-docs';
import { KubeApiError, startControlPlane, type ControlPlane } from '../../testbed/control-plane';

jest.setTimeout(180_000);

const root = join(__dirname, '..', '..');

interface DocObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [key: string]: unknown;
}

interface Manifest {
  where: string;
  file: string;
  object: DocObject;
}

/** Kinds that only exist in a Deckhouse cluster; the docs may show them outside EXAMPLES.md. */
const DECKHOUSE_ONLY = new Set(['deckhouse.io/v1alpha1 ModuleConfig']);

const manifests: Manifest[] = docsFiles().flatMap((file) =>
  fencedBlocks(readFileSync(join(root, file), 'utf8'), file)
    .filter((b: FencedBlock) => b.lang === 'yaml')
    .flatMap((b) =>
      (loadAll(b.text) as DocObject[])
        .filter((o) => o !== null && o !== undefined)
        .map((object) => ({
          where: `${file}:${b.line} ${object.kind}/${object.metadata.name}`,
          file,
          object,
        })),
    ),
);
const deckhouseOnly = (m: Manifest): boolean => DECKHOUSE_ONLY.has(`${m.object.apiVersion} ${m.object.kind}`);
const checked = manifests.filter((m) => !deckhouseOnly(m));

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

let cp: ControlPlane | undefined;
const discovery = new Map<string, ApiResource[]>();

function plane(): ControlPlane {
  if (cp === undefined) throw new Error('control plane did not start');
  return cp;
}

/** Where objects of this apiVersion and kind are created, from the API server's discovery. */
async function collectionPath(o: DocObject): Promise<string> {
  const base = o.apiVersion === 'v1' ? '/api/v1' : `/apis/${o.apiVersion}`;
  let resources = discovery.get(base);
  if (resources === undefined) {
    resources = (await plane().request<{ resources: ApiResource[] }>('GET', base)).resources;
    discovery.set(base, resources);
  }
  const r = resources.find((x) => x.kind === o.kind && !x.name.includes('/'));
  if (r === undefined) throw new Error(`the API server serves no ${o.kind} in ${o.apiVersion}`);
  return r.namespaced
    ? `${base}/namespaces/${o.metadata.namespace ?? 'default'}/${r.name}`
    : `${base}/${r.name}`;
}

/** A server-side dry run of a create: validated and admitted as for real, stored nowhere. */
async function dryRunCreate(o: DocObject): Promise<DocObject> {
  return plane().request<DocObject>(
    'POST',
    `${await collectionPath(o)}?dryRun=All&fieldValidation=Strict`,
    o,
  );
}

beforeAll(async () => {
  cp = await startControlPlane({
    crdDir: join(root, 'crds'),
    // Dual-stack Service addresses, so the IPv6 example is checked as a dual-stack cluster takes it.
    extraApiserverArgs: ['--service-cluster-ip-range=10.0.0.0/24,fd00:10:96::/112'],
  });
  const namespaces = new Set(
    checked.flatMap((m) => (m.object.metadata.namespace ? [m.object.metadata.namespace] : [])),
  );
  for (const name of namespaces) {
    try {
      await cp.request('POST', '/api/v1/namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name },
      });
    } catch (err) {
      if (!(err instanceof KubeApiError && err.code === 409)) throw err;
    }
  }
}, 100 * 60_000);

afterAll(async () => {
  await cp?.stop();
});

test('the docs have manifests, and EXAMPLES.md only ones a plain API server checks', () => {
  expect(checked.filter((m) => m.file === 'docs/EXAMPLES.md').length).toBeGreaterThanOrEqual(10);
  expect(manifests.filter((m) => m.file === 'docs/EXAMPLES.md' && deckhouseOnly(m))).toEqual([]);
});

test.each(checked.map((m) => [m.where, m] as const))('%s passes a server-side dry run', async (_where, m) => {
  const created = await dryRunCreate(m.object).catch((err: unknown) => {
    throw new Error(`${m.where}: ${err instanceof Error ? err.message : String(err)}`);
  });
  expect(created.kind).toBe(m.object.kind);
  expect(created.metadata.name).toBe(m.object.metadata.name);
});

describe('the dry run itself', () => {
  // Without these, a dry run that accepted anything would pass every example above.
  const rejection = (o: DocObject): Promise<number | undefined> =>
    dryRunCreate(o).then(
      () => undefined,
      (err: unknown) => (err instanceof KubeApiError ? err.code : -1),
    );

  it('rejects a pool entry the CRD forbids', async () => {
    const code = await rejection({
      apiVersion: 'network.deckhouse.io/v1alpha1',
      kind: 'L2LoadBalancer',
      metadata: { name: 'bad-pool' },
      spec: { addressPool: ['192.0.2.5/28'] },
    });
    expect(code).toBe(422);
  });

  it('rejects a field with a typo, as strict field validation should', async () => {
    const code = await rejection({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'typo', namespace: 'default' },
      spec: {
        type: 'LoadBalancer',
        selector: { app: 'x' },
        ports: [{ port: 80 }],
        externalTrafficPolcy: 'Local',
      },
    });
    expect(code).toBe(400);
  });

  it('stores nothing', async () => {
    const first = checked.find((m) => m.object.kind === 'L2LoadBalancer')!;
    const path = `${await collectionPath(first.object)}/${first.object.metadata.name}`;
    const code = await plane()
      .request('GET', path)
      .then(
        () => 200,
        (err: unknown) => (err instanceof KubeApiError ? err.code : -1),
      );
    expect(code).toBe(404);
  });
});
