// The speaker's window on the API: its own Lease, the other speakers' Leases, the L2LBServices and
// the L2LoadBalancers (kept by list-watch), and the status it writes.
import { L2LB_API_VERSION, L2LBSERVICE_API_VERSION, LEASE_PREFIX, type LeaseState } from '../../lib/model';
import { microTime } from '../../lib/speaker/lease';
import { parseBalancer, parseIndex, parseLease } from '../../lib/speaker/parse';
import type { SpeakerBalancer, SpeakerIndex, StatusUpdate } from '../../lib/speaker/types';
import { ApiError, expectOk, ListWatch, type KubeClient } from './kube';

export interface ClusterApi {
  /** Creates or renews this node's Lease with renewTime = `at`. */
  renewLease(at: number): Promise<void>;
  /** Clears holder and renewTime so the other speakers see the Lease expired at once. */
  releaseLease(): Promise<void>;
  patchStatus(update: StatusUpdate): Promise<void>;
}

export interface ClusterView {
  /** Every collection listed and its watch running. */
  synced(): boolean;
  leases(): LeaseState[];
  indices(): SpeakerIndex[];
  balancers(): SpeakerBalancer[];
  /** resourceVersion of this node's Lease as last seen through the watch. */
  ownLeaseVersion(): string | undefined;
}

const defined = <T>(v: T | undefined): v is T => v !== undefined;

export class KubeCluster implements ClusterApi, ClusterView {
  private readonly leaseWatch: ListWatch;
  private readonly indexWatch: ListWatch;
  private readonly balancerWatch: ListWatch;
  private acquired = false;
  private readonly leasePath: string;

  constructor(
    private readonly client: KubeClient,
    private readonly settings: { node: string; namespace: string; leaseDurationSeconds: number },
    changed: () => void,
    failed: (what: string, err: unknown) => void,
  ) {
    const ns = settings.namespace;
    this.leasePath = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`;
    // Every speaker renews each second or so: a lease watch silent for three lease durations is dead.
    const leaseIdleMs = settings.leaseDurationSeconds * 3000;
    this.leaseWatch = new ListWatch(client, this.leasePath, changed, failed, leaseIdleMs);
    this.indexWatch = new ListWatch(client, `/apis/${L2LBSERVICE_API_VERSION}/l2lbservices`, changed, failed);
    this.balancerWatch = new ListWatch(client, `/apis/${L2LB_API_VERSION}/l2loadbalancers`, changed, failed);
  }

  private get leaseName(): string {
    return `${LEASE_PREFIX}${this.settings.node}`;
  }

  start(): void {
    for (const w of [this.leaseWatch, this.indexWatch, this.balancerWatch]) w.start();
  }

  stop(): void {
    for (const w of [this.leaseWatch, this.indexWatch, this.balancerWatch]) w.stop();
  }

  synced(): boolean {
    return this.leaseWatch.synced && this.indexWatch.synced && this.balancerWatch.synced;
  }

  leases(): LeaseState[] {
    return [...this.leaseWatch.items.values()].map(parseLease).filter(defined);
  }

  indices(): SpeakerIndex[] {
    return [...this.indexWatch.items.values()].map(parseIndex).filter(defined);
  }

  balancers(): SpeakerBalancer[] {
    return [...this.balancerWatch.items.values()].map(parseBalancer).filter(defined);
  }

  ownLeaseVersion(): string | undefined {
    const own = this.leaseWatch.items.get(`${this.settings.namespace}/${this.leaseName}`);
    const meta = typeof own === 'object' && own !== null && 'metadata' in own ? own.metadata : undefined;
    const rv =
      typeof meta === 'object' && meta !== null && 'resourceVersion' in meta
        ? meta.resourceVersion
        : undefined;
    return typeof rv === 'string' ? rv : undefined;
  }

  private get timeoutMs(): number {
    return Math.max(500, (this.settings.leaseDurationSeconds * 1000) / 2);
  }

  async renewLease(at: number): Promise<void> {
    const spec = {
      holderIdentity: this.settings.node,
      leaseDurationSeconds: this.settings.leaseDurationSeconds,
      renewTime: microTime(at),
    };
    const path = `${this.leasePath}/${this.leaseName}`;
    if (this.acquired) {
      const r = await this.client.request('PATCH', path, {
        body: { spec },
        contentType: 'application/merge-patch+json',
        timeoutMs: this.timeoutMs,
      });
      if (r.status !== 404) {
        expectOk(`renew lease ${this.leaseName}`, r);
        return;
      }
      this.acquired = false;
    }
    // First renewal (or the Lease vanished): take the Lease over, recording acquireTime.
    const body = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: this.leaseName, namespace: this.settings.namespace },
      spec: { ...spec, acquireTime: microTime(at) },
    };
    const created = await this.client.request('POST', this.leasePath, { body, timeoutMs: this.timeoutMs });
    if (created.status === 409) {
      expectOk(
        `acquire lease ${this.leaseName}`,
        await this.client.request('PATCH', path, {
          body: { spec: body.spec },
          contentType: 'application/merge-patch+json',
          timeoutMs: this.timeoutMs,
        }),
      );
    } else {
      expectOk(`create lease ${this.leaseName}`, created);
    }
    this.acquired = true;
  }

  async releaseLease(): Promise<void> {
    const r = await this.client.request('PATCH', `${this.leasePath}/${this.leaseName}`, {
      body: { spec: { holderIdentity: null, renewTime: null } },
      contentType: 'application/merge-patch+json',
      timeoutMs: 1000,
    });
    if (r.status !== 404) expectOk(`release lease ${this.leaseName}`, r);
  }

  async patchStatus(update: StatusUpdate): Promise<void> {
    const s = update.status;
    const status = {
      loadBalancer: { ingress: s.ingress.map((ip) => ({ ip })) },
      announcingNode: update.clearAnnouncer ? null : (s.announcingNode ?? null),
      announcedSince: update.clearAnnouncer ? null : (s.announcedSince ?? null),
      conditions: s.announced ? [s.announced] : [],
    };
    const path = `/apis/${L2LBSERVICE_API_VERSION}/namespaces/${update.namespace}/l2lbservices/${update.name}/status`;
    const r = await this.client.request('PATCH', path, {
      body: { status },
      contentType: 'application/merge-patch+json',
      timeoutMs: 5000,
    });
    if (r.status === 404) throw new ApiError(404, `l2lbservice ${update.namespace}/${update.name} is gone`);
    this.indexWatch.apply(expectOk(`patch status of ${update.namespace}/${update.name}`, r));
  }
}
