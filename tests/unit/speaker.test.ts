import type { LeaseState } from '../../lib/model';
import { decide, ownerOf } from '../../lib/speaker/decide';
import { garpOffsetMs, nextGarpAt } from '../../lib/speaker/garp';
import { leaseFresh, microTime } from '../../lib/speaker/lease';
import { parseSpeakerPool } from '../../lib/speaker/pools';
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
    timings: { garp: GARP, handoverTimeoutMs: 2000, shutdownTimeoutMs: 3000, statusSettleMs: 100 },
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
      held: [held('192.0.2.10', { lastGarpAt: T0 - 61_000 })],
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
  it('sends at 0, 1, 2 and 4 intervals, then every refresh period', () => {
    expect([0, 1, 2, 3].map((n) => garpOffsetMs(n, GARP))).toEqual([0, 1000, 2000, 4000]);
    const h = held('192.0.2.10', { since: T0, garpsSent: 4, lastGarpAt: T0 + 4000 });
    expect(nextGarpAt(h, GARP)).toBe(T0 + 64_000);
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
