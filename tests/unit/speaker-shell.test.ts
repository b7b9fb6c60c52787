// The speaker's shell (images/speaker/speaker.ts) against a fake cluster and a fake network, on
// jest's fake clock: what happens to every address at start and on SIGTERM.
import { parseSpeakerConfig } from '../../lib/speaker/config';
import type { RouteTable } from '../../lib/speaker/interface';
import { microTime } from '../../lib/objects';
import { readSpeakerIndex } from '../../lib/speaker/objects';
import { ForeignAddressError, type DuplicateProbe, type NetworkOps } from '../../lib/speaker/ports';
import { parseSpeakerPool } from '../../lib/speaker/pools';
import type { SpeakerBalancer, SpeakerIndex, StatusUpdate } from '../../lib/speaker/types';
import type { LeaseState } from '../../lib/model';
import type { ClusterApi, ClusterView, MalformedIndex } from '../../images/speaker/cluster';
import { jsonLogger } from '../../images/speaker/log';
import { SpeakerMetrics } from '../../images/speaker/metrics';
import { Speaker, type PeerHeartbeats } from '../../images/speaker/speaker';
import { combineLiveness, type LeaseLiveness } from '../../lib/speaker/heartbeat/combine';
import type { Verdict } from '../../lib/speaker/heartbeat/liveness';

class FakeCluster implements ClusterApi, ClusterView {
  released = false;
  version = 0;
  onChange: () => void = () => undefined;
  readonly others = new Set(['node-b']);
  indicesList: SpeakerIndex[] = [];
  malformedList: MalformedIndex[] = [];
  readonly statuses: StatusUpdate[] = [];

  synced(): boolean {
    return true;
  }
  leases(): LeaseState[] {
    return [...this.others].map((node) => ({ node, renewTime: microTime(Date.now()), durationSeconds: 3 }));
  }
  indices(): SpeakerIndex[] {
    return this.indicesList;
  }
  malformed(): MalformedIndex[] {
    return this.malformedList;
  }
  /** Interface names of L2LoadBalancer `public` that are no Linux interface name. */
  invalidInterfaces: string[] = [];
  balancers(): SpeakerBalancer[] {
    const invalid = this.invalidInterfaces.length ? { invalidInterfaces: this.invalidInterfaces } : {};
    return [{ name: 'public', pool: parseSpeakerPool(['192.0.2.0/24']), interfaces: [], ...invalid }];
  }
  ownLeaseVersion(): string {
    return String(this.version);
  }
  async renewLease(): Promise<void> {
    this.version += 1;
    queueMicrotask(() => this.onChange());
  }
  async releaseLease(): Promise<void> {
    this.released = true;
  }
  async patchStatus(u: StatusUpdate): Promise<void> {
    this.statuses.push(u);
    const written = (i: SpeakerIndex): SpeakerIndex =>
      i.namespace === u.namespace && i.name === u.name
        ? { ...i, status: { ...u.status, ...(u.clearAnnouncer ? { announcingNode: undefined } : {}) } }
        : i;
    this.indicesList = this.indicesList.map(written);
    this.malformedList = this.malformedList.map((m) => ({ ...m, index: written(m.index) }));
  }
  /** Another node's speaker reports that it announces the index now. */
  announcedBy(name: string, node: string): void {
    this.indicesList = this.indicesList.map((i) =>
      i.name === name ? { ...i, status: { ...i.status, announcingNode: node } } : i,
    );
    this.onChange();
  }
}

class FakeNetwork implements NetworkOps {
  /** Addresses a speaker added (marked as its own). */
  readonly addresses = new Set<string>();
  /** Addresses someone else put on the interface. */
  readonly foreignAddresses = new Set<string>();
  readonly renewals: string[][] = [];
  readonly gratuitous: string[] = [];
  readonly probes: string[] = [];
  /** Addresses another host on the link answers for, with its MAC. */
  readonly foreign = new Map<string, string>();
  async probeDuplicate(address: string): Promise<DuplicateProbe> {
    this.probes.push(address);
    const mac = this.foreign.get(address);
    return mac ? { duplicate: true, mac } : { duplicate: false };
  }
  async addAddress(address: string): Promise<void> {
    if (this.foreignAddresses.has(address)) throw new ForeignAddressError(`${address} is someone else's`);
    this.addresses.add(address);
  }
  async renewAddresses(items: readonly { address: string }[]): Promise<void> {
    this.renewals.push(items.map((i) => i.address));
  }
  async removeAddress(address: string): Promise<void> {
    this.addresses.delete(address);
  }
  async listAddresses(): Promise<RouteTable> {
    return {
      links: [
        {
          name: 'eth0',
          addresses: [
            { address: '192.0.2.1', prefixLength: 24 },
            ...[...this.addresses].map((address) => ({ address, prefixLength: 32, own: true })),
            ...[...this.foreignAddresses].map((address) => ({ address, prefixLength: 32 })),
          ],
        },
      ],
    };
  }
  sendGratuitous(address: string): void {
    this.gratuitous.push(address);
  }
  async routeInterfaceFor(): Promise<string> {
    return 'eth0';
  }
}

const index = (name: string, address: string, nodes: string[]): SpeakerIndex => ({
  key: `shop/${name}`,
  namespace: 'shop',
  name,
  address,
  nodes,
  l2lbName: 'public',
  createdAt: '2025-01-01T00:00:00Z',
  service: { namespace: 'shop', name: name.replace(/-\d+$/, '') },
  ports: [{ port: 443, protocol: 'TCP' }],
  status: { ingress: [] },
});

/**
 * The heartbeats as a fake: the test says which peer is in which state; the verdicts fold into the
 * Lease liveness with the real combineLiveness. Records what the speaker asked of it.
 */
class FakeHeartbeats implements PeerHeartbeats {
  readonly verdictsNow = new Map<string, Verdict>();
  readonly calls: string[] = [];
  peers: string[] = [];
  observe(leases: readonly LeaseState[]): void {
    this.peers = leases.map((l) => l.node);
  }
  liveUntil(leases: ReadonlyMap<string, LeaseLiveness>, now: number): Map<string, number> {
    return combineLiveness(leases, this.verdictsNow, now, 500);
  }
  verdicts(): ReadonlyMap<string, Verdict> {
    return this.verdictsNow;
  }
  leave(): void {
    this.calls.push('leave');
  }
}

function setup(heartbeats?: FakeHeartbeats): {
  cluster: FakeCluster;
  net: FakeNetwork;
  speaker: Speaker;
  metrics: SpeakerMetrics;
  warnings: Record<string, unknown>[];
} {
  // The Lease timings these tests were written with (a 3 s lease, renewed every second).
  const { config } = parseSpeakerConfig({
    NODE_NAME: 'node-a',
    LEASE_DURATION_SECONDS: '3',
    RENEW_INTERVAL_SECONDS: '1',
  });
  const warnings: Record<string, unknown>[] = [];
  const cluster = new FakeCluster();
  const net = new FakeNetwork();
  const metrics = new SpeakerMetrics();
  const speaker = new Speaker(
    config!,
    cluster,
    net,
    { now: () => Date.now(), wallNow: () => Date.now() },
    jsonLogger('warn', {}, (line) => warnings.push(JSON.parse(line) as Record<string, unknown>)),
    metrics,
    undefined,
    heartbeats,
  );
  cluster.onChange = () => speaker.changed();
  return { cluster, net, speaker, metrics, warnings };
}

const advance = (ms: number): Promise<void> => jest.advanceTimersByTimeAsync(ms);

async function stop(speaker: Speaker): Promise<void> {
  const done = speaker.shutdown();
  await advance(5000);
  await done;
}

describe('the speaker shell', () => {
  beforeEach(() => jest.useFakeTimers({ now: Date.parse('2025-01-01T00:00:00Z') }));
  afterEach(() => jest.useRealTimers());

  it('at start keeps and re-announces the leftovers it owns, removes the others, leaves foreign addresses alone', async () => {
    const { cluster, net, speaker } = setup();
    cluster.indicesList = [
      index('web-0', '192.0.2.10', ['node-a', 'node-b']),
      index('web-1', '192.0.2.11', ['node-b', 'node-a']),
    ];
    for (const a of ['192.0.2.10', '192.0.2.11', '192.0.2.99', '10.9.9.9']) net.addresses.add(a);
    // keepalived's address inside the pool, and one for an index this node owns.
    for (const a of ['192.0.2.50', '192.0.2.51']) net.foreignAddresses.add(a);
    cluster.indicesList.push(index('web-2', '192.0.2.51', ['node-a']));
    void speaker.start();
    await advance(300);
    expect([...net.addresses].sort()).toEqual(['10.9.9.9', '192.0.2.10']);
    expect(net.gratuitous).toContain('192.0.2.10');
    expect(
      cluster.statuses.map((s) => [s.name, s.status.announcingNode, s.status.announced?.reason]),
    ).toEqual([
      ['web-2', undefined, 'AddressInUse'],
      ['web-0', 'node-a', 'Announced'],
    ]);
    // The held address's lifetime is renewed each renew interval; nobody else's is.
    await advance(2000);
    expect(net.renewals.at(-1)).toEqual(['192.0.2.10']);
    await stop(speaker);
    expect([...net.foreignAddresses].sort()).toEqual(['192.0.2.50', '192.0.2.51']);
  });

  it("renews a leftover's kernel lifetime at start, not a renew interval later: what is left of it may be less", async () => {
    const { cluster, net, speaker } = setup();
    cluster.indicesList = [index('web-0', '192.0.2.10', ['node-a', 'node-b'])];
    net.addresses.add('192.0.2.10');
    void speaker.start();
    await advance(300);
    expect(net.renewals[0]).toEqual(['192.0.2.10']);
    await stop(speaker);
  });

  it('keeps an address it added while it was listing the held ones (the listing may miss it)', async () => {
    const { cluster, net, speaker, warnings } = setup();
    // The table as it was when the listing began, answered 200 ms later.
    const list = net.listAddresses.bind(net);
    net.listAddresses = async () => {
      const table = await list();
      await new Promise((r) => setTimeout(r, 200));
      return table;
    };
    const adds: string[] = [];
    const add = net.addAddress.bind(net);
    net.addAddress = async (address: string) => {
      adds.push(address);
      return add(address);
    };
    cluster.indicesList = [index('web-0', '192.0.2.10', ['node-a', 'node-b'])];
    void speaker.start();
    await advance(1500);
    expect(net.addresses.has('192.0.2.10')).toBe(true);
    expect(warnings.filter((w) => w.msg === 'a held address vanished from its interface')).toEqual([]);
    // Added once: not forgotten and announced anew.
    expect(adds).toEqual(['192.0.2.10']);
    await stop(speaker);
  });

  it('refuses a malformed L2LBService: one log line, Announced=False InvalidSpec naming the field, nothing announced', async () => {
    const { cluster, net, speaker, warnings } = setup();
    cluster.indicesList = [index('web-0', '192.0.2.10', ['node-a'])];
    void speaker.start();
    await advance(300);
    expect(net.addresses.has('192.0.2.10')).toBe(true);
    // web-0 is edited into a malformed object (a port given as text), and web-1 arrives malformed.
    const object = (name: string, address: string, spec: Record<string, unknown>): unknown => ({
      apiVersion: 'internal.network.deckhouse.io/v1alpha1',
      kind: 'L2LBService',
      metadata: {
        name,
        namespace: 'shop',
        creationTimestamp: '2025-01-01T00:00:00Z',
        labels: { 'network.deckhouse.io/l2-load-balancer': 'public' },
      },
      spec: { loadBalancerIP: address, serviceRef: { namespace: 'shop', name: 'web' }, ...spec },
    });
    cluster.indicesList = [];
    cluster.malformedList = [
      object('web-0', '192.0.2.10', { nodes: ['node-a'], ports: [{ port: '443', protocol: 'TCP' }] }),
      object('web-1', '192.0.2.11', { nodes: 'node-a', ports: [{ port: 443 }] }),
    ].map((o) => readSpeakerIndex(o)!);
    speaker.changed();
    await advance(300);
    expect([...net.addresses]).toEqual([]);
    const refusals = (): Record<string, unknown>[] =>
      warnings.filter((w) => w.msg === 'refusing a malformed L2LBService: nothing is announced for it');
    expect(refusals().map((w) => [w.index, w.problems])).toEqual([
      ['shop/web-0', ['L2LBService shop/web-0: spec.ports[0].port: want a port number (1-65535), got "443"']],
      ['shop/web-1', ['L2LBService shop/web-1: spec.nodes: want a list of node names, got "node-a"']],
    ]);
    expect(
      cluster.statuses
        .filter((u) => u.status.announced?.reason === 'InvalidSpec')
        .map((u) => [u.name, u.status.announced?.status, u.status.announced?.message, u.status.ingress]),
    ).toEqual([
      [
        'web-0',
        'False',
        'L2LBService shop/web-0: spec.ports[0].port: want a port number (1-65535), got "443"',
        [],
      ],
      ['web-1', 'False', 'L2LBService shop/web-1: spec.nodes: want a list of node names, got "node-a"', []],
    ]);
    // Said once, written once, however often the speaker looks again.
    speaker.changed();
    await advance(2000);
    expect(refusals()).toHaveLength(2);
    expect(cluster.statuses.filter((u) => u.status.announced?.reason === 'InvalidSpec')).toHaveLength(2);
    expect([...net.addresses]).toEqual([]);
    await stop(speaker);
  });

  it('refuses an index of an L2LoadBalancer whose only interface names are invalid: says why once, announces nothing', async () => {
    const { cluster, net, speaker, warnings } = setup();
    cluster.invalidInterfaces = ['eth0; reboot'];
    cluster.indicesList = [index('web-0', '192.0.2.10', ['node-a'])];
    void speaker.start();
    await advance(300);
    speaker.changed();
    await advance(1000);
    expect([...net.addresses]).toEqual([]);
    expect(warnings.filter((w) => w.reason === 'InvalidInterface').map((w) => [w.msg, w.address])).toEqual([
      ['refusing to announce: the L2LoadBalancer lists no valid interface name', '192.0.2.10'],
    ]);
    await stop(speaker);
  });

  it('on SIGTERM releases the lease, keeps the address until the new owner announces it, then removes it', async () => {
    const { cluster, net, speaker } = setup();
    cluster.indicesList = [index('web-0', '192.0.2.10', ['node-a', 'node-b'])];
    void speaker.start();
    await advance(300);
    expect(net.addresses.has('192.0.2.10')).toBe(true);

    const done = speaker.shutdown();
    await advance(500);
    expect(cluster.released).toBe(true);
    expect(net.addresses.has('192.0.2.10')).toBe(true);
    cluster.announcedBy('web-0', 'node-b');
    await advance(50);
    expect(net.addresses.has('192.0.2.10')).toBe(false);
    await done;
  });

  it('on SIGTERM says goodbye by heartbeat before it releases its Lease', async () => {
    const heartbeats = new FakeHeartbeats();
    const { cluster, speaker } = setup(heartbeats);
    const releaseLease = cluster.releaseLease.bind(cluster);
    cluster.releaseLease = () => {
      heartbeats.calls.push('release');
      return releaseLease();
    };
    void speaker.start();
    await advance(300);
    await stop(speaker);
    expect(heartbeats.calls).toEqual(['leave', 'release']);
  });

  it('takes over from a peer dead by heartbeat at once, its Lease still fresh, and counts the cause', async () => {
    const heartbeats = new FakeHeartbeats();
    const { cluster, net, speaker, metrics } = setup(heartbeats);
    cluster.indicesList = [
      {
        ...index('web-0', '192.0.2.10', ['node-b', 'node-a']),
        status: { ingress: [], announcingNode: 'node-b' },
      },
    ];
    heartbeats.verdictsNow.set('node-b', { state: 'alive', since: Date.now() });
    void speaker.start();
    await advance(300);
    expect(heartbeats.peers).toEqual(['node-b']);
    expect(net.addresses.has('192.0.2.10')).toBe(false);
    // node-b falls silent: its Lease was renewed a moment ago, yet node-a takes the address now.
    heartbeats.verdictsNow.set('node-b', { state: 'dead', since: Date.now() });
    speaker.kick();
    await advance(50);
    expect(net.addresses.has('192.0.2.10')).toBe(true);
    expect(await metrics.registry.getSingleMetricAsString('l2lb_speaker_takeovers_total')).toContain(
      'l2lb_speaker_takeovers_total{cause="heartbeat"} 1',
    );
    await stop(speaker);
  });

  it('leaves the address to a peer heard by heartbeat whose Lease expired', async () => {
    const heartbeats = new FakeHeartbeats();
    const { cluster, net, speaker } = setup(heartbeats);
    cluster.indicesList = [
      {
        ...index('web-0', '192.0.2.10', ['node-b', 'node-a']),
        status: { ingress: [], announcingNode: 'node-b' },
      },
    ];
    heartbeats.verdictsNow.set('node-b', { state: 'alive', since: Date.now() });
    // node-b's renewTime no longer changes: cut from the API, still heard on the node network.
    const renewTime = microTime(Date.now());
    cluster.leases = () => [{ node: 'node-b', renewTime, durationSeconds: 3 }];
    void speaker.start();
    await advance(10_000);
    expect(net.addresses.has('192.0.2.10')).toBe(false);
    // Without the heartbeat it would have taken it 3 s after that renewal was seen.
    heartbeats.verdictsNow.clear();
    speaker.kick();
    await advance(50);
    expect(net.addresses.has('192.0.2.10')).toBe(true);
    await stop(speaker);
  });

  it('on SIGTERM hands a leftover it kept over make-before-break too', async () => {
    const { cluster, net, speaker } = setup();
    cluster.indicesList = [index('web-0', '192.0.2.10', ['node-a', 'node-b'])];
    net.addresses.add('192.0.2.10');
    void speaker.start();
    await advance(300);
    expect(net.gratuitous).toContain('192.0.2.10');

    const done = speaker.shutdown();
    await advance(500);
    expect(net.addresses.has('192.0.2.10')).toBe(true);
    cluster.announcedBy('web-0', 'node-b');
    await advance(50);
    expect(net.addresses.has('192.0.2.10')).toBe(false);
    await done;
  });

  it('on SIGTERM removes every address by the bound when no new owner announces', async () => {
    const { cluster, net, speaker } = setup();
    cluster.indicesList = [
      index('web-0', '192.0.2.10', ['node-a', 'node-b']),
      index('web-2', '192.0.2.12', ['node-a']),
    ];
    void speaker.start();
    await advance(300);
    expect([...net.addresses].sort()).toEqual(['192.0.2.10', '192.0.2.12']);

    const done = speaker.shutdown();
    await advance(100);
    // web-2 has no other candidate: gone at once; web-0 waits for node-b.
    expect([...net.addresses]).toEqual(['192.0.2.10']);
    await advance(3000);
    expect([...net.addresses]).toEqual([]);
    await done;
  });

  it('with a dead lease watch (renewals succeed, none seen) takes nothing new, removes nothing', async () => {
    const { cluster, net, speaker } = setup();
    cluster.indicesList = [index('web-0', '192.0.2.10', ['node-a'])];
    void speaker.start();
    await advance(300);
    expect(speaker.ready()).toBe(true);
    // The renewals still go through, but the watch no longer delivers them.
    cluster.renewLease = () => Promise.resolve();
    await advance(3500);
    expect(speaker.ready()).toBe(false);
    // In a fresh view node-a would take web-3 and hand web-0 over to node-b.
    cluster.indicesList = [
      index('web-0', '192.0.2.10', ['node-b', 'node-a']),
      index('web-3', '192.0.2.13', ['node-a']),
    ];
    speaker.changed();
    await advance(3000);
    expect([...net.addresses]).toEqual(['192.0.2.10']);
    await stop(speaker);
  });

  it('shows each held address as a series with its Service, and drops the series when it lets go', async () => {
    const { cluster, speaker, metrics } = setup();
    cluster.indicesList = [
      index('web-0', '192.0.2.10', ['node-a', 'node-b']),
      index('web-1', '192.0.2.11', ['node-a']),
    ];
    void speaker.start();
    await advance(300);
    const series = async (): Promise<string[]> =>
      (await metrics.registry.metrics())
        .split('\n')
        .filter(
          (l) =>
            l.startsWith('l2lb_speaker_address_announced{') ||
            l.startsWith('l2lb_speaker_announced_addresses '),
        )
        .sort();
    expect(await series()).toEqual([
      'l2lb_speaker_address_announced{address="192.0.2.10",l2loadbalancer="public",service_namespace="shop",service="web"} 1',
      'l2lb_speaker_address_announced{address="192.0.2.11",l2loadbalancer="public",service_namespace="shop",service="web"} 1',
      'l2lb_speaker_announced_addresses 2',
    ]);
    cluster.indicesList = [index('web-0', '192.0.2.10', ['node-a', 'node-b'])];
    speaker.changed();
    await advance(100);
    expect(await series()).toEqual([
      'l2lb_speaker_address_announced{address="192.0.2.10",l2loadbalancer="public",service_namespace="shop",service="web"} 1',
      'l2lb_speaker_announced_addresses 1',
    ]);
    await stop(speaker);
    expect(await series()).toEqual(['l2lb_speaker_announced_addresses 0']);
  });

  it('probes a held address for a duplicate, counts and reports one, and clears the report once it is gone', async () => {
    const { cluster, net, speaker, metrics } = setup();
    cluster.indicesList = [index('web-0', '192.0.2.10', ['node-a', 'node-b'])];
    net.foreign.set('192.0.2.10', '02:00:00:00:00:99');
    void speaker.start();
    await advance(3000);
    expect(net.probes).toEqual([]);
    await advance(1500);
    expect(net.probes).toEqual(['192.0.2.10']);
    const conflicts = async (): Promise<number | undefined> =>
      (await metrics.addressConflicts.get()).values.find((v) => v.labels.address === '192.0.2.10')?.value;
    expect(await conflicts()).toBe(1);
    expect(cluster.statuses.at(-1)?.status.announced).toEqual(
      expect.objectContaining({
        status: 'True',
        reason: 'DuplicateOnLink',
        message: expect.stringContaining('another host (02:00:00:00:00:99) answered'),
      }),
    );
    // The other host lets go; the next probe (in the address's slot, within 90 s) finds nobody.
    net.foreign.clear();
    await advance(90_000);
    expect(net.probes.length).toBeGreaterThanOrEqual(2);
    expect(await conflicts()).toBe(1);
    expect(cluster.statuses.at(-1)?.status.announced).toEqual(
      expect.objectContaining({ status: 'True', reason: 'Announced' }),
    );
    await stop(speaker);
  });
});
