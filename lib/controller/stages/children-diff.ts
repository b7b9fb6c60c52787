// Stage 5, children diff: the L2LBService each allocated address needs, compared with the children
// of today. New ones are created, changed ones updated with a precondition on what this run saw,
// unwanted ones deleted (their addresses become reservations). A child keeps its name for life.
import { createHash } from 'node:crypto';
import type { Family } from '../../address/pool';
import type { Allocation } from '../../allocation/allocate';
import {
  ANNOTATION_SPEC_HASH,
  L2LBSERVICE_API_VERSION,
  LABEL_INDEX,
  LABEL_L2LB,
  LABEL_PARENT_SERVICE,
  MODULE_NAME,
  type EventRequest,
  type ServiceState,
} from '../../model';
import type { Move, PlacementResult } from '../../placement/place';
import type { KubeObject, ObjectRef } from '../../sdk/output';
import { familyOf, l2lbServiceName, type ChildIndex } from '../children';
import type { L2LBServiceSnapshot } from '../snapshot';
import type { ServiceIntent } from '../intent';
import type { ChildUpdate } from '../state';
import { restoredKey } from './allocation';
import { indexKey } from './placement';

export interface ChildrenDiffInput {
  intents: ReadonlyMap<string, ServiceIntent>;
  allocations: readonly Allocation[];
  restored: ReadonlySet<string>;
  placement: PlacementResult;
  children: ChildIndex;
}

export interface HeldAddress {
  index: number;
  address: string;
  family: Family | undefined;
  nodes: string[];
}

export interface ChildrenDiff {
  creates: KubeObject[];
  updates: ChildUpdate[];
  deletes: ObjectRef[];
  events: EventRequest[];
  /** The addresses each Service holds after this run, in allocation order. */
  held: Map<string, HeldAddress[]>;
  /** Addresses let go in this run, for the reservations. */
  released: Array<{ l2lbName: string; address: string; serviceKey: string }>;
}

export const serviceRef = (s: ServiceState): EventRequest['involved'] => ({
  apiVersion: 'v1',
  kind: 'Service',
  namespace: s.namespace,
  name: s.name,
  uid: s.uid,
});

export function diffChildren(input: ChildrenDiffInput): ChildrenDiff {
  const { intents, children, placement } = input;
  const out: ChildrenDiff = {
    creates: [],
    updates: [],
    deletes: [],
    events: [],
    held: new Map(),
    released: [],
  };
  // The children this run keeps, and the names of those it creates (few): a child of today that is
  // in neither is deleted.
  const kept = new Set<L2LBServiceSnapshot>();
  const created = new Set<string>();
  const movesByKey = new Map<string, Move>(placement.moves.map((m) => [m.key, m]));
  const moveReported = new Set<string>();
  for (const a of input.allocations) {
    const intent = intents.get(a.serviceKey);
    if (!a.address || intent === undefined) continue;
    const s = intent.service;
    const family = a.family ?? familyOf(a.address);
    const old = children.at(a.serviceKey, a.l2lbName, a.index, a.family, a.address);
    const key = indexKey(a.serviceKey, a.index);
    const nodes = placement.candidates.get(key) ?? old?.state.nodes.slice() ?? [];
    const name = old?.state.name ?? l2lbServiceName(s.namespace, s.name, a.l2lbName, a.index, family ?? 4);
    if (old) kept.add(old);
    else created.add(`${s.namespace}/${name}`);
    const list = out.held.get(a.serviceKey) ?? [];
    list.push({ index: a.index, address: a.address, family, nodes });
    out.held.set(a.serviceKey, list);
    // The whole object is built only for a write: a converged run compares spec hashes alone.
    const hash = childSpecHash(s, a.address, nodes);
    if (!old) out.creates.push(l2lbServiceObject(s, a.l2lbName, a.index, a.address, nodes, name, hash));
    else if (old.specHash !== hash) {
      out.updates.push({
        object: l2lbServiceObject(s, a.l2lbName, a.index, a.address, nodes, name, hash),
        seen: { address: old.state.address, specHash: old.specHash },
      });
    }
    if (!old && input.restored.has(restoredKey(a.serviceKey, a.l2lbName, a.index, a.address))) {
      out.events.push({
        involved: serviceRef(s),
        type: 'Normal',
        reason: 'PublicIPRestored',
        message: `Public IP ${a.address} (index ${a.index}) taken back from the Service's status.loadBalancer.ingress: its L2LBService was missing`,
      });
    } else if (!old || old.state.address !== a.address) {
      out.events.push({
        involved: serviceRef(s),
        type: 'Normal',
        reason: 'PublicIPAssigned',
        message: `Public IP ${a.address} (index ${a.index}) assigned from L2LoadBalancer ${a.l2lbName}${nodes[0] ? `, preferred node ${nodes[0]}` : ''}`,
      });
    } else {
      const move = movesByKey.get(key);
      if (move && move.reason !== 'New' && !moveReported.has(key)) {
        moveReported.add(key);
        const failed = move.reason === 'NodeFailed';
        out.events.push({
          involved: serviceRef(s),
          type: failed ? 'Warning' : 'Normal',
          reason: failed ? 'PublicIPFailedOver' : 'PublicIPRebalanced',
          message: failed
            ? `Public IP ${a.address} moved from node ${move.from ?? '(none)'} to ${move.to}: ${move.from ?? 'the node'} is no longer eligible`
            : `Public IP ${a.address} moved from node ${move.from ?? '(none)'} to ${move.to} to spread load`,
        });
      }
    }
  }

  // Children nobody wants any more: their Service was deleted, left the module, or shrank.
  for (const c of children.all) {
    if (kept.has(c) || (created.size > 0 && created.has(`${c.state.namespace}/${c.state.name}`))) continue;
    out.deletes.push({
      apiVersion: L2LBSERVICE_API_VERSION,
      kind: 'L2LBService',
      namespace: c.state.namespace,
      name: c.state.name,
    });
    const serviceKey = `${c.state.namespace}/${c.state.serviceName}`;
    if (c.state.address)
      out.released.push({ l2lbName: c.state.l2lbName, address: c.state.address, serviceKey });
    const parent = intents.get(serviceKey);
    if (parent && c.state.address) {
      out.events.push({
        involved: serviceRef(parent.service),
        type: 'Normal',
        reason: 'PublicIPReleased',
        message: `Public IP ${c.state.address} (index ${c.state.index}) released`,
      });
    }
  }
  return out;
}

/** The spec's parts that come from the Service alone: the same for all its children. */
interface ServiceSpecParts {
  head: Record<string, unknown>;
  tail: Record<string, unknown>;
  /** `JSON.stringify` of the spec around `"loadBalancerIP":…,"nodes":…`. */
  headJson: string;
  tailJson: string;
}
const specParts = new WeakMap<ServiceState, ServiceSpecParts>();

function partsOf(s: ServiceState): ServiceSpecParts {
  let parts = specParts.get(s);
  if (parts !== undefined) return parts;
  const head: Record<string, unknown> = {
    type: 'LoadBalancer',
    ports: s.ports,
    serviceRef: { name: s.name, namespace: s.namespace },
  };
  const tail: Record<string, unknown> = {};
  if (s.selector) tail.selector = s.selector;
  if (s.clusterIP) tail.clusterIP = s.clusterIP;
  if (s.externalTrafficPolicy) tail.externalTrafficPolicy = s.externalTrafficPolicy;
  if (s.internalTrafficPolicy) tail.internalTrafficPolicy = s.internalTrafficPolicy;
  if (s.loadBalancerClass) tail.loadBalancerClass = s.loadBalancerClass;
  const tailJson = JSON.stringify(tail);
  parts = {
    head,
    tail,
    headJson: JSON.stringify(head).slice(0, -1),
    tailJson: tailJson === '{}' ? '' : `,${tailJson.slice(1, -1)}`,
  };
  specParts.set(s, parts);
  return parts;
}

/** A child's spec: the parent's parts, this index's address and ranked nodes. */
export function childSpec(s: ServiceState, address: string, nodes: string[]): Record<string, unknown> {
  const parts = partsOf(s);
  return { ...parts.head, loadBalancerIP: address, nodes, ...parts.tail };
}

/**
 * The hash a child's annotation carries: sha256 of `JSON.stringify(childSpec(...))`, written out
 * from the Service's parts serialised once per Service, so a converged run builds no spec at all.
 */
export function childSpecHash(s: ServiceState, address: string, nodes: string[]): string {
  const parts = partsOf(s);
  const json = `${parts.headJson},"loadBalancerIP":${JSON.stringify(address)},"nodes":${JSON.stringify(nodes)}${parts.tailJson}}`;
  return createHash('sha256').update(json).digest('hex').slice(0, 16);
}

export function l2lbServiceObject(
  s: ServiceState,
  l2lbName: string,
  index: number,
  address: string,
  nodes: string[],
  name: string,
  specHash = childSpecHash(s, address, nodes),
): KubeObject {
  const spec = childSpec(s, address, nodes);
  return {
    apiVersion: L2LBSERVICE_API_VERSION,
    kind: 'L2LBService',
    metadata: {
      name,
      namespace: s.namespace,
      labels: {
        [LABEL_PARENT_SERVICE]: s.name,
        [LABEL_L2LB]: l2lbName,
        [LABEL_INDEX]: String(index),
        'app.kubernetes.io/managed-by': MODULE_NAME,
        module: MODULE_NAME,
      },
      annotations: {
        'metallb.io/address-pool': l2lbName,
        'metallb.io/loadBalancerIPs': address,
        ...(nodes[0] ? { 'metallb.io/preferredL2SpeakerNode': nodes[0] } : {}),
        [ANNOTATION_SPEC_HASH]: specHash,
      },
      ownerReferences: s.uid
        ? [
            {
              apiVersion: 'v1',
              kind: 'Service',
              name: s.name,
              uid: s.uid,
              controller: true,
              blockOwnerDeletion: false,
            },
          ]
        : [],
    },
    spec,
  };
}
