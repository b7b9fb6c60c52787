// Placement (DESIGN §4.2): the ranked candidate nodes of every index, first = preferred.
//
// Pure and deterministic. Stability first: an index keeps its preferred node while that node stays
// eligible and its speaker fresh; new and orphaned indices go where the same Service is not yet and the
// global load is least; rebalancing is opt-in (`Gradual`) and bounded per run. Ties break by rendezvous
// hashing on (index key, node), so each index sees its own order of nodes and no node is everybody's
// first choice.
//
// Decisions where the design is silent:
// - Indices are processed in (serviceKey, l2lbName, index, key) order, so the indices of one Service
//   are placed together whatever the caller's key format; the result does not depend on input order.
// - Rendezvous scores are ascending: the lowest score ranks first.
// - A node whose readySince is missing or unparsable is never "mature", so rebalancing never moves an
//   index onto it (orphans still may go there: a failed-over index needs a home now).
// - Rebalance moves prefer indices that already moved in this run (their speakers are moving anyway),
//   so a node failure moves only what that node held whenever the rest was balanced.
// - `maxCandidates` below 1 is taken as 1; `maxMovesPerRun` below 0 as 0.
// - `eligible` lists every eligible node of each L2LoadBalancer, fresh or demoted, sorted by name
//   (before the `externalTrafficPolicy: Local` filter, which is per index).

import {
  LABEL_EXCLUDE_FROM_LB,
  type L2LoadBalancer,
  type LeaseState,
  type NodeState,
  type RebalanceSettings,
} from '../model';

export interface PlacementIndex {
  key: string;
  serviceKey: string;
  l2lbName: string;
  index: number;
  current: readonly string[];
  localNodes?: readonly string[];
}
export interface PlacementInput {
  nodes: readonly NodeState[];
  leases: readonly LeaseState[];
  balancers: readonly L2LoadBalancer[];
  indices: readonly PlacementIndex[];
  rebalance: RebalanceSettings;
  now: number;
  maxCandidates?: number;
}
export type MoveReason = 'New' | 'NodeFailed' | 'Rebalance' | 'Spread';
export interface Move {
  key: string;
  from?: string;
  to: string;
  reason: MoveReason;
}
export interface PlacementResult {
  candidates: Map<string, string[]>;
  moves: Move[];
  eligible: Map<string, string[]>;
}

export const DEFAULT_MAX_CANDIDATES = 4;

export function matchesSelector(
  labels: Readonly<Record<string, string>>,
  selector: Readonly<Record<string, string>>,
): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

/** A node may carry indices of this L2LoadBalancer (ignoring its speaker's Lease). */
export function isEligibleNode(node: NodeState, balancer: L2LoadBalancer): boolean {
  return (
    node.ready &&
    !(LABEL_EXCLUDE_FROM_LB in node.labels) &&
    matchesSelector(node.labels, balancer.nodeSelector)
  );
}

/** A Lease is fresh while renewTime + duration lies in the future; a released Lease (no renewTime) is not. */
export function isLeaseFresh(lease: LeaseState, now: number): boolean {
  if (lease.renewTime === undefined) return false;
  const renewed = Date.parse(lease.renewTime);
  return !Number.isNaN(renewed) && renewed + lease.durationSeconds * 1000 > now;
}

// FNV-1a 32 over UTF-16 code units, then murmur3's finaliser for avalanche.
function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

function fmix32(x: number): number {
  let h = x ^ (x >>> 16);
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function combine(keyHash: number, nodeHash: number): number {
  return fmix32(keyHash ^ Math.imul(nodeHash, 0x9e3779b1));
}

/** Deterministic score of a node for an index key, in [0, 2^32): lower ranks first. */
export function rendezvousScore(key: string, node: string): number {
  return combine(hashString(key), hashString(node));
}

const NONE = -1;

interface IndexWork {
  spec: PlacementIndex;
  keyHash: number;
  /** Node ids this index may use, ascending (= by name). */
  eligible: number[];
  eligibleSet: Set<number> | Uint8Array;
  service: number;
}

/** Everything about the cluster that does not change while placing. */
class Cluster {
  readonly names: string[];
  readonly idOf = new Map<string, number>();
  readonly hashes: number[];
  readonly fresh: Uint8Array;
  readonly mature: Uint8Array;
  readonly load: Int32Array;
  /** Eligible node ids per L2LoadBalancer name (ascending), and the same as a mask. */
  readonly eligible = new Map<string, { ids: number[]; mask: Uint8Array }>();

  constructor(input: PlacementInput) {
    const nodes = [...new Map(input.nodes.map((n) => [n.name, n])).values()].sort((a, b) =>
      compareText(a.name, b.name),
    );
    this.names = nodes.map((n) => n.name);
    nodes.forEach((n, id) => this.idOf.set(n.name, id));
    this.hashes = this.names.map(hashString);
    this.load = new Int32Array(nodes.length);
    this.fresh = new Uint8Array(nodes.length).fill(1);
    const leased = new Set<number>();
    for (const lease of input.leases) {
      const id = this.idOf.get(lease.node);
      if (id === undefined) continue;
      // Several Leases for one node: fresh if any of them is.
      if (!leased.has(id)) this.fresh[id] = 0;
      leased.add(id);
      if (isLeaseFresh(lease, input.now)) this.fresh[id] = 1;
    }
    this.mature = new Uint8Array(nodes.length);
    const minReadyMs = input.rebalance.minNodeReadySeconds * 1000;
    nodes.forEach((n, id) => {
      const since = n.readySince === undefined ? Number.NaN : Date.parse(n.readySince);
      this.mature[id] = n.ready && this.fresh[id] === 1 && input.now - since >= minReadyMs ? 1 : 0;
    });
    for (const b of input.balancers) {
      const ids: number[] = [];
      const mask = new Uint8Array(nodes.length);
      nodes.forEach((n, id) => {
        if (!isEligibleNode(n, b)) return;
        ids.push(id);
        mask[id] = 1;
      });
      this.eligible.set(b.name, { ids, mask });
    }
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function place(input: PlacementInput): PlacementResult {
  const cluster = new Cluster(input);
  const maxCandidates = Math.max(1, Math.floor(input.maxCandidates ?? DEFAULT_MAX_CANDIDATES));
  const work = indexWork(input.indices, cluster);
  const members = serviceMembers(work);
  const preferred = new Int32Array(work.length).fill(NONE);
  /** The move of each index (by work position) that changed its preferred node in this run. */
  const moves = new Map<number, Move>();
  const move = (i: number, to: number, reason: MoveReason): void => {
    const w = work[i] as IndexWork;
    const from = w.spec.current[0];
    const previous = preferred[i] as number;
    if (previous !== NONE) (cluster.load[previous] as number)--;
    preferred[i] = to;
    (cluster.load[to] as number)++;
    const name = cluster.names[to] as string;
    if (from === name) moves.delete(i);
    else moves.set(i, { key: w.spec.key, ...(from === undefined ? {} : { from }), to: name, reason });
  };

  keepPreferred(work, cluster, preferred);
  const scratch = new Int32Array(cluster.names.length);
  placeOrphans(work, cluster, members, preferred, scratch, move);
  if (input.rebalance.mode === 'Gradual') {
    let budget = Math.max(0, Math.floor(input.rebalance.maxMovesPerRun));
    const movedThisRun = (i: number): boolean => moves.has(i);
    budget = spread(work, cluster, members, preferred, budget, move);
    rebalance(work, cluster, members, preferred, budget, movedThisRun, move);
  }

  const candidates = new Map<string, string[]>();
  work.forEach((w, i) =>
    candidates.set(w.spec.key, rankCandidates(i, work, cluster, members, preferred, maxCandidates)),
  );
  const eligible = new Map<string, string[]>();
  for (const name of [...cluster.eligible.keys()].sort(compareText)) {
    eligible.set(
      name,
      (cluster.eligible.get(name) as { ids: number[] }).ids.map((id) => cluster.names[id] as string),
    );
  }
  const sortedMoves = [...moves.values()].sort((a, b) => compareText(a.key, b.key));
  return { candidates, moves: sortedMoves, eligible };
}

function indexWork(indices: readonly PlacementIndex[], cluster: Cluster): IndexWork[] {
  const sorted = [...indices].sort(
    (a, b) =>
      compareText(a.serviceKey, b.serviceKey) ||
      compareText(a.l2lbName, b.l2lbName) ||
      a.index - b.index ||
      compareText(a.key, b.key),
  );
  const serviceIds = new Map<string, number>();
  const none = { ids: [] as number[], mask: new Uint8Array(cluster.names.length) };
  return sorted.map((spec) => {
    const balancer = cluster.eligible.get(spec.l2lbName) ?? none;
    let eligible = balancer.ids;
    let eligibleSet: Set<number> | Uint8Array = balancer.mask;
    if (spec.localNodes !== undefined) {
      const local = new Set(spec.localNodes.map((n) => cluster.idOf.get(n)));
      eligible = eligible.filter((id) => local.has(id));
      eligibleSet = new Set(eligible);
    }
    if (!serviceIds.has(spec.serviceKey)) serviceIds.set(spec.serviceKey, serviceIds.size);
    return {
      spec,
      keyHash: hashString(spec.key),
      eligible,
      eligibleSet,
      service: serviceIds.get(spec.serviceKey) as number,
    };
  });
}

function isEligible(w: IndexWork, node: number): boolean {
  return w.eligibleSet instanceof Set ? w.eligibleSet.has(node) : w.eligibleSet[node] === 1;
}

/** Positions (in work order) of the indices of each Service. */
function serviceMembers(work: readonly IndexWork[]): number[][] {
  const members: number[][] = [];
  work.forEach((w, i) => (members[w.service] ??= []).push(i));
  return members;
}

/** Step 1: an index keeps current[0] while it stays eligible and its speaker fresh. */
function keepPreferred(work: readonly IndexWork[], cluster: Cluster, preferred: Int32Array): void {
  work.forEach((w, i) => {
    const first = w.spec.current[0];
    const id = first === undefined ? undefined : cluster.idOf.get(first);
    if (id === undefined || !isEligible(w, id) || cluster.fresh[id] !== 1) return;
    preferred[i] = id;
    (cluster.load[id] as number)++;
  });
}

type MoveFn = (i: number, to: number, reason: MoveReason) => void;

/**
 * Step 2: every index without a preferred node. Where the speakers have already failed over (the first
 * eligible fresh node in `current`) it stays, to avoid a second move; otherwise it goes where its
 * Service is least present, then the global load is least, then by rendezvous score.
 */
function placeOrphans(
  work: readonly IndexWork[],
  cluster: Cluster,
  members: readonly number[][],
  preferred: Int32Array,
  sameService: Int32Array,
  move: MoveFn,
): void {
  work.forEach((w, i) => {
    if (preferred[i] !== NONE || w.eligible.length === 0) return;
    const reason: MoveReason = w.spec.current.length === 0 ? 'New' : 'NodeFailed';
    for (const tier of [1, 0]) {
      const inCurrent = w.spec.current
        .map((n) => cluster.idOf.get(n))
        .find((id) => id !== undefined && isEligible(w, id) && cluster.fresh[id] === tier);
      if (inCurrent !== undefined) return move(i, inCurrent, reason);
      const sibling = members[w.service] as number[];
      for (const j of sibling) if (preferred[j] !== NONE) (sameService[preferred[j] as number] as number)++;
      let best = NONE;
      let bestSame = 0;
      let bestLoad = 0;
      let bestScore = 0;
      for (const id of w.eligible) {
        if (cluster.fresh[id] !== tier) continue;
        const same = sameService[id] as number;
        const load = cluster.load[id] as number;
        const score = combine(w.keyHash, cluster.hashes[id] as number);
        // Ids ascend, so on a full tie the earlier (lower name) node stays.
        if (
          best === NONE ||
          same < bestSame ||
          (same === bestSame && (load < bestLoad || (load === bestLoad && score < bestScore)))
        ) {
          best = id;
          bestSame = same;
          bestLoad = load;
          bestScore = score;
        }
      }
      for (const j of sibling) if (preferred[j] !== NONE) sameService[preferred[j] as number] = 0;
      if (best !== NONE) return move(i, best, reason);
    }
  });
}

/** Preferred nodes of the other indices of i's Service. */
function siblingNodes(
  i: number,
  work: readonly IndexWork[],
  members: readonly number[][],
  preferred: Int32Array,
): Set<number> {
  const nodes = new Set<number>();
  for (const j of members[(work[i] as IndexWork).service] as number[]) {
    if (j !== i && preferred[j] !== NONE) nodes.add(preferred[j] as number);
  }
  return nodes;
}

/** The mature node of i's eligible set, unused by its Service, with the least (load, score); NONE if none. */
function bestTarget(
  i: number,
  work: readonly IndexWork[],
  cluster: Cluster,
  avoid: ReadonlySet<number>,
  acceptLoad: (load: number) => boolean,
): number {
  const w = work[i] as IndexWork;
  let best = NONE;
  let bestLoad = 0;
  let bestScore = 0;
  for (const id of w.eligible) {
    const load = cluster.load[id] as number;
    if (cluster.mature[id] !== 1 || avoid.has(id) || !acceptLoad(load)) continue;
    const score = combine(w.keyHash, cluster.hashes[id] as number);
    if (best === NONE || load < bestLoad || (load === bestLoad && score < bestScore)) {
      best = id;
      bestLoad = load;
      bestScore = score;
    }
  }
  return best;
}

/** Step 3a: separate indices of one Service that share a node, onto mature nodes the Service does not use. */
function spread(
  work: readonly IndexWork[],
  cluster: Cluster,
  members: readonly number[][],
  preferred: Int32Array,
  budget: number,
  move: MoveFn,
): number {
  for (const sibling of members) {
    const seen = new Set<number>();
    for (const i of sibling) {
      if (budget <= 0) return 0;
      const node = preferred[i] as number;
      if (node === NONE) continue;
      if (!seen.has(node)) {
        seen.add(node);
        continue;
      }
      const target = bestTarget(i, work, cluster, siblingNodes(i, work, members, preferred), () => true);
      if (target === NONE) continue;
      move(i, target, 'Spread');
      seen.add(target);
      budget--;
    }
  }
  return budget;
}

/**
 * Step 3b: move indices from the most to the least loaded eligible node of each L2LoadBalancer while
 * their loads differ by more than one, never onto a node the index's Service already uses. One move per
 * L2LoadBalancer per round, round after round, until nothing moves or the budget is spent. Each move
 * lowers the sum of squared loads, so this ends.
 */
function rebalance(
  work: readonly IndexWork[],
  cluster: Cluster,
  members: readonly number[][],
  preferred: Int32Array,
  budget: number,
  movedThisRun: (i: number) => boolean,
  move: MoveFn,
): void {
  const byBalancer = new Map<string, number[]>();
  work.forEach((w, i) => {
    const list = byBalancer.get(w.spec.l2lbName) ?? [];
    list.push(i);
    byBalancer.set(w.spec.l2lbName, list);
  });
  const names = [...byBalancer.keys()].filter((n) => cluster.eligible.has(n)).sort(compareText);
  for (let moved = true; moved && budget > 0;) {
    moved = false;
    for (const name of names) {
      if (budget <= 0) return;
      const found = findRebalanceMove(
        byBalancer.get(name) as number[],
        work,
        cluster,
        members,
        preferred,
        movedThisRun,
      );
      if (found === undefined) continue;
      move(found.index, found.to, 'Rebalance');
      budget--;
      moved = true;
    }
  }
}

function findRebalanceMove(
  indices: readonly number[],
  work: readonly IndexWork[],
  cluster: Cluster,
  members: readonly number[][],
  preferred: Int32Array,
  movedThisRun: (i: number) => boolean,
): { index: number; to: number } | undefined {
  const onNode = new Map<number, number[]>();
  for (const i of indices) {
    const node = preferred[i] as number;
    if (node === NONE) continue;
    const list = onNode.get(node) ?? [];
    list.push(i);
    onNode.set(node, list);
  }
  let minTargetLoad = Number.POSITIVE_INFINITY;
  const balancer = cluster.eligible.get((work[indices[0] as number] as IndexWork).spec.l2lbName);
  for (const id of balancer?.ids ?? []) {
    if (cluster.mature[id] === 1) minTargetLoad = Math.min(minTargetLoad, cluster.load[id] as number);
  }
  const sources = [...onNode.keys()].sort(
    (a, b) => (cluster.load[b] as number) - (cluster.load[a] as number) || a - b,
  );
  for (const source of sources) {
    const sourceLoad = cluster.load[source] as number;
    if (sourceLoad - minTargetLoad <= 1) return undefined;
    const here = (onNode.get(source) as number[])
      .slice()
      .sort((a, b) => Number(movedThisRun(b)) - Number(movedThisRun(a)) || a - b);
    for (const i of here) {
      const to = bestTarget(
        i,
        work,
        cluster,
        siblingNodes(i, work, members, preferred),
        (load) => sourceLoad - load > 1,
      );
      if (to !== NONE) return { index: i, to };
    }
  }
  return undefined;
}

/**
 * Step 4: preferred first, then the other fresh eligible nodes (those preferred by the Service's other
 * indices last, then by rendezvous score), then demoted nodes in the same order; at most `max`.
 */
function rankCandidates(
  i: number,
  work: readonly IndexWork[],
  cluster: Cluster,
  members: readonly number[][],
  preferred: Int32Array,
  max: number,
): string[] {
  const first = preferred[i] as number;
  if (first === NONE) return [];
  const w = work[i] as IndexWork;
  const siblings = siblingNodes(i, work, members, preferred);
  // Keep the best (max - 1) by an exact composite rank: tier, sibling, score (< 2^32); node id breaks ties.
  const best: Array<{ rank: number; id: number }> = [];
  const room = max - 1;
  for (const id of w.eligible) {
    if (id === first || room === 0) continue;
    const tier = cluster.fresh[id] === 1 ? 0 : 2;
    const rank =
      (tier + (siblings.has(id) ? 1 : 0)) * 2 ** 32 + combine(w.keyHash, cluster.hashes[id] as number);
    if (best.length === room) {
      const worst = best[room - 1] as { rank: number; id: number };
      if (rank > worst.rank || (rank === worst.rank && id > worst.id)) continue;
      best.pop();
    }
    let at = best.length;
    while (at > 0) {
      const prev = best[at - 1] as { rank: number; id: number };
      if (prev.rank < rank || (prev.rank === rank && prev.id < id)) break;
      at--;
    }
    best.splice(at, 0, { rank, id });
  }
  return [first, ...best.map((b) => b.id)].map((id) => cluster.names[id] as string);
}
