// Address allocation (docs/ARCHITECTURE.md §4.1): which address each index of each Service holds after this run.
//
// Pure and deterministic: the same input, in any order, gives the same result. Addresses are compared
// as canonical text (see `canonicalAddress`), kept in maps and sets, so a run is O(#indices + #taken).
//
// Decisions where the design is silent:
// - A blank `load-balancer-ips` entry (e.g. a trailing comma) asks for nothing: that index gets the
//   lowest free address. Entries are trimmed; entries beyond `count` are ignored.
// - Every address held in `existing` stays taken for the whole run, even when this run releases it
//   (count shrank, a requested address replaced it, the Service switched L2LoadBalancer or is gone):
//   the release and a new holder must never be applied in the same patch set. The next run hands it out.
//   The one exception is the same Service: it may move its own released address to another index.
// - Conflicts are decided among the holders that would otherwise keep the address; a holder being
//   released does not take an address from one that stays.
// - The age of a holder is `ExistingAllocation.createdAt`; among requests contending for one free
//   address, the Service's `createdAt`. Unparsable timestamps count as youngest; ties go to serviceKey.
// - Older Services are served first, so under exhaustion the newest Service goes without.
// - `keepOnly` and an unknown pool both keep every existing address of the Service (any index, any
//   L2LoadBalancer), allocate nothing and release nothing. A non-integer or negative count is treated
//   as `keepOnly`.
// - A request with a `family` takes addresses of that family only (docs/ARCHITECTURE.md §2.3): a dual-stack
//   Service sends one request per family, and each is its own slot (indices, holdings, exhaustion).
//   An existing address of another family belongs to no slot of the Service: it is released.
// - `reservations` (docs/ARCHITECTURE.md §4.1): an address no one holds but a Service let go recently. That
//   Service gets it back first (its empty indices, lowest first); a pin by another Service is
//   refused by name; the lowest-free pass skips it, and hands it to another Service only when its
//   pool has nothing unreserved left.

import {
  canonicalAddress,
  isCanonicalAddress,
  lowestFree,
  formatAddress,
  makePool,
  parseCanonical,
  poolContains,
  type Address,
  type Family,
  type Pool,
} from '../address/pool';
import { quote } from '../messages';

export interface AllocationRequest {
  serviceKey: string;
  l2lbName: string;
  count: number;
  requested: readonly string[];
  createdAt: string;
  keepOnly?: boolean;
  /** Only addresses of this family; absent = any family. */
  family?: Family;
}
export interface ExistingAllocation {
  serviceKey: string;
  l2lbName: string;
  index: number;
  address: string;
  createdAt: string;
}
export interface Allocation {
  serviceKey: string;
  l2lbName: string;
  index: number;
  address?: string;
  /** The family of the request this allocation answers (absent: any family). */
  family?: Family;
}
export type AllocationProblemKind =
  | 'RequestedAddressInvalid'
  | 'RequestedAddressOutsidePool'
  | 'RequestedAddressDuplicate'
  | 'RequestedAddressTaken'
  | 'RequestedAddressWrongFamily'
  | 'PoolExhausted'
  | 'AddressConflict'
  | 'AddressLeftPool'
  | 'UnknownPool';
export interface AllocationProblem {
  serviceKey: string;
  kind: AllocationProblemKind;
  index?: number;
  address?: string;
  message: string;
}
export interface AllocationInput {
  pools: ReadonlyMap<string, Pool>;
  requests: readonly AllocationRequest[];
  existing: readonly ExistingAllocation[];
  /** Addresses released recently, reserved for the Service that held them (expired ones left out). */
  reservations?: readonly AddressReservation[];
}
export interface AddressReservation {
  address: string;
  serviceKey: string;
}
export interface AllocationResult {
  allocations: Allocation[];
  problems: AllocationProblem[];
}

/** An existing allocation with its canonical address, and whether it would stay if nobody contested it. */
interface Holding {
  serviceKey: string;
  l2lbName: string;
  index: number;
  address: string;
  /** Age of the holder: `createdAt` as epoch ms (unparsable = youngest), then as text. */
  ms: number;
  createdAt: string;
  inPool: boolean;
  keeps: boolean;
}

interface Age {
  ms: number;
  text: string;
  serviceKey: string;
}

/** Epoch ms of a timestamp, unparsable = youngest; `cache` spares re-parsing shared timestamps. */
function epochMs(createdAt: string, cache?: Map<string, number>): number {
  let ms = cache?.get(createdAt);
  if (ms === undefined) {
    ms = Date.parse(createdAt);
    if (Number.isNaN(ms)) ms = Number.POSITIVE_INFINITY;
    cache?.set(createdAt, ms);
  }
  return ms;
}

function compareAge(a: Age, b: Age): number {
  if (a.ms !== b.ms) return a.ms < b.ms ? -1 : 1;
  if (a.text !== b.text) return a.text < b.text ? -1 : 1;
  return compareText(a.serviceKey, b.serviceKey);
}

/** Older holder first, then serviceKey, index and L2LoadBalancer: a total order, so input order never matters. */
function compareHolders(a: Holding, b: Holding): number {
  return (
    compareAge(
      { ms: a.ms, text: a.createdAt, serviceKey: a.serviceKey },
      { ms: b.ms, text: b.createdAt, serviceKey: b.serviceKey },
    ) ||
    a.index - b.index ||
    compareText(a.l2lbName, b.l2lbName)
  );
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Per-Service working state while the run decides. */
interface ServiceWork {
  request: AllocationRequest;
  age: Age;
  pool: Pool | undefined;
  /** Keep every existing address, allocate nothing, release nothing. */
  keepAll: boolean;
  holdings: Holding[];
  /** Address per index (0..count-1) as decided so far. */
  addresses: Array<string | undefined>;
  /** Indices whose requested address was refused: they get no lowest-free address. */
  refused: Set<number>;
  exhausted: boolean;
}

const PROBLEM_ORDER: readonly AllocationProblemKind[] = [
  'UnknownPool',
  'AddressConflict',
  'AddressLeftPool',
  'RequestedAddressInvalid',
  'RequestedAddressDuplicate',
  'RequestedAddressOutsidePool',
  'RequestedAddressTaken',
  'RequestedAddressWrongFamily',
  'PoolExhausted',
];

/** A Service's slot: one per requested family (or one for any family). */
const slotOf = (serviceKey: string, family: Family | undefined): string =>
  family === undefined ? serviceKey : `${serviceKey}\u0000${family}`;

const familyText = (family: Family | undefined): string =>
  family === undefined ? '' : family === 4 ? 'IPv4 ' : 'IPv6 ';

export function allocate(input: AllocationInput): AllocationResult {
  const problems: AllocationProblem[] = [];
  const services = collectServices(input);
  for (const s of services.values()) {
    if (s.pool !== undefined) continue;
    problems.push({
      serviceKey: s.request.serviceKey,
      kind: 'UnknownPool',
      message: `L2LoadBalancer ${s.request.l2lbName} does not exist or has no usable pool; the Service keeps its addresses and gets no new ones until it does`,
    });
  }
  const holdings = collectHoldings(input.existing, services, problems);
  // Every address any existing allocation holds stays taken for this run (see the header).
  const taken = new Set<string>();
  for (const h of holdings) taken.add(h.address);
  /** One holder per address (the least serviceKey), for messages; built when first needed. */
  let holders: Map<string, string> | undefined;
  const heldBy = (address: string): string | undefined => {
    if (holders === undefined) {
      holders = new Map();
      for (const h of holdings) {
        const other = holders.get(h.address);
        if (other === undefined || h.serviceKey < other) holders.set(h.address, h.serviceKey);
      }
    }
    return holders.get(address);
  };
  const keptBy = resolveConflicts(holdings, services, problems);
  /** Reserved address -> the Service it is reserved for; addresses someone holds are not reserved. */
  const reserved = new Map<string, string>();
  for (const r of input.reservations ?? []) {
    const text = canonicalAddress(r.address.trim());
    if (text === undefined || taken.has(text)) continue;
    const other = reserved.get(text);
    if (other === undefined || r.serviceKey < other) reserved.set(text, r.serviceKey);
  }
  /** Who got an address by request in this run (for messages). */
  const claimedBy = new Map<string, string>();

  const ordered = [...services.values()].sort((a, b) => compareAge(a.age, b.age));
  for (const s of ordered) {
    if (s.keepAll) continue;
    for (const h of s.holdings) {
      if (keptBy.get(h.address) === h) s.addresses[h.index] = h.address;
    }
    assignRequested(s, keptBy, taken, claimedBy, heldBy, reserved, problems);
  }
  assignLowestFree(ordered, taken, reserved);

  // `services` iterates in serviceKey order, so allocations come out sorted without a global sort.
  const allocations: Allocation[] = [];
  for (const s of services.values()) {
    if (s.keepAll) {
      const kept = s.holdings.filter((h) => keptBy.get(h.address) === h);
      kept.sort((a, b) => a.index - b.index || compareText(a.l2lbName, b.l2lbName));
      for (const h of kept)
        allocations.push(allocation(h.serviceKey, h.l2lbName, h.index, h.address, s.request.family));
      continue;
    }
    const family = s.request.family;
    s.addresses.forEach((address, index) => {
      allocations.push(allocation(s.request.serviceKey, s.request.l2lbName, index, address, family));
    });
    if (s.exhausted) {
      const assigned = s.addresses.filter((a) => a !== undefined).length;
      problems.push({
        serviceKey: s.request.serviceKey,
        kind: 'PoolExhausted',
        message: `${assigned} of ${s.request.count} ${familyText(family)}public IPs assigned; pool ${s.request.l2lbName} has no free ${familyText(family)}address`,
      });
    }
  }
  problems.sort(
    (a, b) =>
      compareText(a.serviceKey, b.serviceKey) ||
      (a.index ?? -1) - (b.index ?? -1) ||
      PROBLEM_ORDER.indexOf(a.kind) - PROBLEM_ORDER.indexOf(b.kind) ||
      compareText(a.address ?? '', b.address ?? ''),
  );
  return { allocations, problems };
}

/** An allocation with only the fields that are set (`address` and `family` are optional). */
function allocation(
  serviceKey: string,
  l2lbName: string,
  index: number,
  address: string | undefined,
  family: Family | undefined,
): Allocation {
  const a: Allocation = { serviceKey, l2lbName, index };
  if (address !== undefined) a.address = address;
  if (family !== undefined) a.family = family;
  return a;
}

function collectServices(input: AllocationInput): Map<string, ServiceWork> {
  const services = new Map<string, ServiceWork>();
  // A Service appears once; should a caller pass it twice, the first by l2lbName wins, whatever the order.
  const requests = [...input.requests].sort(
    (a, b) =>
      compareText(a.serviceKey, b.serviceKey) ||
      (a.family ?? 0) - (b.family ?? 0) ||
      compareText(a.l2lbName, b.l2lbName),
  );
  const familyPools = new Map<string, Pool>();
  for (const request of requests) {
    const slot = slotOf(request.serviceKey, request.family);
    if (services.has(slot)) continue;
    const pool = familyPool(input.pools, request.l2lbName, request.family, familyPools);
    const validCount = Number.isInteger(request.count) && request.count >= 0;
    services.set(slot, {
      request,
      age: { ms: epochMs(request.createdAt), text: request.createdAt, serviceKey: request.serviceKey },
      pool,
      keepAll: request.keepOnly === true || pool === undefined || !validCount,
      holdings: [],
      addresses: validCount ? new Array<string | undefined>(request.count).fill(undefined) : [],
      refused: new Set(),
      exhausted: false,
    });
  }
  return services;
}

/** A pool cut down to one family (cached per L2LoadBalancer and family). */
function familyPool(
  pools: ReadonlyMap<string, Pool>,
  l2lbName: string,
  family: Family | undefined,
  cache: Map<string, Pool>,
): Pool | undefined {
  const pool = pools.get(l2lbName);
  if (pool === undefined || family === undefined) return pool;
  const key = `${l2lbName}\u0000${family}`;
  let cut = cache.get(key);
  if (cut === undefined) {
    cut = makePool(pool.entries.filter((e) => e.family === family));
    cache.set(key, cut);
  }
  return cut;
}

/** The slot of a Service that an existing address belongs to: its family's, or the any-family one. */
function slotFor(
  services: ReadonlyMap<string, ServiceWork>,
  serviceKey: string,
  family: Family,
): ServiceWork | undefined {
  return services.get(slotOf(serviceKey, family)) ?? services.get(serviceKey);
}

/** Canonicalises the existing allocations and marks which of them would stay, reporting those that left their pool. */
function collectHoldings(
  existing: readonly ExistingAllocation[],
  services: ReadonlyMap<string, ServiceWork>,
  problems: AllocationProblem[],
): Holding[] {
  const holdings: Holding[] = [];
  const msCache = new Map<string, number>();
  const inRun = new Set<string>();
  for (const s of services.values()) inRun.add(s.request.serviceKey);
  for (const e of existing) {
    const raw = e.address.trim();
    let s: ServiceWork | undefined;
    let parsed: ReturnType<typeof parseCanonical>;
    if (inRun.has(e.serviceKey)) {
      parsed = parseCanonical(raw);
      if (parsed === undefined) continue;
      s = slotFor(services, e.serviceKey, parsed.address.family);
    }
    if (s === undefined || parsed === undefined) {
      // A Service outside this run only holds its address: its canonical text is all that matters,
      // and the module wrote it canonically, so usually no parse is needed.
      const text = parsed?.text ?? (isCanonicalAddress(raw) ? raw : canonicalAddress(raw));
      if (text === undefined) continue;
      holdings.push({
        serviceKey: e.serviceKey,
        l2lbName: e.l2lbName,
        index: e.index,
        address: text,
        ms: epochMs(e.createdAt, msCache),
        createdAt: e.createdAt,
        inPool: false,
        keeps: false,
      });
      continue;
    }
    const h: Holding = {
      serviceKey: e.serviceKey,
      l2lbName: e.l2lbName,
      index: e.index,
      address: parsed.text,
      ms: epochMs(e.createdAt, msCache),
      createdAt: e.createdAt,
      inPool: s.pool !== undefined && poolContains(s.pool, parsed.address),
      keeps: false,
    };
    holdings.push(h);
    s.holdings.push(h);
  }
  for (const s of services.values()) {
    // Two holdings of one index resolve the same way whatever the input order: the one still in the pool.
    s.holdings.sort(
      (a, b) =>
        compareText(a.l2lbName, b.l2lbName) ||
        a.index - b.index ||
        Number(b.inPool) - Number(a.inPool) ||
        compareText(a.address, b.address),
    );
    let filled: Holding | undefined;
    for (const h of s.holdings) {
      if (filled !== undefined && filled.l2lbName === h.l2lbName && filled.index === h.index) continue;
      const { l2lbName, count } = s.request;
      const inRange = h.l2lbName === l2lbName && Number.isInteger(h.index) && h.index >= 0 && h.index < count;
      if (!s.keepAll && !inRange) continue;
      if (!s.keepAll && !h.inPool) {
        problems.push({
          serviceKey: h.serviceKey,
          kind: 'AddressLeftPool',
          index: h.index,
          address: h.address,
          message: `address ${h.address} of index ${h.index} is no longer in the pool of L2LoadBalancer ${l2lbName}; index ${h.index} gets a new address`,
        });
        continue;
      }
      h.keeps = true;
      filled = h;
    }
  }
  return holdings;
}

/** One winner per address among the holdings that would stay: the older holder (then serviceKey, index). */
function resolveConflicts(
  holdings: readonly Holding[],
  services: ReadonlyMap<string, ServiceWork>,
  problems: AllocationProblem[],
): Map<string, Holding> {
  const keptBy = new Map<string, Holding>();
  const losers: Holding[] = [];
  for (const h of holdings) {
    if (!h.keeps) continue;
    const current = keptBy.get(h.address);
    if (current === undefined) {
      keptBy.set(h.address, h);
      continue;
    }
    const hWins = compareHolders(h, current) < 0;
    losers.push(hWins ? current : h);
    if (hWins) keptBy.set(h.address, h);
  }
  for (const loser of losers) {
    const winner = keptBy.get(loser.address) as Holding;
    const holder =
      winner.serviceKey === loser.serviceKey
        ? `index ${winner.index} of this Service`
        : `Service ${winner.serviceKey}`;
    const next = services.get(loser.serviceKey)?.keepAll
      ? `index ${loser.index} gets no new address while the Service's input is invalid`
      : `index ${loser.index} gets a new address`;
    problems.push({
      serviceKey: loser.serviceKey,
      kind: 'AddressConflict',
      index: loser.index,
      address: loser.address,
      message: `address ${loser.address} of index ${loser.index} is also held by ${holder}, which is older and keeps it; ${next}`,
    });
  }
  return keptBy;
}

/**
 * Requested addresses of one Service: refuse by name what cannot be had, then switch each index to
 * its requested address. An address another index of the same Service keeps can be taken only if
 * that index moves to its own requested address; decided by a small fixpoint (count is small).
 */
function assignRequested(
  s: ServiceWork,
  keptBy: ReadonlyMap<string, Holding>,
  taken: Set<string>,
  claimedBy: Map<string, string>,
  heldBy: (address: string) => string | undefined,
  reserved: Map<string, string>,
  problems: AllocationProblem[],
): void {
  const { serviceKey, l2lbName, requested, count } = s.request;
  const pool = s.pool as Pool;
  const want = new Map<number, string>();
  const firstIndexOf = new Map<string, number>();
  const refuse = (
    index: number,
    kind: AllocationProblemKind,
    address: string | undefined,
    why: string,
  ): void => {
    s.refused.add(index);
    const current = s.addresses[index];
    const next =
      current === undefined
        ? `index ${index} gets no address until this is fixed`
        : `index ${index} keeps ${current}`;
    problems.push({
      serviceKey,
      kind,
      index,
      ...(address === undefined ? {} : { address }),
      message: `${why}; ${next}`,
    });
  };
  for (let i = 0; i < Math.min(count, requested.length); i++) {
    const raw = (requested[i] as string).trim();
    if (raw === '') continue;
    const entry = `load-balancer-ips entry ${i} ${quote(raw, 64)}`;
    const parsed = parseCanonical(raw);
    if (parsed === undefined) {
      refuse(i, 'RequestedAddressInvalid', undefined, `${entry} is not an IPv4 or IPv6 address`);
      continue;
    }
    const address = parsed.text;
    if (s.request.family !== undefined && parsed.address.family !== s.request.family) {
      refuse(
        i,
        'RequestedAddressWrongFamily',
        address,
        `${entry} is not an ${familyText(s.request.family).trim()} address, the family of the Service`,
      );
      continue;
    }
    const first = firstIndexOf.get(address);
    if (first !== undefined) {
      refuse(i, 'RequestedAddressDuplicate', address, `${entry} repeats entry ${first}`);
      continue;
    }
    firstIndexOf.set(address, i);
    if (!poolContains(pool, parsed.address)) {
      refuse(
        i,
        'RequestedAddressOutsidePool',
        address,
        `${entry} is not in the pool of L2LoadBalancer ${l2lbName}`,
      );
      continue;
    }
    const other = otherHolder(address, serviceKey, keptBy, claimedBy, heldBy, taken);
    if (other !== undefined) {
      refuse(i, 'RequestedAddressTaken', address, `${entry} is already assigned to Service ${other}`);
      continue;
    }
    const reservedFor = reserved.get(address);
    if (reservedFor !== undefined && reservedFor !== serviceKey) {
      refuse(
        i,
        'RequestedAddressTaken',
        address,
        `${entry} is reserved for Service ${reservedFor}, which let it go recently (addressReservationSeconds)`,
      );
      continue;
    }
    want.set(i, address);
  }
  // An index may take an address its sibling keeps only if the sibling moves to another address.
  for (let changed = true; changed;) {
    changed = false;
    for (const [i, address] of want) {
      if (s.addresses[i] === address) continue;
      const sibling = keptBy.get(address);
      if (sibling === undefined || sibling.serviceKey !== serviceKey || sibling.index === i) continue;
      const siblingWant = want.get(sibling.index);
      if (siblingWant !== undefined && siblingWant !== address) continue;
      want.delete(i);
      refuse(
        i,
        'RequestedAddressTaken',
        address,
        `load-balancer-ips entry ${i} "${address}" is held by index ${sibling.index} of this Service, which keeps it`,
      );
      changed = true;
    }
  }
  for (const [i, address] of want) {
    s.addresses[i] = address;
    taken.add(address);
    claimedBy.set(address, serviceKey);
    reserved.delete(address);
  }
}

/** The other Service that holds or has just claimed an address, if any. */
function otherHolder(
  address: string,
  serviceKey: string,
  keptBy: ReadonlyMap<string, Holding>,
  claimedBy: ReadonlyMap<string, string>,
  heldBy: (address: string) => string | undefined,
  taken: ReadonlySet<string>,
): string | undefined {
  if (!taken.has(address)) return undefined;
  const holder = keptBy.get(address)?.serviceKey ?? claimedBy.get(address) ?? heldBy(address);
  return holder === serviceKey ? undefined : holder;
}

/**
 * The lowest free address for every index still empty: first a Service's own reserved addresses,
 * then one lazy pass per pool (oldest Service first) that skips reserved addresses, then, for what
 * is still empty, the addresses reserved for others.
 */
function assignLowestFree(
  ordered: readonly ServiceWork[],
  taken: Set<string>,
  reserved: Map<string, string>,
): void {
  const ownReserved = new Map<string, Address[]>();
  for (const [address, serviceKey] of reserved) {
    const parsed = parseCanonical(address);
    if (parsed === undefined) continue;
    const list = ownReserved.get(serviceKey) ?? [];
    list.push(parsed.address);
    ownReserved.set(serviceKey, list);
  }
  const waiting = new Map<string, Array<{ s: ServiceWork; index: number }>>();
  for (const s of ordered) {
    if (s.keepAll) continue;
    const own = ownReserved.get(s.request.serviceKey);
    s.addresses.forEach((address, index) => {
      if (address !== undefined || s.refused.has(index)) return;
      const back = own?.find((a) => !taken.has(formatAddress(a)) && poolContains(s.pool as Pool, a));
      if (back !== undefined) {
        const text = formatAddress(back);
        s.addresses[index] = text;
        taken.add(text);
        reserved.delete(text);
        return;
      }
      const group = slotOf(s.request.l2lbName, s.request.family);
      const list = waiting.get(group) ?? [];
      list.push({ s, index });
      waiting.set(group, list);
    });
  }
  for (const address of reserved.keys()) taken.add(address);
  const lastResort = [...reserved.keys()].sort(compareText);
  for (const name of [...waiting.keys()].sort(compareText)) {
    const list = waiting.get(name) as Array<{ s: ServiceWork; index: number }>;
    const pool = list[0]?.s.pool as Pool;
    const free = lowestFree(pool, taken);
    const unserved: Array<{ s: ServiceWork; index: number }> = [];
    for (const w of list) {
      const next = free.next();
      if (next.done === true) {
        unserved.push(w);
        continue;
      }
      w.s.addresses[w.index] = next.value;
      taken.add(next.value);
    }
    if (unserved.length === 0) continue;
    // Nothing unreserved is left in this pool: reserved addresses go to whoever waits.
    const spare = lastResort.filter((a) => reserved.has(a) && poolContains(pool, a));
    for (const w of unserved) {
      const address = spare.shift();
      if (address === undefined) {
        w.s.exhausted = true;
        continue;
      }
      w.s.addresses[w.index] = address;
      reserved.delete(address);
    }
  }
}
