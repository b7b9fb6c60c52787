// Which addresses the speaker may announce: only those inside some L2LoadBalancer's pool.
// TODO(pool): switch to lib/address/pool.ts (parsePool / poolContains / canonicalAddress) once it
// lands; this is the minimal subset the speaker needs, kept private to the speaker.
import ipaddr from 'ipaddr.js';

type Parsed = ipaddr.IPv4 | ipaddr.IPv6;

interface Span {
  kind: 'ipv4' | 'ipv6';
  first: bigint;
  last: bigint;
}

/** A parsed address pool: a list of inclusive spans of addresses. */
export interface SpeakerPool {
  spans: readonly Span[];
}

function toBigInt(addr: Parsed): bigint {
  return addr.toByteArray().reduce((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
}

function parseAddress(text: string): Parsed | undefined {
  if (!ipaddr.isValid(text)) return undefined;
  const parsed = ipaddr.parse(text);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    return (parsed as ipaddr.IPv6).toIPv4Address();
  }
  return parsed;
}

/** The canonical text of an address (`2001:db8::1`, `192.0.2.1`), or undefined if it is not one. */
export function canonicalAddress(text: string): string | undefined {
  return parseAddress(text.trim())?.toString();
}

/** The address family of a canonical address. */
export function familyOf(address: string): 'ipv4' | 'ipv6' {
  return address.includes(':') ? 'ipv6' : 'ipv4';
}

function parseEntry(entry: string): Span | undefined {
  const text = entry.trim();
  if (text.includes('/')) {
    try {
      const [net, prefix] = ipaddr.parseCIDR(text);
      const bits = net.kind() === 'ipv4' ? 32 : 128;
      const base = toBigInt(net);
      const hostBits = BigInt(bits - prefix);
      const first = (base >> hostBits) << hostBits;
      return { kind: net.kind(), first, last: first + (1n << hostBits) - 1n };
    } catch {
      return undefined;
    }
  }
  const [from, to] = text.includes('-') ? text.split('-', 2) : [text, text];
  const a = parseAddress(from ?? '');
  const b = parseAddress(to ?? '');
  if (!a || !b || a.kind() !== b.kind()) return undefined;
  const first = toBigInt(a);
  const last = toBigInt(b);
  return first <= last ? { kind: a.kind(), first, last } : undefined;
}

/** Parses pool entries (CIDRs, `a-b` ranges, single addresses); invalid entries are skipped. */
export function parseSpeakerPool(entries: readonly string[]): SpeakerPool {
  return { spans: entries.map(parseEntry).filter((s): s is Span => s !== undefined) };
}

export function poolContains(pool: SpeakerPool, address: string): boolean {
  const parsed = parseAddress(address);
  if (!parsed) return false;
  const value = toBigInt(parsed);
  return pool.spans.some((s) => s.kind === parsed.kind() && s.first <= value && value <= s.last);
}

/** Whether `address` lies in the subnet `network/prefixLength` (same family only). */
export function subnetContains(network: string, prefixLength: number, address: string): boolean {
  const net = parseAddress(network);
  const addr = parseAddress(address);
  if (!net || !addr || net.kind() !== addr.kind()) return false;
  return addr.match(net, prefixLength);
}
