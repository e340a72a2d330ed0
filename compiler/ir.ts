/**
 * The IR: what the compiler hands to the dataplane and to the verdict evaluator.
 *
 * What it models: for each subject pod (every pod for `analyze`, the node's own pods for the
 * agent), which policies isolate it per direction; for each such policy, its rules in terms
 * of peer sets and port matches; for each peer set, its definition and current members.
 *
 * How it works: peer sets are named by a canonical key derived from their definition, so two
 * rules anywhere that select the same peers share one set (and so one ipset). Membership is
 * the only thing that changes when pods come, go or are relabelled; policies and pod rule
 * lists change only when policies do or when a subject pod's labels change.
 *
 * Promise: plain data; keys are stable across processes and runs (same definition, same key).
 */
import type { ClusterPolicyAction, LabelSelector, ObjectKey, Protocol } from './model';

/** Canonical key of a peer set (see `peerSetKey` in peersets.ts). Stable across runs. */
export type PeerSetKey = string;

/**
 * What a peer set contains.
 * - `pods`: IPs (v4 and v6) of live, non-hostNetwork pods matching `podSelector` in the
 *   namespace `namespace` (a podSelector-only peer: the policy's own namespace), or in every
 *   namespace matching `namespaceSelector`.
 * - `cidr`: the addresses of `cidr` except those in `except` (one IP family; static members).
 * - `namedPort`: `ip,proto:port` entries, one per (live pod, address) that declares a container
 *   port `name` with `protocol`: the resolution of a named port on each destination pod
 *   (subject pods only for ingress rules, every pod for egress rules).
 */
export type PeerSetDef =
  | {
      readonly kind: 'pods';
      readonly namespace?: string;
      readonly namespaceSelector?: LabelSelector;
      readonly podSelector: LabelSelector;
    }
  | { readonly kind: 'cidr'; readonly cidr: string; readonly except: readonly string[] }
  /** The addresses (status.addresses) of the nodes matching `nodeSelector` (ClusterNetworkPolicy). */
  | { readonly kind: 'nodes'; readonly nodeSelector: LabelSelector }
  | {
      readonly kind: 'namedPort';
      readonly name: string;
      readonly protocol: Protocol;
      /**
       * Only subject pods contribute. Ingress named ports resolve on the destination, which for
       * ingress is always a subject (a local pod, for the agent): no need to hold the cluster.
       */
      readonly subjectsOnly: boolean;
    };

/**
 * A peer set with its members.
 * - pods, nodes: canonical IP strings ("10.0.0.1", "fd00::1").
 * - cidr: `cidr` followed by each except entry prefixed with "!" (e.g. "10.0.0.0/8", "!10.1.0.0/16").
 * - namedPort: ipset hash:ip,port entries, lower-case protocol ("10.0.0.1,tcp:8080", "fd00::1,udp:53").
 */
export interface PeerSet {
  readonly key: PeerSetKey;
  readonly def: PeerSetDef;
  readonly members: ReadonlySet<string>;
}

/**
 * A port match of a rule.
 * - `port`: protocol, and optionally a port or a range [port, endPort]; no port = every port.
 * - `named`: the destination's own (ip, port) must be in the namedPort peer set `set`.
 */
export type PortMatch =
  | { readonly kind: 'port'; readonly protocol: Protocol; readonly port?: number; readonly endPort?: number }
  | { readonly kind: 'named'; readonly protocol: Protocol; readonly name: string; readonly set: PeerSetKey };

/** One ingress or egress rule. 'any' = the field was empty or absent. */
export interface CompiledRule {
  /** Index of the rule in the policy's ingress or egress list (for explanations). */
  readonly index: number;
  /** Peer sets, any of which admits the remote address (source for ingress, destination for egress). */
  readonly peers: readonly PeerSetKey[] | 'any';
  readonly ports: readonly PortMatch[] | 'any';
}

export interface CompiledPolicy {
  readonly key: ObjectKey;
  readonly namespace: string;
  readonly name: string;
  /** null when the policy does not apply to that direction; [] when it does and allows nothing. */
  readonly ingress: readonly CompiledRule[] | null;
  readonly egress: readonly CompiledRule[] | null;
  /** Audit mode (palisade.io/enforcement: audit): reported, never enforced. */
  readonly audit?: true;
}

// ---- ClusterNetworkPolicy tiers ---------------------------------------------------------------

/** Key of a ClusterNetworkPolicy in the IR: its name (the object is cluster-scoped). */
export type ClusterPolicyKey = string;

export type TierName = 'admin' | 'baseline';

/**
 * One ClusterNetworkPolicy rule. Evaluation within a policy is in `index` order, first match
 * wins. `peers: []` matches nothing (an Accept rule with a peer Palisade cannot match);
 * 'any' matches every remote address (a Deny or Pass rule with such a peer, compiled as a
 * Deny: the API's fail-closed rule), `ports` as in v1 rules.
 */
export interface CompiledTierRule {
  /** Index in the policy's ingress or egress list. */
  readonly index: number;
  /** The rule's `name`; '' when it has none. */
  readonly name: string;
  /** The rule's action; Deny for a Pass rule that fails closed (see `unsupported`). */
  readonly action: ClusterPolicyAction;
  /** The action as written, present only when failing closed changed it (Pass, compiled as Deny). */
  readonly writtenAction?: ClusterPolicyAction;
  readonly peers: readonly PeerSetKey[] | 'any';
  readonly ports: readonly PortMatch[] | 'any';
  /**
   * Peer kinds of this rule that Palisade does not enforce (only 'domainNames' today), and how
   * the rule was narrowed or widened because of them: reported by analyze, the agent, explain.
   */
  readonly unsupported?: readonly string[];
}

export interface CompiledClusterPolicy {
  readonly key: ClusterPolicyKey;
  readonly name: string;
  readonly tier: TierName;
  readonly priority: number;
  /** null when the policy has no rules for that direction (it does not affect it). */
  readonly ingress: readonly CompiledTierRule[] | null;
  readonly egress: readonly CompiledTierRule[] | null;
  /** Audit mode (palisade.io/enforcement: audit): reported, never enforced. */
  readonly audit?: true;
}

/** The order of evaluation within a tier: priority, then name (ties have no defined winner upstream). */
export function compareClusterPolicies(
  a: { readonly priority: number; readonly name: string },
  b: { readonly priority: number; readonly name: string },
): number {
  return a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

export interface PodRules {
  readonly key: ObjectKey;
  readonly namespace: string;
  readonly name: string;
  readonly nodeName: string;
  readonly ips: readonly string[];
  /**
   * Keys of the NetworkPolicies that select the pod for ingress, sorted. Empty = not isolated.
   * These lists, and the four below, hold audit-mode policies too: consumers that enforce skip
   * those (see `audit` on the compiled policies).
   */
  readonly ingress: readonly ObjectKey[];
  readonly egress: readonly ObjectKey[];
  /**
   * ClusterNetworkPolicies whose subject holds the pod and which have rules for the direction,
   * per tier, in evaluation order (compareClusterPolicies).
   */
  readonly adminIngress: readonly ClusterPolicyKey[];
  readonly adminEgress: readonly ClusterPolicyKey[];
  readonly baselineIngress: readonly ClusterPolicyKey[];
  readonly baselineEgress: readonly ClusterPolicyKey[];
}

/** Does anything (a NetworkPolicy or a ClusterNetworkPolicy of either tier) decide this direction for the pod? */
export function podHasRules(p: PodRules, direction: 'ingress' | 'egress'): boolean {
  return direction === 'ingress'
    ? p.ingress.length > 0 || p.adminIngress.length > 0 || p.baselineIngress.length > 0
    : p.egress.length > 0 || p.adminEgress.length > 0 || p.baselineEgress.length > 0;
}

/** The compiled state: complete and self-contained (every referenced key is present). */
export interface CompiledState {
  readonly pods: ReadonlyMap<ObjectKey, PodRules>;
  /** Policies that select at least one subject pod. */
  readonly policies: ReadonlyMap<ObjectKey, CompiledPolicy>;
  /** ClusterNetworkPolicies whose subject holds at least one subject pod. */
  readonly clusterPolicies: ReadonlyMap<ClusterPolicyKey, CompiledClusterPolicy>;
  /** Peer sets referenced by the policies above. */
  readonly peerSets: ReadonlyMap<PeerSetKey, PeerSet>;
  /**
   * The agent's node's pod address ranges (its spec.podCIDRs, or what the agent was told),
   * canonical CIDR text: a local address in them that no subject pod holds is a pod the
   * dataplane has not programmed yet, and fails closed. Absent or empty: none known (analyze).
   */
  readonly localPodCIDRs?: readonly string[];
  /**
   * Addresses inside `localPodCIDRs` that live, non-hostNetwork pods of other nodes hold, as the
   * model has them: pods the agent knows, so not new pods of this node (a scenario or an IPAM may
   * hand out addresses of one node's range elsewhere). Empty or absent: none (analyze).
   */
  readonly remotePodAddresses?: ReadonlySet<string>;
}

export interface MemberChange {
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

/**
 * What changed since the previous delta was taken. Consumers (the dataplane renderer) redo only
 * the named objects; `full` says everything must be re-rendered (first compile).
 */
export interface CompileDelta {
  readonly full: boolean;
  /**
   * Subject pods added, removed, or whose ips or policy lists changed, or one of whose policies
   * entered or left audit mode.
   */
  readonly pods: ReadonlySet<ObjectKey>;
  /** Compiled policies added, removed or changed. */
  readonly policies: ReadonlySet<ObjectKey>;
  /** Compiled ClusterNetworkPolicies added, removed or changed (rules or priority). */
  readonly clusterPolicies: ReadonlySet<ClusterPolicyKey>;
  /** Peer sets that appeared or disappeared in CompiledState.peerSets. */
  readonly peerSets: ReadonlySet<PeerSetKey>;
  /** Membership changes of peer sets present before and after. */
  readonly members: ReadonlyMap<PeerSetKey, MemberChange>;
  /** CompiledState.localPodCIDRs changed. */
  readonly localPodCIDRs?: boolean;
  /** Addresses that entered or left CompiledState.remotePodAddresses (absent: none). */
  readonly remotePodAddresses?: MemberChange;
}
