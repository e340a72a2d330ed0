/**
 * Scheduling, the little a sandbox needs: a pod without spec.nodeName goes to a node whose
 * labels satisfy its nodeSelector (and that is not cordoned), round robin among those. Pure:
 * the simulator posts the Binding.
 */
import type { Json } from './kube-rest';

export interface SchedulableNode {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly unschedulable: boolean;
}

export class RoundRobinScheduler {
  private turn = 0;

  constructor(private readonly nodes: readonly SchedulableNode[]) {}

  /** The node for `pod`, or a reason none fits. */
  choose(pod: Json): { node: string } | { unschedulable: string } {
    const selector = ((pod.spec as Json | undefined)?.nodeSelector ?? {}) as Record<string, string>;
    const fits = this.nodes.filter(
      (n) => !n.unschedulable && Object.entries(selector).every(([k, v]) => n.labels[k] === v),
    );
    if (fits.length === 0) {
      return {
        unschedulable: `0/${this.nodes.length} nodes are available: ${this.nodes.length} node(s) didn't match Pod's node affinity/selector.`,
      };
    }
    const node = fits[this.turn % fits.length];
    this.turn++;
    return { node: node.name };
  }
}
