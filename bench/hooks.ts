// Benchmark of the control-loop hook at scale, through the real executable (process start
// included): 10,000 LoadBalancer Services with 3 IPs each, 50 L2LoadBalancers, 500 nodes.
// Prints wall time and peak RSS; asserts nothing.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reconcileConfig as config } from '../lib/controller/bindings';
import { MemoryCluster } from '../lib/sdk/memory-cluster';
import { groupContext, type ClusterObject } from '../lib/sdk/simulate';
import type { PatchOperation } from '../lib/sdk/output';

const HOOK = process.env.L2LB_HOOK ?? join(__dirname, '..', 'dist', 'module', 'hooks', 'reconcile');
const SERVICES = Number(process.env.BENCH_SERVICES ?? 10_000);
const BALANCERS = 50;
const NODES = 500;

function cluster(): ClusterObject[] {
  const out: ClusterObject[] = [];
  for (let i = 0; i < NODES; i++) {
    out.push({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: `node-${String(i).padStart(3, '0')}`,
        labels: { 'l2lb.example/group': `g${i % BALANCERS}` },
      },
      status: { conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-11-01T00:00:00Z' }] },
    });
  }
  for (let b = 0; b < BALANCERS; b++) {
    out.push({
      apiVersion: 'network.deckhouse.io/v1alpha1',
      kind: 'L2LoadBalancer',
      metadata: { name: `lb-${b}`, creationTimestamp: '2026-11-01T00:00:00Z', generation: 1 },
      // Documentation prefix: these addresses live only in this benchmark's memory.
      spec: {
        addressPool: [`2001:db8:${b.toString(16)}::/112`],
        nodeSelector: { 'l2lb.example/group': `g${b}` },
      },
    });
  }
  for (let s = 0; s < SERVICES; s++) {
    out.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: `svc-${s}`,
        namespace: `ns-${s % 100}`,
        uid: `uid-${s}`,
        creationTimestamp: '2026-11-02T00:00:00Z',
        annotations: {
          'network.deckhouse.io/l2-load-balancer-name': `lb-${s % BALANCERS}`,
          'network.deckhouse.io/l2-load-balancer-external-ips-count': '3',
        },
      },
      spec: {
        type: 'LoadBalancer',
        // IPv6 Services, as the API server fills them in: the pools are IPv6.
        clusterIP: `fd00::${s.toString(16)}`,
        ipFamilies: ['IPv6'],
        ipFamilyPolicy: 'SingleStack',
        selector: { app: `svc-${s}` },
        ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
      },
    });
  }
  return out;
}

interface Measured {
  wallMs: number;
  maxRssMb: number;
  patches: PatchOperation[];
}

function runMeasured(contextJson: string): Measured {
  const dir = mkdtempSync(join(tmpdir(), 'l2lb-bench-'));
  try {
    const ctx = join(dir, 'ctx.json');
    const patches = join(dir, 'patches.jsonl');
    writeFileSync(ctx, contextJson);
    writeFileSync(join(dir, 'values.json'), JSON.stringify({ l2LoadBalancer: {} }));
    const started = process.hrtime.bigint();
    const r = spawnSync('/usr/bin/time', ['-f', '%M', HOOK], {
      env: {
        PATH: process.env.PATH ?? '',
        BINDING_CONTEXT_PATH: ctx,
        KUBERNETES_PATCH_PATH: patches,
        METRICS_PATH: join(dir, 'metrics.jsonl'),
        VALUES_PATH: join(dir, 'values.json'),
      },
      encoding: 'utf8',
      maxBuffer: 1 << 30,
    });
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    if (r.status !== 0) throw new Error(`hook failed: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    const maxRssKb = Number(lines[lines.length - 1]);
    const ops = readFileSync(patches, 'utf8')
      .split('\n')
      .filter((l) => l)
      .map((l) => JSON.parse(l) as PatchOperation);
    return { wallMs, maxRssMb: maxRssKb / 1024, patches: ops };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function report(name: string, runs: Measured[], extra = ''): void {
  const wall = runs.map((r) => r.wallMs).sort((a, b) => a - b);
  const rss = Math.max(...runs.map((r) => r.maxRssMb));
  const med = wall[Math.floor(wall.length / 2)]!;
  console.log(
    `${name.padEnd(44)} wall min ${wall[0]!.toFixed(0)} ms / median ${med.toFixed(0)} ms / max ${wall[wall.length - 1]!.toFixed(0)} ms   peak RSS ${rss.toFixed(0)} MB${extra}`,
  );
}

function main(): void {
  const REPS = Number(process.env.BENCH_REPS ?? 3);
  console.log(
    `control-loop hook: ${SERVICES} Services x 3 IPs, ${BALANCERS} L2LoadBalancers, ${NODES} nodes; ${REPS} runs each`,
  );
  const objects = cluster();
  const mem = new MemoryCluster(objects);
  const first = JSON.stringify(groupContext(config, mem.list()));
  console.log(`binding context of a full sync: ${(first.length / 1e6).toFixed(1)} MB`);

  const cold = [runMeasured(first)];
  report('full sync, nothing allocated yet', cold, `   (${cold[0]!.patches.length} patch operations)`);
  mem.apply(cold[0]!.patches);

  const converged = JSON.stringify(groupContext(config, mem.list()));
  if (process.env.BENCH_DUMP) writeFileSync(process.env.BENCH_DUMP, converged);
  const warm: Measured[] = [];
  for (let i = 0; i < REPS; i++) warm.push(runMeasured(converged));
  report('full sync, converged (a restart)', warm, `   (${warm[0]!.patches.length} patch operations)`);

  // One Service changes: 3 -> 4 IPs. shell-operator runs the hook with the group's snapshots.
  const svc = mem.get('v1', 'Service', 'ns-7', 'svc-7')!;
  (svc.metadata.annotations as Record<string, string>)[
    'network.deckhouse.io/l2-load-balancer-external-ips-count'
  ] = '4';
  const event = JSON.stringify(groupContext(config, mem.list(), 'services'));
  console.log(`binding context of a Service event: ${(event.length / 1e6).toFixed(1)} MB`);
  if (process.env.BENCH_DUMP) writeFileSync(`${process.env.BENCH_DUMP}.event`, event);
  const single: Measured[] = [];
  for (let i = 0; i < REPS; i++) single.push(runMeasured(event));
  report('single-Service event (3 -> 4 IPs)', single, `   (${single[0]!.patches.length} patch operations)`);
}

main();
