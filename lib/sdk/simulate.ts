// Runs a hook executable the way shell-operator does, on a cluster state held in memory: the
// objects are matched to the hook's bindings, cut down by the bindings' real jqFilters (jq), put
// into a binding context file, and the hook's patch and metrics files are read back.
// Used by the `plan` command, the hook tests and the benchmarks.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BindingContext, HookConfig, KubernetesBinding, SnapshotItem } from './binding';
import type { MetricOperation, PatchOperation, ValuesPatchOperation } from './output';

export interface ClusterObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

function matches(b: KubernetesBinding, o: ClusterObject): boolean {
  if (b.apiVersion !== o.apiVersion || b.kind !== o.kind) return false;
  const ns = b.namespace?.nameSelector?.matchNames;
  if (ns && !ns.includes(o.metadata.namespace ?? '')) return false;
  const names = b.nameSelector?.matchNames;
  if (names && !names.includes(o.metadata.name)) return false;
  for (const [k, v] of Object.entries(b.labelSelector?.matchLabels ?? {})) {
    if (o.metadata.labels?.[k] !== v) return false;
  }
  return true;
}

/** Applies a jqFilter to each object with the real jq, as shell-operator does with gojq. */
export function jqEach(filter: string, objects: readonly unknown[]): unknown[] {
  if (objects.length === 0) return [];
  const r = spawnSync('jq', ['-c', `map([ ${filter} ][0])`], {
    input: JSON.stringify(objects),
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  if (r.error)
    throw new Error(`jq could not run (${r.error.message}); install it with: apt-get install -y jq`);
  if (r.status !== 0) throw new Error(`jq failed on filter ${filter}: ${r.stderr}`);
  return JSON.parse(r.stdout) as unknown[];
}

const sortKey = (o: ClusterObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** Snapshots of every kubernetes binding, as the operator would hold them. */
export function snapshotsFor(
  config: HookConfig,
  objects: readonly ClusterObject[],
  only?: ReadonlySet<string>,
): Record<string, SnapshotItem[]> {
  const out: Record<string, SnapshotItem[]> = {};
  for (const b of config.kubernetes ?? []) {
    if (only && !only.has(b.name)) continue;
    const selected = objects
      .filter((o) => matches(b, o))
      .sort((a, c) => sortKey(a).localeCompare(sortKey(c)));
    const keepObjects = b.keepFullObjectsInMemory !== false;
    if (!b.jqFilter) {
      out[b.name] = selected.map((object) => ({ object }));
      continue;
    }
    const results = jqEach(b.jqFilter, selected);
    out[b.name] = selected.map((object, i) => ({
      ...(keepObjects ? { object } : {}),
      filterResult: results[i] ?? null,
    }));
  }
  return out;
}

/** One Group binding context carrying the whole state: what a grouped hook receives on any event. */
export function groupContext(
  config: HookConfig,
  objects: readonly ClusterObject[],
  binding?: string,
): BindingContext[] {
  const first = config.kubernetes?.find((b) => b.group);
  const groupName = first?.group ?? 'main';
  const members = new Set((config.kubernetes ?? []).filter((b) => b.group === groupName).map((b) => b.name));
  return [
    {
      binding: binding ?? first?.name ?? 'main',
      type: 'Group',
      groupName,
      snapshots: snapshotsFor(config, objects, members),
    },
  ];
}

export interface HookRun {
  exitCode: number;
  patches: PatchOperation[];
  metrics: MetricOperation[];
  /** What the hook wrote to $VALUES_JSON_PATCH_PATH (set only when the run has values, as under addon-operator). */
  valuesPatches: ValuesPatchOperation[];
  stderr: string;
  wallMs: number;
}

function readLines<T>(path: string): T[] {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

/** Runs a built hook executable once on the given binding contexts (or raw text, for bad input). */
export function runHookExecutable(
  hookPath: string,
  contexts: readonly BindingContext[] | string,
  opts: { values?: unknown; env?: Record<string, string> } = {},
): HookRun {
  const dir = mkdtempSync(join(tmpdir(), 'l2lb-hook-'));
  try {
    const ctx = join(dir, 'binding-context.json');
    writeFileSync(ctx, typeof contexts === 'string' ? contexts : JSON.stringify(contexts));
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      BINDING_CONTEXT_PATH: ctx,
      KUBERNETES_PATCH_PATH: join(dir, 'patches.jsonl'),
      METRICS_PATH: join(dir, 'metrics.jsonl'),
      ...opts.env,
    };
    if (opts.values !== undefined) {
      env.VALUES_PATH = join(dir, 'values.json');
      writeFileSync(env.VALUES_PATH, JSON.stringify(opts.values));
      env.VALUES_JSON_PATCH_PATH = join(dir, 'values-patch.jsonl');
    }
    const started = process.hrtime.bigint();
    const r = spawnSync(hookPath, [], { env, encoding: 'utf8', maxBuffer: 1 << 30 });
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    if (r.error) throw new Error(`could not run hook ${hookPath}: ${r.error.message}`);
    return {
      exitCode: r.status ?? -1,
      patches: readLines<PatchOperation>(env.KUBERNETES_PATCH_PATH!),
      metrics: readLines<MetricOperation>(env.METRICS_PATH!),
      valuesPatches: env.VALUES_JSON_PATCH_PATH
        ? readLines<ValuesPatchOperation>(env.VALUES_JSON_PATCH_PATH)
        : [],
      stderr: r.stderr,
      wallMs,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
