// The few API calls the speaker makes, over node:https: JSON requests, streaming watches, and a
// list-then-watch loop that keeps a local copy of a collection.
//
// Not @kubernetes/client-node: the speaker needs four verbs on three resources, and its bundle stays
// small without it (client-node 2 loads on Node.js 20 only with the package.json undici override).
// A kubeconfig (KUBECONFIG, for tests and local runs) or the in-cluster service account supplies
// the server, CA, and token or client certificate.
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { load } from 'js-yaml';

export interface KubeTarget {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecure: boolean;
  /** Read for every request: projected service-account tokens rotate. */
  token?: () => string;
}

type Json = Record<string, unknown>;
const isJson = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function named(list: unknown, name: string | undefined, field: string): Json {
  const entry = Array.isArray(list) ? list.find((e) => isJson(e) && e.name === name) : undefined;
  return isJson(entry) && isJson(entry[field]) ? entry[field] : {};
}

/** The current context of a kubeconfig file: server, CA, and token or client certificate. */
export function kubeconfigTarget(path: string): KubeTarget {
  const doc = load(readFileSync(path, 'utf8'));
  if (!isJson(doc)) throw new Error(`${path}: not a kubeconfig`);
  const context = named(doc.contexts, str(doc['current-context']), 'context');
  const cluster = named(doc.clusters, str(context.cluster), 'cluster');
  const user = named(doc.users, str(context.user), 'user');
  const server = str(cluster.server);
  if (!server) throw new Error(`${path}: the current context has no cluster server`);
  const data = (inline: unknown, file: unknown): Buffer | undefined => {
    if (str(inline)) return Buffer.from(str(inline) ?? '', 'base64');
    return str(file) ? readFileSync(str(file) ?? '') : undefined;
  };
  const token = str(user.token);
  const tokenFile = str(user.tokenFile);
  const ca = data(cluster['certificate-authority-data'], cluster['certificate-authority']);
  const cert = data(user['client-certificate-data'], user['client-certificate']);
  const key = data(user['client-key-data'], user['client-key']);
  return {
    server,
    insecure: cluster['insecure-skip-tls-verify'] === true,
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(token
      ? { token: () => token }
      : tokenFile
        ? { token: () => readFileSync(tokenFile, 'utf8').trim() }
        : {}),
  };
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The pod's service account and the API server from KUBERNETES_SERVICE_HOST/PORT. */
export function inClusterTarget(env: Readonly<Record<string, string | undefined>>): KubeTarget {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new Error('not in a cluster (KUBERNETES_SERVICE_HOST unset) and KUBECONFIG not set');
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: readFileSync(`${SA_DIR}/ca.crt`),
    insecure: false,
    token: () => readFileSync(`${SA_DIR}/token`, 'utf8').trim(),
  };
}

export interface ApiResponse {
  status: number;
  body: unknown;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function expectOk(what: string, r: ApiResponse): unknown {
  if (r.status >= 200 && r.status < 300) return r.body;
  const detail = isJson(r.body) && 'message' in r.body ? String(r.body.message) : String(r.body);
  throw new ApiError(r.status, `${what}: HTTP ${r.status}: ${detail}`);
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export class KubeClient {
  private readonly base: URL;
  private readonly agent: http.Agent;

  constructor(private readonly target: KubeTarget) {
    this.base = new URL(target.server);
    const tls = {
      keepAlive: true,
      ...(target.ca ? { ca: target.ca } : {}),
      ...(target.cert ? { cert: target.cert } : {}),
      ...(target.key ? { key: target.key } : {}),
      rejectUnauthorized: !target.insecure,
    };
    this.agent = this.base.protocol === 'https:' ? new https.Agent(tls) : new http.Agent({ keepAlive: true });
  }

  /** Closes idle keep-alive connections so the process can exit. */
  close(): void {
    this.agent.destroy();
  }

  private open(method: Method, path: string, headers: Record<string, string>): http.ClientRequest {
    const token = this.target.token?.();
    const options: https.RequestOptions = {
      method,
      host: this.base.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: this.base.port || (this.base.protocol === 'https:' ? 443 : 80),
      path: `${this.base.pathname.replace(/\/$/, '')}${path}`,
      agent: this.agent,
      headers: {
        accept: 'application/json',
        ...headers,
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
    };
    return this.base.protocol === 'https:' ? https.request(options) : http.request(options);
  }

  request(
    method: Method,
    path: string,
    options: { body?: unknown; contentType?: string; timeoutMs: number },
  ): Promise<ApiResponse> {
    return new Promise((resolve, reject) => {
      const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
      const req = this.open(
        method,
        path,
        payload === undefined
          ? {}
          : {
              'content-type': options.contentType ?? 'application/json',
              'content-length': String(Buffer.byteLength(payload)),
            },
      );
      const timer = setTimeout(
        () => req.destroy(new Error(`${method} ${path}: timed out after ${options.timeoutMs} ms`)),
        options.timeoutMs,
      );
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // not JSON: keep the text for the error message
          }
          resolve({ status: res.statusCode ?? 0, body });
        });
      });
      req.end(payload);
    });
  }

  /**
   * A watch: `onEvent` per line; `onDone` once, with an error unless the server ended it.
   * A connection silent for `idleMs` counts as dead. Returns a function that aborts it.
   */
  watch(
    path: string,
    params: Record<string, string | number | boolean>,
    onEvent: (type: string, object: unknown) => void,
    onDone: (err?: Error) => void,
    idleMs: number,
  ): () => void {
    const query = new URLSearchParams({ watch: 'true' });
    for (const [k, v] of Object.entries(params)) query.set(k, String(v));
    const req = this.open('GET', `${path}?${query.toString()}`, {});
    let finished = false;
    const done = (err?: Error): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      req.destroy();
      onDone(err);
    };
    let timer = setTimeout(() => done(new Error(`watch ${path}: no data for ${idleMs} ms`)), idleMs);
    const alive = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => done(new Error(`watch ${path}: no data for ${idleMs} ms`)), idleMs);
    };
    req.on('error', (e) => done(e));
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        done(new ApiError(res.statusCode ?? 0, `watch ${path}: HTTP ${res.statusCode}`));
        return;
      }
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        alive();
        buffer += chunk;
        let nl;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (!line) continue;
          try {
            const event = JSON.parse(line) as unknown;
            if (isJson(event) && typeof event.type === 'string') onEvent(event.type, event.object);
          } catch {
            // a torn line only happens when the connection breaks, which ends the watch anyway
          }
        }
      });
      res.on('end', () => done());
      res.on('error', (e) => done(e));
      res.on('close', () => done(finished ? undefined : new Error(`watch ${path}: connection closed`)));
    });
    req.end();
    return () => done();
  }
}

function keyOf(o: unknown): string | undefined {
  const meta = isJson(o) && isJson(o.metadata) ? o.metadata : undefined;
  const name = str(meta?.name);
  return name ? `${str(meta?.namespace) ?? ''}/${name}` : undefined;
}

function resourceVersionOf(o: unknown): string | undefined {
  const meta = isJson(o) && isJson(o.metadata) ? o.metadata : undefined;
  return str(meta?.resourceVersion);
}

/**
 * Keeps `items` equal to a collection: list, then watch from the list's resourceVersion; when a
 * watch ends, watch again from the last version seen; on an error, or when that version is too old
 * (410), list again. `synced` is false from an error until the collection is whole again.
 */
export class ListWatch {
  readonly items = new Map<string, unknown>();
  synced = false;
  private resourceVersion?: string;
  private stopped = false;
  private abort?: () => void;
  private backoffMs = 100;

  constructor(
    private readonly client: KubeClient,
    private readonly path: string,
    private readonly changed: () => void,
    private readonly failed: (what: string, err: unknown) => void,
    /** A watch silent this long is dead; default: bookmarks come about once a minute. */
    private readonly idleMs?: number,
  ) {}

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.();
  }

  /** Records an object the speaker itself just wrote, ahead of its watch event. */
  apply(object: unknown): void {
    const key = keyOf(object);
    if (!key) return;
    // resourceVersions are opaque, but etcd and kine give integers: never go back to an older copy.
    const known = Number(resourceVersionOf(this.items.get(key)));
    const offered = Number(resourceVersionOf(object));
    if (Number.isFinite(known) && Number.isFinite(offered) && offered < known) return;
    this.items.set(key, object);
  }

  private setSynced(value: boolean): void {
    if (this.synced !== value) {
      this.synced = value;
      this.changed();
    }
  }

  private async list(): Promise<void> {
    const body = expectOk(
      `list ${this.path}`,
      await this.client.request('GET', this.path, { timeoutMs: 10_000 }),
    );
    const items = isJson(body) && Array.isArray(body.items) ? body.items : [];
    this.items.clear();
    for (const item of items) {
      const key = keyOf(item);
      if (key) this.items.set(key, item);
    }
    this.resourceVersion =
      isJson(body) && isJson(body.metadata) ? str(body.metadata.resourceVersion) : undefined;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        if (this.resourceVersion === undefined) {
          await this.list();
          this.setSynced(true);
          this.changed();
        }
        const gone = await this.watchOnce();
        if (gone) this.resourceVersion = undefined;
        this.backoffMs = 100;
      } catch (err) {
        if (this.stopped) return;
        this.setSynced(false);
        this.resourceVersion = undefined;
        this.failed(this.path, err);
        await new Promise((r) => setTimeout(r, this.backoffMs));
        this.backoffMs = Math.min(this.backoffMs * 2, 2000);
      }
    }
  }

  /** One watch connection; resolves true when the resourceVersion is too old, rejects on errors. */
  private watchOnce(): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      let gone = false;
      const timeoutSeconds = 240 + Math.floor(Math.random() * 60);
      this.abort = this.client.watch(
        this.path,
        {
          allowWatchBookmarks: true,
          timeoutSeconds,
          ...(this.resourceVersion ? { resourceVersion: this.resourceVersion } : {}),
        },
        (type, object) => {
          if (type === 'ERROR') {
            gone = true;
            return;
          }
          const rv = resourceVersionOf(object);
          if (rv) this.resourceVersion = rv;
          if (type === 'BOOKMARK') return;
          const key = keyOf(object);
          if (!key) return;
          if (type === 'DELETED') this.items.delete(key);
          else this.items.set(key, object);
          this.changed();
        },
        (err) => (err ? reject(err) : resolve(gone)),
        this.idleMs ?? (timeoutSeconds + 30) * 1000,
      );
    });
  }
}
