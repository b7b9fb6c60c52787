// An L2LBService (`internal.network.deckhouse.io/v1alpha1`): one address of one Service, read the
// one way the control loop and the speaker must agree on — which Service and L2LoadBalancer it
// belongs to, which address it carries (canonical text), its ranked nodes and what its status says.
import { canonicalAddress, isCanonicalAddress } from '../address/pool';
import {
  ANNOTATION_SPEC_HASH,
  LABEL_INDEX,
  LABEL_L2LB,
  LABEL_PARENT_SERVICE,
  type Condition,
} from '../model';
import { isRec, obj, str } from '../json';
import { quote } from '../messages';
import type { Parsed } from './parsed';

/** The fields of an L2LBService this module reads, as a jqFilter or `l2lbServiceFields` cut them. */
export interface L2LBServiceFields {
  namespace?: unknown;
  name?: unknown;
  creationTimestamp?: unknown;
  /** Label `network.deckhouse.io/parent-service`, else `spec.serviceRef.name`. */
  serviceName?: unknown;
  /** `spec.serviceRef.namespace`; the object's own namespace when absent. */
  serviceNamespace?: unknown;
  /** Label `network.deckhouse.io/l2-load-balancer`. */
  l2lbName?: unknown;
  /** Label `network.deckhouse.io/index`. */
  index?: unknown;
  /** Annotation `network.deckhouse.io/spec-hash`: the spec the hooks last wrote. */
  specHash?: unknown;
  /** `spec.loadBalancerIP`. */
  address?: unknown;
  /** `spec.nodes`. */
  nodes?: unknown;
  /** `spec.ports`, when the reader needs them (the speaker opens only these on the address). */
  ports?: unknown;
  /** `status`, when the reader needs it (the control loop reads only `announcingNode`). */
  status?: unknown;
}

export interface L2LBServiceStatus {
  ingress: string[];
  announcingNode?: string;
  announcedSince?: string;
  announced?: Condition;
}

/** One entry of `spec.ports`: the only protocol/port pairs that answer on the address. */
export interface L2LBServicePort {
  port: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
}

export interface L2LBServiceRecord {
  namespace: string;
  name: string;
  creationTimestamp: string;
  /** The parent Service. */
  service: { namespace: string; name: string };
  /** '' when the label is missing. */
  l2lbName: string;
  /** undefined when the label is missing or not a whole number. */
  index: number | undefined;
  /** Canonical text; '' when nothing is allocated or the text is no address. */
  address: string;
  nodes: string[];
  /** The well-formed entries of `spec.ports`. */
  ports: L2LBServicePort[];
  specHash: string;
  status: L2LBServiceStatus;
  /**
   * What is malformed in the spec, each naming the object and the field: an address that is no IP
   * address, nodes or ports of the wrong shape. The speaker announces nothing for such an object;
   * the control loop rewrites the spec it owns.
   */
  problems: string[];
}

/** The fields from a whole L2LBService object as the API returns it. */
export function l2lbServiceFields(object: unknown): L2LBServiceFields {
  const o = obj(object);
  const meta = obj(o.metadata);
  const labels = obj(meta.labels);
  const spec = obj(o.spec);
  const serviceRef = obj(spec.serviceRef);
  return {
    namespace: meta.namespace,
    name: meta.name,
    creationTimestamp: meta.creationTimestamp,
    serviceName: str(labels[LABEL_PARENT_SERVICE]) || serviceRef.name,
    serviceNamespace: serviceRef.namespace,
    l2lbName: labels[LABEL_L2LB],
    index: labels[LABEL_INDEX],
    specHash: obj(meta.annotations)[ANNOTATION_SPEC_HASH],
    address: spec.loadBalancerIP,
    nodes: spec.nodes,
    ports: spec.ports,
    status: o.status,
  };
}

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

function condition(v: unknown): Condition | undefined {
  const c = obj(v);
  const type = str(c.type);
  const status = str(c.status);
  if (type === undefined || (status !== 'True' && status !== 'False' && status !== 'Unknown'))
    return undefined;
  return {
    type,
    status,
    reason: str(c.reason) ?? '',
    message: str(c.message) ?? '',
    lastTransitionTime: str(c.lastTransitionTime) ?? '',
  };
}

/** The status the speaker writes: ingress, the announcing node and since when, the Announced condition. */
export function readL2LBServiceStatus(v: unknown): L2LBServiceStatus {
  const s = obj(v);
  const ingress = obj(s.loadBalancer).ingress;
  const announced = (Array.isArray(s.conditions) ? s.conditions : [])
    .map(condition)
    .find((c) => c?.type === 'Announced');
  const announcingNode = str(s.announcingNode);
  const announcedSince = str(s.announcedSince);
  return {
    ingress: (Array.isArray(ingress) ? ingress : [])
      .map((i) => str(obj(i).ip))
      .filter((ip): ip is string => ip !== undefined),
    ...(announcingNode ? { announcingNode } : {}),
    ...(announcedSince ? { announcedSince } : {}),
    ...(announced ? { announced } : {}),
  };
}

/** Canonical text of an address; the hooks write canonical text, so a parse is rarely needed. */
function canonical(v: unknown): string {
  const raw = str(v)?.trim() ?? '';
  if (raw === '') return '';
  return isCanonicalAddress(raw) ? raw : (canonicalAddress(raw) ?? '');
}

/** A value of the wrong shape, shown short (bounded: a tenant may have written it). */
function shown(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return quote(v, 64);
  const json = JSON.stringify(v);
  return json.length <= 64 ? json : `${json.slice(0, 64)}... (${json.length} characters)`;
}

const PROTOCOLS: readonly string[] = ['TCP', 'UDP', 'SCTP'];

/** `spec.ports`: the well-formed entries (protocol TCP when absent) and what is wrong with the rest. */
function readPorts(v: unknown, problems: string[]): L2LBServicePort[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    problems.push(`spec.ports: want a list, got ${shown(v)}`);
    return [];
  }
  return v.flatMap((p: unknown, i): L2LBServicePort[] => {
    const o = obj(p);
    const port = o.port;
    const protocol = o.protocol ?? 'TCP';
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      problems.push(`spec.ports[${i}].port: want a port number (1-65535), got ${shown(port)}`);
      return [];
    }
    if (typeof protocol !== 'string' || !PROTOCOLS.includes(protocol)) {
      problems.push(`spec.ports[${i}].protocol: want TCP, UDP or SCTP, got ${shown(protocol)}`);
      return [];
    }
    return [{ port, protocol: protocol as L2LBServicePort['protocol'] }];
  });
}

/** What is wrong with `spec.loadBalancerIP` and `spec.nodes`, if anything. */
function specProblems(fields: L2LBServiceFields, address: string): string[] {
  const problems: string[] = [];
  const raw = fields.address;
  if (raw !== undefined && raw !== null && (typeof raw !== 'string' || (raw.trim() !== '' && !address)))
    problems.push(`spec.loadBalancerIP: want an IP address, got ${shown(raw)}`);
  const nodes = fields.nodes;
  if (nodes !== undefined && nodes !== null) {
    if (!Array.isArray(nodes)) problems.push(`spec.nodes: want a list of node names, got ${shown(nodes)}`);
    else
      nodes.forEach((n: unknown, i) => {
        if (typeof n !== 'string' || n === '')
          problems.push(`spec.nodes[${i}]: want a node name, got ${shown(n)}`);
      });
  }
  return problems;
}

/**
 * One L2LBService. Refused only without a name; what a reader needs beyond that (the control loop
 * needs the Service, L2LoadBalancer and index labels) it checks on the record, by field. A
 * malformed spec is listed in `problems`, the same for every reader.
 */
export function readL2LBService(fields: L2LBServiceFields): Parsed<L2LBServiceRecord> {
  const name = str(fields.name);
  const namespace = str(fields.namespace) ?? '';
  if (!name)
    return {
      ok: false,
      error: `L2LBService in namespace ${namespace || '(none)'}: metadata.name is missing`,
    };
  const address = canonical(fields.address);
  const problems = specProblems(fields, address);
  const ports = readPorts(fields.ports, problems);
  const where = `L2LBService ${namespace || '(none)'}/${name}`;
  const indexText = fields.index;
  const index =
    typeof indexText === 'string' && /^(0|[1-9][0-9]{0,5})$/.test(indexText) ? Number(indexText) : undefined;
  return {
    ok: true,
    value: {
      namespace,
      name,
      creationTimestamp: str(fields.creationTimestamp) ?? '',
      service: {
        namespace: str(fields.serviceNamespace) || namespace,
        name: str(fields.serviceName) ?? '',
      },
      l2lbName: str(fields.l2lbName) ?? '',
      index,
      address,
      nodes: strings(fields.nodes),
      ports,
      specHash: str(fields.specHash) ?? '',
      status: isRec(fields.status) ? readL2LBServiceStatus(fields.status) : { ingress: [] },
      problems: problems.map((p) => `${where}: ${p}`),
    },
  };
}
