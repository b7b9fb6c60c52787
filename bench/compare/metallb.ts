// MetalLB on the shared bed: its controller and one speaker per node namespace, layer-2 mode, an
// IPAddressPool and an L2Advertisement over 203.0.113.0/24, and plain `v1/Service`s of type
// LoadBalancer with hand-made EndpointSlices (no controller here makes them).
//
// Every MetalLB process runs with its network in a namespace — the speakers in their node's (they
// answer ARP from a raw socket on eth0), the controller in a namespace of its own with only a
// loopback (it listens on all addresses for metrics) — and reaches the API server through
// testbed/relay.mjs: 127.0.0.1:6443 inside the namespace -> a Unix socket -> the API server
// on 127.0.0.1 of the root namespace. No connection leaves loopback.
//
// Failure detection: memberlist on (the Helm chart's default), bound to the node's address on the
// segment, peers found through the speaker Pods' status.podIP (Pod objects made here; no kubelet).
// With memberlist off, MetalLB v0.15 counts every Node object as a live speaker and never moves an
// address off a dead node until the Node is marked NetworkUnavailable, deleted or excluded — that is,
// its failover would be whatever the node lifecycle controller and the operator take.
import { type ChildProcess, execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expectOk } from '../../testbed/kube-client';
import { spawnTracked } from '../../testbed/harness';
import { NetnsApiRelay } from '../../testbed/netns-api';
import {
  type Bed,
  type BedService,
  type Ctx,
  LogTail,
  message,
  METALLB_POOL,
  run,
  SERVICE_PORT,
  sleep,
  stopChild,
  until,
} from './common';

const ROOT = resolve(__dirname, '..', '..');
const NS = 'metallb-system';
const APP_NS = 'metallb-bench';
const ML_PORT = 7946;
const SPEAKER_LABELS = { app: 'metallb', component: 'speaker' };

export interface MetallbBinaries {
  version: string;
  controller: string;
  speaker: string;
  /** The module directory of go.universe.tf/metallb@<version> (holds config/crd/bases). */
  moduleDir: string;
}

function runScript(args: string[], log: (l: string) => void, timeoutMs: number): Promise<string> {
  return new Promise((res, rej) => {
    const child = execFile(
      'bash',
      [join(ROOT, 'scripts', 'metallb.sh'), ...args],
      { timeout: timeoutMs, maxBuffer: 1 << 20, encoding: 'utf8' },
      (err, stdout) =>
        err ? rej(new Error(`scripts/metallb.sh ${args.join(' ')}: ${err.message}`)) : res(stdout),
    );
    child.stderr?.on('data', (c: Buffer) => {
      for (const line of c.toString('utf8').split('\n')) if (line !== '') log(line);
    });
  });
}

/** Builds (or finds in the cache) MetalLB with scripts/metallb.sh. */
export async function metallbBinaries(log: (l: string) => void): Promise<MetallbBinaries> {
  const out = await runScript([], log, 90 * 60_000);
  const env = new Map(
    out
      .split('\n')
      .map((l) => /^(L2LB_[A-Z_]+)=(.+)$/.exec(l.trim()))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1] ?? '', m[2] ?? '']),
  );
  const controller = env.get('L2LB_METALLB_CONTROLLER');
  const speaker = env.get('L2LB_METALLB_SPEAKER');
  if (!controller || !speaker) throw new Error(`scripts/metallb.sh printed no binaries:\n${out}`);
  const moduleDir = (await runScript(['--crds'], log, 15 * 60_000)).trim();
  const version = /-(v[^/]+)$/.exec(speaker)?.[1] ?? 'unknown';
  return { version, controller, speaker, moduleDir };
}

type Json = Record<string, unknown>;

export class MetallbBed implements Bed {
  readonly label: string;
  readonly services: BedService[] = [];
  private readonly speakers = new Map<string, { child: ChildProcess; log: LogTail }>();
  private readonly relay: NetnsApiRelay;
  private controller?: { child: ChildProcess; log: LogTail };
  private readonly dir: string;
  private readonly controllerNs: string;
  private viaRelay = '';
  private readonly mlSecretDir: string;
  private controllerNsMade = false;

  constructor(
    private readonly ctx: Ctx,
    private readonly bins: MetallbBinaries,
    private readonly serviceCount: number,
  ) {
    this.label = `MetalLB ${bins.version}`;
    this.dir = join(ctx.scratch, 'metallb');
    this.relay = new NetnsApiRelay(ctx.kubeconfig, ctx.server);
    this.mlSecretDir = join(this.dir, 'memberlist');
    // Under the topology's prefix, so the harness's sweep of a killed run removes it too.
    this.controllerNs = `${ctx.topo.prefix}-mc`;
    process.on('exit', () => this.deleteControllerNsSync());
  }

  private deleteControllerNsSync(): void {
    if (!this.controllerNsMade) return;
    this.controllerNsMade = false;
    try {
      execFileSync('ip', ['netns', 'del', this.controllerNs], { stdio: 'pipe' });
    } catch {
      // already gone
    }
  }

  private async create(path: string, body: Json): Promise<void> {
    await this.ctx.api.create(path, body);
  }

  private async patchStatus(path: string, status: Json): Promise<void> {
    expectOk(
      `patch ${path}/status`,
      await this.ctx.api.client.request('PATCH', `${path}/status`, {
        body: { status },
        contentType: 'application/merge-patch+json',
        timeoutMs: 10_000,
      }),
    );
  }

  private async nodeObjects(): Promise<void> {
    const now = new Date().toISOString();
    for (const n of this.ctx.topo.nodes) {
      await this.create('/api/v1/nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name } },
      });
      await this.patchStatus(`/api/v1/nodes/${n.name}`, {
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            message: 'bench',
            lastHeartbeatTime: now,
            lastTransitionTime: now,
          },
        ],
        addresses: [
          { type: 'InternalIP', address: n.ip4 },
          { type: 'Hostname', address: n.name },
        ],
      });
    }
  }

  /** Pod objects for the controller and the speakers: the speakers read their own Pod, and find memberlist peers through the speaker Pods' IPs. */
  private async podObjects(): Promise<void> {
    const pod = async (
      name: string,
      labels: Record<string, string>,
      node?: string,
      ip?: string,
    ): Promise<void> => {
      await this.create(`/api/v1/namespaces/${NS}/pods`, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: NS, labels },
        spec: {
          ...(node ? { nodeName: node } : {}),
          containers: [
            {
              name: labels.component ?? 'c',
              image: `quay.io/metallb/${labels.component}:${this.bins.version}`,
            },
          ],
        },
      });
      if (ip)
        await this.patchStatus(`/api/v1/namespaces/${NS}/pods/${name}`, {
          phase: 'Running',
          hostIP: ip,
          podIP: ip,
          podIPs: [{ ip }],
        });
    };
    await pod('controller', { app: 'metallb', component: 'controller' });
    for (const n of this.ctx.topo.nodes) await pod(`speaker-${n.name}`, SPEAKER_LABELS, n.name, n.ip4);
  }

  async up(): Promise<void> {
    const { ctx } = this;
    mkdirSync(this.mlSecretDir, { recursive: true });
    writeFileSync(join(this.mlSecretDir, 'secretkey'), randomBytes(16).toString('base64'), { mode: 0o600 });
    ctx.log(`[metallb] CRDs from ${this.bins.moduleDir}/config/crd/bases`);
    await ctx.api.applyCrds(join(this.bins.moduleDir, 'config', 'crd', 'bases'));
    await ctx.api.namespace(NS);
    await ctx.api.namespace(APP_NS);
    await this.nodeObjects();
    await this.podObjects();

    await run(['ip', 'netns', 'add', this.controllerNs]);
    this.controllerNsMade = true;
    await run(['ip', '-n', this.controllerNs, 'link', 'set', 'lo', 'up']);
    // Every namespace gets the same kubeconfig: the relay listens on the same port in each.
    this.viaRelay = await this.relay.kubeconfigFor(this.controllerNs);
    for (const n of ctx.topo.nodes) await this.relay.kubeconfigFor(n.netns);

    this.controller = this.spawn('controller', this.controllerNs, this.bins.controller, [
      `--namespace=${NS}`,
      '--webhook-mode=disabled',
      '--log-level=info',
    ]);
    for (const n of ctx.topo.nodes) await this.start(n.name);

    await this.create(`/apis/metallb.io/v1beta1/namespaces/${NS}/ipaddresspools`, {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'IPAddressPool',
      metadata: { name: 'bench', namespace: NS },
      spec: { addresses: [METALLB_POOL] },
    });
    await this.create(`/apis/metallb.io/v1beta1/namespaces/${NS}/l2advertisements`, {
      apiVersion: 'metallb.io/v1beta1',
      kind: 'L2Advertisement',
      metadata: { name: 'bench', namespace: NS },
      spec: { ipAddressPools: ['bench'], interfaces: ['eth0'] },
    });

    for (let i = 1; i <= this.serviceCount; i++) {
      const name = `web-${String(i).padStart(2, '0')}`;
      await this.create(`/api/v1/namespaces/${APP_NS}/services`, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace: APP_NS },
        spec: {
          type: 'LoadBalancer',
          selector: { app: name },
          ports: [{ name: 'http', protocol: 'TCP', port: SERVICE_PORT, targetPort: SERVICE_PORT }],
        },
      });
      // One ready endpoint on every node: MetalLB announces only Services with ready endpoints.
      await this.create(`/apis/discovery.k8s.io/v1/namespaces/${APP_NS}/endpointslices`, {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: `${name}-bench`,
          namespace: APP_NS,
          labels: {
            'kubernetes.io/service-name': name,
            'endpointslice.kubernetes.io/managed-by': 'l2lb-bench',
          },
        },
        addressType: 'IPv4',
        ports: [{ name: 'http', protocol: 'TCP', port: SERVICE_PORT }],
        endpoints: ctx.topo.nodes.map((n) => ({
          addresses: [n.ip4],
          nodeName: n.name,
          conditions: { ready: true, serving: true, terminating: false },
        })),
      });
      this.services.push({ name, addresses: [] });
    }

    // The controller allocates; wait for every Service's status.
    for (const svc of this.services) {
      const ip = await until(
        async () => {
          const r = await ctx.api.client.request('GET', `/api/v1/namespaces/${APP_NS}/services/${svc.name}`, {
            timeoutMs: 5000,
          });
          const body = expectOk('get service', r) as {
            status?: { loadBalancer?: { ingress?: { ip?: string }[] } };
          };
          return body.status?.loadBalancer?.ingress?.[0]?.ip;
        },
        60_000,
        250,
      );
      if (!ip) throw new Error(`MetalLB gave ${svc.name} no address within 60 s:\n${this.diagnostics()}`);
      svc.addresses.push(ip);
    }
    ctx.log(
      `[metallb] ${this.services.length} Services allocated: ${this.services.map((s) => s.addresses[0]).join(' ')}`,
    );
  }

  private spawn(
    name: string,
    netns: string,
    bin: string,
    args: string[],
  ): { child: ChildProcess; log: LogTail } {
    const child = spawnTracked(['ip', 'netns', 'exec', netns, bin, ...args], {
      PATH: process.env.PATH,
      HOME: this.dir,
      KUBECONFIG: this.viaRelay,
    });
    const log = new LogTail(`metallb-${name}`, 400, process.env.L2LB_ECHO === '1');
    log.attach(child);
    child.on('error', (e) => log.push(`spawn error: ${message(e)}`));
    return { child, log };
  }

  /**
   * MetalLB's layer-2 election (speaker/layer2_controller.go, ShouldAnnounce): the live speakers
   * sorted by sha256("<node>#<ip>"), the first announces.
   */
  expectedHome(): Map<string, string> {
    const nodes = this.ctx.topo.nodes.map((n) => n.name);
    const hash = (node: string, ip: string): string =>
      createHash('sha256').update(`${node}#${ip}`).digest('hex');
    const home = new Map<string, string>();
    for (const ip of this.services.flatMap((s) => s.addresses)) {
      const sorted = [...nodes].sort((a, b) =>
        hash(a, ip) < hash(b, ip) ? -1 : hash(a, ip) > hash(b, ip) ? 1 : 0,
      );
      home.set(ip, sorted[0] ?? '');
    }
    return home;
  }

  kill(node: string): void {
    this.speakers.get(node)?.child.kill('SIGKILL');
  }

  async terminate(node: string): Promise<void> {
    await stopChild(this.speakers.get(node)?.child, 15_000);
  }

  async start(node: string): Promise<void> {
    const n = this.ctx.topo.node(node);
    const old = this.speakers.get(node);
    if (old && old.child.exitCode === null && old.child.signalCode === null) {
      old.child.kill('SIGKILL');
      await sleep(200);
    }
    this.speakers.set(
      node,
      this.spawn(`speaker-${node}`, n.netns, this.bins.speaker, [
        `--node-name=${node}`,
        `--pod-name=speaker-${node}`,
        `--namespace=${NS}`,
        '--host=127.0.0.1',
        `--ml-bindaddr=${n.ip4}`,
        `--ml-bindport=${ML_PORT}`,
        `--ml-labels=${Object.entries(SPEAKER_LABELS)
          .map(([k, v]) => `${k}=${v}`)
          .join(',')}`,
        `--ml-secret-key-path=${this.mlSecretDir}`,
        '--log-level=info',
      ]),
    );
  }

  async down(): Promise<void> {
    await Promise.all([...this.speakers.values()].map((s) => stopChild(s.child, 5000)));
    await stopChild(this.controller?.child, 5000);
    await this.relay.stop();
    this.deleteControllerNsSync();
  }

  speakerPids(): number[] {
    return [...this.speakers.values()].flatMap((s) =>
      s.child.pid !== undefined && s.child.exitCode === null ? [s.child.pid] : [],
    );
  }

  diagnostics(): string {
    return [this.controller?.log, ...[...this.speakers.values()].map((s) => s.log)]
      .filter((l): l is LogTail => l !== undefined)
      .map((l) => l.tail(15))
      .join('\n');
  }
}
