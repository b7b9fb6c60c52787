// Stage 6, Service status: every address in index order (a dual-stack index shows its primary
// family first) and one condition saying whether all are there; Warning Events for the problems
// when the condition changes. Messages are bounded (docs/ARCHITECTURE.md §2.3).
import { CONDITION_ALL_ASSIGNED, type Condition, type EventRequest, type ServiceState } from '../../model';
import { clampMessage } from '../../messages';
import type { ServiceIntent } from '../intent';
import type { ServiceStatusUpdate, ServiceSummary } from '../state';
import type { HeldAddress } from './children-diff';
import { serviceRef } from './children-diff';

export interface ServiceStatusResult {
  updates: ServiceStatusUpdate[];
  events: EventRequest[];
  summaries: ServiceSummary[];
}

/** Upserts a condition by type, keeping lastTransitionTime while the status stays the same. */
export function upsertCondition(
  existing: readonly Condition[],
  next: Omit<Condition, 'lastTransitionTime'>,
  now: string,
): Condition[] {
  const old = existing.find((c) => c.type === next.type);
  const merged: Condition = {
    ...next,
    lastTransitionTime:
      old && old.status === next.status && old.lastTransitionTime ? old.lastTransitionTime : now,
  };
  const out = existing.filter((c) => c.type !== next.type).map((c) => ({ ...c }));
  out.push(merged);
  return out;
}

export function sameCondition(a: Condition | undefined, b: Condition): boolean {
  return !!a && a.status === b.status && a.reason === b.reason && a.message === b.message;
}

export function serviceStatuses(input: {
  intents: ReadonlyMap<string, ServiceIntent>;
  held: ReadonlyMap<string, readonly HeldAddress[]>;
  services: readonly ServiceState[];
  /** Addresses each Service's children held before this run, for Services that left the module. */
  childAddresses: (serviceKey: string) => readonly string[];
  now: Date;
}): ServiceStatusResult {
  const nowIso = input.now.toISOString();
  const out: ServiceStatusResult = { updates: [], events: [], summaries: [] };
  for (const intent of input.intents.values()) {
    const s = intent.service;
    const order = intent.families ?? [];
    const addresses = [...(input.held.get(intent.key) ?? [])].sort(
      (a, b) =>
        a.index - b.index ||
        order.indexOf(a.family ?? 4) - order.indexOf(b.family ?? 4) ||
        (a.family ?? 0) - (b.family ?? 0),
    );
    const assigned = addresses.length;
    const requested = intent.count * (intent.families?.length ?? 1);
    const short = intent.keepOnly ? 0 : Math.max(0, requested - assigned);
    const ok = intent.problems.length === 0 && short === 0;
    const reasons = [...new Set(intent.problems.map((p) => p.reason))];
    const condition: Omit<Condition, 'lastTransitionTime'> = {
      type: CONDITION_ALL_ASSIGNED,
      status: ok ? 'True' : 'False',
      reason: ok ? 'AllAssigned' : (reasons[0] ?? 'PoolExhausted'),
      message: clampMessage(
        (intent.keepOnly
          ? `${assigned} public IPs kept, none added`
          : `${assigned} of ${requested} public IPs assigned`) +
          (intent.problems.length ? `; ${intent.problems.map((p) => p.message).join('; ')}` : ''),
      ),
    };
    const ingress = addresses.map((x) => x.address);
    const conditions = upsertCondition(s.conditions, condition, nowIso);
    const oldCondition = s.conditions.find((c) => c.type === CONDITION_ALL_ASSIGNED);
    const changedCondition = !sameCondition(oldCondition, conditions[conditions.length - 1]!);
    if (changedCondition || !sameList(s.ingress, ingress)) {
      out.updates.push({
        ref: { apiVersion: 'v1', kind: 'Service', namespace: s.namespace, name: s.name },
        ingress,
        conditions,
      });
    }
    if (changedCondition) {
      for (const p of intent.problems.slice(0, 10)) {
        out.events.push({ involved: serviceRef(s), type: 'Warning', reason: p.reason, message: p.message });
      }
    }
    out.summaries.push({
      key: intent.key,
      l2lbName: intent.l2lbName,
      requested,
      addresses: addresses.map(({ index, address, nodes }) => ({ index, address, nodes })),
      problems: intent.problems.map((p) => p.message),
    });
  }
  // A Service that left the module (annotation removed) loses the ingress the module wrote.
  for (const s of input.services) {
    const key = `${s.namespace}/${s.name}`;
    if (input.intents.has(key) || s.loadBalancerClass !== undefined || s.ingress.length === 0) continue;
    const ours = new Set(input.childAddresses(key));
    if (s.ingress.every((ip) => ours.has(ip))) {
      out.updates.push({
        ref: { apiVersion: 'v1', kind: 'Service', namespace: s.namespace, name: s.name },
        ingress: [],
        conditions: s.conditions.filter((c) => c.type !== CONDITION_ALL_ASSIGNED),
      });
    }
  }
  return out;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
