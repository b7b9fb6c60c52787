// The speaker's imperative shell: keeps the inputs of decide() current (watches, own lease, what
// it holds), runs decide() on every change and on the timer it asks for, and carries the decision
// out through NetworkOps and the ClusterApi.
import type { SpeakerConfig } from '../../lib/speaker/config';
import { decide, inSomePool } from '../../lib/speaker/decide';
import { ownAddresses } from '../../lib/speaker/interface';
import { liveUntil, observeLeases, type LeaseSighting } from '../../lib/speaker/lease';
import { addressSeries } from '../../lib/speaker/series';
import { notAnnouncedStatus } from '../../lib/speaker/status';
import { ForeignAddressError, type Clock, type NetworkOps } from '../../lib/speaker/ports';
import type {
  Announce,
  HeldAddress,
  Refusal,
  SpeakerIndex,
  SpeakerView,
  StatusUpdate,
  Withdraw,
} from '../../lib/speaker/types';
import type { ClusterApi, ClusterView } from './cluster';
import type { Logger } from './log';
import type { SpeakerMetrics } from './metrics';

/** The longest the speaker sleeps without looking again, whatever decide() says. */
const MAX_SLEEP_MS = 10_000;
/** After a failed status write, wait this long before writing that index again. */
const STATUS_RETRY_MS = 1_000;
/** After a failed announcement (no interface, `ip` failed), retry after 1 s, doubling up to 30 s. */
const ANNOUNCE_RETRY_MS = 1_000;
const ANNOUNCE_RETRY_MAX_MS = 30_000;
/** How often the speaker checks that the addresses it holds are still on their interfaces. */
const VERIFY_INTERVAL_MS = 10_000;

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Speaker {
  readonly held = new Map<string, HeldAddress>();
  /** The other speakers' Leases as this speaker saw them change (lease.ts). */
  private sightings = new Map<string, LeaseSighting>();
  /** When the own view last became fresh (monotonic): peers get a lease duration from then. */
  private viewFreshSince = Number.NEGATIVE_INFINITY;
  private wasFresh = false;
  private lastRenewOkAt = Number.NEGATIVE_INFINITY;
  private ownLeaseSeenAt = Number.NEGATIVE_INFINITY;
  private ownLeaseVersion?: string;
  private started = false;
  private shuttingDown = false;
  private running = false;
  private again = false;
  private timer?: NodeJS.Timeout;
  private readonly statusInFlight = new Set<string>();
  private readonly statusRetryAt = new Map<string, number>();
  private readonly refused = new Set<string>();
  private readonly announceRetry = new Map<string, { at: number; failures: number }>();
  /** Addresses whose `ip addr del` runs now: the presence check must not add them back. */
  private readonly removing = new Set<string>();
  private viewFresh = false;

  constructor(
    private readonly config: SpeakerConfig,
    private readonly cluster: ClusterApi & ClusterView,
    private readonly ops: NetworkOps,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly metrics: SpeakerMetrics,
  ) {}

  private get leaseMs(): number {
    return this.config.leaseDurationSeconds * 1000;
  }

  /** Ready: started and its view is fresh (it would take over indices). */
  ready(): boolean {
    return this.started && this.viewFresh && !this.shuttingDown;
  }

  /** Called by the watches on every change. */
  changed(): void {
    this.sightings = observeLeases(this.sightings, this.cluster.leases(), this.clock.now());
    const rv = this.cluster.ownLeaseVersion();
    if (rv !== undefined && rv !== this.ownLeaseVersion) {
      // The watch delivers our own renewals: proof that it is alive, not just connected.
      this.ownLeaseVersion = rv;
      this.ownLeaseSeenAt = this.clock.now();
    }
    this.kick();
  }

  /** Renews the Lease, waits for every watch to sync, adopts leftovers, then follows the cluster. */
  async start(): Promise<void> {
    void this.renewLoop();
    for (
      let waited = 0;
      !this.cluster.synced() || this.lastRenewOkAt === Number.NEGATIVE_INFINITY;
      waited += 50
    ) {
      if (this.shuttingDown) return;
      if (waited > 0 && waited % 10_000 === 0)
        this.log.warn('still waiting for the API', { waitedMs: waited });
      await sleep(50);
    }
    await this.adoptLeftovers();
    this.started = true;
    this.log.info('speaker started', { held: this.held.size });
    this.kick();
    void this.keepLoop();
  }

  /**
   * Keeps the held addresses alive in the kernel: every renew interval their lifetime is extended
   * (one `ip -batch`), so that they outlive this speaker by one lifetime at most. Every
   * VERIFY_INTERVAL_MS, and whenever the last renewal is too old to be sure they are all still there
   * (the process was frozen, a renewal failed), it first looks which are: `ip addr change` would
   * add a vanished one back.
   */
  private async keepLoop(): Promise<void> {
    let renewedAt = Number.NEGATIVE_INFINITY;
    let listedAt = Number.NEGATIVE_INFINITY;
    const lifetimeMs = this.config.addressLifetimeSeconds * 1000;
    while (!(this.shuttingDown && this.held.size === 0)) {
      await sleep(this.config.renewIntervalSeconds * 1000);
      const now = this.clock.now();
      if (now - renewedAt > lifetimeMs - 1000 || now - listedAt >= VERIFY_INTERVAL_MS) {
        if (!(await this.forgetVanished())) continue;
        listedAt = now;
      }
      const items = [...this.held.values()].filter((h) => !this.removing.has(h.address));
      try {
        await this.ops.renewAddresses(items.map((h) => ({ address: h.address, iface: h.iface })));
        renewedAt = now;
      } catch (e) {
        this.log.warn('cannot renew the lifetime of the held addresses', { error: errorText(e) });
        renewedAt = Number.NEGATIVE_INFINITY;
      }
    }
  }

  /**
   * Something else (a network manager, an operator) may remove an address this speaker holds, or
   * its lifetime ran out while the speaker was frozen. Forget those; decide() adds one back only if
   * this node owns it with a fresh view. False when the addresses cannot be listed.
   */
  private async forgetVanished(): Promise<boolean> {
    let present: Set<string>;
    try {
      present = new Set(ownAddresses(await this.ops.listAddresses()).map((a) => `${a.iface}|${a.address}`));
    } catch (e) {
      this.log.warn('cannot list addresses to check the held ones', { error: errorText(e) });
      return false;
    }
    {
      for (const h of [...this.held.values()]) {
        const gone = !present.has(`${h.iface}|${h.address}`);
        if (!gone || this.removing.has(h.address)) continue;
        // Gone (removed by someone, or its kernel lifetime ran out while the speaker was frozen):
        // forget it, and let decide() add it again only if this node owns it with a fresh view.
        this.log.warn('a held address vanished from its interface', {
          address: h.address,
          index: h.indexKey,
          iface: h.iface,
        });
        this.held.delete(h.address);
      }
      this.kick();
    }
    return true;
  }

  /**
   * Addresses from some pool left on an interface by an earlier run: decide() keeps (and
   * re-announces) those this node still owns, and removes the rest at once.
   */
  private async adoptLeftovers(): Promise<void> {
    const view = this.view(this.clock.now());
    let table;
    try {
      table = await this.ops.listAddresses();
    } catch (e) {
      this.log.error('cannot list addresses; leftovers of an earlier run stay', { error: errorText(e) });
      return;
    }
    for (const { address, iface } of ownAddresses(table)) {
      if (!inSomePool(view, address) || this.held.has(address)) continue;
      this.log.info('found an address from an earlier run', { address, iface });
      this.held.set(address, { address, iface, adopted: true, since: this.clock.now(), garpsSent: 0 });
    }
  }

  private async renewLoop(): Promise<void> {
    while (!this.shuttingDown) {
      // The renewal counts from when it was sent: the peers see it later, never earlier.
      const at = this.clock.now();
      try {
        await this.cluster.renewLease(this.clock.wallNow());
        if (this.shuttingDown) return;
        this.lastRenewOkAt = at;
        this.kick();
      } catch (e) {
        this.metrics.renewFailures.inc();
        this.log.warn('lease renewal failed', {
          error: errorText(e),
          lastRenewOkAgoMs: Number.isFinite(this.lastRenewOkAt)
            ? Math.round(this.clock.now() - this.lastRenewOkAt)
            : undefined,
        });
        this.kick();
      }
      await sleep(Math.max(0, this.config.renewIntervalSeconds * 1000 - (this.clock.now() - at)));
    }
  }

  private view(now: number): SpeakerView {
    const viewFreshUntil =
      this.started && this.cluster.synced()
        ? Math.min(this.lastRenewOkAt, this.ownLeaseSeenAt) + this.leaseMs
        : Number.NEGATIVE_INFINITY;
    const fresh = now < viewFreshUntil;
    if (fresh && !this.wasFresh) this.viewFreshSince = now;
    this.wasFresh = fresh;
    const alive = new Map<string, number>();
    for (const s of this.sightings.values())
      if (s.node !== this.config.node) alive.set(s.node, liveUntil(s, this.viewFreshSince));
    if (!this.shuttingDown) alive.set(this.config.node, this.lastRenewOkAt + this.leaseMs);
    return {
      node: this.config.node,
      liveUntil: alive,
      indices: this.cluster.indices(),
      balancers: this.cluster.balancers(),
      held: [...this.held.values()],
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
    for (const address of d.startRelease) {
      const h = this.held.get(address);
      if (!h) continue;
      h.releasingSince = now;
      this.log.info('handing over: keeping the address until the new owner announces it', {
        address,
        index: h.indexKey,
      });
    }
    for (const address of d.cancelRelease) {
      const h = this.held.get(address);
      if (!h) continue;
      delete h.releasingSince;
      this.log.info('hand-over called off: owner again', { address, index: h.indexKey });
    }
    for (const c of d.claim) {
      const h = this.held.get(c.address);
      if (!h) continue;
      h.adopted = false;
      h.indexKey = c.indexKey;
    }
    const owned = new Set(d.owned);
    for (const h of this.held.values()) h.owner = owned.has(h.address);
    for (const address of d.regained) {
      const h = this.held.get(address);
      if (!h) continue;
      h.burstAt = now;
      h.garpsSent = 0;
      this.log.info('owner again: announcing at once', { address, index: h.indexKey, iface: h.iface });
    }
    for (const address of this.announceRetry.keys()) {
      if (!d.announce.some((a) => a.address === address)) this.announceRetry.delete(address);
    }
    const due = d.announce.filter((a) => (this.announceRetry.get(a.address)?.at ?? 0) <= now);
    const results = await Promise.all([
      ...d.withdraw.map((w) => this.withdraw(w)),
      ...due.map((a) => this.announce(a)),
    ]);
    for (const g of d.garp) this.gratuitous(g.address, g.iface, now);
    for (const p of d.probe) this.probe(p.address, p.iface, now);
    for (const u of d.statusUpdates) this.writeStatus(u, now);
    this.updateSeries(view.indices);
    // A changed set of held addresses changes the statuses to write: look again at once.
    if (results.some((changed) => changed)) this.again = true;
    const retryAt = Math.min(...[...this.announceRetry.values()].map((r) => r.at));
    this.arm(Math.min(d.wakeAt, retryAt), this.clock.now());
  }

  /** Backs off an announcement that failed, and says why in the index's status. */
  private announceFailed(
    a: Announce,
    reason: string,
    message: string,
    fields: Record<string, unknown>,
  ): false {
    const failures = (this.announceRetry.get(a.address)?.failures ?? 0) + 1;
    const delay = Math.min(ANNOUNCE_RETRY_MS * 2 ** (failures - 1), ANNOUNCE_RETRY_MAX_MS);
    const now = this.clock.now();
    this.announceRetry.set(a.address, { at: now + delay, failures });
    this.log.error(message, { ...fields, reason, failures, retryInMs: delay });
    const index = this.cluster.indices().find((i) => i.key === a.indexKey);
    if (index)
      for (const u of notAnnouncedStatus(
        index,
        reason,
        `${a.address}: ${message} on ${this.config.node}`,
        now,
      ))
        this.writeStatus(u, now);
    return false;
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
      else this.log.warn('refusing to announce an address outside every L2LoadBalancer pool', fields);
    }
    this.refused.clear();
    for (const k of now) this.refused.add(k);
  }

  /** l2lb_speaker_address_announced (and the total) for what the speaker holds now. */
  private updateSeries(indices: readonly SpeakerIndex[]): void {
    this.metrics.setAnnounced(addressSeries([...this.held.values()], indices));
  }

  /**
   * Duplicate address detection for a held address: another host that answers for it makes clients
   * flip between two MACs. Counted, logged with the other host's MAC, and shown in the status
   * (decide() writes it from `conflict`) until a probe gets no answer again.
   */
  private probe(address: string, iface: string, now: number): void {
    const h = this.held.get(address);
    if (!h) return;
    h.lastProbeAt = now;
    this.ops.probeDuplicate(address, iface).then(
      (r) => {
        // The address may have been withdrawn or added anew while the probe ran.
        if (this.held.get(address) !== h || h.since > now) return;
        const had = h.conflict;
        if (r.duplicate) {
          h.conflict = { ...(r.mac ? { mac: r.mac } : {}), at: now };
          this.metrics.addressConflicts.inc({ address });
          this.log.warn('another host answers for an address this node announces', {
            address,
            iface,
            index: h.indexKey,
            mac: r.mac,
          });
        } else {
          delete h.conflict;
          if (had) this.log.info('no other host answers for the address any more', { address, iface });
        }
        if (had !== undefined || h.conflict !== undefined) this.kick();
      },
      // A probe that could not run is a command failure (counted and logged by the NetworkOps);
      // it tells nothing about a conflict, so the last finding stands.
      () => undefined,
    );
  }

  private gratuitous(address: string, iface: string, now: number): void {
    const h = this.held.get(address);
    if (!h) return;
    this.ops.sendGratuitous(address, iface);
    h.garpsSent += 1;
    h.lastGarpAt = now;
    this.log.debug('gratuitous announcement', { address, iface, index: h.indexKey, count: h.garpsSent });
  }

  private async announce(a: Announce): Promise<boolean> {
    const fields = {
      address: a.address,
      index: a.indexKey,
      reason: a.reason,
      previousAnnouncer: a.previousAnnouncer,
    };
    const iface = await this.ops.routeInterfaceFor(a.address, a.interfaces).catch(() => undefined);
    if (!iface) {
      const where = a.interfaces.length
        ? `none of ${a.interfaces.join(', ')} exists`
        : 'no interface holds its subnet and there is no default route';
      return this.announceFailed(a, 'NoInterface', `no interface to announce on: ${where}`, {
        ...fields,
        interfaces: a.interfaces,
      });
    }
    try {
      await this.ops.addAddress(a.address, iface);
    } catch (e) {
      if (e instanceof ForeignAddressError)
        return this.announceFailed(
          a,
          'AddressInUse',
          "the address is on the interface already, not as a speaker's",
          {
            ...fields,
            iface,
            error: errorText(e),
          },
        );
      return this.announceFailed(a, 'AddAddressFailed', 'cannot add the address', {
        ...fields,
        iface,
        error: errorText(e),
      });
    }
    this.announceRetry.delete(a.address);
    const at = this.clock.now();
    this.held.set(a.address, {
      address: a.address,
      iface,
      indexKey: a.indexKey,
      adopted: false,
      since: at,
      owner: true,
      garpsSent: 0,
    });
    this.gratuitous(a.address, iface, at);
    const takeover = a.previousAnnouncer !== undefined;
    if (takeover) this.metrics.takeovers.inc();
    const latencyMs = a.previousExpiredAt !== undefined ? at - a.previousExpiredAt : undefined;
    if (latencyMs !== undefined) this.metrics.takeoverSeconds.observe(latencyMs / 1000);
    this.log.info(takeover ? 'took over the address' : 'announcing the address', {
      ...fields,
      iface,
      takeoverMs: latencyMs,
    });
    return true;
  }

  private async withdraw(w: Withdraw): Promise<boolean> {
    this.removing.add(w.address);
    try {
      await this.ops.removeAddress(w.address, w.iface);
    } catch (e) {
      this.log.error('cannot remove the address', {
        address: w.address,
        index: w.indexKey,
        iface: w.iface,
        reason: w.reason,
        error: errorText(e),
      });
      return false;
    } finally {
      this.removing.delete(w.address);
    }
    this.held.delete(w.address);
    this.log.info('withdrew the address', {
      address: w.address,
      index: w.indexKey,
      iface: w.iface,
      reason: w.reason,
    });
    return true;
  }

  private writeStatus(u: StatusUpdate, now: number): void {
    const key = `${u.namespace}/${u.name}`;
    if (this.statusInFlight.has(key) || (this.statusRetryAt.get(key) ?? 0) > now) return;
    this.statusInFlight.add(key);
    this.cluster.patchStatus(u).then(
      () => {
        this.statusInFlight.delete(key);
        this.statusRetryAt.delete(key);
        this.log.info('status written', {
          index: key,
          announcingNode: u.status.announcingNode,
          announced: u.status.announced?.status,
          reason: u.status.announced?.reason,
        });
        this.kick();
      },
      (e: unknown) => {
        this.statusInFlight.delete(key);
        this.statusRetryAt.set(key, this.clock.now() + STATUS_RETRY_MS);
        this.log.warn('status write failed', { index: key, error: errorText(e) });
        setTimeout(() => this.kick(), STATUS_RETRY_MS + 1);
      },
    );
  }

  /**
   * SIGTERM: release the Lease at once so the next candidates take over, keep each address until
   * its new owner announces it (decide() bounds that by shutdownTimeoutMs), then remove the rest.
   */
  async shutdown(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.log.info('shutting down: releasing the lease, handing over', { held: this.held.size });
    try {
      await this.cluster.releaseLease();
    } catch (e) {
      this.log.warn('cannot release the lease; the others take over when it expires', {
        error: errorText(e),
      });
    }
    this.started = true;
    this.kick();
    const deadline = this.clock.now() + this.config.shutdownTimeoutMs + 1000;
    while (this.held.size > 0 && this.clock.now() < deadline) await sleep(20);
    for (const h of [...this.held.values()]) {
      await this.withdraw({
        address: h.address,
        iface: h.iface,
        indexKey: h.indexKey,
        reason: 'ShutdownDeadline',
      });
    }
    if (this.timer) clearTimeout(this.timer);
    this.updateSeries([]);
    this.log.info('shut down', { left: this.held.size });
  }
}
