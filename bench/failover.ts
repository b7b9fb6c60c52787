// Failover benchmark of the speaker, in network namespaces against a real API server. Prints
// figures; asserts nothing.  Run as root:  npx tsx bench/failover.ts [repetitions]
//
// 1. hard failure: SIGKILL the speaker of the node holding an address and cut its cable;
// 2. graceful stop: SIGTERM that speaker (make-before-break hand-over);
//    for both: time from the failure to the first answer from the new node, and lost probes
//    (the client probes over HTTP every 10 ms, each probe timing out after 200 ms);
// 3. assignment change: patch spec.nodes of an L2LBService, and time from the patch to the first
//    gratuitous ARP of the new node on the wire (tcpdump on the bridge);
// 4. speaker RSS and CPU at rest with 100 announced addresses, over one refresh period (60 s).
import { type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { createTopology, netnsUnavailable, spawnTracked, type Topology } from '../testbed/harness';
import { startSpeaker, startTestControlPlane, TestApi, type SpeakerProcess } from '../testbed/speakers';

const REPS = Number(process.argv[2] ?? 5);
/** Which parts to run (comma-separated): hard, graceful, assign, rest. */
const PARTS = new Set((process.argv[3] ?? 'hard,graceful,assign,rest').split(','));
const NS = 'bench';
const NET_DIR = resolve(__dirname, '..', 'testbed');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function stats(xs: number[]): string {
  if (xs.length === 0) return 'n/a';
  const s = [...xs].sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return `min ${s[0]}  median ${median}  max ${s[s.length - 1]}  (n=${s.length})`;
}

interface Ctx {
  topo: Topology;
  api: TestApi;
  kubeconfig: string;
  speakers: Map<string, SpeakerProcess>;
}

/** Extra speaker environment for an experiment: L2LB_SPEAKER_ENV='CONFLICT_CHECK_SECONDS=0 ...'. */
const EXTRA_ENV = Object.fromEntries(
  (process.env.L2LB_SPEAKER_ENV ?? '')
    .split(/\s+/)
    .filter((kv) => kv.includes('='))
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);

async function start(ctx: Ctx, node: string): Promise<SpeakerProcess> {
  const s = await startSpeaker({
    node,
    netns: ctx.topo.node(node).netns,
    kubeconfig: ctx.kubeconfig,
    env: { LOG_LEVEL: 'info', ...EXTRA_ENV },
    echo: process.env.L2LB_ECHO === '1',
  });
  ctx.speakers.set(node, s);
  return s;
}

async function answersFrom(ctx: Ctx, ip: string, node: string, timeoutMs: number): Promise<boolean> {
  return (
    (await ctx.topo.until(
      async () => ((await ctx.topo.fetchFromClient(ip, 300)) === node ? true : undefined),
      timeoutMs,
      50,
    )) === true
  );
}

/** One failure of node-1's speaker; returns ms to the first answer from another node and lost probes. */
async function failOnce(
  ctx: Ctx,
  ip: string,
  mode: 'hard' | 'graceful',
): Promise<{ ms: number; lost: number; takeoverMs?: number } | undefined> {
  const probe = ctx.topo.probe(NET_DIR, [ip], 10, 1200, 200);
  await sleep(500);
  const victim = ctx.speakers.get('node-1')!;
  const failedAt = Date.now();
  if (mode === 'hard') {
    victim.child.kill('SIGKILL');
    await ctx.topo.setLink('node-1', false);
  } else {
    victim.child.kill('SIGTERM');
  }
  const moved = await ctx.topo.until(
    async () => probe.results.find((r) => r.t >= failedAt && r.node !== undefined && r.node !== 'node-1'),
    10_000,
    20,
  );
  await sleep(300);
  probe.stop();
  const after = probe.results.filter((r) => r.t >= failedAt - 200);
  const lost = after.filter((r) => r.error !== undefined).length;
  if (process.env.L2LB_BENCH_VERBOSE === '1') {
    for (const r of after.filter((x) => x.error !== undefined))
      console.log(`    lost: sent at ${r.t - failedAt} ms: ${r.error}`);
  }
  const log = ctx.speakers
    .get('node-2')
    ?.logs.filter((l) => l.msg === 'took over the address' && l.address === ip)
    .at(-1);
  // Restore: cable back, speaker back, the address back on node-1.
  if (mode === 'hard') await ctx.topo.setLink('node-1', true);
  const code = await victim.exited;
  if (mode === 'graceful' && code !== 0) {
    console.error(
      `  the speaker exited ${code} (${victim.child.signalCode}) on SIGTERM: ${JSON.stringify(victim.logs.slice(-6))} ${JSON.stringify(victim.logs.filter((l) => l.level === 'stderr' || l.level === 'error'))}`,
    );
  }
  await start(ctx, 'node-1');
  if (!(await answersFrom(ctx, ip, 'node-1', 20_000))) console.error(`  ${ip} did not come back to node-1`);
  await sleep(2000);
  if (!moved) return undefined;
  return {
    ms: moved.t - failedAt,
    lost,
    ...(typeof log?.takeoverMs === 'number' ? { takeoverMs: log.takeoverMs } : {}),
  };
}

/** tcpdump on the bridge: ARP frames with their wire timestamps. */
function captureArp(topo: Topology): { lines: { t: number; text: string }[]; proc: ChildProcess } {
  const proc = spawnTracked([
    'ip',
    'netns',
    'exec',
    topo.bridgeNs,
    'tcpdump',
    '-i',
    'br0',
    '-n',
    '-l',
    '-tt',
    '-e',
    'arp',
  ]);
  const lines: { t: number; text: string }[] = [];
  createInterface(proc.stdout!).on('line', (text) =>
    lines.push({ t: Math.round(Number(text.split(' ')[0]) * 1000), text }),
  );
  return { lines, proc };
}

async function assignmentOnce(
  ctx: Ctx,
  capture: ReturnType<typeof captureArp>,
  ip: string,
  to: string,
  nodes: string[],
): Promise<number | undefined> {
  const mac = ctx.topo.node(to).mac;
  const patchedAt = Date.now();
  await ctx.api.setNodes(NS, 'web-bench-2', nodes);
  const hit = await ctx.topo.until(
    async () => capture.lines.find((l) => l.t >= patchedAt && l.text.includes(mac) && l.text.includes(ip)),
    5000,
    10,
  );
  await answersFrom(ctx, ip, to, 10_000);
  await sleep(2500);
  return hit ? hit.t - patchedAt : undefined;
}

function procStat(pid: number): { cpuTicks: number; rssKb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuTicks = Number(fields[11]) + Number(fields[12]);
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { cpuTicks, rssKb };
}

async function main(): Promise<void> {
  const why = netnsUnavailable();
  if (why) {
    console.error(`bench/failover: ${why}`);
    process.exit(1);
  }
  const topo = await createTopology(3, NET_DIR);
  const cp = await startTestControlPlane();
  const ctx: Ctx = {
    topo,
    api: new TestApi(cp.kubeconfigPath),
    kubeconfig: cp.kubeconfigPath,
    speakers: new Map(),
  };
  try {
    await ctx.api.applyCrds(resolve(__dirname, '..', 'crds'));
    await ctx.api.moduleNamespace();
    await ctx.api.namespace(NS);
    await ctx.api.balancer('public', ['192.0.2.200-192.0.2.220']);
    await ctx.api.index(NS, 'web-bench-0', '192.0.2.200', ['node-1', 'node-2', 'node-3']);
    await ctx.api.index(NS, 'web-bench-2', '192.0.2.202', ['node-3', 'node-1', 'node-2']);
    for (const n of ['node-1', 'node-2', 'node-3']) await start(ctx, n);
    if (!(await answersFrom(ctx, '192.0.2.200', 'node-1', 20_000)))
      throw new Error('192.0.2.200 never answered from node-1');
    console.log(
      `speaker failover benchmark: ${REPS} repetitions, lease 3 s, renew 1 s, probes every 10 ms (timeout 200 ms)\n`,
    );

    for (const mode of (['hard', 'graceful'] as const).filter((m) => PARTS.has(m))) {
      const ms: number[] = [];
      const lost: number[] = [];
      const takeover: number[] = [];
      for (let i = 0; i < REPS; i++) {
        const r = await failOnce(ctx, '192.0.2.200', mode);
        if (!r) {
          console.log(`  ${mode} #${i + 1}: no answer from another node within 10 s`);
          continue;
        }
        ms.push(r.ms);
        lost.push(r.lost);
        if (r.takeoverMs !== undefined) takeover.push(r.takeoverMs);
        console.log(
          `  ${mode} #${i + 1}: first answer from the new node after ${r.ms} ms, ${r.lost} probes lost${r.takeoverMs !== undefined ? `, lease expiry -> announce ${r.takeoverMs} ms` : ''}`,
        );
      }
      console.log(`${mode === 'hard' ? 'hard failure (SIGKILL + cable cut)' : 'graceful stop (SIGTERM)'}:`);
      console.log(`  failure -> first answer from new node, ms: ${stats(ms)}`);
      console.log(`  lost probes:                             ${stats(lost)}`);
      if (takeover.length) console.log(`  lease expiry -> address added + GARP, ms: ${stats(takeover)}`);
      console.log('');
    }

    if (PARTS.has('assign')) await assignments(ctx);
    if (PARTS.has('rest')) await atRest(ctx);
  } finally {
    for (const s of ctx.speakers.values()) s.child.kill('SIGKILL');
    ctx.api.client.close();
    await cp.stop();
    await topo.destroy();
  }
}

async function assignments(ctx: Ctx): Promise<void> {
  const capture = captureArp(ctx.topo);
  await sleep(1000);
  const garp: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const [to, nodes] =
      i % 2 === 0 ? ['node-1', ['node-1', 'node-3', 'node-2']] : ['node-3', ['node-3', 'node-1', 'node-2']];
    const ms = await assignmentOnce(ctx, capture, '192.0.2.202', to as string, nodes as string[]);
    if (ms !== undefined) garp.push(ms);
    console.log(
      `  assignment #${i + 1} -> ${to}: first gratuitous ARP on the wire ${ms ?? 'never'} ms after the patch`,
    );
  }
  capture.proc.kill('SIGTERM');
  console.log('assignment change (PATCH spec.nodes) -> first gratuitous ARP on the wire:');
  console.log(`  ms: ${stats(garp)}\n`);
}

async function atRest(ctx: Ctx): Promise<void> {
  const topo = ctx.topo;

  // 100 addresses announced by node-2, on an interface named in the L2LoadBalancer.
  await ctx.api.balancer('many', ['198.51.100.1-198.51.100.100'], ['eth0']);
  for (let i = 1; i <= 100; i++)
    await ctx.api.index(NS, `many-lb-${i}`, `198.51.100.${i}`, ['node-2', 'node-3'], 'many');
  const done = await topo.until(
    async () =>
      (await topo.addressesOn('node-2')).filter((a) => a.startsWith('198.51.100.')).length === 100
        ? true
        : undefined,
    30_000,
    200,
  );
  // The initial announcements end 4 s after the add and the first duplicate probes (4 s after the
  // add, four at a time, up to a second each) within ~30 s; then measure one whole refresh period,
  // so that every address's refresh and probe falls into the window once.
  console.log(
    `100 addresses on node-2: ${done ? 'yes' : 'NO'}; waiting 35 s for the first announcements and probes`,
  );
  await sleep(35_000);
  const pid = ctx.speakers.get('node-2')!.child.pid!;
  const a = procStat(pid);
  const windowS = 60;
  await sleep(windowS * 1000);
  const b = procStat(pid);
  const hz = 100;
  console.log(`speaker at rest with 100 announced addresses (node-2, ${windowS} s window):`);
  console.log(
    `  RSS ${Math.round(b.rssKb / 1024)} MiB, CPU ${(((b.cpuTicks - a.cpuTicks) / hz / windowS) * 100).toFixed(2)} % of one core`,
  );
  for (const n of ['node-1', 'node-3']) {
    const p = procStat(ctx.speakers.get(n)!.child.pid!);
    console.log(`  (${n}, a few addresses: RSS ${Math.round(p.rssKb / 1024)} MiB)`);
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
