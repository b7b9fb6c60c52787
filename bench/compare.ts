// Side by side with MetalLB (issue 6): the same control plane, the same layer-2 segment of network
// namespaces, the same failures, one run. Prints one table; asserts nothing. Run as root:
//
//   npm run bench:compare                       # 5 repetitions, 30 s windows for writes at rest
//   npx tsx bench/compare.ts --reps 7 --rest-seconds 30 --only metallb,l2lb --parts hard,graceful --verbose
//
// The bed: three node namespaces and a client on a bridge (testbed/harness.ts), each node running
// the HTTP server that answers its name; a kube-apiserver (+ kine) on 127.0.0.1 of the root
// namespace; kube-proxy's part emulated the same for both (common.ts, emulateKubeProxy). First MetalLB
// (bench/compare/metallb.ts: controller + 3 speakers, 12 Services of one address each, memberlist
// on), then this module (bench/compare/l2lb.ts: 3 speakers, 12 Services of three addresses each).
// Measurements in bench/compare/measure.ts. Everything is removed on exit and on failure.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createTopology, netnsUnavailable, type Topology } from '../testbed/harness';
import { startTestControlPlane, TestApi, type ControlPlaneLike } from '../testbed/speakers';
import { type Bed, type Ctx, emulateKubeProxy, message, sleep } from './compare/common';
import { L2lbBed } from './compare/l2lb';
import {
  apiWrites,
  gracefulStops,
  hardFailures,
  owners,
  type Samples,
  settle,
  spread,
  usageAtRest,
  writesAtRest,
} from './compare/measure';
import { MetallbBed, metallbBinaries } from './compare/metallb';

const SERVICES = 12;
const NET_DIR = resolve(__dirname, '..', 'testbed');

interface Options {
  reps: number;
  restSeconds: number;
  only: Set<string>;
  /** Which measurements: spread, rest, hard (with the return), graceful. */
  parts: Set<string>;
  verbose: boolean;
}

function options(argv: string[]): Options {
  const o: Options = {
    reps: 5,
    restSeconds: 30,
    only: new Set(['metallb', 'l2lb']),
    parts: new Set(['spread', 'rest', 'hard', 'graceful']),
    verbose: process.env.L2LB_BENCH_VERBOSE === '1',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => argv[++i] ?? '';
    if (a === '--reps') o.reps = Math.max(1, Math.min(50, Number(next()) || 5));
    else if (a === '--rest-seconds') o.restSeconds = Math.max(5, Math.min(300, Number(next()) || 30));
    else if (a === '--only') o.only = new Set(next().split(','));
    else if (a === '--parts') o.parts = new Set(next().split(','));
    else if (a === '--verbose') o.verbose = true;
    else
      throw new Error(
        `unknown argument ${a}; usage: bench/compare.ts [--reps N] [--rest-seconds S] [--only metallb,l2lb] [--parts spread,rest,hard,graceful] [--verbose]`,
      );
  }
  return o;
}

interface Outcome {
  label: string;
  samples: Samples;
  /** Set when the bed could not be measured to the end. */
  error?: string;
  notes: string[];
}

async function measure(ctx: Ctx, bed: Bed, o: Options, baseline: number): Promise<Outcome> {
  const out: Outcome = { label: bed.label, samples: {}, notes: [] };
  try {
    ctx.log(`\n== ${bed.label}: starting`);
    await bed.up();
    const home = await settle(ctx, bed, 90_000, bed.expectedHome());
    if (!home) {
      const now = await owners(ctx, bed);
      const wrong = [...bed.expectedHome()]
        .filter(([ip, node]) => now?.get(ip) !== node)
        .map(([ip, node]) => `${ip}: ${now?.get(ip) ?? 'no answer'} instead of ${node}`);
      throw new Error(
        `not every address answered from its node within 90 s (${wrong.join(', ')}):\n${bed.diagnostics()}`,
      );
    }
    const perNode = new Map<string, number>();
    for (const n of home.values()) perNode.set(n, (perNode.get(n) ?? 0) + 1);
    ctx.log(
      `== ${bed.label}: all ${home.size} addresses answer (${[...perNode].map(([n, c]) => `${n}: ${c}`).join(', ')})`,
    );
    const victim =
      (perNode.get('node-1') ?? 0) > 0
        ? 'node-1'
        : ([...perNode].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'node-1');
    const watched = bed.services.flatMap((s) => s.addresses).find((a) => home.get(a) === victim) ?? '';
    out.notes.push(
      `victim ${victim} (holds ${perNode.get(victim) ?? 0} of ${home.size} addresses), watched address ${watched}`,
    );

    if (o.parts.has('spread')) {
      ctx.log(`-- spread (${o.reps} rounds)`);
      await spread(ctx, bed, o.reps, out.samples);
    }
    if (o.parts.has('rest')) {
      await sleep(5000);
      ctx.log(`-- API writes at rest (${o.reps} windows of ${o.restSeconds} s)`);
      await usageAtRest(bed, out.samples, () =>
        writesAtRest(ctx, o.reps, o.restSeconds, baseline, out.samples, 'writes'),
      );
    }
    const scenario = { ctx, bed, victim, watched, home, reps: o.reps, samples: out.samples };
    if (o.parts.has('hard')) {
      ctx.log(`-- hard failure of ${victim} and its return (${o.reps}x), watching ${watched}`);
      const from = Date.now();
      await hardFailures(scenario);
      const causes = bed.takeoverCauses?.(from);
      if (causes)
        out.notes.push(`takeovers in the hard failures and returns by cause: ${describeCauses(causes)}`);
    }
    if (o.parts.has('graceful')) {
      ctx.log(`-- graceful stop of ${victim}'s speaker (${o.reps}x)`);
      const from = Date.now();
      await gracefulStops(scenario);
      const causes = bed.takeoverCauses?.(from);
      if (causes)
        out.notes.push(`takeovers in the graceful stops and restarts by cause: ${describeCauses(causes)}`);
    }
  } catch (err) {
    out.error = message(err);
    ctx.log(`!! ${bed.label}: ${out.error}\n${bed.diagnostics()}`);
  } finally {
    await bed.down();
  }
  return out;
}

function describeCauses(causes: Map<string, number>): string {
  return [...causes].map(([cause, n]) => `${cause} ${n}`).join(', ') || 'none';
}

const ROWS: { key: string; title: string; digits: number }[] = [
  { key: 'spread.perService', title: 'traffic spread: nodes answering per Service', digits: 0 },
  { key: 'spread.nodes', title: `traffic spread: nodes answering over all ${SERVICES} Services`, digits: 0 },
  { key: 'spread.busiest', title: "traffic spread: busiest node's share of the addresses, %", digits: 0 },
  {
    key: 'hard.detectionMs',
    title: 'hard failure: declared dead by a peer (detection alone), ms',
    digits: 0,
  },
  { key: 'hard.firstAnswerMs', title: 'hard failure: first answer from a new node, ms', digits: 0 },
  { key: 'hard.lost', title: 'hard failure: lost probes at 10 ms', digits: 0 },
  { key: 'hard.addressesPct', title: "hard failure: Services' addresses with a failed probe, %", digits: 0 },
  {
    key: 'hard.servicesDownPct',
    title: 'hard failure: Services with every address failing at once, %',
    digits: 0,
  },
  { key: 'graceful.lost', title: 'graceful stop of a speaker: lost probes at 10 ms', digits: 0 },
  {
    key: 'graceful.addressesPct',
    title: "graceful stop: Services' addresses with a failed probe, %",
    digits: 0,
  },
  {
    key: 'return.backMs',
    title: "node's return: its speaker started -> first answer from it, ms",
    digits: 0,
  },
  { key: 'return.lost', title: "node's return: lost probes at 10 ms (fail-back)", digits: 0 },
  {
    key: 'return.addressesPct',
    title: "node's return: Services' addresses with a failed probe, %",
    digits: 0,
  },
  { key: 'writes', title: 'API server writes per second at rest', digits: 2 },
  { key: 'rest.cpuPct', title: 'a speaker at rest: CPU, % of one core', digits: 1 },
  { key: 'rest.rssMiB', title: 'a speaker at rest: resident memory, MiB', digits: 0 },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}

function cell(xs: number[] | undefined, digits: number): string {
  if (!xs || xs.length === 0) return 'not measured';
  const f = (v: number): string => v.toFixed(digits);
  const s = [...xs].sort((a, b) => a - b);
  return `${f(s[0] ?? 0)} / ${f(median(s))} / ${f(s[s.length - 1] ?? 0)}`;
}

function ratio(ours: number[] | undefined, theirs: number[] | undefined): string {
  if (!ours?.length || !theirs?.length) return '—';
  const a = median(ours);
  const b = median(theirs);
  if (b === 0) return a === 0 ? '= (both 0)' : '∞ (MetalLB 0)';
  return `${(a / b).toFixed(2)}`;
}

function table(metallb: Outcome | undefined, ours: Outcome | undefined, o: Options): string {
  const head = [
    `| figure (min / median / max over ≥${o.reps} repetitions) | ${metallb?.label ?? 'MetalLB'} | ${ours?.label ?? 'this module'} | ratio this module / MetalLB (medians) |`,
    '|---|---|---|---|',
  ];
  const rows = ROWS.map(
    (r) =>
      `| ${r.title} | ${cell(metallb?.samples[r.key], r.digits)} | ${cell(ours?.samples[r.key], r.digits)} | ${ratio(ours?.samples[r.key], metallb?.samples[r.key])} |`,
  );
  return [...head, ...rows].join('\n');
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  const why = netnsUnavailable();
  if (why) throw new Error(`bench/compare: ${why}`);
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const scratch = mkdtempSync(join(tmpdir(), 'l2lb-compare-'));
  process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

  let topo: Topology | undefined;
  let cp: ControlPlaneLike | undefined;
  let api: TestApi | undefined;
  const outcomes = new Map<string, Outcome>();
  const started = Date.now();
  try {
    // Start the MetalLB build first: on a cold cache it is the long pole.
    const bins = o.only.has('metallb')
      ? metallbBinaries((l) => log(l)).catch((e: unknown) => e as Error)
      : undefined;
    topo = await createTopology(3, NET_DIR);
    cp = await startTestControlPlane();
    api = new TestApi(cp.kubeconfigPath);
    const ctx: Ctx = {
      topo,
      api,
      kubeconfig: cp.kubeconfigPath,
      server: cp.server,
      netDir: NET_DIR,
      scratch,
      log,
      verbose: o.verbose,
    };
    await emulateKubeProxy(topo);

    // What the control plane writes by itself (its own Leases): subtracted from both.
    const a = await apiWrites(ctx);
    await sleep(o.restSeconds * 1000);
    const b = await apiWrites(ctx);
    const baseline = (b.total - a.total) / o.restSeconds;
    log(`control plane's own writes at rest: ${baseline.toFixed(2)}/s (subtracted from both)`);

    if (bins) {
      const built = await bins;
      if (built instanceof Error) {
        outcomes.set('metallb', {
          label: 'MetalLB',
          samples: {},
          error: `build: ${built.message}`,
          notes: [],
        });
      } else {
        outcomes.set('metallb', await measure(ctx, new MetallbBed(ctx, built, SERVICES), o, baseline));
      }
    }
    if (o.only.has('l2lb')) outcomes.set('l2lb', await measure(ctx, new L2lbBed(ctx, SERVICES), o, baseline));

    const m = outcomes.get('metallb');
    const l = outcomes.get('l2lb');
    console.log(
      `\nSide by side: 3 balancer nodes and a client in network namespaces on one bridge, a real kube-apiserver; ` +
        `${SERVICES} Services each (MetalLB: 1 address per Service; this module: 3); probes over HTTP from the client, ` +
        `10 ms apart on one address of the failing node, 100 ms apart on every address, 200 ms timeout; ` +
        `writes at rest over ${o.restSeconds} s windows, net of the control plane's own ${baseline.toFixed(2)}/s. ` +
        `Run took ${Math.round((Date.now() - started) / 1000)} s.\n`,
    );
    console.log(table(m, l, o));
    for (const out of [m, l]) {
      if (!out) continue;
      for (const n of out.notes) console.log(`\n${out.label}: ${n}`);
      if (out.error) console.log(`\n${out.label}: NOT MEASURED TO THE END: ${out.error.split('\n')[0]}`);
    }
    if ([...outcomes.values()].some((x) => x.error !== undefined)) process.exitCode = 1;
  } finally {
    api?.client.close();
    await cp?.stop();
    await topo?.destroy();
  }
}

main().then(
  () => process.exit(),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
