// Benchmark of the module on a real control plane: kube-apiserver (over kine) and shell-operator
// running the built hooks, 20 balancer nodes. For 1, 100 and 1,000 Services created at once
// (3 IPs each): the time from the first create to each Service's complete status (3 addresses in
// status.loadBalancer.ingress and AllPublicIPsAssigned=True), seen through a watch; and the CPU
// time of the hook processes, from shell-operator's own metrics (user+sys rusage of every hook
// process it waited for: shell_operator_hook_run_{user,sys}_cpu_seconds). Then the cost of one
// Service event at that scale: single Services created one by one.
//
// shell-operator applies the hooks' object patches through a client rate-limited to 5 requests/s
// (burst 10) by default (--object-patcher-kube-client-qps/-burst). Every Service costs about 7
// writes (3 L2LBServices, its status, 3 Events), so with the defaults that limit, not the hooks,
// sets the pace. Each configuration runs on a fresh control plane.
//
//   npx tsx bench/cluster.ts [--counts 1,100,1000] [--qps 200,5] [--single 10]
//   (--qps 5 is shell-operator's default; a --qps of 5 runs the counts up to 100 unless --full)
// Prints figures; asserts nothing.
import { cpus, loadavg } from 'node:os';
import {
  CONDITION_ALL_ASSIGNED,
  ModuleCluster,
  conditionOf,
  ingressOf,
  serviceObject,
  watchCollection,
  type ServiceObject,
} from '../testbed/module';

const NODES = 20;
const IPS = 3;
const FRONTEND = { 'node-role.kubernetes.io/frontend': '' };
// Documentation prefix (RFC 3849): 65,536 addresses, more than the runs need.
const POOL = '2001:db8:100::/112';
const IPV6 = { ipFamilies: ['IPv6'], ipFamilyPolicy: 'SingleStack' };
const CREATE_CONCURRENCY = 16;

interface Args {
  counts: number[];
  qps: number[];
  single: number;
  full: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { counts: [1, 100, 1000], qps: [200, 5], single: 10, full: false };
  const list = (v: string | undefined): number[] => (v ?? '').split(',').filter(Boolean).map(Number);
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    if (x === '--counts') a.counts = list(argv[++i]);
    else if (x === '--qps') a.qps = list(argv[++i]);
    else if (x === '--single') a.single = Number(argv[++i]);
    else if (x === '--full') a.full = true;
    else throw new Error(`unknown argument ${x}`);
  }
  return a;
}

/** Binding context sizes of the reconcile hook's runs after the first `from` runs of any hook. */
function contextsSince(m: ModuleCluster, from: number): { runs: number; maxMB: number; totalMB: number } {
  const all = m.bindingContextSizes();
  const sizes = all
    .slice(from)
    .filter((x) => x.hook === 'reconcile')
    .map((x) => x.bytes);
  return {
    runs: all.length,
    maxMB: Math.max(0, ...sizes) / 1e6,
    totalMB: sizes.reduce((x, y) => x + y, 0) / 1e6,
  };
}

const size = (mb: number): string => (mb < 1 ? `${(mb * 1000).toFixed(0)} kB` : `${mb.toFixed(1)} MB`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const sec = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;

/** Sum and count of a shell-operator histogram, per binding of the reconcile hook. */
interface HookUsage {
  runs: number;
  cpuSeconds: number;
  wallSeconds: number;
}

function parseUsage(metrics: string): Map<string, HookUsage> {
  const out = new Map<string, HookUsage>();
  const get = (binding: string): HookUsage => {
    let u = out.get(binding);
    if (u === undefined) {
      u = { runs: 0, cpuSeconds: 0, wallSeconds: 0 };
      out.set(binding, u);
    }
    return u;
  };
  const re = /^shell_operator_hook_run_(user_cpu|sys_cpu)?_?seconds_(sum|count)\{([^}]*)\} (\S+)$/;
  for (const line of metrics.split('\n')) {
    const m = re.exec(line);
    if (m === null) continue;
    const labels = Object.fromEntries([...m[3]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (labels.hook !== 'reconcile') continue;
    const u = get(labels.binding ?? '?');
    const value = Number(m[4]);
    if (m[1] === undefined && m[2] === 'count') u.runs += value;
    else if (m[1] === undefined && m[2] === 'sum') u.wallSeconds += value;
    else if (m[2] === 'sum') u.cpuSeconds += value;
  }
  return out;
}

function usageDelta(before: Map<string, HookUsage>, after: Map<string, HookUsage>): Map<string, HookUsage> {
  const out = new Map<string, HookUsage>();
  for (const [binding, a] of after) {
    const b = before.get(binding) ?? { runs: 0, cpuSeconds: 0, wallSeconds: 0 };
    const d = {
      runs: a.runs - b.runs,
      cpuSeconds: a.cpuSeconds - b.cpuSeconds,
      wallSeconds: a.wallSeconds - b.wallSeconds,
    };
    if (d.runs > 0) out.set(binding, d);
  }
  return out;
}

function total(u: Map<string, HookUsage>): HookUsage {
  const t = { runs: 0, cpuSeconds: 0, wallSeconds: 0 };
  for (const x of u.values()) {
    t.runs += x.runs;
    t.cpuSeconds += x.cpuSeconds;
    t.wallSeconds += x.wallSeconds;
  }
  return t;
}

function describeUsage(u: Map<string, HookUsage>): string {
  return [...u]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([b, x]) => `${b} ${x.runs} runs ${(x.cpuSeconds * 1000).toFixed(0)} ms CPU`)
    .join(', ');
}

const complete = (s: ServiceObject): boolean =>
  ingressOf(s).length === IPS && conditionOf(s.status?.conditions, CONDITION_ALL_ASSIGNED)?.status === 'True';

async function createAll(m: ModuleCluster, namespace: string, names: string[]): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < names.length) {
      const name = names[next++]!;
      const body = serviceObject({
        namespace,
        name,
        l2lb: 'bench',
        count: IPS,
        allocateLoadBalancerNodePorts: false,
        ...IPV6,
      });
      await m.request('POST', `/api/v1/namespaces/${namespace}/services`, body);
    }
  };
  await Promise.all(Array.from({ length: CREATE_CONCURRENCY }, worker));
}

/** Creates `count` Services at once in a fresh namespace; returns when all are complete. */
async function burst(m: ModuleCluster, count: number, qps: number): Promise<boolean> {
  const namespace = `bench-${count}`;
  await m.ensureNamespace(namespace);
  const names = Array.from({ length: count }, (_, i) => `svc-${String(i).padStart(4, '0')}`);
  const done = new Map<string, number>();
  let t0 = 0;
  let resolveAll: () => void = () => undefined;
  const all = new Promise<void>((r) => (resolveAll = r));
  const watch = await watchCollection<ServiceObject>(
    m.cp,
    `/api/v1/namespaces/${namespace}/services`,
    (e) => {
      if (e.type === 'DELETED' || done.has(e.object.metadata.name) || !complete(e.object)) return;
      done.set(e.object.metadata.name, Date.now() - t0);
      if (done.size === count) resolveAll();
    },
  );
  const usage0 = parseUsage(await m.operatorMetrics());
  const ctx0 = contextsSince(m, 0).runs;
  const log0 = m.logMark();
  t0 = Date.now();
  await createAll(m, namespace, names);
  const created = Date.now() - t0;
  // Bounded: 30 s plus 2 s per Service at the default 5 writes/s, 0.5 s per Service otherwise.
  const bound = 30_000 + count * (qps <= 5 ? 2000 : 500);
  const finished = await Promise.race([all.then(() => true), sleep(bound).then(() => false)]);
  const wall = Date.now() - t0;
  watch.stop();
  const times = [...done.values()].sort((a, b) => a - b);
  console.log(
    [
      `  ${count} Services (qps ${qps}): created in ${sec(created)}; complete: ${done.size}/${count}` +
        (finished ? '' : ` (gave up after ${sec(bound)})`),
      `    time to complete status: first ${sec(times[0] ?? NaN)}, median ${sec(pct(times, 50))}, ` +
        `p90 ${sec(pct(times, 90))}, all ${finished ? sec(wall) : 'n/a'}`,
    ].join('\n'),
  );
  // The Services' own status writes run the hook again: wait for a quiet full run (bounded).
  let converged = true;
  try {
    await m.untilConverged({
      pokeNode: 'bench-worker',
      timeoutMs: 300_000 + count * (qps <= 5 ? 1000 : 100),
    });
  } catch {
    converged = false;
  }
  // Without the full runs the benchmark itself starts (relabelling bench-worker) to check convergence.
  const usage = usageDelta(usage0, parseUsage(await m.operatorMetrics()));
  usage.delete('nodes');
  const t = total(usage);
  const ctx = contextsSince(m, ctx0);
  // shell-operator merges queued events of a hook into one run ("... to N contexts" in its log).
  const merged = m
    .logsSince(log0)
    .filter((l) => l.includes('Binding contexts from are dropped from queue'))
    .map((l) => Number(/to (\d+) contexts/.exec(l)?.[1] ?? 0));
  const failures = [
    ...new Set(
      m
        .logsSince(log0)
        .filter((l) => l.includes('Hook failed'))
        .map((l) => /Error: ([^\\"]*)/.exec(l)?.[1] ?? l.slice(0, 200)),
    ),
  ];
  console.log(
    [
      `    reconcile hook runs it caused: ${t.runs} runs, ${(t.cpuSeconds * 1000).toFixed(0)} ms CPU ` +
        `(${((t.cpuSeconds * 1000) / count).toFixed(1)} ms per Service), ${sec(t.wallSeconds * 1000)} in runs incl. patching`,
      `    by binding: ${describeUsage(usage)}`,
      `    binding contexts: largest ${size(ctx.maxMB)}, ${size(ctx.totalMB)} in all; ` +
        `most binding contexts in one run: ${Math.max(0, ...merged)}`,
      ...(failures.length > 0 ? [`    FAILED hook runs: ${failures.join(' | ')}`] : []),
      ...(converged ? [] : ['    NOT converged: no quiet full run of the hook within the bound']),
    ].join('\n'),
  );
  return converged;
}

/** Single Services created one after the other, each waited for: the cost of one Service event. */
async function singles(m: ModuleCluster, n: number, existing: number): Promise<void> {
  if (n <= 0) return;
  const namespace = 'bench-single';
  await m.ensureNamespace(namespace);
  const walls: number[] = [];
  const usage0 = parseUsage(await m.operatorMetrics());
  for (let i = 0; i < n; i++) {
    const name = `one-${i}`;
    const t0 = Date.now();
    await m.request(
      'POST',
      `/api/v1/namespaces/${namespace}/services`,
      serviceObject({
        namespace,
        name,
        l2lb: 'bench',
        count: IPS,
        allocateLoadBalancerNodePorts: false,
        ...IPV6,
      }),
    );
    await m.until(
      `${name} complete`,
      async () => (complete(await m.getService(namespace, name)) ? true : undefined),
      120_000,
    );
    walls.push(Date.now() - t0);
    // Let the run for its own status write pass too, so the next one starts on a quiet queue.
    await sleep(1500);
  }
  const usage = usageDelta(usage0, parseUsage(await m.operatorMetrics()));
  // The 15 s schedule runs meanwhile too; the event runs are the others.
  const t = total(new Map([...usage].filter(([binding]) => binding !== 'rerank')));
  const sorted = [...walls].sort((a, b) => a - b);
  console.log(
    [
      `  one Service created among ${existing} Services (${existing * IPS} L2LBServices), ${n} times, one at a time:`,
      `    time to complete status: median ${sec(pct(sorted, 50))}, max ${sec(sorted.at(-1) ?? NaN)}`,
      `    reconcile runs on events: ${t.runs} (${(t.runs / n).toFixed(1)} per Service), ` +
        `${((t.cpuSeconds * 1000) / Math.max(1, t.runs)).toFixed(0)} ms CPU per run, ` +
        `${((t.cpuSeconds * 1000) / n).toFixed(0)} ms CPU per created Service`,
      `    all runs meanwhile, by binding: ${describeUsage(usage)}`,
    ].join('\n'),
  );
}

async function configuration(qps: number, counts: number[], single: number): Promise<void> {
  const defaults = qps === 5;
  console.log(
    `\nshell-operator object patcher: ${qps} requests/s, burst ${qps * 2}${defaults ? ' (its defaults)' : ''}`,
  );
  const m = await ModuleCluster.start({
    recordBindingContexts: true,
    // A second, IPv6 service range: the Services are IPv6 (the pool is), and the control loop
    // gives a Service addresses of its own family only.
    extraApiserverArgs: ['--service-cluster-ip-range=10.96.0.0/16,fd00:96::/108'],
    shellOperatorArgs: [
      `--object-patcher-kube-client-qps=${qps}`,
      `--object-patcher-kube-client-burst=${qps * 2}`,
    ],
  });
  try {
    for (let i = 1; i <= NODES; i++)
      await m.createNode({ name: `fe-${String(i).padStart(2, '0')}`, labels: FRONTEND });
    await m.createNode({ name: 'bench-worker' }); // selected by no balancer: pokes full runs
    await m.createL2LoadBalancer('bench', { addressPool: [POOL], nodeSelector: FRONTEND });
    await m.until(
      'the L2LoadBalancer Ready',
      async () => {
        const lb = await m.getL2LoadBalancer('bench');
        return conditionOf(lb.status?.conditions, 'Ready')?.status === 'True' ? true : undefined;
      },
      120_000,
    );
    // Start from a quiet module: the start-up runs (module objects, the first full run) are over.
    await m.untilConverged({ pokeNode: 'bench-worker', timeoutMs: 120_000 });
    let existing = 0;
    for (const count of counts) {
      existing += count;
      if (!(await burst(m, count, qps))) {
        console.log('  (the rest of this configuration is skipped: the hooks did not converge)');
        return;
      }
    }
    await singles(m, single, existing);
    const errors = m.hookErrors();
    if (errors.length > 0)
      console.log(
        `  shell-operator reported ${errors.length} errors; the last: ${errors.at(-1)?.slice(0, 400)}`,
      );
  } finally {
    await m.stop();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  console.log(
    `bench/cluster: ${NODES} balancer nodes, ${IPS} IPs per Service, pool ${POOL}; ` +
      `${cpus().length} CPUs, load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')} at the start`,
  );
  for (const qps of args.qps) {
    const counts = qps <= 5 && !args.full ? args.counts.filter((c) => c <= 100) : args.counts;
    if (counts.length < args.counts.length)
      console.log(`\n(qps ${qps}: counts above 100 skipped, about 1.5 s per Service; --full runs them)`);
    await configuration(qps, counts, qps <= 5 && !args.full ? 0 : args.single);
  }
  console.log(
    `\nload average at the end: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
