// The heartbeat shell: UDP sockets bound to the node's own addresses (one per family), a beat to
// every peer each interval, and every datagram received handed to the pure HeartbeatReceiver
// (lib/speaker/heartbeat). Peers and their endpoints come from the Leases (peers.ts); the state
// changes go to `changed` so that the speaker decides again at once.
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, type Registry } from 'prom-client';
import { combineLiveness, isolated, type LeaseLiveness } from '../../lib/speaker/heartbeat/combine';
import { parseHeartbeatConfig } from '../../lib/speaker/heartbeat/config';
import type { PeerState, Transition, Verdict } from '../../lib/speaker/heartbeat/liveness';
import type { LeaseState } from '../../lib/model';
import {
  formatEndpoints,
  peersFromLeases,
  type Endpoint,
  type HeartbeatPeer,
} from '../../lib/speaker/heartbeat/peers';
import { HeartbeatReceiver } from '../../lib/speaker/heartbeat/receiver';
import {
  encodeBeat,
  heartbeatKey,
  LAST_SEQUENCE,
  MAX_BEAT_BYTES,
  type HeartbeatKey,
} from '../../lib/speaker/heartbeat/wire';
import type { Logger } from './log';

export interface HeartbeatOptions {
  node: string;
  /** The node's own addresses to bind (one IPv4 and/or one IPv6). */
  bind: readonly string[];
  port: number;
  /** The first key signs; all of them are accepted. */
  keys: readonly HeartbeatKey[];
  intervalMs: number;
  missCount: number;
  log: Logger;
  registry: Registry;
  /** A peer changed state (alive, dead, leaving). */
  changed: (t: Transition) => void;
  /** Monotonic ms (default performance.now) and wall-clock ms (default Date.now): tests inject. */
  monotonic?: () => number;
  wall?: () => number;
}

const PEER_STATES: readonly PeerState[] = ['unknown', 'alive', 'dead', 'leaving'];
/** A drop of the same reason is logged at most this often (a hostile sender must not flood the log). */
const DROP_LOG_EVERY_MS = 60_000;

export class HeartbeatMetrics {
  readonly peers: Gauge<'state'>;
  readonly sent: Counter;
  readonly received: Counter;
  readonly dropped: Counter<'reason'>;
  readonly missed: Counter<'peer'>;
  readonly transitions: Counter<'to'>;
  readonly sendFailures: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.peers = new Gauge({
      name: 'l2lb_speaker_heartbeat_peers',
      help: 'Peer speakers by heartbeat state (unknown: never heard, so the Lease alone decides).',
      labelNames: ['state'] as const,
      registers,
    });
    this.sent = new Counter({
      name: 'l2lb_speaker_heartbeat_sent_total',
      help: 'Heartbeat datagrams sent.',
      registers,
    });
    this.received = new Counter({
      name: 'l2lb_speaker_heartbeat_received_total',
      help: 'Heartbeat datagrams accepted: authentic, from a peer, not replayed.',
      registers,
    });
    this.dropped = new Counter({
      name: 'l2lb_speaker_heartbeat_dropped_total',
      help: 'Datagrams on the heartbeat port dropped, by reason (truncated, oversized, bad_magic, wrong_version, malformed, wrong_key, bad_mac, replayed, clock_skew, self, unknown_peer).',
      labelNames: ['reason'] as const,
      registers,
    });
    this.missed = new Counter({
      name: 'l2lb_speaker_heartbeat_beats_missed_total',
      help: 'Beats of a peer that never arrived (gaps in its sequence numbers).',
      labelNames: ['peer'] as const,
      registers,
    });
    this.transitions = new Counter({
      name: 'l2lb_speaker_heartbeat_peer_transitions_total',
      help: 'Peer state changes by heartbeat, by the new state (alive, dead, leaving).',
      labelNames: ['to'] as const,
      registers,
    });
    this.sendFailures = new Counter({
      name: 'l2lb_speaker_heartbeat_send_failures_total',
      help: 'Heartbeat datagrams the kernel refused to send.',
      registers,
    });
  }
}

/** The shortest key accepted: the module writes 32 random bytes. */
const MIN_KEY_BYTES = 16;

/** The key in the mounted Secret's file (its raw bytes). Throws naming the file and what is wrong. */
export function readHeartbeatKey(path: string): HeartbeatKey {
  let secret: Buffer;
  try {
    secret = readFileSync(path);
  } catch (e) {
    const why = typeof e === 'object' && e !== null && 'message' in e ? String(e.message) : String(e);
    throw new Error(`heartbeat key ${path}: ${why}`);
  }
  if (secret.length < MIN_KEY_BYTES)
    throw new Error(`heartbeat key ${path}: ${secret.length} bytes, want at least ${MIN_KEY_BYTES}`);
  return heartbeatKey(secret);
}

const family = (address: string): 'udp4' | 'udp6' => (address.includes(':') ? 'udp6' : 'udp4');

/**
 * The heartbeats as the environment sets them (lib/speaker/heartbeat/config.ts), started; undefined
 * when they cannot run (no key file, no node address, an unreadable key, a port taken), each said
 * in the log: the speaker then runs on its Lease alone, and its peers, never hearing it, judge it by
 * its Lease too.
 */
export async function startHeartbeats(
  env: Readonly<Record<string, string | undefined>>,
  o: Pick<HeartbeatOptions, 'node' | 'log' | 'registry' | 'changed'>,
): Promise<Heartbeats | undefined> {
  const { config, errors } = parseHeartbeatConfig(env);
  for (const e of errors) o.log.warn('bad heartbeat configuration, using the default', { error: e });
  const off = (why: string, fields: Record<string, unknown> = {}): undefined => {
    o.log.error(`heartbeats off: ${why}; the Leases alone decide`, fields);
    return undefined;
  };
  if (!config.keyFile) return off('no key file (HEARTBEAT_KEY_FILE)');
  if (config.bind.length === 0) return off('no node address to bind (NODE_IP or NODE_IPS)');
  let key: HeartbeatKey;
  try {
    key = readHeartbeatKey(config.keyFile);
  } catch (e) {
    return off('cannot read the key', { error: e instanceof Error ? e.message : String(e) });
  }
  const heartbeats = new Heartbeats({ ...o, ...config, keys: [key] });
  try {
    await heartbeats.start();
  } catch (e) {
    heartbeats.stop();
    return off('cannot bind the heartbeat socket', {
      bind: config.bind,
      port: config.port,
      error: e instanceof Error ? e.message : String(e),
    });
  }
  return heartbeats;
}

export class Heartbeats {
  readonly receiver: HeartbeatReceiver;
  readonly metrics: HeartbeatMetrics;
  private readonly sockets = new Map<'udp4' | 'udp6', Socket>();
  private peers: readonly HeartbeatPeer[] = [];
  private readonly epoch: { value: number; sequence: number };
  private leaving = false;
  private sendTimer?: NodeJS.Timeout;
  private deadlineTimer?: NodeJS.Timeout;
  private readonly dropLoggedAt = new Map<string, number>();
  private readonly monotonic: () => number;
  private readonly wall: () => number;

  constructor(private readonly o: HeartbeatOptions) {
    this.monotonic = o.monotonic ?? (() => performance.now());
    this.wall = o.wall ?? (() => Date.now());
    this.receiver = new HeartbeatReceiver(o.node, o.keys, {
      intervalMs: o.intervalMs,
      missCount: o.missCount,
    });
    this.metrics = new HeartbeatMetrics(o.registry);
    this.epoch = { value: Math.floor(this.wall()), sequence: 0 };
    this.updatePeerGauge();
  }

  /** Binds one socket per family of `bind` and starts sending. */
  async start(): Promise<void> {
    for (const address of this.o.bind) {
      const type = family(address);
      if (this.sockets.has(type)) continue;
      const socket = createSocket({ type, reuseAddr: false });
      socket.on('message', (msg) => this.onMessage(msg));
      socket.on('error', (e) => this.o.log.warn('heartbeat socket error', { address, error: e.message }));
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind({ address, port: this.o.port, exclusive: true }, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      this.sockets.set(type, socket);
    }
    this.o.log.info('heartbeats started', {
      bind: this.o.bind,
      port: this.o.port,
      intervalMs: this.o.intervalMs,
      missCount: this.o.missCount,
    });
    this.sendTimer = setInterval(() => this.beat(), this.o.intervalMs);
    this.beat();
  }

  /** The endpoints this speaker listens on (for its Lease annotation). */
  endpoints(): Endpoint[] {
    return this.o.bind.map((address) => ({ address, port: this.o.port }));
  }

  /** The peer set, from the Leases (this node is left out). */
  setPeers(peers: readonly HeartbeatPeer[]): void {
    this.peers = peers.filter((p) => p.node !== this.o.node);
    this.receiver.setPeers(this.peers.map((p) => p.node));
    this.updatePeerGauge();
  }

  /** The peers, from the speaker Leases as the watch last delivered them. */
  observe(leases: readonly LeaseState[]): void {
    const peers = peersFromLeases(leases);
    const key = (ps: readonly HeartbeatPeer[]): string =>
      ps
        .map((p) => `${p.node}=${formatEndpoints(p.endpoints)}`)
        .sort()
        .join(' ');
    if (key(peers.filter((p) => p.node !== this.o.node)) !== key(this.peers)) this.setPeers(peers);
  }

  state(node: string): PeerState {
    return this.receiver.tracker.state(node);
  }

  states(): ReadonlyMap<string, PeerState> {
    return this.receiver.tracker.states();
  }

  verdict(node: string): Verdict | undefined {
    return this.receiver.tracker.verdicts().get(node);
  }

  verdicts(): ReadonlyMap<string, Verdict> {
    return this.receiver.tracker.verdicts();
  }

  /** decide()'s `liveUntil`: the Lease liveness of each node with the heartbeats folded in. */
  liveUntil(leases: ReadonlyMap<string, LeaseLiveness>, now: number): Map<string, number> {
    return combineLiveness(leases, this.receiver.tracker.verdicts(), now, this.receiver.tracker.detectionMs);
  }

  /** Peers heard before, none heard now (combine.ts). */
  isolated(): boolean {
    return isolated(this.receiver.tracker.verdicts());
  }

  /** From now on every beat says "leaving"; one goes out at once. */
  leave(): void {
    this.leaving = true;
    this.beat();
  }

  stop(): void {
    if (this.sendTimer) clearInterval(this.sendTimer);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
  }

  private beat(): void {
    setImmediate(() => this.evaluate());
    const key = this.o.keys[0];
    if (!key) return;
    if (this.epoch.sequence >= LAST_SEQUENCE) {
      // Sequence space used up (years at 10 beats/s): a new epoch, later than the old one.
      this.epoch.value = Math.max(Math.floor(this.wall()), this.epoch.value + 1);
      this.epoch.sequence = 0;
    }
    const bytes = encodeBeat(
      {
        sender: this.o.node,
        epoch: this.epoch.value,
        sequence: this.epoch.sequence++,
        sentAt: Math.floor(this.wall()),
        leaving: this.leaving,
      },
      key,
    );
    for (const peer of this.peers) {
      // One datagram per peer: IPv4 when both ends have it, else IPv6 (two would count as a replay).
      const to =
        peer.endpoints.find((e) => family(e.address) === 'udp4' && this.sockets.has('udp4')) ??
        peer.endpoints.find((e) => family(e.address) === 'udp6' && this.sockets.has('udp6'));
      const socket = to && this.sockets.get(family(to.address));
      if (!to || !socket) continue;
      socket.send(bytes, to.port, to.address, (err) => {
        if (err) this.metrics.sendFailures.inc();
        else this.metrics.sent.inc();
      });
    }
  }

  private onMessage(msg: Buffer): void {
    const got = this.receiver.receive(msg, this.monotonic(), this.wall());
    if (!got.ok) {
      this.metrics.dropped.inc({ reason: got.reason });
      const last = this.dropLoggedAt.get(got.reason) ?? Number.NEGATIVE_INFINITY;
      const now = this.monotonic();
      if (now - last >= DROP_LOG_EVERY_MS && got.reason !== 'self') {
        this.dropLoggedAt.set(got.reason, now);
        this.o.log.warn('heartbeat datagram dropped (logged once a minute per reason)', {
          reason: got.reason,
          sender: got.sender,
          bytes: Math.min(msg.length, MAX_BEAT_BYTES + 1),
        });
      }
      return;
    }
    this.metrics.received.inc();
    if (got.missed > 0) this.metrics.missed.inc({ peer: got.beat.sender }, got.missed);
    if (got.transition) this.transition(got.transition);
    this.armDeadline();
  }

  /** Runs after pending socket reads (setImmediate): a peer is never judged before its beat is read. */
  private armDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    const next = this.receiver.tracker.nextDeadline();
    if (!Number.isFinite(next)) return;
    const delay = Math.max(0, next - this.monotonic()) + 1;
    this.deadlineTimer = setTimeout(() => setImmediate(() => this.evaluate()), delay);
  }

  private evaluate(): void {
    for (const t of this.receiver.tracker.tick(this.monotonic())) this.transition(t);
    this.armDeadline();
  }

  private transition(t: Transition): void {
    this.metrics.transitions.inc({ to: t.to });
    this.updatePeerGauge();
    const fields = { peer: t.peer, from: t.from, to: t.to };
    if (t.to === 'dead') this.o.log.warn('peer silent: dead by heartbeat', fields);
    else this.o.log.info('peer state by heartbeat', fields);
    this.o.changed(t);
  }

  private updatePeerGauge(): void {
    const counts = new Map<PeerState, number>(PEER_STATES.map((s) => [s, 0]));
    for (const s of this.receiver.tracker.states().values()) counts.set(s, (counts.get(s) ?? 0) + 1);
    for (const [state, n] of counts) this.metrics.peers.set({ state }, n);
  }
}
