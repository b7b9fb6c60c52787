import { combineLiveness, isolated, takeoverCause } from '../../lib/speaker/heartbeat/combine';
import { LivenessTracker, type PeerState } from '../../lib/speaker/heartbeat/liveness';
import { HeartbeatReceiver } from '../../lib/speaker/heartbeat/receiver';
import { parseHeartbeatConfig } from '../../lib/speaker/heartbeat/config';
import { formatEndpoints, parseEndpoints, peersFromLeases } from '../../lib/speaker/heartbeat/peers';
import { ReplayGuard } from '../../lib/speaker/heartbeat/replay';
import {
  encodeBeat,
  heartbeatKey,
  HEARTBEAT_VERSION,
  MAX_BEAT_BYTES,
  parseBeat,
  type Beat,
} from '../../lib/speaker/heartbeat/wire';

const KEY = heartbeatKey(
  Buffer.from('5f0c1e2d3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f', 'hex'),
);
const OTHER = heartbeatKey(
  Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex'),
);
const RING = new Map([[KEY.id, KEY.secret]]);
const WALL = Date.parse('2026-12-03T22:40:00Z');

const beat = (over: Partial<Beat> = {}): Beat => ({
  sender: 'lb-node-2',
  epoch: WALL - 60_000,
  sequence: 7,
  sentAt: WALL,
  leaving: false,
  ...over,
});

describe('heartbeat datagram', () => {
  it('reads back every field it was written with', () => {
    const b = beat({ sender: 'worker-03.dc1.example.com', sequence: 0xfffffffe, leaving: true });
    expect(parseBeat(encodeBeat(b, KEY), RING)).toEqual({ ok: true, beat: b });
  });

  it('is at most MAX_BEAT_BYTES long for the longest node name', () => {
    const name = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
    const bytes = encodeBeat(beat({ sender: name }), KEY);
    expect(bytes.length).toBe(MAX_BEAT_BYTES);
    expect(parseBeat(bytes, RING).ok).toBe(true);
  });

  it('drops a datagram cut anywhere short as truncated (or as foreign when the magic is cut)', () => {
    const bytes = encodeBeat(beat(), KEY);
    for (let n = 0; n < bytes.length; n++) {
      const r = parseBeat(bytes.subarray(0, n), RING);
      expect(r).toEqual({ ok: false, reason: 'truncated' });
    }
  });

  it('drops a datagram longer than any heartbeat as oversized before reading it', () => {
    const bytes = Buffer.concat([encodeBeat(beat(), KEY), Buffer.alloc(MAX_BEAT_BYTES)]);
    expect(parseBeat(bytes, RING)).toEqual({ ok: false, reason: 'oversized' });
  });

  it('drops trailing bytes after the MAC as malformed', () => {
    const bytes = Buffer.concat([encodeBeat(beat(), KEY), Buffer.from([0])]);
    expect(parseBeat(bytes, RING)).toEqual({ ok: false, reason: 'malformed' });
  });

  it('drops another protocol and another version by their header', () => {
    const bytes = encodeBeat(beat(), KEY);
    const foreign = Buffer.from(bytes);
    foreign.write('SWIM', 0, 'ascii');
    expect(parseBeat(foreign, RING)).toEqual({ ok: false, reason: 'bad_magic' });
    const future = Buffer.from(bytes);
    future.writeUInt8(HEARTBEAT_VERSION + 1, 4);
    expect(parseBeat(future, RING)).toEqual({ ok: false, reason: 'wrong_version' });
  });

  it('drops a beat signed with a key it does not hold, and one whose MAC does not match', () => {
    expect(parseBeat(encodeBeat(beat(), OTHER), RING)).toEqual({ ok: false, reason: 'wrong_key' });
    // The right key id with another secret: a forger who guessed the id.
    const forged = encodeBeat(beat(), { id: KEY.id, secret: OTHER.secret });
    expect(parseBeat(forged, RING)).toEqual({ ok: false, reason: 'bad_mac' });
  });

  it('drops a beat with any single bit flipped', () => {
    const bytes = encodeBeat(beat(), KEY);
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const flipped = Buffer.from(bytes);
      flipped[bit >> 3] = (flipped[bit >> 3] ?? 0) ^ (1 << (bit & 7));
      expect(parseBeat(flipped, RING).ok).toBe(false);
    }
  });

  it('accepts a beat under either key of a ring during a rotation', () => {
    const ring = new Map([
      [KEY.id, KEY.secret],
      [OTHER.id, OTHER.secret],
    ]);
    expect(parseBeat(encodeBeat(beat(), OTHER), ring).ok).toBe(true);
    expect(parseBeat(encodeBeat(beat(), KEY), ring).ok).toBe(true);
  });

  it('refuses to write a beat no receiver would take', () => {
    expect(() => encodeBeat(beat({ sender: 'Not_A_Node' }), KEY)).toThrow(/not a node name/);
    expect(() => encodeBeat(beat({ sequence: -1 }), KEY)).toThrow(/sequence/);
    expect(() => encodeBeat(beat({ epoch: 1.5 }), KEY)).toThrow(/epoch/);
  });
});

describe('replay guard', () => {
  it('accepts each sequence number of an epoch once, in any order within the window', () => {
    const g = new ReplayGuard({ window: 64, maxClockSkewMs: 30_000 });
    expect(g.check(beat({ sequence: 10 }), WALL)).toBe('accept');
    expect(g.check(beat({ sequence: 12 }), WALL)).toBe('accept');
    expect(g.check(beat({ sequence: 11 }), WALL)).toBe('accept');
    expect(g.check(beat({ sequence: 11 }), WALL)).toBe('replayed');
    expect(g.check(beat({ sequence: 12 }), WALL)).toBe('replayed');
    expect(g.check(beat({ sequence: 10 }), WALL)).toBe('replayed');
  });

  it('calls a sequence number older than the window a replay', () => {
    const g = new ReplayGuard({ window: 8, maxClockSkewMs: 30_000 });
    expect(g.check(beat({ sequence: 100 }), WALL)).toBe('accept');
    expect(g.check(beat({ sequence: 93 }), WALL)).toBe('accept');
    expect(g.check(beat({ sequence: 92 }), WALL)).toBe('replayed');
    expect(g.check(beat({ sequence: 200 }), WALL)).toBe('accept');
    expect(g.check(beat({ sequence: 199 }), WALL)).toBe('accept');
    expect(g.check(beat({ sequence: 150 }), WALL)).toBe('replayed');
  });

  it('takes a restarted sender (newer epoch) and refuses its older epoch from then on', () => {
    const g = new ReplayGuard({ window: 64, maxClockSkewMs: 30_000 });
    expect(g.check(beat({ epoch: 1000, sequence: 500 }), WALL)).toBe('accept');
    expect(g.check(beat({ epoch: 2000, sequence: 0 }), WALL)).toBe('accept');
    expect(g.check(beat({ epoch: 1000, sequence: 501 }), WALL)).toBe('replayed');
    expect(g.check(beat({ epoch: 2000, sequence: 1 }), WALL)).toBe('accept');
  });

  it('opens an epoch only for a beat sent within the clock skew bound of its own clock', () => {
    const g = new ReplayGuard({ window: 64, maxClockSkewMs: 30_000 });
    expect(g.check(beat({ sentAt: WALL - 31_000 }), WALL)).toBe('clock_skew');
    expect(g.check(beat({ sentAt: WALL + 31_000 }), WALL)).toBe('clock_skew');
    expect(g.check(beat({ sentAt: WALL - 29_000 }), WALL)).toBe('accept');
    // Inside an open epoch the send time no longer matters: a sender's clock may step.
    expect(g.check(beat({ sequence: 8, sentAt: WALL - 120_000 }), WALL)).toBe('accept');
  });

  it('keeps the senders apart', () => {
    const g = new ReplayGuard({ window: 64, maxClockSkewMs: 30_000 });
    expect(g.check(beat({ sender: 'lb-node-1' }), WALL)).toBe('accept');
    expect(g.check(beat({ sender: 'lb-node-2' }), WALL)).toBe('accept');
    expect(g.check(beat({ sender: 'lb-node-1' }), WALL)).toBe('replayed');
  });
});

describe('liveness tracker', () => {
  const settings = { intervalMs: 100, missCount: 4 };

  it('leaves a peer it never heard unknown, so that the Lease alone decides about it', () => {
    const t = new LivenessTracker(settings);
    t.setPeers(['lb-node-1', 'lb-node-2']);
    t.tick(0);
    expect(t.tick(10_000)).toEqual([]);
    expect(t.state('lb-node-1')).toBe('unknown');
    expect(t.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
  });

  it('declares a heard peer dead after missCount intervals without a beat, not before', () => {
    const t = new LivenessTracker(settings);
    t.setPeers(['lb-node-2']);
    expect(t.heard(beat({ sequence: 1 }), 1000).transition).toEqual({
      peer: 'lb-node-2',
      from: 'unknown',
      to: 'alive',
      at: 1000,
    });
    expect(t.nextDeadline()).toBe(1400);
    for (let now = 1100; now < 1400; now += 100) expect(t.tick(now)).toEqual([]);
    expect(t.state('lb-node-2')).toBe('alive');
    expect(t.tick(1400)).toEqual([{ peer: 'lb-node-2', from: 'alive', to: 'dead', at: 1400 }]);
    expect(t.state('lb-node-2')).toBe('dead');
  });

  it('brings a dead peer back alive with its next beat', () => {
    const t = new LivenessTracker(settings);
    t.setPeers(['lb-node-2']);
    t.heard(beat({ sequence: 1 }), 0);
    for (let now = 100; now <= 400; now += 100) t.tick(now);
    expect(t.state('lb-node-2')).toBe('dead');
    expect(t.heard(beat({ sequence: 9 }), 900).transition?.to).toBe('alive');
  });

  it('counts the beats lost between two it heard of the same epoch', () => {
    const t = new LivenessTracker(settings);
    t.setPeers(['lb-node-2']);
    t.heard(beat({ sequence: 1 }), 0);
    expect(t.heard(beat({ sequence: 4 }), 300).missed).toBe(2);
    expect(t.heard(beat({ epoch: WALL, sequence: 0 }), 400).missed).toBe(0);
    expect(t.report()).toEqual([{ peer: 'lb-node-2', state: 'alive', beatsMissed: 2, beatsHeard: 3 }]);
  });

  it('marks a peer that says it is leaving, and keeps it leaving without a deadline', () => {
    const t = new LivenessTracker(settings);
    t.setPeers(['lb-node-2']);
    t.heard(beat({ sequence: 1 }), 0);
    expect(t.heard(beat({ sequence: 2, leaving: true }), 50).transition?.to).toBe('leaving');
    expect(t.tick(5000)).toEqual([]);
    expect(t.state('lb-node-2')).toBe('leaving');
  });

  it('gives alive peers two more intervals when its own clock jumped (it was paused itself)', () => {
    const t = new LivenessTracker(settings);
    t.setPeers(['lb-node-2']);
    t.tick(0);
    t.heard(beat({ sequence: 1 }), 0);
    // Paused from 100 to 1000 ms: the peer's beats wait in the socket buffer.
    expect(t.tick(1000)).toEqual([]);
    expect(t.state('lb-node-2')).toBe('alive');
    expect(t.nextDeadline()).toBe(1200);
    expect(t.tick(1100)).toEqual([]);
    expect(t.tick(1200).map((x) => x.to)).toEqual(['dead']);
  });

  it('forgets a peer removed from the set, and starts a re-added one unknown', () => {
    const t = new LivenessTracker(settings);
    t.setPeers(['lb-node-2']);
    t.heard(beat(), 0);
    t.setPeers([]);
    expect(t.report()).toEqual([]);
    t.setPeers(['lb-node-2']);
    expect(t.state('lb-node-2')).toBe('unknown');
  });
});

describe('heartbeat receiver', () => {
  const receiver = (): HeartbeatReceiver => {
    const r = new HeartbeatReceiver('lb-node-1', [KEY], { intervalMs: 100, missCount: 4 });
    r.setPeers(['lb-node-1', 'lb-node-2']);
    return r;
  };

  it('counts an authentic beat of a peer for its liveness', () => {
    const r = receiver();
    const got = r.receive(encodeBeat(beat(), KEY), 5, WALL);
    expect(got).toMatchObject({ ok: true, transition: { peer: 'lb-node-2', to: 'alive' } });
    expect(r.tracker.state('lb-node-2')).toBe('alive');
  });

  it('drops its own echo, a stranger, a replay and a forgery, and none of them makes anyone alive', () => {
    const r = receiver();
    expect(r.receive(encodeBeat(beat({ sender: 'lb-node-1' }), KEY), 0, WALL)).toEqual({
      ok: false,
      reason: 'self',
      sender: 'lb-node-1',
    });
    expect(r.receive(encodeBeat(beat({ sender: 'lb-node-9' }), KEY), 0, WALL)).toMatchObject({
      reason: 'unknown_peer',
    });
    expect(r.receive(encodeBeat(beat(), OTHER), 0, WALL)).toEqual({ ok: false, reason: 'wrong_key' });
    expect(r.tracker.state('lb-node-2')).toBe('unknown');
    const captured = encodeBeat(beat(), KEY);
    expect(r.receive(captured, 0, WALL).ok).toBe(true);
    for (let now = 0; now <= 400; now += 100) r.tracker.tick(now);
    expect(r.tracker.state('lb-node-2')).toBe('dead');
    expect(r.receive(captured, 450, WALL + 450)).toMatchObject({ ok: false, reason: 'replayed' });
    expect(r.tracker.state('lb-node-2')).toBe('dead');
  });

  it('takes beats under a new key once the ring holds it', () => {
    const r = receiver();
    expect(r.receive(encodeBeat(beat(), OTHER), 0, WALL)).toMatchObject({ reason: 'wrong_key' });
    r.setKeys([KEY, OTHER]);
    expect(r.receive(encodeBeat(beat(), OTHER), 0, WALL).ok).toBe(true);
  });
});

describe('heartbeat endpoints in the Lease annotation', () => {
  it('reads back what it wrote, IPv4 and IPv6, canonically', () => {
    const endpoints = [
      { address: '192.0.2.11', port: 7947 },
      { address: '2001:db8::11', port: 7947 },
    ];
    expect(formatEndpoints(endpoints)).toBe('192.0.2.11:7947,[2001:db8::11]:7947');
    expect(parseEndpoints(formatEndpoints(endpoints))).toEqual(endpoints);
    expect(parseEndpoints('[2001:DB8:0::11]:7947')).toEqual([{ address: '2001:db8::11', port: 7947 }]);
  });

  it('leaves out entries that are no address and port, without throwing', () => {
    expect(
      parseEndpoints('192.0.2.11,192.0.2.300:7947,[192.0.2.1]:7947,2001:db8::1:7947,192.0.2.12:0,x:1'),
    ).toEqual([]);
    expect(parseEndpoints(undefined)).toEqual([]);
    expect(parseEndpoints(' 192.0.2.12:7947 ,junk')).toEqual([{ address: '192.0.2.12', port: 7947 }]);
  });
});

describe('heartbeat settings from the environment', () => {
  it('takes what the DaemonSet sets', () => {
    expect(
      parseHeartbeatConfig({
        NODE_IP: '192.0.2.11',
        HEARTBEAT_INTERVAL_MS: '100',
        HEARTBEAT_MISS_COUNT: '6',
        HEARTBEAT_PORT: '7950',
        HEARTBEAT_KEY_FILE: '/etc/l2lb/heartbeat/key',
      }),
    ).toEqual({
      config: {
        intervalMs: 100,
        missCount: 6,
        port: 7950,
        bind: ['192.0.2.11'],
        keyFile: '/etc/l2lb/heartbeat/key',
      },
      errors: [],
    });
  });

  it('prefers NODE_IPS (both families) and names each bad value, keeping the default', () => {
    const { config, errors } = parseHeartbeatConfig({
      NODE_IP: '192.0.2.11',
      NODE_IPS: '192.0.2.11,2001:DB8::11,eth0',
      HEARTBEAT_INTERVAL_MS: '5',
      HEARTBEAT_MISS_COUNT: 'many',
    });
    expect(config).toEqual({
      intervalMs: 50,
      missCount: 10,
      port: 7947,
      bind: ['192.0.2.11', '2001:db8::11'],
    });
    expect(errors).toEqual([
      'NODE_IP(S): "eth0" is not an IP address',
      'HEARTBEAT_INTERVAL_MS="5": want an integer from 10 to 1000',
      'HEARTBEAT_MISS_COUNT="many": want an integer from 3 to 100',
    ]);
  });
});

describe('heartbeat and Lease together', () => {
  const NEVER = Number.NEGATIVE_INFINITY;
  const lease = (liveUntil: number, renewedSeenAt: number) => ({ liveUntil, renewedSeenAt });

  it('keeps a node heard on the network alive after its Lease expired (cut from the API only)', () => {
    const live = combineLiveness(
      new Map([['lb-node-2', lease(1_000, -29_000)]]),
      new Map([['lb-node-2', { state: 'alive' as const, since: 0 }]]),
      5_000,
      500,
    );
    expect(live.get('lb-node-2')).toBe(5_500);
  });

  it('declares a node dead by heartbeat before its fresh Lease runs out', () => {
    const live = combineLiveness(
      new Map([['lb-node-2', lease(30_000, 0)]]),
      new Map([['lb-node-2', { state: 'dead' as const, since: 2_000 }]]),
      2_000,
      500,
    );
    expect(live.get('lb-node-2')).toBe(NEVER);
  });

  it('lets a Lease renewal seen after the death verdict correct it (heard by the API, not by us)', () => {
    const live = combineLiveness(
      new Map([['lb-node-2', lease(40_000, 10_000)]]),
      new Map([['lb-node-2', { state: 'dead' as const, since: 2_000 }]]),
      10_001,
      500,
    );
    expect(live.get('lb-node-2')).toBe(40_000);
  });

  it('moves a leaving node at once, and leaves a never-heard node to its Lease', () => {
    const live = combineLiveness(
      new Map([
        ['lb-node-2', lease(30_000, 0)],
        ['lb-node-3', lease(25_000, 0)],
      ]),
      new Map([
        ['lb-node-2', { state: 'leaving' as const, since: 100 }],
        ['lb-node-3', { state: 'unknown' as const, since: 0 }],
      ]),
      200,
      500,
    );
    expect(live).toEqual(
      new Map([
        ['lb-node-2', NEVER],
        ['lb-node-3', 25_000],
      ]),
    );
  });

  it('calls a node isolated only when it heard peers before and hears none now', () => {
    const v = (...states: PeerState[]) =>
      new Map(states.map((state, i) => [`lb-node-${i}`, { state, since: 0 }]));
    expect(isolated(v('dead', 'dead'))).toBe(true);
    expect(isolated(v('dead', 'unknown'))).toBe(true);
    expect(isolated(v('dead', 'alive'))).toBe(false);
    expect(isolated(v('unknown', 'unknown'))).toBe(false);
    expect(isolated(v())).toBe(false);
  });

  it('counts for isolation only the peers declared dead after the API last saw this speaker', () => {
    const died = (since: number) => new Map([['lb-node-2', { state: 'dead' as const, since }]]);
    expect(isolated(died(5_000), 4_000)).toBe(true);
    expect(isolated(died(5_000), 6_000)).toBe(false);
  });

  it('names the cause of a takeover', () => {
    expect(takeoverCause({ state: 'dead', since: 0 }, false)).toBe('heartbeat');
    expect(takeoverCause({ state: 'leaving', since: 0 }, false)).toBe('graceful');
    expect(takeoverCause({ state: 'unknown', since: 0 }, true)).toBe('graceful');
    expect(takeoverCause(undefined, false)).toBe('lease');
  });
});

describe('heartbeat peers from the speaker Leases', () => {
  it('takes each Lease that names its endpoints, and leaves the others to the Lease alone', () => {
    expect(
      peersFromLeases([
        { node: 'lb-node-1', durationSeconds: 30, heartbeatEndpoints: '192.0.2.11:7947' },
        { node: 'lb-node-2', durationSeconds: 30 },
        { node: 'lb-node-3', durationSeconds: 30, heartbeatEndpoints: 'garbage' },
      ]),
    ).toEqual([{ node: 'lb-node-1', endpoints: [{ address: '192.0.2.11', port: 7947 }] }]);
  });
});
