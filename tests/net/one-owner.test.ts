// One owner on the wire (issue 11, DESIGN.md §5), on the wire itself: three real speakers in node
// namespaces against a real API server, a client that asks the link who answers for each address
// (ARP requests and NDP solicitations, every MAC that answers: testbed/answers.mjs) and probes each
// over HTTP. Cut-offs go through TCP relays in front of the API server, so that one node, or every
// node, loses the API while the link stays up.
//
// The bounds asserted are the protocol's, from the speakers' settings (lease 3 s without heartbeats,
// a probe every second while stale, a 4 s announcement round), plus SCHED_SLACK_MS for a loaded
// machine; the figures themselves are printed (bench/failover.ts measures them).
import { resolve } from 'node:path';
import {
  answerSpans,
  createTopology,
  longestOverlapMs,
  macsBetween,
  type Answer,
  type ProbeResult,
  type Topology,
} from '../../testbed/harness';
import { describeNet as netSuite } from '../../testbed/net-suite';
import { printSpeakerLogsOnFailure, speakerFailures } from '../../testbed/speaker-logs';
import {
  kubeconfigVia,
  startSpeaker,
  startTestControlPlane,
  stopApiRelays,
  TcpRelay,
  TestApi,
  type ControlPlaneLike,
  type LogLine,
  type SpeakerProcess,
} from '../../testbed/speakers';
import { L2LBSERVICE_API_VERSION, MODULE_NAMESPACE } from '../../lib/model';

const TESTBED = resolve(__dirname, '..', '..', 'testbed');
// Skipped without network namespaces, failed under CI (testbed/net-suite.ts).
const describeNet = netSuite();

/**
 * The lease a speaker without a heartbeat key gets in the testbed (testbed/speakers.ts: 3 s, renewed
 * every second; the module's default is 30 s with heartbeats), and the speaker's default stale probe.
 */
const LEASE_MS = 3_000;
const STALE_PROBE_MS = 1_000;
/** One announcement round: gratuitous ARPs at 0, 1, 2 and 4 s (GARP_COUNT 4, GARP_INTERVAL_MS 1000). */
const ROUND_MS = 4_000;
/**
 * What a loaded machine adds to a protocol bound: a probe's own run (`arping -D -w 1` returns on the
 * first answer), the watch delivering a Lease, a speaker scheduled late. Not a measured figure.
 */
const SCHED_SLACK_MS = 1_500;
/** The watcher asks every 250 ms: a MAC not heard for longer than this had stopped answering. */
const SPAN_GAP_MS = 800;

const NS = 'shop';
const NODES = ['node-1', 'node-2', 'node-3'] as const;
interface Target {
  ip: string;
  name: string;
  ranks: string[];
}
const TARGETS: Target[] = [
  { ip: '192.0.2.200', name: 'web-public-0', ranks: ['node-1', 'node-2', 'node-3'] },
  { ip: '192.0.2.201', name: 'web-public-1', ranks: ['node-2', 'node-3', 'node-1'] },
  { ip: '192.0.2.202', name: 'web-public-2', ranks: ['node-3', 'node-1', 'node-2'] },
  { ip: '2001:db8::200', name: 'web-v6-0', ranks: ['node-1', 'node-2', 'node-3'] },
  { ip: '2001:db8::202', name: 'web-v6-2', ranks: ['node-3', 'node-1', 'node-2'] },
];
const IPS = TARGETS.map((t) => t.ip);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** `p`'s value, or 'timeout' after `ms` (the timer does not outlive the wait). */
function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms))),
  ]).finally(() => clearTimeout(timer));
}

/** Lost probes (no answer; a reset of a connection in flight at a switch is counted apart). */
const RESET = /ECONNRESET|socket hang up/;
function probeSummary(
  results: readonly ProbeResult[],
  ip: string,
): { sent: number; lost: number; reset: number; longestGapMs: number } {
  const mine = results.filter((r) => r.ip === ip).sort((a, b) => a.t - b.t);
  let lastOk = mine[0]?.t ?? 0;
  let longestGapMs = 0;
  for (const r of mine) {
    if (r.error === undefined || RESET.test(r.error)) {
      longestGapMs = Math.max(longestGapMs, r.t - lastOk);
      lastOk = r.t;
    }
  }
  const last = mine[mine.length - 1];
  if (last) longestGapMs = Math.max(longestGapMs, last.t - lastOk);
  return {
    sent: mine.length,
    lost: mine.filter((r) => r.error !== undefined && !RESET.test(r.error)).length,
    reset: mine.filter((r) => r.error !== undefined && RESET.test(r.error)).length,
    longestGapMs,
  };
}

const logTime = (l: LogLine): number => (typeof l.time === 'string' ? Date.parse(l.time) : Number.NaN);

describeNet('one owner on the wire, seen from the link', () => {
  let topo: Topology;
  let cp: ControlPlaneLike;
  let api: TestApi;
  /** In front of the API server for every speaker: stopping it stops the API for everyone. */
  let everyone: TcpRelay;
  /** node-3's own way to `everyone`: stopping it cuts node-3 alone. */
  let node3: TcpRelay;
  const speakers = new Map<string, SpeakerProcess>();
  const kubeconfigs = new Map<string, string>();
  /** Speakers stopped with SIGSTOP and not yet continued. */
  const frozen = new Set<string>();

  const start = async (node: string, env: Record<string, string> = {}): Promise<SpeakerProcess> => {
    const s = await startSpeaker({
      node,
      netns: topo.node(node).netns,
      kubeconfig: kubeconfigs.get(node)!,
      env,
      echo: process.env.L2LB_ECHO === '1',
    });
    speakers.set(node, s);
    return s;
  };
  const running = (node: string): boolean => {
    const s = speakers.get(node);
    return s !== undefined && s.child.exitCode === null && s.child.signalCode === null;
  };
  /** Stops a speaker with SIGTERM (it hands over) and checks that it exits 0. */
  const stopSpeaker = async (node: string): Promise<void> => {
    const s = speakers.get(node)!;
    s.child.kill('SIGTERM');
    expect(await within(s.exited, 30_000)).toBe(0);
  };
  const macOf = (node: string): string => topo.node(node).mac;
  /** The client gets `node`'s name from `ip` (bounded). */
  const answers = (ip: string, node: string, timeoutMs: number): Promise<true | undefined> =>
    topo.until(
      async () => ((await topo.fetchFromClient(ip, 300)) === node ? true : undefined),
      timeoutMs,
      50,
    );
  /** Only `node` holds `ip` on its interface (bounded). */
  const onlyOn = (ip: string, node: string, timeoutMs: number): Promise<true | undefined> =>
    topo.until(
      async () => {
        for (const n of NODES)
          if ((await topo.addressesOn(n)).includes(ip) !== (n === node)) return undefined;
        return true;
      },
      timeoutMs,
      100,
    );
  /** Waits (bounded) until the watcher has heard every target answered, since `since`, by `who`. */
  const heard = (
    all: readonly Answer[],
    since: number,
    who: (t: Target) => string,
    timeoutMs: number,
  ): Promise<true | undefined> =>
    topo.until(
      async () =>
        TARGETS.every((t) => all.some((a) => a.ip === t.ip && a.t >= since && a.mac === macOf(who(t))))
          ? true
          : undefined,
      timeoutMs,
      50,
    );
  const logsSince = (node: string, mark: number, match: (l: LogLine) => boolean): LogLine[] =>
    (speakers.get(node)?.logs ?? []).slice(mark).filter(match);

  /**
   * The steady state every test starts from, whatever the one before left: both relays up, every
   * speaker running and not frozen, each address answered by its preferred node and held by it alone.
   */
  const steady = async (): Promise<void> => {
    for (const node of frozen) speakers.get(node)?.child.kill('SIGCONT');
    frozen.clear();
    if (!everyone.listening) await everyone.start();
    if (!node3.listening) await node3.start();
    for (const node of NODES) if (!running(node)) await start(node);
    for (const t of TARGETS) {
      expect({ ip: t.ip, answered: await answers(t.ip, t.ranks[0]!, 30_000) }).toEqual({
        ip: t.ip,
        answered: true,
      });
      expect({ ip: t.ip, alone: await onlyOn(t.ip, t.ranks[0]!, 15_000) }).toEqual({ ip: t.ip, alone: true });
    }
  };

  beforeAll(async () => {
    topo = await createTopology(3, TESTBED);
    cp = await startTestControlPlane();
    api = new TestApi(cp.kubeconfigPath);
    await api.applyCrds(resolve(__dirname, '..', '..', 'crds'));
    await api.moduleNamespace();
    await api.namespace(NS);
    await api.balancer('public', ['192.0.2.200-192.0.2.220', '2001:db8::200/124']);
    for (const t of TARGETS) await api.index(NS, t.name, t.ip, t.ranks);
    const url = new URL(cp.server);
    everyone = new TcpRelay({ host: url.hostname, port: Number(url.port) });
    await everyone.start();
    node3 = new TcpRelay({ host: '127.0.0.1', port: everyone.port });
    await node3.start();
    const viaEveryone = kubeconfigVia(cp.kubeconfigPath, `https://127.0.0.1:${everyone.port}`);
    for (const node of NODES)
      kubeconfigs.set(
        node,
        node === 'node-3' ? kubeconfigVia(cp.kubeconfigPath, `https://127.0.0.1:${node3.port}`) : viaEveryone,
      );
    for (const node of NODES) await start(node);
  }, 240_000);

  afterAll(async () => {
    for (const node of frozen) speakers.get(node)?.child.kill('SIGCONT');
    for (const s of speakers.values()) if (s.child.exitCode === null) s.child.kill('SIGKILL');
    await Promise.all([...speakers.values()].map((s) => within(s.exited, 10_000)));
    await stopApiRelays();
    await node3?.stop();
    await everyone?.stop();
    api?.client.close();
    await cp?.stop();
    await topo?.destroy();
  }, 90_000);

  /** Where each speaker's log stood when the test began. */
  const logMarks = new Map<SpeakerProcess, number>();
  /** A known, harmless failure line a test expects (see the SIGSTOP test). */
  let tolerated: (s: SpeakerProcess, l: LogLine) => boolean = () => false;
  beforeEach(() => {
    tolerated = () => false;
    logMarks.clear();
    for (const s of speakers.values()) logMarks.set(s, s.logs.length);
  });

  afterEach(() => {
    // Every test: no command of any speaker failed, no status write failed, nothing on stderr.
    const bad = speakerFailures(speakers.values(), logMarks, tolerated);
    printSpeakerLogsOnFailure(speakers.values(), bad.length > 0);
    expect(bad).toEqual([]);
  });

  it('refuses bad input with a status and a log line, and announces none of it', async () => {
    await steady();
    // Pools no node may announce from, and an interface that does not exist on the nodes.
    await api.balancer('everything', ['0.0.0.0/0']);
    await api.balancer('multicast', ['224.0.0.0/4', 'ff02::/16']);
    await api.balancer('no-such-link', ['192.0.2.230/32'], ['eth9']);
    await api.index(NS, 'web-everything-0', '203.0.113.7', ['node-1'], 'everything');
    await api.index(NS, 'web-multicast-0', '224.0.0.7', ['node-1'], 'multicast');
    await api.index(NS, 'web-multicast-1', 'ff02::7', ['node-1'], 'multicast');
    await api.index(NS, 'web-nolink-0', '192.0.2.230', ['node-2'], 'no-such-link');
    const condition = (name: string): Promise<{ reason: string; message: string } | undefined> =>
      topo.until(
        async () => {
          const status = (await api.getIndex(NS, name)).status as
            { conditions?: { type: string; status: string; reason: string; message: string }[] } | undefined;
          return status?.conditions?.find((c) => c.type === 'Announced' && c.status === 'False');
        },
        15_000,
        100,
      );
    expect(await condition('web-everything-0')).toEqual(
      expect.objectContaining({
        reason: 'AddressOutsidePools',
        message: expect.stringContaining('"0.0.0.0/0" of everything'),
      }),
    );
    expect(await condition('web-multicast-0')).toEqual(
      expect.objectContaining({
        reason: 'AddressOutsidePools',
        message: expect.stringContaining('"224.0.0.0/4" of multicast'),
      }),
    );
    expect(await condition('web-multicast-1')).toEqual(
      expect.objectContaining({
        reason: 'AddressOutsidePools',
        message: expect.stringContaining('"ff02::/16" of multicast'),
      }),
    );
    expect(await condition('web-nolink-0')).toEqual(
      expect.objectContaining({ reason: 'NoInterface', message: expect.stringContaining('eth9') }),
    );
    const node1 = speakers.get('node-1')!;
    for (const address of ['203.0.113.7', '224.0.0.7', 'ff02::7'])
      expect(
        await node1.waitForLog(
          (l) =>
            l.msg === 'refusing to announce an address outside every L2LoadBalancer pool' &&
            l.address === address,
          5_000,
        ),
      ).toBeDefined();
    expect(
      await speakers
        .get('node-2')!
        .waitForLog(
          (l) =>
            typeof l.msg === 'string' &&
            l.msg.startsWith('no interface to announce on') &&
            l.address === '192.0.2.230',
          5_000,
        ),
    ).toBeDefined();

    // What the API server's schema refuses never reaches a speaker: an interface name no Linux
    // interface can have, and a malformed L2LBService. The refusal names the field.
    const refused = async (path: string, body: Record<string, unknown>): Promise<string> => {
      const r = await api.client.request('POST', path, { body, timeoutMs: 10_000 });
      expect(r.status).toBe(422);
      return JSON.stringify(r.body);
    };
    expect(
      await refused('/apis/network.deckhouse.io/v1alpha1/l2loadbalancers', {
        apiVersion: 'network.deckhouse.io/v1alpha1',
        kind: 'L2LoadBalancer',
        metadata: { name: 'bad-link' },
        spec: { addressPool: ['192.0.2.231/32'], nodeSelector: {}, interfaces: ['eth0;reboot'] },
      }),
    ).toContain('spec.interfaces[0]');
    const malformed = await refused(`/apis/${L2LBSERVICE_API_VERSION}/namespaces/${NS}/l2lbservices`, {
      apiVersion: L2LBSERVICE_API_VERSION,
      kind: 'L2LBService',
      metadata: { name: 'web-malformed-0', namespace: NS },
      spec: { type: 'LoadBalancer', loadBalancerIP: '192.0.2.232/32', nodes: 'node-1' },
    });
    expect(malformed).toContain('spec.loadBalancerIP');
    expect(malformed).toContain('spec.nodes');

    // Nothing of it on any interface, and nobody on the link answers for it.
    const watch = topo.watchAnswers(TESTBED, ['203.0.113.7', '192.0.2.230', '192.0.2.231'], 3);
    await watch.started;
    await sleep(2_500);
    watch.stop();
    expect(watch.answers).toEqual([]);
    for (const node of NODES)
      expect(await topo.addressesOn(node)).not.toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^(203\.0\.113\.7|224\.0\.0\.7|ff02::7|192\.0\.2\.23\d)$/),
        ]),
      );
    for (const name of ['web-everything-0', 'web-multicast-0', 'web-multicast-1', 'web-nolink-0'])
      await api.deleteIndex(NS, name);
  }, 120_000);

  /** Cuts node-3 from the API and waits until node-1 answers for node-3's addresses and node-3 let go. */
  const cutNode3 = async (
    watchAnswers: readonly Answer[],
  ): Promise<{ cutAt: number; singleAt: Map<string, number> }> => {
    const cutAt = Date.now();
    await node3.stop();
    const mine = TARGETS.filter((t) => t.ranks[0] === 'node-3');
    expect(
      await heard(watchAnswers, cutAt, (t) => (t.ranks[0] === 'node-3' ? 'node-1' : t.ranks[0]!), 20_000),
    ).toBe(true);
    for (const t of mine)
      expect({ ip: t.ip, alone: await onlyOn(t.ip, 'node-1', 15_000) }).toEqual({ ip: t.ip, alone: true });
    // When the last second MAC was heard: from then on node-1 alone answers.
    const singleAt = new Map<string, number>();
    for (const t of mine) {
      const other = watchAnswers.filter((a) => a.ip === t.ip && a.t >= cutAt && a.mac !== macOf('node-1'));
      singleAt.set(t.ip, Math.max(cutAt, ...other.map((a) => a.t)));
    }
    return { cutAt, singleAt };
  };

  it('cut from the API alone, node-3 yields: one MAC answers each address (ARP and NDP) within one lease plus one probe interval', async () => {
    await steady();
    const watch = topo.watchAnswers(TESTBED, IPS, 90);
    const probe = topo.probe(TESTBED, IPS, 20, 3_000, 300);
    try {
      await watch.started;
      expect(await heard(watch.answers, Date.now(), (t) => t.ranks[0]!, 10_000)).toBe(true);
      const mark = speakers.get('node-3')!.logs.length;
      const { cutAt, singleAt } = await cutNode3(watch.answers);
      const bound = LEASE_MS + STALE_PROBE_MS + SCHED_SLACK_MS;
      // node-3 says why it let go (its log line may come a moment after the address left).
      const yielded = (): string[] =>
        logsSince('node-3', mark, (l) => l.msg === 'withdrew the address' && l.reason === 'AnsweredElsewhere')
          .map((l) => String(l.address))
          .sort();
      const mine = TARGETS.filter((t) => t.ranks[0] === 'node-3')
        .map((t) => t.ip)
        .sort();
      await topo.until(async () => (yielded().length >= mine.length ? true : undefined), 5_000, 50);
      expect(yielded()).toEqual(mine);

      // Cut off, node-3 takes nothing new: an index it is first for goes to node-1.
      await api.index(NS, 'web-new-0', '192.0.2.203', ['node-3', 'node-1']);
      expect(await answers('192.0.2.203', 'node-1', 15_000)).toBe(true);
      expect(await topo.addressesOn('node-3')).not.toContain('192.0.2.203');
      // Deleted once node-1 has written its status, not under a status write in flight.
      expect(
        await topo.until(
          async () => ((await api.announcingNode(NS, 'web-new-0')) === 'node-1' ? true : undefined),
          10_000,
          100,
        ),
      ).toBe(true);
      await api.deleteIndex(NS, 'web-new-0');

      // Observe past the bound, then: exactly one MAC per address from cut + bound on.
      await sleep(Math.max(0, cutAt + bound + 2_000 - Date.now()));
      const end = Date.now();
      for (const t of TARGETS) {
        const owner = t.ranks[0] === 'node-3' ? 'node-1' : t.ranks[0]!;
        expect({ ip: t.ip, macs: macsBetween(watch.answers, t.ip, cutAt + bound, end) }).toEqual({
          ip: t.ip,
          macs: [macOf(owner)],
        });
        const spans = answerSpans(watch.answers, t.ip, SPAN_GAP_MS);
        const p = probeSummary(probe.results, t.ip);
        console.log(
          `cut-off ${t.ip}: one MAC from ${(singleAt.get(t.ip) ?? cutAt) - cutAt} ms after the cut; two MACs for ${longestOverlapMs(spans)} ms at most; client: ${p.lost} of ${p.sent} probes lost, longest gap ${p.longestGapMs} ms`,
        );
        expect({ ip: t.ip, gapMs: p.longestGapMs <= bound }).toEqual({ ip: t.ip, gapMs: true });
      }
    } finally {
      probe.stop();
      watch.stop();
    }
  }, 120_000);

  it('fail-back: node-3 back on the API announces at once, before node-1 lets go, and the client loses no probe', async () => {
    await steady();
    const watch = topo.watchAnswers(TESTBED, IPS, 60);
    try {
      await watch.started;
      await cutNode3(watch.answers);
    } finally {
      watch.stop();
    }
    const probe = topo.probe(TESTBED, IPS, 10, 1_000, 300);
    const marks = new Map(NODES.map((n) => [n, speakers.get(n)!.logs.length]));
    await sleep(500);
    const backAt = Date.now();
    await node3.start();
    const mine = TARGETS.filter((t) => t.ranks[0] === 'node-3');
    for (const t of mine) expect(await onlyOn(t.ip, 'node-3', 20_000)).toBe(true);
    await probe.done;
    for (const t of mine) {
      const withdrawn = logsSince(
        'node-1',
        marks.get('node-1')!,
        (l) => l.msg === 'withdrew the address' && l.address === t.ip,
      );
      expect(withdrawn).toHaveLength(1);
      const firstFromNode3 = probe.results.find((r) => r.ip === t.ip && r.t >= backAt && r.node === 'node-3');
      expect(firstFromNode3).toBeDefined();
      // The client switched to node-3 while node-1 still held the address: node-3's own announcement
      // did it (make-before-break), not node-1 going away.
      expect(firstFromNode3!.t).toBeLessThanOrEqual(logTime(withdrawn[0]!));
      const announced = logsSince(
        'node-3',
        marks.get('node-3')!,
        (l) =>
          ['announcing the address', 'took over the address', 'owner again: announcing at once'].includes(
            String(l.msg),
          ) && l.address === t.ip,
      );
      expect(announced).toHaveLength(1);
      const p = probeSummary(probe.results, t.ip);
      console.log(
        `fail-back ${t.ip}: node-3 announced ${logTime(announced[0]!) - backAt} ms after the API came back, the client followed ${firstFromNode3!.t - backAt} ms after; ${p.lost} of ${p.sent} probes lost, ${p.reset} reset in flight`,
      );
    }
    for (const ip of IPS) {
      const p = probeSummary(probe.results, ip);
      expect({ ip, lost: p.lost }).toEqual({ ip, lost: 0 });
      expect(p.reset).toBeLessThanOrEqual(1);
    }
  }, 120_000);

  it('the API server gone for everyone: every address keeps answering from the same node, nobody takes over, also when it returns', async () => {
    await steady();
    const held = new Map<string, string[]>();
    for (const node of NODES) held.set(node, (await topo.addressesOn(node)).sort());
    const marks = new Map(NODES.map((n) => [n, speakers.get(n)!.logs.length]));
    const watch = topo.watchAnswers(TESTBED, IPS, 90);
    const probe = topo.probe(TESTBED, IPS, 50, 1_200, 300);
    try {
      await watch.started;
      const downAt = Date.now();
      // Every connection refused, as when the API server is stopped.
      await everyone.stop();
      for (const node of NODES)
        expect(
          await speakers
            .get(node)!
            .waitForLog(
              (l) => typeof l.msg === 'string' && l.msg.startsWith('view is stale'),
              LEASE_MS + 10_000,
            ),
        ).toBeDefined();
      // Several lease durations without the API: what a takeover would need many times over.
      await sleep(3 * LEASE_MS);
      const upAt = Date.now();
      await everyone.start();
      for (const node of NODES)
        expect(
          await topo.until(
            async () =>
              logsSince(
                node,
                marks.get(node)!,
                (l) => l.msg === 'view is fresh: may take over indices' && logTime(l) >= upAt - 1000,
              ).length > 0
                ? true
                : undefined,
            20_000,
            100,
          ),
        ).toBe(true);
      // Past the moment peers could be judged dead after the return (a full lease from fresh again).
      await sleep(LEASE_MS + 1_000);
      const end = Date.now();
      for (const t of TARGETS) {
        expect({ ip: t.ip, macs: macsBetween(watch.answers, t.ip, downAt, end) }).toEqual({
          ip: t.ip,
          macs: [macOf(t.ranks[0]!)],
        });
        const p = probeSummary(probe.results, t.ip);
        expect({ ip: t.ip, lost: p.lost }).toEqual({ ip: t.ip, lost: 0 });
      }
      for (const node of NODES) {
        expect(await topo.addressesOn(node)).toEqual(held.get(node));
        expect(
          logsSince(node, marks.get(node)!, (l) =>
            ['took over the address', 'announcing the address', 'withdrew the address'].includes(
              String(l.msg),
            ),
          ),
        ).toEqual([]);
      }
      console.log(`API gone for everyone for ${upAt - downAt} ms: no address moved, no probe lost`);
    } finally {
      probe.stop();
      watch.stop();
    }
  }, 120_000);

  it('SIGSTOP a speaker for 30 s, then SIGCONT: never two MACs for one address longer than one announcement round', async () => {
    await steady();
    const watch = topo.watchAnswers(TESTBED, IPS, 120);
    try {
      await watch.started;
      expect(await heard(watch.answers, Date.now(), (t) => t.ranks[0]!, 10_000)).toBe(true);
      const node1 = speakers.get('node-1')!;
      const stoppedAt = Date.now();
      node1.child.kill('SIGSTOP');
      frozen.add('node-1');
      // The next candidate takes node-1's addresses while it is frozen.
      expect(
        await heard(
          watch.answers,
          stoppedAt,
          (t) => (t.ranks[0] === 'node-1' ? 'node-2' : t.ranks[0]!),
          20_000,
        ),
      ).toBe(true);
      await sleep(Math.max(0, stoppedAt + 30_000 - Date.now()));
      const contAt = Date.now();
      // Known and harmless (reported to the lead): resumed, node-1 runs its overdue announcement of an
      // address whose kernel lifetime ran out while it was frozen before it notices that the address
      // is gone; arping cannot send from an address the node lacks, so nothing reaches the wire.
      tolerated = (s, l) =>
        s === node1 &&
        l.command === 'arping' &&
        /Cannot assign requested address/.test(String(l.error)) &&
        TARGETS.some((t) => t.ranks[0] === 'node-1' && String(l.args).endsWith(` ${t.ip}`)) &&
        logTime(l) >= contAt - 1_000 &&
        logTime(l) <= contAt + 5_000;
      node1.child.kill('SIGCONT');
      frozen.delete('node-1');
      // Resumed, node-1 is first again once its view is fresh, and takes them back make-before-break.
      for (const t of TARGETS.filter((x) => x.ranks[0] === 'node-1')) {
        expect(await answers(t.ip, 'node-1', 30_000)).toBe(true);
        expect(await onlyOn(t.ip, 'node-1', 15_000)).toBe(true);
      }
      await sleep(LEASE_MS);
      const end = Date.now();
      for (const t of TARGETS) {
        const spans = answerSpans(watch.answers, t.ip, SPAN_GAP_MS);
        const overlap = longestOverlapMs(spans);
        console.log(
          `SIGSTOP ${t.ip}: ${spans.map((s) => `${topo.nodeOfMac(s.mac)} ${s.from - stoppedAt}..${s.to - stoppedAt} ms`).join(', ')} (stopped at 0, continued at ${contAt - stoppedAt} ms); two MACs for ${overlap} ms at most`,
        );
        expect({ ip: t.ip, overlapMs: overlap <= ROUND_MS }).toEqual({ ip: t.ip, overlapMs: true });
        expect(macsBetween(watch.answers, t.ip, end - 1_000, end)).toEqual([macOf(t.ranks[0]!)]);
      }
    } finally {
      watch.stop();
    }
  }, 150_000);

  it('clocks 30 s ahead (node-2) and 30 s behind (node-3): every address keeps one owner', async () => {
    await steady();
    await stopSpeaker('node-2');
    await start('node-2', { L2LB_CLOCK_SKEW_MS: '30000' });
    await stopSpeaker('node-3');
    await start('node-3', { L2LB_CLOCK_SKEW_MS: '-30000' });
    await steady();
    // The skew is real: the renewTime each writes is off by it.
    const skewOf = async (node: string): Promise<number> => {
      const r = await api.client.request(
        'GET',
        `/apis/coordination.k8s.io/v1/namespaces/${MODULE_NAMESPACE}/leases/l2lb-speaker-${node}`,
        { timeoutMs: 10_000 },
      );
      const renewTime = ((r.body as { spec?: { renewTime?: string } }).spec?.renewTime ?? '').replace(
        /(\.\d{3})\d*Z$/,
        '$1Z',
      );
      return Date.parse(renewTime) - Date.now();
    };
    expect(await skewOf('node-2')).toBeGreaterThan(25_000);
    expect(await skewOf('node-3')).toBeLessThan(-25_000);
    const marks = new Map(NODES.map((n) => [n, speakers.get(n)!.logs.length]));
    const watch = topo.watchAnswers(TESTBED, IPS, 60);
    try {
      await watch.started;
      const from = Date.now();
      // Several lease durations and renewals: long enough for a skewed comparison to make a peer look
      // dead (or a dead one alive) many times over.
      await sleep(3 * LEASE_MS);
      const end = Date.now();
      for (const t of TARGETS)
        expect({ ip: t.ip, macs: macsBetween(watch.answers, t.ip, from, end) }).toEqual({
          ip: t.ip,
          macs: [macOf(t.ranks[0]!)],
        });
      for (const node of NODES)
        expect(
          logsSince(node, marks.get(node)!, (l) =>
            ['took over the address', 'announcing the address', 'withdrew the address'].includes(
              String(l.msg),
            ),
          ),
        ).toEqual([]);
    } finally {
      watch.stop();
    }
  }, 180_000);
});
