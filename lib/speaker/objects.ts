// The API objects the speaker reads. Leases and L2LBServices go through lib/objects, the one reader
// the control loop uses too, so both agree on whose a Lease is and what an L2LBService says; the
// speaker only reshapes the record. L2LoadBalancers are read here for what only the speaker needs
// of them: the pool it may announce from and the interfaces.
import { obj, str } from '../json';
import type { LeaseState } from '../model';
import { l2lbServiceFields, leaseFields, readL2LBService, readLease } from '../objects';
import { HEARTBEAT_ANNOTATION } from './heartbeat/peers';
import { parseSpeakerPoolEntries, validInterfaceName } from './pools';
import type { SpeakerBalancer, SpeakerIndex } from './types';

const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

/** A speaker Lease (`l2lb-speaker-<node>`); undefined for any other Lease in the namespace. */
export function readSpeakerLease(object: unknown): LeaseState | undefined {
  const read = readLease(leaseFields(object, HEARTBEAT_ANNOTATION));
  return read.ok ? read.value : undefined;
}

/**
 * An L2LBService as decide() sees it, and what is malformed in its spec (each naming the object and
 * the field): the speaker announces nothing for an object with problems. Undefined without a name.
 */
export function readSpeakerIndex(
  object: unknown,
): { index: SpeakerIndex; problems: readonly string[] } | undefined {
  const read = readL2LBService(l2lbServiceFields(object));
  if (!read.ok) return undefined;
  const r = read.value;
  return {
    index: {
      key: `${r.namespace}/${r.name}`,
      namespace: r.namespace,
      name: r.name,
      address: r.address,
      nodes: r.nodes,
      l2lbName: r.l2lbName,
      createdAt: r.creationTimestamp,
      service: r.service,
      ports: r.ports,
      status: r.status,
    },
    problems: r.problems,
  };
}

/** An L2LoadBalancer: its pool (refusing entries outside unicast space) and its interfaces. */
export function readSpeakerBalancer(v: unknown): SpeakerBalancer | undefined {
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
