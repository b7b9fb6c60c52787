// The measurements of bench/compare.ts, the same for both beds. The client probes over HTTP with
// testbed/probe.mjs (each answer names the node): a fast probe every 10 ms on one address the
// victim node holds (lost probes, time to the first answer from another node, as bench/failover.ts
// does), and a wide probe every 100 ms on every address of every Service (which addresses and
// Services were disrupted at all). A probe times out after 200 ms.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Probe, ProbeResult } from '../../testbed/harness';
import { type Bed, type Ctx, sleep, until } from './common';

const FAST_MS = 10;
const WIDE_MS = 100;
const PROBE_TIMEOUT_MS = 200;
/** Between the cable coming back and the returning node's speaker starting. */
const RETURN_LINK_SETTLE_MS = 2000;
/** Bound of every wait for a failover or a fail-back. */
const MOVE_TIMEOUT_MS = 60_000;

export interface Samples {
  /** Per figure key, its samples. */
  [figure: string]: number[];
}

function push(s: Samples, key: string, v: number | undefined): void {
  if (v === undefined || Number.isNaN(v)) return;
  (s[key] ??= []).push(v);
}

/** Waits for a probe to finish its rounds (bounded), else stops it. */
async function finish(probe: Probe, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([probe.done, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))]);
  clearTimeout(timer);
  probe.stop();
}

function allAddresses(bed: Bed): string[] {
  return bed.services.flatMap((s) => s.addresses);
}

/** Who answers each address now (one HTTP round from the client), undefined when not all answer. */
export async function owners(ctx: Ctx, bed: Bed): Promise<Map<string, string> | undefined> {
  const targets = allAddresses(bed);
  const probe = ctx.topo.probe(ctx.netDir, targets, 50, 1, 1000);
  await finish(probe, 5000);
  const map = new Map<string, string>();
  for (const r of probe.results) if (r.node !== undefined) map.set(r.ip, r.node);
  return map.size === targets.length ? map : undefined;
}

/** Waits until every address answers (and, when given, from the node in `expected`). */
export async function settle(
  ctx: Ctx,
  bed: Bed,
  timeoutMs: number,
  expected?: Map<string, string>,
): Promise<Map<string, string> | undefined> {
  return until(
    async () => {
      const now = await owners(ctx, bed);
      if (!now) return undefined;
      if (expected) for (const [ip, node] of expected) if (now.get(ip) !== node) return undefined;
      return now;
    },
    timeoutMs,
    500,
  );
}

/** Traffic spread: `reps` rounds of one HTTP GET to every address of every Service. */
export async function spread(ctx: Ctx, bed: Bed, reps: number, samples: Samples): Promise<void> {
  const probe = ctx.topo.probe(ctx.netDir, allAddresses(bed), 300, reps, 1000);
  await finish(probe, reps * 300 + 5000);
  for (let round = 0; round < reps; round++) {
    const inRound = probe.results.filter((r) => r.seq === round);
    const byIp = new Map(inRound.map((r) => [r.ip, r.node]));
    const load = new Map<string, number>();
    for (const svc of bed.services) {
      const nodes = new Set(
        svc.addresses.map((a) => byIp.get(a)).filter((n): n is string => n !== undefined),
      );
      push(samples, 'spread.perService', nodes.size);
      for (const n of nodes) load.set(n, (load.get(n) ?? 0) + 1);
    }
    const answered = inRound.filter((r) => r.node !== undefined);
    const perNode = new Map<string, number>();
    for (const r of answered) perNode.set(r.node ?? '', (perNode.get(r.node ?? '') ?? 0) + 1);
    push(samples, 'spread.nodes', perNode.size);
    push(samples, 'spread.busiest', (100 * Math.max(0, ...perNode.values())) / Math.max(1, inRound.length));
  }
}

interface Window {
  fast: Probe;
  wide: Probe;
  watched: string;
}

function startWindow(ctx: Ctx, bed: Bed, watched: string, maxMs: number): Window {
  return {
    watched,
    fast: ctx.topo.probe(ctx.netDir, [watched], FAST_MS, Math.ceil(maxMs / FAST_MS), PROBE_TIMEOUT_MS),
    wide: ctx.topo.probe(
      ctx.netDir,
      allAddresses(bed),
      WIDE_MS,
      Math.ceil(maxMs / WIDE_MS),
      PROBE_TIMEOUT_MS,
    ),
  };
}

function stopWindow(w: Window): void {
  w.fast.stop();
  w.wide.stop();
}

interface Disruption {
  lostFast: number;
  addressesPct: number;
  servicesDownPct: number;
}

/** What the window saw from `from` on: lost fast probes, disrupted addresses, Services fully down. */
function disruption(ctx: Ctx, bed: Bed, w: Window, from: number, label: string): Disruption {
  const lost = (rs: ProbeResult[]): ProbeResult[] => rs.filter((r) => r.t >= from && r.error !== undefined);
  const lostFast = lost(w.fast.results);
  const lostWide = lost(w.wide.results);
  const hit = new Set(lostWide.map((r) => r.ip));
  const addresses = allAddresses(bed);
  // A Service is fully down when, in one round of the wide probe, every one of its addresses failed.
  const failedRound = new Set(lostWide.map((r) => `${r.seq}|${r.ip}`));
  const rounds = new Set(lostWide.map((r) => r.seq));
  const down = bed.services.filter((s) =>
    [...rounds].some((seq) => s.addresses.every((a) => failedRound.has(`${seq}|${a}`))),
  );
  if (ctx.verbose) {
    ctx.log(
      `    ${label}: ${lostFast.length} fast probes lost (${brief(lostFast.map((r) => r.t - from))}); ` +
        `addresses disrupted: ${
          [...hit]
            .map((ip) => {
              const mine = lostWide.filter((r) => r.ip === ip);
              const errors = [...new Set(mine.map((r) => r.error))].join('/');
              return `${ip} (${mine.length}x ${errors}, from ${(mine[0]?.t ?? from) - from} ms)`;
            })
            .join(' ') || 'none'
        }`,
    );
  }
  return {
    lostFast: lostFast.length,
    addressesPct: (100 * hit.size) / addresses.length,
    servicesDownPct: (100 * down.length) / bed.services.length,
  };
}

/** "a b c … y z" for a long list of send times (ms after the event). */
function brief(ts: number[]): string {
  return ts.length <= 8 ? ts.join(' ') : `${ts.slice(0, 4).join(' ')} … ${ts.slice(-3).join(' ')}`;
}

function firstFromOther(w: Window, since: number, victim: string): ProbeResult | undefined {
  return w.fast.results.find((r) => r.t >= since && r.node !== undefined && r.node !== victim);
}

/** One bed's failure scenarios: who fails, which address the fast probe watches, where home is. */
export interface Scenario {
  ctx: Ctx;
  bed: Bed;
  victim: string;
  /** An address `victim` holds when all is well. */
  watched: string;
  /** Who answers each address when all is well. */
  home: Map<string, string>;
  reps: number;
  samples: Samples;
}

/**
 * Hard failure of `victim` (speaker SIGKILL + cable cut), then its return (cable back, speaker
 * started), `reps` times.
 */
export async function hardFailures(sc: Scenario): Promise<void> {
  const { ctx, bed, victim, watched, home, reps, samples } = sc;
  const total = allAddresses(bed).length;
  for (let i = 0; i < reps; i++) {
    // Failure.
    let w = startWindow(ctx, bed, watched, MOVE_TIMEOUT_MS + 5000);
    await sleep(600);
    const failedAt = Date.now();
    bed.kill(victim);
    await ctx.topo.setLink(victim, false);
    const moved = await until(() => firstFromOther(w, failedAt, victim), MOVE_TIMEOUT_MS, 20);
    // Let every other address of the victim move too (bounded), then a last wide round.
    await until(
      () => {
        const last = Math.max(-1, ...w.wide.results.map((r) => r.seq)) - 1;
        const round = w.wide.results.filter((r) => r.seq === last && r.t > failedAt);
        return round.length === total && round.every((r) => r.error === undefined) ? true : undefined;
      },
      15_000,
      100,
    );
    await sleep(300);
    stopWindow(w);
    const d = disruption(ctx, bed, w, failedAt - PROBE_TIMEOUT_MS, `hard #${i + 1}`);
    const detectedAt = bed.detectedAt?.(victim, failedAt);
    push(samples, 'hard.detectionMs', detectedAt === undefined ? undefined : detectedAt - failedAt);
    push(samples, 'hard.firstAnswerMs', moved ? moved.t - failedAt : undefined);
    push(samples, 'hard.lost', moved ? d.lostFast : undefined);
    push(samples, 'hard.addressesPct', d.addressesPct);
    push(samples, 'hard.servicesDownPct', d.servicesDownPct);
    ctx.log(
      `  hard #${i + 1}: ${detectedAt === undefined ? '' : `declared dead by a peer after ${detectedAt - failedAt} ms, `}` +
        `first answer from ${moved?.node ?? 'nobody'} after ${moved ? moved.t - failedAt : '-'} ms, ` +
        `${d.lostFast} lost, ${d.addressesPct.toFixed(0)} % of addresses disrupted, ${d.servicesDownPct.toFixed(0)} % of Services fully down`,
    );

    // Return: the cable back, and 2 s later (the node's network settled, as when a node reboots and
    // its speaker Pod starts) the speaker. Measured from the speaker's start: what fail-back costs.
    await ctx.topo.setLink(victim, true);
    await sleep(RETURN_LINK_SETTLE_MS);
    w = startWindow(ctx, bed, watched, MOVE_TIMEOUT_MS + 5000);
    await sleep(600);
    const backAt = Date.now();
    await bed.start(victim);
    const back = await until(
      () => w.fast.results.find((r) => r.t >= backAt && r.node === victim),
      MOVE_TIMEOUT_MS,
      20,
    );
    await sleep(3000);
    stopWindow(w);
    const r = disruption(ctx, bed, w, backAt, `return #${i + 1}`);
    push(samples, 'return.lost', back ? r.lostFast : undefined);
    push(samples, 'return.addressesPct', back ? r.addressesPct : undefined);
    push(samples, 'return.backMs', back ? back.t - backAt : undefined);
    ctx.log(
      `  return #${i + 1}: ${watched} back on ${victim} ${back ? `after ${back.t - backAt} ms` : 'NEVER'}, ` +
        `${r.lostFast} lost, ${r.addressesPct.toFixed(0)} % of addresses disrupted`,
    );
    if (!(await settle(ctx, bed, 30_000, home))) ctx.log(`  (not every address back home within 30 s)`);
    await sleep(2000);
  }
}

/** Graceful stop of `victim`'s speaker (SIGTERM, the node stays up), then its restart, `reps` times. */
export async function gracefulStops(sc: Scenario): Promise<void> {
  const { ctx, bed, victim, watched, home, reps, samples } = sc;
  for (let i = 0; i < reps; i++) {
    const w = startWindow(ctx, bed, watched, MOVE_TIMEOUT_MS + 5000);
    await sleep(600);
    const stoppedAt = Date.now();
    const exited = bed.terminate(victim);
    const moved = await until(() => firstFromOther(w, stoppedAt, victim), MOVE_TIMEOUT_MS, 20);
    await exited;
    await sleep(1500);
    stopWindow(w);
    const d = disruption(ctx, bed, w, stoppedAt - PROBE_TIMEOUT_MS, `graceful #${i + 1}`);
    push(samples, 'graceful.lost', moved ? d.lostFast : undefined);
    push(samples, 'graceful.firstAnswerMs', moved ? moved.t - stoppedAt : undefined);
    push(samples, 'graceful.addressesPct', d.addressesPct);
    ctx.log(
      `  graceful #${i + 1}: ${watched} answered by ${moved?.node ?? 'nobody else'} after ${moved ? moved.t - stoppedAt : '-'} ms, ` +
        `${d.lostFast} lost, ${d.addressesPct.toFixed(0)} % of addresses disrupted`,
    );
    await bed.start(victim);
    if (!(await settle(ctx, bed, 60_000, home))) ctx.log(`  (not every address back home within 60 s)`);
    await sleep(2000);
  }
}

/** The sum of apiserver_request_total over the write verbs, from kube-apiserver's /metrics. */
export async function apiWrites(ctx: Ctx): Promise<{ total: number; byResource: Map<string, number> }> {
  const r = await ctx.api.client.request('GET', '/metrics', { timeoutMs: 10_000 });
  if (r.status !== 200 || typeof r.body !== 'string') throw new Error(`GET /metrics: HTTP ${r.status}`);
  let total = 0;
  const byResource = new Map<string, number>();
  for (const line of r.body.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const verb = /verb="([A-Z]+)"/.exec(line)?.[1] ?? '';
    if (!['POST', 'PUT', 'PATCH', 'APPLY'].includes(verb)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (!Number.isFinite(value)) continue;
    total += value;
    const res = `${verb} ${/resource="([^"]*)"/.exec(line)?.[1] ?? ''}${/subresource="([^"]+)"/.exec(line)?.[1] ? `/${/subresource="([^"]+)"/.exec(line)?.[1]}` : ''}`;
    byResource.set(res, (byResource.get(res) ?? 0) + value);
  }
  return { total, byResource };
}

/** API writes per second over `reps` windows of `seconds` each, minus `baseline` per second. */
export async function writesAtRest(
  ctx: Ctx,
  reps: number,
  seconds: number,
  baseline: number,
  samples: Samples,
  key: string,
): Promise<void> {
  for (let i = 0; i < reps; i++) {
    const a = await apiWrites(ctx);
    await sleep(seconds * 1000);
    const b = await apiWrites(ctx);
    const rate = (b.total - a.total) / seconds;
    push(samples, key, Math.max(0, rate - baseline));
    const parts = [...b.byResource]
      .map(([k, v]) => [k, v - (a.byResource.get(k) ?? 0)] as const)
      .filter(([, v]) => v > 0)
      .map(([k, v]) => `${k} ${(v / seconds).toFixed(2)}/s`);
    ctx.log(`  writes at rest #${i + 1}: ${rate.toFixed(2)}/s (${parts.join(', ') || 'none'})`);
  }
}

/** CPU time (user + system, clock ticks) and resident memory (kB) of a process, from /proc. */
function processUsage(pid: number): { ticks: number; rssKb: number } | undefined {
  try {
    // Fields after the command name (which may hold spaces): state is the 3rd, utime the 14th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return { ticks, rssKb: Number(rss) };
  } catch {
    return undefined;
  }
}

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return clockTicks;
}

/**
 * Runs `during` (the windows of writes at rest) and measures each speaker's CPU (% of one core,
 * averaged over the time `during` took) and its resident memory at the end, one sample per speaker.
 */
export async function usageAtRest(bed: Bed, samples: Samples, during: () => Promise<void>): Promise<void> {
  const pids = bed.speakerPids();
  const before = new Map(pids.map((p) => [p, processUsage(p)]));
  const from = Date.now();
  await during();
  const seconds = (Date.now() - from) / 1000;
  for (const pid of pids) {
    const a = before.get(pid);
    const b = processUsage(pid);
    if (!a || !b) continue;
    push(samples, 'rest.cpuPct', (100 * (b.ticks - a.ticks)) / ticksPerSecond() / seconds);
    push(samples, 'rest.rssMiB', b.rssKb / 1024);
  }
}
