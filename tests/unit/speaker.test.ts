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
import { liveUntil, microTime, observeLeases, type LeaseSighting } from '../../lib/objects';
import { combineLiveness, leaseLiveness } from '../../lib/speaker/heartbeat/combine';
import type { PeerState, Verdict } from '../../lib/speaker/heartbeat/liveness';
import { readSpeakerIndex } from '../../lib/speaker/objects';
import { parseSpeakerPool, parseSpeakerPoolEntries } from '../../lib/speaker/pools';
import { addressSeries } from '../../lib/speaker/series';
import type { HeldAddress, SpeakerIndex, SpeakerView } from '../../lib/speaker/types';

const T0 = Date.parse('2025-01-01T00:00:00Z');
const GARP = { count: 4, intervalMilliseconds: 1000, refreshSeconds: 60 };

/** A node whose renewal this speaker saw `agoMs` before T0 (3 s leases): alive until then + 3 s. */
type Alive = [node: string, until: number];
const lease = (node: string, agoMs = 0): Alive => [node, T0 - agoMs + 3000];
/** A node whose speaker released its Lease (shutting down). */
const released = (node: string): Alive => [node, Number.NEGATIVE_INFINITY];

const index = (name: string, address: string, nodes: string[], announcingNode?: string): SpeakerIndex => ({
  key: `shop/${name}`,
  namespace: 'shop',
  name,
  address,
  nodes,
  l2lbName: 'public',
  createdAt: '2024-12-01T00:00:00Z',
  service: { namespace: 'shop', name: name.replace(/-[^-]+-\d+$/, '') },
  ports: [{ port: 443, protocol: 'TCP' }],
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
  owner: true,
  garpsSent: 4,
  lastGarpAt: T0 - 5_000,
  ...extra,
});

function view(node: string, over: Partial<SpeakerView> = {}): SpeakerView {
  return {
    node,
    liveUntil: new Map([lease('node-a'), lease('node-b'), lease('node-c')]),
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
      staleProbeMs: 1000,
    },
    wallOffsetMs: 0,
    ...over,
  };
}

const leases = (...ls: Alive[]): Map<string, number> => new Map(ls);

describe('lease freshness', () => {
  const renewed = (node: string, wallMs: number): LeaseState => ({
    node,
    renewTime: microTime(wallMs),
    durationSeconds: 3,
  });

  it('counts a peer alive for one lease duration after this speaker saw its renewTime change', () => {
    const first = observeLeases(new Map(), [renewed('node-a', T0)], 1000);
    const same = observeLeases(first, [renewed('node-a', T0)], 2500);
    expect(liveUntil(same.get('node-a'), Number.NEGATIVE_INFINITY)).toBe(4000);
    const later = observeLeases(same, [renewed('node-a', T0 + 1000)], 3900);
    expect(liveUntil(later.get('node-a'), Number.NEGATIVE_INFINITY)).toBe(6900);
  });

  it('counts a released lease (no renewTime) as dead at once', () => {
    const seen = observeLeases(new Map(), [{ node: 'node-a', durationSeconds: 3 }], 1000);
    expect(liveUntil(seen.get('node-a'), Number.NEGATIVE_INFINITY)).toBe(Number.NEGATIVE_INFINITY);
  });

  it('gives every peer a full lease duration from when the own view became fresh again', () => {
    const seen = observeLeases(new Map(), [renewed('node-a', T0)], 1000);
    expect(liveUntil(seen.get('node-a'), 60_000)).toBe(63_000);
  });

  it('gives combineLiveness each other Lease and when its renewal was seen, and names the released ones', () => {
    const seen = observeLeases(
      new Map(),
      [renewed('node-a', T0), { node: 'node-b', durationSeconds: 3 }, renewed('node-c', T0)],
      1000,
    );
    expect(leaseLiveness(seen, Number.NEGATIVE_INFINITY, 'node-c')).toEqual({
      leases: new Map([
        ['node-a', { liveUntil: 4000, renewedSeenAt: 1000 }],
        ['node-b', { liveUntil: Number.NEGATIVE_INFINITY, renewedSeenAt: Number.NEGATIVE_INFINITY }],
      ]),
      released: new Set(['node-b']),
    });
  });

  it('forgets a Lease that is gone', () => {
    const seen = observeLeases(new Map(), [renewed('node-a', T0)], 1000);
    expect(observeLeases(seen, [], 2000).has('node-a')).toBe(false);
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
      liveUntil: leases(lease('node-a', 3500), lease('node-b'), lease('node-c')),
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
    const v = view('node-b', { liveUntil: leases(lease('node-a', 1000), lease('node-b'), lease('node-c')) });
    const d = decide(v, T0);
    expect(d.announce).toEqual([]);
    expect(d.wakeAt).toBe(T0 + 2000);
    expect(decide(v, d.wakeAt).announce).toHaveLength(1);
  });

  it('ignores candidates without a lease and nodes not in the list', () => {
    const v = view('node-c', {
      liveUntil: leases(lease('node-c'), lease('node-x')),
      indices: [index('web-public-0', '192.0.2.10', ['node-a', 'node-b', 'node-c'])],
    });
    expect(ownerOf(v.indices[0]!, v, T0)).toBe('node-c');
    expect(decide(view('node-x', { liveUntil: v.liveUntil }), T0).announce).toEqual([]);
  });

  it('announces nothing for an index without an address', () => {
    expect(decide(view('node-a', { indices: [index('web-public-0', '', ['node-a'])] }), T0).announce).toEqual(
      [],
    );
  });
});

describe('a stale own view', () => {
  it('takes nothing new while its own view is stale', () => {
    // node-a's lease ran out, node-b is next and (by its own entry) alive: with a fresh view it
    // takes the address; with a stale one it must not.
    const v = view('node-b', { liveUntil: leases(lease('node-a', 5000), lease('node-b'), lease('node-c')) });
    expect(decide(v, T0).announce).toEqual([expect.objectContaining({ address: '192.0.2.10' })]);
    const d = decide({ ...v, viewFreshUntil: T0 - 500 }, T0);
    expect(d.viewFresh).toBe(false);
    expect(d.announce).toEqual([]);
  });

  it('keeps (and keeps refreshing) what it holds while cut off, and writes no status', () => {
    const v = view('node-a', {
      liveUntil: leases(lease('node-a', 5000), lease('node-b', 5000)),
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

  it('yields an address at once when a probe finds another host answering for it (IPv4 and IPv6)', () => {
    for (const address of ['192.0.2.10', '2001:db8::10']) {
      const v = view('node-a', {
        indices: [index('web-public-0', address, ['node-a', 'node-b'], 'node-a')],
        held: [held(address, { conflict: { mac: '02:00:00:00:00:0b', at: T0 - 10 } })],
        viewFreshUntil: T0 - 1,
      });
      expect(decide(v, T0).withdraw).toEqual([
        expect.objectContaining({ address, reason: 'AnsweredElsewhere' }),
      ]);
      // With a fresh view this node knows it is the owner: the other host is the one to yield.
      expect(decide({ ...v, viewFreshUntil: T0 + 3000 }, T0).withdraw).toEqual([]);
    }
  });

  it('probes what it keeps every staleProbeMs, to learn whether another node took it', () => {
    const h = held('2001:db8::10', { since: T0 - 60_000, lastProbeAt: T0 - 1000 });
    const v = view('node-a', {
      indices: [index('web-public-0', '2001:db8::10', ['node-a', 'node-b'], 'node-a')],
      held: [h],
    });
    expect(decide(v, T0).probe).toEqual([]);
    expect(decide({ ...v, viewFreshUntil: T0 - 1 }, T0).probe).toEqual([
      { address: '2001:db8::10', iface: 'eth0' },
    ]);
  });

  it('finishes a hand-over that began with a fresh view by its bound, also while stale', () => {
    const v = view('node-b', {
      indices: [index('web-public-0', '192.0.2.10', ['node-a', 'node-b'], 'node-b')],
      held: [held('192.0.2.10', { releasingSince: T0 - 2000, owner: false })],
      viewFreshUntil: T0 - 1,
    });
    expect(decide(v, T0).withdraw).toEqual([expect.objectContaining({ reason: 'HandoverTimeout' })]);
    expect(decide(v, T0 - 1000).withdraw).toEqual([]);
  });
});

describe('the API server down for everyone', () => {
  // Every speaker is stale, and to each the others look dead (no renewals seen for 10 s).
  const outage = (node: string, mine: HeldAddress[]): SpeakerView =>
    view(node, {
      liveUntil: leases(lease('node-a', 10_000), lease('node-b', 10_000), lease('node-c', 10_000)),
      indices: [
        index('web-public-0', '192.0.2.10', ['node-a', 'node-b', 'node-c'], 'node-a'),
        index('web-public-1', '192.0.2.11', ['node-b', 'node-c', 'node-a'], 'node-b'),
      ],
      held: mine,
      viewFreshUntil: T0 - 7000,
    });

  it('keeps every address on the node that has it, announced, and takes over nothing', () => {
    const a = decide(outage('node-a', [held('192.0.2.10', { lastGarpAt: T0 - 91_000 })]), T0);
    const b = decide(outage('node-b', [held('192.0.2.11', { indexKey: 'shop/web-public-1' })]), T0);
    const c = decide(outage('node-c', []), T0);
    for (const d of [a, b, c]) {
      expect(d.announce).toEqual([]);
      expect(d.withdraw).toEqual([]);
      expect(d.statusUpdates).toEqual([]);
    }
    expect(a.garp).toEqual([{ address: '192.0.2.10', iface: 'eth0' }]);
  });
});

describe('announcing on every (re)gain of ownership', () => {
  it('announces at once when a hand-over is called off, and reports after this round began', () => {
    const v = view('node-a', {
      indices: [index('web-public-0', '192.0.2.10', ['node-a', 'node-b'], 'node-b')],
      held: [held('192.0.2.10', { releasingSince: T0 - 500, owner: false, lastGarpAt: T0 - 2000 })],
    });
    const d = decide(v, T0);
    expect(d.cancelRelease).toEqual(['192.0.2.10']);
    expect(d.regained).toEqual(['192.0.2.10']);
    expect(d.garp).toEqual([{ address: '192.0.2.10', iface: 'eth0' }]);
    // The status (which tells node-b to let go) waits for the first announcement to reach the wire.
    expect(d.statusUpdates).toEqual([]);
    expect(d.wakeAt).toBe(T0 + 100);
  });

  it('announces at once on fail-back: the preferred node that kept the address owns it again', () => {
    // node-a was cut off and kept 192.0.2.10 (owner: false while stale); node-b took it meanwhile.
    const v = view('node-a', {
      indices: [index('web-public-0', '192.0.2.10', ['node-a', 'node-b'], 'node-b')],
      held: [held('192.0.2.10', { owner: false, lastGarpAt: T0 - 1000 })],
    });
    const d = decide(v, T0);
    expect(d.regained).toEqual(['192.0.2.10']);
    expect(d.garp).toEqual([{ address: '192.0.2.10', iface: 'eth0' }]);
    // The round goes on at 1, 2 and 4 intervals from now.
    const round = held('192.0.2.10', { owner: true, burstAt: T0, garpsSent: 1, lastGarpAt: T0 });
    expect(decide({ ...v, held: [round] }, T0 + 999).garp).toEqual([]);
    expect(decide({ ...v, held: [round] }, T0 + 1000).garp).toHaveLength(1);
  });

  it('announces at once when re-ranking makes it first again', () => {
    const held0 = held('192.0.2.10', { owner: false, releasingSince: T0 - 300 });
    const ranked = (nodes: string[]): SpeakerView =>
      view('node-b', { indices: [index('web-public-0', '192.0.2.10', nodes, 'node-b')], held: [held0] });
    expect(decide(ranked(['node-a', 'node-b']), T0).regained).toEqual([]);
    expect(decide(ranked(['node-b', 'node-a']), T0).regained).toEqual(['192.0.2.10']);
  });

  it('starts no new round for an address it went on owning', () => {
    const d = decide(view('node-a', { held: [held('192.0.2.10')] }), T0);
    expect(d.owned).toEqual(['192.0.2.10']);
    expect(d.regained).toEqual([]);
    expect(d.garp).toEqual([]);
  });

  it('counts nothing as owned while the view is stale, so the first fresh look announces again', () => {
    const v = view('node-a', { held: [held('192.0.2.10')], viewFreshUntil: T0 - 1 });
    expect(decide(v, T0).owned).toEqual([]);
    expect(
      decide({ ...v, held: [held('192.0.2.10', { owner: false })], viewFreshUntil: T0 + 1 }, T0).regained,
    ).toEqual(['192.0.2.10']);
  });
});

describe('clock skew between nodes (freshness on the local monotonic clock)', () => {
  // node-b watches node-a, which renews every second from T0 with its wall clock `skewMs` off, then
  // dies at T0 + 10 s. node-b's monotonic clock starts at 0 when node-a's first renewal arrives.
  function ownerOverTime(skewMs: number, observerOffsetMs: number): Map<number, string | undefined> {
    let sightings = new Map<string, LeaseSighting>();
    const owners = new Map<number, string | undefined>();
    const ix = index('web-public-0', '192.0.2.10', ['node-a', 'node-b'], 'node-a');
    for (let mono = 0; mono <= 20_000; mono += 250) {
      const lastRenewal = Math.min(Math.floor(mono / 1000), 10) * 1000;
      const renewals: LeaseState[] = [
        { node: 'node-a', renewTime: microTime(T0 + lastRenewal + skewMs), durationSeconds: 3 },
      ];
      sightings = observeLeases(sightings, renewals, mono);
      const v = view('node-b', {
        liveUntil: new Map([
          ['node-a', liveUntil(sightings.get('node-a'), 0)],
          ['node-b', mono + 3000],
        ]),
        indices: [ix],
        viewFreshUntil: mono + 3000,
        wallOffsetMs: T0 + observerOffsetMs,
      });
      owners.set(mono, ownerOf(ix, v, mono));
    }
    return owners;
  }

  it('gives the same owners with the peer 30 s ahead, 30 s behind, or the observer 30 s off', () => {
    const base = ownerOverTime(0, 0);
    expect(base.get(9_750)).toBe('node-a');
    expect(base.get(12_750)).toBe('node-a');
    expect(base.get(13_000)).toBe('node-b');
    for (const [skew, offset] of [
      [30_000, 0],
      [-30_000, 0],
      [0, 30_000],
      [0, -30_000],
    ] as const)
      expect(ownerOverTime(skew, offset)).toEqual(base);
  });

  it('writes status timestamps on the wall clock, whatever the monotonic origin', () => {
    const v = view('node-a', {
      held: [held('192.0.2.10', { since: 5000 })],
      liveUntil: leases(['node-a', 20_000], ['node-b', 20_000]),
      viewFreshUntil: 20_000,
      wallOffsetMs: T0,
    });
    const [u] = decide(v, 10_000).statusUpdates;
    expect(u?.status.announcedSince).toBe(new Date(T0 + 5000).toISOString());
    expect(u?.status.announced?.lastTransitionTime).toBe(new Date(T0 + 10_000).toISOString());
  });
});

describe('bad input stays harmless', () => {
  it('refuses a pool of 0.0.0.0/0 or multicast, and announces nothing from it', () => {
    for (const [pool, address] of [
      ['0.0.0.0/0', '192.0.2.10'],
      ['224.0.0.0/4', '224.0.0.5'],
      ['ff02::/16', 'ff02::1'],
    ] as const) {
      const v = view('node-a', {
        indices: [index('web-public-0', address, ['node-a'])],
        balancers: [{ name: 'public', ...parseSpeakerPoolEntries([pool]), interfaces: [] }],
      });
      const refusedEntries = parseSpeakerPoolEntries([pool]).refused;
      expect(refusedEntries).toEqual([expect.objectContaining({ entry: pool })]);
      const d = decide({ ...v, balancers: [{ ...v.balancers[0]!, refusedEntries }] }, T0);
      expect(d.announce).toEqual([]);
      expect(d.refusals).toEqual([expect.objectContaining({ address, reason: 'AddressOutsidePools' })]);
      expect(d.statusUpdates[0]?.status.announced?.message).toContain(`"${pool}" of public`);
    }
  });

  it('refuses to announce when every listed interface name is impossible', () => {
    const v = view('node-a', {
      balancers: [
        {
          name: 'public',
          pool: parseSpeakerPool(['192.0.2.0/24']),
          interfaces: [],
          invalidInterfaces: ['eth0; reboot', 'a-name-far-too-long-for-linux'],
        },
      ],
    });
    const d = decide(v, T0);
    expect(d.announce).toEqual([]);
    expect(d.refusals).toEqual([expect.objectContaining({ reason: 'InvalidInterface' })]);
    expect(d.statusUpdates[0]?.status.announced).toEqual(
      expect.objectContaining({ reason: 'InvalidInterface' }),
    );
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
      liveUntil: leases(lease('node-a'), lease('node-b')),
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
      liveUntil: leases(lease('node-a'), lease('node-c', 9000)),
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
      liveUntil: leases(released('node-a'), lease('node-b')),
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
    const v = { ...shutdown('node-a'), liveUntil: leases(released('node-a'), lease('node-b', 4000)) };
    expect(decide(v, T0).withdraw).toEqual([expect.objectContaining({ reason: 'NoLiveCandidate' })]);
  });

  it('does not count itself as a candidate even if its lease still looks fresh', () => {
    const v = { ...shutdown('node-a'), liveUntil: leases(lease('node-a'), lease('node-b')) };
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
      owner: true,
      garpsSent: 0,
    }));
    const sent: { address: string; at: number }[] = [];
    let now = T0;
    for (let step = 0; step < 10_000 && now < T0 + untilMs; step++) {
      const alive = leases(...['node-a', 'node-b'].map((n): Alive => [n, now + 3000]));
      const d = decide(
        view('node-a', {
          liveUntil: alive,
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

  it('puts each address in a whole-second slot of the period, the next slot at most a period away', () => {
    for (const a of addresses.slice(0, 20)) {
      const phase = phaseMs(a, 60_000);
      expect(phase % 1000).toBe(0);
      expect(phase).toBeGreaterThanOrEqual(0);
      expect(phase).toBeLessThan(60_000);
      for (const from of [T0 + 1, T0 + 12_345, T0 + 59_999]) {
        const next = nextSlot(a, 60_000, from);
        expect(next).toBeGreaterThanOrEqual(from);
        expect(next - from).toBeLessThan(60_000);
        expect((((next - phase) % 60_000) + 60_000) % 60_000).toBe(0);
      }
    }
    // A hash, not a counter: twenty neighbouring addresses do not share one slot.
    expect(new Set(addresses.slice(0, 20).map((a) => phaseMs(a, 60_000))).size).toBeGreaterThan(10);
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

  it('probes IPv6 addresses like IPv4 ones, and not at all with the check turned off', () => {
    expect(nextProbeAt(held('2001:db8::10', { since: T0 }), timings)).toBe(T0 + 4000);
    expect(
      nextProbeAt(held('192.0.2.10', { since: T0 }), { ...timings, conflictCheckMs: 0 }),
    ).toBeUndefined();
  });

  it('probes every staleProbeMs while the view is stale, never before the first delay', () => {
    const h = held('2001:db8::10', { since: T0, lastProbeAt: T0 + 4000 });
    expect(nextProbeAt(h, timings, true)).toBe(T0 + 5000);
    expect(nextProbeAt(h, timings, false)).toBeGreaterThanOrEqual(T0 + 4000 + 30_000);
    expect(nextProbeAt(held('192.0.2.10', { since: T0 }), timings, true)).toBe(T0 + 4000);
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
    readSpeakerIndex({
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
    })!.index;

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

describe('heartbeats folded into liveness (DESIGN.md §5)', () => {
  // 30 s Leases renewed every 15 s; heartbeats detect a silent peer in 500 ms.
  const DETECTION = 500;
  const fresh = (seenAgoMs: number) => ({
    liveUntil: T0 - seenAgoMs + 30_000,
    renewedSeenAt: T0 - seenAgoMs,
  });
  const expired = { liveUntil: T0 - 1000, renewedSeenAt: T0 - 31_000 };
  type Hb = [node: string, state: PeerState, since: number];
  const verdicts = (...hb: Hb[]): Map<string, Verdict> =>
    new Map(hb.map(([node, state, since]) => [node, { state, since }]));
  /** node-b's view, heartbeats folded into the Lease liveness as the speaker does. */
  const hbView = (
    byLease: Record<string, { liveUntil: number; renewedSeenAt: number }>,
    hb: Map<string, Verdict>,
    over: Partial<SpeakerView> = {},
  ): SpeakerView => {
    const live = combineLiveness(new Map(Object.entries(byLease)), hb, T0, DETECTION);
    live.set('node-b', T0 + 30_000);
    return view('node-b', {
      liveUntil: live,
      heartbeats: hb,
      indices: [index('web-public-0', '192.0.2.10', ['node-a', 'node-b', 'node-c'], 'node-a')],
      viewFreshUntil: T0 + 30_000,
      ...over,
    });
  };

  it('takes over from the preferred node dead by heartbeat, long before its Lease runs out', () => {
    const d = decide(
      hbView({ 'node-a': fresh(1000), 'node-c': fresh(0) }, verdicts(['node-a', 'dead', T0 - 20])),
      T0,
    );
    expect(d.announce).toEqual([
      expect.objectContaining({
        address: '192.0.2.10',
        previousAnnouncer: 'node-a',
        cause: 'heartbeat',
        previousExpiredAt: T0 - 20,
      }),
    ]);
  });

  it('leaves the address to a node heard on the network whose Lease expired (cut from the API only)', () => {
    const v = hbView({ 'node-a': expired, 'node-c': fresh(0) }, verdicts(['node-a', 'alive', T0 - 60_000]));
    expect(decide(v, T0).announce).toEqual([]);
    // Without the heartbeat the expired Lease alone decides: node-b takes it, by lease.
    const leaseOnly = hbView({ 'node-a': expired, 'node-c': fresh(0) }, new Map());
    expect(decide(leaseOnly, T0).announce).toEqual([
      expect.objectContaining({ previousAnnouncer: 'node-a', cause: 'lease', previousExpiredAt: T0 - 1000 }),
    ]);
  });

  it('hands the address back when a Lease renewal seen after the death verdict says the node runs', () => {
    // node-a was declared dead 5 s ago (UDP between the halves blocked) and node-b took over; then
    // node-a's renewal came through the API: the Lease decides again, node-a owns, node-b lets go.
    const v = hbView({ 'node-a': fresh(100), 'node-c': fresh(0) }, verdicts(['node-a', 'dead', T0 - 5000]), {
      indices: [index('web-public-0', '192.0.2.10', ['node-a', 'node-b', 'node-c'], 'node-b')],
      held: [held('192.0.2.10')],
    });
    const d = decide(v, T0);
    expect(d.owned).toEqual([]);
    expect(d.startRelease).toEqual(['192.0.2.10']);
    // Before that renewal node-b keeps it.
    const before = hbView(
      { 'node-a': fresh(6000), 'node-c': fresh(0) },
      verdicts(['node-a', 'dead', T0 - 5000]),
      {
        held: [held('192.0.2.10')],
      },
    );
    expect(decide(before, T0).owned).toEqual(['192.0.2.10']);
  });

  it('takes the addresses of a leaving node at once, as a graceful takeover', () => {
    const d = decide(
      hbView({ 'node-a': fresh(0), 'node-c': fresh(0) }, verdicts(['node-a', 'leaving', T0 - 5])),
      T0,
    );
    expect(d.announce).toEqual([expect.objectContaining({ cause: 'graceful', previousExpiredAt: T0 - 5 })]);
  });

  it('calls a takeover from a released Lease graceful, and a move back to a live node planned', () => {
    const released = decide(
      hbView(
        { 'node-a': { liveUntil: Number.NEGATIVE_INFINITY, renewedSeenAt: Number.NEGATIVE_INFINITY } },
        new Map(),
        {
          releasedLeases: new Set(['node-a']),
        },
      ),
      T0,
    );
    expect(released.announce).toEqual([expect.objectContaining({ cause: 'graceful' })]);
    // node-b is first again while node-c, alive, still announces (fail-back).
    const failBack = hbView({ 'node-c': fresh(0) }, verdicts(['node-c', 'alive', T0 - 1000]), {
      indices: [index('web-public-0', '192.0.2.10', ['node-b', 'node-c'], 'node-c')],
    });
    expect(decide(failBack, T0).announce).toEqual([expect.objectContaining({ cause: 'planned' })]);
  });

  it('leaves a node never heard by heartbeat to its Lease', () => {
    const v = hbView({ 'node-a': fresh(20_000), 'node-c': fresh(0) }, verdicts(['node-a', 'unknown', 0]));
    expect(decide(v, T0).announce).toEqual([]);
  });

  describe('with a stale view', () => {
    // node-a holds its address; its last renewal went through 20 s ago, its view went stale now.
    const stale = (hb: Map<string, Verdict>): SpeakerView =>
      view('node-a', {
        liveUntil: leases(lease('node-a', 31_000), lease('node-b', 31_000), lease('node-c', 31_000)),
        indices: [index('web-public-0', '192.0.2.10', ['node-a', 'node-b', 'node-c'], 'node-a')],
        held: [held('192.0.2.10')],
        viewFreshUntil: T0 - 1,
        apiContactAt: T0 - 20_000,
        heartbeats: hb,
      });

    it('withdraws when it hears none of the peers it heard before (cut off from the segment)', () => {
      const d = decide(stale(verdicts(['node-b', 'dead', T0 - 19_500], ['node-c', 'dead', T0 - 19_500])), T0);
      expect(d.withdraw).toEqual([expect.objectContaining({ address: '192.0.2.10', reason: 'Isolated' })]);
    });

    it('keeps its addresses while it hears a peer (the API is down for everyone)', () => {
      const d = decide(
        stale(verdicts(['node-b', 'alive', T0 - 60_000], ['node-c', 'dead', T0 - 19_500])),
        T0,
      );
      expect(d.withdraw).toEqual([]);
    });

    it('keeps its addresses as the last node standing: the peers died while it still reached the API', () => {
      const d = decide(stale(verdicts(['node-b', 'dead', T0 - 40_000], ['node-c', 'dead', T0 - 40_000])), T0);
      expect(d.withdraw).toEqual([]);
    });

    it('keeps its addresses in a group of one, or when it never heard a peer', () => {
      expect(decide(stale(new Map()), T0).withdraw).toEqual([]);
      expect(decide(stale(verdicts(['node-b', 'unknown', 0])), T0).withdraw).toEqual([]);
    });

    it('does not look at isolation while its view is fresh', () => {
      const v = stale(verdicts(['node-b', 'dead', T0 - 19_500], ['node-c', 'dead', T0 - 19_500]));
      const fresh = { ...v, viewFreshUntil: T0 + 10_000, liveUntil: leases(lease('node-a')) };
      expect(decide(fresh, T0).withdraw).toEqual([]);
      expect(decide(fresh, T0).owned).toEqual(['192.0.2.10']);
    });
  });
});
