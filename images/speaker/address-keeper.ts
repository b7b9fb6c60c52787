// Address keeping: the addresses this speaker put on its interfaces (marked, with a kernel lifetime
// it renews), and the announcements and probes for them, through NetworkOps.
import type { SpeakerConfig } from '../../lib/speaker/config';
import { inSomePool } from '../../lib/speaker/decide';
import { ownAddresses } from '../../lib/speaker/interface';
import { ForeignAddressError, type Clock, type NetworkOps } from '../../lib/speaker/ports';
import type { Announce, Decision, HeldAddress, SpeakerView, Withdraw } from '../../lib/speaker/types';
import type { Logger } from './log';
import type { SpeakerMetrics } from './metrics';
import { errorText, sleep } from './util';

/** After a failed announcement (no interface, `ip` failed), retry after 1 s, doubling up to 30 s. */
const ANNOUNCE_RETRY_MS = 1_000;
const ANNOUNCE_RETRY_MAX_MS = 30_000;
/** How often the speaker checks that the addresses it holds are still on their interfaces. */
const VERIFY_INTERVAL_MS = 10_000;

export interface AddressEvents {
  /** The set or the state of the held addresses changed: decide again. */
  changed(): void;
  /** An announcement failed (it is retried with a back-off); the index's status should say why. */
  announceFailed(a: Announce, reason: string, message: string): void;
}

export class AddressKeeper {
  readonly held = new Map<string, HeldAddress>();
  private readonly announceRetry = new Map<string, { at: number; failures: number }>();
  /** Addresses whose `ip addr del` runs now: the presence check must not add them back. */
  private readonly removing = new Set<string>();

  constructor(
    private readonly config: SpeakerConfig,
    private readonly ops: NetworkOps,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly metrics: SpeakerMetrics,
    private readonly events: AddressEvents,
  ) {}

  /**
   * Keeps the held addresses alive in the kernel until `done()`: four times per lifetime (every
   * second by default, whatever the lease) their lifetime is extended (one `ip -batch`), so that
   * they outlive this speaker by one lifetime at most. Every VERIFY_INTERVAL_MS, and whenever the last renewal is too old to be sure they are all
   * still there (the process was frozen, a renewal failed), it first looks which are: `ip addr
   * change` would add a vanished one back.
   */
  async keep(done: () => boolean): Promise<void> {
    let renewedAt = Number.NEGATIVE_INFINITY;
    let listedAt = Number.NEGATIVE_INFINITY;
    const lifetimeMs = this.config.addressLifetimeSeconds * 1000;
    for (let round = 0; !done(); round++) {
      // The first round runs at once: an address adopted from an earlier run carries what is left of
      // that run's lifetime, often less than a renew interval after a quick restart.
      if (round > 0) await sleep(this.config.addressRenewMs);
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
    // An address added while the listing ran may be missing from it: only those held before count.
    const listedFrom = this.clock.now();
    try {
      present = new Set(ownAddresses(await this.ops.listAddresses()).map((a) => `${a.iface}|${a.address}`));
    } catch (e) {
      this.log.warn('cannot list addresses to check the held ones', { error: errorText(e) });
      return false;
    }
    for (const h of [...this.held.values()]) {
      const gone = !present.has(`${h.iface}|${h.address}`);
      if (!gone || this.removing.has(h.address) || h.since >= listedFrom) continue;
      this.log.warn('a held address vanished from its interface', {
        address: h.address,
        index: h.indexKey,
        iface: h.iface,
      });
      this.held.delete(h.address);
    }
    this.events.changed();
    return true;
  }

  /**
   * Addresses from some pool left on an interface by an earlier run: decide() keeps (and
   * re-announces) those this node still owns, and removes the rest at once.
   */
  async adoptLeftovers(view: SpeakerView): Promise<void> {
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

  /** Records what the decision says about the held addresses: hand-overs, claims, ownership. */
  follow(d: Decision, now: number): void {
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
  }

  /**
   * Carries out the decision's withdrawals and the announcements not waiting for a retry, then
   * starts its gratuitous announcements and probes. True when the set of held addresses changed.
   */
  async carryOut(d: Decision, now: number): Promise<boolean> {
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
    return results.some((changed) => changed);
  }

  /** When the earliest failed announcement is due again (Infinity: none). */
  nextRetryAt(): number {
    return Math.min(...[...this.announceRetry.values()].map((r) => r.at));
  }

  /** Removes every address still held (the shutdown deadline passed). */
  async withdrawAll(): Promise<void> {
    for (const h of [...this.held.values()]) {
      await this.withdraw({
        address: h.address,
        iface: h.iface,
        indexKey: h.indexKey,
        reason: 'ShutdownDeadline',
      });
    }
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
    this.announceRetry.set(a.address, { at: this.clock.now() + delay, failures });
    this.log.error(message, { ...fields, reason, failures, retryInMs: delay });
    this.events.announceFailed(a, reason, message);
    return false;
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
        if (had !== undefined || h.conflict !== undefined) this.events.changed();
      },
      // A probe that could not run is a command failure (counted and logged by the NetworkOps);
      // it tells nothing about a conflict, so the last finding stands.
      () => undefined,
    );
  }

  private gratuitous(address: string, iface: string, now: number): void {
    const h = this.held.get(address);
    if (!h) return;
    // The first of a round (a just gained address) goes ahead of refreshes when commands queue.
    this.ops.sendGratuitous(address, iface, h.garpsSent === 0);
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
          { ...fields, iface, error: errorText(e) },
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
    if (takeover) this.metrics.takeovers.inc({ cause: a.cause ?? 'lease' });
    const latencyMs = a.previousExpiredAt !== undefined ? at - a.previousExpiredAt : undefined;
    if (latencyMs !== undefined) this.metrics.takeoverSeconds.observe(latencyMs / 1000);
    this.log.info(takeover ? 'took over the address' : 'announcing the address', {
      ...fields,
      iface,
      takeoverMs: latencyMs,
      ...(takeover ? { cause: a.cause } : {}),
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
}
