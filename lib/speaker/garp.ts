// When to send gratuitous ARPs (IPv6: unsolicited neighbour advertisements) for a held address.
// The first `count` go out at 0, 1, 2, 4, 8 ... times `intervalMilliseconds` after the address is
// added (0 s, 1 s, 2 s, 4 s with the defaults, as reference/l2-announce.md recommends); after that
// one goes out every `refreshSeconds` (0 = no refresh).
import type { GarpSettings } from '../model';
import type { HeldAddress } from './types';

export function garpOffsetMs(sent: number, settings: GarpSettings): number {
  return sent === 0 ? 0 : settings.intervalMilliseconds * 2 ** (sent - 1);
}

/** When the next announcement of `held` is due; undefined when none is. */
export function nextGarpAt(held: HeldAddress, settings: GarpSettings): number | undefined {
  if (held.garpsSent < settings.count) return held.since + garpOffsetMs(held.garpsSent, settings);
  if (settings.refreshSeconds <= 0) return undefined;
  return (held.lastGarpAt ?? held.since) + settings.refreshSeconds * 1000;
}
