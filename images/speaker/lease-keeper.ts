// Lease keeping: renews this node's Lease, follows the peers' Leases, and says how long the view
// and each speaker count as alive, all on the local monotonic clock (lib/objects/lease.ts).
import type { SpeakerConfig } from '../../lib/speaker/config';
import { observeLeases, type LeaseSighting } from '../../lib/objects';
import { leaseLiveness, type LeaseLiveness } from '../../lib/speaker/heartbeat/combine';
import type { Clock } from '../../lib/speaker/ports';
import type { ClusterApi, ClusterView } from './cluster';
import type { Logger } from './log';
import type { SpeakerMetrics } from './metrics';
import { errorText, sleep } from './util';

/** What decide() needs to know about liveness at one moment. */
export interface Liveness {
  /** Until when (monotonic ms) this speaker's own view counts as fresh. */
  viewFreshUntil: number;
  /** Until when (monotonic ms) each speaker, this one included unless it shuts down, is alive. */
  liveUntil: Map<string, number>;
  /** The other speakers' Lease liveness, for the heartbeats to fold into (combineLiveness). */
  leases: Map<string, LeaseLiveness>;
  /** The other speakers whose Lease is released (a graceful stop). */
  released: Set<string>;
  /** The last proof that the API server saw this speaker (monotonic ms): its last good renewal. */
  apiContactAt: number;
}

/** The first retry after a failed renewal. */
const RETRY_FIRST_MS = 1000;

export class LeaseKeeper {
  /** The other speakers' Leases as this speaker saw them change. */
  private sightings = new Map<string, LeaseSighting>();
  /** When the own view last became fresh (monotonic): peers get a lease duration from then. */
  private viewFreshSince = Number.NEGATIVE_INFINITY;
  private wasFresh = false;
  private lastRenewOkAt = Number.NEGATIVE_INFINITY;
  private ownLeaseSeenAt = Number.NEGATIVE_INFINITY;
  private ownLeaseVersion?: string;
  private released = false;

  constructor(
    private readonly config: SpeakerConfig,
    private readonly cluster: Pick<ClusterApi, 'renewLease' | 'releaseLease'> &
      Pick<ClusterView, 'leases' | 'ownLeaseVersion'>,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly metrics: SpeakerMetrics,
    /** Called after every renewal attempt: the view's freshness may have changed. */
    private readonly changed: () => void,
  ) {}

  private get leaseMs(): number {
    return this.config.leaseDurationSeconds * 1000;
  }

  /** At least one renewal went through. */
  get renewed(): boolean {
    return this.lastRenewOkAt !== Number.NEGATIVE_INFINITY;
  }

  /** Takes in the Leases as the watch shows them now. */
  observe(): void {
    this.sightings = observeLeases(this.sightings, this.cluster.leases(), this.clock.now());
    // Compared for equality only: resourceVersions are opaque.
    const rv = this.cluster.ownLeaseVersion();
    if (rv !== undefined && rv !== this.ownLeaseVersion) {
      // The watch delivers our own renewals: proof that it is alive, not just connected.
      this.ownLeaseVersion = rv;
      this.ownLeaseSeenAt = this.clock.now();
    }
  }

  /**
   * Renews the Lease every renew interval until release(). A failed renewal is tried again after
   * 1 s, doubling up to the renew interval: with renewals rare (15 s), waiting a whole interval
   * after one failure would leave the view half a lease from going stale.
   */
  async run(): Promise<void> {
    let failures = 0;
    while (!this.released) {
      // The renewal counts from when it was sent: the peers see it later, never earlier.
      const at = this.clock.now();
      try {
        await this.cluster.renewLease(this.clock.wallNow());
        if (this.released) return;
        this.lastRenewOkAt = at;
        failures = 0;
        this.changed();
      } catch (e) {
        failures += 1;
        this.metrics.renewFailures.inc();
        this.log.warn('lease renewal failed', {
          error: errorText(e),
          lastRenewOkAgoMs: Number.isFinite(this.lastRenewOkAt)
            ? Math.round(this.clock.now() - this.lastRenewOkAt)
            : undefined,
        });
        this.changed();
      }
      const intervalMs = this.config.renewIntervalSeconds * 1000;
      const waitMs = failures > 0 ? Math.min(intervalMs, RETRY_FIRST_MS * 2 ** (failures - 1)) : intervalMs;
      await sleep(Math.max(0, waitMs - (this.clock.now() - at)));
    }
  }

  /** Stops renewing and clears the Lease so that the next candidates take over at once. */
  async release(): Promise<void> {
    this.released = true;
    try {
      await this.cluster.releaseLease();
    } catch (e) {
      this.log.warn('cannot release the lease; the others take over when it expires', {
        error: errorText(e),
      });
    }
  }

  /**
   * The view is fresh while both the last renewal and the last sight of it through the watch are
   * younger than a lease duration; `canBeFresh` is false before start and while a watch is not
   * synced. Peers are alive for a lease duration after their renewal was seen (or the view became
   * fresh again); this speaker is alive for a lease duration after its last renewal, until release().
   */
  liveness(now: number, canBeFresh: boolean): Liveness {
    const viewFreshUntil = canBeFresh
      ? Math.min(this.lastRenewOkAt, this.ownLeaseSeenAt) + this.leaseMs
      : Number.NEGATIVE_INFINITY;
    const fresh = now < viewFreshUntil;
    if (fresh && !this.wasFresh) this.viewFreshSince = now;
    this.wasFresh = fresh;
    const { leases, released } = leaseLiveness(this.sightings, this.viewFreshSince, this.config.node);
    const alive = new Map([...leases].map(([node, l]) => [node, l.liveUntil]));
    if (!this.released) alive.set(this.config.node, this.lastRenewOkAt + this.leaseMs);
    return {
      viewFreshUntil,
      liveUntil: alive,
      leases,
      released,
      apiContactAt: Math.min(this.lastRenewOkAt, this.ownLeaseSeenAt),
    };
  }
}
