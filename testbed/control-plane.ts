// A real Kubernetes API server for tests, without Docker or a kubelet: kine (etcd API over memory)
// and kube-apiserver as plain processes on 127.0.0.1, plus shell-operator running hooks against it.
// Binaries come from scripts/binaries.sh (built from the Go module proxy and cached by version).
//
// Guarantees: every wait is bounded in time and count and fails with the last log lines; every
// process is torn down (SIGTERM, then SIGKILL after a bound) with its temp dir, also when the test
// process exits, is interrupted (SIGINT/SIGTERM) or is killed outright (a watchdog per process).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
// Types only: the module is loaded lazily by loadClientNode(), see there.
import type { KubeConfig, V1CustomResourceDefinition } from '@kubernetes/client-node';
import * as yaml from 'js-yaml';
import { envFlags, podmanRun, removeContainer } from './podman';

export type Log = (line: string) => void;

export interface ControlPlaneOptions {
  /** Apply every CRD in this directory (e.g. the repo's `crds/`) before returning. */
  crdDir?: string;
  /** Receives every log line of kine and kube-apiserver, prefixed with the process name. */
  log?: Log;
  /** Bound for kube-apiserver to answer /readyz (default 60 s). */
  readyTimeoutMs?: number;
  /** Extra kube-apiserver flags (`--feature-gates=...`), appended last. */
  extraApiserverArgs?: string[];
}

export interface ControlPlane {
  /** `https://127.0.0.1:<port>` */
  readonly server: string;
  /** Bearer token of `admin` (group system:masters). */
  readonly token: string;
  /** A kubeconfig (context `l2lb-test`) that kubectl, client-node and shell-operator read. */
  readonly kubeconfigPath: string;
  /** Temp dir holding certs, keys and the kubeconfig; removed by stop(). */
  readonly dir: string;
  /** Milliseconds from the call to startControlPlane until it was ready. */
  readonly startupMs: number;
  /**
   * A fresh @kubernetes/client-node KubeConfig loaded from kubeconfigPath. Throws (see
   * loadClientNode) where client-node cannot load, e.g. client-node 2 on Node.js 20.
   */
  kubeConfig(): KubeConfig;
  /** One JSON request as admin, e.g. `request('POST', '/api/v1/namespaces', {...})`. */
  request<T = unknown>(method: HttpMethod, path: string, body?: unknown, contentType?: string): Promise<T>;
  /** applyCrds() against this control plane. */
  applyCrds(dir: string): Promise<string[]>;
  /** Last log lines of each process, for error messages. */
  logs(): { kine: string[]; kubeApiserver: string[] };
  /** Idempotent: stops kube-apiserver and kine, removes dir. */
  stop(): Promise<void>;
}

export interface ShellOperatorOptions {
  kubeconfigPath: string;
  hooksDir: string;
  /** Extra environment for shell-operator and so for its hooks. */
  env?: Record<string, string>;
  log?: Log;
  /** Bound for the operator to report its start and answer on its port (default 30 s). */
  readyTimeoutMs?: number;
  /** Extra flags, e.g. `--log-level=debug`. */
  extraArgs?: string[];
  /**
   * Run this image (the built hooks image, testbed/podman.ts) instead of the cached binary: its own
   * shell-operator and hooks (hooksDir is ignored), on the host network, as the Deployment's user
   * on a read-only root filesystem with no capabilities, given only `env`.
   */
  image?: string;
}

export interface ShellOperator {
  /** `http://127.0.0.1:<port>` (metrics at /metrics). */
  readonly listenUrl: string;
  /** The debug unix socket (`shell-operator queue list --debug-unix-socket=...`). */
  readonly debugSocket: string;
  /** Every log line so far (bounded to the last 20 000). */
  logs(): string[];
  /** Idempotent: stops the operator and its hooks, removes its temp dir. */
  stop(): Promise<void>;
}

export interface Binaries {
  kubeApiserver: string;
  kine: string;
  shellOperator: string;
  addonOperator: string;
}

const REPO_ROOT = resolve(__dirname, '..');
const BINARIES_SH = join(REPO_ROOT, 'scripts', 'binaries.sh');
const STOP_GRACE_MS = 10_000;
const BUILD_TIMEOUT_MS = 90 * 60_000;

const ENV_OF: Record<keyof Binaries, string> = {
  kubeApiserver: 'L2LB_KUBE_APISERVER',
  kine: 'L2LB_KINE',
  shellOperator: 'L2LB_SHELL_OPERATOR',
  addonOperator: 'L2LB_ADDON_OPERATOR',
};
const COMPONENT_OF: Record<keyof Binaries, string> = {
  kubeApiserver: 'kube-apiserver',
  kine: 'kine',
  shellOperator: 'shell-operator',
  addonOperator: 'addon-operator',
};

// ---------------------------------------------------------------------------------------------
// Small bounded helpers
// ---------------------------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether `p` settles within `ms`; the timer is cleared either way, so nothing lingers. */
function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  return Promise.race([p.then(() => true), timeout]).finally(() => clearTimeout(timer));
}

/**
 * Polls `probe` every `intervalMs` until it returns a value, at most `timeoutMs` and
 * `timeoutMs / intervalMs + 1` times. `describe` builds the error message from the last failure.
 */
export async function waitFor<T>(
  probe: () => Promise<T | undefined>,
  opts: { timeoutMs: number; intervalMs?: number; describe: (lastError: string) => string },
): Promise<T> {
  const interval = opts.intervalMs ?? 250;
  const deadline = Date.now() + opts.timeoutMs;
  const maxAttempts = Math.ceil(opts.timeoutMs / interval) + 1;
  let lastError = 'no attempt made';
  for (let attempt = 0; attempt < maxAttempts && Date.now() <= deadline; attempt++) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
      lastError = 'not yet';
    } catch (err) {
      lastError = errorMessage(err);
    }
    await sleep(interval);
  }
  throw new Error(opts.describe(lastError));
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const body = (err as { body?: unknown }).body;
    return body === undefined ? err.message : `${err.message}: ${JSON.stringify(body).slice(0, 500)}`;
  }
  return String(err);
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr !== null && typeof addr === 'object') res(addr.port);
        else rej(new Error('could not get a free port'));
      });
    });
  });
}

function tcpAnswers(port: number): Promise<boolean> {
  return new Promise((res) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      sock.destroy();
      res(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

interface HttpResult {
  status: number;
  body: string;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

function httpRequest(
  url: string,
  opts: { method?: HttpMethod; headers?: Record<string, string>; body?: string } = {},
): Promise<HttpResult> {
  const method = opts.method ?? 'GET';
  return new Promise((res, rej) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    // The test API server's certificate is self-signed and freshly made: no verification here.
    const req = mod.request(
      u,
      { method, headers: opts.headers ?? {}, timeout: 10_000, rejectUnauthorized: false },
      (resp) => {
        const chunks: Buffer[] = [];
        resp.on('data', (c: Buffer) => chunks.push(c));
        resp.on('end', () =>
          res({ status: resp.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        resp.on('error', rej);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out after 10s`)));
    req.on('error', rej);
    req.end(opts.body);
  });
}

const httpGet = (url: string, headers: Record<string, string> = {}): Promise<HttpResult> =>
  httpRequest(url, { headers });

/** A non-2xx answer of the API server; `body` is its Status object when it sent one. */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly body: unknown,
    what: string,
  ) {
    const message =
      typeof body === 'object' && body !== null && typeof (body as { message?: unknown }).message === 'string'
        ? (body as { message: string }).message
        : JSON.stringify(body);
    super(`${what}: HTTP ${code}: ${message}`);
    this.name = 'KubeApiError';
  }
}

/** Where and as whom to send API requests. */
export interface ApiTarget {
  server: string;
  token: string;
}

/**
 * One JSON request to the API server. PATCH defaults to a merge patch; pass
 * `application/json-patch+json` for a JSON patch.
 */
export async function kubeRequest<T = unknown>(
  target: ApiTarget,
  method: HttpMethod,
  path: string,
  body?: unknown,
  contentType?: string,
): Promise<T> {
  const headers: Record<string, string> = {
    Authorization: `Bearer ${target.token}`,
    Accept: 'application/json',
  };
  if (body !== undefined) {
    headers['Content-Type'] =
      contentType ?? (method === 'PATCH' ? 'application/merge-patch+json' : 'application/json');
  }
  const r = await httpRequest(`${target.server}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let parsed: unknown = r.body;
  try {
    parsed = r.body === '' ? undefined : JSON.parse(r.body);
  } catch {
    // not JSON: keep the text
  }
  if (r.status < 200 || r.status >= 300) throw new KubeApiError(r.status, parsed, `${method} ${path}`);
  return parsed as T;
}

type ClientNode = typeof import('@kubernetes/client-node');
let clientNode: ClientNode | undefined;

/**
 * @kubernetes/client-node, loaded on first use with Node's own require (it is ESM-only; Node
 * >= 20.19 can require ESM, jest's module registry cannot without a transform). Loading it lazily
 * keeps the control plane usable where it does not load: client-node 2 depends on undici 8, which
 * needs Node.js >= 22.19 (or an npm override of undici to ^7 on Node 20).
 */
export function loadClientNode(): ClientNode {
  if (clientNode !== undefined) return clientNode;
  try {
    clientNode = createRequire(__filename)('@kubernetes/client-node') as ClientNode;
    return clientNode;
  } catch (err) {
    throw new Error(
      `@kubernetes/client-node does not load on Node.js ${process.version}: ${errorMessage(err)}. ` +
        'client-node 2 needs undici 8, which needs Node.js >= 22.19; on Node 20 add ' +
        '"overrides": {"undici": "^7.16.0"} to package.json. Use ControlPlane.request() meanwhile.',
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Process bookkeeping: everything started here is stopped on stop(), on exit and on signals
// ---------------------------------------------------------------------------------------------

const live = new Set<Teardown>();
let handlersInstalled = false;

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const r of live) r.killNow();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    const handler = (): void => {
      // Keep the default "die on signal" behaviour unless someone else (a script with its own
      // Ctrl-C handling) also listens for it; then that listener decides when to exit.
      const othersListen = process.listenerCount(sig) > 1;
      void Promise.allSettled([...live].map((r) => r.stop())).then(() => {
        if (!othersListen) process.exit(sig === 'SIGINT' ? 130 : 143);
      });
    };
    process.on(sig, handler);
  }
}

/**
 * A child process in its own process group, with a ring buffer of its output lines and a
 * watchdog that kills the group (and removes `cleanupDir`) if this Node process dies first.
 */
class ManagedProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly lines: string[] = [];
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private watchdog: ChildProcess | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    readonly name: string,
    bin: string,
    args: string[],
    opts: { env?: NodeJS.ProcessEnv; cwd?: string; log?: Log; maxLines?: number; cleanupDir?: string },
  ) {
    const maxLines = opts.maxLines ?? 2000;
    this.child = spawn(bin, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group, so hooks and other grandchildren die with it
    });
    const onChunk = (partial: { rest: string }) => (chunk: Buffer) => {
      const text = partial.rest + chunk.toString('utf8');
      const parts = text.split('\n');
      partial.rest = parts.pop() ?? '';
      for (const line of parts) this.push(line, maxLines, opts.log);
    };
    const outRest = { rest: '' };
    const errRest = { rest: '' };
    this.child.stdout?.on('data', onChunk(outRest));
    this.child.stderr?.on('data', onChunk(errRest));
    this.exited = new Promise((res) => {
      this.child.once('error', (err) => {
        this.push(`failed to start ${bin}: ${err.message}`, maxLines, opts.log);
        this.exitInfo = { code: null, signal: null };
        res(this.exitInfo);
      });
      this.child.once('close', (code, signal) => {
        for (const rest of [outRest, errRest]) if (rest.rest !== '') this.push(rest.rest, maxLines, opts.log);
        this.exitInfo = { code, signal };
        res(this.exitInfo);
      });
    });
    if (this.child.pid !== undefined) this.watchdog = startWatchdog(this.child.pid, opts.cleanupDir);
  }

  private push(line: string, maxLines: number, log: Log | undefined): void {
    this.lines.push(line);
    if (this.lines.length > maxLines) this.lines.splice(0, this.lines.length - maxLines);
    log?.(`[${this.name}] ${line}`);
  }

  get hasExited(): boolean {
    return this.exitInfo !== undefined;
  }

  exitDescription(): string {
    const e = this.exitInfo;
    if (e === undefined) return 'running';
    return e.signal !== null ? `killed by ${e.signal}` : `exited with code ${String(e.code)}`;
  }

  logLines(): string[] {
    return [...this.lines];
  }

  tail(n = 30): string {
    return this.lines.slice(-n).join('\n');
  }

  private signalGroup(sig: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined || this.hasExited) return;
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        this.child.kill(sig);
      } catch {
        // already gone
      }
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (!this.hasExited) {
        this.signalGroup('SIGTERM');
        if (!(await settlesWithin(this.exited, STOP_GRACE_MS))) {
          this.signalGroup('SIGKILL');
          await settlesWithin(this.exited, 5000);
        }
      }
      // The group may outlive its leader (a hook still running): make sure it is gone.
      this.killNow();
    })();
    return this.stopping;
  }

  killNow(): void {
    killGroup(this.child.pid);
    killGroup(this.watchdog?.pid); // the shell and its `sleep`
  }
}

function killGroup(pgid: number | undefined): void {
  if (pgid === undefined) return;
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // no such group: already gone
  }
}

/**
 * A detached shell that outlives a SIGKILLed Node process: once this process is gone it kills the
 * child's process group and removes the temp dir. It exits by itself when the group is gone, and
 * after 24 hours at the latest.
 */
function startWatchdog(pgid: number, cleanupDir: string | undefined): ChildProcess | undefined {
  const script = [
    'parent=$1 pgid=$2 dir=$3 i=0',
    'while [ "$i" -lt 86400 ] && kill -0 -- "-$pgid" 2>/dev/null; do',
    '  if ! kill -0 "$parent" 2>/dev/null; then',
    '    kill -TERM -- "-$pgid" 2>/dev/null; sleep 3; kill -KILL -- "-$pgid" 2>/dev/null',
    '    [ -n "$dir" ] && rm -rf -- "$dir"',
    '    exit 0',
    '  fi',
    '  sleep 1; i=$((i+1))',
    'done',
    'kill -KILL -- "-$pgid" 2>/dev/null',
    'exit 0',
  ].join('\n');
  try {
    const w = spawn(
      'bash',
      ['-c', script, 'l2lb-watchdog', String(process.pid), String(pgid), cleanupDir ?? ''],
      {
        detached: true,
        stdio: 'ignore',
      },
    );
    w.on('error', () => undefined);
    w.unref();
    return w;
  } catch {
    return undefined;
  }
}

/**
 * A temp dir and the processes that use it, torn down together: processes last-started first (so
 * kube-apiserver goes before the kine it needs to shut down cleanly), then the dir. Runs on stop(),
 * on SIGINT/SIGTERM, and (synchronously, SIGKILL) on process exit.
 */
class Teardown {
  readonly dir: string;
  private readonly procs: ManagedProcess[] = [];
  private stopping: Promise<void> | undefined;

  constructor(prefix: string) {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
    live.add(this);
    installExitHandlers();
  }

  add(p: ManagedProcess): ManagedProcess {
    this.procs.push(p);
    return p;
  }

  /** Stops one process early (a failed start attempt) and forgets it. */
  async drop(p: ManagedProcess): Promise<void> {
    await p.stop();
    const i = this.procs.indexOf(p);
    if (i >= 0) this.procs.splice(i, 1);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const p of [...this.procs].reverse()) await p.stop();
      rmSync(this.dir, { recursive: true, force: true });
      live.delete(this);
    })();
    return this.stopping;
  }

  killNow(): void {
    for (const p of this.procs) p.killNow();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Binaries
// ---------------------------------------------------------------------------------------------

function isExecutable(p: string): boolean {
  try {
    return statSync(p).isFile() && (statSync(p).mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

function parseEnvLines(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(L2LB_[A-Z_]+)=(.+)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) out.set(m[1], m[2]);
  }
  return out;
}

function runBinariesSh(args: string[], log: Log, timeoutMs: number): Promise<string> {
  return new Promise((res, rej) => {
    const child = execFile(
      'bash',
      [BINARIES_SH, ...args],
      { timeout: timeoutMs, maxBuffer: 1 << 20 },
      (err, stdout) => {
        if (err !== null) rej(new Error(`scripts/binaries.sh ${args.join(' ')} failed: ${err.message}`));
        else res(stdout);
      },
    );
    child.stderr?.on('data', (c: Buffer) => {
      for (const line of c.toString('utf8').split('\n')) if (line !== '') log(line);
    });
  });
}

const resolving = new Map<string, Promise<string>>();

/**
 * Paths of the wanted binaries: from L2LB_KUBE_APISERVER / L2LB_KINE / L2LB_SHELL_OPERATOR /
 * L2LB_ADDON_OPERATOR, else
 * from `scripts/binaries.sh --print-env`; missing ones are built with scripts/binaries.sh
 * (progress on stderr, or to `log`).
 */
export async function resolveBinaries<K extends keyof Binaries>(
  wanted: readonly K[],
  log: Log = (l) => process.stderr.write(`${l}\n`),
): Promise<Pick<Binaries, K>> {
  const result: Partial<Binaries> = {};
  const missing: K[] = [];
  let printed: Map<string, string> | undefined;
  for (const key of wanted) {
    const fromEnv = process.env[ENV_OF[key]];
    if (fromEnv !== undefined && fromEnv !== '') {
      if (!isExecutable(fromEnv)) throw new Error(`${ENV_OF[key]}=${fromEnv} is not an executable file`);
      result[key] = fromEnv;
      continue;
    }
    printed ??= parseEnvLines(await runBinariesSh(['--print-env'], log, 30_000));
    const p = printed.get(ENV_OF[key]);
    if (p !== undefined && isExecutable(p)) result[key] = p;
    else missing.push(key);
  }
  if (missing.length > 0) {
    const components = missing.map((k) => COMPONENT_OF[k]);
    const cacheKey = components.join(' ');
    let building = resolving.get(cacheKey);
    if (building === undefined) {
      log(`[control-plane] building missing binaries: ${cacheKey} (cached afterwards)`);
      building = runBinariesSh(components, log, BUILD_TIMEOUT_MS);
      resolving.set(cacheKey, building);
    }
    const built = parseEnvLines(await building);
    for (const key of missing) {
      const p = built.get(ENV_OF[key]);
      if (p === undefined || !isExecutable(p)) {
        throw new Error(`scripts/binaries.sh did not produce ${COMPONENT_OF[key]} (got ${p ?? 'nothing'})`);
      }
      result[key] = p;
    }
  }
  return result as Pick<Binaries, K>;
}

// ---------------------------------------------------------------------------------------------
// Control plane
// ---------------------------------------------------------------------------------------------

const isAddrInUse = (text: string): boolean => /address already in use/i.test(text);

/**
 * Starts `bin` with `args(port)` on a free loopback port, owned by `teardown`, and polls `ready`
 * until it answers true. A new port is tried (3 attempts at most) only when the port was taken
 * between picking and binding it.
 */
async function startOnFreePort(
  teardown: Teardown,
  spec: {
    name: string;
    bin: string;
    args: (port: number) => string[];
    ready: (proc: ManagedProcess, port: number) => Promise<boolean>;
    timeoutMs: number;
    log?: Log;
    env?: NodeJS.ProcessEnv;
    maxLines?: number;
  },
): Promise<{ proc: ManagedProcess; port: number }> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const proc = teardown.add(
      new ManagedProcess(spec.name, spec.bin, spec.args(port), {
        log: spec.log,
        env: spec.env,
        maxLines: spec.maxLines,
        cleanupDir: teardown.dir,
      }),
    );
    try {
      await waitFor(
        async () => {
          if (proc.hasExited) throw new Error(`${spec.name} ${proc.exitDescription()}`);
          return (await spec.ready(proc, port)) ? true : undefined;
        },
        {
          timeoutMs: spec.timeoutMs,
          describe: (e) =>
            `${spec.name} not ready after ${spec.timeoutMs / 1000}s (${e}); last log lines:\n${proc.tail()}`,
        },
      );
      return { proc, port };
    } catch (err) {
      await teardown.drop(proc);
      lastErr = err;
      if (!isAddrInUse(proc.tail())) break;
    }
  }
  throw lastErr instanceof Error ? lastErr : new Error(String(lastErr));
}

function writeKubeconfig(
  path: string,
  server: string,
  token: string,
  caPem: string | undefined,
): Promise<void> {
  const cluster: Record<string, unknown> = { server };
  if (caPem !== undefined) cluster['certificate-authority-data'] = Buffer.from(caPem).toString('base64');
  else cluster['insecure-skip-tls-verify'] = true;
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'l2lb-test', cluster }],
    users: [{ name: 'admin', user: { token } }],
    contexts: [{ name: 'l2lb-test', context: { cluster: 'l2lb-test', user: 'admin', namespace: 'default' } }],
    'current-context': 'l2lb-test',
    preferences: {},
  };
  return writeFile(path, yaml.dump(doc), { mode: 0o600 });
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const t0 = Date.now();
  const log = opts.log;
  const bins = await resolveBinaries(['kubeApiserver', 'kine'], log);
  const teardown = new Teardown('l2lb-cp-');
  const dir = teardown.dir;

  try {
    const token = randomBytes(24).toString('hex');
    await mkdir(join(dir, 'certs'), { mode: 0o700 });
    await writeFile(join(dir, 'tokens.csv'), `${token},admin,admin,"system:masters"\n`, { mode: 0o600 });
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    await writeFile(join(dir, 'sa.key'), privateKey, { mode: 0o600 });
    await writeFile(join(dir, 'sa.pub'), publicKey);

    const kine = await startOnFreePort(teardown, {
      name: 'kine',
      bin: bins.kine,
      args: (port) => [
        '--endpoint=memory://',
        `--listen-address=127.0.0.1:${port}`,
        '--metrics-bind-address=0',
      ],
      ready: (_proc, port) => tcpAnswers(port),
      timeoutMs: 20_000,
      log,
    });

    const { proc: api, port } = await startOnFreePort(teardown, {
      name: 'kube-apiserver',
      bin: bins.kubeApiserver,
      args: (port) => [
        `--etcd-servers=http://127.0.0.1:${kine.port}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${port}`,
        `--cert-dir=${join(dir, 'certs')}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--allow-privileged=true',
        '--disable-admission-plugins=ServiceAccount',
        '--authorization-mode=RBAC',
        `--token-auth-file=${join(dir, 'tokens.csv')}`,
        `--service-account-issuer=https://127.0.0.1:${port}/`,
        `--service-account-key-file=${join(dir, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
        // 127.0.0.1 is not a valid Endpoints address: do not reconcile the `kubernetes` Service.
        '--endpoint-reconciler-type=none',
        '--profiling=false',
        ...(opts.extraApiserverArgs ?? []),
      ],
      ready: async (_proc, port) =>
        (await httpGet(`https://127.0.0.1:${port}/readyz`, { Authorization: `Bearer ${token}` })).status ===
        200,
      timeoutMs: opts.readyTimeoutMs ?? 60_000,
      log,
    });
    const server = `https://127.0.0.1:${port}`;

    await waitFor(
      async () => {
        const r = await httpGet(`${server}/api/v1/namespaces/default`, { Authorization: `Bearer ${token}` });
        return r.status === 200 ? true : undefined;
      },
      {
        timeoutMs: 30_000,
        describe: (e) => `namespace "default" not created after 30s (${e}); last log lines:\n${api.tail()}`,
      },
    );

    // kube-apiserver self-signs into cert-dir: apiserver.crt holds the serving cert and its CA.
    const certPath = join(dir, 'certs', 'apiserver.crt');
    const caPem = existsSync(certPath) ? readFileSync(certPath, 'utf8') : undefined;
    const kubeconfigPath = join(dir, 'kubeconfig');
    await writeKubeconfig(kubeconfigPath, server, token, caPem);

    const target: ApiTarget = { server, token };
    const kubeConfig = (): KubeConfig => {
      const kc = new (loadClientNode().KubeConfig)();
      kc.loadFromFile(kubeconfigPath);
      return kc;
    };
    const cp: ControlPlane = {
      server,
      token,
      kubeconfigPath,
      dir,
      startupMs: 0,
      kubeConfig,
      request: <T>(method: HttpMethod, path: string, body?: unknown, contentType?: string) =>
        kubeRequest<T>(target, method, path, body, contentType),
      applyCrds: (crdDir) => applyCrds(target, crdDir),
      logs: () => ({ kine: kine.proc.logLines(), kubeApiserver: api.logLines() }),
      stop: () => teardown.stop(),
    };
    if (opts.crdDir !== undefined) await cp.applyCrds(opts.crdDir);
    return { ...cp, startupMs: Date.now() - t0 };
  } catch (err) {
    await teardown.stop();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// CRDs
// ---------------------------------------------------------------------------------------------

function isCrd(doc: unknown): doc is V1CustomResourceDefinition {
  if (typeof doc !== 'object' || doc === null) return false;
  const d = doc as { kind?: unknown; apiVersion?: unknown };
  return d.kind === 'CustomResourceDefinition' && d.apiVersion === 'apiextensions.k8s.io/v1';
}

/** Reads every CustomResourceDefinition from the `.yaml`/`.yml`/`.json` files of `dir`. */
export async function readCrds(dir: string): Promise<V1CustomResourceDefinition[]> {
  // doc-*.yaml beside the CRDs are their translated descriptions (Deckhouse's doc-ru-<crd>.yaml).
  const files = (await readdir(dir)).filter((f) => /\.(ya?ml|json)$/.test(f) && !f.startsWith('doc-')).sort();
  const crds: V1CustomResourceDefinition[] = [];
  for (const f of files) {
    const text = await readFile(join(dir, f), 'utf8');
    let docs: unknown[];
    try {
      docs = yaml.loadAll(text);
    } catch (err) {
      throw new Error(`${join(dir, f)}: not valid YAML: ${errorMessage(err)}`);
    }
    for (const doc of docs) if (isCrd(doc)) crds.push(doc);
  }
  return crds;
}

/**
 * Creates (or replaces) every CustomResourceDefinition found in `dir` and waits until each is
 * Established and served by discovery. Returns the CRD names.
 */
export async function applyCrds(target: ApiTarget, dir: string, timeoutMs = 30_000): Promise<string[]> {
  const crds = await readCrds(dir);
  const base = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
  const names: string[] = [];
  for (const crd of crds) {
    const name = crd.metadata?.name;
    if (name === undefined) throw new Error(`a CustomResourceDefinition in ${dir} has no metadata.name`);
    names.push(name);
    try {
      await kubeRequest(target, 'POST', base, crd);
    } catch (err) {
      if (!(err instanceof KubeApiError && err.code === 409)) throw err;
      const current = await kubeRequest<V1CustomResourceDefinition>(target, 'GET', `${base}/${name}`);
      const body: V1CustomResourceDefinition = {
        ...crd,
        metadata: { ...crd.metadata, resourceVersion: current.metadata?.resourceVersion },
      };
      await kubeRequest(target, 'PUT', `${base}/${name}`, body);
    }
  }
  for (const crd of crds) {
    const name = crd.metadata?.name ?? '';
    await waitFor(
      async () => {
        const cur = await kubeRequest<V1CustomResourceDefinition>(target, 'GET', `${base}/${name}`);
        const cond = (t: string): boolean =>
          cur.status?.conditions?.some((c) => c.type === t && c.status === 'True') ?? false;
        return cond('Established') && cond('NamesAccepted') ? true : undefined;
      },
      { timeoutMs, describe: (e) => `CRD ${name} not Established after ${timeoutMs / 1000}s (${e})` },
    );
    // Established can precede discovery by a moment, and clients resolve kinds through discovery.
    const { group, names: crdNames, versions } = crd.spec;
    for (const v of versions.filter((x) => x.served)) {
      await waitFor(
        async () => {
          const list = await kubeRequest<{ resources?: { name?: string }[] }>(
            target,
            'GET',
            `/apis/${group}/${v.name}`,
          );
          return list.resources?.some((r) => r.name === crdNames.plural) === true ? true : undefined;
        },
        {
          timeoutMs,
          describe: (e) =>
            `${crdNames.plural}.${group}/${v.name} not in discovery after ${timeoutMs / 1000}s (${e})`,
        },
      );
    }
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// shell-operator
// ---------------------------------------------------------------------------------------------

export async function startShellOperator(opts: ShellOperatorOptions): Promise<ShellOperator> {
  if (opts.image !== undefined) return startShellOperatorImage({ ...opts, image: opts.image });
  const { shellOperator: bin } = await resolveBinaries(['shellOperator'], opts.log);
  const teardown = new Teardown('l2lb-so-');
  const debugSocket = join(teardown.dir, 'debug.socket');
  try {
    await mkdir(join(teardown.dir, 'tmp'));
    // Flags win over the environment, but drop inherited settings that would confuse the run.
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(env))
      if (k.startsWith('SHELL_OPERATOR_') || k === 'KUBECONFIG') delete env[k];
    Object.assign(env, opts.env ?? {});
    const { proc, port } = await startOnFreePort(teardown, {
      name: 'shell-operator',
      bin,
      args: (port) => [
        'start',
        `--kube-config=${opts.kubeconfigPath}`,
        `--hooks-dir=${opts.hooksDir}`,
        `--tmp-dir=${join(teardown.dir, 'tmp')}`,
        ...shellOperatorListenArgs(port, debugSocket),
        ...(opts.extraArgs ?? []),
      ],
      ready: shellOperatorReady,
      timeoutMs: opts.readyTimeoutMs ?? 30_000,
      log: opts.log,
      env,
      maxLines: 20_000,
    });
    return {
      listenUrl: `http://127.0.0.1:${port}`,
      debugSocket,
      logs: () => proc.logLines(),
      stop: () => teardown.stop(),
    };
  } catch (err) {
    await teardown.stop();
    throw err;
  }
}

function shellOperatorListenArgs(port: number, debugSocket: string): string[] {
  return [
    '--listen-address=127.0.0.1',
    `--listen-port=${port}`,
    `--debug-unix-socket=${debugSocket}`,
    // Webhook servers start only for hooks that declare webhooks; keep them on loopback too.
    '--validating-webhook-listen-address=127.0.0.1',
    '--conversion-webhook-listen-address=127.0.0.1',
  ];
}

/** Its HTTP server answers once the operator has started (and loaded the hooks' configs). */
async function shellOperatorReady(p: ManagedProcess, port: number): Promise<boolean> {
  return (
    p.logLines().some((l) => l.includes('start shell-operator')) &&
    (await httpGet(`http://127.0.0.1:${port}/`)).status === 200
  );
}

/** The hooks image under podman, as its Deployment runs it (templates/standalone.ts). */
async function startShellOperatorImage(
  opts: ShellOperatorOptions & { image: string },
): Promise<ShellOperator> {
  const teardown = new Teardown('l2lb-so-image-');
  const name = `l2lb-test-so-${process.pid}-${basename(teardown.dir)}`;
  // What the Deployment mounts: emptyDirs at /tmp and /var/run/shell-operator, writable by its user.
  const run = join(teardown.dir, 'run');
  const tmp = join(teardown.dir, 'tmp');
  try {
    for (const d of [run, tmp]) {
      await mkdir(d);
      chmodSync(d, 0o777);
    }
    // The token in it is the test's; the container's user must read it.
    const kubeconfig = join(teardown.dir, 'kubeconfig');
    copyFileSync(opts.kubeconfigPath, kubeconfig);
    chmodSync(kubeconfig, 0o644);
    const { proc, port } = await startOnFreePort(teardown, {
      name: 'shell-operator (image)',
      bin: 'podman',
      args: (port) => [
        ...podmanRun(`${name}-${port}`),
        '--network=host',
        '--read-only',
        '--user=65534:65534',
        '--cap-drop=ALL',
        '--security-opt=no-new-privileges',
        `--volume=${kubeconfig}:/etc/l2lb/kubeconfig:ro`,
        `--volume=${tmp}:/tmp`,
        `--volume=${run}:/var/run/shell-operator`,
        ...envFlags(opts.env ?? {}),
        opts.image,
        'start',
        '--kube-config=/etc/l2lb/kubeconfig',
        ...shellOperatorListenArgs(port, '/var/run/shell-operator/debug.socket'),
        ...(opts.extraArgs ?? []),
      ],
      ready: shellOperatorReady,
      // Starting a container adds a few seconds on a busy machine.
      timeoutMs: opts.readyTimeoutMs ?? 60_000,
      log: opts.log,
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
      maxLines: 20_000,
    });
    return {
      listenUrl: `http://127.0.0.1:${port}`,
      debugSocket: join(run, 'debug.socket'),
      logs: () => proc.logLines(),
      stop: async () => {
        await teardown.stop();
        removeContainer(`${name}-${port}`);
      },
    };
  } catch (err) {
    await teardown.stop();
    throw err;
  }
}

/** A kind of another project's CRD, for a stand-in (tests cannot fetch the real CRD). */
export interface StandInKind {
  group: string;
  version: string;
  kind: string;
  plural: string;
  scope: 'Namespaced' | 'Cluster';
}

/**
 * A minimal stand-in CRD: group, kind, scope and served version, spec left open. Enough for what the
 * API server checks of an object's apiVersion, kind, scope and metadata (and what admission sees),
 * never of its spec.
 */
export function standInCrd(c: StandInKind): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${c.plural}.${c.group}` },
    spec: {
      group: c.group,
      scope: c.scope,
      names: { kind: c.kind, plural: c.plural, singular: c.kind.toLowerCase(), listKind: `${c.kind}List` },
      versions: [
        {
          name: c.version,
          served: true,
          storage: true,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              properties: { spec: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
            },
          },
        },
      ],
    },
  };
}

// ---------------------------------------------------------------------------------------------
// addon-operator (the engine under Deckhouse)
// ---------------------------------------------------------------------------------------------

export interface AddonOperatorOptions {
  kubeconfigPath: string;
  /** MODULES_DIR: a directory holding module directories (`NNN-name`). */
  modulesDir: string;
  /** The namespace of its config ConfigMap (`addon-operator`) and of its own objects. */
  namespace: string;
  /** Extra environment for addon-operator and so for its hooks. */
  env?: Record<string, string>;
  log?: Log;
  /** Bound for the operator to report its start and answer on its port (default 60 s). */
  readyTimeoutMs?: number;
}

export type AddonOperator = ShellOperator;

/**
 * Starts addon-operator on `modulesDir` with an empty global hooks directory, its config from the
 * ConfigMap `addon-operator` in `namespace` (which must exist), its HTTP server and debug socket
 * on loopback. Its log is JSON, one line per message.
 */
export async function startAddonOperator(opts: AddonOperatorOptions): Promise<AddonOperator> {
  const { addonOperator: bin } = await resolveBinaries(['addonOperator'], opts.log);
  const teardown = new Teardown('l2lb-ao-');
  const debugSocket = join(teardown.dir, 'debug.socket');
  try {
    await mkdir(join(teardown.dir, 'tmp'));
    await mkdir(join(teardown.dir, 'global-hooks'));
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(env)) {
      if (/^(ADDON_OPERATOR_|SHELL_OPERATOR_|HELM_|KUBE_|LOG_|DEBUG_|MODULES_DIR$|KUBECONFIG$)/.test(k))
        delete env[k];
    }
    // Its Helm client reads KUBECONFIG, not --kube-config: without it, the release discovery that
    // runs after the first converge fails and blocks the main queue.
    Object.assign(env, { LOG_TYPE: 'json', KUBECONFIG: opts.kubeconfigPath }, opts.env ?? {});
    const { proc, port } = await startOnFreePort(teardown, {
      name: 'addon-operator',
      bin,
      args: (port) => [
        'start',
        `--kube-config=${opts.kubeconfigPath}`,
        `--modules-dir=${opts.modulesDir}`,
        `--global-hooks-dir=${join(teardown.dir, 'global-hooks')}`,
        `--tmp-dir=${join(teardown.dir, 'tmp')}`,
        `--namespace=${opts.namespace}`,
        '--prometheus-listen-address=127.0.0.1',
        `--prometheus-listen-port=${port}`,
        `--debug-unix-socket=${debugSocket}`,
        '--log-type=json',
        // The end of a hook run ("ModuleHookRun task done") is logged at debug level only, and the
        // tests wait for it.
        '--log-level=debug',
      ],
      ready: async (p, port) =>
        p.logLines().some((l) => l.includes('start addon-operator') || l.includes('Start first converge')) &&
        (await httpGet(`http://127.0.0.1:${port}/`)).status === 200,
      timeoutMs: opts.readyTimeoutMs ?? 60_000,
      log: opts.log,
      env,
      maxLines: 20_000,
    });
    return {
      listenUrl: `http://127.0.0.1:${port}`,
      debugSocket,
      logs: () => proc.logLines(),
      stop: () => teardown.stop(),
    };
  } catch (err) {
    await teardown.stop();
    throw err;
  }
}
