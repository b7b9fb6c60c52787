// The module on a real cluster, as an operator lives it: a real kube-apiserver, the module's CRDs,
// and a real engine running the hooks: shell-operator on the built hooks (standalone,
// module.test.ts) or addon-operator on the packaged module (as under Deckhouse,
// module-addon-operator.test.ts). One story, step by step; after every step the cluster converges
// as docs/ARCHITECTURE.md §4 says, and a watch on every Service proves that no Service ever lost or swapped an
// address it still needed, not even for a moment between polls.
//
// The reconcile hook reacts to Node, L2LoadBalancer and Service events at once and re-ranks every
// 15 s; rebalancing moves at most one index per run (the default `rebalance` setting). Waits are
// bounded accordingly.
import {
  CONDITION_ALL_ASSIGNED,
  IngressRecorder,
  LABEL_MEMBER,
  MODULE_NAMESPACE,
  ModuleCluster,
  ingressOf,
  isNotFound,
  objectPath,
  type Engine,
  type EventObject,
  type StabilityRules,
} from '../../testbed/module';
import { defaultSettings } from '../../lib/settings';
import {
  GRAFANA_DASHBOARD_CRD,
  METALLB_POOL_CRD,
  PODMONITOR_CRD,
  moduleObjects,
} from '../../templates/module-objects';
import { HEARTBEAT_KEY_SECRET } from '../../templates/heartbeat-key';

/** The whole story under one engine; each engine's test file calls it once. */
export function lifeCycle(engine: Engine): void {
  jest.setTimeout(240_000);

  const FRONTEND = { 'node-role.kubernetes.io/frontend': '' };
  const POOL = '192.0.2.0/28';
  const EXTRA = '198.51.100.10-198.51.100.12';
  const inPool = (ip: string): boolean =>
    /^192\.0\.2\.([1-9]|1[0-4])$/.test(ip) || /^198\.51\.100\.1[0-2]$/.test(ip);

  let m: ModuleCluster | undefined;
  let rec: IngressRecorder | undefined;
  let mark: Map<string, number> | undefined;

  function cluster(): ModuleCluster {
    if (m === undefined) throw new Error('the module did not start');
    return m;
  }

  /** Every loss since the previous step's end, then a new mark for the next step. */
  function lossesOfStep(rules: Record<string, StabilityRules> = {}): string[] {
    if (rec === undefined) throw new Error('no ingress recorder');
    const out = rec.losses(rules, mark);
    mark = rec.mark();
    return out;
  }

  interface Placed {
    address: string;
    nodes: string[];
  }

  /** `namespace/service/index` -> address and ranked nodes, from the L2LBService objects. */
  async function placements(): Promise<Map<string, Placed>> {
    const out = new Map<string, Placed>();
    for (const c of await cluster().l2lbServices()) {
      const key = `${c.metadata.namespace}/${c.spec.serviceRef?.name ?? '?'}/${c.metadata.labels?.['network.deckhouse.io/index'] ?? '?'}`;
      out.set(key, { address: c.spec.loadBalancerIP ?? '', nodes: c.spec.nodes ?? [] });
    }
    return out;
  }

  /** Converged: a full run (started by relabelling worker-1, which no balancer selects) wrote nothing. */
  const converged = (): Promise<void> => cluster().untilConverged({ pokeNode: 'worker-1' });

  function preferredCounts(p: Map<string, Placed>): Map<string, number> {
    const counts = new Map<string, number>();
    for (const { nodes } of p.values()) if (nodes[0]) counts.set(nodes[0], (counts.get(nodes[0]) ?? 0) + 1);
    return counts;
  }

  function preferredOf(p: Map<string, Placed>, service: string): string[] {
    return [...p]
      .filter(([k]) => k.startsWith(`default/${service}/`))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, v]) => v.nodes[0] ?? '');
  }

  const reasons = (events: EventObject[], name: string): string[] =>
    events.filter((e) => e.involvedObject.name === name).map((e) => e.reason ?? '');

  beforeAll(async () => {
    m = await ModuleCluster.start({ engine });
    rec = await IngressRecorder.start(m.cp);
    mark = rec.mark();
    await m.createNode({ name: 'fe-1', labels: FRONTEND });
    await m.createNode({ name: 'fe-2', labels: FRONTEND });
    await m.createNode({ name: 'fe-3', labels: FRONTEND });
    await m.createNode({ name: 'worker-1' });
    await m.createL2LoadBalancer('public', { addressPool: [POOL], nodeSelector: FRONTEND });
  }, 100 * 60_000);

  afterAll(async () => {
    rec?.stop();
    const errors = m?.hookErrors() ?? [];
    if (errors.length > 0) console.warn(`${engine} reported errors:\n${errors.slice(-20).join('\n')}`);
    await m?.stop();
  });

  // State carried from step to step.
  let web: string[] = [];
  let failed = '';
  let deleted = '';

  test('a Service annotated for 3 IPs gets 3 addresses from the pool on 3 distinct nodes, a True condition and Events', async () => {
    const c = cluster();
    const t0 = Date.now();
    await c.createService({ name: 'web', l2lb: 'public', count: 3 });
    await c.untilAssigned('default', 'web', 3, 60_000);
    console.log(`web: 3 addresses and the condition within ${Date.now() - t0} ms of creating it`);
    await converged();
    const svc = await c.getService('default', 'web');
    web = svc.status?.loadBalancer?.ingress?.map((i) => i.ip ?? '') ?? [];
    expect(web).toEqual(['192.0.2.1', '192.0.2.2', '192.0.2.3']); // the lowest free, in index order
    expect(svc.status?.conditions?.find((x) => x.type === CONDITION_ALL_ASSIGNED)).toMatchObject({
      status: 'True',
      reason: 'AllAssigned',
      message: '3 of 3 public IPs assigned',
    });

    const p = await placements();
    expect([...p.values()].map((x) => x.address)).toEqual(web);
    expect(new Set(preferredOf(p, 'web'))).toEqual(new Set(['fe-1', 'fe-2', 'fe-3']));
    // Each index carries every eligible node, ranked.
    for (const x of p.values()) expect([...x.nodes].sort()).toEqual(['fe-1', 'fe-2', 'fe-3']);

    const events = await c.events('default', 'web');
    expect(reasons(events, 'web')).toEqual(['PublicIPAssigned', 'PublicIPAssigned', 'PublicIPAssigned']);
    for (const ip of web) expect(events.map((e) => e.message).join('\n')).toContain(`Public IP ${ip}`);

    const lb = await c.getL2LoadBalancer('public');
    expect(lb.status).toMatchObject({ addressesTotal: '14', addressesAllocated: 3, eligibleNodes: 3 });
    expect(lb.status?.conditions?.find((x) => x.type === 'Ready')?.status).toBe('True');

    // The member label on balancer nodes only: the speaker DaemonSet's nodeSelector.
    const members = (await c.listNodes()).filter((n) => n.metadata.labels?.[LABEL_MEMBER] !== undefined);
    expect(members.map((n) => n.metadata.name).sort()).toEqual(['fe-1', 'fe-2', 'fe-3']);
    expect(lossesOfStep()).toEqual([]);
  });

  test('a second Service ("all") spreads load: every node is preferred by two of the six indices', async () => {
    const c = cluster();
    await c.createService({ name: 'api', l2lb: 'public', count: 'all' });
    await c.untilAssigned('default', 'api', 3, 60_000);
    await converged();
    expect(await c.ingress('default', 'api')).toEqual(['192.0.2.4', '192.0.2.5', '192.0.2.6']);
    const p = await placements();
    expect(new Set(preferredOf(p, 'api'))).toEqual(new Set(['fe-1', 'fe-2', 'fe-3']));
    expect([...preferredCounts(p).values()]).toEqual([2, 2, 2]);
    expect(await c.ingress('default', 'web')).toEqual(web);
    expect(lossesOfStep()).toEqual([]);
  });

  test('a node marked NotReady: only the indices it was preferred for move; every address stays', async () => {
    const c = cluster();
    const before = await placements();
    failed = preferredOf(before, 'web')[1]!;
    await c.setNodeReady(failed, false);
    // Wait for the whole run's patches: one run rewrites every index that lists the node.
    await c.until(`no index listing ${failed}`, async () => {
      const p = await placements();
      return [...p.values()].every((x) => !x.nodes.includes(failed)) ? true : undefined;
    });
    // The failure itself moves only what the failed node held.
    const failedOver = await placements();
    for (const [key, was] of before) {
      const now = failedOver.get(key)!;
      expect(now.address).toBe(was.address);
      if (was.nodes[0] !== failed) expect(`${key} ${now.nodes[0]}`).toBe(`${key} ${was.nodes[0]}`);
      expect(now.nodes).not.toContain(failed);
    }
    // Later calm runs may even out the two remaining nodes (rebalance: Gradual, one move per run,
    // make-before-break); each such move is a Rebalance with its Event, and no address changes.
    await converged();
    const after = await placements();
    const moved = [...before].filter(
      ([key, was]) => was.nodes[0] !== failed && after.get(key)!.nodes[0] !== was.nodes[0],
    );
    const rebalanced = (await c.events('default')).filter((e) => e.reason === 'PublicIPRebalanced');
    expect(rebalanced.length).toBeGreaterThanOrEqual(moved.length);
    for (const [key, was] of before) {
      expect(after.get(key)!.address).toBe(was.address);
      expect(after.get(key)!.nodes).not.toContain(failed);
    }
    const loads = [...preferredCounts(after).values()];
    expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(1);
    // The IPs of one Service still sit on distinct nodes where there are enough (2 left for 3 IPs).
    expect(new Set(preferredOf(after, 'web')).size).toBe(2);
    expect(await c.ingress('default', 'web')).toEqual(web);
    expect(await c.ingress('default', 'api')).toHaveLength(3); // "all" counts nodes ready or not
    const failover = (await c.events('default')).filter((e) => e.reason === 'PublicIPFailedOver');
    expect(failover).toHaveLength(2); // web's index 1 and the api index on that node
    for (const e of failover) {
      expect(e.type).toBe('Warning');
      expect(e.message).toContain(`from node ${failed}`);
    }
    const lb = await c.getL2LoadBalancer('public');
    expect(lb.status?.eligibleNodes).toBe(2);
    expect(lb.status?.conditions?.find((x) => x.type === 'Ready')?.status).toBe('True');
    expect(lossesOfStep()).toEqual([]);
  });

  test('a node deleted: its indices move to the one node left, "all" releases its highest index, nothing else changes', async () => {
    const c = cluster();
    const before = await placements();
    deleted = ['fe-1', 'fe-2', 'fe-3'].find(
      (n) => n !== failed && [...before.values()].some((x) => x.nodes[0] === n),
    )!;
    const left = ['fe-1', 'fe-2', 'fe-3'].find((n) => n !== failed && n !== deleted)!;
    await c.deleteNode(deleted);
    await c.until(`every index on ${left}`, async () => {
      const p = await placements();
      return [...p.values()].every((x) => x.nodes[0] === left) ? true : undefined;
    });
    await converged();
    const after = await placements();
    expect(after.size).toBe(5);
    for (const [key, now] of after) {
      expect(now.address).toBe(before.get(key)!.address);
      expect(now.nodes).toEqual([left]);
    }
    expect(await c.ingress('default', 'web')).toEqual(web);
    expect(await c.ingress('default', 'api')).toEqual(['192.0.2.4', '192.0.2.5']);
    expect(reasons(await c.events('default', 'api'), 'api')).toContain('PublicIPReleased');
    expect((await c.getL2LoadBalancer('public')).status).toMatchObject({
      eligibleNodes: 1,
      addressesAllocated: 5,
    });
    expect(lossesOfStep({ 'default/api': { mayShrinkTo: 2 } })).toEqual([]);
  });

  test('a node added: "all" grows back, indices move only onto the new node, each Service spreads over both', async () => {
    const c = cluster();
    const before = await placements();
    await c.createNode({ name: 'fe-4', labels: FRONTEND });
    // api's new index goes to the new node at once; Gradual rebalancing (one move per full run) moves
    // more; converged() pokes full runs until one moves nothing.
    await c.untilAssigned('default', 'api', 3, 60_000);
    await converged();
    const after = await placements();
    expect(after.size).toBe(6);
    for (const [key, was] of before) {
      const now = after.get(key)!;
      expect(now.address).toBe(was.address);
      expect([was.nodes[0], 'fe-4']).toContain(now.nodes[0]);
    }
    expect(await c.ingress('default', 'web')).toEqual(web);
    expect((await c.ingress('default', 'api')).slice(0, 2)).toEqual(['192.0.2.4', '192.0.2.5']);
    expect(new Set(preferredOf(after, 'web')).size).toBe(2);
    expect(new Set(preferredOf(after, 'api')).size).toBe(2);
    expect(preferredCounts(after).get('fe-4')).toBeGreaterThanOrEqual(2);
    expect(lossesOfStep()).toEqual([]);
  });

  test('the pool edited: a grown pool moves nothing; a shrunk pool re-addresses only the index whose address left', async () => {
    const c = cluster();
    const before = await placements();
    await c.patchL2LoadBalancer('public', { addressPool: [POOL, EXTRA] });
    await c.until('addressesTotal 17', async () =>
      (await c.getL2LoadBalancer('public')).status?.addressesTotal === '17' ? true : undefined,
    );
    await converged();
    expect(await placements()).toEqual(before);
    expect(lossesOfStep()).toEqual([]);

    // 192.0.2.1 (web, index 0) leaves the pool.
    await c.patchL2LoadBalancer('public', { addressPool: ['192.0.2.2-192.0.2.14', EXTRA] });
    await c.until('web index 0 re-addressed', async () => {
      const got = await c.ingress('default', 'web');
      return got.length === 3 && got[0] !== '192.0.2.1' ? true : undefined;
    });
    await converged();
    const ips = await c.ingress('default', 'web');
    expect(ips.slice(1)).toEqual(web.slice(1));
    expect(inPool(ips[0]!)).toBe(true);
    expect(new Set([...ips, ...(await c.ingress('default', 'api'))]).size).toBe(6);
    expect(reasons(await c.events('default', 'web'), 'web')).toContain('AddressLeftPool');
    const after = await placements();
    for (const [key, was] of before) if (key !== 'default/web/0') expect(after.get(key)).toEqual(was);
    web = ips;
    expect(lossesOfStep({ 'default/web': { mayLose: ['192.0.2.1'] } })).toEqual([]);
  });

  test('a Service deleted: its L2LBServices go, its addresses are free again, the other Service is untouched', async () => {
    const c = cluster();
    const api = await c.ingress('default', 'api');
    await c.deleteService('default', 'web');
    await c.until('web L2LBServices deleted', async () =>
      (await c.l2lbServices('default', 'web')).length === 0 ? true : undefined,
    );
    await converged();
    expect((await c.getL2LoadBalancer('public')).status?.addressesAllocated).toBe(3);
    expect(await c.ingress('default', 'api')).toEqual(api);
    // A new Service gets a free address, but none of web's: those stay reserved for web for
    // addressReservationSeconds (docs/ARCHITECTURE.md §4.1) while unreserved ones are free.
    await c.createService({ name: 'next', l2lb: 'public', count: 1 });
    const next = await c.untilAssigned('default', 'next', 1, 60_000);
    const ip = next.status?.loadBalancer?.ingress?.[0]?.ip ?? '';
    expect(inPool(ip)).toBe(true);
    expect(web).not.toContain(ip);
    await converged();
    expect(lossesOfStep()).toEqual([]);
  });

  test('the hooks process restarted on a converged cluster: nothing is written again', async () => {
    const c = cluster();
    const children = async () =>
      (await c.l2lbServices()).map((x) => `${x.metadata.name}@${x.metadata.resourceVersion}`).sort();
    const services = async () =>
      (await c.listServices('default')).map((x) => `${x.metadata.name}@${x.metadata.resourceVersion}`).sort();
    const eventNames = async () => new Set((await c.events()).map((e) => e.metadata.name));
    const lb = async () => (await c.getL2LoadBalancer('public')).metadata.resourceVersion;
    const before = {
      children: await children(),
      services: await services(),
      lb: await lb(),
      events: await eventNames(),
    };

    await c.stopHooks();
    const mark = c.logMark();
    await c.startHooks();
    // The first run after a start is a full one (Synchronization of the group).
    await c.untilHookRan(mark, c.hookLinePattern('reconcile'));
    expect(c.logsSince(mark).some((l) => l.includes('"msg":"reconciled"'))).toBe(true);
    expect(await children()).toEqual(before.children);
    expect(await services()).toEqual(before.services);
    expect(await lb()).toBe(before.lb);
    expect([...(await eventNames())].filter((n) => !before.events.has(n))).toEqual([]);
    expect(lossesOfStep()).toEqual([]);
  });

  test('changes made while the hooks process is down are caught up when it comes back', async () => {
    const c = cluster();
    await c.stopHooks();
    const api = await c.ingress('default', 'api');
    // While nobody watches: a new Service, and the NotReady node is deleted (api counts one node less).
    await c.createService({ name: 'late', l2lb: 'public', count: 2 });
    await c.deleteNode(failed);
    // Both writes are stored (they are read back) and nothing answered them: no engine was running.
    await c.until('the new Service stored', async () =>
      (await c.getService('default', 'late')) ? true : undefined,
    );
    expect((await c.listNodes()).map((n) => n.metadata.name)).not.toContain(failed);
    expect(await c.ingress('default', 'late')).toEqual([]);
    expect(await c.l2lbServices('default', 'late')).toEqual([]);

    await c.startHooks();
    await c.untilAssigned('default', 'late', 2, 60_000);
    await converged();
    const after = await placements();
    for (const x of after.values()) expect(x.nodes).not.toContain(failed);
    expect(after.has('default/api/2')).toBe(false);
    expect(await c.ingress('default', 'api')).toEqual(api.slice(0, 2));
    expect(new Set(preferredOf(after, 'late')).size).toBe(2);
    expect(lossesOfStep({ 'default/api': { mayShrinkTo: 2 } })).toEqual([]);
  });

  test('a speaker Lease that expired: on the next scheduled run its node ranks last; Lease writes never run the hook', async () => {
    const c = cluster();
    const nodes = ['fe-4', ['fe-1', 'fe-2', 'fe-3'].find((n) => n !== failed && n !== deleted)!];
    const [stale, fresh] = nodes as [string, string];
    const before = await placements();
    expect([...before.values()].some((x) => x.nodes[0] === stale)).toBe(true);
    const mark = c.logMark();
    await c.setLease(fresh, new Date(), 86_400);
    await c.setLease(stale, new Date(Date.now() - 3600_000), 3);
    const after = await c.until(
      `every index prefers ${fresh}, ${stale} ranked last`,
      async () => {
        const p = await placements();
        return [...p.values()].every((x) => x.nodes[0] === fresh && x.nodes.at(-1) === stale) ? p : undefined;
      },
      60_000,
    );
    for (const [key, was] of before) expect(after.get(key)?.address).toBe(was.address);
    await converged();
    const runs = c.logsSince(mark).filter((l) => l.includes('"msg":"Execute hook"'));
    expect(runs.filter((l) => l.includes('"binding":"leases"'))).toEqual([]);
    expect(lossesOfStep()).toEqual([]);
  });

  test('settings the schema refuses are refused with the field named, and nothing allocated is lost', async () => {
    const c = cluster();
    const before = await placements();
    const mark = c.logMark();
    await c.setSettings({ speaker: { leaseDurationSeconds: 1 } });
    // shell-operator: the hooks refuse their settings ConfigMap; addon-operator: its own validation
    // refuses the config values before any hook sees them.
    const refusal = await c.until(
      'the refusal in the log',
      async () =>
        c.logsSince(mark).find((l) => l.includes('leaseDurationSeconds') && /invalid|must be/i.test(l)),
      60_000,
    );
    expect(refusal).toMatch(/leaseDurationSeconds/);
    await c.setSettings({});
    await converged();
    expect(await placements()).toEqual(before);
    expect(lossesOfStep()).toEqual([]);
  });

  // Only addon-operator has an enabled flag: standalone, the module is "off" when shell-operator is
  // stopped, which the restart steps above cover.
  if (engine === 'addon-operator') {
    test('disabled through addon-operator, the module objects go and the allocation stays; enabled again, every Service keeps its addresses', async () => {
      const c = cluster();
      // What the module deploys with these settings: every object the module_objects hook renders
      // (namespace, speaker DaemonSet and ServiceAccount, RBAC, admission policies, user-authz
      // roles; the optional kinds only where their CRD exists) and the heartbeat key Secret.
      const crds = new Set<string>();
      for (const crd of [METALLB_POOL_CRD, PODMONITOR_CRD, GRAFANA_DASHBOARD_CRD]) {
        await c
          .request('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd}`)
          .then(() => crds.add(crd))
          .catch((err: unknown) => {
            if (!isNotFound(err)) throw err;
          });
      }
      const owned = [
        ...moduleObjects({ settings: defaultSettings(), balancers: [], crds, deckhouse: true }),
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: HEARTBEAT_KEY_SECRET, namespace: MODULE_NAMESPACE },
        },
      ];
      const paths = await Promise.all(owned.map((o) => objectPath(c.cp, o)));
      const present = async (): Promise<string[]> => {
        const out: string[] = [];
        for (const p of paths) {
          await c
            .request('GET', p)
            .then(() => out.push(p))
            .catch((err: unknown) => {
              if (!isNotFound(err)) throw err;
            });
        }
        return out;
      };
      expect(await present()).toEqual(paths);
      expect(paths.some((p) => p.endsWith(`/namespaces/${MODULE_NAMESPACE}`))).toBe(true);
      expect(paths.some((p) => p.includes('/daemonsets/'))).toBe(true);

      const addresses = async (): Promise<Record<string, string[]>> =>
        Object.fromEntries(
          (await c.listServices()).map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, ingressOf(s)]),
        );
      const recorded = async (): Promise<string[]> =>
        [...(await placements())].map(([key, p]) => `${key} ${p.address}`).sort();
      const members = async (): Promise<string[]> =>
        (await c.listNodes())
          .filter((n) => n.metadata.labels?.[LABEL_MEMBER] !== undefined)
          .map((n) => n.metadata.name)
          .sort();
      const before = await addresses();
      const records = await recorded();
      const memberNodes = await members();
      expect(memberNodes.length).toBeGreaterThan(0);
      // api (2 of "all"), next (1) and late (2) hold addresses from the steps above.
      expect(Object.values(before).flat()).toHaveLength(5);

      // Off: addon-operator's ModuleDelete runs the afterDeleteHelm binding of module_objects.
      const mark = c.logMark();
      await c.setEnabled(false);
      await c.until(
        'afterDeleteHelm: module objects removed',
        async () =>
          c
            .logsSince(mark)
            .find((l) => l.includes('"msg":"module objects removed"') && l.includes('afterDeleteHelm')),
        60_000,
      );
      await c.until(
        'every module object gone',
        async () => ((await present()).length === 0 ? true : undefined),
        60_000,
      );
      expect(await c.namespaceExists(MODULE_NAMESPACE)).toBe(false);
      // The allocation stays where it is recorded (L2LBServices and the Services' status), and so do
      // the nodes' member labels.
      expect(await recorded()).toEqual(records);
      expect(await addresses()).toEqual(before);
      expect(await members()).toEqual(memberNodes);

      // addon-operator itself counts the module as off (its debug socket), so no hook of it runs:
      // a Service created now gets no address until the module is back.
      const enabledModules = async (): Promise<string[]> =>
        (await c.addonOperatorQuery<{ enabledModules: string[] }>(['module', 'list'])).enabledModules;
      expect(await enabledModules()).not.toContain('l2-load-balancer');
      await c.createService({ name: 'while-off', l2lb: 'public', count: 1 });
      expect(await c.ingress('default', 'while-off')).toEqual([]);

      await c.setEnabled(true);
      await c.until('the module enabled again', async () =>
        (await enabledModules()).includes('l2-load-balancer') ? true : undefined,
      );
      await c.until(
        'every module object back',
        async () => ((await present()).length === paths.length ? true : undefined),
        60_000,
      );
      const late = await c.untilAssigned('default', 'while-off', 1, 60_000);
      await converged();
      // Every Service has exactly the addresses it had, recorded by the same L2LBServices.
      const after = await addresses();
      expect(after).toEqual({ ...before, 'default/while-off': ingressOf(late) });
      expect(Object.values(before).flat()).not.toContain(ingressOf(late)[0]);
      expect((await recorded()).filter((r) => !r.startsWith('default/while-off/'))).toEqual(records);
      expect(lossesOfStep()).toEqual([]);
    });
  }

  test('no hook run failed and no object patch was refused by the API server', () => {
    expect(cluster().hookErrors()).toEqual([]);
    expect(rec?.watchErrors).toEqual([]);
  });
}
