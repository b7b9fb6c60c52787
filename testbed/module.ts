// The module on a real cluster: a local control plane (kine + kube-apiserver, see control-plane.ts)
// with the module's CRDs, the module namespace, an optional settings ConfigMap, and a real
// shell-operator running the built hooks (dist/module/hooks) standalone. Tests, benchmarks and the
// demo drive it through the helpers below: Nodes with Ready conditions (written through the status
// subresource, as a kubelet would), L2LoadBalancers, Services, and reads of what the hooks wrote.
//
// Every wait is bounded; stop() tears everything down (shell-operator first, then the control
// plane), and control-plane.ts also does it on exit and on SIGINT/SIGTERM.
//
//   const m = await ModuleCluster.start({ settings: { loadBalancerClass: 'l2-load-balancer' } });
//   await m.createNode({ name: 'fe-1', labels: { role: 'fe' } });      // Ready, for an hour
//   await m.createL2LoadBalancer('public', { addressPool: ['192.0.2.0/28'], nodeSelector: { role: 'fe' } });
//   await m.createService({ name: 'web', l2lb: 'public', count: 3 });
//   await m.untilAssigned('default', 'web', 3);
//   await m.untilConverged({ pokeNode: 'worker-1' });  // a full run of the hook wrote nothing
//   await m.restartHooks();                            // a new shell-operator on the current build
//   await m.stop();
//
// Beyond the defaults: `hooksDir` (another build, e.g. an older release for upgrade tests; each
// start runs a private copy), `hookEnv`, `shellOperatorArgs`, `extraApiserverArgs`,
// `startHooks: false`, `recordBindingContexts`, `foregroundDeletion` (the garbage collector's part
// of foreground deletions, which this control plane lacks).
import {
  appendFileSync,
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import * as https from 'node:https';
import { join, resolve } from 'node:path';
import { dump as dumpYaml } from 'js-yaml';
import { prepareModulesDir, writeAddonOperatorConfig, ADDON_OPERATOR_NAMESPACE } from './addon-operator';
import {
  KubeApiError,
  resolveBinaries,
  startAddonOperator,
  startControlPlane,
  startShellOperator,
  waitFor,
  type ControlPlane,
  type ControlPlaneOptions,
  type HttpMethod,
  type Log,
  type ShellOperator,
} from './control-plane';

export const REPO_ROOT = resolve(__dirname, '..');
export const MODULE_NAMESPACE = 'd8-l2-load-balancer';
export const SETTINGS_CONFIGMAP = 'l2-load-balancer-settings';
export const L2LB_API = '/apis/network.deckhouse.io/v1alpha1';
export const L2LBSERVICE_API = '/apis/internal.network.deckhouse.io/v1alpha1';
export const CONDITION_ALL_ASSIGNED = 'network.deckhouse.io/AllPublicIPsAssigned';
export const ANNOTATION_LB_NAME = 'network.deckhouse.io/l2-load-balancer-name';
export const ANNOTATION_IPS_COUNT = 'network.deckhouse.io/l2-load-balancer-external-ips-count';
export const ANNOTATION_LB_IPS = 'network.deckhouse.io/load-balancer-ips';
export const LABEL_PARENT_SERVICE = 'network.deckhouse.io/parent-service';
export const LABEL_INDEX = 'network.deckhouse.io/index';
export const LABEL_MEMBER = 'l2-load-balancer.network.deckhouse.io/member';

// ---------------------------------------------------------------------------------------------
// Object shapes (only the fields the helpers read)
// ---------------------------------------------------------------------------------------------

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

export interface ServiceObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: Record<string, unknown>;
  status?: { loadBalancer?: { ingress?: Array<{ ip?: string }> }; conditions?: Condition[] };
}

export interface L2LBServiceObject {
  metadata: ObjectMeta;
  spec: { loadBalancerIP?: string; nodes?: string[]; serviceRef?: { name: string; namespace: string } };
  status?: Record<string, unknown>;
}

export interface L2LoadBalancerObject {
  metadata: ObjectMeta & { generation?: number };
  spec: {
    addressPool: string[];
    nodeSelector?: Record<string, string>;
    interfaces?: string[];
    isDefault?: boolean;
    serviceAllocation?: {
      namespaces?: string[];
      namespaceSelector?: { matchLabels?: Record<string, string> };
      serviceSelector?: { matchLabels?: Record<string, string> };
    };
  };
  status?: {
    conditions?: Condition[];
    addressesTotal?: string;
    addressesAllocated?: number;
    eligibleNodes?: number;
    observedGeneration?: number;
  };
}

export interface EventObject {
  metadata: ObjectMeta;
  involvedObject: { kind?: string; name?: string; namespace?: string; uid?: string };
  type?: string;
  reason?: string;
  message?: string;
}

export interface NodeObject {
  metadata: ObjectMeta;
  status?: { conditions?: Condition[] };
}

interface List<T> {
  metadata?: { resourceVersion?: string };
  items: T[];
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/**
 * What runs the hooks: plain shell-operator on the built hooks (standalone, settings in the
 * module's ConfigMap), or addon-operator on the packaged module (`npm run package`), as under
 * Deckhouse, its config in the ConfigMap `addon-operator` (see addon-operator.ts).
 */
export type Engine = 'shell-operator' | 'addon-operator';
export const ENGINES: readonly Engine[] = ['shell-operator', 'addon-operator'];

export interface ModuleOptions {
  /** Default shell-operator. */
  engine?: Engine;
  /** The module's CRDs (default `<repo>/crds`). */
  crdDir?: string;
  /** The built hook executables (default `<repo>/dist/module/hooks`; run `npm run build` first). */
  hooksDir?: string;
  /** Settings written to the ConfigMap `d8-l2-load-balancer/l2-load-balancer-settings` (settings.yaml). */
  settings?: Record<string, unknown>;
  /**
   * Extra environment for the engine and so for the hooks (under shell-operator
   * L2LB_STANDALONE=true is always set).
   */
  hookEnv?: Record<string, string>;
  /** Extra shell-operator flags. */
  shellOperatorArgs?: string[];
  /** Passed to startControlPlane (e.g. a wider --service-cluster-ip-range). */
  extraApiserverArgs?: string[];
  /** Receives every log line of kine, kube-apiserver and shell-operator. */
  log?: Log;
  /**
   * Collections (REST paths) whose foreground deletions are finished the way kube-controller-manager's
   * garbage collector finishes them for an object without dependents: by removing the
   * `foregroundDeletion` finalizer. The test control plane runs no controller-manager, and
   * shell-operator's `Delete` operation is a foreground delete that waits (up to 20 s) for the object
   * to go. Default: the L2LBServices; `[]` turns the emulation off.
   */
  foregroundDeletion?: string[];
  /**
   * Run the hooks through wrappers that note the size of every run's binding context file
   * (bindingContextSizes()). Default false.
   */
  recordBindingContexts?: boolean;
  /**
   * addon-operator only: hooks a test adds to its copy of the packaged module (file name ->
   * executable content), e.g. one that writes a values patch the module's own hooks never would.
   */
  extraModuleHooks?: Record<string, string>;
  /** Whether to start shell-operator right away (default true). */
  startHooks?: boolean;
  /** Bound for the control plane to become ready. */
  readyTimeoutMs?: ControlPlaneOptions['readyTimeoutMs'];
}

export interface NodeSpec {
  name: string;
  labels?: Record<string, string>;
  /** Default true. */
  ready?: boolean;
  /** lastTransitionTime of the Ready condition (default: one hour ago, "healthy for a while"). */
  readySince?: Date;
}

export interface ServiceSpec {
  namespace?: string;
  name: string;
  /** The L2LoadBalancer name annotation (left out when undefined). */
  l2lb?: string;
  /** The external-ips-count annotation (left out when undefined). */
  count?: string | number;
  /** The load-balancer-ips annotation (left out when undefined). */
  ips?: string[];
  annotations?: Record<string, string>;
  loadBalancerClass?: string;
  type?: string;
  ports?: Array<Record<string, unknown>>;
  externalTrafficPolicy?: string;
  selector?: Record<string, string>;
  /** Skip NodePort allocation (many Services in a small test cluster). */
  allocateLoadBalancerNodePorts?: boolean;
  /** `spec.ipFamilies` (the API server's default when absent: its first service range's family). */
  ipFamilies?: string[];
  /** `spec.ipFamilyPolicy` (SingleStack when absent). */
  ipFamilyPolicy?: string;
}

// ---------------------------------------------------------------------------------------------
// Object builders (pure; also used by scripts and benchmarks that create objects in bulk)
// ---------------------------------------------------------------------------------------------

export function serviceObject(s: ServiceSpec): ServiceObject {
  const annotations: Record<string, string> = { ...(s.annotations ?? {}) };
  if (s.l2lb !== undefined) annotations[ANNOTATION_LB_NAME] = s.l2lb;
  if (s.count !== undefined) annotations[ANNOTATION_IPS_COUNT] = String(s.count);
  if (s.ips !== undefined) annotations[ANNOTATION_LB_IPS] = s.ips.join(',');
  const type = s.type ?? 'LoadBalancer';
  const spec: Record<string, unknown> = {
    type,
    selector: s.selector ?? { app: s.name },
    ports: s.ports ?? [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
  };
  if (s.loadBalancerClass !== undefined) spec.loadBalancerClass = s.loadBalancerClass;
  if (s.externalTrafficPolicy !== undefined) spec.externalTrafficPolicy = s.externalTrafficPolicy;
  if (s.allocateLoadBalancerNodePorts !== undefined && type === 'LoadBalancer')
    spec.allocateLoadBalancerNodePorts = s.allocateLoadBalancerNodePorts;
  if (s.ipFamilies !== undefined) spec.ipFamilies = s.ipFamilies;
  if (s.ipFamilyPolicy !== undefined) spec.ipFamilyPolicy = s.ipFamilyPolicy;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: s.name, namespace: s.namespace ?? 'default', annotations },
    spec,
  };
}

export function readyCondition(ready: boolean, since: Date): Condition {
  return {
    type: 'Ready',
    status: ready ? 'True' : 'False',
    reason: ready ? 'KubeletReady' : 'KubeletNotReady',
    message: ready ? 'kubelet is posting ready status' : 'kubelet stopped posting node status',
    lastTransitionTime: since.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}

const nsPath = (namespace: string): string => `/api/v1/namespaces/${encodeURIComponent(namespace)}`;
const servicePath = (namespace: string, name?: string): string =>
  `${nsPath(namespace)}/services${name === undefined ? '' : `/${encodeURIComponent(name)}`}`;

export function ingressOf(s: ServiceObject | undefined): string[] {
  return (s?.status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip === undefined ? [] : [i.ip]));
}

export function conditionOf(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export const isNotFound = (err: unknown): boolean => err instanceof KubeApiError && err.code === 404;
export const isConflict = (err: unknown): boolean => err instanceof KubeApiError && err.code === 409;

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}
const discoveryCache = new WeakMap<ControlPlane, Map<string, Promise<ApiResource[]>>>();

/**
 * The REST path of an object (`/apis/<group>/<version>/[namespaces/<ns>/]<plural>/<name>`), from
 * the API server's discovery (cached per control plane). Throws when the kind is not served or
 * the object's namespace does not fit the kind's scope.
 */
export async function objectPath(
  cp: ControlPlane,
  o: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } },
): Promise<string> {
  const base = o.apiVersion === 'v1' ? '/api/v1' : `/apis/${o.apiVersion}`;
  let perPlane = discoveryCache.get(cp);
  if (perPlane === undefined) {
    perPlane = new Map();
    discoveryCache.set(cp, perPlane);
  }
  let resources = perPlane.get(base);
  if (resources === undefined) {
    resources = cp.request<{ resources: ApiResource[] }>('GET', base).then((r) => r.resources);
    perPlane.set(base, resources);
    resources.catch(() => perPlane.delete(base));
  }
  const r = (await resources).find((x) => x.kind === o.kind && !x.name.includes('/'));
  if (r === undefined) throw new Error(`the API server serves no ${o.kind} in ${o.apiVersion}`);
  const { name, namespace } = o.metadata;
  if (r.namespaced && namespace === undefined)
    throw new Error(`${o.kind}/${name} is namespaced but has no namespace`);
  if (!r.namespaced && namespace !== undefined)
    throw new Error(`${o.kind}/${name} is cluster-scoped but names namespace ${namespace}`);
  return r.namespaced ? `${base}/namespaces/${namespace}/${r.name}/${name}` : `${base}/${r.name}/${name}`;
}

/** `kubectl apply --server-side [--dry-run=server] --validate=strict` of one object. */
export function serverSideApply<T = unknown>(
  cp: ControlPlane,
  o: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } },
  opts: { dryRun?: boolean; fieldManager?: string } = {},
): Promise<T> {
  const q = new URLSearchParams({
    fieldManager: opts.fieldManager ?? 'l2lb-test',
    fieldValidation: 'Strict',
    force: 'true',
  });
  if (opts.dryRun) q.set('dryRun', 'All');
  return objectPath(cp, o).then((path) =>
    cp.request<T>('PATCH', `${path}?${q.toString()}`, o, 'application/apply-patch+yaml'),
  );
}

// ---------------------------------------------------------------------------------------------
// Watches (every state an object passes through, not only the ones a poll happens to see)
// ---------------------------------------------------------------------------------------------

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface Watch {
  /** Stops the watch; idempotent. */
  stop(): void;
  /** Errors seen (the watch reconnects from the last resourceVersion after each). */
  readonly errors: string[];
}

/**
 * Watches a collection (`/api/v1/services`, `/apis/.../namespaces/x/l2lbservices`, ...) from the
 * current state on: `onEvent` first gets an ADDED for every existing object, then every change.
 * Reconnects from the last resourceVersion when the server closes the stream.
 */
export function watchCollection<T extends { metadata: ObjectMeta }>(
  cp: ControlPlane,
  collection: string,
  onEvent: (e: WatchEvent<T>) => void,
  opts: { labelSelector?: string; fieldSelector?: string } = {},
): Promise<Watch> {
  const errors: string[] = [];
  let stopped = false;
  let current: import('node:http').ClientRequest | undefined;
  let resourceVersion = '';
  const query = (extra: Record<string, string>): string => {
    const q = new URLSearchParams(extra);
    if (opts.labelSelector) q.set('labelSelector', opts.labelSelector);
    if (opts.fieldSelector) q.set('fieldSelector', opts.fieldSelector);
    return q.toString();
  };
  const connect = (): void => {
    if (stopped) return;
    const url = new URL(
      `${cp.server}${collection}?${query({ watch: '1', resourceVersion, allowWatchBookmarks: 'true' })}`,
    );
    const req = https.request(
      url,
      {
        method: 'GET',
        headers: { Authorization: `Bearer ${cp.token}`, Accept: 'application/json' },
        rejectUnauthorized: false,
      },
      (resp) => {
        if (resp.statusCode !== 200) {
          errors.push(`watch ${collection}: HTTP ${resp.statusCode ?? 0}`);
          resp.resume();
          resp.on('end', () => setTimeout(connect, 500));
          return;
        }
        let rest = '';
        resp.on('data', (chunk: Buffer) => {
          const text = rest + chunk.toString('utf8');
          const lines = text.split('\n');
          rest = lines.pop() ?? '';
          for (const line of lines) {
            if (line.trim() === '') continue;
            const e = JSON.parse(line) as WatchEvent<T>;
            if (e.type === 'ERROR') {
              // 410 Gone: the resourceVersion is too old; start again from a fresh list.
              errors.push(`watch ${collection}: ${JSON.stringify(e.object).slice(0, 300)}`);
              resourceVersion = '';
              continue;
            }
            resourceVersion = e.object.metadata.resourceVersion ?? resourceVersion;
            if (e.type !== 'BOOKMARK') onEvent(e);
          }
        });
        resp.on('end', () => {
          if (!stopped) setTimeout(connect, 100);
        });
        resp.on('error', () => undefined);
      },
    );
    req.on('error', (err) => {
      if (stopped) return;
      errors.push(`watch ${collection}: ${err.message}`);
      setTimeout(connect, 500);
    });
    req.end();
    current = req;
  };
  return (async () => {
    // Start from a list, so the caller sees the current state as ADDED events in order. Right
    // after a CRD is established its storage may answer 429 for a moment: retry that, bounded.
    const list = await waitFor(
      async () => {
        try {
          return await cp.request<List<T>>('GET', `${collection}?${query({})}`);
        } catch (err) {
          if (err instanceof KubeApiError && err.code === 429) throw err;
          return { items: [], metadata: { resourceVersion: `error:${String(err)}` } };
        }
      },
      { timeoutMs: 30_000, describe: (e) => `listing ${collection} for a watch: ${e}` },
    );
    if (list.metadata?.resourceVersion?.startsWith('error:'))
      throw new Error(list.metadata.resourceVersion.slice(6));
    resourceVersion = list.metadata?.resourceVersion ?? '';
    for (const item of list.items) onEvent({ type: 'ADDED', object: item });
    connect();
    return {
      errors,
      stop: () => {
        stopped = true;
        current?.destroy();
      },
    };
  })();
}

/** One observed state of a Service's ingress (`deleted` when the Service went away). */
export interface IngressSample {
  at: number;
  ingress: string[];
  deleted?: boolean;
}

export interface StabilityRules {
  /** Addresses that may leave a Service (they left the pool, or the test asked for fewer). */
  mayLose?: readonly string[];
  /** The Service may shrink to this many addresses (its highest indices released). */
  mayShrinkTo?: number;
}

/**
 * Records every ingress state of every Service (through a watch), so a test can prove that no
 * Service ever lost or swapped an address it still needed, also for a moment between two polls.
 */
export class IngressRecorder {
  private readonly samples = new Map<string, IngressSample[]>();
  private watch: Watch | undefined;

  static async start(cp: ControlPlane): Promise<IngressRecorder> {
    const r = new IngressRecorder();
    r.watch = await watchCollection<ServiceObject>(cp, '/api/v1/services', (e) => {
      const key = `${e.object.metadata.namespace ?? ''}/${e.object.metadata.name}`;
      const list = r.samples.get(key) ?? [];
      list.push({
        at: Date.now(),
        ingress: e.type === 'DELETED' ? [] : ingressOf(e.object),
        ...(e.type === 'DELETED' ? { deleted: true } : {}),
      });
      r.samples.set(key, list);
    });
    return r;
  }

  /** A position in the history; `since(mark)` returns what happened after it. */
  mark(): Map<string, number> {
    return new Map([...this.samples].map(([k, v]) => [k, v.length]));
  }

  history(key: string): IngressSample[] {
    return [...(this.samples.get(key) ?? [])];
  }

  /**
   * Every observed change after `mark` (or from the start) that dropped or swapped an address at
   * an index, except those `rules[key]` allows. The last sample before the mark is the baseline.
   * A Service deletion is not a loss.
   */
  losses(rules: Record<string, StabilityRules> = {}, mark?: Map<string, number>): string[] {
    const out: string[] = [];
    for (const [key, all] of this.samples) {
      const from = Math.max(0, (mark?.get(key) ?? 0) - 1);
      const seq = all.slice(from);
      const rule = rules[key] ?? {};
      const mayLose = new Set(rule.mayLose ?? []);
      for (let i = 1; i < seq.length; i++) {
        const prev = seq[i - 1]!;
        const cur = seq[i]!;
        if (cur.deleted || prev.deleted) continue;
        prev.ingress.forEach((ip, index) => {
          const now = cur.ingress[index];
          if (now === ip || mayLose.has(ip)) return;
          if (now === undefined && rule.mayShrinkTo !== undefined && index >= rule.mayShrinkTo) return;
          out.push(
            `${key} index ${index}: ${ip} -> ${now ?? '(none)'} at +${cur.at - seq[0]!.at} ms ` +
              `([${prev.ingress.join(', ')}] -> [${cur.ingress.join(', ')}])`,
          );
        });
      }
    }
    return out;
  }

  stop(): void {
    this.watch?.stop();
  }

  get watchErrors(): readonly string[] {
    return this.watch?.errors ?? [];
  }
}

// ---------------------------------------------------------------------------------------------
// The module on a control plane
// ---------------------------------------------------------------------------------------------

/** An object as a file gives it (`kubectl get -o yaml`, or written by hand). */
export interface ManifestObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  status?: { conditions?: Array<{ type: string; status: string; lastTransitionTime?: string }> };
  [k: string]: unknown;
}

/**
 * Applies objects as a user would (server-side apply, without what the API server sets itself),
 * creating their namespaces; a Node's Ready condition is written through the status subresource,
 * as its kubelet would.
 */
export async function applyManifests(m: ModuleCluster, docs: readonly ManifestObject[]): Promise<void> {
  for (const d of docs) {
    const { uid: _uid, creationTimestamp: _ct, resourceVersion: _rv, ...metadata } = d.metadata;
    const { status: _status, ...rest } = d;
    if (d.metadata.namespace !== undefined) await m.ensureNamespace(d.metadata.namespace);
    await serverSideApply(m.cp, { ...rest, metadata }, { fieldManager: 'l2lb-manifests' });
    if (d.kind === 'Node') {
      const ready = d.status?.conditions?.find((c) => c.type === 'Ready');
      const since = ready?.lastTransitionTime ? new Date(ready.lastTransitionTime) : new Date();
      await m.setNodeReady(d.metadata.name, ready?.status === 'True', since);
    }
  }
}

export class ModuleCluster {
  private operator: ShellOperator | undefined;
  private readonly watches: Watch[] = [];
  /** Foreground deletions this harness finished in the garbage collector's place. */
  readonly collected: string[] = [];
  /** Log lines of shell-operator runs that were stopped (restartHooks keeps them). */
  private readonly pastOperatorLogs: string[] = [];
  private stopping: Promise<void> | undefined;
  private pokes = 0;

  private constructor(
    readonly cp: ControlPlane,
    readonly hooksDir: string,
    private readonly opts: ModuleOptions,
  ) {}

  get engine(): Engine {
    return this.opts.engine ?? 'shell-operator';
  }

  /** addon-operator's MODULES_DIR (a private copy of the package), made at the first start. */
  private modulesDir: string | undefined;
  /** What the addon-operator ConfigMap says (settings and the enabled flag). */
  private addonConfig: { settings: Record<string, unknown>; enabled: boolean } = {
    settings: {},
    enabled: true,
  };

  /**
   * Starts the control plane with the module's CRDs, creates the module namespace and (with
   * `settings`) the settings ConfigMap, and starts shell-operator on the built hooks.
   */
  static async start(opts: ModuleOptions = {}): Promise<ModuleCluster> {
    const hooksDir = opts.hooksDir ?? join(REPO_ROOT, 'dist', 'module', 'hooks');
    if (!existsSync(join(hooksDir, 'reconcile'))) {
      throw new Error(`no built hooks in ${hooksDir}: run \`npm run build\` first`);
    }
    const cp = await startControlPlane({
      crdDir: opts.crdDir ?? join(REPO_ROOT, 'crds'),
      ...(opts.log ? { log: opts.log } : {}),
      ...(opts.extraApiserverArgs ? { extraApiserverArgs: opts.extraApiserverArgs } : {}),
      ...(opts.readyTimeoutMs ? { readyTimeoutMs: opts.readyTimeoutMs } : {}),
    });
    const m = new ModuleCluster(cp, hooksDir, opts);
    try {
      await m.ensureNamespace(MODULE_NAMESPACE);
      for (const collection of opts.foregroundDeletion ?? [`${L2LBSERVICE_API}/l2lbservices`]) {
        await m.finishForegroundDeletions(collection);
      }
      // A just-established CRD's storage may answer 429 "(re)initializing" for a moment.
      for (const path of [`${L2LB_API}/l2loadbalancers`, `${L2LBSERVICE_API}/l2lbservices`]) {
        await waitFor(async () => (await cp.request('GET', `${path}?limit=1`)) ?? true, {
          timeoutMs: 30_000,
          describe: (e) => `${path} is not served: ${e}`,
        });
      }
      if (m.engine === 'addon-operator') {
        await m.finishModuleNamespaceDeletion();
        await m.ensureNamespace(ADDON_OPERATOR_NAMESPACE);
        m.addonConfig.settings = opts.settings ?? {};
        await writeAddonOperatorConfig(cp, m.addonConfig);
      } else if (opts.settings !== undefined) await m.setSettings(opts.settings);
      if (opts.startHooks !== false) await m.startHooks();
      return m;
    } catch (err) {
      await m.stop();
      throw err;
    }
  }

  get kubeconfigPath(): string {
    return this.cp.kubeconfigPath;
  }

  request<T = unknown>(method: HttpMethod, path: string, body?: unknown, contentType?: string): Promise<T> {
    return this.cp.request<T>(method, path, body, contentType);
  }

  /** The garbage collector's part of a foreground deletion, for objects without dependents. */
  private async finishForegroundDeletions(collection: string): Promise<void> {
    const inFlight = new Set<string>();
    const w = await watchCollection<{
      metadata: ObjectMeta & { deletionTimestamp?: string; finalizers?: string[] };
    }>(this.cp, collection, (e) => {
      const md = e.object.metadata;
      const i = md.finalizers?.indexOf('foregroundDeletion') ?? -1;
      if (e.type === 'DELETED' || md.deletionTimestamp === undefined || i < 0) return;
      const path = `${collection.replace(/\/[^/]+$/, '')}${md.namespace ? `/namespaces/${md.namespace}` : ''}/${collection.split('/').pop() ?? ''}/${md.name}`;
      if (inFlight.has(path)) return;
      inFlight.add(path);
      // A JSON patch with a test on the index, so another finalizer added meanwhile is not lost.
      this.request(
        'PATCH',
        path,
        [
          { op: 'test', path: `/metadata/finalizers/${i}`, value: 'foregroundDeletion' },
          { op: 'remove', path: `/metadata/finalizers/${i}` },
        ],
        'application/json-patch+json',
      )
        .then(() => this.collected.push(`${md.namespace ?? ''}/${md.name}`))
        .catch(() => undefined) // gone already, or changed: the next event retries
        .finally(() => inFlight.delete(path));
    });
    this.watches.push(w);
  }

  // --- the hooks' process ----------------------------------------------------------------------

  get hooksRunning(): boolean {
    return this.operator !== undefined;
  }

  /** shell-operator's `http://127.0.0.1:<port>` (its /metrics); throws when it is not running. */
  get operatorUrl(): string {
    if (!this.operator) throw new Error('shell-operator is not running');
    return this.operator.listenUrl;
  }

  /**
   * A private copy of hooksDir, taken at each start: a rebuild of dist/ while shell-operator runs
   * changes nothing under it, and a restart runs the current build. With recordBindingContexts,
   * each hook is a wrapper that notes the size of its binding context, then execs the copy (the
   * same process, so shell-operator's rusage metrics stay the hook's own).
   */
  private copyHooks(): string {
    this.scratch ??= mkdtempSync(join(tmpdir(), 'l2lb-hooks-'));
    const dir = join(this.scratch, `run-${++this.hookRuns}`);
    const copies = join(dir, 'lib'); // shell-operator skips directories named lib
    mkdirSync(copies, { recursive: true });
    for (const hook of readdirSync(this.hooksDir)) {
      const src = join(this.hooksDir, hook);
      if (!statSync(src).isFile() || (statSync(src).mode & 0o111) === 0) continue;
      copyFileSync(src, join(copies, hook));
      chmodSync(join(copies, hook), 0o755);
      const wrapper = join(dir, hook);
      const note = this.opts.recordBindingContexts
        ? [
            'if [ "$1" != "--config" ] && [ -n "$BINDING_CONTEXT_PATH" ]; then',
            `  echo "${hook} $(wc -c < "$BINDING_CONTEXT_PATH")" >> '${this.contextLog}'`,
            'fi',
          ]
        : [];
      writeFileSync(wrapper, ['#!/bin/sh', ...note, `exec '${join(copies, hook)}' "$@"`, ''].join('\n'));
      chmodSync(wrapper, 0o755);
    }
    return dir;
  }

  private scratch: string | undefined;
  private hookRuns = 0;
  private get contextLog(): string {
    const path = join(this.scratch ?? tmpdir(), 'binding-context-sizes');
    if (!existsSync(path)) appendFileSync(path, '');
    return path;
  }

  /** The binding context size of every hook run so far (with recordBindingContexts). */
  bindingContextSizes(): Array<{ hook: string; bytes: number }> {
    if (this.scratch === undefined || !existsSync(this.contextLog)) return [];
    return readFileSync(this.contextLog, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [hook = '', bytes = '0'] = l.trim().split(/\s+/);
        return { hook, bytes: Number(bytes) };
      });
  }

  async startHooks(): Promise<void> {
    if (this.operator) return;
    if (this.engine === 'addon-operator') {
      this.scratch ??= mkdtempSync(join(tmpdir(), 'l2lb-hooks-'));
      this.modulesDir ??= prepareModulesDir(this.scratch, this.opts.extraModuleHooks);
      this.operator = await startAddonOperator({
        kubeconfigPath: this.cp.kubeconfigPath,
        modulesDir: this.modulesDir,
        namespace: ADDON_OPERATOR_NAMESPACE,
        env: this.opts.hookEnv ?? {},
        ...(this.opts.log ? { log: this.opts.log } : {}),
      });
      return;
    }
    this.operator = await startShellOperator({
      kubeconfigPath: this.cp.kubeconfigPath,
      hooksDir: this.copyHooks(),
      env: {
        L2LB_STANDALONE: 'true',
        // The bundles require a few packages (ajv's runtime) from the repository's node_modules.
        NODE_PATH: join(REPO_ROOT, 'node_modules'),
        ...(this.opts.hookEnv ?? {}),
      },
      ...(this.opts.log ? { log: this.opts.log } : {}),
      extraArgs: this.opts.shellOperatorArgs ?? [],
    });
  }

  /** Stops shell-operator (SIGTERM, then SIGKILL) and with it any hook that is running. */
  async stopHooks(): Promise<void> {
    const op = this.operator;
    if (!op) return;
    this.operator = undefined;
    this.pastOperatorLogs.push(...op.logs(), '----- shell-operator stopped -----');
    await op.stop();
  }

  async restartHooks(): Promise<void> {
    await this.stopHooks();
    await this.startHooks();
  }

  /** shell-operator's log lines, of this run and of the stopped ones, oldest first. */
  hookLogs(): string[] {
    return [...this.pastOperatorLogs, ...(this.operator?.logs() ?? [])];
  }

  /**
   * Log lines that report a failed hook run or a failed object patch (with the API server's
   * answer, as shell-operator logs it).
   */
  hookErrors(): string[] {
    // addon-operator logs JSON with `error` fields in debug lines; only its level says what failed.
    const failed =
      this.engine === 'addon-operator'
        ? /"level":"(error|fatal)"/
        : /"level":"error"|level=error|\bERROR\b|\bE\d{4}\b/i;
    // addon-operator refusing config values (and retrying until they are fixed) is its validation
    // at work, not a failed hook run.
    return this.hookLogs().filter((l) => failed.test(l) && !l.includes('HandleApplyKubeConfigValues failed'));
  }

  /** A position in hookLogs(), for logsSince(). */
  logMark(): number {
    return this.hookLogs().length;
  }

  /** hookLogs() lines after a logMark(). */
  logsSince(mark: number): string[] {
    return this.hookLogs().slice(mark);
  }

  /** Whether a log line of the engine reports a hook run that succeeded. */
  isHookSuccess(line: string): boolean {
    return this.engine === 'addon-operator'
      ? line.includes("ModuleHookRun task done, result is 'Success'")
      : line.includes('Hook executed successfully');
  }

  /**
   * Matches the engine's log lines about one hook: shell-operator names it by its file name,
   * addon-operator by its path in the module (`hooks/reconcile`).
   */
  hookLinePattern(hook: string): RegExp {
    return new RegExp(this.engine === 'addon-operator' ? `"hook":"hooks/${hook}"` : `"hook":"${hook}"`);
  }

  /**
   * Waits until a hook run that started after `mark` finished: the engine's success line
   * (optionally only runs whose log lines match `what`, e.g. `"binding":"rerank"`).
   */
  async untilHookRan(mark: number, what: RegExp = /./, timeoutMs = 60_000): Promise<void> {
    await this.until(
      `a hook run (${what.source}) after the mark`,
      async () =>
        this.logsSince(mark).some((l) => this.isHookSuccess(l) && what.test(l)) ? true : undefined,
      timeoutMs,
    );
  }

  /**
   * What the reconcile hook writes, as name@resourceVersion (L2LBServices, Services,
   * L2LoadBalancers) and the nodes' member labels: equal snapshots mean nothing was written.
   */
  async writtenState(): Promise<string[]> {
    const rv = (o: { metadata: ObjectMeta }) =>
      `${o.metadata.namespace ?? ''}/${o.metadata.name}@${o.metadata.resourceVersion ?? ''}`;
    const [children, services, balancers, nodes] = await Promise.all([
      this.request<List<{ metadata: ObjectMeta }>>('GET', `${L2LBSERVICE_API}/l2lbservices`),
      this.request<List<{ metadata: ObjectMeta }>>('GET', '/api/v1/services'),
      this.request<List<{ metadata: ObjectMeta }>>('GET', `${L2LB_API}/l2loadbalancers`),
      this.request<List<NodeObject>>('GET', '/api/v1/nodes'),
    ]);
    return [
      ...children.items.map((o) => `L2LBService ${rv(o)}`),
      ...services.items.map((o) => `Service ${rv(o)}`),
      ...balancers.items.map((o) => `L2LoadBalancer ${rv(o)}`),
      ...nodes.items.map(
        (n) => `Node ${n.metadata.name} member=${String(n.metadata.labels?.[LABEL_MEMBER] !== undefined)}`,
      ),
    ].sort();
  }

  /**
   * Waits until the cluster is converged: a full run of the reconcile hook (all Services) started
   * and finished without writing anything. `poke` starts a full run at once; `pokeNode` does it by
   * relabelling that Node (choose one no balancer selects); without either the next scheduled run
   * (every 15 s) is awaited.
   */
  async untilConverged(
    opts: { poke?: () => Promise<void>; pokeNode?: string; timeoutMs?: number } = {},
  ): Promise<void> {
    const poke =
      opts.poke ??
      (opts.pokeNode === undefined
        ? undefined
        : () => this.labelNode(opts.pokeNode!, { 'l2lb-test/poke': String(++this.pokes) }));
    const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
    let last = '';
    while (Date.now() < deadline) {
      const before = await this.writtenState();
      const mark = this.logMark();
      await poke?.();
      await this.until(
        'a full run of the reconcile hook',
        async () => {
          const lines = this.logsSince(mark);
          const full = lines.findIndex(
            // Every run of the reconcile hook is a full run (all bindings are one group).
            (l) => l.includes('"msg":"reconciled"'),
          );
          return full >= 0 &&
            lines.slice(full).some((l) => this.isHookSuccess(l) && this.hookLinePattern('reconcile').test(l))
            ? true
            : undefined;
        },
        Math.max(1000, deadline - Date.now()),
      );
      const after = await this.writtenState();
      if (JSON.stringify(before) === JSON.stringify(after)) return;
      last = after.filter((x) => !before.includes(x)).join(', ');
    }
    throw new Error(`not converged: the last full run still wrote ${last}\n${this.hookLogTail()}`);
  }

  /** The last `n` lines of the hook logs, for failure messages. */
  hookLogTail(n = 40): string {
    return this.hookLogs().slice(-n).join('\n');
  }

  /** shell-operator's own Prometheus metrics (hook run times, CPU, queue lengths). */
  async operatorMetrics(): Promise<string> {
    const res = await fetch(`${this.operatorUrl}/metrics`);
    return res.text();
  }

  /** The metrics the hooks wrote to $METRICS_PATH, as shell-operator serves them. */
  async hookMetrics(): Promise<string> {
    const res = await fetch(`${this.operatorUrl}/metrics/hooks`);
    return res.text();
  }

  // --- namespaces and settings -----------------------------------------------------------------

  async ensureNamespace(name: string): Promise<void> {
    try {
      await this.request('POST', '/api/v1/namespaces', {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name },
      });
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }

  /**
   * Sets the module settings where the engine reads them: the standalone settings ConfigMap, or
   * the `l2LoadBalancer` key of the ConfigMap `addon-operator`.
   */
  async setSettings(settings: Record<string, unknown>): Promise<void> {
    if (this.engine === 'addon-operator') {
      this.addonConfig.settings = settings;
      await writeAddonOperatorConfig(this.cp, this.addonConfig);
      return;
    }
    const body = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: SETTINGS_CONFIGMAP, namespace: MODULE_NAMESPACE },
      data: { 'settings.yaml': dumpYaml(settings) },
    };
    try {
      await this.request('POST', `${nsPath(MODULE_NAMESPACE)}/configmaps`, body);
    } catch (err) {
      if (!isConflict(err)) throw err;
      await this.request('PUT', `${nsPath(MODULE_NAMESPACE)}/configmaps/${SETTINGS_CONFIGMAP}`, body);
    }
  }

  async namespaceExists(name: string): Promise<boolean> {
    try {
      await this.request('GET', nsPath(name));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /**
   * The namespace controller's part of deleting the module namespace (this control plane runs no
   * kube-controller-manager, so a deleted namespace would stay Terminating with its `kubernetes`
   * finalizer for ever): once it is Terminating, everything left in it is deleted, collection by
   * collection, for every namespaced resource the API server serves (as the namespace controller
   * does; what is left behind would come back with a namespace of the same name), and then the
   * finalizer is removed, so the namespace goes and can be created again, as when addon-operator
   * disables and re-enables the module.
   */
  private async finishModuleNamespaceDeletion(): Promise<void> {
    let inFlight = false;
    const w = await watchCollection<{ metadata: ObjectMeta & { deletionTimestamp?: string } }>(
      this.cp,
      '/api/v1/namespaces',
      (e) => {
        if (e.type === 'DELETED' || e.object.metadata.name !== MODULE_NAMESPACE) return;
        if (e.object.metadata.deletionTimestamp === undefined || inFlight) return;
        inFlight = true;
        void (async () => {
          for (const collection of await this.namespacedCollections(MODULE_NAMESPACE)) {
            await this.request('DELETE', collection).catch(() => undefined);
          }
          await this.request('PUT', `${nsPath(MODULE_NAMESPACE)}/finalize`, {
            apiVersion: 'v1',
            kind: 'Namespace',
            metadata: { name: MODULE_NAMESPACE },
            spec: { finalizers: [] },
          });
        })()
          .catch(() => undefined) // gone already: nothing to finish
          .finally(() => (inFlight = false));
      },
    );
    this.watches.push(w);
  }

  /**
   * The REST path of every namespaced collection of `namespace` that can be deleted as a whole
   * (discovery of the core API and of every group's preferred version).
   */
  async namespacedCollections(namespace: string): Promise<string[]> {
    interface Resource {
      name: string;
      namespaced: boolean;
      verbs: string[];
    }
    const bases = ['/api/v1'];
    const groups = await this.request<{ groups: Array<{ preferredVersion: { groupVersion: string } }> }>(
      'GET',
      '/apis',
    );
    for (const g of groups.groups) bases.push(`/apis/${g.preferredVersion.groupVersion}`);
    const out: string[] = [];
    for (const base of bases) {
      const list = await this.request<{ resources: Resource[] }>('GET', base).catch(() => ({
        resources: [] as Resource[],
      }));
      for (const r of list.resources) {
        if (r.namespaced && !r.name.includes('/') && r.verbs.includes('deletecollection')) {
          out.push(`${base}/namespaces/${encodeURIComponent(namespace)}/${r.name}`);
        }
      }
    }
    return out;
  }

  /**
   * Asks the running addon-operator through its debug socket (`addon-operator module list`,
   * `module values l2-load-balancer`, ...), JSON output parsed: what the engine itself holds.
   */
  async addonOperatorQuery<T = unknown>(args: string[]): Promise<T> {
    if (this.engine !== 'addon-operator' || !this.operator) throw new Error('addon-operator is not running');
    const { addonOperator: bin } = await resolveBinaries(['addonOperator'], this.opts.log);
    const out = execFileSync(
      bin,
      [...args, '-o', 'json', `--debug-unix-socket=${this.operator.debugSocket}`],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    return JSON.parse(out) as T;
  }

  /** Enables or disables the module through addon-operator's config (`l2LoadBalancerEnabled`). */
  async setEnabled(enabled: boolean): Promise<void> {
    if (this.engine !== 'addon-operator') throw new Error('only addon-operator enables and disables modules');
    this.addonConfig.enabled = enabled;
    await writeAddonOperatorConfig(this.cp, this.addonConfig);
  }

  // --- Nodes ---------------------------------------------------------------------------------

  async createNode(n: NodeSpec): Promise<void> {
    await this.request('POST', '/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: n.name, labels: n.labels ?? {} },
    });
    await this.setNodeReady(n.name, n.ready ?? true, n.readySince ?? new Date(Date.now() - 3600_000));
  }

  /** Writes the Ready condition through the status subresource, as the kubelet would. */
  async setNodeReady(name: string, ready: boolean, since: Date = new Date()): Promise<void> {
    await this.request('PATCH', `/api/v1/nodes/${encodeURIComponent(name)}/status`, {
      status: { conditions: [readyCondition(ready, since)] },
    });
  }

  /** Merge-patches a Node's labels; a `null` value removes one. */
  async labelNode(name: string, labels: Record<string, string | null>): Promise<void> {
    await this.request('PATCH', `/api/v1/nodes/${encodeURIComponent(name)}`, { metadata: { labels } });
  }

  async deleteNode(name: string): Promise<void> {
    await this.request('DELETE', `/api/v1/nodes/${encodeURIComponent(name)}`);
  }

  async getNode(name: string): Promise<NodeObject> {
    return this.request<NodeObject>('GET', `/api/v1/nodes/${encodeURIComponent(name)}`);
  }

  async listNodes(): Promise<NodeObject[]> {
    return (await this.request<List<NodeObject>>('GET', '/api/v1/nodes')).items;
  }

  // --- L2LoadBalancers -------------------------------------------------------------------------

  async createL2LoadBalancer(name: string, spec: L2LoadBalancerObject['spec']): Promise<void> {
    await this.request('POST', `${L2LB_API}/l2loadbalancers`, {
      apiVersion: 'network.deckhouse.io/v1alpha1',
      kind: 'L2LoadBalancer',
      metadata: { name },
      spec,
    });
  }

  /** Merge-patches the spec (lists are replaced whole, e.g. `addressPool`). */
  async patchL2LoadBalancer(name: string, spec: Partial<L2LoadBalancerObject['spec']>): Promise<void> {
    await this.request('PATCH', `${L2LB_API}/l2loadbalancers/${encodeURIComponent(name)}`, { spec });
  }

  async getL2LoadBalancer(name: string): Promise<L2LoadBalancerObject> {
    return this.request<L2LoadBalancerObject>(
      'GET',
      `${L2LB_API}/l2loadbalancers/${encodeURIComponent(name)}`,
    );
  }

  async deleteL2LoadBalancer(name: string): Promise<void> {
    await this.request('DELETE', `${L2LB_API}/l2loadbalancers/${encodeURIComponent(name)}`);
  }

  // --- Services --------------------------------------------------------------------------------

  async createService(s: ServiceSpec): Promise<ServiceObject> {
    const namespace = s.namespace ?? 'default';
    if (namespace !== 'default') await this.ensureNamespace(namespace);
    return this.request<ServiceObject>('POST', servicePath(namespace), serviceObject(s));
  }

  async getService(namespace: string, name: string): Promise<ServiceObject> {
    return this.request<ServiceObject>('GET', servicePath(namespace, name));
  }

  /** Merge-patches the annotations; a `null` value removes one. */
  async annotateService(
    namespace: string,
    name: string,
    annotations: Record<string, string | null>,
  ): Promise<void> {
    await this.request('PATCH', servicePath(namespace, name), { metadata: { annotations } });
  }

  async patchService(namespace: string, name: string, patch: Record<string, unknown>): Promise<void> {
    await this.request('PATCH', servicePath(namespace, name), patch);
  }

  async deleteService(namespace: string, name: string): Promise<void> {
    await this.request('DELETE', servicePath(namespace, name));
  }

  async listServices(namespace?: string): Promise<ServiceObject[]> {
    const path = namespace === undefined ? '/api/v1/services' : servicePath(namespace);
    return (await this.request<List<ServiceObject>>('GET', path)).items;
  }

  async ingress(namespace: string, name: string): Promise<string[]> {
    return ingressOf(await this.getService(namespace, name));
  }

  async serviceCondition(
    namespace: string,
    name: string,
    type = CONDITION_ALL_ASSIGNED,
  ): Promise<Condition | undefined> {
    return conditionOf((await this.getService(namespace, name)).status?.conditions, type);
  }

  // --- speaker Leases (what a speaker would write) --------------------------------------------

  /** Creates or replaces the speaker Lease of a node (`l2lb-speaker-<node>`). */
  async setLease(node: string, renewTime: Date, durationSeconds: number): Promise<void> {
    const name = `l2lb-speaker-${node}`;
    const path = `/apis/coordination.k8s.io/v1/namespaces/${MODULE_NAMESPACE}/leases`;
    const body = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace: MODULE_NAMESPACE },
      spec: {
        holderIdentity: node,
        leaseDurationSeconds: durationSeconds,
        renewTime: renewTime.toISOString().replace(/Z$/, '000Z'),
      },
    };
    try {
      await this.request('POST', path, body);
    } catch (err) {
      if (!isConflict(err)) throw err;
      await this.request('PATCH', `${path}/${name}`, { spec: body.spec });
    }
  }

  // --- what the hooks write ----------------------------------------------------------------------

  /** L2LBServices, sorted by namespace/name; of one parent Service when `service` is given. */
  async l2lbServices(namespace?: string, service?: string): Promise<L2LBServiceObject[]> {
    const base =
      namespace === undefined
        ? `${L2LBSERVICE_API}/l2lbservices`
        : `${L2LBSERVICE_API}/namespaces/${encodeURIComponent(namespace)}/l2lbservices`;
    const q =
      service === undefined
        ? ''
        : `?labelSelector=${encodeURIComponent(`${LABEL_PARENT_SERVICE}=${service}`)}`;
    const items = (await this.request<List<L2LBServiceObject>>('GET', `${base}${q}`)).items;
    return items.sort((a, b) =>
      `${a.metadata.namespace ?? ''}/${a.metadata.name}`.localeCompare(
        `${b.metadata.namespace ?? ''}/${b.metadata.name}`,
      ),
    );
  }

  /** index -> {address, nodes} of a Service's L2LBServices. */
  async placement(
    namespace: string,
    service: string,
  ): Promise<Map<number, { address: string; nodes: string[] }>> {
    const out = new Map<number, { address: string; nodes: string[] }>();
    for (const c of await this.l2lbServices(namespace, service)) {
      out.set(Number(c.metadata.labels?.[LABEL_INDEX]), {
        address: c.spec.loadBalancerIP ?? '',
        nodes: c.spec.nodes ?? [],
      });
    }
    return out;
  }

  /** Events, of one namespace or all; only those about `involvedName` when given. */
  async events(namespace?: string, involvedName?: string): Promise<EventObject[]> {
    const path = namespace === undefined ? '/api/v1/events' : `${nsPath(namespace)}/events`;
    const q =
      involvedName === undefined
        ? ''
        : `?fieldSelector=${encodeURIComponent(`involvedObject.name=${involvedName}`)}`;
    return (await this.request<List<EventObject>>('GET', `${path}${q}`)).items;
  }

  /**
   * Polls `probe` (every 250 ms, at most `timeoutMs`) until it returns a value; the error says
   * what was awaited, the last failure and the hooks' last log lines.
   */
  async until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
    return waitFor(probe, {
      timeoutMs,
      intervalMs: 250,
      describe: (last) =>
        `${what}: not within ${timeoutMs / 1000}s (last: ${last})\n--- shell-operator log tail ---\n${this.hookLogTail()}`,
    });
  }

  /** Waits until the Service has `count` addresses and the AllPublicIPsAssigned condition is True. */
  async untilAssigned(
    namespace: string,
    name: string,
    count: number,
    timeoutMs = 30_000,
  ): Promise<ServiceObject> {
    return this.until(
      `Service ${namespace}/${name} with ${count} addresses and ${CONDITION_ALL_ASSIGNED}=True`,
      async () => {
        const s = await this.getService(namespace, name);
        const c = conditionOf(s.status?.conditions, CONDITION_ALL_ASSIGNED);
        if (ingressOf(s).length === count && c?.status === 'True') return s;
        throw new Error(`ingress [${ingressOf(s).join(', ')}], condition ${JSON.stringify(c)}`);
      },
      timeoutMs,
    );
  }

  // --- teardown --------------------------------------------------------------------------------

  /** Stops shell-operator, then the control plane; idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      try {
        await this.stopHooks();
      } finally {
        for (const w of this.watches) w.stop();
        if (this.scratch !== undefined) rmSync(this.scratch, { recursive: true, force: true });
        await this.cp.stop();
      }
    })();
    return this.stopping;
  }
}
