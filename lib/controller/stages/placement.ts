// Stage 4, placement: one placement index per (Service, index) that holds an address; a dual-stack
// index's two addresses share it, so both go to the same node.
import type { Allocation } from '../../allocation/allocate';
import type { L2LoadBalancer, LeaseState, ModuleSettings, NodeState, ServiceEndpoints } from '../../model';
import { place, type PlacementIndex, type PlacementResult } from '../../placement/place';
import type { ChildIndex } from '../children';
import type { ServiceIntent } from '../intent';

export interface PlacementStageInput {
  allocations: readonly Allocation[];
  intents: ReadonlyMap<string, ServiceIntent>;
  children: ChildIndex;
  nodes: readonly NodeState[];
  leases: readonly LeaseState[];
  balancers: ReadonlyMap<string, L2LoadBalancer>;
  endpoints: readonly ServiceEndpoints[];
  settings: ModuleSettings;
  now: Date;
}

/** The placement key of an index: both families of a dual-stack index share it. */
export const indexKey = (serviceKey: string, index: number): string => `${serviceKey}/${index}`;

export function placeIndices(input: PlacementStageInput): PlacementResult {
  const endpointsByService = new Map<string, Set<string>>();
  for (const e of input.endpoints) {
    const set = endpointsByService.get(e.serviceKey) ?? new Set<string>();
    e.nodes.forEach((n) => set.add(n));
    endpointsByService.set(e.serviceKey, set);
  }
  const indices: PlacementIndex[] = [];
  const seen = new Set<string>();
  for (const a of input.allocations) {
    if (!a.address || !input.balancers.has(a.l2lbName)) continue;
    const key = indexKey(a.serviceKey, a.index);
    if (seen.has(key)) continue;
    seen.add(key);
    const local = input.intents.get(a.serviceKey)?.service.externalTrafficPolicy === 'Local';
    indices.push({
      key,
      serviceKey: a.serviceKey,
      l2lbName: a.l2lbName,
      index: a.index,
      current: input.children.anyAt(a.serviceKey, a.l2lbName, a.index)?.state.nodes ?? [],
      ...(local ? { localNodes: [...(endpointsByService.get(a.serviceKey) ?? [])].sort() } : {}),
    });
  }
  return place({
    nodes: input.nodes,
    leases: input.leases,
    balancers: [...input.balancers.values()],
    indices,
    rebalance: input.settings.rebalance,
    now: input.now.getTime(),
  });
}
