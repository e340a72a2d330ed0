/**
 * The answer to "is this connection allowed, and why?" — produced by `verdict()` over a
 * CompiledState and by the literal reference evaluator, printed by `palisade explain`.
 */
import type { ClusterPolicyKey, TierName } from './ir';
import type { ClusterPolicyAction, ObjectKey, Protocol } from './model';

/** One end of a connection: a pod by key, or a bare address (a host outside the cluster). */
export type Endpoint =
  { readonly kind: 'pod'; readonly key: ObjectKey } | { readonly kind: 'ip'; readonly ip: string };

export interface RuleRef {
  readonly policy: ObjectKey;
  readonly direction: 'ingress' | 'egress';
  /** Index in the policy's ingress or egress list. */
  readonly rule: number;
}

/** A ClusterNetworkPolicy rule that matched a connection. */
export interface TierRuleRef {
  readonly tier: TierName;
  readonly policy: ClusterPolicyKey;
  readonly priority: number;
  readonly direction: 'ingress' | 'egress';
  /** Index in the policy's ingress or egress list, and the rule's name ('' when unnamed). */
  readonly rule: number;
  readonly ruleName: string;
  readonly action: ClusterPolicyAction;
}

/**
 * Which stage of the evaluation decided a direction:
 * - admin / baseline: an Accept or Deny rule of a ClusterNetworkPolicy of that tier
 *   (`clusterRule`); a Pass rule decides nothing (it skips the rest of its tier, `passedBy`);
 * - networkpolicy: v1 NetworkPolicies isolate the pod for the direction and decided (union);
 * - default: nothing decided, so the connection is allowed (Kubernetes' default).
 */
export type DecidingTier = 'admin' | 'networkpolicy' | 'baseline' | 'default';

export interface DirectionVerdict {
  readonly direction: 'ingress' | 'egress';
  /** The pod whose policies decide this direction (destination for ingress, source for egress); null for an address. */
  readonly subject: ObjectKey | null;
  /**
   * False when this state does not hold the subject's rules (a pod on another node, seen by an
   * agent): the direction is then decided elsewhere and counts as allowed here.
   */
  readonly evaluated: boolean;
  /** Policies that select the subject for this direction. Empty = not isolated = allowed. */
  readonly isolatingPolicies: readonly ObjectKey[];
  /** Every rule that admits the connection (union semantics: one is enough). */
  readonly allowedBy: readonly RuleRef[];
  readonly allowed: boolean;
  /** The stage that decided; 'default' also when the direction was not evaluated here. */
  readonly decidedBy: DecidingTier;
  /** The ClusterNetworkPolicy rule that decided (decidedBy admin or baseline). */
  readonly clusterRule?: TierRuleRef;
  /** Pass rules met on the way (at most one per tier): each skipped the rest of its tier. */
  readonly passedBy: readonly TierRuleRef[];
  /**
   * First matching rules of other policies of the same tier and priority as the deciding one:
   * the API leaves their order undefined; Palisade orders by name, and explain says so.
   */
  readonly tiedWith: readonly TierRuleRef[];
}

export interface Verdict {
  readonly allowed: boolean;
  /** Traffic from a pod to itself, always allowed. */
  readonly self: boolean;
  /**
   * Traffic between a pod and the node it runs on (kubelet probes, hostNetwork pods of that
   * node), always allowed, as the Kubernetes docs say.
   */
  readonly node: boolean;
  readonly egress: DirectionVerdict;
  readonly ingress: DirectionVerdict;
  /**
   * Present when an audit-mode policy (palisade.io/enforcement: audit) selects either end: the
   * outcome if the audited policies were enforced too. The fields above are what is enforced.
   */
  readonly audited?: Omit<Verdict, 'audited'>;
}

export interface Probe {
  readonly port: number;
  readonly protocol: Protocol;
}
