// Collectors for what a hook run writes: object patches, metrics, values patches.
// Each is flushed as one JSON object per line, the format shell-operator reads.

export type PatchOperation =
  | { operation: 'Create' | 'CreateOrUpdate' | 'CreateIfNotExists'; object: KubeObject; subresource?: string }
  | {
      operation: 'Delete' | 'DeleteInBackground' | 'DeleteNonCascading';
      apiVersion: string;
      kind: string;
      namespace?: string;
      name: string;
    }
  | {
      operation: 'MergePatch';
      apiVersion: string;
      kind: string;
      namespace?: string;
      name: string;
      subresource?: string;
      mergePatch: Record<string, unknown>;
      ignoreMissingObject?: boolean;
    }
  | {
      operation: 'JSONPatch';
      apiVersion: string;
      kind: string;
      namespace?: string;
      name: string;
      subresource?: string;
      jsonPatch: JsonPatchOperation[];
    };

/** One RFC 6902 operation; `test` makes the whole patch fail when the object is not as seen. */
export type JsonPatchOperation =
  { op: 'test' | 'add' | 'replace'; path: string; value: unknown } | { op: 'remove'; path: string };

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<Record<string, unknown>>;
  };
  [k: string]: unknown;
}

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

export class PatchCollector {
  readonly operations: PatchOperation[] = [];

  createOrUpdate(object: KubeObject): void {
    this.operations.push({ operation: 'CreateOrUpdate', object });
  }

  /** Creates the object unless one of that name exists; an existing one is left as it is. */
  createIfNotExists(object: KubeObject): void {
    this.operations.push({ operation: 'CreateIfNotExists', object });
  }

  create(object: KubeObject): void {
    this.operations.push({ operation: 'Create', object });
  }

  /**
   * Background deletion: shell-operator's `Delete` is a foreground delete that waits (up to 20 s,
   * blocking the queue) for the garbage collector to clear the `foregroundDeletion` finalizer; the
   * module's objects have no dependents that need it.
   */
  delete(ref: ObjectRef): void {
    this.operations.push({ operation: 'DeleteInBackground', ...ref });
  }

  mergePatch(ref: ObjectRef, patch: Record<string, unknown>, opts: { subresource?: string } = {}): void {
    this.operations.push({
      operation: 'MergePatch',
      ...ref,
      mergePatch: patch,
      ...(opts.subresource ? { subresource: opts.subresource } : {}),
      ignoreMissingObject: true,
    });
  }

  /** A JSON patch; a missing object or a failed `test` fails the hook run, which then runs again. */
  jsonPatch(ref: ObjectRef, patch: JsonPatchOperation[]): void {
    this.operations.push({ operation: 'JSONPatch', ...ref, jsonPatch: patch });
  }

  serialize(): string {
    return this.operations.map((o) => JSON.stringify(o) + '\n').join('');
  }
}

/** `/metadata/annotations/a~1b` for the key `a/b` (RFC 6901 escaping). */
export const pointer = (...parts: string[]): string =>
  parts.map((p) => '/' + p.replace(/~/g, '~0').replace(/\//g, '~1')).join('');

export interface MetricOperation {
  name?: string;
  group: string;
  action: 'set' | 'add' | 'observe' | 'expire';
  value?: number;
  labels?: Record<string, string>;
}

export class MetricsCollector {
  readonly operations: MetricOperation[] = [];
  constructor(readonly group: string) {
    // Expiring the group first drops series that disappeared since the last run.
    this.operations.push({ group, action: 'expire' });
  }

  set(name: string, value: number, labels: Record<string, string> = {}): void {
    this.operations.push({ name, group: this.group, action: 'set', value, labels });
  }

  serialize(): string {
    return this.operations.map((o) => JSON.stringify(o) + '\n').join('');
  }
}

export interface ValuesPatchOperation {
  op: 'add' | 'remove';
  path: string;
  value?: unknown;
}
