// Takeover of 1,000 addresses at once, in network namespaces against a real API server, with the
// real `ip`, `arping` and `na6`. Prints figures; asserts nothing.
//   Run as root:  npx tsx bench/takeover.ts [addresses=1000] [caps=0,64]
//
// node-1's speaker announces every address; node-2's speaker is the second candidate of each. Then
// node-1's speaker is SIGKILLed and its cable cut: when its Lease expires, node-2 takes over all of
// them at once. For each cap on concurrent announcements (ANNOUNCE_CONCURRENCY; 0 = no cap, which
// is what the speaker did before the cap: every announcement command started at once) it prints:
//   - time to the last announcement: from node-2's first gratuitous ARP/NA of the takeover to the
//     first one of the last address, as tcpdump on the bridge saw them;
//   - the speaker's peak RSS (VmHWM of node-2's speaker process, /proc/<pid>/status), and the
//     peak of the summed RSS of its whole process tree (the `sh`, `arping` and `na6` it starts count
//     against the Pod's memory limit too), sampled every 100 ms;
//   - the most announcement processes (arping/na6) alive at one sample.
// The addresses: IPv4 from 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24 (two arping each per
// round), the rest IPv6 from 2001:db8::1:0/112 (one na6 each). Everything stays in the namespaces.
import { type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { createTopology, netnsUnavailable, spawnTracked, type Topology } from '../testbed/harness';
import { startSpeaker, startTestControlPlane, TestApi, type SpeakerProcess } from '../testbed/speakers';

// The figures read /proc of the speaker process itself: run the bundle (in the root namespace, its
// commands through `ip netns exec`), not the image, whose child here would be the podman client.
process.env.L2LB_TEST_SPEAKER = 'bundle';

const COUNT = Math.max(1, Math.min(Number(process.argv[2] ?? 1000) || 1000, 1500));
const CAPS = (process.argv[3] ?? '0,64').split(',').map(Number);
const NS = 'bench';
/** Extra speaker environment for an experiment: L2LB_SPEAKER_ENV='PORT_FILTER=off ...'. */
const EXTRA_ENV = Object.fromEntries(
  (process.env.L2LB_SPEAKER_ENV ?? '')
    .split(/\s+/)
    .filter((kv) => kv.includes('='))
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);
const NET_DIR = resolve(__dirname, '..', 'testbed');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** COUNT addresses: IPv4 first (the documentation ranges, away from the nodes' .11/.12 and the client's .100). */
function addresses(count: number): string[] {
  const v4 = [
    ...Array.from({ length: 100 }, (_, i) => `192.0.2.${150 + i}`),
    ...Array.from({ length: 250 }, (_, i) => `198.51.100.${1 + i}`),
    ...Array.from({ length: 250 }, (_, i) => `203.0.113.${1 + i}`),
  ];
  const v6 = Array.from(
    { length: Math.max(0, count - v4.length) },
    (_, i) => `2001:db8::1:${i.toString(16)}`,
  );
  return [...v4, ...v6].slice(0, count);
}

interface Sampler {
  stop(): { hwmKb: number; treePeakKb: number; processesPeak: number };
}

/** Every pid whose parent chain leads to `root` (one pass over /proc). */
function tree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  for (const pid of parent.keys()) {
    let p: number | undefined = pid;
    for (let depth = 0; p !== undefined && p > 1 && depth < 32; depth++) {
      if (p === root) {
        out.push(pid);
        break;
      }
      p = parent.get(p);
    }
  }
  return out;
}

function status(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(m?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Samples the speaker's process tree every 100 ms until stopped (bounded by `maxMs`). */
function sample(pid: number, maxMs: number): Sampler {
  let treePeakKb = 0;
  let processesPeak = 0;
  let hwmKb = 0;
  const started = Date.now();
  const timer = setInterval(() => {
    if (Date.now() - started > maxMs) return clearInterval(timer);
    const pids = tree(pid);
    treePeakKb = Math.max(
      treePeakKb,
      pids.reduce((sum, p) => sum + status(p, 'VmRSS'), 0),
    );
    processesPeak = Math.max(processesPeak, pids.filter((p) => ['arping', 'na6'].includes(comm(p))).length);
    hwmKb = Math.max(hwmKb, status(pid, 'VmHWM'));
  }, 100);
  return {
    stop: () => {
      clearInterval(timer);
      hwmKb = Math.max(hwmKb, status(pid, 'VmHWM'));
      return { hwmKb, treePeakKb, processesPeak };
    },
  };
}

/** First gratuitous ARP (request or reply) or unsolicited NA per address from `mac`, wire time (ms). */
function captureAnnouncements(topo: Topology): {
  first: (mac: string, since: number) => Map<string, number>;
  proc: ChildProcess;
} {
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
    'arp or (icmp6 and ip6[40] == 136)',
  ]);
  const seen: { t: number; mac: string; address: string }[] = [];
  createInterface(proc.stdout!).on('line', (text) => {
    const t = Math.round(Number(text.split(' ')[0]) * 1000);
    const mac = text.split(' ')[1] ?? '';
    // "Request who-has A tell A" / "Reply A is-at" (gratuitous: sender = target) / "tgt is A".
    const m = /who-has (\S+) tell (\S+),|Reply (\S+) is-at|tgt is (\S+?),/.exec(text);
    if (!m) return;
    if (m[1] !== undefined && m[1] !== m[2]) return;
    const address = m[1] ?? m[3] ?? m[4];
    if (address) seen.push({ t, mac, address });
  });
  return {
    proc,
    first: (mac, since) => {
      const out = new Map<string, number>();
      for (const s of seen) if (s.mac === mac && s.t >= since && !out.has(s.address)) out.set(s.address, s.t);
      return out;
    },
  };
}

async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
    if (await fn()) return;
    await sleep(200);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

/** The speaker's warnings and errors, counted by message. */
function warnings(s: SpeakerProcess): string {
  const counts = new Map<string, number>();
  for (const l of s.logs) {
    if (l.level !== 'warn' && l.level !== 'error' && l.level !== 'stderr') continue;
    const msg = String(l.msg).slice(0, 80);
    counts.set(msg, (counts.get(msg) ?? 0) + 1);
  }
  return [...counts].map(([m, n]) => `${n}x ${m}`).join('; ') || 'no warnings';
}

async function onInterface(topo: Topology, node: string): Promise<number> {
  return (await topo.addressesOn(node)).length;
}

async function takeover(
  topo: Topology,
  kubeconfig: string,
  ips: readonly string[],
  cap: number,
): Promise<string> {
  const env = {
    LOG_LEVEL: 'info',
    ANNOUNCE_CONCURRENCY: String(cap),
    CONFLICT_CHECK_SECONDS: '0',
    ...EXTRA_ENV,
  };
  const speakers: SpeakerProcess[] = [];
  const capture = captureAnnouncements(topo);
  try {
    await topo.setLink('node-1', true);
    const first = await startSpeaker({ node: 'node-1', netns: topo.node('node-1').netns, kubeconfig, env });
    speakers.push(first);
    const held = Date.now();
    await until(
      'node-1 holds every address',
      async () => (await onInterface(topo, 'node-1')) >= ips.length,
      300_000,
    ).catch(async (e: Error) => {
      console.log(
        `  ${e.message}: ${await onInterface(topo, 'node-1')} of ${ips.length}; ${warnings(first)}`,
      );
      throw e;
    });
    console.log(`  (node-1 held all ${ips.length} after ${Date.now() - held} ms)`);
    const second = await startSpeaker({ node: 'node-2', netns: topo.node('node-2').netns, kubeconfig, env });
    speakers.push(second);
    await until('node-2 started', () => second.logs.some((l) => l.msg === 'speaker started'), 60_000);
    await sleep(3000);
    const pid = second.child.pid!;
    const sampler = sample(pid, 300_000);
    const killedAt = Date.now();
    first.child.kill('SIGKILL');
    await topo.setLink('node-1', false);
    const mac = topo.node('node-2').mac;
    let announced = new Map<string, number>();
    await until(
      'node-2 announces every address',
      () => (announced = capture.first(mac, killedAt)).size >= ips.length,
      300_000,
    ).catch((e: Error) => console.log(`  ${e.message} (${announced.size} of ${ips.length} seen)`));
    const mem = sampler.stop();
    const times = [...announced.values()];
    const firstAt = Math.min(...times);
    const lastAt = Math.max(...times);
    return [
      `cap ${cap === 0 ? 'none (every command at once, as before)' : `${cap} addresses at once`}:`,
      `  announced ${announced.size} of ${ips.length}; first ${firstAt - killedAt} ms after the kill (lease 3 s),`,
      `  last announcement ${lastAt - firstAt} ms after the first (${lastAt - killedAt} ms after the kill)`,
      `  speaker VmHWM ${(mem.hwmKb / 1024).toFixed(1)} MiB; process tree peak RSS ${(mem.treePeakKb / 1024).toFixed(1)} MiB; at most ${mem.processesPeak} arping/na6 at once`,
      `  load average after: ${loadavg()}`,
      `  node-2 speaker: ${warnings(second)}`,
    ].join('\n');
  } finally {
    for (const s of speakers) s.child.kill('SIGKILL');
    capture.proc.kill('SIGKILL');
    // The killed speakers' addresses leave with their kernel lifetime (4 s): a clean start for the next run.
    for (const node of ['node-1', 'node-2'])
      await until(`${node} holds no address`, async () => (await onInterface(topo, node)) === 0, 30_000);
  }
}

async function main(): Promise<void> {
  const why = netnsUnavailable();
  if (why) {
    console.error(`bench/takeover: ${why}`);
    process.exitCode = 1;
    return;
  }
  console.log(
    `bench/takeover: ${COUNT} addresses, caps ${CAPS.join(', ')}, speaker env ${JSON.stringify(EXTRA_ENV)}; load average before: ${loadavg()}`,
  );
  const topo = await createTopology(2, NET_DIR);
  const cp = await startTestControlPlane();
  try {
    const api = new TestApi(cp.kubeconfigPath);
    await api.applyCrds(resolve(__dirname, '..', 'crds'));
    await api.moduleNamespace();
    await api.namespace(NS);
    await api.balancer(
      'public',
      [
        '192.0.2.150-192.0.2.249',
        '198.51.100.1-198.51.100.250',
        '203.0.113.1-203.0.113.250',
        '2001:db8::1:0/112',
      ],
      ['eth0'],
    );
    const ips = addresses(COUNT);
    const created = Date.now();
    for (let i = 0; i < ips.length; i++)
      await api.index(NS, `svc${i}-public-0`, ips[i]!, ['node-1', 'node-2']);
    console.log(`created ${ips.length} L2LBServices in ${Date.now() - created} ms`);
    for (const cap of CAPS) console.log(await takeover(topo, cp.kubeconfigPath, ips, cap));
  } finally {
    await cp.stop();
    await topo.destroy();
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
