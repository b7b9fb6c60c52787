// Placement (docs/ARCHITECTURE.md §4.2): the ranked candidate nodes of every index, first = preferred.
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
// - Spread and Rebalance moves happen only in a calm run, one without NodeFailed moves: while nodes
//   fail, only what they held moves; balance is restored from the next run on.
// - Spread and Rebalance moves prefer indices that already moved in this run (new ones are not yet
//   announced, so moving them costs nothing). A move records where an index was and where it ends,
//   with the reason of its first move in the run.
// - `maxCandidates` below 1 is taken as 1; `maxMovesPerRun` below 0 as 0.
// - `eligible` lists every eligible node of each L2LoadBalancer, fresh or demoted, sorted by name
//   (before the `externalTrafficPolicy: Local` filter, which is per index).

import { isLeaseFresh } from '../objects';
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

/** Lease freshness is one rule for the control loop and the speaker (lib/objects). */
export { isLeaseFresh };

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
  const plan = new Placement(input);
  plan.keepPreferred();
  plan.placeOrphans();
  // Voluntary moves wait for a calm run: while nodes fail, only what they held moves.
  if (input.rebalance.mode === 'Gradual' && !plan.hasMoves('NodeFailed')) {
    const budget = plan.spread(Math.max(0, Math.floor(input.rebalance.maxMovesPerRun)));
    plan.rebalance(budget);
  }
  const maxCandidates = Math.max(1, Math.floor(input.maxCandidates ?? DEFAULT_MAX_CANDIDATES));
  return plan.result(maxCandidates);
}

/** The indices to place, the state of their placement in this run, and the steps of the algorithm. */
class Placement {
  private readonly cluster: Cluster;
  /** Indices in (serviceKey, l2lbName, index, key) order; positions in this array identify them. */
  private readonly work: IndexWork[];
  /** Positions of the indices of each Service. */
  private readonly members: number[][] = [];
  /** Preferred node id of each index, NONE while it has none. */
  private readonly preferred: Int32Array;
  /** The move of each index that changed its preferred node in this run. */
  private readonly moves = new Map<number, Move>();
  /** Per node, how many indices of the Service being placed sit there (zeroed after each use). */
  private readonly sameService: Int32Array;

  constructor(input: PlacementInput) {
    this.cluster = new Cluster(input);
    this.work = indexWork(input.indices, this.cluster);
    this.work.forEach((w, i) => (this.members[w.service] ??= []).push(i));
    this.preferred = new Int32Array(this.work.length).fill(NONE);
    this.sameService = new Int32Array(this.cluster.names.length);
  }

  hasMoves(reason: MoveReason): boolean {
    for (const m of this.moves.values()) if (m.reason === reason) return true;
    return false;
  }

  private score(i: number, node: number): number {
    return combine((this.work[i] as IndexWork).keyHash, this.cluster.hashes[node] as number);
  }

  private load(node: number): number {
    return this.cluster.load[node] as number;
  }

  private assign(i: number, node: number): void {
    const previous = this.preferred[i] as number;
    if (previous !== NONE) (this.cluster.load[previous] as number)--;
    this.preferred[i] = node;
    (this.cluster.load[node] as number)++;
  }

  /** One move per index and run, from where it was to where it ends; the first reason says why. */
  private move(i: number, to: number, reason: MoveReason): void {
    this.assign(i, to);
    const w = this.work[i] as IndexWork;
    const from = w.spec.current[0];
    const name = this.cluster.names[to] as string;
    const why = this.moves.get(i)?.reason ?? reason;
    if (from === name) this.moves.delete(i);
    else
      this.moves.set(i, { key: w.spec.key, ...(from === undefined ? {} : { from }), to: name, reason: why });
  }

  /** How many of the Service's other indices each node is preferred by. */
  private siblingCounts(i: number): Map<number, number> {
    const counts = new Map<number, number>();
    for (const j of this.members[(this.work[i] as IndexWork).service] as number[]) {
      const node = this.preferred[j] as number;
      if (j !== i && node !== NONE) counts.set(node, (counts.get(node) ?? 0) + 1);
    }
    return counts;
  }

  /** Step 1: an index keeps current[0] while it stays eligible and its speaker fresh. */
  keepPreferred(): void {
    this.work.forEach((w, i) => {
      const first = w.spec.current[0];
      const id = first === undefined ? undefined : this.cluster.idOf.get(first);
      if (id !== undefined && isEligible(w, id) && this.cluster.fresh[id] === 1) this.assign(i, id);
    });
  }

  /**
   * Step 2: every index without a preferred node. Where the speakers have already failed over (the
   * first eligible fresh node in `current`) it stays, to avoid a second move; otherwise it goes where
   * its Service is least present, then the global load is least, then by rendezvous score. Demoted
   * nodes only when no fresh node is eligible.
   */
  placeOrphans(): void {
    this.work.forEach((w, i) => {
      if (this.preferred[i] !== NONE || w.eligible.length === 0) return;
      const reason: MoveReason = w.spec.current.length === 0 ? 'New' : 'NodeFailed';
      for (const tier of [1, 0]) {
        const inCurrent = w.spec.current
          .map((n) => this.cluster.idOf.get(n))
          .find((id) => id !== undefined && isEligible(w, id) && this.cluster.fresh[id] === tier);
        const target = inCurrent ?? this.leastUsed(i, tier);
        if (target !== NONE) return this.move(i, target, reason);
      }
    });
  }

  /** The node of the given freshness tier minimising (same-Service indices, global load, score). */
  private leastUsed(i: number, tier: number): number {
    const w = this.work[i] as IndexWork;
    const sibling = this.members[w.service] as number[];
    const same = this.sameService;
    for (const j of sibling) if (this.preferred[j] !== NONE) (same[this.preferred[j] as number] as number)++;
    let best = NONE;
    let bestSame = 0;
    let bestLoad = 0;
    let bestScore = 0;
    for (const id of w.eligible) {
      if (this.cluster.fresh[id] !== tier) continue;
      const s = same[id] as number;
      const load = this.load(id);
      const score = this.score(i, id);
      // Ids ascend, so on a full tie the earlier (lower name) node stays.
      if (
        best === NONE ||
        s < bestSame ||
        (s === bestSame && (load < bestLoad || (load === bestLoad && score < bestScore)))
      ) {
        best = id;
        bestSame = s;
        bestLoad = load;
        bestScore = score;
      }
    }
    for (const j of sibling) if (this.preferred[j] !== NONE) same[this.preferred[j] as number] = 0;
    return best;
  }

  /** The mature node for index i, unused by its Service, with the least (load, score) below `maxLoad`. */
  private bestTarget(i: number, maxLoad: number, spreadOnly = true): number {
    const w = this.work[i] as IndexWork;
    // Spread moves go only to nodes the Service does not use. Rebalance moves may also go to a node
    // holding fewer of the Service's indices than the source does, which keeps its spread as good:
    // with more indices than nodes, some node must hold two, and balance must still be reachable.
    const siblings = this.siblingCounts(i);
    const from = this.preferred[i] as number;
    const atSource = (siblings.get(from) ?? 0) + 1;
    let best = NONE;
    let bestLoad = 0;
    let bestScore = 0;
    for (const id of w.eligible) {
      const load = this.load(id);
      const onTarget = siblings.get(id) ?? 0;
      // After the move the source holds atSource - 1 of them and the target onTarget + 1.
      const worsens = spreadOnly ? onTarget > 0 : onTarget >= atSource;
      if (this.cluster.mature[id] !== 1 || worsens || load > maxLoad) continue;
      const score = this.score(i, id);
      if (best === NONE || load < bestLoad || (load === bestLoad && score < bestScore)) {
        best = id;
        bestLoad = load;
        bestScore = score;
      }
    }
    return best;
  }

  /** Indices that moved in this run first (new ones are not announced yet), then in order. */
  private movedFirst(indices: number[]): number[] {
    return indices.sort((a, b) => Number(this.moves.has(b)) - Number(this.moves.has(a)) || a - b);
  }

  /**
   * Step 3a: separate indices of one Service that share a node, onto mature nodes the Service does
   * not use. Of the indices on one node, one that did not move in this run stays. Returns the budget
   * left.
   */
  spread(budget: number): number {
    for (const sibling of this.members) {
      const byNode = new Map<number, number[]>();
      for (const i of sibling) {
        const node = this.preferred[i] as number;
        if (node !== NONE) byNode.set(node, [...(byNode.get(node) ?? []), i]);
      }
      for (const sharing of byNode.values()) {
        // The first index that did not move in this run stays; the others go.
        sharing.sort((a, b) => Number(this.moves.has(a)) - Number(this.moves.has(b)) || a - b);
        for (const i of sharing.slice(1)) {
          if (budget <= 0) return 0;
          const target = this.bestTarget(i, Number.POSITIVE_INFINITY);
          if (target === NONE) continue;
          this.move(i, target, 'Spread');
          budget--;
        }
      }
    }
    return budget;
  }

  /**
   * Step 3b: while an L2LoadBalancer has an index on a node whose load exceeds that of a mature node of
   * its eligible set by more than one, move one, never onto a node its Service already uses. Each
   * round takes the move with the largest load gap over all L2LoadBalancers, so a node that joins
   * draws from the most loaded nodes first. Each move lowers the sum of squared loads, so this ends.
   */
  rebalance(budget: number): void {
    const onNode = new Map<string, Map<number, number[]>>();
    this.work.forEach((w, i) => {
      const node = this.preferred[i] as number;
      if (node === NONE || !this.cluster.eligible.has(w.spec.l2lbName)) return;
      const byNode = onNode.get(w.spec.l2lbName) ?? new Map<number, number[]>();
      byNode.set(node, [...(byNode.get(node) ?? []), i]);
      onNode.set(w.spec.l2lbName, byNode);
    });
    const names = [...onNode.keys()].sort(compareText);
    for (; budget > 0; budget--) {
      let best:
        { index: number; from: number; to: number; gap: number; byNode: Map<number, number[]> } | undefined;
      for (const name of names) {
        const byNode = onNode.get(name) as Map<number, number[]>;
        const found = this.rebalanceMove(name, byNode);
        if (found !== undefined && (best === undefined || found.gap > best.gap)) best = { ...found, byNode };
      }
      if (best === undefined) return;
      const { index, from, to, byNode } = best;
      byNode.set(
        from,
        (byNode.get(from) as number[]).filter((i) => i !== index),
      );
      byNode.set(to, [...(byNode.get(to) ?? []), index]);
      this.move(index, to, 'Rebalance');
    }
  }

  /** The move with the largest load gap for one L2LoadBalancer, from its most loaded node that can give. */
  private rebalanceMove(
    name: string,
    byNode: ReadonlyMap<number, number[]>,
  ): { index: number; from: number; to: number; gap: number } | undefined {
    let minTargetLoad = Number.POSITIVE_INFINITY;
    for (const id of (this.cluster.eligible.get(name) as { ids: number[] }).ids) {
      if (this.cluster.mature[id] === 1) minTargetLoad = Math.min(minTargetLoad, this.load(id));
    }
    const sources = [...byNode.keys()].sort((a, b) => this.load(b) - this.load(a) || a - b);
    for (const source of sources) {
      const sourceLoad = this.load(source);
      if (sourceLoad - minTargetLoad <= 1) return undefined;
      for (const i of this.movedFirst([...(byNode.get(source) as number[])])) {
        const to = this.bestTarget(i, sourceLoad - 2, false);
        if (to !== NONE) return { index: i, from: source, to, gap: sourceLoad - this.load(to) };
      }
    }
    return undefined;
  }

  /**
   * Step 4: preferred first, then the other fresh eligible nodes (those preferred by the Service's
   * other indices last, then by rendezvous score), then demoted nodes in the same order; at most `max`.
   */
  private rankCandidates(i: number, max: number): string[] {
    const first = this.preferred[i] as number;
    if (first === NONE) return [];
    const w = this.work[i] as IndexWork;
    // Mark the nodes the Service's other indices prefer (scratch array, cleared below).
    const sibling = this.members[w.service] as number[];
    const marks = this.sameService;
    for (const j of sibling)
      if (j !== i && this.preferred[j] !== NONE) (marks[this.preferred[j] as number] as number)++;
    // The best (max - 1) by an exact composite rank: tier, sibling, score (< 2^32); the id breaks ties.
    // Kept sorted in two small parallel arrays: this loop runs for every (index, eligible node) pair.
    const room = max - 1;
    const ranks: number[] = [];
    const ids: number[] = [];
    for (const id of w.eligible) {
      if (id === first || room === 0) continue;
      const tier = (this.cluster.fresh[id] === 1 ? 0 : 2) + ((marks[id] as number) > 0 ? 1 : 0);
      const rank = tier * 2 ** 32 + this.score(i, id);
      let at = ids.length;
      if (at === room) {
        const worst = ranks[at - 1] as number;
        if (rank > worst || (rank === worst && id > (ids[at - 1] as number))) continue;
        at--;
      }
      while (
        at > 0 &&
        ((ranks[at - 1] as number) > rank ||
          ((ranks[at - 1] as number) === rank && (ids[at - 1] as number) > id))
      ) {
        ranks[at] = ranks[at - 1] as number;
        ids[at] = ids[at - 1] as number;
        at--;
      }
      ranks[at] = rank;
      ids[at] = id;
    }
    for (const j of sibling)
      if (j !== i && this.preferred[j] !== NONE) marks[this.preferred[j] as number] = 0;
    const out = [this.cluster.names[first] as string];
    for (const id of ids) out.push(this.cluster.names[id] as string);
    return out;
  }

  result(maxCandidates: number): PlacementResult {
    const candidates = new Map<string, string[]>();
    this.work.forEach((w, i) => candidates.set(w.spec.key, this.rankCandidates(i, maxCandidates)));
    const eligible = new Map<string, string[]>();
    for (const name of [...this.cluster.eligible.keys()].sort(compareText)) {
      const ids = (this.cluster.eligible.get(name) as { ids: number[] }).ids;
      eligible.set(
        name,
        ids.map((id) => this.cluster.names[id] as string),
      );
    }
    const moves = [...this.moves.values()].sort((a, b) => compareText(a.key, b.key));
    return { candidates, moves, eligible };
  }
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
