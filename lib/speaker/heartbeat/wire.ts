// The heartbeat datagram, version 1: what one speaker sends its peers on the node network every
// interval. Big-endian, fixed header, the sender's node name, then an HMAC-SHA256 over all of it:
//
//   off  size  field
//     0     4  magic "L2HB"
//     4     1  version (1)
//     5     1  flags: bit 0 = leaving (the sender is stopping: take its addresses now); others 0
//     6     4  key id (first 4 bytes of SHA-256 of the key: says which key of a ring signed it)
//    10     8  epoch: the sender's wall clock (ms) when it started; orders its restarts
//    18     4  sequence within the epoch, from 0
//    22     8  send time, the sender's wall clock in ms
//    30     1  n = length of the node name (1..253)
//    31     n  node name (a DNS-1123 subdomain, as Kubernetes node names are)
//  31+n    32  HMAC-SHA256(key, bytes 0 .. 31+n)
//
// A later format bumps the version; a receiver drops versions it does not know rather than guess.
// parseBeat never throws: every malformed, foreign or forged datagram becomes a drop reason.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const HEARTBEAT_MAGIC = 0x4c324842;
export const HEARTBEAT_VERSION = 1;
const HEADER_BYTES = 31;
const MAC_BYTES = 32;
const MAX_NAME_BYTES = 253;
/** The longest valid datagram; anything longer is dropped before any work is spent on it. */
export const MAX_BEAT_BYTES = HEADER_BYTES + MAX_NAME_BYTES + MAC_BYTES;
const FLAG_LEAVING = 0x01;
const MAX_SEQUENCE = 0xffffffff;
const NODE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** One heartbeat, as sent. */
export interface Beat {
  sender: string;
  /** The sender's wall clock (ms) at its start: a restart gives a larger epoch. */
  epoch: number;
  sequence: number;
  /** The sender's wall clock (ms) when it sent this beat. */
  sentAt: number;
  /** The sender is shutting down and hands its addresses over now. */
  leaving: boolean;
}

/** A shared secret and its id; the id travels in clear so a ring of keys can be tried in O(1). */
export interface HeartbeatKey {
  id: number;
  secret: Buffer;
}

/** Why a datagram was not taken as a heartbeat (the `reason` label of the drop counter). */
export type DropReason =
  | 'truncated'
  | 'oversized'
  | 'bad_magic'
  | 'wrong_version'
  | 'malformed'
  | 'wrong_key'
  | 'bad_mac'
  | 'replayed'
  | 'clock_skew'
  | 'self'
  | 'unknown_peer';

export const DROP_REASONS: readonly DropReason[] = [
  'truncated',
  'oversized',
  'bad_magic',
  'wrong_version',
  'malformed',
  'wrong_key',
  'bad_mac',
  'replayed',
  'clock_skew',
  'self',
  'unknown_peer',
];

export type Parsed = { ok: true; beat: Beat } | { ok: false; reason: DropReason };

/** The key id of a secret: the first 4 bytes of its SHA-256. */
export function keyIdOf(secret: Buffer): number {
  return createHash('sha256').update(secret).digest().readUInt32BE(0);
}

export function heartbeatKey(secret: Buffer): HeartbeatKey {
  return { id: keyIdOf(secret), secret };
}

const mac = (secret: Buffer, body: Buffer): Buffer => createHmac('sha256', secret).update(body).digest();

/** The datagram for `beat`, signed with `key`. Throws on a beat no receiver would accept (a bug). */
export function encodeBeat(beat: Beat, key: HeartbeatKey): Buffer {
  const name = Buffer.from(beat.sender, 'ascii');
  if (!NODE_NAME.test(beat.sender) || name.length > MAX_NAME_BYTES)
    throw new Error(`heartbeat: ${JSON.stringify(beat.sender)} is not a node name`);
  for (const [field, v, max] of [
    ['epoch', beat.epoch, Number.MAX_SAFE_INTEGER],
    ['sequence', beat.sequence, MAX_SEQUENCE],
    ['sentAt', beat.sentAt, Number.MAX_SAFE_INTEGER],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > max) throw new Error(`heartbeat: ${field} ${v} out of range`);
  }
  const body = Buffer.alloc(HEADER_BYTES + name.length);
  body.writeUInt32BE(HEARTBEAT_MAGIC, 0);
  body.writeUInt8(HEARTBEAT_VERSION, 4);
  body.writeUInt8(beat.leaving ? FLAG_LEAVING : 0, 5);
  body.writeUInt32BE(key.id >>> 0, 6);
  body.writeBigUInt64BE(BigInt(beat.epoch), 10);
  body.writeUInt32BE(beat.sequence, 18);
  body.writeBigUInt64BE(BigInt(beat.sentAt), 22);
  body.writeUInt8(name.length, 30);
  name.copy(body, HEADER_BYTES);
  return Buffer.concat([body, mac(key.secret, body)]);
}

/**
 * The beat in `bytes`, or why it is dropped. Checks go from cheap to dear: sizes and the header
 * before the HMAC, the HMAC before any field is trusted. `keys` is the ring by key id.
 */
export function parseBeat(bytes: Uint8Array, keys: ReadonlyMap<number, Buffer>): Parsed {
  const fail = (reason: DropReason): Parsed => ({ ok: false, reason });
  if (bytes.length > MAX_BEAT_BYTES) return fail('oversized');
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (b.length < 5) return fail('truncated');
  if (b.readUInt32BE(0) !== HEARTBEAT_MAGIC) return fail('bad_magic');
  if (b.readUInt8(4) !== HEARTBEAT_VERSION) return fail('wrong_version');
  if (b.length < HEADER_BYTES) return fail('truncated');
  const nameLength = b.readUInt8(30);
  if (nameLength === 0) return fail('malformed');
  const bodyLength = HEADER_BYTES + nameLength;
  if (b.length < bodyLength + MAC_BYTES) return fail('truncated');
  if (b.length > bodyLength + MAC_BYTES) return fail('malformed');
  const secret = keys.get(b.readUInt32BE(6));
  if (!secret) return fail('wrong_key');
  const body = b.subarray(0, bodyLength);
  if (!timingSafeEqual(mac(secret, body), b.subarray(bodyLength))) return fail('bad_mac');
  // Authentic from here on; a field out of range is a sender's bug, still never a crash.
  const flags = b.readUInt8(5);
  if ((flags & ~FLAG_LEAVING) !== 0) return fail('malformed');
  const epoch = b.readBigUInt64BE(10);
  const sentAt = b.readBigUInt64BE(22);
  if (epoch > BigInt(Number.MAX_SAFE_INTEGER) || sentAt > BigInt(Number.MAX_SAFE_INTEGER))
    return fail('malformed');
  const sender = b.toString('latin1', HEADER_BYTES, bodyLength);
  if (!NODE_NAME.test(sender)) return fail('malformed');
  return {
    ok: true,
    beat: {
      sender,
      epoch: Number(epoch),
      sequence: b.readUInt32BE(18),
      sentAt: Number(sentAt),
      leaving: (flags & FLAG_LEAVING) !== 0,
    },
  };
}

/** The last sequence number of an epoch: a sender that reaches it starts a new epoch. */
export const LAST_SEQUENCE = MAX_SEQUENCE;
