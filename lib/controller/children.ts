// The L2LBServices of a run ("children": one per address of a Service), found by what their labels
// and address say, not by their names: a child keeps its name for life, so children named by an
// older version are adopted as they are (docs/ARCHITECTURE.md §3.1), and every address survives the upgrade.
import { createHash } from 'node:crypto';
import type { Family } from '../address/pool';
import type { L2LBServiceSnapshot } from './snapshot';

const MAX_NAME = 63;

/**
 * The name of a new child: `<service>-<l2loadbalancer>-<index>[-v6]-<hash>`, the readable part cut
 * so the whole fits 63 characters. The hash covers (namespace, Service, L2LoadBalancer, index,
 * family), so `web` on `prod-a` and `web-prod` on `a` never meet in one object.
 */
export function l2lbServiceName(
  namespace: string,
  service: string,
  l2lb: string,
  index: number,
  family: Family,
): string {
  const tuple = [namespace, service, l2lb, String(index), family === 4 ? 'IPv4' : 'IPv6'].join('/');
  const hash = createHash('sha256').update(tuple).digest('hex').slice(0, 8);
  const readable = `${service}-${l2lb}-${index}${family === 6 ? '-v6' : ''}`;
  return `${readable.slice(0, MAX_NAME - 9).replace(/[-.]+$/, '')}-${hash}`;
}

/** Today's children of every Service, looked up by (Service, L2LoadBalancer, index, family). */
export class ChildIndex {
  private readonly byService = new Map<string, L2LBServiceSnapshot[]>();
  /** Every address a child holds, with the Service key of that child. */
  readonly holders = new Map<string, string>();

  constructor(readonly all: readonly L2LBServiceSnapshot[]) {
    for (const c of all) {
      const key = `${c.state.namespace}/${c.state.serviceName}`;
      const list = this.byService.get(key) ?? [];
      list.push(c);
      this.byService.set(key, list);
      // The snapshot parser (lib/objects) gives the address as canonical text, or '' for none.
      const address = c.state.address;
      if (address !== '' && !this.holders.has(address)) this.holders.set(address, key);
    }
  }

  of(serviceKey: string): readonly L2LBServiceSnapshot[] {
    return this.byService.get(serviceKey) ?? [];
  }

  /** How many indices of a Service hold an address now. */
  heldCount(serviceKey: string): number {
    const children = this.of(serviceKey);
    if (children.length > 8) {
      return new Set(
        children.filter((c) => c.state.address !== '').map((c) => `${c.state.l2lbName}/${c.state.index}`),
      ).size;
    }
    let count = 0;
    // A Service has a few children: a look back over them is cheaper than a set of keys.
    children.forEach((c, i) => {
      if (c.state.address === '') return;
      for (let j = 0; j < i; j++) {
        const d = children[j] as L2LBServiceSnapshot;
        if (
          d.state.address !== '' &&
          d.state.index === c.state.index &&
          d.state.l2lbName === c.state.l2lbName
        )
          return;
      }
      count++;
    });
    return count;
  }

  /**
   * The child of one index and family; when several claim it (a half-finished rename, a restore),
   * the one holding `address`.
   */
  at(
    serviceKey: string,
    l2lb: string,
    index: number,
    family: Family | undefined,
    address?: string,
  ): L2LBServiceSnapshot | undefined {
    let found: L2LBServiceSnapshot | undefined;
    for (const c of this.of(serviceKey)) {
      if (c.state.index !== index || c.state.l2lbName !== l2lb) continue;
      if (family !== undefined && familyOf(c.state.address) !== family) continue;
      if (address !== undefined && c.state.address === address) return c;
      found ??= c;
    }
    return found;
  }

  /** Any child of an index, whatever its family: where the index is placed now. */
  anyAt(serviceKey: string, l2lb: string, index: number): L2LBServiceSnapshot | undefined {
    return this.at(serviceKey, l2lb, index, undefined);
  }
}

/** The family of an address as the module writes it (canonical text: only IPv6 has a colon). */
export function familyOf(address: string): Family | undefined {
  if (address === '') return undefined;
  return address.includes(':') ? 6 : 4;
}
