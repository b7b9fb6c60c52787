// The API server, reachable from inside node namespaces: a process whose network is a node's
// namespace (a speaker that binds its heartbeat socket to the node's address) sees only that
// namespace's loopback. testbed/relay.mjs listens on 127.0.0.1:<port> inside each namespace and pipes
// every connection to a Unix socket, whose root end here connects to the API server. Stopping the
// relay of one namespace cuts that node from the API only.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dump, load } from 'js-yaml';
import { spawnTracked, waitForLine } from './harness';

/** The port the relay listens on inside every namespace (the API server's usual one). */
export const RELAY_PORT = 6443;

export class NetnsApiRelay {
  private readonly dir = mkdtempSync(join(tmpdir(), 'l2lb-relay-'));
  private readonly socketPath = join(this.dir, 'api.sock');
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly relays = new Map<string, ChildProcess>();

  constructor(
    /** The control plane's kubeconfig and server (https://127.0.0.1:<port>). */
    private readonly kubeconfig: string,
    private readonly apiServer: string,
  ) {
    // A run that dies before stop() (Ctrl-C in the demo) leaves no socket or kubeconfig behind.
    process.once('exit', () => rmSync(this.dir, { recursive: true, force: true }));
  }

  private async listen(): Promise<void> {
    if (this.server) return;
    const api = new URL(this.apiServer);
    const server = net.createServer((client) => {
      const upstream = net.connect(Number(api.port), api.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((res, rej) => {
      server.once('error', rej);
      server.listen(this.socketPath, () => res());
    });
    this.server = server;
  }

  /** Starts the relay inside `netns` (once) and returns a kubeconfig that goes through it. */
  async kubeconfigFor(netns: string): Promise<string> {
    await this.listen();
    if (!this.relays.has(netns)) {
      const child = spawnTracked([
        'ip',
        'netns',
        'exec',
        netns,
        process.execPath,
        join(__dirname, 'relay.mjs'),
        String(RELAY_PORT),
        this.socketPath,
      ]);
      this.relays.set(netns, child);
      await waitForLine(child, /^listening$/, 10_000);
    }
    const doc = load(readFileSync(this.kubeconfig, 'utf8')) as {
      clusters: { cluster: { server: string } }[];
    };
    for (const c of doc.clusters) c.cluster.server = `https://127.0.0.1:${RELAY_PORT}`;
    const out = join(this.dir, `kubeconfig-${netns}`);
    writeFileSync(out, dump(doc), { mode: 0o600 });
    return out;
  }

  /** Stops every relay and the socket, and removes the scratch directory. */
  async stop(): Promise<void> {
    for (const child of this.relays.values()) child.kill('SIGTERM');
    this.relays.clear();
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
