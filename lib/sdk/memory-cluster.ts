// A FAKE of the API server's write path, in memory: applies a hook's patch operations to a list
// of objects the way kube-apiserver would (merge patches per RFC 7386, the status subresource
// separated from the rest). It serves `plan` (which shows what the cluster would look like after
// the hook ran) and multi-step hook tests. The cluster tests use the real kube-apiserver.
import type { ClusterObject } from './simulate';
import type { JsonPatchOperation, PatchOperation } from './output';
import { isRec, jsonEqual } from '../json';

type Json = unknown;

/**
 * RFC 6902 on a copy of `target` (add, replace, remove, test on object members), as the API server
 * applies a JSON patch: all or nothing. Returns the patched copy, or the reason it failed.
 */
export function jsonPatch(
  target: Json,
  ops: readonly JsonPatchOperation[],
): { ok: true; value: Json } | { ok: false; error: string } {
  const doc = structuredClone(target);
  for (const op of ops) {
    const parts = op.path
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop();
    if (last === undefined) return { ok: false, error: `path ${op.path} is not supported` };
    let parent: Json = doc;
    for (const p of parts) parent = isRec(parent) ? parent[p] : undefined;
    if (!isRec(parent)) return { ok: false, error: `path ${op.path} does not exist` };
    if (op.op === 'test') {
      if (!(last in parent) || !jsonEqual(parent[last], op.value))
        return { ok: false, error: `test failed at ${op.path}` };
    } else if (op.op === 'remove' || op.op === 'replace') {
      if (!(last in parent)) return { ok: false, error: `path ${op.path} does not exist` };
      if (op.op === 'remove') delete parent[last];
      else parent[last] = structuredClone(op.value);
    } else parent[last] = structuredClone(op.value);
  }
  return { ok: true, value: doc };
}

export function mergePatch(target: Json, patch: Json): Json {
  if (!isRec(patch)) return patch;
  const out: Record<string, unknown> = isRec(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

const keyOf = (apiVersion: string, kind: string, namespace: string | undefined, name: string): string =>
  `${apiVersion}|${kind}|${namespace ?? ''}|${name}`;

export class MemoryCluster {
  private readonly objects = new Map<string, ClusterObject>();
  private counter = 0;

  constructor(
    initial: readonly ClusterObject[],
    private readonly clock: () => Date = () => new Date(),
  ) {
    for (const o of initial) this.objects.set(this.key(o), structuredClone(o));
  }

  private key(o: ClusterObject): string {
    return keyOf(o.apiVersion, o.kind, o.metadata.namespace, o.metadata.name);
  }

  list(): ClusterObject[] {
    return [...this.objects.values()].map((o) => structuredClone(o));
  }

  get(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    name: string,
  ): ClusterObject | undefined {
    return this.objects.get(keyOf(apiVersion, kind, namespace, name));
  }

  private create(o: ClusterObject): void {
    const copy = structuredClone(o);
    this.counter += 1;
    copy.metadata.creationTimestamp ??= this.clock().toISOString();
    copy.metadata.uid ??= `fake-uid-${this.counter}`;
    copy.metadata.generation ??= 1;
    delete copy.status;
    this.objects.set(this.key(copy), copy);
  }

  /** Applies operations in order; returns the errors the API server would have returned. */
  apply(ops: readonly PatchOperation[]): string[] {
    const errors: string[] = [];
    for (const op of ops) {
      if ('object' in op) {
        const o = op.object as ClusterObject;
        const existing = this.objects.get(this.key(o));
        if (!existing) this.create(o);
        else if (op.operation === 'Create') errors.push(`${o.kind} ${o.metadata.name} already exists`);
        else if (op.operation === 'CreateOrUpdate') {
          const { status: _ignored, ...rest } = o;
          const merged = mergePatch(existing, rest) as ClusterObject;
          merged.status = existing.status;
          if (merged.status === undefined) delete merged.status;
          this.objects.set(this.key(o), merged);
        }
      } else if (op.operation === 'JSONPatch') {
        const k = keyOf(op.apiVersion, op.kind, op.namespace, op.name);
        const existing = this.objects.get(k);
        if (!existing) {
          errors.push(`${op.kind} ${op.name} not found`);
          continue;
        }
        const r = jsonPatch(existing, op.jsonPatch);
        if (!r.ok) errors.push(`${op.kind} ${op.name}: ${r.error}`);
        else this.objects.set(k, r.value as ClusterObject);
      } else if (op.operation === 'MergePatch') {
        const k = keyOf(op.apiVersion, op.kind, op.namespace, op.name);
        const existing = this.objects.get(k);
        if (!existing) {
          if (!op.ignoreMissingObject) errors.push(`${op.kind} ${op.name} not found`);
          continue;
        }
        const patch =
          op.subresource === 'status'
            ? { status: op.mergePatch.status }
            : { ...op.mergePatch, status: undefined };
        if (patch.status === undefined) delete (patch as Record<string, unknown>).status;
        this.objects.set(k, mergePatch(existing, patch) as ClusterObject);
      } else {
        const k = keyOf(op.apiVersion, op.kind, op.namespace, op.name);
        if (!this.objects.delete(k)) errors.push(`${op.kind} ${op.name} not found`);
      }
    }
    return errors;
  }
}
