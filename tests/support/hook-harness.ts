// Drives the built control-loop hook on an in-memory cluster (a fake API server, see
// lib/sdk/memory-cluster.ts), one run at a time, so hook tests read like cluster stories.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAll } from 'js-yaml';
import { reconcileConfig as config } from '../../lib/controller/bindings';
import { MemoryCluster } from '../../lib/sdk/memory-cluster';
import type { PatchOperation } from '../../lib/sdk/output';
import { groupContext, runHookExecutable, type ClusterObject, type HookRun } from '../../lib/sdk/simulate';

export const ROOT = join(__dirname, '..', '..');
export const RECONCILE_HOOK = join(ROOT, 'dist', 'module', 'hooks', 'reconcile');

export function fixture(name: string): ClusterObject[] {
  return loadAll(readFileSync(join(ROOT, 'tests', 'fixtures', 'clusters', name), 'utf8')).filter(
    (d): d is ClusterObject => d !== null && typeof d === 'object',
  );
}

export function yamlObjects(text: string): ClusterObject[] {
  return loadAll(text).filter((d): d is ClusterObject => d !== null && typeof d === 'object');
}

export class Story {
  readonly cluster: MemoryCluster;
  last?: HookRun;

  constructor(
    objects: ClusterObject[],
    private settings: Record<string, unknown> = {},
  ) {
    this.cluster = new MemoryCluster(objects);
  }

  /** One hook run on the whole state; its patches are applied to the cluster. */
  run(): HookRun {
    const run = runHookExecutable(RECONCILE_HOOK, groupContext(config, this.cluster.list()), {
      // As addon-operator hands them: `global`, and the settings with `internal` beside them.
      values: {
        global: { enabledModules: ['l2-load-balancer'] },
        l2LoadBalancer: { ...this.settings, internal: { pools: [], metallbCRDsPresent: false } },
      },
    });
    if (run.exitCode !== 0) throw new Error(`hook failed: ${run.stderr}`);
    const errors = this.cluster.apply(run.patches);
    if (errors.length) throw new Error(`patches do not apply: ${errors.join('; ')}`);
    this.last = run;
    return run;
  }

  /**
   * One hook run on an older view of the cluster (a lagging snapshot), its patches applied to the
   * live cluster; returns the errors the API server would answer.
   */
  runFrom(snapshot: readonly ClusterObject[]): string[] {
    const run = runHookExecutable(RECONCILE_HOOK, groupContext(config, snapshot), {
      values: { l2LoadBalancer: this.settings },
    });
    if (run.exitCode !== 0) throw new Error(`hook failed: ${run.stderr}`);
    this.last = run;
    return this.cluster.apply(run.patches);
  }

  /** Runs until a run changes nothing but Events; returns the number of runs that changed something. */
  converge(max = 5): number {
    for (let i = 0; i < max; i++) {
      if (changes(this.run().patches).length === 0) return i;
    }
    throw new Error(`not converged after ${max} runs`);
  }

  edit(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    name: string,
    mutate: (o: ClusterObject) => void,
  ): void {
    const o = this.cluster.get(apiVersion, kind, namespace, name);
    if (!o) throw new Error(`${kind} ${name} not found`);
    mutate(o);
  }

  add(...objects: ClusterObject[]): void {
    this.cluster.apply(objects.map((object) => ({ operation: 'Create', object })));
    // Create drops status, as the API server does; tests that need status set it with edit().
    for (const o of objects) {
      if (o.status !== undefined)
        this.edit(
          o.apiVersion,
          o.kind,
          o.metadata.namespace,
          o.metadata.name,
          (x) => (x.status = structuredClone(o.status)),
        );
    }
  }

  remove(apiVersion: string, kind: string, namespace: string | undefined, name: string): void {
    this.cluster.apply([{ operation: 'Delete', apiVersion, kind, namespace, name }]);
  }

  children(service?: string): ClusterObject[] {
    return this.cluster
      .list()
      .filter(
        (o) =>
          o.kind === 'L2LBService' &&
          (!service || o.metadata.labels?.['network.deckhouse.io/parent-service'] === service),
      )
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  }

  /** index -> address of a Service's children. */
  addresses(service: string): Record<number, string> {
    const out: Record<number, string> = {};
    for (const c of this.children(service)) {
      out[Number(c.metadata.labels?.['network.deckhouse.io/index'])] = (
        c.spec as { loadBalancerIP: string }
      ).loadBalancerIP;
    }
    return out;
  }

  preferred(service: string): string[] {
    return this.children(service).map((c) => (c.spec as { nodes: string[] }).nodes[0] ?? '');
  }

  service(namespace: string, name: string): ClusterObject {
    const s = this.cluster.get('v1', 'Service', namespace, name);
    if (!s) throw new Error(`Service ${namespace}/${name} not found`);
    return s;
  }

  ingress(namespace: string, name: string): string[] {
    const st = this.service(namespace, name).status as
      { loadBalancer?: { ingress?: Array<{ ip: string }> } } | undefined;
    return (st?.loadBalancer?.ingress ?? []).map((i) => i.ip);
  }

  condition(
    namespace: string,
    name: string,
    type = 'network.deckhouse.io/AllPublicIPsAssigned',
  ): Record<string, string> | undefined {
    const st = this.service(namespace, name).status as
      { conditions?: Array<Record<string, string>> } | undefined;
    return st?.conditions?.find((c) => c.type === type);
  }

  events(): Array<{ reason: string; type: string; message: string; involved: string }> {
    return this.cluster
      .list()
      .filter((o) => o.kind === 'Event')
      .map((e) => ({
        reason: String(e.reason),
        type: String(e.type),
        message: String(e.message),
        involved: `${String((e.involvedObject as { kind: string }).kind)}/${String((e.involvedObject as { name: string }).name)}`,
      }));
  }
}

/** Patch operations other than Events. */
export function changes(patches: readonly PatchOperation[]): PatchOperation[] {
  return patches.filter((p) => !(p.operation === 'CreateIfNotExists' && p.object.kind === 'Event'));
}
