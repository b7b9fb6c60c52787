// The speaker's window on the API, through @kubernetes/client-node: its own Lease, the other
// speakers' Leases, the L2LBServices and the L2LoadBalancers (each kept by an informer), and the
// status it writes.
import {
  ApiException,
  CoordinationV1Api,
  CustomObjectsApi,
  Observable,
  PatchStrategy,
  setHeaderOptions,
  V1MicroTime,
  type ConfigurationOptions,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type RequestContext,
  type V1Lease,
} from '@kubernetes/client-node';
import { GROUP, INTERNAL_GROUP, LEASE_PREFIX, type LeaseState } from '../../lib/model';
import { readSpeakerBalancer, readSpeakerIndex, readSpeakerLease } from '../../lib/speaker/objects';
import { HEARTBEAT_ANNOTATION } from '../../lib/speaker/heartbeat/peers';
import type { SpeakerBalancer, SpeakerIndex, StatusUpdate } from '../../lib/speaker/types';
import { Informer } from './informer';

export interface ClusterApi {
  /** Creates or renews this node's Lease with renewTime = `at`. */
  renewLease(at: number): Promise<void>;
  /** Clears holder and renewTime so the other speakers see the Lease expired at once. */
  releaseLease(): Promise<void>;
  patchStatus(update: StatusUpdate): Promise<void>;
}

export interface ClusterView {
  /** Every collection listed and its watch answering. */
  synced(): boolean;
  leases(): LeaseState[];
  /** The well-formed L2LBServices. */
  indices(): SpeakerIndex[];
  /** L2LBServices with a malformed spec, and what is wrong with each: nothing is announced for them. */
  malformed(): MalformedIndex[];
  balancers(): SpeakerBalancer[];
  /** resourceVersion of this node's Lease as last seen through the watch (opaque: compare for equality). */
  ownLeaseVersion(): string | undefined;
}

export interface MalformedIndex {
  index: SpeakerIndex;
  problems: readonly string[];
}

const VERSION = 'v1alpha1';
/** The longest a status this speaker wrote stands in for the informer's copy (see `written`). */
const WRITTEN_COPY_MS = 10_000;
const defined = <T>(v: T | undefined): v is T => v !== undefined;

/** Per-request options that abort the request after `ms`. */
function timeout(ms: number, options?: ConfigurationOptions): ConfigurationOptions {
  const middleware = {
    pre: (ctx: RequestContext): Observable<RequestContext> => {
      ctx.setSignal(AbortSignal.timeout(ms));
      return new Observable(Promise.resolve(ctx));
    },
    post: <R>(res: R): Observable<R> => new Observable(Promise.resolve(res)),
  };
  return {
    ...options,
    middleware: [...(options?.middleware ?? []), middleware],
    middlewareMergeStrategy: 'append',
  };
}

/** A request the API refused: its status code, and a message naming what was asked. */
class RefusedError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

const status = (e: unknown): number | undefined =>
  e instanceof RefusedError || e instanceof ApiException ? e.code : undefined;

/**
 * The API's own message of a refused request, naming what was asked (`patch status of shop/web-0:
 * HTTP 404: ... not found`): the library's ApiException message holds the whole body and headers.
 */
async function asked<T>(what: string, request: Promise<T>): Promise<T> {
  try {
    return await request;
  } catch (e) {
    if (!(e instanceof ApiException)) throw e;
    let detail = '';
    try {
      const body: unknown = typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
      const message =
        typeof body === 'object' && body !== null && 'message' in body ? body.message : undefined;
      detail = typeof message === 'string' ? `: ${message}` : '';
    } catch {
      // not JSON: the status code says enough
    }
    throw new RefusedError(e.code, `${what}: HTTP ${e.code}${detail}`);
  }
}

/** A list as the API returns it, untyped: the parsers in lib/ read the same JSON as from the watch. */
type RawList = KubernetesListObject<KubernetesObject>;

/** `namespace/name`. */
const keyOf = (o: KubernetesObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

export class KubeCluster implements ClusterApi, ClusterView {
  private readonly coordination: CoordinationV1Api;
  private readonly custom: CustomObjectsApi;
  private readonly leaseInformer: Informer<KubernetesObject>;
  private readonly indexInformer: Informer<KubernetesObject>;
  private readonly balancerInformer: Informer<KubernetesObject>;
  /** This node's Lease as the last write returned it: the base (and precondition) of the next. */
  private lease?: V1Lease;
  /**
   * Statuses this speaker wrote, as the API returned them, until the informer shows that very
   * version: decide() then sees its own write at once and does not write it twice. resourceVersions
   * are opaque, so only equality tells that the watch has caught up; a re-list may skip the version,
   * so a written copy counts for WRITTEN_COPY_MS at most.
   */
  private readonly written = new Map<string, { object: KubernetesObject; until: number }>();
  /** The versions the informer showed of an object while a status write of it was under way. */
  private readonly writing = new Map<string, Set<string>>();

  constructor(
    kc: KubeConfig,
    private readonly settings: {
      node: string;
      namespace: string;
      leaseDurationSeconds: number;
      /** Where this speaker listens for heartbeats, written into its Lease (heartbeat/peers.ts). */
      heartbeatEndpoints?: string;
    },
    changed: () => void,
    failed: (what: string, err: unknown) => void,
  ) {
    this.coordination = kc.makeApiClient(CoordinationV1Api);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    // Listed through the generic API, Leases too: the typed one turns timestamps into Dates, while
    // the watch delivers the JSON text that the parsers and the renewTime comparison read.
    const informer = (
      group: string,
      version: string,
      plural: string,
      namespace?: string,
      idleMs?: number,
    ): Informer<KubernetesObject> =>
      new Informer<KubernetesObject>(
        kc,
        `/apis/${group}/${version}/${namespace ? `namespaces/${namespace}/` : ''}${plural}`,
        async () =>
          (await asked(
            `list ${plural}`,
            namespace
              ? this.custom.listNamespacedCustomObject({ group, version, namespace, plural }, timeout(10_000))
              : this.custom.listClusterCustomObject({ group, version, plural }, timeout(10_000)),
          )) as RawList,
        idleMs,
        changed,
        failed,
      );
    // Every speaker renews at least once per lease: a Lease watch silent for three lease durations is dead.
    this.leaseInformer = informer(
      'coordination.k8s.io',
      'v1',
      'leases',
      settings.namespace,
      settings.leaseDurationSeconds * 3000,
    );
    this.indexInformer = informer(INTERNAL_GROUP, VERSION, 'l2lbservices');
    this.indexInformer.onObject((verb, o) => {
      const key = keyOf(o);
      const rv = o.metadata?.resourceVersion;
      if (rv !== undefined) this.writing.get(key)?.add(rv);
      const mine = this.written.get(key);
      if (mine && (verb === 'delete' || rv === mine.object.metadata?.resourceVersion))
        this.written.delete(key);
    });
    this.balancerInformer = informer(GROUP, VERSION, 'l2loadbalancers');
  }

  private get leaseName(): string {
    return `${LEASE_PREFIX}${this.settings.node}`;
  }

  private get informers(): Informer<KubernetesObject>[] {
    return [this.leaseInformer, this.indexInformer, this.balancerInformer];
  }

  start(): void {
    for (const i of this.informers) i.start();
  }

  stop(): void {
    for (const i of this.informers) i.stop();
  }

  synced(): boolean {
    return this.informers.every((i) => i.whole);
  }

  leases(): LeaseState[] {
    return this.leaseInformer.list().map(readSpeakerLease).filter(defined);
  }

  /** Every L2LBService read, with this speaker's own status writes standing in (see `written`). */
  private readIndices(): MalformedIndex[] {
    const now = performance.now();
    const seen = this.indexInformer.list().map((o) => {
      const mine = this.written.get(keyOf(o));
      if (mine && mine.until <= now) this.written.delete(keyOf(o));
      return mine && mine.until > now ? mine.object : o;
    });
    return seen.map(readSpeakerIndex).filter(defined);
  }

  indices(): SpeakerIndex[] {
    return this.readIndices()
      .filter((r) => r.problems.length === 0)
      .map((r) => r.index);
  }

  malformed(): MalformedIndex[] {
    return this.readIndices().filter((r) => r.problems.length > 0);
  }

  balancers(): SpeakerBalancer[] {
    return this.balancerInformer.list().map(readSpeakerBalancer).filter(defined);
  }

  ownLeaseVersion(): string | undefined {
    return this.leaseInformer.get(this.leaseName, this.settings.namespace)?.metadata?.resourceVersion;
  }

  private get timeoutMs(): number {
    return Math.max(500, (this.settings.leaseDurationSeconds * 1000) / 2);
  }

  private async readLease(): Promise<V1Lease | undefined> {
    try {
      return await asked(
        `read lease ${this.leaseName}`,
        this.coordination.readNamespacedLease(
          { name: this.leaseName, namespace: this.settings.namespace },
          timeout(this.timeoutMs),
        ),
      );
    } catch (e) {
      if (status(e) === 404) return undefined;
      throw e;
    }
  }

  /**
   * Writes the own Lease with `spec` changed: an update with the last known resourceVersion as
   * precondition, or a create when there is none. On a conflict (someone else wrote it since) or a
   * Lease that vanished, reads it once and tries again.
   */
  private async writeLease(
    change: (spec: NonNullable<V1Lease['spec']>, base?: V1Lease) => void,
  ): Promise<void> {
    const { namespace, heartbeatEndpoints } = this.settings;
    // The heartbeat endpoints ride on every write of the Lease (no extra write); a changed address
    // is corrected at the next renewal.
    const annotations: Record<string, string> = heartbeatEndpoints
      ? { [HEARTBEAT_ANNOTATION]: heartbeatEndpoints }
      : {};
    for (let attempt = 0; ; attempt++) {
      const base = this.lease;
      const spec = { ...(base?.spec ?? {}) };
      change(spec, base);
      try {
        this.lease = base?.metadata?.resourceVersion
          ? await asked(
              `update lease ${this.leaseName}`,
              this.coordination.replaceNamespacedLease(
                {
                  name: this.leaseName,
                  namespace,
                  body: {
                    ...base,
                    metadata: {
                      ...base.metadata,
                      annotations: { ...base.metadata.annotations, ...annotations },
                    },
                    spec,
                  },
                },
                timeout(this.timeoutMs),
              ),
            )
          : await asked(
              `create lease ${this.leaseName}`,
              this.coordination.createNamespacedLease(
                {
                  namespace,
                  body: {
                    apiVersion: 'coordination.k8s.io/v1',
                    kind: 'Lease',
                    metadata: { name: this.leaseName, namespace, annotations },
                    spec,
                  },
                },
                timeout(this.timeoutMs),
              ),
            );
        return;
      } catch (e) {
        const code = status(e);
        if (attempt > 0 || (code !== 409 && code !== 404)) throw e;
        this.lease = code === 404 ? undefined : await this.readLease();
      }
    }
  }

  async renewLease(at: number): Promise<void> {
    await this.writeLease((spec, base) => {
      // Taking the Lease over (first renewal, or it was released): record acquireTime.
      if (base === undefined || spec.holderIdentity !== this.settings.node)
        spec.acquireTime = new V1MicroTime(at);
      spec.holderIdentity = this.settings.node;
      spec.leaseDurationSeconds = this.settings.leaseDurationSeconds;
      spec.renewTime = new V1MicroTime(at);
    });
  }

  async releaseLease(): Promise<void> {
    if (!this.lease) this.lease = await this.readLease();
    if (!this.lease) return;
    await this.writeLease((spec) => {
      delete spec.holderIdentity;
      delete spec.renewTime;
    });
  }

  async patchStatus(update: StatusUpdate): Promise<void> {
    const s = update.status;
    const body = {
      status: {
        loadBalancer: { ingress: s.ingress.map((ip) => ({ ip })) },
        announcingNode: update.clearAnnouncer ? null : (s.announcingNode ?? null),
        announcedSince: update.clearAnnouncer ? null : (s.announcedSince ?? null),
        conditions: s.announced ? [s.announced] : [],
      },
    };
    const key = `${update.namespace}/${update.name}`;
    // The StatusWriter keeps one write per object in flight.
    const seen = new Set<string>();
    this.writing.set(key, seen);
    let written: KubernetesObject;
    try {
      written = (await asked(
        `patch status of ${key}`,
        this.custom.patchNamespacedCustomObjectStatus(
          {
            group: INTERNAL_GROUP,
            version: VERSION,
            namespace: update.namespace,
            plural: 'l2lbservices',
            name: update.name,
            body,
          },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch, timeout(5000)),
        ),
      )) as KubernetesObject;
    } finally {
      this.writing.delete(key);
    }
    const rv = written.metadata?.resourceVersion;
    if (rv !== undefined && !seen.has(rv))
      this.written.set(key, { object: written, until: performance.now() + WRITTEN_COPY_MS });
  }
}
