// The speaker's imperative shell, wired around the pure decide(): the LeaseKeeper keeps its own
// Lease and judges liveness, the AddressKeeper holds and announces addresses, the StatusWriter
// writes the L2LBService status. Speaker runs decide() on every change and on the timer it asks
// for, and hands each part of the decision to the part that carries it out.
import type { LeaseState } from '../../lib/model';
import type { SpeakerConfig } from '../../lib/speaker/config';
import { clampMessage } from '../../lib/messages';
import type { LeaseLiveness } from '../../lib/speaker/heartbeat/combine';
import type { Verdict } from '../../lib/speaker/heartbeat/liveness';
import { decide } from '../../lib/speaker/decide';
import { addressSeries } from '../../lib/speaker/series';
import { filteredAddresses } from '../../lib/speaker/firewall';
import type { Clock, NetworkOps, PortFilter } from '../../lib/speaker/ports';
import type { Refusal, SpeakerIndex, SpeakerView } from '../../lib/speaker/types';
import { AddressKeeper } from './address-keeper';
import type { ClusterApi, ClusterView } from './cluster';
import { LeaseKeeper } from './lease-keeper';
import type { Logger } from './log';
import type { SpeakerMetrics } from './metrics';
import { StatusWriter } from './status-writer';
import { errorText, sleep } from './util';

/**
 * The heartbeats between the speakers (images/speaker/heartbeat.ts), as the speaker uses them: the
 * peers follow the Leases, and their verdicts fold into the Lease liveness decide() reads.
 */
export interface PeerHeartbeats {
  /** The peers are the speaker Leases that say where they listen. */
  observe(leases: readonly LeaseState[]): void;
  /** The Lease liveness of each peer with the heartbeat verdicts folded in (combineLiveness). */
  liveUntil(leases: ReadonlyMap<string, LeaseLiveness>, now: number): Map<string, number>;
  verdicts(): ReadonlyMap<string, Verdict>;
  /** Every beat from now on says goodbye: the peers take this node's addresses at once. */
  leave(): void;
}

/** The longest the speaker sleeps without looking again, whatever decide() says. */
const MAX_SLEEP_MS = 10_000;

export class Speaker {
  private readonly lease: LeaseKeeper;
  private readonly addresses: AddressKeeper;
  private readonly status: StatusWriter;
  private started = false;
  private shuttingDown = false;
  private running = false;
  private again = false;
  private timer?: NodeJS.Timeout;
  private readonly refused = new Set<string>();
  /** The malformed L2LBServices logged, with what was said of each. */
  private malformedLogged = new Map<string, string>();
  private viewFresh = false;

  constructor(
    private readonly config: SpeakerConfig,
    private readonly cluster: ClusterApi & ClusterView,
    ops: NetworkOps,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly metrics: SpeakerMetrics,
    /** Only the Services' ports answer on the held addresses (absent: the filter is off). */
    private readonly portFilter?: PortFilter,
    /** Absent: no heartbeat key or address, the Leases alone decide. */
    private readonly heartbeats?: PeerHeartbeats,
  ) {
    const kick = (): void => this.kick();
    this.lease = new LeaseKeeper(config, cluster, clock, log, metrics, kick);
    this.status = new StatusWriter(cluster, config.node, clock, log, kick);
    this.addresses = new AddressKeeper(config, ops, clock, log, metrics, {
      changed: kick,
      announceFailed: (a, reason, message) =>
        this.status.notAnnounced(a.indexKey, a.address, reason, message),
    });
  }

  /** Ready: started and its view is fresh (it would take over indices). */
  ready(): boolean {
    return this.started && this.viewFresh && !this.shuttingDown;
  }

  /** Called by the watches on every change. */
  changed(): void {
    this.lease.observe();
    this.heartbeats?.observe(this.cluster.leases());
    this.kick();
  }

  /** Renews the Lease, waits for every watch to sync, adopts leftovers, then follows the cluster. */
  async start(): Promise<void> {
    void this.lease.run();
    for (let waited = 0; !this.cluster.synced() || !this.lease.renewed; waited += 50) {
      if (this.shuttingDown) return;
      if (waited > 0 && waited % 10_000 === 0)
        this.log.warn('still waiting for the API', { waitedMs: waited });
      await sleep(50);
    }
    await this.addresses.adoptLeftovers(this.view(this.clock.now()));
    this.started = true;
    this.log.info('speaker started', { held: this.addresses.held.size });
    this.kick();
    void this.addresses.keep(() => this.shuttingDown && this.addresses.held.size === 0);
  }

  private view(now: number): SpeakerView {
    const lease = this.lease.liveness(now, this.started && this.cluster.synced());
    const { viewFreshUntil } = lease;
    let liveUntil = lease.liveUntil;
    if (this.heartbeats) {
      liveUntil = this.heartbeats.liveUntil(lease.leases, now);
      const own = lease.liveUntil.get(this.config.node);
      if (own !== undefined) liveUntil.set(this.config.node, own);
    }
    return {
      node: this.config.node,
      liveUntil,
      ...(this.heartbeats ? { heartbeats: this.heartbeats.verdicts() } : {}),
      releasedLeases: lease.released,
      apiContactAt: lease.apiContactAt,
      indices: this.cluster.indices(),
      balancers: this.cluster.balancers(),
      held: [...this.addresses.held.values()],
      viewFreshUntil,
      shuttingDown: this.shuttingDown,
      timings: {
        garp: this.config.garp,
        handoverTimeoutMs: this.config.handoverTimeoutMs,
        shutdownTimeoutMs: this.config.shutdownTimeoutMs,
        statusSettleMs: this.config.statusSettleMs,
        conflictCheckMs: this.config.conflictCheckSeconds * 1000,
        staleProbeMs: this.config.staleProbeMs,
      },
      wallOffsetMs: this.clock.wallNow() - this.clock.now(),
    };
  }

  /** Runs reconcile soon; calls that come while one runs fold into one more run. */
  kick(): void {
    if (!this.started && !this.shuttingDown) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        await this.reconcile();
      } while (this.again);
    } catch (e) {
      this.log.error('reconcile failed', { error: errorText(e) });
    } finally {
      this.running = false;
    }
  }

  private arm(wakeAt: number, now: number): void {
    if (this.timer) clearTimeout(this.timer);
    // +1 ms: a lease is fresh while expiry > now, so wake when it no longer is.
    const delay = Math.min(Math.max(wakeAt - now + 1, 0), MAX_SLEEP_MS);
    this.timer = setTimeout(() => this.kick(), delay);
  }

  private async reconcile(): Promise<void> {
    const now = this.clock.now();
    const view = this.view(now);
    const d = decide(view, now);
    if (d.viewFresh !== this.viewFresh) {
      this.log.info(
        d.viewFresh
          ? 'view is fresh: may take over indices'
          : 'view is stale: keeping what it has, taking nothing new',
      );
      this.viewFresh = d.viewFresh;
      this.metrics.viewFresh.set(d.viewFresh ? 1 : 0);
    }
    this.logRefusals(d.refusals);
    this.refuseMalformed(d.viewFresh);
    this.addresses.follow(d, now);
    // The filter covers an address before it reaches the interface, and lets it go in the run
    // after it left (a changed held set always runs decide() again).
    await this.portFilter?.sync(filteredAddresses([...view.held, ...d.announce], view.indices));
    const heldChanged = await this.addresses.carryOut(d, now);
    for (const u of d.statusUpdates) this.status.write(u, now);
    this.updateSeries(view.indices);
    // A changed set of held addresses changes the statuses to write: look again at once.
    if (heldChanged) this.again = true;
    this.arm(Math.min(d.wakeAt, this.addresses.nextRetryAt()), this.clock.now());
  }

  private logRefusals(refusals: readonly Refusal[]): void {
    const now = new Set(refusals.map((r) => `${r.indexKey}|${r.address}`));
    for (const r of refusals) {
      if (this.refused.has(`${r.indexKey}|${r.address}`)) continue;
      const fields = { address: r.address, index: r.indexKey, reason: r.reason };
      if (r.reason === 'AddressConflict')
        this.log.warn('refusing to announce an address that an older L2LBService holds', {
          ...fields,
          heldBy: r.heldBy,
        });
      else if (r.reason === 'InvalidInterface')
        this.log.warn('refusing to announce: the L2LoadBalancer lists no valid interface name', fields);
      else this.log.warn('refusing to announce an address outside every L2LoadBalancer pool', fields);
    }
    this.refused.clear();
    for (const k of now) this.refused.add(k);
  }

  /**
   * L2LBServices with a malformed spec never reach decide() (nothing is announced for them; an
   * address held for one is withdrawn as for a deleted one). Each is logged once per change and
   * gets `Announced=False`, reason `InvalidSpec`, with a message naming the object and the fields;
   * the message names no node, so every speaker writes the same status and only the first writes.
   * Like every status, written only with a fresh view.
   */
  private refuseMalformed(fresh: boolean): void {
    const now = new Map<string, string>();
    for (const { index, problems } of this.cluster.malformed()) {
      const message = clampMessage(problems.join('; '));
      now.set(index.key, message);
      if (this.malformedLogged.get(index.key) !== message)
        this.log.warn('refusing a malformed L2LBService: nothing is announced for it', {
          index: index.key,
          problems,
        });
      if (fresh) this.status.refused(index, 'InvalidSpec', message);
    }
    this.malformedLogged = now;
  }

  /** l2lb_speaker_address_announced (and the total) for what the speaker holds now. */
  private updateSeries(indices: readonly SpeakerIndex[]): void {
    this.metrics.setAnnounced(addressSeries([...this.addresses.held.values()], indices));
  }

  /**
   * SIGTERM: say goodbye in a heartbeat and release the Lease at once so the next candidates take
   * over, keep each address until its new owner announces it (decide() bounds that by
   * shutdownTimeoutMs), then remove the rest. The goodbye goes first: the peers hear it within a
   * millisecond, the released Lease only through the API server and their watches.
   */
  async shutdown(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.log.info('shutting down: releasing the lease, handing over', { held: this.addresses.held.size });
    this.heartbeats?.leave();
    await this.lease.release();
    this.started = true;
    this.kick();
    const deadline = this.clock.now() + this.config.shutdownTimeoutMs + 1000;
    while (this.addresses.held.size > 0 && this.clock.now() < deadline) await sleep(20);
    await this.addresses.withdrawAll();
    await this.portFilter?.remove();
    if (this.timer) clearTimeout(this.timer);
    this.updateSeries([]);
    this.log.info('shut down', { left: this.addresses.held.size });
  }
}
