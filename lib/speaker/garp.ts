// When to send gratuitous ARPs (IPv6: unsolicited neighbour advertisements) for a held address,
// and when to probe it for a duplicate on the link.
//
// The first `count` announcements go out at 0, 1, 2, 4, 8 ... times `intervalMilliseconds` after the
// address is added or ownership of it is regained (0 s, 1 s, 2 s, 4 s with the defaults, as
// docs/L2-ANNOUNCE.md recommends). After that one goes out every `refreshSeconds` (0 = no
// refresh), in the address's own slot of the period: at the times t with t mod period =
// phase(address), a whole second picked by a hash of the address. So the refreshes of many addresses
// (a node that took over a hundred at once) spread over the period instead of going out as one
// burst. Times are the speaker's monotonic clock, so the slot is the same for an address throughout
// one run of a speaker.
import type { GarpSettings } from '../model';
import type { HeldAddress, SpeakerTimings } from './types';

export function garpOffsetMs(sent: number, settings: GarpSettings): number {
  return sent === 0 ? 0 : settings.intervalMilliseconds * 2 ** (sent - 1);
}

/** FNV-1a over the address text, then a murmur3 finaliser so that neighbouring addresses scatter. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Slots are whole seconds: the addresses of one slot go out together, from one spawn. */
const SLOT_MS = 1000;

/**
 * The address's offset within a period, in whole ms in [0, periodMs): the start of one of the
 * period's whole-second slots (a period under two seconds has one slot). So however many addresses
 * a node holds, their refreshes wake it and spawn commands at most once a second, and the addresses
 * of one slot (a handful per second for a hundred a minute) go out together.
 */
export function phaseMs(address: string, periodMs: number): number {
  const period = Math.max(1, Math.floor(periodMs));
  const slots = Math.max(1, Math.floor(period / SLOT_MS));
  return (hash32(address) % slots) * Math.floor(period / slots);
}

/**
 * The first time at or after `notBefore` that lies in the address's slot of a period of `periodMs`
 * (t ≡ phase (mod period), counted from the epoch).
 */
export function nextSlot(address: string, periodMs: number, notBefore: number): number {
  const period = Math.max(1, Math.floor(periodMs));
  const phase = phaseMs(address, period);
  const base = Math.ceil(notBefore) - phase;
  return Math.ceil(base / period) * period + phase;
}

/**
 * The next periodic event of an address after the one at `last`: its slot at least half a period
 * later, so consecutive events are exactly one period apart and the first one after `last` comes
 * between half a period and one and a half periods later.
 */
function periodic(address: string, periodMs: number, last: number): number {
  return nextSlot(address, periodMs, last + periodMs / 2);
}

/** When the next announcement of `held` is due; undefined when none is. */
export function nextGarpAt(held: HeldAddress, settings: GarpSettings): number | undefined {
  if (held.garpsSent < settings.count)
    return (held.burstAt ?? held.since) + garpOffsetMs(held.garpsSent, settings);
  if (settings.refreshSeconds <= 0) return undefined;
  return periodic(held.address, settings.refreshSeconds * 1000, held.lastGarpAt ?? held.since);
}

/**
 * How long after taking an address its first duplicate probe waits: past the longest a previous
 * owner may keep it on a planned move or a shutdown (make-before-break), plus a second, so that the
 * probe does not find the speaker it is taking the address from.
 */
export function firstProbeDelayMs(timings: SpeakerTimings): number {
  return Math.max(timings.handoverTimeoutMs, timings.shutdownTimeoutMs) + 1000;
}

/**
 * When the next duplicate-address probe of `held` is due (IPv4 and IPv6 alike): once shortly after
 * it was taken (see firstProbeDelayMs), then every `conflictCheckMs` in the address's slot (the same
 * slot as its refreshes when both periods are equal). While the view is stale, every `staleProbeMs`
 * instead (never before the first delay): a cut-off speaker learns from the probe that another node
 * took the address, and yields it. Undefined when probing is off for that state.
 */
export function nextProbeAt(held: HeldAddress, timings: SpeakerTimings, stale = false): number | undefined {
  const period = stale ? timings.staleProbeMs : timings.conflictCheckMs;
  if (period <= 0) return undefined;
  const first = held.since + firstProbeDelayMs(timings);
  if (held.lastProbeAt === undefined || held.lastProbeAt < held.since) return first;
  if (stale) return Math.max(first, held.lastProbeAt + period);
  return periodic(held.address, period, held.lastProbeAt);
}
