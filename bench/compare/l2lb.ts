// This module on the shared bed: an L2LoadBalancer over 198.51.100.0/24 and, for each Service,
// three L2LBService objects (one per public IP) created directly — as tests/net/speaker-e2e does —
// with the ranked nodes computed by the module's own placement (lib/placement/place.ts, the function
// the control-loop hook calls), and the real speakers (the bundle of images/speaker) per node.
//
// Without the hooks nobody re-ranks after a failure, so a node that comes back is first candidate
// again at once and its speaker takes its addresses back (make-before-break). With the hooks and the
// default `rebalance: Gradual`, the addresses would stay where they failed over to and move back
// only after the node has been Ready for 60 s, one per run.
//
// The speakers run as the DaemonSet runs them: each inside its node's namespace (host network), the
// API reached through testbed/netns-api.ts, with the environment templates/speaker.ts renders from
// the module's default settings, and a heartbeat key as the Secret gives it.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaultSettings } from '../../lib/settings';
import { place } from '../../lib/placement/place';
import { speakerEnv } from '../../templates/speaker';
import { NetnsApiRelay } from '../../testbed/netns-api';
import { startSpeaker, type SpeakerProcess } from '../../testbed/speakers';
import { type Bed, type BedService, type Ctx, exitWithin, L2LB_FIRST } from './common';

const ROOT = resolve(__dirname, '..', '..');
const APP_NS = 'l2lb-bench';
const BALANCER = 'bench';
export const IPS_PER_SERVICE = 3;

export class L2lbBed implements Bed {
  readonly label = 'this module';
  readonly services: BedService[] = [];
  private readonly speakers = new Map<string, SpeakerProcess>();
  private readonly home = new Map<string, string>();
  private readonly relay: NetnsApiRelay;
  private readonly keyFile: string;
  /** The DaemonSet's environment with the default settings, but for what the launcher sets. */
  private readonly env: Record<string, string>;

  constructor(
    private readonly ctx: Ctx,
    private readonly serviceCount: number,
  ) {
    this.relay = new NetnsApiRelay(ctx.kubeconfig, ctx.server);
    this.keyFile = join(ctx.scratch, 'heartbeat-key');
    const launcher = new Set(['METRICS_ADDRESS', 'HEARTBEAT_KEY_FILE', 'LOG_LEVEL']);
    this.env = Object.fromEntries(
      speakerEnv(defaultSettings().speaker).flatMap((e) =>
        e.value !== undefined && !launcher.has(e.name) ? [[e.name, e.value]] : [],
      ),
    );
  }

  async up(): Promise<void> {
    const { ctx } = this;
    await ctx.api.applyCrds(resolve(ROOT, 'crds'));
    await ctx.api.moduleNamespace();
    await ctx.api.namespace(APP_NS);
    const first = 10;
    const last = first + this.serviceCount * IPS_PER_SERVICE - 1;
    const pool = [`${L2LB_FIRST}${first}-${L2LB_FIRST}${last}`];
    await ctx.api.balancer(BALANCER, pool, ['eth0']);
    writeFileSync(this.keyFile, randomBytes(32), { mode: 0o600 });

    const nodes = ctx.topo.nodes.map((n) => n.name);
    const indices = [];
    for (let s = 1; s <= this.serviceCount; s++) {
      const name = `web-${String(s).padStart(2, '0')}`;
      const svc: BedService = { name, addresses: [] };
      for (let i = 0; i < IPS_PER_SERVICE; i++) {
        svc.addresses.push(`${L2LB_FIRST}${first + (s - 1) * IPS_PER_SERVICE + i}`);
        indices.push({
          key: `${APP_NS}/${name}-${BALANCER}-${i}`,
          serviceKey: `${APP_NS}/${name}`,
          l2lbName: BALANCER,
          index: i,
          current: [],
        });
      }
      this.services.push(svc);
    }
    const plan = place({
      nodes: nodes.map((name) => ({ name, labels: {}, ready: true, readySince: '2020-01-01T00:00:00Z' })),
      leases: [],
      balancers: [
        {
          name: BALANCER,
          addressPool: pool,
          nodeSelector: {},
          interfaces: ['eth0'],
          isDefault: false,
          creationTimestamp: '2020-01-01T00:00:00Z',
        },
      ],
      indices,
      rebalance: { mode: 'Never', minNodeReadySeconds: 60, maxMovesPerRun: 1 },
      now: Date.now(),
      maxCandidates: nodes.length,
    });
    for (const svc of this.services) {
      for (let i = 0; i < IPS_PER_SERVICE; i++) {
        const ranked = plan.candidates.get(`${APP_NS}/${svc.name}-${BALANCER}-${i}`) ?? nodes;
        this.home.set(svc.addresses[i] ?? '', ranked[0] ?? '');
        await ctx.api.index(APP_NS, `${svc.name}-${BALANCER}-${i}`, svc.addresses[i] ?? '', ranked, BALANCER);
      }
    }
    for (const n of nodes) await this.start(n);
  }

  /** The first of each index's ranked nodes: its speaker announces it while its Lease is fresh. */
  expectedHome(): Map<string, string> {
    return new Map(this.home);
  }

  kill(node: string): void {
    this.speakers.get(node)?.child.kill('SIGKILL');
  }

  async terminate(node: string): Promise<void> {
    const s = this.speakers.get(node);
    if (!s) return;
    s.child.kill('SIGTERM');
    if ((await exitWithin(s.child, 15_000)) === undefined) {
      s.child.kill('SIGKILL');
      await exitWithin(s.child, 2000);
    }
  }

  async start(node: string): Promise<void> {
    const old = this.speakers.get(node);
    if (old && old.child.exitCode === null && old.child.signalCode === null) {
      old.child.kill('SIGKILL');
      await exitWithin(old.child, 2000);
    }
    const n = this.ctx.topo.node(node);
    this.speakers.set(
      node,
      await startSpeaker({
        node,
        netns: n.netns,
        inNetns: true,
        kubeconfig: await this.relay.kubeconfigFor(n.netns),
        // NODE_IP: what the downward API gives the Pod (status.hostIP).
        env: { ...this.env, NODE_IP: n.ip4, HEARTBEAT_KEY_FILE: this.keyFile, LOG_LEVEL: 'info' },
        echo: process.env.L2LB_ECHO === '1',
      }),
    );
  }

  async down(): Promise<void> {
    await Promise.all([...this.speakers.keys()].map((n) => this.terminate(n)));
    await this.relay.stop();
  }

  speakerPids(): number[] {
    return [...this.speakers.values()].flatMap((s) =>
      s.child.pid !== undefined && s.child.exitCode === null ? [s.child.pid] : [],
    );
  }

  detectedAt(victim: string, since: number): number | undefined {
    const times = [...this.speakers.values()]
      .filter((s) => s.node !== victim)
      .flatMap((s) => s.logs)
      .filter((l) => l.msg === 'peer silent: dead by heartbeat' && l.peer === victim)
      .map((l) => Date.parse(l.time ?? ''))
      .filter((t) => t >= since);
    return times.length ? Math.min(...times) : undefined;
  }

  takeoverCauses(since: number): Map<string, number> {
    const out = new Map<string, number>();
    for (const s of this.speakers.values())
      for (const l of s.logs)
        if (l.msg === 'took over the address' && Date.parse(l.time ?? '') >= since) {
          const cause = typeof l.cause === 'string' ? l.cause : 'unknown';
          out.set(cause, (out.get(cause) ?? 0) + 1);
        }
    return out;
  }

  diagnostics(): string {
    return [...this.speakers.values()]
      .map((s) =>
        s.logs
          .slice(-15)
          .map((l) => `  [${s.node}] ${JSON.stringify(l)}`)
          .join('\n'),
      )
      .join('\n');
  }
}
