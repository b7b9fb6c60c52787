// Kubernetes objects (untyped JSON from the API) into the speaker's types, at the boundary.
import { LABEL_L2LB, LABEL_PARENT_SERVICE, LEASE_PREFIX, type Condition, type LeaseState } from '../model';
import { HEARTBEAT_ANNOTATION } from './heartbeat/peers';
import { canonicalAddress, parseSpeakerPoolEntries, validInterfaceName } from './pools';
import type { IndexStatus, ServicePort, SpeakerBalancer, SpeakerIndex } from './types';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const obj = (v: unknown): Json => (isObject(v) ? v : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

function parseCondition(v: unknown): Condition | undefined {
  const c = obj(v);
  const status = str(c.status);
  if (str(c.type) === undefined || (status !== 'True' && status !== 'False' && status !== 'Unknown'))
    return undefined;
  return {
    type: str(c.type) ?? '',
    status,
    reason: str(c.reason) ?? '',
    message: str(c.message) ?? '',
    lastTransitionTime: str(c.lastTransitionTime) ?? '',
  };
}

export function parseIndexStatus(v: unknown): IndexStatus {
  const s = obj(v);
  const ingress = Array.isArray(obj(s.loadBalancer).ingress)
    ? (obj(s.loadBalancer).ingress as unknown[])
    : [];
  const conditions = Array.isArray(s.conditions) ? s.conditions.map(parseCondition) : [];
  const announced = conditions.find((c) => c?.type === 'Announced');
  const announcingNode = str(s.announcingNode);
  const announcedSince = str(s.announcedSince);
  return {
    ingress: ingress.map((i) => str(obj(i).ip)).filter((ip): ip is string => ip !== undefined),
    ...(announcingNode ? { announcingNode } : {}),
    ...(announcedSince ? { announcedSince } : {}),
    ...(announced ? { announced } : {}),
  };
}

/** `spec.ports`: entries without a valid port number are left out; the protocol defaults to TCP. */
function parsePorts(v: unknown): ServicePort[] {
  if (!Array.isArray(v)) return [];
  return v.flatMap((p): ServicePort[] => {
    const o = obj(p);
    const port = o.port;
    const protocol = str(o.protocol) ?? 'TCP';
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return [];
    if (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP') return [];
    return [{ port, protocol }];
  });
}

/** An L2LBService; undefined when it has no name. An unparseable address counts as none. */
export function parseIndex(v: unknown): SpeakerIndex | undefined {
  const o = obj(v);
  const meta = obj(o.metadata);
  const spec = obj(o.spec);
  const name = str(meta.name);
  const namespace = str(meta.namespace) ?? '';
  if (!name) return undefined;
  const labels = obj(meta.labels);
  const serviceRef = obj(spec.serviceRef);
  return {
    key: `${namespace}/${name}`,
    namespace,
    name,
    address: canonicalAddress(str(spec.loadBalancerIP) ?? '') ?? '',
    nodes: strings(spec.nodes),
    l2lbName: str(labels[LABEL_L2LB]) ?? '',
    createdAt: str(meta.creationTimestamp) ?? '',
    service: {
      namespace: str(serviceRef.namespace) || namespace,
      name: str(serviceRef.name) || str(labels[LABEL_PARENT_SERVICE]) || '',
    },
    ports: parsePorts(spec.ports),
    status: parseIndexStatus(o.status),
  };
}

export function parseBalancer(v: unknown): SpeakerBalancer | undefined {
  const o = obj(v);
  const name = str(obj(o.metadata).name);
  if (!name) return undefined;
  const spec = obj(o.spec);
  const { pool, refused } = parseSpeakerPoolEntries(strings(spec.addressPool));
  const named = strings(spec.interfaces);
  const invalid = named.filter((n) => !validInterfaceName(n));
  return {
    name,
    pool,
    interfaces: named.filter(validInterfaceName),
    ...(refused.length ? { refusedEntries: refused } : {}),
    ...(invalid.length ? { invalidInterfaces: invalid } : {}),
  };
}

/** A speaker Lease (`l2lb-speaker-<node>`); undefined for other Leases. */
export function parseLease(v: unknown): LeaseState | undefined {
  const o = obj(v);
  const name = str(obj(o.metadata).name) ?? '';
  if (!name.startsWith(LEASE_PREFIX)) return undefined;
  const spec = obj(o.spec);
  const node = name.slice(LEASE_PREFIX.length);
  const holder = str(spec.holderIdentity);
  const renewTime = str(spec.renewTime);
  const duration = spec.leaseDurationSeconds;
  const endpoints = str(obj(obj(o.metadata).annotations)[HEARTBEAT_ANNOTATION]);
  return {
    node,
    // A lease without a holder was released: it counts as expired.
    ...(renewTime && holder ? { renewTime } : {}),
    durationSeconds: typeof duration === 'number' ? duration : 0,
    ...(endpoints ? { heartbeatEndpoints: endpoints } : {}),
  };
}
