/**
 * What both backends render the same way, from the IR: which policies a pod chain consults, in
 * which order, and the two packet-mark bits that carry a verdict between chains.
 *
 * The pod chain of a direction (both backends; see each backend's README for the syntax):
 *   own address → return; clear both bits;
 *   Admin ClusterNetworkPolicies in (priority, name) order: jump to the policy's chain (skipped
 *     once the pass bit is set); allow bit set → accepted;
 *   if NetworkPolicies isolate the pod: jump to each policy's chain, allow bit → accepted; drop;
 *   otherwise Baseline ClusterNetworkPolicies (after clearing the pass bit): allow or pass bit →
 *     accepted; finally accepted (no tier decided: the default allows).
 * A policy rule that admits sets the allow bit and returns; a CNP Pass rule sets the pass bit and
 * returns; a CNP Deny rule drops. "accepted" clears both bits and leaves the pod chain.
 */
import type { CompiledClusterPolicy, CompiledPolicy, CompiledState, PodRules } from '../compiler/ir';
import type { Direction } from './names';

/** Default bit of the packet mark that carries "some policy allowed this" inside our chains. */
export const DEFAULT_MARK_BIT = 0x100000;

export interface MarkOptions {
  /** A single bit of the packet mark, owned by Palisade while a packet is in its chains. */
  readonly markBit: number;
}

/** The second mark bit: "a ClusterNetworkPolicy Pass rule matched" (the next bit up, or down at bit 31). */
export function passBitOf(markBit: number): number {
  return markBit === 0x80000000 ? 0x40000000 : markBit * 2;
}

/** Both mark bits Palisade owns, as one mask. */
export function markMask(opts: MarkOptions): number {
  return (opts.markBit | passBitOf(opts.markBit)) >>> 0;
}

/** Throws unless `markBit` is one bit of the 32-bit mark. */
export function validateMarkBit(markBit: number): void {
  if (markBit <= 0 || (markBit & (markBit - 1)) !== 0 || markBit > 0x80000000) {
    throw new Error(`markBit must be a single bit of the 32-bit mark, got ${markBit}`);
  }
}

/** Does a policy contribute a chain for this direction? */
export function policyHasDirection(p: CompiledPolicy | undefined, direction: Direction): p is CompiledPolicy {
  return !!p && (direction === 'ingress' ? p.ingress : p.egress) !== null;
}

/** Does a ClusterNetworkPolicy contribute a chain for this direction? */
export function clusterPolicyHasDirection(
  p: CompiledClusterPolicy | undefined,
  direction: Direction,
): p is CompiledClusterPolicy {
  return !!p && (direction === 'ingress' ? p.ingress : p.egress) !== null;
}

/** What a pod chain refers to: the compiled policies of both kinds. */
export type PolicyLookup = Pick<CompiledState, 'policies' | 'clusterPolicies'>;

/**
 * The policies of a pod that are enforced in a direction, per tier, in evaluation order.
 * Audit-mode policies are left out: they never change a packet's fate.
 */
export function enforcedPolicies(
  pod: PodRules,
  direction: Direction,
  lookup: PolicyLookup,
): { policyKeys: string[]; admin: string[]; baseline: string[] } {
  const np = (k: string): boolean => !lookup.policies.get(k)?.audit;
  const cnp = (k: string): boolean => !lookup.clusterPolicies.get(k)?.audit;
  return direction === 'ingress'
    ? {
        policyKeys: pod.ingress.filter(np),
        admin: pod.adminIngress.filter(cnp),
        baseline: pod.baselineIngress.filter(cnp),
      }
    : {
        policyKeys: pod.egress.filter(np),
        admin: pod.adminEgress.filter(cnp),
        baseline: pod.baselineEgress.filter(cnp),
      };
}

/** Does any enforced policy decide this direction for the pod (and so is it dispatched)? */
export function podIsolated(pod: PodRules, direction: Direction, lookup: PolicyLookup): boolean {
  const { policyKeys, admin, baseline } = enforcedPolicies(pod, direction, lookup);
  return policyKeys.length + admin.length + baseline.length > 0;
}
