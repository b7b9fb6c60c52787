// The heartbeat layer alone (images/speaker/heartbeat.ts over real UDP on loopback): what it costs a
// speaker at rest, and how long a silent peer takes to be declared dead (failure -> decision, the
// announcement not included). Prints figures; asserts nothing.
//
//   npx tsx bench/heartbeat.ts [--peers 3] [--seconds 30] [--interval 50] [--miss 10] [--reps 5]
//
// Each "speaker" is a child process running only the heartbeat shell with its real sockets, so its
// CPU time (process.cpuUsage) and RSS are its own. Cost at rest: every child beats to every other
// for --seconds. Detection: one child stops sending (as a SIGKILL stops it); the others report when
// their tracker declared it dead, measured from the moment it stopped, --reps times.
import { fork, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Registry } from 'prom-client';
import { Heartbeats } from '../images/speaker/heartbeat';
import type { Logger } from '../images/speaker/log';
import { heartbeatKey } from '../lib/speaker/heartbeat/wire';

interface Options {
  peers: number;
  seconds: number;
  interval: number;
  miss: number;
  reps: number;
}

type ToChild = { cmd: 'stats' } | { cmd: 'stop' } | { cmd: 'exit' };
type FromChild =
  | { kind: 'ready' }
  | { kind: 'stats'; cpuMs: number; rssMb: number; sent: number }
  | { kind: 'dead'; peer: string; at: number };

function options(argv: string[]): Options {
  const o: Options = { peers: 3, seconds: 30, interval: 50, miss: 10, reps: 5 };
  for (let i = 0; i < argv.length; i++) {
    const v = Number(argv[i + 1]);
    const a = argv[i++];
    if (a === '--peers') o.peers = Math.max(2, Math.min(20, v || 3));
    else if (a === '--seconds') o.seconds = Math.max(5, Math.min(600, v || 30));
    else if (a === '--interval') o.interval = Math.max(10, Math.min(1000, v || 50));
    else if (a === '--miss') o.miss = Math.max(3, Math.min(100, v || 10));
    else if (a === '--reps') o.reps = Math.max(1, Math.min(20, v || 5));
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

async function child(): Promise<void> {
  const [node, portsText, keyHex, interval, miss] = process.argv.slice(3);
  const ports = (portsText ?? '').split(',').map(Number);
  const index = Number(node?.replace('node-', '')) - 1;
  const quiet: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
  const send = (m: FromChild): boolean => process.send?.(m) ?? false;
  const h = new Heartbeats({
    node: node ?? 'node-1',
    bind: ['127.0.0.1'],
    port: ports[index] ?? 0,
    keys: [heartbeatKey(Buffer.from(keyHex ?? '', 'hex'))],
    intervalMs: Number(interval),
    missCount: Number(miss),
    log: quiet,
    registry: new Registry(),
    changed: (t) => {
      if (t.to === 'dead')
        send({ kind: 'dead', peer: t.peer, at: performance.timeOrigin + performance.now() });
    },
  });
  await h.start();
  h.setPeers(
    ports.map((port, i) => ({ node: `node-${i + 1}`, endpoints: [{ address: '127.0.0.1', port }] })),
  );
  const base = process.cpuUsage();
  process.on('message', (m: ToChild) => {
    if (m.cmd === 'stats') {
      const cpu = process.cpuUsage(base);
      void h.metrics.sent.get().then((s) =>
        send({
          kind: 'stats',
          cpuMs: (cpu.user + cpu.system) / 1000,
          rssMb: process.memoryUsage().rss / 2 ** 20,
          sent: s.values[0]?.value ?? 0,
        }),
      );
    } else if (m.cmd === 'stop') h.stop();
    else process.exit(0);
  });
  send({ kind: 'ready' });
}

async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
    out.push(s.address().port);
    await new Promise<void>((r) => s.close(r));
  }
  return out;
}

function next<T extends FromChild['kind']>(
  c: ChildProcess,
  kind: T,
  timeoutMs: number,
): Promise<Extract<FromChild, { kind: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${kind} within ${timeoutMs} ms`)), timeoutMs);
    const on = (m: FromChild): void => {
      if (m.kind !== kind) return;
      clearTimeout(timer);
      c.off('message', on);
      resolve(m as Extract<FromChild, { kind: T }>);
    };
    c.on('message', on);
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};
const range = (xs: number[], digits = 0): string => {
  const s = [...xs].sort((a, b) => a - b);
  const f = (v: number): string => v.toFixed(digits);
  return `${f(s[0] ?? 0)} / ${f(median(s))} / ${f(s[s.length - 1] ?? 0)}`;
};

async function spawnGroup(o: Options, key: string): Promise<ChildProcess[]> {
  const ports = await freePorts(o.peers);
  const children = Array.from({ length: o.peers }, (_, i) =>
    fork(__filename, ['--child', `node-${i + 1}`, ports.join(','), key, String(o.interval), String(o.miss)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  await Promise.all(children.map((c) => next(c, 'ready', 30_000)));
  return children;
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  const key = randomBytes(32).toString('hex');
  const load = (): string => readFileSync('/proc/loadavg', 'utf8').trim();
  console.log(`load average at the start: ${load()}`);

  // Cost at rest.
  let children = await spawnGroup(o, key);
  try {
    const warm = await Promise.all(children.map((c) => (c.send({ cmd: 'stats' }), next(c, 'stats', 5000))));
    await new Promise((r) => setTimeout(r, o.seconds * 1000));
    const end = await Promise.all(children.map((c) => (c.send({ cmd: 'stats' }), next(c, 'stats', 5000))));
    const cpuPct = end.map((e, i) => ((e.cpuMs - (warm[i]?.cpuMs ?? 0)) / (o.seconds * 1000)) * 100);
    const rate = end.map((e, i) => (e.sent - (warm[i]?.sent ?? 0)) / o.seconds);
    console.log(
      `\nat rest, ${o.peers} speakers, beat every ${o.interval} ms to each of ${o.peers - 1} peers, ${o.seconds} s ` +
        `(min / median / max over the speakers):`,
    );
    console.log(`| figure | value |\n|---|---|`);
    console.log(`| CPU of the heartbeat process, % of one core | ${range(cpuPct, 2)} |`);
    console.log(
      `| RSS of the heartbeat process (Node.js + tsx + the shell), MB | ${range(
        end.map((e) => e.rssMb),
        1,
      )} |`,
    );
    console.log(`| datagrams sent per second | ${range(rate, 1)} |`);
  } finally {
    for (const c of children) c.send({ cmd: 'exit' });
  }

  // Detection: failure -> decision.
  const detections: number[] = [];
  for (let rep = 0; rep < o.reps; rep++) {
    children = await spawnGroup(o, key);
    try {
      // Let every peer hear every other first.
      await new Promise((r) => setTimeout(r, o.interval * o.miss * 2));
      const victim = children[0];
      if (!victim) break;
      const others = children.slice(1);
      const deaths = others.map((c) => next(c, 'dead', 10_000 + o.interval * o.miss));
      const stoppedAt = performance.timeOrigin + performance.now();
      victim.send({ cmd: 'stop' });
      for (const d of await Promise.all(deaths)) detections.push(d.at - stoppedAt);
    } finally {
      for (const c of children) c.send({ cmd: 'exit' });
    }
  }
  console.log(
    `\ndetection (a speaker stops sending -> each peer's tracker declares it dead), ${o.reps} repetitions × ` +
      `${o.peers - 1} peers, interval ${o.interval} ms × missCount ${o.miss} = ${o.interval * o.miss} ms:`,
  );
  console.log(`| figure | min / median / max |\n|---|---|`);
  console.log(`| failure -> decision, ms | ${range(detections)} |`);
  console.log(`\nload average at the end: ${load()}`);
}

if (process.argv[2] === '--child') void child();
else
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
