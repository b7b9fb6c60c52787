// Shared pieces of the side-by-side benchmark (bench/compare.ts): what a "bed" (one load balancer
// implementation on the shared network and control plane) must offer, process bookkeeping, and
// small bounded helpers.
import { execFile, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Topology } from '../../testbed/harness';
import type { TestApi } from '../../testbed/speakers';

/** Address ranges (documentation ranges only, never configured in the root namespace). */
export const METALLB_POOL = '203.0.113.10-203.0.113.60';
export const METALLB_CIDR = '203.0.113.0/24';
export const L2LB_FIRST = '198.51.100.';
export const L2LB_CIDR = '198.51.100.0/24';
/** Port of the node HTTP servers (testbed/node-server.mjs), so also the Services' port. */
export const SERVICE_PORT = 8080;

export interface BedService {
  name: string;
  /** Its public addresses, in index order. */
  addresses: string[];
}

/** One implementation (MetalLB, or this module) on the shared topology and control plane. */
export interface Bed {
  /** Column title, e.g. "MetalLB v0.15.2". */
  readonly label: string;
  /** Filled by up(). */
  readonly services: BedService[];
  /** Starts the implementation and creates its Services (the caller waits for the answers). */
  up(): Promise<void>;
  /** Which node should answer each address once all is well, by the implementation's own rule. */
  expectedHome(): Map<string, string>;
  /** SIGKILL the speaker of `node` (the caller cuts the cable). */
  kill(node: string): void;
  /** SIGTERM the speaker of `node`; resolves when it exited (SIGKILL after a bound). */
  terminate(node: string): Promise<void>;
  /** Starts the speaker of `node` again. */
  start(node: string): Promise<void>;
  /** Stops every process of the bed (idempotent). */
  down(): Promise<void>;
  /** The last log lines of its processes, for an error report. */
  diagnostics(): string;
  /** The process ids of the running speakers (CPU and memory at rest). */
  speakerPids(): number[];
  /**
   * When (wall-clock ms) a peer first declared `victim` dead after `since`, from the speakers' own
   * logs: the detection alone, apart from the announcement. Undefined when the bed cannot tell.
   */
  detectedAt?(victim: string, since: number): number | undefined;
  /** Takeovers since `since` (wall-clock ms) by the cause the speakers logged. */
  takeoverCauses?(since: number): Map<string, number>;
}

export interface Ctx {
  topo: Topology;
  api: TestApi;
  /** The control plane's kubeconfig (admin token, server https://127.0.0.1:<port>). */
  kubeconfig: string;
  server: string;
  /** testbed/, where probe.mjs and node-server.mjs live. */
  netDir: string;
  /** Scratch directory of this run, removed on exit. */
  scratch: string;
  log: (line: string) => void;
  verbose: boolean;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs a command (bounded); rejects with its stderr. */
export function run(argv: readonly string[], timeoutMs = 15_000): Promise<string> {
  const [file, ...args] = argv;
  return new Promise((resolve, reject) => {
    execFile(file ?? '', args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${argv.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/** Keeps the last `max` output lines of a child (and drains its pipes so it never blocks). */
export class LogTail {
  private readonly lines: string[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly name: string,
    private readonly max = 400,
    private readonly echo = false,
  ) {}

  attach(child: ChildProcess): void {
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      createInterface(stream).on('line', (line) => this.push(line));
    }
  }

  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.max) this.lines.splice(0, this.lines.length - this.max);
    if (this.echo) process.stderr.write(`[${this.name}] ${line}\n`);
    for (const w of this.waiters) w();
  }

  tail(n = 25): string {
    return this.lines
      .slice(-n)
      .map((l) => `  [${this.name}] ${l}`)
      .join('\n');
  }

  /** Resolves with the first line (already seen or coming) that matches, or undefined after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<string | undefined> {
    return new Promise((resolve) => {
      const check = (): void => {
        const hit = this.lines.find((l) => pattern.test(l));
        if (hit === undefined) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        resolve(undefined);
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }
}

/** Resolves with the exit code once `child` exited, or undefined after `timeoutMs`. */
export function exitWithin(child: ChildProcess, timeoutMs: number): Promise<number | null | undefined> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone (bounded). */
export async function stopChild(child: ChildProcess | undefined, graceMs = 5000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  if ((await exitWithin(child, graceMs)) !== undefined) return;
  child.kill('SIGKILL');
  await exitWithin(child, 2000);
}

/**
 * kube-proxy's part, the same for both beds: every node accepts traffic for every public address
 * (a local route for both ranges, as kube-proxy's IPVS dummy device or iptables DNAT give), and
 * strictARP (arp_ignore=1, arp_announce=2, what MetalLB's docs require with IPVS) so that the kernel
 * answers ARP only for addresses on the receiving interface. Which node gets a public address's
 * traffic is then decided by ARP alone, as in a cluster. The client reaches both ranges on-link.
 */
export async function emulateKubeProxy(topo: Topology): Promise<void> {
  for (const node of topo.nodes) {
    await topo.exec(node.netns, [
      'sysctl',
      '-q',
      '-w',
      'net.ipv4.conf.all.arp_ignore=1',
      'net.ipv4.conf.all.arp_announce=2',
      'net.ipv4.conf.eth0.arp_ignore=1',
      'net.ipv4.conf.eth0.arp_announce=2',
    ]);
    for (const cidr of [METALLB_CIDR, L2LB_CIDR])
      await topo.ip(node.netns, ['route', 'add', 'local', cidr, 'dev', 'lo', 'table', 'local']);
  }
  for (const cidr of [METALLB_CIDR, L2LB_CIDR])
    await topo.ip(topo.clientNs, ['route', 'add', cidr, 'dev', 'eth0', 'scope', 'link']);
}

/** Polls `fn` every `everyMs` until it returns a value; at most `timeoutMs` and a bounded count. */
export async function until<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  everyMs = 50,
): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  const max = Math.ceil(timeoutMs / everyMs) + 1;
  for (let i = 0; i < max && Date.now() <= deadline; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await sleep(everyMs);
  }
  return undefined;
}

/** Error text without a stack. */
export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
