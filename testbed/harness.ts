// A layer-2 test network made of network namespaces: a bridge in its own namespace, node
// namespaces and a client namespace attached to it by veth pairs. Documentation ranges only
// (192.0.2.0/24, 2001:db8::/64); nothing is configured in the root namespace.
//
// Guarantees: names carry a per-run prefix (`l2t<pid><random>`); every namespace and process is
// removed by destroy(), by a process exit/signal handler when the test dies, and by the next run
// (sweepStale) when the process was killed outright. Every wait is bounded.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const HTTP_PORT = 8080;
export const SUBNET4 = '192.0.2';
export const SUBNET6 = '2001:db8:';

export interface NodeNs {
  /** Node name, answered by its HTTP server. */
  name: string;
  netns: string;
  /** Port of its veth on the bridge (in the bridge namespace). */
  bridgePort: string;
  ip4: string;
  ip6: string;
  mac: string;
}

export interface ProbeResult {
  t: number;
  seq: number;
  ip: string;
  node?: string;
  rtt?: number;
  error?: string;
}

/** One answer on the link: `mac` answered an ARP request (NDP solicitation) for `ip` at `t`. */
export interface Answer {
  t: number;
  ip: string;
  mac: string;
}

export interface AnswerWatch {
  answers: Answer[];
  /** Resolves once the watcher runs (its first requests go out right after). */
  started: Promise<void>;
  stop(): void;
}

/** A time span during which one MAC answered for one address. */
export interface Span {
  mac: string;
  from: number;
  to: number;
}

/**
 * The spans during which each MAC answered for `ip`: answers of one MAC less than `gapMs` apart
 * belong to one span (the watcher asks every 250 ms; a MAC silent for longer had stopped).
 */
export function answerSpans(answers: readonly Answer[], ip: string, gapMs: number): Span[] {
  const spans: Span[] = [];
  const open = new Map<string, Span>();
  for (const a of answers.filter((x) => x.ip === ip).sort((x, y) => x.t - y.t)) {
    const s = open.get(a.mac);
    if (s && a.t - s.to < gapMs) s.to = a.t;
    else {
      const next = { mac: a.mac, from: a.t, to: a.t };
      spans.push(next);
      open.set(a.mac, next);
    }
  }
  return spans;
}

/** The longest time two MACs both answered for one address (spans of different MACs overlapping). */
export function longestOverlapMs(spans: readonly Span[]): number {
  let longest = 0;
  for (const a of spans)
    for (const b of spans)
      if (a.mac < b.mac) longest = Math.max(longest, Math.min(a.to, b.to) - Math.max(a.from, b.from));
  return longest;
}

/** The distinct MACs that answered for `ip` within [from, to]. */
export function macsBetween(answers: readonly Answer[], ip: string, from: number, to: number): string[] {
  return [
    ...new Set(answers.filter((a) => a.ip === ip && a.t >= from && a.t <= to).map((a) => a.mac)),
  ].sort();
}

export interface Probe {
  results: ProbeResult[];
  /** Resolves when the probe has sent `count` rounds and collected the answers. */
  done: Promise<void>;
  stop(): void;
}

const live = new Set<Topology>();
const children = new Set<ChildProcess>();

export function run(argv: readonly string[], timeoutMs = 10_000): Promise<string> {
  const [file, ...args] = argv;
  return new Promise((resolve, reject) => {
    execFile(file ?? '', args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${argv.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Why network namespaces cannot be used here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  const name = `l2tcheck${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' });
    execFileSync('ip', ['netns', 'del', name], { stdio: 'pipe' });
    return undefined;
  } catch (e) {
    return `network namespaces are not permitted here (ip netns add: ${(e as Error).message.split('\n')[0]}); run as root`;
  }
}

/** Removes namespaces left by runs whose process no longer exists. */
export function sweepStale(): void {
  let names: string[] = [];
  try {
    names = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '');
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^l2t(\d+)x[0-9a-f]+-/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive || pid === process.pid) {
      if (pid === process.pid && [...live].some((t) => name.startsWith(t.prefix))) continue;
      try {
        execFileSync('ip', ['netns', 'del', name], { stdio: 'pipe' });
      } catch {
        // already gone
      }
    }
  }
}

function destroyAllSync(): void {
  for (const c of children) c.kill('SIGKILL');
  for (const t of live) t.destroySync();
}

let handlersInstalled = false;
function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', destroyAllSync);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      // A script with its own Ctrl-C handling (the demo) decides when to exit; the exit handler
      // above still removes everything. Otherwise tear down on the next turn of the event loop:
      // tsx's runner SIGKILLs a child that has not reported the signal within 60 ms, and the
      // synchronous `ip netns del` calls would hold that report back, leaving namespaces behind.
      if (process.listenerCount(signal) > 0) return;
      setImmediate(() => {
        destroyAllSync();
        process.exit(130);
      });
    });
  }
}

/** Spawns a child process tracked for cleanup; its stdin stays open so it can see us die. */
export function spawnTracked(argv: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess {
  const [file, ...args] = argv;
  const child = spawn(file ?? '', args, { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? process.env });
  children.add(child);
  child.on('exit', () => children.delete(child));
  child.on('error', () => children.delete(child));
  return child;
}

/** Waits until a child prints a line matching `pattern` (bounded). */
export function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    if (!child.stdout) return reject(new Error('no stdout'));
    const lines = createInterface(child.stdout);
    const timer = setTimeout(() => {
      lines.close();
      reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms`));
    }, timeoutMs);
    lines.on('line', (line) => {
      if (pattern.test(line)) {
        clearTimeout(timer);
        lines.close();
        resolve(line);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before printing ${pattern}`));
    });
  });
}

export class Topology {
  readonly nodes: NodeNs[] = [];
  readonly bridgeNs: string;
  readonly clientNs: string;
  readonly client = { ip4: `${SUBNET4}.100`, ip6: `${SUBNET6}:100` };
  private readonly namespaces: string[] = [];
  private readonly servers: ChildProcess[] = [];
  private destroyed = false;

  constructor(readonly prefix: string) {
    this.bridgeNs = `${prefix}-br`;
    this.clientNs = `${prefix}-cl`;
  }

  /** Runs a Node.js script inside a namespace as a tracked child (killed with the run). */
  runScript(netns: string, script: string, args: readonly string[]): ChildProcess {
    return spawnTracked(['ip', 'netns', 'exec', netns, process.execPath, script, ...args]);
  }

  /** Runs a command inside a namespace. */
  exec(netns: string, argv: readonly string[], timeoutMs?: number): Promise<string> {
    return run(['ip', 'netns', 'exec', netns, ...argv], timeoutMs);
  }

  ip(netns: string, args: readonly string[]): Promise<string> {
    return run(['ip', '-n', netns, ...args]);
  }

  private async addNs(name: string): Promise<void> {
    await run(['ip', 'netns', 'add', name]);
    this.namespaces.push(name);
    await this.ip(name, ['link', 'set', 'lo', 'up']);
  }

  /** A namespace with eth0 plugged into the bridge as `port`. */
  private async attach(netns: string, port: string, ip4: string, ip6: string): Promise<string> {
    await this.addNs(netns);
    await this.ip(this.bridgeNs, [
      'link',
      'add',
      port,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      netns,
    ]);
    await this.ip(this.bridgeNs, ['link', 'set', port, 'master', 'br0', 'up']);
    await this.exec(netns, [
      'sysctl',
      '-q',
      '-w',
      'net.ipv6.conf.all.accept_dad=0',
      'net.ipv6.conf.default.accept_dad=0',
    ]);
    await this.ip(netns, ['addr', 'add', `${ip4}/24`, 'dev', 'eth0']);
    await this.ip(netns, ['-6', 'addr', 'add', `${ip6}/64`, 'dev', 'eth0', 'nodad']);
    await this.ip(netns, ['link', 'set', 'eth0', 'up']);
    const link = JSON.parse(await this.ip(netns, ['-j', 'link', 'show', 'eth0'])) as { address: string }[];
    return link[0]?.address ?? '';
  }

  async build(nodeCount: number, here: string, layout: Layout = {}): Promise<void> {
    await this.addNs(this.bridgeNs);
    await this.ip(this.bridgeNs, ['link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0']);
    await this.ip(this.bridgeNs, ['link', 'set', 'br0', 'up']);
    for (let i = 1; i <= nodeCount; i++) {
      const host = (layout.firstHost ?? 10) + i;
      const node: NodeNs = {
        name: layout.names?.[i - 1] ?? `node-${i}`,
        netns: `${this.prefix}-n${i}`,
        bridgePort: `n${i}`,
        ip4: `${SUBNET4}.${host}`,
        ip6: `${SUBNET6}:${host}`,
        mac: '',
      };
      node.mac = await this.attach(node.netns, node.bridgePort, node.ip4, node.ip6);
      this.nodes.push(node);
    }
    await this.attach(this.clientNs, 'cl', this.client.ip4, this.client.ip6);
    for (const node of this.nodes) {
      const server = this.runScript(node.netns, join(here, 'node-server.mjs'), [
        node.name,
        String(HTTP_PORT),
      ]);
      this.servers.push(server);
      await waitForLine(server, /listening/, 10_000);
    }
  }

  /**
   * Another host on the link that is no node: a namespace on the bridge with `ip4`/24 and `ip6`/64
   * configured, as a misconfigured server would have them. Removed with the topology.
   */
  async foreignHost(ip4: string, ip6: string): Promise<{ netns: string; mac: string }> {
    const n = this.namespaces.filter((ns) => ns.includes('-fx')).length + 1;
    const netns = `${this.prefix}-fx${n}`;
    const mac = await this.attach(netns, `fx${n}`, ip4, ip6);
    return { netns, mac };
  }

  node(name: string): NodeNs {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  /** The MAC the client's neighbour table holds for `ip`, if any. */
  async neighbour(ip: string): Promise<string | undefined> {
    const out = JSON.parse(await this.ip(this.clientNs, ['-j', 'neigh', 'show', ip])) as {
      lladdr?: string;
      state?: string[];
    }[];
    return out.find((e) => e.lladdr && !(e.state ?? []).includes('FAILED'))?.lladdr;
  }

  /** The node whose MAC the client's neighbour table holds for `ip`. */
  async neighbourNode(ip: string): Promise<string | undefined> {
    const mac = await this.neighbour(ip);
    return this.nodes.find((n) => n.mac === mac)?.name;
  }

  /** Cuts (or restores) a node's cable: its bridge port goes down. */
  async setLink(name: string, up: boolean): Promise<void> {
    await this.ip(this.bridgeNs, ['link', 'set', this.node(name).bridgePort, up ? 'up' : 'down']);
  }

  /** Host-length addresses on a node's eth0. */
  async addressesOn(name: string): Promise<string[]> {
    const links = JSON.parse(await this.ip(this.node(name).netns, ['-j', 'addr', 'show', 'dev', 'eth0'])) as {
      addr_info?: { local: string; prefixlen: number }[];
    }[];
    return (links[0]?.addr_info ?? [])
      .filter((a) => a.prefixlen === 32 || a.prefixlen === 128)
      .map((a) => a.local);
  }

  /** One HTTP GET from the client; the answering node's name, or undefined. */
  async fetchFromClient(ip: string, timeoutMs = 1000): Promise<string | undefined> {
    const script = `require('http').get({host:${JSON.stringify(ip)},port:${HTTP_PORT},agent:false,timeout:${timeoutMs}},r=>{let b='';r.on('data',c=>b+=c);r.on('end',()=>{process.stdout.write(b);process.exit(0)})}).on('timeout',function(){this.destroy()}).on('error',()=>process.exit(1))`;
    try {
      return await this.exec(this.clientNs, [process.execPath, '-e', script], timeoutMs + 2000);
    } catch {
      return undefined;
    }
  }

  /** Polls fn every `everyMs` until it returns a value, at most `timeoutMs`. */
  async until<T>(fn: () => Promise<T | undefined>, timeoutMs: number, everyMs = 20): Promise<T | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
      const v = await fn();
      if (v !== undefined) return v;
      await sleep(everyMs);
    }
    return undefined;
  }

  /** Starts the client's prober: every target every `intervalMs`, `count` rounds. */
  probe(here: string, targets: readonly string[], intervalMs: number, count: number, timeoutMs = 200): Probe {
    const child = this.runScript(this.clientNs, join(here, 'probe.mjs'), [
      String(intervalMs),
      String(count),
      String(timeoutMs),
      String(HTTP_PORT),
      ...targets,
    ]);
    const results: ProbeResult[] = [];
    createInterface(child.stdout!).on('line', (line) => {
      try {
        results.push(JSON.parse(line) as ProbeResult);
      } catch {
        // ignore
      }
    });
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return { results, done, stop: () => child.kill('SIGKILL') };
  }

  /**
   * Starts asking the link from the client who answers for each target (testbed/answers.mjs: ARP
   * requests every 250 ms, NDP solicitations back to back), for at most `seconds`.
   */
  watchAnswers(here: string, targets: readonly string[], seconds: number): AnswerWatch {
    const child = this.runScript(this.clientNs, join(here, 'answers.mjs'), [
      'eth0',
      String(seconds),
      ...targets,
    ]);
    const answers: Answer[] = [];
    let ready: () => void = () => undefined;
    const started = new Promise<void>((r) => (ready = r));
    createInterface(child.stdout!).on('line', (line) => {
      try {
        const o = JSON.parse(line) as Partial<Answer> & { started?: boolean };
        if (o.started) ready();
        else if (typeof o.t === 'number' && typeof o.ip === 'string' && typeof o.mac === 'string')
          answers.push({ t: o.t, ip: o.ip, mac: o.mac });
      } catch {
        // ignore
      }
    });
    child.once('exit', () => ready());
    const stop = (): void => {
      // Closing its stdin makes it kill its arping/ndisc6 children and exit; SIGKILL if it hangs.
      child.stdin?.end();
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    };
    return { answers, started, stop };
  }

  /** The node whose eth0 has `mac`. */
  nodeOfMac(mac: string): string | undefined {
    return this.nodes.find((n) => n.mac === mac)?.name;
  }

  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const s of this.servers) s.kill('SIGKILL');
    for (const ns of [...this.namespaces].reverse()) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'pipe' });
      } catch {
        // already gone
      }
    }
    live.delete(this);
  }

  async destroy(): Promise<void> {
    this.destroySync();
  }
}

/** How the nodes of a topology are named and numbered (defaults: node-1.., 192.0.2.11..). */
export interface Layout {
  /** Node names, e.g. the Nodes of a cluster; missing ones are `node-<i>`. */
  names?: readonly string[];
  /** Node i gets host number firstHost + i in both subnets (default 10), e.g. to stay out of a pool. */
  firstHost?: number;
}

/** Builds a topology with `nodeCount` node namespaces; destroy() it in afterAll. */
export async function createTopology(
  nodeCount: number,
  here: string,
  layout: Layout = {},
): Promise<Topology> {
  installHandlers();
  sweepStale();
  const t = new Topology(`l2t${process.pid}x${randomBytes(2).toString('hex')}`);
  live.add(t);
  try {
    await t.build(nodeCount, here, layout);
  } catch (e) {
    t.destroySync();
    throw e;
  }
  return t;
}

/** Kills every tracked child process (speakers, probes, servers). */
export function killAllChildren(): void {
  for (const c of children) c.kill('SIGKILL');
}
