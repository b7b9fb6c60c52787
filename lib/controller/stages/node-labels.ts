// Stage 8, node labels: the member label drives the speaker DaemonSet's nodeSelector; a node
// carries it while any L2LoadBalancer selects it.
import { LABEL_MEMBER, type L2LoadBalancer, type NodeState } from '../../model';
import { matchesSelector } from '../../placement/place';

export function nodeLabels(
  nodes: readonly NodeState[],
  balancers: Iterable<L2LoadBalancer>,
): Array<{ name: string; member: boolean }> {
  const selectors = [...balancers].map((b) => b.nodeSelector);
  const out: Array<{ name: string; member: boolean }> = [];
  for (const n of nodes) {
    const member = selectors.some((sel) => matchesSelector(n.labels, sel));
    if (member !== (n.labels[LABEL_MEMBER] !== undefined)) out.push({ name: n.name, member });
  }
  return out;
}
