/**
 * The cluster model: the slim projection of Kubernetes objects that the compiler needs.
 *
 * What it models: Namespaces, Pods, Nodes, networking.k8s.io/v1 NetworkPolicies and
 * policy.networking.k8s.io/v1alpha2 ClusterNetworkPolicies, reduced to the fields that decide
 * verdicts. Informers and the scenario loader project full
 * objects into these shapes as soon as they arrive, so memory stays flat per pod whatever
 * the pod carries (annotations, managedFields, container specs are never kept).
 *
 * Promise: every value here is plain data (JSON-serialisable, no classes), treated as
 * immutable once handed to the compiler.
 */

export type Labels = Readonly<Record<string, string>>;

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  readonly values?: readonly string[];
}

/** metav1.LabelSelector. An empty selector (no labels, no expressions) selects everything. */
export interface LabelSelector {
  readonly matchLabels?: Labels;
  readonly matchExpressions?: readonly LabelSelectorRequirement[];
}

export interface NamespaceInfo {
  readonly name: string;
  readonly labels: Labels;
}

/** A container port that has a name: the target of named ports in policies. */
export interface NamedPort {
  readonly name: string;
  readonly port: number;
  readonly protocol: Protocol;
}

export interface PodInfo {
  readonly namespace: string;
  readonly name: string;
  readonly labels: Labels;
  /** spec.nodeName; empty string when not scheduled. */
  readonly nodeName: string;
  /** status.podIPs: IPv4 and/or IPv6 addresses, canonical text form. Empty when not assigned. */
  readonly ips: readonly string[];
  readonly hostNetwork: boolean;
  /** status.phase: Pending, Running, Succeeded, Failed, Unknown. */
  readonly phase: string;
  /** Named container ports, for resolving named ports in policies. */
  readonly namedPorts: readonly NamedPort[];
}

export interface IPBlock {
  readonly cidr: string;
  readonly except?: readonly string[];
}

export interface NetworkPolicyPeer {
  readonly podSelector?: LabelSelector;
  readonly namespaceSelector?: LabelSelector;
  readonly ipBlock?: IPBlock;
}

export interface NetworkPolicyPort {
  /** Defaults to TCP. */
  readonly protocol?: Protocol;
  /** Number or IANA service name; absent means every port of the protocol. */
  readonly port?: number | string;
  readonly endPort?: number;
}

export interface NetworkPolicyIngressRule {
  readonly from?: readonly NetworkPolicyPeer[];
  readonly ports?: readonly NetworkPolicyPort[];
}

export interface NetworkPolicyEgressRule {
  readonly to?: readonly NetworkPolicyPeer[];
  readonly ports?: readonly NetworkPolicyPort[];
}

export type PolicyType = 'Ingress' | 'Egress';

export interface NetworkPolicySpec {
  readonly podSelector: LabelSelector;
  readonly policyTypes?: readonly PolicyType[];
  readonly ingress?: readonly NetworkPolicyIngressRule[];
  readonly egress?: readonly NetworkPolicyEgressRule[];
}

/**
 * The annotation that puts a NetworkPolicy or ClusterNetworkPolicy in audit mode: with the value
 * "audit" the policy is compiled and its would-be verdicts reported, but it changes no packet's
 * fate. Any other value (or none) enforces it.
 */
export const ENFORCEMENT_ANNOTATION = 'palisade.io/enforcement';

export interface PolicyInfo {
  readonly namespace: string;
  readonly name: string;
  readonly spec: NetworkPolicySpec;
  /** Annotated palisade.io/enforcement: audit. Absent or false: enforced. */
  readonly audit?: boolean;
}

// ---- ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2) --------------------------------

/** The two tiers a ClusterNetworkPolicy can live in; v1 NetworkPolicy sits between them. */
export type ClusterPolicyTier = 'Admin' | 'Baseline';
export type ClusterPolicyAction = 'Accept' | 'Deny' | 'Pass';

/** `pods` subjects and peers: pods matching podSelector in namespaces matching namespaceSelector. */
export interface NamespacedPodSelector {
  readonly namespaceSelector: LabelSelector;
  readonly podSelector: LabelSelector;
}

/** Exactly one field is set (validation enforces it). */
export interface ClusterPolicySubject {
  readonly namespaces?: LabelSelector;
  readonly pods?: NamespacedPodSelector;
}

/**
 * A peer: exactly one field is set. Ingress peers are `namespaces` or `pods`; egress peers may
 * also be `networks` (CIDRs), `nodes` (node label selector, matching the nodes' addresses) or
 * `domainNames` (not enforced by Palisade: see compiler/cluster-policy-compile.ts).
 */
export interface ClusterPolicyPeer {
  readonly namespaces?: LabelSelector;
  readonly pods?: NamespacedPodSelector;
  readonly networks?: readonly string[];
  readonly nodes?: LabelSelector;
  readonly domainNames?: readonly string[];
}

/** A destination port: a number, or an inclusive range with start < end. */
export interface ClusterPolicyPort {
  readonly number?: number;
  readonly range?: { readonly start: number; readonly end: number };
}

/** Exactly one field is set. tcp/udp/sctp without destinationPort match every port. */
export interface ClusterPolicyProtocol {
  readonly tcp?: { readonly destinationPort?: ClusterPolicyPort };
  readonly udp?: { readonly destinationPort?: ClusterPolicyPort };
  readonly sctp?: { readonly destinationPort?: ClusterPolicyPort };
  /** A container port name, resolved on each destination pod, any protocol. */
  readonly destinationNamedPort?: string;
}

export interface ClusterPolicyRule {
  /** spec.ingress[].name / spec.egress[].name; '' when absent. */
  readonly name: string;
  readonly action: ClusterPolicyAction;
  /** `from` of an ingress rule, `to` of an egress rule (never empty once validated). */
  readonly peers: readonly ClusterPolicyPeer[];
  /** Absent or empty: every protocol and port. */
  readonly protocols?: readonly ClusterPolicyProtocol[];
}

export interface ClusterPolicyInfo {
  /** Cluster-scoped: the name is the key. */
  readonly name: string;
  readonly tier: ClusterPolicyTier;
  /** 0–1000; lower is evaluated first within the tier. */
  readonly priority: number;
  readonly subject: ClusterPolicySubject;
  /** Empty: the policy does not affect that direction. */
  readonly ingress: readonly ClusterPolicyRule[];
  readonly egress: readonly ClusterPolicyRule[];
  /** Annotated palisade.io/enforcement: audit. Absent or false: enforced. */
  readonly audit?: boolean;
}

// ---- Nodes (for `nodes` peers) -----------------------------------------------------------------

export interface NodeInfo {
  readonly name: string;
  readonly labels: Labels;
  /** The IPs in status.addresses (InternalIP and ExternalIP), canonical text, deduplicated. */
  readonly addresses: readonly string[];
  /** spec.podCIDRs, canonical CIDR text (empty when the node has none). */
  readonly podCIDRs: readonly string[];
}

/** "namespace/name": the key of pods and policies everywhere in Palisade. */
export type ObjectKey = string;

export function objectKey(o: { namespace: string; name: string }): ObjectKey {
  return `${o.namespace}/${o.name}`;
}

/** A whole cluster at one instant: the input of a full compile and of `palisade analyze`. */
export interface ClusterSnapshot {
  readonly namespaces: readonly NamespaceInfo[];
  readonly pods: readonly PodInfo[];
  readonly policies: readonly PolicyInfo[];
  /** ClusterNetworkPolicies; absent = none (a cluster without the CRD). */
  readonly clusterPolicies?: readonly ClusterPolicyInfo[];
  /** Nodes; absent = none known (only `nodes` peers need them). */
  readonly nodes?: readonly NodeInfo[];
}

/**
 * A pod takes part in NetworkPolicy (as subject or as peer) only while it has an address and
 * has not terminated. hostNetwork pods share the node's address: they are never isolated and
 * never matched by pod selectors, though ipBlock rules can still match their (node) address.
 */
export function podIsLive(p: PodInfo): boolean {
  return p.ips.length > 0 && p.phase !== 'Succeeded' && p.phase !== 'Failed';
}

export function podIsPolicyTarget(p: PodInfo): boolean {
  return podIsLive(p) && !p.hostNetwork;
}
