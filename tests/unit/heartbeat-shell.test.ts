// The heartbeat shell on real UDP sockets over loopback: two speakers' heartbeats find each other,
// notice a silent one, a leaving one, and drop what a stranger sends to the port.
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { heartbeatKey, encodeBeat } from '../../lib/speaker/heartbeat/wire';
import type { Transition } from '../../lib/speaker/heartbeat/liveness';
import { Heartbeats, readHeartbeatKey } from '../../images/speaker/heartbeat';
import type { Logger } from '../../images/speaker/log';

const KEY = heartbeatKey(Buffer.from('7c'.repeat(32), 'hex'));
const quiet: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

async function until(what: string, ok: () => boolean, timeoutMs = 5000): Promise<void> {
  for (let i = 0; i < timeoutMs / 10; i++) {
    if (ok()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(r));
  return port;
}

describe('heartbeats on loopback', () => {
  const started: Heartbeats[] = [];
  afterEach(() => {
    for (const h of started.splice(0)) h.stop();
  });

  async function speaker(node: string, port: number, keys = [KEY]) {
    const transitions: Transition[] = [];
    const h = new Heartbeats({
      node,
      bind: ['127.0.0.1'],
      port,
      keys,
      intervalMs: 20,
      missCount: 5,
      log: quiet,
      registry: new Registry(),
      changed: (t) => transitions.push(t),
    });
    await h.start();
    started.push(h);
    return { h, transitions };
  }

  /** lb-node-1 and lb-node-2, each the other's peer, once lb-node-1 hears lb-node-2. */
  async function pairAlive() {
    const [p1, p2] = [await freePort(), await freePort()];
    const a = await speaker('lb-node-1', p1);
    const b = await speaker('lb-node-2', p2);
    a.h.setPeers([{ node: 'lb-node-2', endpoints: [{ address: '127.0.0.1', port: p2 }] }]);
    b.h.setPeers([{ node: 'lb-node-1', endpoints: [{ address: '127.0.0.1', port: p1 }] }]);
    await until('lb-node-2 alive', () => a.h.state('lb-node-2') === 'alive');
    return [a, b] as const;
  }

  it('sees a peer alive, then dead once it falls silent', async () => {
    const [a, b] = await pairAlive();
    expect(b.h.state('lb-node-1')).not.toBe('dead');
    b.h.stop();
    await until('lb-node-2 dead', () => a.h.state('lb-node-2') === 'dead');
    expect(a.transitions.map((t) => t.to)).toEqual(['alive', 'dead']);
  });

  it('finds its peers in the speaker Leases (their heartbeat-endpoints annotation)', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const a = await speaker('lb-node-1', p1);
    const b = await speaker('lb-node-2', p2);
    const leases = [
      { node: 'lb-node-1', durationSeconds: 30, heartbeatEndpoints: `127.0.0.1:${p1}` },
      { node: 'lb-node-2', durationSeconds: 30, heartbeatEndpoints: `127.0.0.1:${p2}` },
    ];
    a.h.observe(leases);
    b.h.observe(leases);
    await until(
      'each hears the other',
      () => a.h.state('lb-node-2') === 'alive' && b.h.state('lb-node-1') === 'alive',
    );
    expect([...a.h.states().keys()]).toEqual(['lb-node-2']);
  });

  it('hears a leaving peer say so', async () => {
    const [a, b] = await pairAlive();
    b.h.leave();
    await until('lb-node-2 leaving', () => a.h.state('lb-node-2') === 'leaving');
  });

  it('drops a stranger, a wrong key and garbage, and counts each by reason', async () => {
    const p1 = await freePort();
    const a = await speaker('lb-node-1', p1);
    a.h.setPeers([{ node: 'lb-node-2', endpoints: [{ address: '127.0.0.1', port: 9 }] }]);
    const other = heartbeatKey(Buffer.from('11'.repeat(32), 'hex'));
    const now = Date.now();
    const forged = encodeBeat(
      { sender: 'lb-node-2', epoch: now, sequence: 1, sentAt: now, leaving: false },
      other,
    );
    const stranger = encodeBeat(
      { sender: 'lb-node-9', epoch: now, sequence: 1, sentAt: now, leaving: false },
      KEY,
    );
    const s = createSocket('udp4');
    for (const d of [forged, stranger, Buffer.from('hello'), Buffer.alloc(2000)])
      await new Promise<void>((r) => s.send(d, p1, '127.0.0.1', () => r()));
    s.close();
    const dropped = async (reason: string): Promise<number> =>
      (await a.h.metrics.dropped.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
    const reasons = ['wrong_key', 'unknown_peer', 'bad_magic', 'oversized'];
    const counts = async (): Promise<number[]> => Promise.all(reasons.map(dropped));
    for (let i = 0; i < 300 && (await counts()).some((n) => n === 0); i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(await counts()).toEqual([1, 1, 1, 1]);
    expect(a.h.state('lb-node-2')).toBe('unknown');
  });
});

describe('the heartbeat key file', () => {
  it('reads the mounted Secret bytes, and names the file when it is missing or too short', () => {
    const dir = mkdtempSync(join(tmpdir(), 'l2lb-key-'));
    try {
      const good = join(dir, 'key');
      writeFileSync(good, Buffer.alloc(32, 7));
      expect(readHeartbeatKey(good)).toEqual(heartbeatKey(Buffer.alloc(32, 7)));
      const short = join(dir, 'short');
      writeFileSync(short, 'abc');
      expect(() => readHeartbeatKey(short)).toThrow(`heartbeat key ${short}: 3 bytes, want at least 16`);
      expect(() => readHeartbeatKey(join(dir, 'absent'))).toThrow(/heartbeat key .*absent: ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
