// Replay protection for authentic heartbeats. An attacker on the segment cannot forge a beat
// (HMAC), but can record real ones and send them again, e.g. to keep a dead node "alive" so that
// nobody takes its addresses. Per sender this keeps the newest epoch and a sliding window of the
// sequence numbers seen in it (as IPsec does), so:
// - a beat of an older epoch than the newest one seen from that sender is a replay;
// - in the current epoch, a sequence number already seen, or older than the window, is a replay;
// - a beat that opens a sender's epoch (at this receiver's start, or after the sender restarted)
//   is accepted only if its send time lies within `maxClockSkewMs` of the receiver's wall clock.
//   That last bound is what limits a replay to a receiver that has no state yet: only beats
//   recorded less than `maxClockSkewMs` ago pass, each once. It is the one place where heartbeats
//   compare clocks; liveness itself is judged on the receiver's monotonic clock (liveness.ts).
import type { Beat } from './wire';

export interface ReplaySettings {
  /** How many sequence numbers behind the newest are still accepted once (reordering); ≤ 64. */
  window: number;
  maxClockSkewMs: number;
}

export const DEFAULT_REPLAY: ReplaySettings = { window: 64, maxClockSkewMs: 30_000 };

interface SenderWindow {
  epoch: number;
  highest: number;
  /** Bit i set: sequence `highest - i` was seen. */
  seen: bigint;
}

export type ReplayVerdict = 'accept' | 'replayed' | 'clock_skew';

export class ReplayGuard {
  private readonly senders = new Map<string, SenderWindow>();
  private readonly mask: bigint;

  constructor(private readonly settings: ReplaySettings = DEFAULT_REPLAY) {
    const w = Math.max(1, Math.min(64, Math.floor(settings.window)));
    this.mask = (1n << BigInt(w)) - 1n;
    this.width = w;
  }

  private readonly width: number;

  /** Judges `beat` and, when accepted, records it. `wallNow` is the receiver's wall clock (ms). */
  check(beat: Beat, wallNow: number): ReplayVerdict {
    const known = this.senders.get(beat.sender);
    if (known && beat.epoch < known.epoch) return 'replayed';
    if (!known || beat.epoch > known.epoch) {
      if (Math.abs(beat.sentAt - wallNow) > this.settings.maxClockSkewMs) return 'clock_skew';
      this.senders.set(beat.sender, { epoch: beat.epoch, highest: beat.sequence, seen: 1n });
      return 'accept';
    }
    if (beat.sequence > known.highest) {
      const shift = beat.sequence - known.highest;
      known.seen = shift >= this.width ? 1n : ((known.seen << BigInt(shift)) | 1n) & this.mask;
      known.highest = beat.sequence;
      return 'accept';
    }
    const behind = known.highest - beat.sequence;
    if (behind >= this.width) return 'replayed';
    const bit = 1n << BigInt(behind);
    if ((known.seen & bit) !== 0n) return 'replayed';
    known.seen |= bit;
    return 'accept';
  }

  /** Forgets senders that are no peers any more (their state would only grow). */
  retain(peers: ReadonlySet<string>): void {
    for (const sender of this.senders.keys()) if (!peers.has(sender)) this.senders.delete(sender);
  }
}
