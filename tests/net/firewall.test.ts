// The port filter on public addresses in real namespaces, with the real nft: a public address on a
// node's uplink answers its Service's port and nothing else (a host listener standing in for sshd
// and node-exporter stays unreachable there), while the node's own address still reaches that
// listener. There is no kube-proxy here: the node server listening on the Service's port stands in
// for the Service (with kube-proxy, Service traffic is DNATed in prerouting and never reaches the
// filtered input hook; see lib/speaker/firewall.ts).
import { execFileSync, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { NftFirewall } from '../../images/speaker/firewall';
import { ShellNetworkOps } from '../../images/speaker/netops';
import { FIREWALL_TABLE } from '../../lib/speaker/firewall';
import { createTopology, HTTP_PORT, waitForLine, type Topology } from '../../testbed/harness';
import { NetnsApiRelay } from '../../testbed/netns-api';
import { describeNet as netSuite } from '../../testbed/net-suite';
import {
  freePort,
  metricsText,
  seriesValue,
  startSpeaker,
  startTestControlPlane,
  TestApi,
  type ControlPlaneLike,
  type SpeakerProcess,
} from '../../testbed/speakers';

const TESTBED = resolve(__dirname, '..', '..', 'testbed');
const describeNet = netSuite();

const PUBLIC4 = '192.0.2.150';
const PUBLIC6 = '2001:db8::150';
/** A host-network listener that is no Service's: sshd, node-exporter. */
const HOST_PORT = 9100;

/** One HTTP GET from the client namespace to ip:port; the answer, or undefined (no answer in time). */
async function fetchFrom(
  topo: Topology,
  ip: string,
  port: number,
  timeoutMs = 800,
): Promise<string | undefined> {
  const script = `require('http').get({host:${JSON.stringify(ip)},port:${port},agent:false,timeout:${timeoutMs}},r=>{let b='';r.on('data',c=>b+=c);r.on('end',()=>{process.stdout.write(b);process.exit(0)})}).on('timeout',function(){this.destroy()}).on('error',()=>process.exit(1))`;
  try {
    return await topo.exec(topo.clientNs, [process.execPath, '-e', script], timeoutMs + 3000);
  } catch {
    return undefined;
  }
}

/** Whether the speaker's /metrics answers from the client at ip:port. */
async function metricsFrom(topo: Topology, ip: string, port: number): Promise<boolean> {
  const script = `require('http').get({host:${JSON.stringify(ip)},port:${port},path:'/metrics',agent:false,timeout:800},r=>{process.exit(r.statusCode===200?0:1)}).on('timeout',function(){this.destroy()}).on('error',()=>process.exit(1))`;
  try {
    await topo.exec(topo.clientNs, [process.execPath, '-e', script], 4000);
    return true;
  } catch {
    return false;
  }
}

async function pings(topo: Topology, ip: string): Promise<boolean> {
  try {
    await topo.exec(topo.clientNs, ['ping', '-c', '1', '-W', '2', ip], 5000);
    return true;
  } catch {
    return false;
  }
}

describeNet("the port filter on a node's public addresses", () => {
  let topo: Topology;
  let ops: ShellNetworkOps;
  let firewall: NftFirewall;
  let listener: ChildProcess | undefined;
  const applied: number[] = [];
  const failures: string[] = [];
  const tables = (): string =>
    execFileSync('ip', ['netns', 'exec', topo.node('node-1').netns, 'nft', 'list', 'tables'], {
      encoding: 'utf8',
    });

  beforeAll(async () => {
    topo = await createTopology(1, TESTBED);
    const node = topo.node('node-1');
    listener = topo.runScript(node.netns, resolve(TESTBED, 'node-server.mjs'), [
      'host-listener',
      String(HOST_PORT),
    ]);
    await waitForLine(listener, /listening/, 10_000);
    ops = new ShellNetworkOps(
      {
        commandFailed: (c, a, e) => failures.push(`${c} ${a.join(' ')}: ${e}`),
        gratuitousSent: () => undefined,
      },
      node.netns,
      // Nobody renews them here: a lifetime longer than the test.
      3600,
    );
    firewall = new NftFirewall(
      { applied: (n) => applied.push(n), failed: (e) => failures.push(`nft: ${e}`) },
      node.netns,
    );
    // Someone else's table on the node (kube-proxy's, a host firewall): the speaker must not touch it.
    await topo.exec(node.netns, ['nft', 'add table inet someone-else']);
    await topo.exec(node.netns, [
      'nft',
      'add chain inet someone-else input { type filter hook input priority 10 ; }',
    ]);
    await ops.addAddress(PUBLIC4, 'eth0');
    await ops.addAddress(PUBLIC6, 'eth0');
  }, 60_000);

  afterAll(async () => {
    listener?.kill('SIGKILL');
    await topo?.destroy();
  });

  it('without the filter, a host listener answers on the public address (what the filter is for)', async () => {
    expect(await fetchFrom(topo, PUBLIC4, HOST_PORT)).toBe('host-listener');
    expect(await fetchFrom(topo, PUBLIC6, HOST_PORT)).toBe('host-listener');
  });

  it("answers only the Service's port on the public address, and ping", async () => {
    await firewall.sync([
      { address: PUBLIC4, ports: [{ port: HTTP_PORT, protocol: 'TCP' }] },
      { address: PUBLIC6, ports: [{ port: HTTP_PORT, protocol: 'TCP' }] },
    ]);
    expect(failures).toEqual([]);
    expect(applied).toEqual([2]);
    expect(await fetchFrom(topo, PUBLIC4, HTTP_PORT)).toBe('node-1');
    expect(await fetchFrom(topo, PUBLIC6, HTTP_PORT)).toBe('node-1');
    expect(await fetchFrom(topo, PUBLIC4, HOST_PORT)).toBeUndefined();
    expect(await fetchFrom(topo, PUBLIC6, HOST_PORT)).toBeUndefined();
    expect(await pings(topo, PUBLIC4)).toBe(true);
    expect(await pings(topo, PUBLIC6)).toBe(true);
  });

  it("leaves the node's own addresses alone: the host listener still answers there", async () => {
    const node = topo.node('node-1');
    expect(await fetchFrom(topo, node.ip4, HOST_PORT)).toBe('host-listener');
    expect(await fetchFrom(topo, node.ip6, HOST_PORT)).toBe('host-listener');
  });

  it('keeps the neighbour resolution of a filtered IPv6 address working (NDP passes)', async () => {
    await topo.ip(topo.clientNs, ['-6', 'neigh', 'flush', 'dev', 'eth0']);
    expect(await fetchFrom(topo, PUBLIC6, HTTP_PORT)).toBe('node-1');
    expect(await topo.neighbour(PUBLIC6)).toBe(topo.node('node-1').mac);
  });

  it('applies nothing when the wanted ruleset did not change, and a changed one at once', async () => {
    await firewall.sync([
      { address: PUBLIC6, ports: [{ port: HTTP_PORT, protocol: 'TCP' }] },
      { address: PUBLIC4, ports: [{ port: HTTP_PORT, protocol: 'TCP' }] },
    ]);
    expect(applied).toEqual([2]);
    // The Service now also serves the host listener's port on the IPv4 address only.
    await firewall.sync([
      {
        address: PUBLIC4,
        ports: [
          { port: HTTP_PORT, protocol: 'TCP' },
          { port: HOST_PORT, protocol: 'TCP' },
        ],
      },
      { address: PUBLIC6, ports: [{ port: HTTP_PORT, protocol: 'TCP' }] },
    ]);
    expect(applied).toEqual([2, 2]);
    expect(await fetchFrom(topo, PUBLIC4, HOST_PORT)).toBe('host-listener');
    expect(await fetchFrom(topo, PUBLIC6, HOST_PORT)).toBeUndefined();
  });

  it('never touches another table, and removes its own on a graceful stop', async () => {
    expect(tables()).toContain('table inet someone-else');
    expect(tables()).toContain(`table inet ${FIREWALL_TABLE}`);
    await firewall.remove();
    expect(tables()).not.toContain(`table inet ${FIREWALL_TABLE}`);
    expect(tables()).toContain('table inet someone-else');
    expect(await fetchFrom(topo, PUBLIC6, HOST_PORT)).toBe('host-listener');
    // A decision run that comes late, after the stop, does not put it back.
    await firewall.sync([{ address: PUBLIC6, ports: [] }]);
    expect(tables()).not.toContain(`table inet ${FIREWALL_TABLE}`);
    // Removing it again (a second stop, nothing left) is no failure.
    await firewall.remove();
    expect(failures).toEqual([]);
  });

  it('reports a ruleset nft refuses as a failure instead of throwing, and retries a change', async () => {
    const refused: string[] = [];
    // A namespace that does not exist: nft cannot run there.
    const broken = new NftFirewall(
      { applied: () => undefined, failed: (e) => refused.push(e) },
      `${topo.prefix}-missing`,
    );
    await expect(broken.sync([{ address: PUBLIC4, ports: [] }])).resolves.toBeUndefined();
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatch(/missing/);
    // The same ruleset is not retried at once; a changed one is.
    await broken.sync([{ address: PUBLIC4, ports: [] }]);
    expect(refused).toHaveLength(1);
    await broken.sync([{ address: PUBLIC6, ports: [] }]);
    expect(refused).toHaveLength(2);
  });
});

describeNet('a real speaker filters the public address it announces', () => {
  const NS = 'shop';
  const INDEX = 'web-public-0';
  let topo: Topology;
  let cp: ControlPlaneLike | undefined;
  let relay: NetnsApiRelay | undefined;
  let speaker: SpeakerProcess | undefined;
  let metricsPort = 0;

  beforeAll(async () => {
    topo = await createTopology(1, TESTBED);
    cp = await startTestControlPlane();
    const api = new TestApi(cp.kubeconfigPath);
    await api.applyCrds(resolve(__dirname, '..', '..', 'crds'));
    await api.moduleNamespace();
    await api.namespace(NS);
    await api.balancer('public', ['192.0.2.150-192.0.2.160']);
    // spec.ports: TCP HTTP_PORT (the node server stands in for the Service there).
    await api.index(NS, INDEX, PUBLIC4, ['node-1']);
    relay = new NetnsApiRelay(cp.kubeconfigPath, cp.server);
    metricsPort = await freePort();
    // As in the DaemonSet: the speaker in the node's network, its metrics on every address.
    speaker = await startSpeaker({
      node: 'node-1',
      netns: topo.node('node-1').netns,
      kubeconfig: await relay.kubeconfigFor(topo.node('node-1').netns),
      inNetns: true,
      env: { METRICS_ADDRESS: `0.0.0.0:${metricsPort}` },
      echo: process.env.L2LB_ECHO === '1',
    });
  }, 120_000);

  afterAll(async () => {
    speaker?.child.kill('SIGKILL');
    await relay?.stop();
    await cp?.stop();
    await topo?.destroy();
  }, 60_000);

  it("answers the Service's port on the public address, not the speaker's metrics, which the node's own address still serves", async () => {
    const node = topo.node('node-1');
    const applied = await speaker!.waitForLog((l) => l.msg === 'port filter applied', 30_000);
    expect(applied).toBeDefined();
    expect(
      await topo.until(async () => (await topo.addressesOn('node-1')).includes(PUBLIC4) || undefined, 10_000),
    ).toBe(true);
    expect(await topo.until(() => fetchFrom(topo, PUBLIC4, HTTP_PORT), 10_000, 100)).toBe('node-1');
    // The metrics listener answers on the node's own address (it serves Prometheus there) ...
    expect(await metricsFrom(topo, node.ip4, metricsPort)).toBe(true);
    // ... and nowhere on the public one.
    expect(await metricsFrom(topo, PUBLIC4, metricsPort)).toBe(false);
    expect(
      seriesValue(await metricsText({ ...speaker!, metricsPort }), 'l2lb_speaker_port_filter_applied'),
    ).toBe(1);
  });

  it('removes its table when it stops gracefully', async () => {
    const before = await topo.exec(topo.node('node-1').netns, ['nft', 'list', 'tables']);
    expect(before).toContain(`table inet ${FIREWALL_TABLE}`);
    speaker!.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise((r) => (timer = setTimeout(() => r('timeout'), 20_000)));
    expect(await Promise.race([speaker!.exited, timeout])).toBe(0);
    clearTimeout(timer);
    const tables = await topo.exec(topo.node('node-1').netns, ['nft', 'list', 'tables']);
    expect(tables).not.toContain(`table inet ${FIREWALL_TABLE}`);
  });
});
