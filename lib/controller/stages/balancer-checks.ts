// Stage 1, balancer checks: each L2LoadBalancer's pool parsed, its problems found (invalid entries,
// an empty pool, overlaps with another L2LoadBalancer). A balancer with problems is frozen: its
// Services keep what they have and get nothing new until it is fixed.
import { parsePool, findPoolOverlaps, type Pool } from '../../address/pool';
import type { L2LoadBalancer } from '../../model';
import { listSome, quote } from '../../messages';

export interface BalancerProblem {
  reason: string;
  message: string;
}

export interface BalancerCheck {
  pool: Pool;
  problems: BalancerProblem[];
  /** The balancer's Services keep what they have and get nothing new. */
  frozen: boolean;
}

export function checkBalancers(balancers: readonly L2LoadBalancer[]): Map<string, BalancerCheck> {
  const checks = new Map<string, BalancerCheck>();
  for (const b of balancers) {
    const { pool, errors } = parsePool(b.addressPool);
    const problems = errors.slice(0, 5).map((e) => ({
      reason: 'InvalidPool',
      message: `L2LoadBalancer ${b.name}: spec.addressPool[${e.index}] ${quote(e.entry, 64)}: ${e.message.slice(0, 200)}`,
    }));
    if (errors.length > 5) {
      problems.push({
        reason: 'InvalidPool',
        message: `L2LoadBalancer ${b.name}: ${errors.length - 5} more invalid spec.addressPool entries`,
      });
    }
    if (b.addressPool.length === 0) {
      problems.push({
        reason: 'InvalidPool',
        message: `L2LoadBalancer ${b.name}: spec.addressPool is empty`,
      });
    }
    if (b.serviceAllocationError !== undefined) {
      problems.push({
        reason: 'InvalidServiceAllocation',
        message: `L2LoadBalancer ${b.name}: ${b.serviceAllocationError.slice(0, 300)}; no new addresses are allocated from it until it is fixed`,
      });
    }
    checks.set(b.name, { pool, problems, frozen: problems.length > 0 });
  }
  // Overlaps: the older L2LoadBalancer keeps allocating; the newer one is frozen until fixed.
  const ordered = [...balancers].sort(
    (a, b) => a.creationTimestamp.localeCompare(b.creationTimestamp) || a.name.localeCompare(b.name),
  );
  // One sweep over every pool's entries (lib/address/pool.ts), not each pair of pools compared.
  const overlapping = findPoolOverlaps(
    ordered.map((b) => ({ name: b.name, pool: checks.get(b.name)!.pool })),
  );
  for (const { a: olderName, b: newerName, entries } of overlapping) {
    const what = listSome(
      entries.map((o) => `${o.b} overlaps ${o.a}`),
      5,
      '; ',
    );
    checks.get(newerName)!.problems.push({
      reason: 'OverlappingPool',
      message: `L2LoadBalancer ${newerName}: spec.addressPool overlaps L2LoadBalancer ${olderName} (${what}); no new addresses are allocated from it until the overlap is removed`,
    });
    checks.get(newerName)!.frozen = true;
    checks.get(olderName)!.problems.push({
      reason: 'OverlappingPool',
      message: `L2LoadBalancer ${olderName}: spec.addressPool overlaps newer L2LoadBalancer ${newerName} (${what})`,
    });
  }
  return checks;
}
