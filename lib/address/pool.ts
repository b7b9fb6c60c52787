// Addresses and address pools: strict parsing, canonical text, and the arithmetic allocation needs.
//
// An address is a family and a bigint, so IPv4 and IPv6 share one code path and a /64 is just a range.
// IPv6 parsing goes through ipaddr.js, behind a strict gate: ipaddr.js (like inet_aton) accepts forms
// such as `010.0.0.1` (octal), `1.2.3` or `0x0a.0.0.1` that no operator means, and zone ids that have
// no place in a pool. IPv4 is the strict dotted quad, parsed by one pattern (see parseIPv4).
//
// Pool entries (`L2LoadBalancer.spec.addressPool`):
// - `192.0.2.0/28`, `2001:db8::/64`: a CIDR. Host bits must be zero. IPv4 CIDRs of /30 and wider skip
//   their network and broadcast addresses; /31 and /32 keep every address (RFC 3021). IPv6 CIDRs keep
//   every address: IPv6 has no broadcast address.
// - `192.0.2.10-192.0.2.20`: an inclusive range, both ends of one family, first <= last. Whitespace
//   around the `-` is tolerated (MetalLB accepts `a - b` too).
// - `192.0.2.7`: a single address.
// Whitespace around a whole entry is tolerated; whitespace inside an address or CIDR is not.
// An entry that overlaps an earlier entry of the same pool is reported, but its addresses stay in the
// pool (the pool is the union of its valid entries), so a duplicate entry never costs a Service an
// address; `size` counts every address once.

import ipaddr from 'ipaddr.js';

export type Family = 4 | 6;
export interface Address {
  family: Family;
  value: bigint;
}
/** One valid entry of a pool: the usable addresses `first..last` (inclusive) and the text it came from. */
export interface PoolEntry {
  text: string;
  family: Family;
  first: bigint;
  last: bigint;
}
/** Entries sorted by (family, first); `size` counts each usable address once. */
export interface Pool {
  entries: readonly PoolEntry[];
  size: bigint;
}
export interface PoolEntryError {
  index: number;
  entry: string;
  message: string;
}

const BITS: Record<Family, number> = { 4: 32, 6: 128 };

const IPV4_OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
// The whole of strict dotted-quad syntax: four decimal octets, no leading zeros, nothing else.
const IPV4_STRICT = new RegExp(`^${IPV4_OCTET}\\.${IPV4_OCTET}\\.${IPV4_OCTET}\\.${IPV4_OCTET}$`);
const IPV6_CHARS = /^[0-9a-fA-F:]+$/;
const IPV6_GROUP_TOO_LONG = /[0-9a-fA-F]{5}/;
const PREFIX = /^(?:0|[1-9]\d{0,2})$/;

// IPv4 needs no library: the strict pattern above is the complete grammar and its groups are the
// octets (and ipaddr.js would accept octal and hexadecimal forms the pattern must refuse anyway).
// This is the hot path of allocation: tens of thousands of addresses per run.
function parseIPv4(text: string): Address | undefined {
  const m = IPV4_STRICT.exec(text);
  if (m === null) return undefined;
  const n = ((Number(m[1]) * 256 + Number(m[2])) * 256 + Number(m[3])) * 256 + Number(m[4]);
  return { family: 4, value: BigInt(n) };
}

function parseIPv6(text: string): Address | undefined {
  let hex = text;
  // Mixed notation (`::ffff:192.0.2.1`): convert the dotted tail ourselves, so it gets the strict IPv4
  // gate and ipaddr.js never applies its deprecated `::a.b.c.d` reading.
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.')) {
    const v4 = parseIPv4(text.slice(lastColon + 1));
    if (v4 === undefined || lastColon < 1) return undefined;
    const n = Number(v4.value);
    hex = `${text.slice(0, lastColon + 1)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  if (!IPV6_CHARS.test(hex) || IPV6_GROUP_TOO_LONG.test(hex)) return undefined;
  let parts: number[];
  try {
    parts = ipaddr.IPv6.parse(hex).parts;
  } catch {
    return undefined;
  }
  return { family: 6, value: BigInt(`0x${parts.map((p) => p.toString(16).padStart(4, '0')).join('')}`) };
}

/** Strict: dotted-quad IPv4 without leading zeros, or IPv6 without zone id; no whitespace. */
export function parseAddress(text: string): Address | undefined {
  if (text.includes(':')) return parseIPv6(text);
  return parseIPv4(text);
}

function formatIPv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

const MAPPED_PREFIX = 0xffffn << 32n;

/** Canonical text: IPv4 dotted quad; IPv6 as RFC 5952 (lower case, longest zero run compressed). */
export function formatAddress(a: Address): string {
  if (a.family === 4) return formatIPv4(Number(a.value));
  // RFC 5952 §5: IPv4-mapped addresses keep the dotted tail.
  if (a.value >> 32n === 0xffffn) return `::ffff:${formatIPv4(Number(a.value - MAPPED_PREFIX))}`;
  return formatIPv6(a.value);
}

/** RFC 5952 §4: lower-case hex groups without leading zeros; the longest run of two or more zero groups
 * (the first of equals) becomes `::`. Hand-written because allocation formats every address it walks. */
function formatIPv6(value: bigint): string {
  const hex = value.toString(16).padStart(32, '0');
  const groups: string[] = [];
  for (let i = 0; i < 32; i += 4) groups.push(Number.parseInt(hex.slice(i, i + 4), 16).toString(16));
  let runStart = -1;
  let runLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > runLength) {
      runStart = i;
      runLength = j - i;
    }
    i = j;
  }
  if (runStart < 0) return groups.join(':');
  return `${groups.slice(0, runStart).join(':')}::${groups.slice(runStart + runLength).join(':')}`;
}

export function canonicalAddress(text: string): string | undefined {
  const a = parseAddress(text);
  return a === undefined ? undefined : formatAddress(a);
}

const CANONICAL_IPV6_CHARS = /^[0-9a-f:]+$/;

/**
 * The value of an IPv6 address written in its RFC 5952 canonical form, or undefined for any other
 * spelling (which then goes through the strict parser). The control loop reads back tens of
 * thousands of addresses it wrote itself, canonically, on every run: this is their fast path.
 */
export function decodeCanonicalIPv6(text: string): bigint | undefined {
  const groups = canonicalIPv6Groups(text);
  if (groups === undefined) return undefined;
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  return value;
}

/** Whether a text is an address in its canonical spelling; cheaper than parsing it. */
export function isCanonicalAddress(text: string): boolean {
  return text.includes(':') ? canonicalIPv6Groups(text) !== undefined : parseIPv4(text) !== undefined;
}

/** The eight groups of a canonical IPv6 text, or undefined for any other spelling. */
function canonicalIPv6Groups(text: string): number[] | undefined {
  if (!CANONICAL_IPV6_CHARS.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const explicit = head.length + tail.length;
  const compressed = halves.length === 2 ? 8 - explicit : 0;
  if (halves.length === 1 ? explicit !== 8 : compressed < 2) return undefined;
  const groups: number[] = [];
  // Zero runs written out: none may be as long as the compressed one (longer, or equal and before it).
  let run = 0;
  let before = true;
  const group = (g: string): boolean => {
    if (g.length === 0 || g.length > 4 || (g.length > 1 && g[0] === '0')) return false;
    const n = Number.parseInt(g, 16);
    run = n === 0 ? run + 1 : 0;
    if (run >= 2 && (compressed === 0 || run > compressed || (before && run === compressed))) return false;
    groups.push(n);
    return true;
  };
  for (const g of head) if (!group(g)) return undefined;
  if (halves.length === 2) {
    // The groups beside `::` must not be zero, or the compressed run would be longer.
    if (head.length > 0 && head[head.length - 1] === '0') return undefined;
    if (tail.length > 0 && tail[0] === '0') return undefined;
    for (let i = 0; i < compressed; i++) groups.push(0);
    run = 0;
    before = false;
  }
  for (const g of tail) if (!group(g)) return undefined;
  return groups;
}

/** Parsed and canonical at once, for callers that need both (one parse instead of two). */
export function parseCanonical(text: string): { address: Address; text: string } | undefined {
  const fast = text.includes(':') ? decodeCanonicalIPv6(text) : undefined;
  if (fast !== undefined) return { address: { family: 6, value: fast }, text };
  const address = parseAddress(text);
  if (address === undefined) return undefined;
  // Strict dotted-quad text has exactly one spelling per address: it is already canonical.
  return { address, text: address.family === 4 ? text : formatAddress(address) };
}

function notAnAddress(text: string): string {
  return `"${text}" is not an IPv4 or IPv6 address, CIDR or range`;
}

type ParsedEntry = { entry: PoolEntry } | { message: string };

function parseCidr(text: string, slash: number): ParsedEntry {
  const base = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const addr = parseAddress(base);
  if (addr === undefined) return { message: notAnAddress(text) };
  const bits = BITS[addr.family];
  if (!PREFIX.test(prefixText) || Number(prefixText) > bits) {
    return {
      message: `"${text}" has an invalid prefix length /${prefixText}; IPv${addr.family} allows /0 to /${bits}`,
    };
  }
  const prefix = Number(prefixText);
  const hostBits = BigInt(bits - prefix);
  const network = (addr.value >> hostBits) << hostBits;
  if (network !== addr.value) {
    const suggestion = `${formatAddress({ family: addr.family, value: network })}/${prefix}`;
    return { message: `"${text}" has host bits set; did you mean ${suggestion}?` };
  }
  let first = network;
  let last = network + (1n << hostBits) - 1n;
  if (addr.family === 4 && prefix <= 30) {
    first += 1n;
    last -= 1n;
  }
  return { entry: { text, family: addr.family, first, last } };
}

function parseRange(text: string, dash: number): ParsedEntry {
  const fromText = text.slice(0, dash).trim();
  const toText = text.slice(dash + 1).trim();
  const from = parseAddress(fromText);
  const to = parseAddress(toText);
  if (from === undefined || to === undefined) {
    const bad = from === undefined ? fromText : toText;
    return { message: `"${text}": "${bad}" is not an IPv4 or IPv6 address` };
  }
  if (from.family !== to.family) {
    return { message: `"${text}" mixes IPv4 and IPv6; both ends of a range must be of one family` };
  }
  if (from.value > to.value) {
    return { message: `"${text}" is reversed: ${fromText} is above ${toText}; write ${toText}-${fromText}` };
  }
  return { entry: { text, family: from.family, first: from.value, last: to.value } };
}

function parseEntry(raw: string): ParsedEntry {
  const text = raw.trim();
  if (text === '') return { message: '"" is empty; write an IPv4 or IPv6 address, CIDR or range' };
  const dash = text.indexOf('-');
  if (dash >= 0) return parseRange(text, dash);
  const slash = text.indexOf('/');
  if (slash >= 0) return parseCidr(text, slash);
  const addr = parseAddress(text);
  if (addr === undefined) return { message: notAnAddress(text) };
  return { entry: { text, family: addr.family, first: addr.value, last: addr.value } };
}

function compareEntries(a: PoolEntry, b: PoolEntry): number {
  if (a.family !== b.family) return a.family - b.family;
  if (a.first !== b.first) return a.first < b.first ? -1 : 1;
  if (a.last !== b.last) return a.last < b.last ? -1 : 1;
  return 0;
}

/** Parses every entry; reports each bad one by index and text, and builds the pool from the valid ones. */
export function parsePool(texts: readonly string[]): { pool: Pool; errors: PoolEntryError[] } {
  const errors: PoolEntryError[] = [];
  const valid: Array<{ index: number; entry: PoolEntry }> = [];
  texts.forEach((raw, index) => {
    const parsed = parseEntry(raw);
    if ('message' in parsed) {
      errors.push({ index, entry: raw, message: parsed.message });
      return;
    }
    valid.push({ index, entry: parsed.entry });
  });
  // Each entry that overlaps an earlier one names the earliest of them (in the order written).
  const earliest = new Map<number, number>();
  for (const [x, y] of overlappingPairs(valid.map((v) => v.entry))) {
    const [first, later] = x < y ? [x, y] : [y, x];
    if (first < (earliest.get(later) ?? Infinity)) earliest.set(later, first);
  }
  for (const [later, first] of earliest) {
    const { index, entry } = valid[later]!;
    const earlier = valid[first]!;
    errors.push({
      index,
      entry: texts[index]!,
      message: `"${entry.text}" overlaps "${earlier.entry.text}" (entry ${earlier.index}) in the same pool`,
    });
  }
  errors.sort((a, b) => a.index - b.index);
  return { pool: makePool(valid.map((v) => v.entry)), errors };
}

/**
 * Every pair of intervals (by position in `entries`) that share an address, in O(n log n + pairs):
 * sorted by family and first address, each entry is compared only with the entries still open when it
 * starts, and every one of those overlaps it. Pairs come as [earlier in sweep order, later].
 */
function overlappingPairs(entries: readonly PoolEntry[]): Array<[number, number]> {
  const order = entries.map((_, i) => i).sort((x, y) => compareEntries(entries[x]!, entries[y]!));
  const pairs: Array<[number, number]> = [];
  let open: number[] = [];
  for (const i of order) {
    const e = entries[i]!;
    open = open.filter((o) => entries[o]!.family === e.family && entries[o]!.last >= e.first);
    for (const o of open) pairs.push([o, i]);
    open.push(i);
  }
  return pairs;
}

/** A pool of already-parsed entries (e.g. in tests or after merging). */
export function makePool(entries: readonly PoolEntry[]): Pool {
  const sorted = [...entries].sort(compareEntries);
  const size = mergedRanges(sorted).reduce((sum, r) => sum + (r.last - r.first + 1n), 0n);
  return { entries: sorted, size };
}

interface Range {
  family: Family;
  first: bigint;
  last: bigint;
}

/** Disjoint, sorted ranges covering the entries (entries may overlap or touch). */
function mergedRanges(sorted: readonly PoolEntry[]): Range[] {
  const out: Range[] = [];
  for (const e of sorted) {
    const prev = out[out.length - 1];
    if (prev !== undefined && prev.family === e.family && e.first <= prev.last + 1n) {
      if (e.last > prev.last) prev.last = e.last;
    } else {
      out.push({ family: e.family, first: e.first, last: e.last });
    }
  }
  return out;
}

const rangeCache = new WeakMap<Pool, Range[]>();

function rangesOf(pool: Pool): Range[] {
  let ranges = rangeCache.get(pool);
  if (ranges === undefined) {
    ranges = mergedRanges([...pool.entries].sort(compareEntries));
    rangeCache.set(pool, ranges);
  }
  return ranges;
}

/** Binary search over the merged ranges: O(log #entries). */
export function poolContains(pool: Pool, address: Address | string): boolean {
  const a = typeof address === 'string' ? parseAddress(address) : address;
  if (a === undefined) return false;
  const ranges = rangesOf(pool);
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid] as Range;
    if (r.family < a.family || (r.family === a.family && r.last < a.value)) lo = mid + 1;
    else if (r.family > a.family || r.first > a.value) hi = mid - 1;
    else return true;
  }
  return false;
}

/** Pairs of entry texts, one from each pool, that share at least one usable address. */
export function poolOverlaps(a: Pool, b: Pool): Array<{ a: string; b: string }> {
  return findPoolOverlaps([
    { name: 'a', pool: a },
    { name: 'b', pool: b },
  ]).flatMap((o) => o.entries);
}

export interface NamedPool {
  name: string;
  pool: Pool;
}
/** Two pools that share addresses (`a` comes before `b` in the input), and which of their entries do. */
export interface PoolOverlap {
  a: string;
  b: string;
  entries: Array<{ a: string; b: string }>;
}

/**
 * Every pair of pools that share an address, in O(n log n + overlapping entry pairs) for n entries in
 * all: one sweep over the entries of every pool, where comparing each pool with each other would cost
 * n² / 2 (1.6 s per control-loop run for 60 pools of 256 entries). The order is that of comparing
 * pool i with each later pool j, entry by entry: pairs of pools by (i, j), entries by their position
 * in `a` then in `b`.
 */
export function findPoolOverlaps(pools: readonly NamedPool[]): PoolOverlap[] {
  const owner: Array<{ pool: number; entry: number }> = [];
  const entries: PoolEntry[] = [];
  pools.forEach((p, pool) =>
    p.pool.entries.forEach((e, entry) => {
      owner.push({ pool, entry });
      entries.push(e);
    }),
  );
  const found: Array<{ i: number; j: number; ei: number; ej: number }> = [];
  for (const [x, y] of overlappingPairs(entries)) {
    const [ox, oy] = [owner[x]!, owner[y]!];
    if (ox.pool === oy.pool) continue; // within one pool: parsePool reports it
    const [first, second] = ox.pool < oy.pool ? [ox, oy] : [oy, ox];
    found.push({ i: first.pool, j: second.pool, ei: first.entry, ej: second.entry });
  }
  found.sort((p, q) => p.i - q.i || p.j - q.j || p.ei - q.ei || p.ej - q.ej);
  const out: PoolOverlap[] = [];
  let previous: { i: number; j: number } | undefined;
  for (const f of found) {
    const a = pools[f.i]!;
    const b = pools[f.j]!;
    if (previous?.i !== f.i || previous.j !== f.j) out.push({ a: a.name, b: b.name, entries: [] });
    previous = f;
    out[out.length - 1]!.entries.push({ a: a.pool.entries[f.ei]!.text, b: b.pool.entries[f.ej]!.text });
  }
  return out;
}

/** Every usable address, in order, lazily: a /64 costs nothing until iterated. */
export function* poolAddresses(pool: Pool): Generator<Address> {
  for (const r of rangesOf(pool)) {
    for (let v = r.first; v <= r.last; v++) yield { family: r.family, value: v };
  }
}

/**
 * Canonical text of the free addresses in ascending order, lazily. Every address passed over is in
 * `taken`, so the cost is O(#taken + #yielded), whatever the size of the pool.
 */
export function* lowestFree(pool: Pool, taken: ReadonlySet<string>): Generator<string> {
  for (const r of rangesOf(pool)) {
    for (let v = r.first; v <= r.last; v++) {
      const text = formatAddress({ family: r.family, value: v });
      if (!taken.has(text)) yield text;
    }
  }
}
