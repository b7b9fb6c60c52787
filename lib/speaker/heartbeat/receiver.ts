// What a speaker does with one received datagram: parse and authenticate it, drop its own echoes
// and strangers, reject replays, and only then let it count for the sender's liveness. Pure apart
// from the state it keeps; both clocks come in as arguments.
import { LivenessTracker, type LivenessSettings, type Transition } from './liveness';
import { ReplayGuard, DEFAULT_REPLAY, type ReplaySettings } from './replay';
import { parseBeat, type Beat, type DropReason, type HeartbeatKey } from './wire';

export type Received =
  | { ok: true; beat: Beat; missed: number; transition?: Transition }
  | { ok: false; reason: DropReason; sender?: string };

export class HeartbeatReceiver {
  readonly tracker: LivenessTracker;
  private readonly guard: ReplayGuard;
  private keys: ReadonlyMap<number, Buffer>;

  constructor(
    readonly node: string,
    keys: readonly HeartbeatKey[],
    liveness: LivenessSettings,
    replay: ReplaySettings = DEFAULT_REPLAY,
  ) {
    this.keys = new Map(keys.map((k) => [k.id, k.secret]));
    this.tracker = new LivenessTracker(liveness);
    this.guard = new ReplayGuard(replay);
  }

  /** Replaces the key ring (rotation: keep the old key in the ring until every sender has the new). */
  setKeys(keys: readonly HeartbeatKey[]): void {
    this.keys = new Map(keys.map((k) => [k.id, k.secret]));
  }

  setPeers(names: Iterable<string>): void {
    const peers = new Set([...names].filter((n) => n !== this.node));
    this.tracker.setPeers(peers);
    this.guard.retain(peers);
  }

  /** One datagram at monotonic `now`, wall clock `wallNow`. Never throws. */
  receive(bytes: Uint8Array, now: number, wallNow: number): Received {
    const parsed = parseBeat(bytes, this.keys);
    if (!parsed.ok) return parsed;
    const beat = parsed.beat;
    if (beat.sender === this.node) return { ok: false, reason: 'self', sender: beat.sender };
    if (!this.tracker.isPeer(beat.sender)) return { ok: false, reason: 'unknown_peer', sender: beat.sender };
    const verdict = this.guard.check(beat, wallNow);
    if (verdict !== 'accept') return { ok: false, reason: verdict, sender: beat.sender };
    return { ok: true, beat, ...this.tracker.heard(beat, now) };
  }
}
