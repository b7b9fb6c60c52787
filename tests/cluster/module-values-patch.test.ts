// Values patches under the real addon-operator: the module_objects hook keeps the speakers'
// heartbeat key in `l2LoadBalancer.internal.heartbeatKey` (lib/heartbeat-key.ts), written through
// $VALUES_JSON_PATCH_PATH; addon-operator applies the patch to the module's values and checks them
// against openapi/values.yaml after the run. What addon-operator holds is read through its debug
// socket (`addon-operator module values l2-load-balancer`).
//
// A patch that breaks the schema is something the module's hooks never write, so a probe hook the
// test adds to its copy of the packaged module writes whatever patch the ConfigMap
// `default/values-patch-probe` carries: the engine's own validation is what is tested, on the
// module's own schema.
import { HEARTBEAT_KEY_SECRET } from '../../templates/heartbeat-key';
import { MODULE_NAMESPACE, ModuleCluster, isNotFound } from '../../testbed/module';

jest.setTimeout(240_000);

const PROBE_CONFIG = {
  configVersion: 'v1',
  kubernetes: [
    {
      name: 'probe',
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: { nameSelector: { matchNames: ['default'] } },
      nameSelector: { matchNames: ['values-patch-probe'] },
      jqFilter: '.data.patch // ""',
      executeHookOnSynchronization: false,
      // Its own queue, and a failed run is not retried: a refused patch must not hold up the module.
      queue: 'values-patch-probe',
      allowFailure: true,
    },
  ],
};

/** The probe hook: appends the ConfigMap's `patch` (JSON patch operations, one a line) to $VALUES_JSON_PATCH_PATH. */
const PROBE_HOOK = `#!/usr/bin/env node
const fs = require('fs');
if (process.argv[2] === '--config') {
  process.stdout.write(${JSON.stringify(JSON.stringify(PROBE_CONFIG))} + '\\n');
  process.exit(0);
}
const contexts = JSON.parse(fs.readFileSync(process.env.BINDING_CONTEXT_PATH, 'utf8'));
for (const c of contexts) {
  if (c.type === 'Event' && c.watchEvent !== 'Deleted' && typeof c.filterResult === 'string' && c.filterResult) {
    fs.appendFileSync(process.env.VALUES_JSON_PATCH_PATH, c.filterResult.trim() + '\\n');
  }
}
`;

interface ModuleValues {
  internal?: { heartbeatKey?: string; pools?: unknown[]; metallbCRDsPresent?: boolean; [k: string]: unknown };
}

let m: ModuleCluster | undefined;
const cluster = (): ModuleCluster => {
  if (m === undefined) throw new Error('the module did not start');
  return m;
};

const valuesHeld = (): Promise<ModuleValues> =>
  cluster().addonOperatorQuery<ModuleValues>(['module', 'values', 'l2-load-balancer']);

async function secretKey(): Promise<string | undefined> {
  try {
    const s = await cluster().request<{ data?: { key?: string } }>(
      'GET',
      `/api/v1/namespaces/${MODULE_NAMESPACE}/secrets/${HEARTBEAT_KEY_SECRET}`,
    );
    return s.data?.key;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Has the probe hook write `ops` (through a ConfigMap it watches); returns a log mark from before. */
async function probePatch(ops: unknown[]): Promise<number> {
  const c = cluster();
  const mark = c.logMark();
  const body = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'values-patch-probe', namespace: 'default' },
    data: { patch: ops.map((o) => JSON.stringify(o)).join('\n') },
  };
  await c
    .request('DELETE', '/api/v1/namespaces/default/configmaps/values-patch-probe')
    .catch(() => undefined);
  await c.request('POST', '/api/v1/namespaces/default/configmaps', body);
  return mark;
}

/** The line where addon-operator refused the probe's values patch (after `mark`). */
function refusal(mark: number): Promise<string> {
  const c = cluster();
  return c.until(
    "addon-operator's refusal of the probe's values patch",
    async () =>
      c
        .logsSince(mark)
        .find(
          (l) =>
            l.includes('cannot apply values patch for module values') && l.includes('values_patch_probe'),
        ),
    60_000,
  );
}

beforeAll(async () => {
  m = await ModuleCluster.start({
    engine: 'addon-operator',
    extraModuleHooks: { values_patch_probe: PROBE_HOOK },
  });
}, 100 * 60_000);

afterAll(async () => {
  await m?.stop();
});

let key = '';

test('the heartbeat key the hook writes as a values patch arrives in the values addon-operator holds, and is the key of the Secret', async () => {
  const c = cluster();
  key = await c.until(
    'internal.heartbeatKey in the values and a Secret with the same key',
    async () => {
      const held = (await valuesHeld()).internal?.heartbeatKey;
      return held !== undefined && held === (await secretKey()) ? held : undefined;
    },
    90_000,
  );
  expect(Buffer.from(key, 'base64')).toHaveLength(32);
  // Written once: the run that drew it patched the values; later runs found it there.
  const patches = await c.addonOperatorQuery<unknown>(['module', 'patches', 'l2-load-balancer']);
  expect(JSON.stringify(patches)).toContain('/l2LoadBalancer/internal/heartbeatKey');
});

test('the pool of an L2LoadBalancer arrives in internal values, beside the key', async () => {
  const c = cluster();
  await c.createL2LoadBalancer('public', { addressPool: ['192.0.2.0/28'] });
  const held = await c.until(
    'internal.pools with public',
    async () => {
      const internal = (await valuesHeld()).internal;
      return Array.isArray(internal?.pools) && internal.pools.length > 0 ? internal : undefined;
    },
    90_000,
  );
  expect(held.pools).toEqual([{ name: 'public', addressPool: ['192.0.2.0/28'] }]);
  expect(held.metallbCRDsPresent).toBe(false);
  expect(held.heartbeatKey).toBe(key);
});

test.each([
  [
    'a key shorter than 32 bytes',
    {
      op: 'add',
      path: '/l2LoadBalancer/internal/heartbeatKey',
      value: Buffer.alloc(16, 7).toString('base64'),
    },
    'heartbeatKey',
  ],
  [
    'a field openapi/values.yaml does not know',
    { op: 'add', path: '/l2LoadBalancer/internal/leader', value: 'fe-1' },
    'leader',
  ],
  [
    'a pool of the wrong shape',
    { op: 'add', path: '/l2LoadBalancer/internal/pools', value: 'public' },
    'pools',
  ],
])(
  'addon-operator refuses a values patch with %s, naming the field, and keeps the values as they were',
  async (_what, op, field) => {
    const before = await valuesHeld();
    const line = await refusal(await probePatch([op]));
    expect(line).toContain(field);
    expect(await valuesHeld()).toEqual(before);
    expect((await valuesHeld()).internal?.heartbeatKey).toBe(key);
  },
);

test('a deleted heartbeat key Secret comes back with the key kept in the values', async () => {
  const c = cluster();
  await c.request('DELETE', `/api/v1/namespaces/${MODULE_NAMESPACE}/secrets/${HEARTBEAT_KEY_SECRET}`);
  const back = await c.until('the Secret back', async () => secretKey(), 120_000);
  expect(back).toBe(key);
});

test('after addon-operator restarts (values are kept in memory only) the key comes back from the Secret into the values', async () => {
  const c = cluster();
  await c.restartHooks();
  const held = await c.until(
    'internal.heartbeatKey in the values of the new addon-operator',
    async () => (await valuesHeld()).internal?.heartbeatKey,
    120_000,
  );
  expect(held).toBe(key);
  expect(await secretKey()).toBe(key);
});
