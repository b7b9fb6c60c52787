// Running real speakers (the built bundle) against a control plane, for the end-to-end tests and
// the failover benchmark: the bundle, a speaker process per node namespace, a stoppable TCP relay
// in front of the API, and the few API calls the tests make (through the speaker's own client).
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { BuildOptions } from 'esbuild';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { dump, load } from 'js-yaml';
import ESBUILD_OPTIONS from '../scripts/esbuild-options.json';
import { expectOk, KubeClient, kubeconfigTarget } from './kube-client';
import {
  L2LB_API_VERSION,
  L2LBSERVICE_API_VERSION,
  LABEL_L2LB,
  LABEL_PARENT_SERVICE,
  MODULE_NAMESPACE,
} from '../lib/model';
import { HTTP_PORT, run, spawnTracked } from './harness';
import { NetnsApiRelay } from './netns-api';
import { envFlags, podmanRun, removeContainer, requireBuiltImage } from './podman';
import { SPEAKER_CAPABILITIES } from '../templates/speaker';

const ROOT = resolve(__dirname, '..');
const scratch = mkdtempSync(join(tmpdir(), 'l2lb-speakers-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

/**
 * The speaker bundle the tests run: built here from images/speaker/main.ts with the esbuild options
 * every bundle shares (scripts/esbuild-options.json) into a private temp file, so that it always matches the source and a
 * concurrent `npm run build` (which deletes dist/) cannot pull it away mid-run.
 * L2LB_SPEAKER_BUNDLE=<path> runs a given bundle instead (e.g. dist/speaker/speaker.js in CI).
 */
export async function speakerBundle(): Promise<string> {
  if (process.env.L2LB_SPEAKER_BUNDLE) return resolve(process.env.L2LB_SPEAKER_BUNDLE);
  const out = join(scratch, 'speaker.js');
  if (existsSync(out)) return out;
  const { build } = await import('esbuild');
  await build({
    ...(ESBUILD_OPTIONS as BuildOptions),
    // The same input and working directory as scripts/sea.mjs (run from the root by
    // scripts/images.sh), so that the same source gives the same bundle, byte for byte.
    absWorkingDir: ROOT,
    entryPoints: ['images/speaker/main.ts'],
    outfile: out,
  });
  return out;
}

export interface ControlPlaneLike {
  kubeconfigPath: string;
  server: string;
  stop(): Promise<void>;
}

/** Starts testbed/control-plane.ts without its CRD step (TestApi.applyCrds does that). */
export async function startTestControlPlane(): Promise<ControlPlaneLike> {
  const { startControlPlane } = await import('./control-plane');
  return startControlPlane({});
}

export interface LogLine {
  time?: string;
  level?: string;
  msg?: string;
  address?: string;
  index?: string;
  [k: string]: unknown;
}

export interface SpeakerProcess {
  node: string;
  /** The process itself runs in this namespace (its metrics listen on that namespace's loopback). */
  inNetns?: string;
  child: ChildProcess;
  logs: LogLine[];
  metricsPort: number;
  exited: Promise<number | null>;
  /** Waits for a log line matching the predicate (bounded). */
  waitForLog(match: (l: LogLine) => boolean, timeoutMs: number): Promise<LogLine | undefined>;
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => res(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

export async function startSpeaker(opts: {
  node: string;
  netns: string;
  kubeconfig: string;
  env?: Record<string, string>;
  echo?: boolean;
  /**
   * Run the whole process in the node's namespace (`ip netns exec`), as on a node with host
   * networking: its heartbeat socket binds the node's address there. `kubeconfig` must then reach
   * the API from inside (testbed/netns-api.ts). Otherwise it runs here and only its commands go in.
   */
  inNetns?: boolean;
  /**
   * Run this image (the built speaker image, testbed/podman.ts) instead of the bundle, as its
   * DaemonSet Pod runs: in the node's namespace (as host networking puts it there), as the image's
   * user, with only NET_ADMIN and NET_RAW, on a read-only root. Default: speakerImage().
   */
  image?: string;
}): Promise<SpeakerProcess> {
  const metricsPort = await freePort();
  const env = {
    NODE_NAME: opts.node,
    METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
    LOG_LEVEL: 'debug',
    // A speaker without a heartbeat key runs on its Lease alone; the tests of that mode were written
    // for a 3 s lease renewed every second. With a key it gets the module's defaults (30 s / 15 s).
    ...(opts.env?.HEARTBEAT_KEY_FILE ? {} : { LEASE_DURATION_SECONDS: '3', RENEW_INTERVAL_SECONDS: '1' }),
    ...opts.env,
  };
  const image = opts.image ?? (await speakerImage());
  const inNetns = opts.inNetns === true || image !== undefined;
  let child: ChildProcess;
  if (image !== undefined) {
    const kubeconfig = opts.inNetns
      ? opts.kubeconfig
      : await apiRelay(opts.kubeconfig).kubeconfigFor(opts.netns);
    child = startSpeakerContainer({ image, node: opts.node, netns: opts.netns, kubeconfig, env });
  } else {
    const bundle = await speakerBundle();
    const argv = opts.inNetns
      ? ['ip', 'netns', 'exec', opts.netns, process.execPath, bundle]
      : [process.execPath, bundle];
    child = spawnTracked(argv, {
      PATH: process.env.PATH,
      KUBECONFIG: opts.kubeconfig,
      ...(opts.inNetns ? {} : { L2LB_NETNS: opts.netns }),
      ...env,
    });
  }
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let buffer = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    buffer += chunk;
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (opts.echo) process.stderr.write(`[${opts.node}] ${line}\n`);
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        logs.push({ msg: line });
      }
    }
    for (const w of waiters) w();
  });
  child.stderr?.on('data', (c: Buffer) => logs.push({ level: 'stderr', msg: c.toString() }));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const waitForLog = (match: (l: LogLine) => boolean, timeoutMs: number): Promise<LogLine | undefined> =>
    new Promise((res) => {
      const check = (): void => {
        const hit = logs.find(match);
        if (hit) {
          waiters.delete(check);
          clearTimeout(timer);
          res(hit);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        res(undefined);
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return {
    node: opts.node,
    ...(inNetns ? { inNetns: opts.netns } : {}),
    child,
    logs,
    metricsPort,
    exited,
    waitForLog,
  };
}

let chosenImage: Promise<string | undefined> | undefined;

/** The digest of the speaker bundle an image was built from (its io.l2lb.bundle-sha256 label). */
function imageBundleDigest(ref: string): string | undefined {
  const r = spawnSync('podman', ['image', 'inspect', '--format', '{{json .Labels}}', ref], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status !== 0) return undefined;
  const labels = JSON.parse(r.stdout || 'null') as Record<string, string> | null;
  return labels?.['io.l2lb.bundle-sha256'];
}

/**
 * The built speaker image, if it holds the speaker of this source: its label names the digest of
 * the bundle inside (scripts/sea.mjs, scripts/images.sh), compared with the bundle built here. An
 * image of older code would test something else than the source under test.
 */
async function currentImage(): Promise<string> {
  const ref = requireBuiltImage('speaker');
  const want = createHash('sha256')
    .update(readFileSync(await speakerBundle()))
    .digest('hex');
  const have = imageBundleDigest(ref);
  if (have !== want)
    throw new Error(
      `the speaker image ${ref} was built from other source (bundle ${have ?? 'unlabelled'}, this source ${want}): run \`npm run images\``,
    );
  return ref;
}

/**
 * The speaker the tests, the demo and the benchmarks run, chosen once per process:
 * - `L2LB_TEST_SPEAKER=bundle`: the bundle of images/speaker/main.ts, run directly (the opt-out);
 * - `L2LB_TEST_SPEAKER=image`: the built image, and an error when it is missing or was built from
 *   other source;
 * - unset (the default): the built image when podman has it, built from this source (`npm run
 *   images`, which scripts/test.sh runs first); otherwise the bundle, with a warning, except under
 *   CI=true, where that fails the run: the claims about the image rest on it.
 * Resolves to the image reference, or undefined for the bundle.
 */
export function speakerImage(): Promise<string | undefined> {
  chosenImage ??= (async () => {
    const mode = process.env.L2LB_TEST_SPEAKER ?? '';
    if (mode === 'bundle') return undefined;
    if (mode === 'image' || process.env.CI === 'true') return currentImage();
    if (mode !== '') throw new Error(`L2LB_TEST_SPEAKER=${JSON.stringify(mode)}: want image or bundle`);
    try {
      return await currentImage();
    } catch (e) {
      console.warn(`the speakers run as the bundle, not the built image: ${(e as Error).message}`);
      return undefined;
    }
  })();
  return chosenImage;
}

/** One relay per kubeconfig into every node namespace a speaker container runs in. */
const apiRelays = new Map<string, NetnsApiRelay>();

function apiRelay(kubeconfig: string): NetnsApiRelay {
  let relay = apiRelays.get(kubeconfig);
  if (relay === undefined) {
    const doc = load(readFileSync(kubeconfig, 'utf8')) as { clusters: { cluster: { server: string } }[] };
    relay = new NetnsApiRelay(kubeconfig, doc.clusters[0]!.cluster.server);
    apiRelays.set(kubeconfig, relay);
  }
  return relay;
}

/**
 * Stops the API relays into the node namespaces that speaker containers used. A test file calls it in
 * afterAll: the relays are child processes, and jest would wait for them forever.
 */
export async function stopApiRelays(): Promise<void> {
  const relays = [...apiRelays.values()];
  apiRelays.clear();
  for (const relay of relays) await relay.stop();
}

/** Containers started here, removed at exit even when their podman client was killed first. */
const containers = new Set<string>();
process.on('exit', () => {
  for (const name of containers) removeContainer(name);
  for (const relay of apiRelays.values()) void relay.stop();
});
let containerSeq = 0;

function startSpeakerContainer(opts: {
  image: string;
  node: string;
  netns: string;
  kubeconfig: string;
  env: Record<string, string>;
}): ChildProcess {
  const name = `l2lb-test-speaker-${process.pid}-${++containerSeq}-${opts.node}`;
  // The container's user (65532) reads the kubeconfig; its token is the test's.
  const kubeconfig = join(scratch, `${name}.kubeconfig`);
  copyFileSync(opts.kubeconfig, kubeconfig);
  chmodSync(kubeconfig, 0o644);
  // A file the environment names (HEARTBEAT_KEY_FILE, say: a Secret's key in the Pod) is mounted
  // read-only at the same path, readable by the container's user, as the Pod's volume would be.
  const mounts: string[] = [];
  for (const [key, value] of Object.entries(opts.env)) {
    if (!key.endsWith('_FILE') || !value.startsWith('/') || !existsSync(value)) continue;
    const copy = join(scratch, `${name}.${key.toLowerCase()}`);
    copyFileSync(value, copy);
    chmodSync(copy, 0o644);
    mounts.push(`--volume=${copy}:${value}:ro`);
  }
  containers.add(name);
  const child = spawnTracked(
    [
      'podman',
      ...podmanRun(name),
      `--network=ns:/run/netns/${opts.netns}`,
      '--read-only',
      '--cap-drop=ALL',
      `--cap-add=${SPEAKER_CAPABILITIES.join(',')}`,
      `--volume=${kubeconfig}:/etc/l2lb/kubeconfig:ro`,
      ...mounts,
      ...envFlags({ ...opts.env, KUBECONFIG: '/etc/l2lb/kubeconfig' }),
      opts.image,
    ],
    { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
  );
  // A signal to the podman client would stop only the client (SIGKILL) or reach the speaker late:
  // send it to the container's process, as the kubelet or a crash would.
  child.kill = (signal?: NodeJS.Signals | number): boolean => {
    const r = spawnSync('podman', ['kill', `--signal=${String(signal ?? 'SIGTERM')}`, name], {
      stdio: 'ignore',
      timeout: 30_000,
    });
    return r.status === 0;
  };
  child.once('exit', () => {
    removeContainer(name);
    containers.delete(name);
  });
  return child;
}

/** The speaker's /metrics text. */
export function metricsText(s: SpeakerProcess): Promise<string> {
  if (s.inNetns) {
    // Its loopback is the namespace's: fetch from in there.
    const script =
      `require('http').get('http://127.0.0.1:${s.metricsPort}/metrics',r=>{r.pipe(process.stdout)})` +
      `.on('error',e=>{console.error(e.message);process.exit(1)})`;
    return run(['ip', 'netns', 'exec', s.inNetns, process.execPath, '-e', script], 5000);
  }
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port: s.metricsPort, path: '/metrics', timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      },
    );
    req.on('timeout', () => req.destroy(new Error('metrics: timeout')));
    req.on('error', reject);
  });
}

/** The value of one series in a /metrics text, e.g. `name{a="b"}`; undefined when absent. */
export function seriesValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** A TCP relay to the API server that a test can cut (stop) and restore (start) on one port. */
export class TcpRelay {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  /** Whether it relays now (started and not stopped). */
  get listening(): boolean {
    return this.server !== undefined;
  }

  async start(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(this.port, '127.0.0.1', () => res());
    });
    const a = server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
    this.server = server;
  }

  /** Closes the listener and every connection through it. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}

/** A copy of a kubeconfig whose server is `server`. */
export function kubeconfigVia(path: string, server: string): string {
  const doc = load(readFileSync(path, 'utf8')) as { clusters: { cluster: { server: string } }[] };
  for (const c of doc.clusters) c.cluster.server = server;
  const out = join(scratch, `kubeconfig-${server.replace(/\W/g, '_')}`);
  writeFileSync(out, dump(doc), { mode: 0o600 });
  return out;
}

type Json = Record<string, unknown>;

/** The objects the tests create, through the speaker's own API client. */
export class TestApi {
  readonly client: KubeClient;

  constructor(kubeconfig: string) {
    this.client = new KubeClient(kubeconfigTarget(kubeconfig));
  }

  async create(path: string, body: Json): Promise<Json> {
    const r = await this.client.request('POST', path, { body, timeoutMs: 10_000 });
    if (r.status === 409) return body;
    return expectOk(`create ${path}`, r) as Json;
  }

  async namespace(name: string): Promise<void> {
    await this.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }

  async balancer(name: string, addressPool: string[], interfaces?: string[]): Promise<void> {
    await this.create(`/apis/${L2LB_API_VERSION}/l2loadbalancers`, {
      apiVersion: L2LB_API_VERSION,
      kind: 'L2LoadBalancer',
      metadata: { name },
      spec: { addressPool, nodeSelector: {}, ...(interfaces ? { interfaces } : {}) },
    });
  }

  async index(
    namespace: string,
    name: string,
    address: string,
    nodes: string[],
    l2lb = 'public',
  ): Promise<void> {
    const service = name.replace(/-[^-]+-\d+$/, '');
    await this.create(`/apis/${L2LBSERVICE_API_VERSION}/namespaces/${namespace}/l2lbservices`, {
      apiVersion: L2LBSERVICE_API_VERSION,
      kind: 'L2LBService',
      metadata: { name, namespace, labels: { [LABEL_L2LB]: l2lb, [LABEL_PARENT_SERVICE]: service } },
      spec: {
        type: 'LoadBalancer',
        loadBalancerIP: address,
        nodes,
        serviceRef: { name: service, namespace },
        externalTrafficPolicy: 'Cluster',
        // No kube-proxy here: the node server on HTTP_PORT stands in for the Service, so that is the
        // Service's port (the speaker's port filter lets only it through on the public address).
        ports: [{ name: 'http', protocol: 'TCP', port: HTTP_PORT, targetPort: HTTP_PORT }],
        selector: { app: service },
      },
    });
  }

  async setNodes(namespace: string, name: string, nodes: string[]): Promise<void> {
    expectOk(
      'patch nodes',
      await this.client.request(
        'PATCH',
        `/apis/${L2LBSERVICE_API_VERSION}/namespaces/${namespace}/l2lbservices/${name}`,
        {
          body: { spec: { nodes } },
          contentType: 'application/merge-patch+json',
          timeoutMs: 10_000,
        },
      ),
    );
  }

  async deleteIndex(namespace: string, name: string): Promise<void> {
    const r = await this.client.request(
      'DELETE',
      `/apis/${L2LBSERVICE_API_VERSION}/namespaces/${namespace}/l2lbservices/${name}`,
      { timeoutMs: 10_000 },
    );
    if (r.status !== 404) expectOk('delete index', r);
  }

  async getIndex(namespace: string, name: string): Promise<Json> {
    return expectOk(
      'get index',
      await this.client.request(
        'GET',
        `/apis/${L2LBSERVICE_API_VERSION}/namespaces/${namespace}/l2lbservices/${name}`,
        {
          timeoutMs: 10_000,
        },
      ),
    ) as Json;
  }

  async announcingNode(namespace: string, name: string): Promise<string | undefined> {
    const status = (await this.getIndex(namespace, name)).status as Json | undefined;
    return typeof status?.announcingNode === 'string' ? status.announcingNode : undefined;
  }

  /** Applies every CRD in `dir` and waits until each is Established (bounded). */
  async applyCrds(dir: string): Promise<void> {
    const path = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
    const names: string[] = [];
    // doc-*.yaml beside the CRDs are their translated descriptions (Deckhouse's doc-ru-<crd>.yaml).
    for (const file of readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('doc-'))
      .sort()) {
      const crd = load(readFileSync(join(dir, file), 'utf8')) as Json & { metadata: { name: string } };
      await this.create(path, crd);
      names.push(crd.metadata.name);
    }
    for (const name of names) {
      for (let i = 0; ; i++) {
        const r = await this.client.request('GET', `${path}/${name}`, { timeoutMs: 5000 });
        const conditions =
          ((r.body as Json).status as { conditions?: { type: string; status: string }[] } | undefined)
            ?.conditions ?? [];
        if (conditions.some((c) => c.type === 'Established' && c.status === 'True')) break;
        if (i >= 200) throw new Error(`CRD ${name} not Established after 20 s`);
        await new Promise((res) => setTimeout(res, 100));
      }
    }
  }

  /** The module namespace, where the speakers keep their Leases. */
  async moduleNamespace(): Promise<void> {
    await this.namespace(MODULE_NAMESPACE);
  }
}
