// One collection kept current by @kubernetes/client-node's list+watch (its ListWatch), with what the
// library leaves to its user: restarting after an error without forgetting what was seen, knowing
// when the copy is whole, and noticing a watch that went silent.
import {
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';

/** After an error, list+watch again after 100 ms, doubling up to 2 s (the API may be back any time). */
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;

/**
 * The library's Watch, asking for bookmarks, telling when a watch request was answered (from then on
 * the collection is whole again), and, given `idleMs`, aborting a watch that has been silent that
 * long (the informer then starts again). Without it the library's own inactivity timeout (30 s)
 * reconnects a silent watch.
 */
class AnsweredWatch extends Watch {
  constructor(
    kc: KubeConfig,
    private readonly idleMs: number | undefined,
    private readonly answered: () => void,
  ) {
    super(kc);
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    let finished = false;
    let idle: NodeJS.Timeout | undefined;
    const armIdle = (controller: AbortController): void => {
      if (idle) clearTimeout(idle);
      if (this.idleMs === undefined || finished) return;
      idle = setTimeout(
        () => controller.abort(new Error(`watch ${path}: silent for ${this.idleMs} ms`)),
        this.idleMs,
      );
    };
    // The callbacks may run before super.watch() returns its controller.
    const ref: { controller?: AbortController } = {};
    const controller = await super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true },
      (phase, apiObj, watchObj) => {
        if (ref.controller) armIdle(ref.controller);
        callback(phase, apiObj, watchObj);
      },
      (err: unknown) => {
        finished = true;
        if (idle) clearTimeout(idle);
        done(err);
      },
    );
    ref.controller = controller;
    if (!finished) {
      armIdle(controller);
      this.answered();
    }
    return controller;
  }
}

export class Informer<T extends KubernetesObject> {
  private readonly lw: ListWatch<T>;
  private listed = false;
  private failing = false;
  private stopped = false;
  private retryMs = RETRY_MIN_MS;
  private retryTimer?: NodeJS.Timeout;

  constructor(
    kc: KubeConfig,
    /** The collection's path, e.g. `/apis/coordination.k8s.io/v1/namespaces/x/leases`. */
    private readonly path: string,
    list: () => Promise<KubernetesListObject<T>>,
    /** A watch silent this long is dropped and started again (default: the library's 30 s). */
    idleMs: number | undefined,
    private readonly changed: () => void,
    private readonly failed: (what: string, err: unknown) => void,
  ) {
    const watch = new AnsweredWatch(kc, idleMs, () => this.healthy());
    this.lw = new ListWatch<T>(
      path,
      watch,
      async () => {
        const result = await list();
        this.listed = true;
        return result;
      },
      false,
    );
    this.lw.on('change', () => this.changed());
    this.lw.on('error', (err: unknown) => this.error(err));
  }

  /**
   * Listed at least once, and no error since the last answered watch. While the API is away the
   * copy stays as it was last seen (`list()` keeps returning it); only `whole` turns false.
   */
  get whole(): boolean {
    return this.listed && !this.failing;
  }

  /** Calls `cb` with every object the informer adds, updates or deletes. */
  onObject(cb: (verb: 'add' | 'update' | 'delete', object: T) => void): void {
    for (const verb of ['add', 'update', 'delete'] as const) this.lw.on(verb, (o: T) => cb(verb, o));
  }

  list(): readonly T[] {
    return this.lw.list();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.lw.get(name, namespace);
  }

  start(): void {
    this.stopped = false;
    this.lw.start().catch((err: unknown) => this.error(err));
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    void this.lw.stop();
  }

  private healthy(): void {
    this.retryMs = RETRY_MIN_MS;
    if (!this.failing) return;
    this.failing = false;
    this.changed();
  }

  /**
   * The library stops on an error (a failed list, a refused or broken watch) and keeps its objects;
   * start again later, from the last resourceVersion (the library lists anew when that is too old).
   */
  private error(err: unknown): void {
    if (this.stopped) return;
    this.failed(this.path, err);
    if (!this.failing) {
      this.failing = true;
      this.changed();
    }
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.stopped) this.start();
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }
}
