// A small JSON client over node:https for the test bed (creating objects, reading their status):
// raw requests with status codes, which the tests assert on. The speaker itself reads and writes
// the cluster through @kubernetes/client-node (images/speaker/cluster.ts).
// A kubeconfig supplies the server, CA, and token or client certificate.
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
}
