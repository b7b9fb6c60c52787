// End to end: three real speakers (the built image by default, testbed/speakers.ts) in three node
// namespaces, a real API server, L2LBService objects created directly, and a client that probes the
// addresses over HTTP.
// Figures are printed, never asserted: timings belong to bench/failover.ts. Every test starts from the
// steady state (every cable in, every speaker running, each address on its preferred node), whatever
// the test before it left, and waits on conditions, never on fixed sleeps: on a loaded machine a
// sleep is too short, and a failed test must not fail the next ones.
import { resolve } from 'node:path';
import { createTopology, type Probe, type ProbeResult, type Topology } from '../../testbed/harness';
import { describeNet as netSuite } from '../../testbed/net-suite';
import { printSpeakerLogsOnFailure, speakerFailures } from '../../testbed/speaker-logs';
import {
  metricsText,
  seriesValue,
  startSpeaker,
  startTestControlPlane,
  stopApiRelays,
  TestApi,
  type ControlPlaneLike,
  type SpeakerProcess,
} from '../../testbed/speakers';

/** Where the node server and the probe scripts live. */
const TESTBED = resolve(__dirname, '..', '..', 'testbed');
// Skipped without network namespaces, failed under CI (testbed/net-suite.ts).
const describeNet = netSuite();

const NS = 'shop';
const NODES = ['node-1', 'node-2', 'node-3'];
const IPS = ['192.0.2.200', '192.0.2.201', '192.0.2.202'];
const RANKS = [
  ['node-1', 'node-2', 'node-3'],
  ['node-2', 'node-3', 'node-1'],
  ['node-3', 'node-1', 'node-2'],
];
const indexName = (i: number): string => `web-public-${i}`;
const V6 = '2001:db8::206';
/**
 * How long a client probe waits for its answer. A loaded machine answers late (the probe, the node
 * server and the speakers share two cores with other jobs); what counts as lost is what a client
 * would give up on, not what was slow.
 */
const PROBE_TIMEOUT_MS = 1_000;

interface ConditionJson {
  status: string;
  reason: string;
  message: string;
}

/** Lost probes and the gap of one target in a probe run. */
/**
 * `lost`: probes that got no answer. `reset`: TCP connections reset by the peer. A connection that is
 * in flight at the instant the client's neighbour entry switches to the new owner reaches a node
 * without its state and is reset: that is what moving an address does to an open connection, with
 * any implementation; make-before-break is about no probe going unanswered.
 */
const RESET = /ECONNRESET|socket hang up/;
function summary(
  results: ProbeResult[],
  ip: string,
): { sent: number; lost: number; reset: number; nodes: string[] } {
  const mine = results.filter((r) => r.ip === ip);
  return {
    sent: mine.length,
    lost: mine.filter((r) => r.error !== undefined && !RESET.test(r.error)).length,
    reset: mine.filter((r) => r.error !== undefined && RESET.test(r.error)).length,
    nodes: [...new Set(mine.map((r) => r.node).filter((n): n is string => n !== undefined))],
  };
}

describeNet('speakers against a real API server', () => {
  let topo: Topology;
  let cp: ControlPlaneLike;
  let api: TestApi;
  const speakers = new Map<string, SpeakerProcess>();
  /** Where each speaker's log stood when the test began. */
  const logMarks = new Map<SpeakerProcess, number>();

  const start = async (node: string): Promise<SpeakerProcess> => {
    const s = await startSpeaker({
      node,
      netns: topo.node(node).netns,
      kubeconfig: cp.kubeconfigPath,
      echo: process.env.L2LB_ECHO === '1',
    });
    speakers.set(node, s);
    return s;
  };
  /** The Announced condition of an index once it has `reason` (bounded), else undefined. */
  const conditionWith = (
    name: string,
    reason: string,
    timeoutMs: number,
  ): Promise<ConditionJson | undefined> =>
    topo.until(
      async () => {
        const status = (await api.getIndex(NS, name)).status as { conditions?: ConditionJson[] } | undefined;
        const c = status?.conditions?.find((x) => x.reason === reason);
        return c;
      },
      timeoutMs,
      100,
    );
  /** Waits (bounded) until `node` no longer holds `ip`. */
  const released = async (node: string, ip: string, timeoutMs: number): Promise<true | undefined> =>
    topo.until(async () => ((await topo.addressesOn(node)).includes(ip) ? undefined : true), timeoutMs, 100);
  const answers = (ip: string, node: string, timeoutMs: number): Promise<true | undefined> =>
    topo.until(
      async () => ((await topo.fetchFromClient(ip, 300)) === node ? true : undefined),
      timeoutMs,
      50,
    );
  /** Every address the probe asks about has been answered at least once (bounded). */
  const answeredBy = (probe: Probe, ips: readonly string[], timeoutMs: number): Promise<true | undefined> =>
    answeredAfter(probe, ips, 0, 1, timeoutMs);
  /** Every address the probe asks about has been answered `count` times since `t` (bounded). */
  const answeredAfter = (
    probe: Probe,
    ips: readonly string[],
    t: number,
    count: number,
    timeoutMs: number,
  ): Promise<true | undefined> =>
    topo.until(
      async () =>
        ips.every(
          (ip) => probe.results.filter((r) => r.ip === ip && r.t > t && r.node !== undefined).length >= count,
        )
          ? true
          : undefined,
      timeoutMs,
      20,
    );
  const running = (node: string): boolean => {
    const s = speakers.get(node);
    return s !== undefined && s.child.exitCode === null && s.child.signalCode === null;
  };
  /**
   * The state every test starts from: every cable in, every speaker running, each of IPS answered by
   * its preferred node and held by it alone.
   */
  const steady = async (): Promise<void> => {
    for (const node of NODES) await topo.setLink(node, true);
    for (const node of NODES) if (!running(node)) await start(node);
    for (let i = 0; i < 3; i++) {
      const preferred = RANKS[i]![0]!;
      expect({ ip: IPS[i], answered: await answers(IPS[i]!, preferred, 30_000) }).toEqual({
        ip: IPS[i],
        answered: true,
      });
      const alone = await topo.until(
        async () => {
          for (const node of NODES)
            if ((await topo.addressesOn(node)).includes(IPS[i]!) !== (node === preferred)) return undefined;
          return true;
        },
        15_000,
        100,
      );
      expect({ ip: IPS[i], alone }).toEqual({ ip: IPS[i], alone: true });
    }
  };
  beforeEach(async () => {
    await steady();
    logMarks.clear();
    for (const s of speakers.values()) logMarks.set(s, s.logs.length);
  }, 90_000);

  beforeAll(async () => {
    topo = await createTopology(3, TESTBED);
    cp = await startTestControlPlane();
    api = new TestApi(cp.kubeconfigPath);
    await api.applyCrds(resolve(__dirname, '..', '..', 'crds'));
    await api.moduleNamespace();
    await api.namespace(NS);
    await api.balancer('public', ['192.0.2.200-192.0.2.220', '2001:db8::200/124']);
    for (let i = 0; i < 3; i++) await api.index(NS, indexName(i), IPS[i]!, RANKS[i]!);
    for (const node of NODES) await start(node);
  }, 180_000);

  afterAll(async () => {
    for (const s of speakers.values()) if (running(s.node)) s.child.kill('SIGKILL');
    await stopApiRelays();
    api?.client.close();
    await cp?.stop();
    await topo?.destroy();
  }, 60_000);

  afterEach(() => {
    // Every test: no command of any speaker failed, no status write failed, nothing on stderr.
    const bad = speakerFailures(speakers.values(), logMarks);
    printSpeakerLogsOnFailure(speakers.values(), bad.length > 0);
    expect(bad).toEqual([]);
  });

  it('announces each address from its preferred node: the client gets three node names', async () => {
    for (let i = 0; i < 3; i++) expect(await answers(IPS[i]!, RANKS[i]![0]!, 20_000)).toBe(true);
    for (let i = 0; i < 3; i++) {
      const idx = await api.getIndex(NS, indexName(i));
      expect(idx.status).toEqual(
        expect.objectContaining({
          announcingNode: RANKS[i]![0],
          loadBalancer: { ingress: [{ ip: IPS[i] }] },
          conditions: [expect.objectContaining({ type: 'Announced', status: 'True' })],
        }),
      );
    }
  }, 60_000);

  it('announces an IPv6 address with an unsolicited neighbour advertisement', async () => {
    await api.index(NS, 'web-public-6', V6, ['node-2', 'node-1']);
    expect(await answers(V6, 'node-2', 15_000)).toBe(true);
    expect(await topo.neighbourNode(V6)).toBe('node-2');
  }, 30_000);

  it('refuses an address outside every pool and says so in the status', async () => {
    await api.index(NS, 'web-other-0', '198.51.100.9', ['node-1']);
    const reason = await topo.until(
      async () => {
        const status = (await api.getIndex(NS, 'web-other-0')).status as
          { conditions?: { reason: string }[] } | undefined;
        return status?.conditions?.[0]?.reason;
      },
      10_000,
      100,
    );
    expect(reason).toBe('AddressOutsidePools');
    expect(await topo.addressesOn('node-1')).not.toContain('198.51.100.9');
  }, 30_000);

  it('announces an address two L2LBServices carry for the older one only, and tells the younger why', async () => {
    const ip = '192.0.2.205';
    await api.index(NS, 'web-dup-0', ip, ['node-1', 'node-2']);
    await api.index(NS, 'web-dup-1', ip, ['node-1', 'node-2']);
    const refused = await conditionWith('web-dup-1', 'AddressConflict', 10_000);
    expect(refused).toEqual(
      expect.objectContaining({
        status: 'False',
        message: expect.stringContaining('L2LBService shop/web-dup-0'),
      }),
    );
    expect(await answers(ip, 'node-1', 10_000)).toBe(true);
    expect(await conditionWith('web-dup-0', 'Announced', 10_000)).toBeDefined();
    expect(await api.announcingNode(NS, 'web-dup-1')).toBeUndefined();
    const series = `l2lb_speaker_address_announced{address="${ip}",l2loadbalancer="public",service_namespace="${NS}",service="web"}`;
    expect(seriesValue(await metricsText(speakers.get('node-1')!), series)).toBe(1);
    expect(seriesValue(await metricsText(speakers.get('node-2')!), series)).toBeUndefined();

    await api.deleteIndex(NS, 'web-dup-1');
    await api.deleteIndex(NS, 'web-dup-0');
    expect(await released('node-1', ip, 10_000)).toBe(true);
    // The series goes once the speaker has looked again after the removal.
    const gone = await topo.until(
      async () =>
        seriesValue(await metricsText(speakers.get('node-1')!), series) === undefined ? true : undefined,
      5_000,
      100,
    );
    expect(gone).toBe(true);
  }, 30_000);

  it('reports another host on the link that answers for an address it announces', async () => {
    const ip = '192.0.2.210';
    const foreign = await topo.foreignHost(ip, '2001:db8::210');
    await api.index(NS, 'web-clash-0', ip, ['node-2', 'node-3']);
    // The first probe goes out 4 s after the address is taken (HANDOVER/SHUTDOWN bounds + 1 s).
    const reported = await conditionWith('web-clash-0', 'DuplicateOnLink', 20_000);
    expect(reported).toEqual(
      expect.objectContaining({
        status: 'True',
        message: expect.stringContaining(`another host (${foreign.mac}) answered a duplicate address probe`),
      }),
    );
    const node2 = speakers.get('node-2')!;
    const text = await metricsText(node2);
    expect(seriesValue(text, `l2lb_speaker_address_conflicts_total{address="${ip}"}`)).toBeGreaterThanOrEqual(
      1,
    );
    expect(
      node2.logs.find(
        (l) => l.msg === 'another host answers for an address this node announces' && l.address === ip,
      ),
    ).toEqual(expect.objectContaining({ mac: foreign.mac, iface: 'eth0' }));

    await api.deleteIndex(NS, 'web-clash-0');
    await topo.ip(foreign.netns, ['addr', 'del', `${ip}/24`, 'dev', 'eth0']);
    expect(await released('node-2', ip, 10_000)).toBe(true);
  }, 40_000);

  it('moves the address of a hard-failed node (SIGKILL + cable cut) and the other two never stop', async () => {
    const probe = topo.probe(TESTBED, IPS, 10, 1500, PROBE_TIMEOUT_MS);
    expect(await answeredBy(probe, IPS, 10_000)).toBe(true);
    const failedAt = Date.now();
    speakers.get('node-1')!.child.kill('SIGKILL');
    await topo.setLink('node-1', false);
    expect(
      await topo.until(
        async () =>
          probe.results.some((r) => r.ip === IPS[0] && r.t > failedAt && r.node === 'node-2')
            ? true
            : undefined,
        12_000,
        50,
      ),
    ).toBe(true);
    const first = probe.results.find((r) => r.ip === IPS[0] && r.t > failedAt && r.node === 'node-2');
    // Keep probing a while after the move: nothing may be lost after it either.
    expect(await answeredAfter(probe, IPS, first!.t, 20, 10_000)).toBe(true);
    probe.stop();
    const moved = summary(probe.results, IPS[0]!);
    console.log(
      `hard failure: ${IPS[0]} answered from node-2 ${first!.t - failedAt} ms after the kill; ${moved.lost} of ${moved.sent} probes lost`,
    );
    for (const ip of IPS.slice(1)) expect(summary(probe.results, ip).lost).toBe(0);
    expect(await api.announcingNode(NS, indexName(0))).toBe('node-2');

    // Restart: the cable back, then the speaker; it finds its old address, owns it again, and
    // node-2 hands it back make-before-break.
    await topo.setLink('node-1', true);
    await start('node-1');
    expect(await answers(IPS[0]!, 'node-1', 15_000)).toBe(true);
    expect(
      await topo.until(
        async () => ((await topo.addressesOn('node-2')).includes(IPS[0]!) ? undefined : true),
        10_000,
        100,
      ),
    ).toBe(true);
  }, 60_000);

  it('moves an IPv6 address of a hard-failed node (SIGKILL + cable cut) with an unsolicited NA', async () => {
    await api.index(NS, 'web-public-6', V6, ['node-2', 'node-1']);
    expect(await answers(V6, 'node-2', 10_000)).toBe(true);
    expect(await answers(IPS[1]!, 'node-2', 10_000)).toBe(true);
    const probe = topo.probe(TESTBED, [V6, IPS[0]!, IPS[2]!], 10, 1500, PROBE_TIMEOUT_MS);
    expect(await answeredBy(probe, [V6, IPS[0]!, IPS[2]!], 10_000)).toBe(true);
    const failedAt = Date.now();
    speakers.get('node-2')!.child.kill('SIGKILL');
    await topo.setLink('node-2', false);
    const movedTo1 = (r: ProbeResult): boolean => r.ip === V6 && r.t > failedAt && r.node === 'node-1';
    expect(await topo.until(async () => (probe.results.some(movedTo1) ? true : undefined), 12_000, 50)).toBe(
      true,
    );
    const first = probe.results.find(movedTo1)!;
    expect(await answeredAfter(probe, [V6, IPS[0]!, IPS[2]!], first.t, 20, 10_000)).toBe(true);
    probe.stop();
    const moved = summary(probe.results, V6);
    console.log(
      `IPv6 hard failure: ${V6} answered from node-1 ${first.t - failedAt} ms after the kill; ${moved.lost} of ${moved.sent} probes lost`,
    );
    for (const ip of [IPS[0]!, IPS[2]!]) expect(summary(probe.results, ip).lost).toBe(0);
    expect(await topo.neighbourNode(V6)).toBe('node-1');
    expect(await api.announcingNode(NS, 'web-public-6')).toBe('node-1');

    // The cable back, then the speaker: it owns both its addresses again and gets them back
    // make-before-break from node-1 (IPv6) and node-3 (IPv4).
    await topo.setLink('node-2', true);
    await start('node-2');
    expect(await answers(V6, 'node-2', 15_000)).toBe(true);
    expect(await answers(IPS[1]!, 'node-2', 15_000)).toBe(true);
    expect(await released('node-1', V6, 10_000)).toBe(true);
    expect(await released('node-3', IPS[1]!, 10_000)).toBe(true);
  }, 60_000);

  it('hands over make-before-break on SIGTERM without losing a probe', async () => {
    const probe = topo.probe(TESTBED, IPS, 10, 800, PROBE_TIMEOUT_MS);
    expect(await answeredBy(probe, IPS, 10_000)).toBe(true);
    const node2 = speakers.get('node-2')!;
    const stoppedAt = Date.now();
    node2.child.kill('SIGTERM');
    const code = await node2.exited;
    const exitedAfter = Date.now() - stoppedAt;
    await probe.done;
    const moved = summary(probe.results, IPS[1]!);
    console.log(
      `SIGTERM: speaker exited ${code} after ${exitedAfter} ms; ${IPS[1]} answered from ${moved.nodes.join(', ')}; ${moved.lost} of ${moved.sent} probes lost, ${moved.reset} reset in flight`,
    );
    expect(code).toBe(0);
    expect(moved.nodes).toEqual(['node-2', 'node-3']);
    for (const ip of IPS) {
      expect(summary(probe.results, ip).lost).toBe(0);
      // At most the one connection that was open at the switch (probes are 10 ms apart).
      expect(summary(probe.results, ip).reset).toBeLessThanOrEqual(1);
    }
    expect(await topo.addressesOn('node-2')).toEqual([]);
    await start('node-2');
    expect(await answers(IPS[1]!, 'node-2', 15_000)).toBe(true);
  }, 60_000);

  it('puts back an address that something else removed from its interface', async () => {
    await topo.ip(topo.node('node-1').netns, ['addr', 'del', `${IPS[0]}/32`, 'dev', 'eth0']);
    const back = await topo.until(
      async () => ((await topo.addressesOn('node-1')).includes(IPS[0]!) ? true : undefined),
      15_000,
      200,
    );
    expect(back).toBe(true);
    expect(await answers(IPS[0]!, 'node-1', 5_000)).toBe(true);
  }, 30_000);

  it('leaves a foreign address inside a pool alone at speaker start, announce and stop', async () => {
    const foreign = '192.0.2.210';
    const ns = topo.node('node-1').netns;
    // keepalived's address, say: inside the pool, permanent, no speaker marker.
    await topo.ip(ns, ['addr', 'add', `${foreign}/32`, 'dev', 'eth0']);
    const restart = async (): Promise<void> => {
      const old = speakers.get('node-1')!;
      old.child.kill('SIGTERM');
      expect(await old.exited).toBe(0);
      expect(await topo.addressesOn('node-1')).toContain(foreign);
      await start('node-1');
    };
    await restart();
    // An L2LBService node-1 would announce carries it: refused, said in the status, not touched.
    await api.index(NS, 'web-foreign-0', foreign, ['node-1']);
    expect(await conditionWith('web-foreign-0', 'AddressInUse', 15_000)).toBeDefined();
    expect(await topo.addressesOn('node-1')).toContain(foreign);
    await api.deleteIndex(NS, 'web-foreign-0');
    await restart();
    expect(await answers(IPS[0]!, 'node-1', 15_000)).toBe(true);
    expect(await topo.addressesOn('node-1')).toContain(foreign);
    await topo.ip(ns, ['addr', 'del', `${foreign}/32`, 'dev', 'eth0']);
  }, 90_000);

  it('lets the addresses of a killed speaker leave its interface within their lifetime, and fails back', async () => {
    expect(await answers(IPS[0]!, 'node-1', 15_000)).toBe(true);
    const node1 = speakers.get('node-1')!;
    const killedAt = Date.now();
    node1.child.kill('SIGKILL');
    await node1.exited;
    // Lifetime 4 s (lease 3 s + 1) from the last renewal, which came at most a second before the
    // kill; the kernel removes expired addresses on a whole-second timer.
    expect(await released('node-1', IPS[0]!, 6_000)).toBe(true);
    console.log(`SIGKILL: ${IPS[0]} left node-1's interface ${Date.now() - killedAt} ms after the kill`);
    // The next candidate answers.
    const next = await topo.until(
      async () => {
        const node = await topo.fetchFromClient(IPS[0]!, 300);
        return node !== undefined && node !== 'node-1' ? node : undefined;
      },
      10_000,
      50,
    );
    expect(next).toBe('node-2');
    await start('node-1');
    expect(await answers(IPS[0]!, 'node-1', 15_000)).toBe(true);
  }, 60_000);
});
