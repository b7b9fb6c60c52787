// Typed view of the shell-operator binding contexts a hook run receives
// (see shared/reference/hook-protocol.md). Hooks declare their bindings with `BindingConfig`,
// read snapshots with `snapshotsOf`, and never touch the raw JSON.
import { isRec } from '../json';

export interface SnapshotItem {
  object?: unknown;
  filterResult?: unknown;
}

export interface BindingContext {
  binding: string;
  type?: 'Synchronization' | 'Event' | 'Schedule' | 'Group';
  watchEvent?: 'Added' | 'Modified' | 'Deleted';
  groupName?: string;
  objects?: SnapshotItem[];
  object?: unknown;
  filterResult?: unknown;
  snapshots?: Record<string, SnapshotItem[]>;
}

export interface KubernetesBinding {
  name: string;
  apiVersion: string;
  kind: string;
  executeHookOnEvent?: Array<'Added' | 'Modified' | 'Deleted'>;
  executeHookOnSynchronization?: boolean;
  keepFullObjectsInMemory?: boolean;
  jqFilter?: string;
  labelSelector?: { matchLabels?: Record<string, string> };
  nameSelector?: { matchNames: string[] };
  namespace?: { nameSelector?: { matchNames: string[] } };
  group?: string;
  includeSnapshotsFrom?: string[];
  queue?: string;
  allowFailure?: boolean;
}

export interface ScheduleBinding {
  name: string;
  crontab: string;
  group?: string;
  queue?: string;
  allowFailure?: boolean;
}

export interface HookConfig {
  configVersion: 'v1';
  onStartup?: number;
  schedule?: ScheduleBinding[];
  kubernetes?: KubernetesBinding[];
  settings?: { executionMinInterval?: string; executionBurst?: number };
}

export class BindingContextError extends Error {}

function parseItems(v: unknown, where: string): SnapshotItem[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new BindingContextError(`${where} must be an array, got ${typeof v}`);
  // Checked in place, not copied: a context can hold tens of thousands of items.
  for (let i = 0; i < v.length; i++) {
    if (!isRec(v[i])) throw new BindingContextError(`${where}[${i}] must be an object`);
  }
  return v as SnapshotItem[];
}

/** Parses the JSON array found at BINDING_CONTEXT_PATH. Errors name the element and field. */
export function parseBindingContexts(text: string): BindingContext[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new BindingContextError(`binding context is not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(raw)) throw new BindingContextError('binding context must be a JSON array');
  return raw.map((c, i): BindingContext => {
    const where = `bindingContext[${i}]`;
    if (!isRec(c)) throw new BindingContextError(`${where} must be an object`);
    if (typeof c.binding !== 'string') throw new BindingContextError(`${where}.binding must be a string`);
    const snapshots: Record<string, SnapshotItem[]> = {};
    if (c.snapshots !== undefined) {
      if (!isRec(c.snapshots)) throw new BindingContextError(`${where}.snapshots must be an object`);
      for (const [k, v] of Object.entries(c.snapshots))
        snapshots[k] = parseItems(v, `${where}.snapshots.${k}`);
    }
    return {
      binding: c.binding,
      type: c.type as BindingContext['type'],
      watchEvent: c.watchEvent as BindingContext['watchEvent'],
      groupName: typeof c.groupName === 'string' ? c.groupName : undefined,
      objects: c.objects === undefined ? undefined : parseItems(c.objects, `${where}.objects`),
      object: c.object,
      filterResult: c.filterResult,
      snapshots: c.snapshots === undefined ? undefined : snapshots,
    };
  });
}

/**
 * The newest full snapshot of each binding. Group contexts (and schedule / event contexts with
 * includeSnapshotsFrom) carry every member's snapshot; a Synchronization context carries its own
 * binding's objects. Later contexts in a combined run win, because they are newer.
 */
export function latestSnapshots(contexts: readonly BindingContext[]): Map<string, SnapshotItem[]> {
  const out = new Map<string, SnapshotItem[]>();
  for (const c of contexts) {
    if (c.type === 'Synchronization' && c.objects) out.set(c.binding, c.objects);
    if (c.snapshots) for (const [k, v] of Object.entries(c.snapshots)) out.set(k, v);
  }
  return out;
}

/** Filter results of a binding's snapshot, dropping the nulls a jqFilter prints for skipped objects. */
export function filterResults(snapshots: Map<string, SnapshotItem[]>, binding: string): unknown[] {
  return (snapshots.get(binding) ?? [])
    .map((i) => i.filterResult ?? i.object)
    .filter((v) => v !== null && v !== undefined);
}
