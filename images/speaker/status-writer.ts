// Status writing: the L2LBService status and its Announced condition, one write in flight per
// object, a failed write retried after a pause.
import { notAnnouncedStatus } from '../../lib/speaker/status';
import type { Clock } from '../../lib/speaker/ports';
import type { SpeakerIndex, StatusUpdate } from '../../lib/speaker/types';
import type { ClusterApi, ClusterView } from './cluster';
import type { Logger } from './log';
import { errorText } from './util';

/** After a failed status write, wait this long before writing that index again. */
const STATUS_RETRY_MS = 1_000;

export class StatusWriter {
  private readonly inFlight = new Set<string>();
  private readonly retryAt = new Map<string, number>();

  constructor(
    private readonly cluster: Pick<ClusterApi, 'patchStatus'> & Pick<ClusterView, 'indices'>,
    private readonly node: string,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** Called when a write went through or may be retried: the statuses to write may differ now. */
    private readonly changed: () => void,
  ) {}

  /** Writes `u` unless a write of that object is in flight or waits for its retry. */
  write(u: StatusUpdate, now: number): void {
    const key = `${u.namespace}/${u.name}`;
    if (this.inFlight.has(key) || (this.retryAt.get(key) ?? 0) > now) return;
    this.inFlight.add(key);
    this.cluster.patchStatus(u).then(
      () => {
        this.inFlight.delete(key);
        this.retryAt.delete(key);
        this.log.info('status written', {
          index: key,
          announcingNode: u.status.announcingNode,
          announced: u.status.announced?.status,
          reason: u.status.announced?.reason,
        });
        this.changed();
      },
      (e: unknown) => {
        this.inFlight.delete(key);
        this.retryAt.set(key, this.clock.now() + STATUS_RETRY_MS);
        this.log.warn('status write failed', { index: key, error: errorText(e) });
        setTimeout(() => this.changed(), STATUS_RETRY_MS + 1);
      },
    );
  }

  /** Says in the index's status why this node does not announce `address` (an announcement failed). */
  notAnnounced(indexKey: string | undefined, address: string, reason: string, message: string): void {
    const index = this.cluster.indices().find((i) => i.key === indexKey);
    if (index) this.refused(index, reason, `${address}: ${message} on ${this.node}`);
  }

  /** Writes `Announced=False` with `reason` and `message` unless the status says so already. */
  refused(index: SpeakerIndex, reason: string, message: string): void {
    // The condition's lastTransitionTime is for people: the wall clock.
    for (const u of notAnnouncedStatus(index, reason, message, this.clock.wallNow()))
      this.write(u, this.clock.now());
  }
}
