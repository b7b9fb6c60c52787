// Fuzzing the heartbeat parser: whatever bytes arrive on the port, the speaker neither throws nor
// takes anything but an authentic, well-formed beat.
import fc from 'fast-check';
import { HeartbeatReceiver } from '../../lib/speaker/heartbeat/receiver';
import {
  DROP_REASONS,
  encodeBeat,
  heartbeatKey,
  parseBeat,
  type Beat,
} from '../../lib/speaker/heartbeat/wire';

const KEY = heartbeatKey(Buffer.from('a3'.repeat(32), 'hex'));
const RING = new Map([[KEY.id, KEY.secret]]);
const WALL = Date.parse('2026-12-03T22:40:00Z');

const nodeName = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?(\.[a-z0-9]{1,10}){0,3}$/);
const beats: fc.Arbitrary<Beat> = fc.record({
  sender: nodeName,
  epoch: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  sequence: fc.integer({ min: 0, max: 0xffffffff }),
  sentAt: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  leaving: fc.boolean(),
});

describe('heartbeat parser under fuzzing', () => {
  it('never throws on random bytes and gives a known drop reason for each', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 700 }), (bytes) => {
        const r = parseBeat(bytes, RING);
        // Random bytes carry a valid HMAC with probability 2^-256: they are always dropped.
        expect(r.ok).toBe(false);
        if (!r.ok) expect(DROP_REASONS).toContain(r.reason);
      }),
      { numRuns: 5000 },
    );
  });

  it('never throws on random bytes behind a valid header, and drops them', () => {
    const header = encodeBeat(
      { sender: 'lb-node-2', epoch: 1, sequence: 1, sentAt: 1, leaving: false },
      KEY,
    ).subarray(0, 10);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 400 }), (tail) => {
        expect(parseBeat(Buffer.concat([header, tail]), RING).ok).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });

  it('reads back any beat it wrote, and drops it after any mutation', () => {
    fc.assert(
      fc.property(
        beats,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        (b, edits) => {
          const bytes = encodeBeat(b, KEY);
          expect(parseBeat(bytes, RING)).toEqual({ ok: true, beat: b });
          const mutated = Buffer.from(bytes);
          for (const [at, xor] of edits) {
            const i = at % mutated.length;
            mutated[i] = (mutated[i] ?? 0) ^ xor;
          }
          // XOR edits on the same byte may cancel out: only a changed datagram must be dropped.
          if (!mutated.equals(bytes)) expect(parseBeat(mutated, RING).ok).toBe(false);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('drops any truncation or extension of a valid beat', () => {
    fc.assert(
      fc.property(beats, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 40 }), (b, cut, extra) => {
        const bytes = encodeBeat(b, KEY);
        expect(parseBeat(bytes.subarray(0, cut % bytes.length), RING).ok).toBe(false);
        expect(parseBeat(Buffer.concat([bytes, extra]), RING).ok).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('lets no sequence of replayed and mutated datagrams make a silent peer alive', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 30 }),
        fc.array(fc.uint8Array({ maxLength: 120 }), { maxLength: 10 }),
        (sequences, junk) => {
          const captured = sequences.map((sequence) =>
            encodeBeat(
              { sender: 'lb-node-2', epoch: WALL - 1000, sequence, sentAt: WALL, leaving: false },
              KEY,
            ),
          );
          const r = new HeartbeatReceiver('lb-node-1', [KEY], { intervalMs: 100, missCount: 4 });
          r.setPeers(['lb-node-2']);
          for (const d of captured) r.receive(d, 0, WALL);
          for (let now = 0; now <= 400; now += 100) r.tracker.tick(now);
          expect(r.tracker.state('lb-node-2')).toBe('dead');
          // The peer is silent from now on; the attacker sends everything recorded, again, plus junk.
          for (const d of [...captured, ...junk]) {
            const got = r.receive(d, 500, WALL + 500);
            expect(got.ok).toBe(false);
          }
          expect(r.tracker.state('lb-node-2')).toBe('dead');
        },
      ),
      { numRuns: 500 },
    );
  });
});
