import type { LeaseState } from '../../lib/model';
import { decide, ownerOf } from '../../lib/speaker/decide';
import {
  firstProbeDelayMs,
  garpOffsetMs,
  nextGarpAt,
  nextProbeAt,
  nextSlot,
  phaseMs,
} from '../../lib/speaker/garp';
import { leaseFresh, microTime } from '../../lib/speaker/lease';
import { parseIndex } from '../../lib/speaker/parse';
import { parseSpeakerPool } from '../../lib/speaker/pools';
import { addressSeries } from '../../lib/speaker/series';
import type { HeldAddress, SpeakerIndex, SpeakerView } from '../../lib/speaker/types';

const T0 = Date.parse('2025-01-01T00:00:00Z');
const GARP = { count: 4, intervalMilliseconds: 1000, refreshSeconds: 60 };

/** A lease renewed `agoMs` before T0 (3 s duration). */
const lease = (node: string, agoMs = 0): LeaseState => ({
  node,
  renewTime: microTime(T0 - agoMs),
  durationSeconds: 3,
});
const released = (node: string): LeaseState => ({ node, durationSeconds: 3 });

const index = (name: string, address: string, nodes: string[], announcingNode?: string): SpeakerIndex => ({
  key: `shop/${name}`,
  namespace: 'shop',
  name,
  address,
  nodes,
  l2lbName: 'public',
  createdAt: '2024-12-01T00:00:00Z',
  service: { namespace: 'shop', name: name.replace(/-[^-]+-\d+$/, '') },
  status: {
    ingress: announcingNode ? [address] : [],
    ...(announcingNode ? { announcingNode, announcedSince: '2025-01-01T00:00:00.000Z' } : {}),
  },
});

const held = (address: string, extra: Partial<HeldAddress> = {}): HeldAddress => ({
  address,
  iface: 'eth0',
  indexKey: 'shop/web-public-0',
  adopted: false,
  since: T0 - 10_000,
  garpsSent: 4,
  lastGarpAt: T0 - 5_000,
  ...extra,
});

function view(node: string, over: Partial<SpeakerView> = {}): SpeakerView {
  return {
    node,
    leases: new Map([lease('node-a'), lease('node-b'), lease('node-c')].map((l) => [l.node, l])),
    indices: [index('web-public-0', '192.0.2.10', ['node-a', 'node-b', 'node-c'])],
    balancers: [
      { name: 'public', pool: parseSpeakerPool(['192.0.2.0/24', '2001:db8::/64']), interfaces: [] },
    ],
    held: [],
    viewFreshUntil: T0 + 3000,
    shuttingDown: false,
    timings: {
      garp: GARP,
      handoverTimeoutMs: 2000,
      shutdownTimeoutMs: 3000,
      statusSettleMs: 100,
      conflictCheckMs: 60_000,
    },
    ...over,
  };
}

const leases = (...ls: LeaseState[]): Map<string, LeaseState> => new Map(ls.map((l) => [l.node, l]));

describe('lease freshness', () => {
  it('counts a lease as fresh until renewTime plus its duration', () => {
    expect(leaseFresh(lease('node-a', 2999), T0)).toBe(true);
    expect(leaseFresh(lease('node-a', 3000), T0)).toBe(false);
  });

  it('counts a released lease (no renewTime) as expired', () => {
    expect(leaseFresh(released('node-a'), T0)).toBe(false);
  });

  it('writes renewTime as MicroTime with six fractional digits', () => {
    expect(microTime(T0 + 123)).toBe('2025-01-01T00:00:00.123000Z');
  });
});

describe('ownership by rank and lease freshness', () => {
  it('announces an index on its preferred node while that node is alive', () => {
    const d = decide(view('node-a'), T0);
    expect(d.announce).toEqual([
      expect.objectContaining({
        address: '192.0.2.10',
        indexKey: 'shop/web-public-0',
        reason: 'PreferredCandidate',
      }),
    ]);
    expect(decide(view('node-b'), T0).announce).toEqual([]);
  });

  it('lets the second candidate take over once the first lease has expired', () => {
    const v = view('node-b', {
      leases: leases(lease('node-a', 3500), lease('node-b'), lease('node-c')),
      indices: [index('web-public-0', '192.0.2.10', ['node-a', 'node-b', 'node-c'], 'node-a')],
    });
    const d = decide(v, T0);
    expect(d.announce).toEqual([
      expect.objectContaining({
        address: '192.0.2.10',
        reason: 'FirstLiveCandidate',
        previousAnnouncer: 'node-a',
        previousExpiredAt: T0 - 500,
      }),
    ]);
    expect(decide({ ...v, node: 'node-c' }, T0).announce).toEqual([]);
  });

  it('wakes up exactly when a higher-ranked lease runs out', () => {
    const v = view('node-b', { leases: leases(lease('node-a', 1000), lease('node-b'), lease('node-c')) });
    const d = decide(v, T0);
    expect(d.announce).toEqual([]);
    expect(d.wakeAt).toBe(T0 + 2000);
    expect(decide(v, d.wakeAt).announce).toHaveLength(1);
  });

  it('ignores candidates without a lease and nodes not in the list', () => {
    const v = view('node-c', {
      leases: leases(lease('node-c'), lease('node-x')),
      indices: [index('web-public-0', '192.0.2.10', ['node-a', 'node-b', 'node-c'])],
    });
    expect(ownerOf(v.indices[0]!, v, T0)).toBe('node-c');
    expect(decide(view('node-x', { leases: v.leases }), T0).announce).toEqual([]);
  });

  it('announces nothing for an index without an address', () => {
    expect(decide(view('node-a', { indices: [index('web-public-0', '', ['node-a'])] }), T0).announce).toEqual(
      [],
    );
  });
});

describe('a stale own view', () => {
  it('takes nothing new while its own view is stale', () => {
    const v = view('node-b', {
      leases: leases(lease('node-a', 5000), lease('node-b', 3500), lease('node-c')),
      viewFreshUntil: T0 - 500,
    });
    const d = decide(v, T0);
    expect(d.viewFresh).toBe(false);
    expect(d.announce).toEqual([]);
  });

  it('keeps (and keeps refreshing) what it holds while cut off, and writes no status', () => {
    const v = view('node-a', {
      leases: leases(lease('node-a', 5000), lease('node-b', 5000)),
      // The refresh is due a period after the last one, in the address's slot: 91 s ago is overdue.
      held: [held('192.0.2.10', { lastGarpAt: T0 - 91_000 })],
      viewFreshUntil: T0 - 2000,
    });
    const d = decide(v, T0);
    expect(d.withdraw).toEqual([]);
    expect(d.garp).toEqual([{ address: '192.0.2.10', iface: 'eth0' }]);
    expect(d.statusUpdates).toEqual([]);
  });

  it('keeps an address even when the view says another node owns it now', () => {
    const v = view('node-b', {
      held: [held('192.0.2.10')],
      viewFreshUntil: T0 - 1,
    });
    expect(decide(v, T0).withdraw).toEqual([]);
  });
});

describe('make-before-break hand-over', () => {
  // node-a is back and first again; node-b holds the address.
  const handBack = (announcingNode: string, extra: Partial<HeldAddress> = {}): SpeakerView =>
    view('node-b', {
      indices: [index('web-public-0', '192.0.2.10', ['node-a', 'node-b'], announcingNode)],
      held: [held('192.0.2.10', extra)],
    });

  it('keeps the address while the new owner has not reported announcing it', () => {
    const d = decide(handBack('node-b'), T0);
    expect(d.withdraw).toEqual([]);
    expect(d.startRelease).toEqual(['192.0.2.10']);
    expect(d.garp).toEqual([]);
    expect(d.wakeAt).toBeLessThanOrEqual(T0 + 2000);
  });

  it('removes the address as soon as the new owner reports announcing it', () => {
    const d = decide(handBack('node-a', { releasingSince: T0 - 100 }), T0);
    expect(d.withdraw).toEqual([expect.objectContaining({ address: '192.0.2.10', reason: 'HandedOver' })]);
  });

  it('removes the address after the hand-over bound even without a report', () => {
    const d = decide(handBack('node-b', { releasingSince: T0 - 2000 }), T0);
    expect(d.withdraw).toEqual([expect.objectContaining({ reason: 'HandoverTimeout' })]);
  });

  it('sends no announcement for an address it is handing over', () => {
    const d = decide(handBack('node-b', { releasingSince: T0 - 100, garpsSent: 1, since: T0 - 1500 }), T0);
    expect(d.garp).toEqual([]);
  });

  it('calls off the hand-over when it becomes the owner again', () => {
    const v = view('node-a', {
      leases: leases(lease('node-a'), lease('node-b')),
      held: [held('192.0.2.10', { releasingSince: T0 - 100 })],
    });
    expect(decide(v, T0).cancelRelease).toEqual(['192.0.2.10']);
  });

  it('removes at once an address whose index is gone', () => {
    const d = decide(view('node-a', { indices: [], held: [held('192.0.2.10')] }), T0);
    expect(d.withdraw).toEqual([expect.objectContaining({ reason: 'IndexGone' })]);
  });

  it('removes at once an address whose candidates all have expired leases, and clears its status', () => {
    const v = view('node-a', {
      indices: [index('web-public-0', '192.0.2.10', ['node-c'], 'node-a')],
      leases: leases(lease('node-a'), lease('node-c', 9000)),
      held: [held('192.0.2.10')],
    });
    const d = decide(v, T0);
    expect(d.withdraw).toEqual([expect.objectContaining({ reason: 'NoLiveCandidate' })]);
    expect(d.statusUpdates).toEqual([
      expect.objectContaining({ clearAnnouncer: true, status: expect.objectContaining({ ingress: [] }) }),
    ]);
  });
});

describe('shutdown (SIGTERM)', () => {
  const shutdown = (announcingNode: string, extra: Partial<HeldAddress> = {}): SpeakerView =>
    view('node-a', {
      shuttingDown: true,
      leases: leases(released('node-a'), lease('node-b')),
      indices: [index('web-public-0', '192.0.2.10', ['node-a', 'node-b'], announcingNode)],
      held: [held('192.0.2.10', extra)],
    });

  it('keeps every address until its new owner announces it', () => {
    const d = decide(shutdown('node-a'), T0);
    expect(d.withdraw).toEqual([]);
    expect(d.startRelease).toEqual(['192.0.2.10']);
    expect(d.announce).toEqual([]);
  });

  it('removes an address once the new owner announces it', () => {
    expect(decide(shutdown('node-b', { releasingSince: T0 - 50 }), T0).withdraw).toEqual([
      expect.objectContaining({ reason: 'HandedOver' }),
    ]);
  });

  it('removes every address after the shutdown bound', () => {
    const d = decide(shutdown('node-a', { releasingSince: T0 - 3000 }), T0);
    expect(d.withdraw).toEqual([expect.objectContaining({ reason: 'HandoverTimeout' })]);
  });

  it('removes at once an address nobody else can take', () => {
    const v = { ...shutdown('node-a'), leases: leases(released('node-a'), lease('node-b', 4000)) };
    expect(decide(v, T0).withdraw).toEqual([expect.objectContaining({ reason: 'NoLiveCandidate' })]);
  });

  it('does not count itself as a candidate even if its lease still looks fresh', () => {
    const v = { ...shutdown('node-a'), leases: leases(lease('node-a'), lease('node-b')) };
    expect(ownerOf(v.indices[0]!, v, T0)).toBe('node-b');
  });
});

describe('restart', () => {
  it('re-announces at once a leftover address it still owns', () => {
    const v = view('node-a', {
      held: [held('192.0.2.10', { adopted: true, indexKey: undefined, since: T0, garpsSent: 0 })],
    });
    const d = decide(v, T0);
    expect(d.withdraw).toEqual([]);
    expect(d.announce).toEqual([]);
    expect(d.garp).toEqual([{ address: '192.0.2.10', iface: 'eth0' }]);
    // From now on it is held for its index like any other: a later move is make-before-break.
    expect(d.claim).toEqual([{ address: '192.0.2.10', indexKey: 'shop/web-public-0' }]);
  });

  it('removes at once a leftover address another node owns', () => {
    const v = view('node-b', { held: [held('192.0.2.10', { adopted: true, indexKey: undefined })] });
    expect(decide(v, T0).withdraw).toEqual([expect.objectContaining({ reason: 'LeftoverOwnedElsewhere' })]);
  });

  it('removes at once a leftover address no index holds', () => {
    const v = view('node-a', {
      indices: [],
      held: [held('192.0.2.77', { adopted: true, indexKey: undefined })],
    });
    expect(decide(v, T0).withdraw).toEqual([expect.objectContaining({ reason: 'LeftoverWithoutIndex' })]);
  });
});

describe('pools', () => {
  it('refuses to announce an address outside every L2LoadBalancer pool', () => {
    const v = view('node-a', { indices: [index('web-public-0', '198.51.100.7', ['node-a'])] });
    const d = decide(v, T0);
    expect(d.announce).toEqual([]);
    expect(d.refusals).toEqual([
      expect.objectContaining({ address: '198.51.100.7', reason: 'AddressOutsidePools' }),
    ]);
    expect(d.statusUpdates[0]?.status.announced).toEqual(
      expect.objectContaining({ status: 'False', reason: 'AddressOutsidePools' }),
    );
  });

  it('withdraws a held address once its pool no longer holds it', () => {
    const v = view('node-a', { balancers: [], held: [held('192.0.2.10')] });
    expect(decide(v, T0).withdraw).toEqual([expect.objectContaining({ reason: 'AddressOutsidePools' })]);
  });

  it('announces IPv6 addresses inside a pool', () => {
    const v = view('node-a', { indices: [index('web-public-0', '2001:db8::10', ['node-a'])] });
    expect(decide(v, T0).announce).toEqual([expect.objectContaining({ address: '2001:db8::10' })]);
  });
});

describe('status', () => {
  it('reports the announcing node once the address is held, and only when it changes', () => {
    const v = view('node-a', { held: [held('192.0.2.10')] });
    const [update] = decide(v, T0).statusUpdates;
    expect(update?.status).toEqual(
      expect.objectContaining({ announcingNode: 'node-a', ingress: ['192.0.2.10'] }),
    );
    const after = { ...v, indices: [{ ...v.indices[0]!, status: update!.status }] };
    expect(decide(after, T0 + 1000).statusUpdates).toEqual([]);
  });
});

describe('status before hand-over', () => {
  it('writes the status of a new address only once its first announcement had time to reach the wire', () => {
    const v = view('node-a', {
      held: [held('192.0.2.10', { since: T0 - 50, garpsSent: 1, lastGarpAt: T0 - 50 })],
    });
    const early = decide(v, T0);
    expect(early.statusUpdates).toEqual([]);
    expect(early.wakeAt).toBe(T0 + 50);
    expect(decide(v, T0 + 50).statusUpdates).toHaveLength(1);
  });
});

describe('gratuitous ARP schedule', () => {
  it('sends at 0, 1, 2 and 4 intervals, then every refresh period in the address slot', () => {
    expect([0, 1, 2, 3].map((n) => garpOffsetMs(n, GARP))).toEqual([0, 1000, 2000, 4000]);
    const h = held('192.0.2.10', { since: T0, garpsSent: 4, lastGarpAt: T0 + 4000 });
    const first = nextGarpAt(h, GARP)!;
    // T0 is a whole minute, so the slot is T0 + phase (+ a period while that is under half a period away).
    const phase = phaseMs('192.0.2.10', 60_000);
    expect(first).toBe(T0 + phase + (phase < 34_000 ? 60_000 : 0));
    expect(nextGarpAt({ ...h, garpsSent: 5, lastGarpAt: first }, GARP)).toBe(first + 60_000);
    // Sent a little late (a busy event loop): the next one keeps the slot.
    expect(nextGarpAt({ ...h, garpsSent: 5, lastGarpAt: first + 40 }, GARP)).toBe(first + 60_000);
    expect(nextGarpAt(h, { ...GARP, refreshSeconds: 0 })).toBeUndefined();
  });

  it('asks for the next announcement when it is due and wakes up for it otherwise', () => {
    const v = view('node-a', {
      held: [held('192.0.2.10', { since: T0 - 1000, garpsSent: 1, lastGarpAt: T0 - 1000 })],
    });
    expect(decide(v, T0).garp).toEqual([{ address: '192.0.2.10', iface: 'eth0' }]);
    expect(decide(v, T0 - 500).wakeAt).toBe(T0);
  });
});

describe('refreshes of many addresses spread over the refresh period', () => {
  // node-a took over 100 addresses at once at T0 (a failover); it announces each at 0, 1, 2, 4 s,
  // then refreshes it every 60 s. Run decide() on its own timer for two minutes.
  const addresses = Array.from({ length: 100 }, (_, i) => `192.0.2.${i + 1}`);

  function simulate(untilMs: number): { address: string; at: number }[] {
    const mine: HeldAddress[] = addresses.map((address) => ({
      address,
      iface: 'eth0',
      indexKey: `shop/web-public-${address.split('.')[3]}`,
      adopted: false,
      since: T0,
      garpsSent: 0,
    }));
    const sent: { address: string; at: number }[] = [];
    let now = T0;
    for (let step = 0; step < 10_000 && now < T0 + untilMs; step++) {
      const alive = leases(...['node-a', 'node-b'].map((n) => ({ ...lease(n), renewTime: microTime(now) })));
      const d = decide(
        view('node-a', {
          leases: alive,
          indices: addresses.map((a) => index(`web-public-${a.split('.')[3]}`, a, ['node-a', 'node-b'])),
          held: mine,
          viewFreshUntil: now + 3000,
        }),
        now,
      );
      for (const g of d.garp) {
        const h = mine.find((x) => x.address === g.address)!;
        h.garpsSent += 1;
        h.lastGarpAt = now;
        sent.push({ address: g.address, at: now });
      }
      for (const p of d.probe) mine.find((x) => x.address === p.address)!.lastProbeAt = now;
      // The shell wakes at least every 10 s, and at once when the renewal comes (here: each second).
      now = Math.min(d.wakeAt + 1, now + 1000);
    }
    return sent;
  }

  const sent = simulate(160_000);
  /** Every announcement after the first four of its address. */
  const refreshes = sent.filter(
    (s, i) => sent.slice(0, i).filter((x) => x.address === s.address).length >= 4,
  );

  it('announces all hundred at once on the takeover (that is the point), then each one again every 60 s', () => {
    expect(sent.filter((s) => s.at === T0)).toHaveLength(100);
    expect(sent.filter((s) => s.at < T0 + 5000)).toHaveLength(400);
    for (const a of addresses) {
      const times = refreshes.filter((s) => s.address === a).map((s) => s.at);
      // The first refresh 30–90 s after the last initial announcement, then one every 60 s (within
      // the 1 ms the timer adds: the slot is kept, period after period).
      const lastInitial = sent.filter((s) => s.address === a)[3]!.at;
      expect(times[0]! - lastInitial).toBeGreaterThanOrEqual(30_000);
      expect(times[0]! - lastInitial).toBeLessThanOrEqual(90_001);
      expect(times.length).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < times.length; i++)
        expect(Math.abs(times[i]! - times[i - 1]! - 60_000)).toBeLessThanOrEqual(1);
    }
  });

  it('never refreshes more than a handful in one second, and uses most seconds of the period', () => {
    // Slots are whole seconds: a node wakes for its refreshes at most once a second.
    const window = refreshes.filter((s) => s.at >= T0 + 60_000 && s.at < T0 + 120_000);
    expect(window).toHaveLength(100);
    const perSecond = new Map<number, number>();
    for (const s of window) {
      const second = Math.floor((s.at - T0) / 1000);
      perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
    }
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(6);
    expect(perSecond.size).toBeGreaterThanOrEqual(40);
  });

  it('gives every address the same slot on every node and after a restart (a hash of the address)', () => {
    expect(phaseMs('192.0.2.10', 60_000)).toBe(phaseMs('192.0.2.10', 60_000));
    expect(nextSlot('192.0.2.10', 60_000, T0)).toBe(T0 + phaseMs('192.0.2.10', 60_000));
    expect(nextSlot('192.0.2.10', 60_000, T0 + phaseMs('192.0.2.10', 60_000) + 1)).toBe(
      T0 + 60_000 + phaseMs('192.0.2.10', 60_000),
    );
  });
});

describe('duplicate-address probes', () => {
  const timings = view('node-a').timings;

  it('probes an address 4 s after taking it (past any make-before-break overlap), then in its refresh slot', () => {
    expect(firstProbeDelayMs(timings)).toBe(4000);
    const h = held('192.0.2.10', { since: T0, garpsSent: 0, lastGarpAt: undefined });
    expect(nextProbeAt(h, timings)).toBe(T0 + 4000);
    const probed = { ...h, lastProbeAt: T0 + 4000 };
    expect(nextProbeAt(probed, timings)).toBe(
      nextGarpAt({ ...probed, garpsSent: 4, lastGarpAt: T0 + 4000 }, GARP),
    );
    // Added anew (something removed it): probed again after the delay.
    expect(nextProbeAt({ ...probed, since: T0 + 50_000 }, timings)).toBe(T0 + 54_000);
  });

  it('does not probe IPv6 addresses, nor at all with the check turned off', () => {
    expect(nextProbeAt(held('2001:db8::10', { since: T0 }), timings)).toBeUndefined();
    expect(
      nextProbeAt(held('192.0.2.10', { since: T0 }), { ...timings, conflictCheckMs: 0 }),
    ).toBeUndefined();
  });

  it('asks for a due probe of an address it owns, also while cut off, but not of one it hands over', () => {
    const due = { since: T0 - 5000, garpsSent: 4, lastGarpAt: T0 - 1000 };
    expect(decide(view('node-a', { held: [held('192.0.2.10', due)] }), T0).probe).toEqual([
      { address: '192.0.2.10', iface: 'eth0' },
    ]);
    expect(
      decide(view('node-a', { held: [held('192.0.2.10', due)], viewFreshUntil: T0 - 1 }), T0).probe,
    ).toHaveLength(1);
    const handingOver = view('node-b', {
      indices: [index('web-public-0', '192.0.2.10', ['node-a', 'node-b'], 'node-b')],
      held: [held('192.0.2.10', { ...due, releasingSince: T0 - 100 })],
    });
    expect(decide(handingOver, T0).probe).toEqual([]);
  });

  it('keeps Announced=True and names the other host in the status while a probe finds it, and clears it after', () => {
    const at = T0 - 2000;
    const v = view('node-a', {
      held: [held('192.0.2.10', { lastProbeAt: at, conflict: { mac: '02:00:00:00:00:99', at } })],
    });
    const [update] = decide(v, T0).statusUpdates;
    expect(update?.status.announcingNode).toBe('node-a');
    expect(update?.status.announced).toEqual(
      expect.objectContaining({
        status: 'True',
        reason: 'DuplicateOnLink',
        message:
          'announced by node-a on eth0, but another host (02:00:00:00:00:99) answered a duplicate address ' +
          'probe for 192.0.2.10 at 2024-12-31T23:59:58.000Z',
      }),
    );
    const after = { ...v, indices: [{ ...v.indices[0]!, status: update!.status }] };
    const cleared = decide({ ...after, held: [held('192.0.2.10', { lastProbeAt: T0 })] }, T0 + 100);
    expect(cleared.statusUpdates[0]?.status.announced).toEqual(
      expect.objectContaining({
        status: 'True',
        reason: 'Announced',
        message: 'announced by node-a on eth0',
      }),
    );
  });
});

describe('one address on two L2LBServices (the control loop has not settled it yet)', () => {
  /** An item of `kubectl get l2lbservices -A -o json`. */
  const item = (
    namespace: string,
    name: string,
    ip: string,
    creationTimestamp: string,
    nodes: string[],
    announcingNode?: string,
  ): SpeakerIndex =>
    parseIndex({
      apiVersion: 'internal.network.deckhouse.io/v1alpha1',
      kind: 'L2LBService',
      metadata: {
        name,
        namespace,
        creationTimestamp,
        generation: 1,
        labels: {
          'network.deckhouse.io/l2-load-balancer': 'public',
          'network.deckhouse.io/parent-service': name.replace(/-[^-]+-\d+$/, ''),
        },
        resourceVersion: '4711',
        uid: '9b0a6f3c-0000-4000-8000-000000000001',
      },
      spec: {
        externalTrafficPolicy: 'Cluster',
        loadBalancerIP: ip,
        nodes,
        ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }],
        selector: { app: name.replace(/-[^-]+-\d+$/, '') },
        serviceRef: { name: name.replace(/-[^-]+-\d+$/, ''), namespace },
        type: 'LoadBalancer',
      },
      ...(announcingNode
        ? {
            status: {
              announcingNode,
              announcedSince: '2025-01-01T00:00:00.000Z',
              loadBalancer: { ingress: [{ ip }] },
            },
          }
        : {}),
    })!;

  // api-public-0 is older but sorts after the other by name.
  const older = item('shop', 'web-public-1', '192.0.2.50', '2025-01-01T00:00:00Z', ['node-a', 'node-b']);
  const younger = item('shop', 'api-public-0', '192.0.2.50', '2025-01-01T00:00:05Z', ['node-a', 'node-b']);

  it('reads creationTimestamp and the Service from the object', () => {
    expect(younger).toEqual(
      expect.objectContaining({
        createdAt: '2025-01-01T00:00:05Z',
        service: { namespace: 'shop', name: 'api' },
      }),
    );
  });

  it('announces the address for the older object only and tells the younger why, naming the older', () => {
    const d = decide(view('node-a', { indices: [younger, older] }), T0);
    expect(d.announce).toEqual([
      expect.objectContaining({ address: '192.0.2.50', indexKey: 'shop/web-public-1' }),
    ]);
    expect(d.refusals).toEqual([
      {
        address: '192.0.2.50',
        indexKey: 'shop/api-public-0',
        reason: 'AddressConflict',
        heldBy: 'shop/web-public-1',
      },
    ]);
    expect(d.statusUpdates).toEqual([
      expect.objectContaining({
        namespace: 'shop',
        name: 'api-public-0',
        clearAnnouncer: true,
        status: expect.objectContaining({
          ingress: [],
          announced: expect.objectContaining({
            status: 'False',
            reason: 'AddressConflict',
            message: expect.stringContaining('L2LBService shop/web-public-1, which is older'),
          }),
        }),
      }),
    ]);
  });

  it('breaks a tie of creation seconds by namespace/name', () => {
    const a = item('api', 'x-public-0', '192.0.2.51', '2025-01-01T00:00:00Z', ['node-a']);
    const b = item('shop', 'a-public-0', '192.0.2.51', '2025-01-01T00:00:00Z', ['node-a']);
    expect(decide(view('node-a', { indices: [b, a] }), T0).announce).toEqual([
      expect.objectContaining({ indexKey: 'api/x-public-0' }),
    ]);
  });

  it('leaves the younger object’s status to the node that would announce it', () => {
    const elsewhere = item('shop', 'api-public-0', '192.0.2.50', '2025-01-01T00:00:05Z', [
      'node-b',
      'node-a',
    ]);
    expect(decide(view('node-a', { indices: [elsewhere, older] }), T0).statusUpdates).toEqual([]);
    expect(decide(view('node-b', { indices: [elsewhere, older] }), T0).statusUpdates).toEqual([
      expect.objectContaining({ name: 'api-public-0' }),
    ]);
    // Nobody alive among its candidates: the reporter (first live speaker by name) writes it.
    const orphan = item('shop', 'api-public-0', '192.0.2.50', '2025-01-01T00:00:05Z', ['node-x']);
    expect(decide(view('node-a', { indices: [orphan, older] }), T0).statusUpdates).toEqual([
      expect.objectContaining({ name: 'api-public-0' }),
    ]);
    expect(decide(view('node-b', { indices: [orphan, older] }), T0).statusUpdates).toEqual([]);
  });

  it('writes no status while cut off from the API, and refuses all the same', () => {
    const d = decide(view('node-a', { indices: [younger, older], viewFreshUntil: T0 - 1 }), T0);
    expect(d.refusals).toHaveLength(1);
    expect(d.statusUpdates).toEqual([]);
    expect(d.announce).toEqual([]);
  });

  it('hands an address it holds for the younger object over make-before-break when the older one belongs elsewhere', () => {
    const mine = item('shop', 'api-public-0', '192.0.2.50', '2025-01-01T00:00:05Z', ['node-a'], 'node-a');
    const theirs = item('shop', 'web-public-1', '192.0.2.50', '2025-01-01T00:00:00Z', ['node-b', 'node-a']);
    const holding = held('192.0.2.50', { indexKey: 'shop/api-public-0' });
    const d = decide(view('node-a', { indices: [mine, theirs], held: [holding] }), T0);
    expect(d.withdraw).toEqual([]);
    expect(d.startRelease).toEqual(['192.0.2.50']);
    expect(d.statusUpdates).toEqual([
      expect.objectContaining({
        name: 'api-public-0',
        status: expect.objectContaining({
          announced: expect.objectContaining({ reason: 'AddressConflict' }),
        }),
      }),
    ]);
    const announcedThere = item(
      'shop',
      'web-public-1',
      '192.0.2.50',
      '2025-01-01T00:00:00Z',
      ['node-b'],
      'node-b',
    );
    const later = decide(
      view('node-a', { indices: [mine, announcedThere], held: [{ ...holding, releasingSince: T0 }] }),
      T0 + 100,
    );
    expect(later.withdraw).toEqual([
      expect.objectContaining({ address: '192.0.2.50', reason: 'HandedOver' }),
    ]);
  });

  it('announces the younger object once it has an address of its own', () => {
    const moved = item('shop', 'api-public-0', '192.0.2.52', '2025-01-01T00:00:05Z', ['node-a']);
    const d = decide(view('node-a', { indices: [moved, older] }), T0);
    expect(d.refusals).toEqual([]);
    expect(d.announce.map((a) => a.address).sort()).toEqual(['192.0.2.50', '192.0.2.52']);
  });
});

describe('the per-address series', () => {
  it('names each held address with the L2LoadBalancer and Service it is announced for', () => {
    const v = view('node-a', {
      indices: [
        { ...index('web-public-0', '192.0.2.10', ['node-a']), createdAt: '2025-01-01T00:00:05Z' },
        index('api-public-0', '192.0.2.10', ['node-a']),
      ],
    });
    expect(
      addressSeries(
        [
          held('192.0.2.10', { indexKey: 'shop/web-public-0' }),
          held('192.0.2.77', { adopted: true, indexKey: undefined }),
        ],
        v.indices,
      ),
    ).toEqual([
      // The eligible (older) holder of the address, not the one it was first taken for.
      { address: '192.0.2.10', l2loadbalancer: 'public', service_namespace: 'shop', service: 'api' },
      { address: '192.0.2.77', l2loadbalancer: '', service_namespace: '', service: '' },
    ]);
  });
});
