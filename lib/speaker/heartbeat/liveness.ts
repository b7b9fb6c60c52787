// Whether each peer speaker is alive, judged from the heartbeats it sends, on the receiver's own
// monotonic clock (never the sender's clock: skew between nodes does not matter here).
//
// States of a peer:
// - unknown: no beat heard since it became a peer (or since this speaker started). Heartbeats
//   say nothing about it, so the Lease alone decides. A peer whose beats never arrive (UDP
//   blocked, another key, a speaker without heartbeats) therefore falls back to the Lease and is
//   never taken over by heartbeat.
// - alive: a beat came within the last `missCount × intervalMs`.
// - dead: it was heard, then `missCount` beats in a row did not come. Its addresses may be taken.
// - leaving: it said it is stopping (a graceful stop); its addresses should be taken now, and it
//   removes them only after the new owners announce.
//
// A receiver that was itself paused (GC, a starved CPU, SIGSTOP) cannot tell a silent peer from
// its own deafness: when `tick()` comes later than half the detection time after the previous one,
// every alive peer gets two more intervals before it can be declared dead.
import type { Beat } from './wire';

export type PeerState = 'unknown' | 'alive' | 'dead' | 'leaving';

export interface LivenessSettings {
  intervalMs: number;
  /** Beats missed in a row that make an alive peer dead. */
  missCount: number;
}

export interface Transition {
  peer: string;
  from: PeerState;
  to: PeerState;
  /** Monotonic ms. */
  at: number;
}

interface Peer {
  state: PeerState;
  /** Monotonic ms of the last state change (when it became dead, alive, leaving). */
  since: number;
  /** Monotonic ms after which an alive peer is dead. */
  deadline: number;
  epoch?: number;
  lastSequence?: number;
  beatsMissed: number;
  beatsHeard: number;
}

export interface Verdict {
  state: PeerState;
  /** Monotonic ms of the change into `state`. */
  since: number;
}

export interface PeerReport {
  peer: string;
  state: PeerState;
  beatsMissed: number;
  beatsHeard: number;
}

export class LivenessTracker {
  private readonly peers = new Map<string, Peer>();
  private lastTick?: number;

  constructor(readonly settings: LivenessSettings) {}

  /** Time without a beat after which an alive peer is dead. */
  get detectionMs(): number {
    return this.settings.intervalMs * this.settings.missCount;
  }

  /** Makes `names` the peer set: new ones start unknown, missing ones are forgotten. */
  setPeers(names: Iterable<string>): void {
    const next = new Set(names);
    for (const name of this.peers.keys()) if (!next.has(name)) this.peers.delete(name);
    for (const name of next)
      if (!this.peers.has(name))
        this.peers.set(name, { state: 'unknown', since: 0, deadline: 0, beatsMissed: 0, beatsHeard: 0 });
  }

  isPeer(name: string): boolean {
    return this.peers.has(name);
  }

  /**
   * An authentic, non-replayed beat from a peer at monotonic `now`. Returns the state change it
   * causes, if any, and how many beats of the same epoch were lost before it.
   */
  heard(beat: Beat, now: number): { transition?: Transition; missed: number } {
    const p = this.peers.get(beat.sender);
    if (!p) return { missed: 0 };
    let missed = 0;
    if (p.epoch === beat.epoch && p.lastSequence !== undefined && beat.sequence > p.lastSequence)
      missed = beat.sequence - p.lastSequence - 1;
    if (p.epoch !== beat.epoch || p.lastSequence === undefined || beat.sequence > p.lastSequence) {
      p.epoch = beat.epoch;
      p.lastSequence = beat.sequence;
    }
    p.beatsMissed += missed;
    p.beatsHeard += 1;
    p.deadline = now + this.detectionMs;
    const to: PeerState = beat.leaving ? 'leaving' : 'alive';
    if (p.state === to) return { missed };
    const transition = { peer: beat.sender, from: p.state, to, at: now };
    p.state = to;
    p.since = now;
    return { transition, missed };
  }

  /** Declares dead the alive peers whose deadline passed; call it on the timer nextDeadline() asks. */
  tick(now: number): Transition[] {
    const paused = this.lastTick !== undefined && now - this.lastTick > this.detectionMs / 2;
    this.lastTick = now;
    const out: Transition[] = [];
    for (const [peer, p] of this.peers) {
      if (p.state !== 'alive') continue;
      if (paused) p.deadline = Math.max(p.deadline, now + 2 * this.settings.intervalMs);
      if (now >= p.deadline) {
        out.push({ peer, from: 'alive', to: 'dead', at: now });
        p.state = 'dead';
        p.since = now;
      }
    }
    return out;
  }

  /** The earliest monotonic time an alive peer can turn dead (Infinity when none is alive). */
  nextDeadline(): number {
    let next = Number.POSITIVE_INFINITY;
    for (const p of this.peers.values()) if (p.state === 'alive') next = Math.min(next, p.deadline);
    return next;
  }

  state(peer: string): PeerState {
    return this.peers.get(peer)?.state ?? 'unknown';
  }

  /** Every peer's state, for decide() and the metrics. */
  states(): ReadonlyMap<string, PeerState> {
    return new Map([...this.peers].map(([name, p]) => [name, p.state]));
  }

  /** Every peer's state and since when (monotonic ms), for combineLiveness(). */
  verdicts(): ReadonlyMap<string, Verdict> {
    return new Map([...this.peers].map(([name, p]) => [name, { state: p.state, since: p.since }]));
  }

  report(): PeerReport[] {
    return [...this.peers].map(([peer, p]) => ({
      peer,
      state: p.state,
      beatsMissed: p.beatsMissed,
      beatsHeard: p.beatsHeard,
    }));
  }
}
