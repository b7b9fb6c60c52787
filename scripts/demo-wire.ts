// The wire part of the demo (`bash scripts/demo.sh`), after the control loop has converged: the
// cluster's balancer nodes come up as network namespaces on one bridge, each running the module's
// speaker against the demo's API server, next to a client namespace on the same link. The client
// asks every public address which node answers and prints it; then one node fails (its speaker is
// SIGKILLed and its cable pulled) while the client asks every address every 10 ms, and the demo
// prints which addresses moved and how long the client saw no answer.
//
// The namespaces, the bridge, the speaker launcher and the API relay are the network tests' own
// (testbed/harness.ts, testbed/speakers.ts, testbed/netns-api.ts): each speaker runs inside its
// node's namespace as on a host-network Pod, with the DaemonSet's environment and the heartbeat key
// of the module's Secret. Everything is removed by stop(), on exit, on Ctrl-C and on failure.
// Addresses are documentation ranges only, configured inside the namespaces.
//
//   const wire = await showWire({ cluster: m, settings, out, say });   // undefined: no namespaces here
//   ...
//   await wire?.stop();
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { LABEL_MEMBER, MODULE_NAMESPACE } from '../lib/model';
import { parseSettings } from '../lib/settings';
import { load } from 'js-yaml';
import { HEARTBEAT_KEY_FIELD, HEARTBEAT_KEY_SECRET } from '../templates/heartbeat-key';
import { speakerEnv } from '../templates/speaker';
import { createTopology, netnsUnavailable, waitForLine, type Topology } from '../testbed/harness';
import { NetnsApiRelay } from '../testbed/netns-api';
import { speakerImage, startSpeaker, type SpeakerProcess } from '../testbed/speakers';

const HERE = join(__dirname, 'demo-wire');
const NET_DIR = resolve(__dirname, '..', 'testbed');
/** Node i of the bed gets 192.0.2.(20+i): out of the example's pool (192.0.2.0/28). */
const FIRST_HOST = 20;
/** The failover probe: one ask per address every 10 ms, each bounded, for at most 20 s. */
const PROBE_INTERVAL_MS = 10;
// Under TCP's first SYN retransmission (1 s), so an ask sent into the outage fails instead of
// being answered late by the new node, which would shorten the measured gap.
const PROBE_TIMEOUT_MS = 500;
const PROBE_ROUNDS = 2000;

/** What the demo needs of the cluster it runs on (ModuleCluster has it). */
export interface WireCluster {
  kubeconfigPath: string;
  request<T = unknown>(method: 'GET', path: string): Promise<T>;
}

export interface WireOptions {
  cluster: WireCluster;
  /** The module's settings (the speakers get the environment the DaemonSet would give them). */
  settings: Record<string, unknown>;
  /** The demo's output (stdout). */
  out: (text: string) => void;
  /** Progress lines (stderr). */
  say: (line: string) => void;
  /** The node to fail (default: the one answering the most addresses). */
  failNode?: string;
  /** Echo the speakers' logs to stderr. */
  verbose?: boolean;
}

export interface Wire {
  /** Kills the speakers and servers and removes every namespace (idempotent). */
  stop(): Promise<void>;
}

/** One public address as the client reaches it. */
interface Target {
  service: string;
  /** The L2LBService that holds the address. */
  index: { namespace: string; name: string };
  address: string;
  port: number;
  protocol: 'tcp' | 'udp';
  /** How client.mjs names it. */
  key: string;
}

interface Ask {
  t: number;
  seq: number;
  target: string;
  node?: string;
  error?: string;
}

interface L2LBServiceJson {
  metadata: { name: string; namespace: string };
  spec?: {
    loadBalancerIP?: string;
    serviceRef?: { name?: string };
    nodes?: string[];
    ports?: { port?: number; protocol?: string }[];
  };
  status?: { announcingNode?: string };
}

const L2LBSERVICES = '/apis/internal.network.deckhouse.io/v1alpha1/l2lbservices';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The public addresses to reach: one per L2LBService, on the Service's first TCP (else UDP) port. */
function targetsOf(items: L2LBServiceJson[]): { targets: Target[]; skipped: string[] } {
  const targets: Target[] = [];
  const skipped: string[] = [];
  for (const item of items) {
    const address = item.spec?.loadBalancerIP;
    const service = `${item.metadata.namespace}/${item.spec?.serviceRef?.name ?? item.metadata.name}`;
    if (!address) continue;
    const ports = (item.spec?.ports ?? []).map((p) => ({
      port: p.port ?? 0,
      protocol: (p.protocol ?? 'TCP').toLowerCase(),
    }));
    const port = ports.find((p) => p.protocol === 'tcp') ?? ports.find((p) => p.protocol === 'udp');
    if (!port || port.port <= 0) {
      skipped.push(`${service} ${address} (no TCP or UDP port to ask on)`);
      continue;
    }
    const protocol = port.protocol === 'udp' ? 'udp' : 'tcp';
    targets.push({
      service,
      index: { namespace: item.metadata.namespace, name: item.metadata.name },
      address,
      port: port.port,
      protocol,
      key: `${address},${port.port},${protocol}`,
    });
  }
  targets.sort((a, b) => a.service.localeCompare(b.service) || a.address.localeCompare(b.address));
  return { targets, skipped };
}

/** Left-aligned columns, two spaces apart. */
export function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [head, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The speakers' environment from the module settings, as templates/speaker.ts renders it. */
function speakerSettingsEnv(settings: Record<string, unknown>): Record<string, string> {
  const parsed = parseSettings(settings);
  if (!parsed.ok) throw new Error(`the module settings are invalid: ${parsed.errors.join('; ')}`);
  const env: Record<string, string> = { NAMESPACE: MODULE_NAMESPACE };
  // What stays the launcher's: the metrics address (a free port on loopback, not the pod's
  // 0.0.0.0) and files the pod would have mounted (the heartbeat key).
  const launchers = new Set(['METRICS_ADDRESS', 'HEARTBEAT_KEY_FILE']);
  for (const e of speakerEnv(parsed.settings.speaker)) {
    if (e.value !== undefined && !launchers.has(e.name)) env[e.name] = e.value;
  }
  return env;
}

/** The API server of a kubeconfig (its first cluster). */
function serverOf(kubeconfig: string): string {
  const doc = load(readFileSync(kubeconfig, 'utf8')) as { clusters?: { cluster?: { server?: string } }[] };
  const server = doc.clusters?.[0]?.cluster?.server;
  if (!server) throw new Error(`${kubeconfig} names no API server`);
  return server;
}

/**
 * The heartbeat key the hooks keep in a Secret, written where the speakers can read it (the
 * DaemonSet mounts it); undefined while there is none (the speakers then run without heartbeats).
 */
async function heartbeatKeyFile(cluster: WireCluster, dir: string): Promise<string | undefined> {
  let secret: { data?: Record<string, string> };
  try {
    secret = await cluster.request(
      'GET',
      `/api/v1/namespaces/${MODULE_NAMESPACE}/secrets/${HEARTBEAT_KEY_SECRET}`,
    );
  } catch {
    return undefined;
  }
  const key = secret.data?.[HEARTBEAT_KEY_FIELD];
  if (!key) return undefined;
  const file = join(dir, HEARTBEAT_KEY_FIELD);
  writeFileSync(file, Buffer.from(key, 'base64'), { mode: 0o600 });
  return file;
}

/**
 * The client's asks: `rounds` rounds of one ask per target every `intervalMs`. `asks` fills as the
 * answers come; `done` resolves when the client has exited.
 */
function startClient(
  topo: Topology,
  targets: readonly Target[],
  intervalMs: number,
  rounds: number,
): { asks: Ask[]; done: Promise<void>; child: ChildProcess } {
  const child = topo.runScript(topo.clientNs, join(HERE, 'client.mjs'), [
    String(intervalMs),
    String(rounds),
    String(PROBE_TIMEOUT_MS),
    ...targets.map((t) => t.key),
  ]);
  const asks: Ask[] = [];
  if (child.stdout) {
    createInterface(child.stdout).on('line', (line) => {
      try {
        asks.push(JSON.parse(line) as Ask);
      } catch {
        // not an answer line
      }
    });
  }
  child.stderr?.resume();
  const done = new Promise<void>((r) => child.once('exit', () => r()));
  return { asks, done, child };
}

/** One ask per target; the node that answered each (by target key). */
async function askOnce(topo: Topology, targets: readonly Target[]): Promise<Map<string, string>> {
  const { asks, done } = startClient(topo, targets, PROBE_INTERVAL_MS, 1);
  await done;
  const answered = new Map<string, string>();
  for (const a of asks) if (a.node !== undefined) answered.set(a.target, a.node);
  return answered;
}

/**
 * How long one target went unanswered in a probe run: the longest stretch from an unanswered ask to
 * the next answered one (by send time), and how many asks failed in all.
 */
export function outage(asks: readonly Ask[]): { lost: number; asked: number; gapMs?: number; open: boolean } {
  const sorted = [...asks].sort((a, b) => a.t - b.t);
  let lost = 0;
  let gapMs: number | undefined;
  let since: number | undefined;
  for (const a of sorted) {
    if (a.error !== undefined) {
      lost += 1;
      since ??= a.t;
    } else if (since !== undefined) {
      gapMs = Math.max(gapMs ?? 0, a.t - since);
      since = undefined;
    }
  }
  return { lost, asked: sorted.length, ...(gapMs !== undefined ? { gapMs } : {}), open: since !== undefined };
}

/** The mean time between two asks of one address: what the client achieved, not what it was told. */
function cadenceMs(asks: readonly Ask[], targets: number): number {
  if (asks.length < 2 || targets === 0) return 0;
  const ts = asks.map((a) => a.t);
  const rounds = asks.length / targets;
  return rounds > 1 ? (Math.max(...ts) - Math.min(...ts)) / (rounds - 1) : 0;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

/**
 * Brings the balancer nodes up on the wire, shows who answers, fails one node and shows what moved.
 * Returns undefined (after saying why) when network namespaces cannot be used here.
 */
export async function showWire(opts: WireOptions): Promise<Wire | undefined> {
  const { cluster, out, say } = opts;
  const why = netnsUnavailable();
  if (why) {
    out(
      `\nThe wire is not shown: ${why}.\n` +
        'What is above is the control plane alone: addresses allocated and placed, none announced.\n',
    );
    return undefined;
  }

  const items = (await cluster.request<{ items: L2LBServiceJson[] }>('GET', L2LBSERVICES)).items;
  const { targets, skipped } = targetsOf(items);
  // The speaker DaemonSet runs where the hooks put the member label; before the first labelling,
  // the candidates the L2LBServices name.
  const members = await cluster.request<{ items: { metadata: { name: string } }[] }>(
    'GET',
    `/api/v1/nodes?labelSelector=${encodeURIComponent(LABEL_MEMBER)}`,
  );
  const candidates = items.flatMap((i) => i.spec?.nodes ?? []);
  const nodes = [
    ...new Set(members.items.length > 0 ? members.items.map((n) => n.metadata.name) : candidates),
  ].sort();
  if (targets.length === 0 || nodes.length === 0) {
    out('\nThe wire is not shown: no L2LBService has an address and candidate nodes yet.\n');
    return undefined;
  }

  const speakers = new Map<string, SpeakerProcess>();
  const servers: ChildProcess[] = [];
  let topo: Topology | undefined;
  // The speakers run inside their node's namespace (host network, as in the DaemonSet): the API
  // server on the root namespace's loopback is reached through a relay in each namespace.
  const relay = new NetnsApiRelay(cluster.kubeconfigPath, serverOf(cluster.kubeconfigPath));
  const scratch = mkdtempSync(join(tmpdir(), 'l2lb-wire-'));
  const removeScratch = (): void => rmSync(scratch, { recursive: true, force: true });
  process.once('exit', removeScratch);
  let stopped = false;
  const wire: Wire = {
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      for (const s of speakers.values()) s.child.kill('SIGKILL');
      for (const s of servers) s.kill('SIGKILL');
      await relay.stop();
      await topo?.destroy();
      removeScratch();
    },
  };

  try {
    say(`the wire: ${nodes.length} balancer nodes (${nodes.join(', ')}) as network namespaces on a bridge`);
    topo = await createTopology(nodes.length, NET_DIR, { names: nodes, firstHost: FIRST_HOST });
    const bed = topo;
    // A node sends what is not on its subnet to its default route; the client has the public
    // addresses on-link, as a host on the same segment has.
    for (const n of bed.nodes) await bed.ip(n.netns, ['route', 'add', 'default', 'dev', 'eth0']);
    for (const t of targets) {
      const len = t.address.includes(':') ? 128 : 32;
      await bed.ip(bed.clientNs, ['route', 'replace', `${t.address}/${len}`, 'dev', 'eth0', 'scope', 'link']);
    }
    const ports = [...new Set(targets.map((t) => `${t.port}/${t.protocol}`))];
    for (const n of bed.nodes) {
      const server = bed.runScript(n.netns, join(HERE, 'node-server.mjs'), [n.name, ...ports]);
      servers.push(server);
      await waitForLine(server, /listening/, 10_000);
    }

    const image = await speakerImage();
    say(
      `starting a speaker on each node: ${image ? `the built image ${image}, as its Pod runs it` : 'the speaker bundle (no built image of this source; npm run images)'}, with the environment the DaemonSet gives it`,
    );
    const env = speakerSettingsEnv(opts.settings);
    const keyFile = await heartbeatKeyFile(cluster, scratch);
    if (keyFile) env.HEARTBEAT_KEY_FILE = keyFile;
    for (const n of bed.nodes) {
      speakers.set(
        n.name,
        await startSpeaker({
          node: n.name,
          netns: n.netns,
          kubeconfig: await relay.kubeconfigFor(n.netns),
          inNetns: true,
          // NODE_IP: what the downward API gives the pod (status.hostIP), the node's own address.
          env: { ...env, NODE_IP: n.ip4 },
          echo: opts.verbose === true,
        }),
      );
    }

    // Every address answered by the node its L2LBService says announces it (bounded).
    say('waiting until every public address answers from the node that announces it');
    /** Per target: the node its L2LBService says announces it, and its preferred node. */
    const announcer = async (): Promise<Map<string, { node?: string; preferred?: string }>> => {
      const now = (await cluster.request<{ items: L2LBServiceJson[] }>('GET', L2LBSERVICES)).items;
      const byName = new Map(now.map((i) => [`${i.metadata.namespace}/${i.metadata.name}`, i]));
      return new Map(
        targets.map((t) => {
          const i = byName.get(`${t.index.namespace}/${t.index.name}`);
          return [t.key, { node: i?.status?.announcingNode, preferred: i?.spec?.nodes?.[0] }];
        }),
      );
    };
    let before = new Map<string, string>();
    const deadline = Date.now() + 60_000;
    for (let i = 0; i < 300; i++) {
      before = await askOnce(bed, targets);
      const status = await announcer();
      // Settled: with every speaker up, each address on its preferred node, and the status says so
      // (the first speaker to start holds every address until the others come up).
      const wrong = targets.filter((t) => {
        const s = status.get(t.key);
        return before.get(t.key) === undefined || before.get(t.key) !== s?.node || s?.node !== s?.preferred;
      });
      if (wrong.length === 0) break;
      if (Date.now() > deadline) {
        const why = wrong.map((t) => {
          const s = status.get(t.key);
          return `${t.address}: answered by ${before.get(t.key) ?? 'nobody'}, announced by ${s?.node ?? 'nobody'}, preferred ${s?.preferred ?? 'none'}`;
        });
        throw new Error(`not every address answered from its preferred node within 60 s: ${why.join('; ')}`);
      }
      await sleep(200);
    }

    out(
      [
        '',
        `The wire: ${nodes.length} balancer nodes as network namespaces on one bridge, each running the speaker`,
        `(nodes ${bed.nodes.map((n) => `${n.name} ${n.ip4}`).join(', ')}; client ${bed.client.ip4}; nothing outside these namespaces).`,
        'A client on the same link asks every public address which node answers (HTTP on the',
        "Service's TCP port, one datagram on its UDP port; each node answers with its name):",
        '',
        table(
          ['SERVICE', 'ADDRESS', 'PORT', 'ANSWERED BY'],
          targets.map((t) => [
            t.service,
            t.address,
            `${t.port}/${t.protocol.toUpperCase()}`,
            before.get(t.key) ?? '-',
          ]),
        ),
        ...(skipped.length > 0 ? [`(not asked: ${skipped.join(', ')})`] : []),
        '',
      ].join('\n'),
    );

    // The failure: the node answering the most addresses, unless told.
    const load = new Map<string, number>();
    for (const n of before.values()) load.set(n, (load.get(n) ?? 0) + 1);
    const victim =
      opts.failNode ?? [...load].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0] ?? '';
    const held = targets.filter((t) => before.get(t.key) === victim);
    say(`failing ${victim}: SIGKILL to its speaker, its cable pulled; the client asks every 10 ms`);
    const probe = startClient(bed, targets, PROBE_INTERVAL_MS, PROBE_ROUNDS);
    const answeredSince = (t0: number, target: Target, who: (n: string) => boolean): boolean =>
      probe.asks.some((a) => a.target === target.key && a.t >= t0 && a.node !== undefined && who(a.node));
    // A moment of calm first, so the table shows the asks before the failure too.
    for (let i = 0; i < 100 && !targets.every((t) => answeredSince(0, t, () => true)); i++) await sleep(20);
    await sleep(300);
    const failedAt = Date.now();
    speakers.get(victim)?.child.kill('SIGKILL');
    await bed.setLink(victim, false);
    const settled = Date.now() + 20_000;
    while (Date.now() < settled && !held.every((t) => answeredSince(failedAt, t, (n) => n !== victim)))
      await sleep(50);
    await sleep(500);
    probe.child.kill('SIGKILL');
    await probe.done;

    const after = new Map<string, string>();
    for (const a of probe.asks) if (a.node !== undefined && a.t >= failedAt) after.set(a.target, a.node);
    // Wait (bounded) until the L2LBServices say so too, so that kubectl shows the new owners.
    for (let i = 0; i < 100; i++) {
      const status = await announcer();
      if (held.every((t) => status.get(t.key)?.node === after.get(t.key))) break;
      await sleep(200);
    }

    const moved = targets.filter((t) => before.get(t.key) !== after.get(t.key));
    const stayed = targets.filter((t) => before.get(t.key) === after.get(t.key));
    const lines = [
      '',
      `${victim} failed: its speaker was killed (SIGKILL) and its link cut. Before and after, as the client saw it:`,
      '',
      table(
        ['SERVICE', 'ADDRESS', 'BEFORE', 'AFTER', ''],
        targets.map((t) => {
          const a = after.get(t.key) ?? 'no answer';
          return [t.service, t.address, before.get(t.key) ?? '-', a, a === before.get(t.key) ? '' : 'moved'];
        }),
      ),
      '',
      moved.every((t) => before.get(t.key) === victim) && held.every((t) => moved.includes(t))
        ? `Only ${victim}'s ${held.length} addresses moved; the other ${stayed.length} stayed on their nodes.`
        : `Unexpected: ${moved.length} addresses moved, ${held.length} were on ${victim}.`,
      `The longest time the client saw no answer (one ask per address every ${PROBE_INTERVAL_MS} ms, each given ${PROBE_TIMEOUT_MS} ms;`,
      `on this machine the client managed one every ${cadenceMs(probe.asks, targets.length).toFixed(0)} ms, the resolution of the figures):`,
      '',
      table(
        ['SERVICE', 'ADDRESS', 'NO ANSWER FOR', 'ASKS UNANSWERED'],
        targets.map((t) => {
          const o = outage(probe.asks.filter((a) => a.target === t.key));
          const gap = o.open ? 'no answer until the end' : o.gapMs === undefined ? 'none' : seconds(o.gapMs);
          return [t.service, t.address, gap, `${o.lost} of ${o.asked}`];
        }),
      ),
      '',
    ];
    out(lines.join('\n'));
    return wire;
  } catch (err) {
    const tail = [...speakers.values()]
      .map((s) =>
        s.logs
          .slice(-8)
          .map((l) => `  [${s.node}] ${JSON.stringify(l)}`)
          .join('\n'),
      )
      .join('\n');
    await wire.stop();
    throw new Error(
      `the wire: ${err instanceof Error ? err.message : String(err)}${tail ? `\n${tail}` : ''}`,
    );
  }
}
