// The label sets of `l2lb_speaker_address_announced`: one per address this speaker holds, named by
// the index it is held for. `service_namespace`, not `namespace`: a scraped series already carries
// the Pod's `namespace` from its target.
import { addressHolders } from './holders';
import type { HeldAddress, SpeakerIndex } from './types';

export interface AddressSeries {
  address: string;
  l2loadbalancer: string;
  service_namespace: string;
  service: string;
}

/**
 * One label set per held address (also while it is handed over: the kernel still answers for it).
 * The index is the address's eligible holder, else the one it was taken for; an address left by an
 * earlier run that no index carries has empty labels besides the address.
 */
export function addressSeries(
  held: readonly HeldAddress[],
  indices: readonly SpeakerIndex[],
): AddressSeries[] {
  const { eligible } = addressHolders(indices);
  const byKey = new Map(indices.map((i) => [i.key, i]));
  return held.map((h) => {
    const index = eligible.get(h.address) ?? (h.indexKey !== undefined ? byKey.get(h.indexKey) : undefined);
    return {
      address: h.address,
      l2loadbalancer: index?.l2lbName ?? '',
      service_namespace: index?.service.namespace ?? '',
      service: index?.service.name ?? '',
    };
  });
}
