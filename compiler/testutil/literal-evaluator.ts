/**
 * A deliberately literal NetworkPolicy evaluator: the reference the compiler is tested
 * against. It reads the policies straight from the model (PolicyInfo, PodInfo, NamespaceInfo)
 * and decides one connection by following the sentences of the Kubernetes documentation
 * ("Network Policies", concepts/services-networking/network-policies), one after the other.
 * It shares no code with the compiler beyond the model types: its own selector matching, its
 * own policyTypes defaulting, its own CIDR containment (node:net BlockList; this is test
 * code). It is written to be obviously right, not fast: every call rescans everything.
 *
 * The rules it encodes, in the docs' words where they exist:
 *  - "By default, a pod is non-isolated for egress/ingress; all connections are allowed."
 *  - "A pod is isolated for egress if there is any NetworkPolicy that both selects the pod and
 *    has 'Egress' in its policyTypes" (likewise ingress). A policy selects the pods of its own
 *    namespace that its podSelector matches ({} matches all).
 *  - policyTypes absent: "Ingress will always be set and Egress will be set if the
 *    NetworkPolicy has any egress rules".
 *  - When isolated, "the only allowed connections are those allowed by the egress list of
 *    some NetworkPolicy that applies to the pod" -- a union, order irrelevant.
 *  - "For a connection from a source pod to a destination pod to be allowed, both the egress
 *    policy on the source pod and the ingress policy on the destination pod need to allow".
 *  - A rule matches when its peers (from/to; empty or absent = everyone) match the remote end
 *    AND its ports (empty or absent = every port) match the destination port and protocol.
 *  - Peer: podSelector alone = pods of the policy's namespace; namespaceSelector alone = all
 *    pods of matching namespaces; both = matching pods in matching namespaces; ipBlock = the
 *    remote address is in cidr and in none of except.
 *  - Port: protocol defaults to TCP; no port = every port of that protocol; endPort = the
 *    inclusive range port..endPort; a named port is the destination pod's container port of
 *    that name and protocol.
 *  - hostNetwork pods: policies neither select them nor match them by pod/namespace selector
 *    ("behavior ... is undefined" upstream; Palisade treats them as their node's address, so
 *    only ipBlock can match them). The docs' reading for plugins that cannot tell a
 *    hostNetwork pod from its node is "treated like other node traffic", so a named port
 *    never resolves on a hostNetwork destination either (a node has no named ports).
 *  - "traffic to and from the node where a Pod is running is always allowed": a pod and a
 *    hostNetwork pod of the same node may always connect. A pod may always reach itself.
 *  - Pods without an address, or Succeeded/Failed, take no part (no selector matches them).
 *
 * Addresses: a connection uses IPv4 when both ends have an IPv4 address, otherwise IPv6 when
 * both have one; with no common family there is no connection (denied unless self or node).
 * An address endpoint that is the address of a live, non-hostNetwork pod is that pod (using
 * that one address); any other address is a host outside the cluster, never subject to policy.
 *
 * ClusterNetworkPolicy tiers (literal-cluster-policy.ts has the reading of one tier): per
 * direction, "Policy tiers are evaluated in the following order: Admin tier, NetworkPolicy
 * tier, Baseline tier"; an Admin Accept or Deny decides; an Admin Pass, or no Admin match,
 * goes on to NetworkPolicy, which "always makes a final decision for selected pods" (the
 * isolation rules above); for pods no NetworkPolicy isolates, the Baseline tier decides the
 * same way; "If a given connection wasn't allowed or denied by any of the tiers, the default
 * kubernetes policy is applied, which says that all pods can communicate with each other."
 * The two exemptions above (a pod to itself, a pod and its own node) hold for every tier:
 * "A Pod connecting to its own Pod IP is not subject to CNP" (api-overview.md); the node rule
 * is the Kubernetes docs' for NetworkPolicy, which Palisade applies to every tier (the CNP API
 * text is silent on it).
 */
import type {
  ClusterSnapshot,
  NamespaceInfo,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  PodInfo,
  PolicyInfo,
  Protocol,
} from '../model';
import {
  family,
  inCidr,
  isPolicyTarget,
  literalSelectorMatches,
  participates,
  type LiteralEnd,
} from './literal-basics';
import { LiteralClusterPolicies, type TierMatch } from './literal-cluster-policy';

export { literalSelectorMatches } from './literal-basics';

export type LiteralEndpoint = { kind: 'pod'; key: string } | { kind: 'ip'; ip: string };

/** How one direction of a connection is decided: the tier, and for a CNP tier the rule. */
export interface LiteralDecision {
  readonly allowed: boolean;
  readonly decidedBy: 'admin' | 'networkpolicy' | 'baseline' | 'default';
  readonly rule?: TierMatch;
}

type End = LiteralEnd;

function policyHasType(p: PolicyInfo, t: 'Ingress' | 'Egress'): boolean {
  if (p.spec.policyTypes !== undefined) return p.spec.policyTypes.includes(t);
  if (t === 'Ingress') return true;
  return (p.spec.egress ?? []).length > 0;
}

export class LiteralEvaluator {
  private readonly tiers: LiteralClusterPolicies;

  constructor(private readonly cluster: ClusterSnapshot) {
    this.tiers = new LiteralClusterPolicies(cluster);
  }

  private namespace(name: string): NamespaceInfo | undefined {
    return this.cluster.namespaces.find((n) => n.name === name);
  }

  private resolve(e: LiteralEndpoint): End {
    if (e.kind === 'pod') {
      const pod = this.cluster.pods.find((p) => `${p.namespace}/${p.name}` === e.key);
      return { pod, ips: pod && participates(pod) ? pod.ips : [] };
    }
    const pod = this.cluster.pods.find((p) => isPolicyTarget(p) && p.ips.includes(e.ip));
    return { pod, ips: [e.ip] };
  }

  /** Policies that select `pod` for direction `t`. */
  isolatingPolicies(pod: PodInfo, t: 'Ingress' | 'Egress'): PolicyInfo[] {
    if (!isPolicyTarget(pod)) return [];
    return this.cluster.policies.filter(
      (p) =>
        p.namespace === pod.namespace &&
        literalSelectorMatches(p.spec.podSelector, pod.labels) &&
        policyHasType(p, t),
    );
  }

  private peerMatches(
    peer: NetworkPolicyPeer,
    policyNamespace: string,
    remote: End,
    remoteIP: string,
  ): boolean {
    if (peer.ipBlock) {
      return (
        inCidr(remoteIP, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((e) => inCidr(remoteIP, e))
      );
    }
    const pod = remote.pod;
    if (!pod || !isPolicyTarget(pod)) return false;
    if (peer.namespaceSelector) {
      const ns = this.namespace(pod.namespace);
      if (!ns || !literalSelectorMatches(peer.namespaceSelector, ns.labels)) return false;
    } else if (pod.namespace !== policyNamespace) {
      return false;
    }
    return peer.podSelector ? literalSelectorMatches(peer.podSelector, pod.labels) : true;
  }

  private portMatches(p: NetworkPolicyPort, port: number, protocol: Protocol, dst: End): boolean {
    if ((p.protocol ?? 'TCP') !== protocol) return false;
    if (p.port === undefined) return true;
    if (typeof p.port === 'string') {
      // A hostNetwork pod is node traffic (see above): a node has no named ports to resolve.
      const target = dst.pod && isPolicyTarget(dst.pod) ? dst.pod : undefined;
      return (target?.namedPorts ?? []).some(
        (n) => n.name === p.port && n.protocol === protocol && n.port === port,
      );
    }
    if (p.endPort !== undefined) return port >= p.port && port <= p.endPort;
    return port === p.port;
  }

  /** Does some rule of the NetworkPolicies isolating `subject` for `t` admit the connection? */
  private networkPoliciesAdmit(
    policies: readonly PolicyInfo[],
    t: 'Ingress' | 'Egress',
    remote: End,
    remoteIP: string,
    dst: End,
    port: number,
    protocol: Protocol,
  ): boolean {
    for (const pol of policies) {
      const rules = t === 'Ingress' ? (pol.spec.ingress ?? []) : (pol.spec.egress ?? []);
      for (const rule of rules) {
        const peers =
          t === 'Ingress'
            ? (rule as { from?: readonly NetworkPolicyPeer[] }).from
            : (rule as { to?: readonly NetworkPolicyPeer[] }).to;
        const peerOk =
          !peers ||
          peers.length === 0 ||
          peers.some((pe) => this.peerMatches(pe, pol.namespace, remote, remoteIP));
        const portOk =
          !rule.ports ||
          rule.ports.length === 0 ||
          rule.ports.some((pp) => this.portMatches(pp, port, protocol, dst));
        if (peerOk && portOk) return true;
      }
    }
    return false;
  }

  /** Which tier decides one direction for `subject`, and how. */
  private directionDecision(
    subject: PodInfo | undefined,
    t: 'Ingress' | 'Egress',
    remote: End,
    remoteIP: string,
    dst: End,
    port: number,
    protocol: Protocol,
  ): LiteralDecision {
    if (!subject || !isPolicyTarget(subject)) return { allowed: true, decidedBy: 'default' };
    const query = { subject, direction: t, remote, remoteIP, dst, port, protocol };
    const admin = this.tiers.tierMatch('Admin', query);
    if (admin && admin.action !== 'Pass')
      return { allowed: admin.action === 'Accept', decidedBy: 'admin', rule: admin };
    const policies = this.isolatingPolicies(subject, t);
    if (policies.length > 0) {
      const allowed = this.networkPoliciesAdmit(policies, t, remote, remoteIP, dst, port, protocol);
      return { allowed, decidedBy: 'networkpolicy' };
    }
    const baseline = this.tiers.tierMatch('Baseline', query);
    if (baseline && baseline.action !== 'Pass')
      return { allowed: baseline.action === 'Accept', decidedBy: 'baseline', rule: baseline };
    return { allowed: true, decidedBy: 'default' };
  }

  /**
   * Both directions of a connection: undefined when no policy can decide it (a pod to itself,
   * a pod and its own node, or no address family the two ends share).
   */
  decisions(
    from: LiteralEndpoint,
    to: LiteralEndpoint,
    port: number,
    protocol: Protocol,
  ): { egress: LiteralDecision; ingress: LiteralDecision } | undefined {
    const src = this.resolve(from);
    const dst = this.resolve(to);
    if (src.pod && src.pod === dst.pod) return undefined;
    if (
      src.pod &&
      dst.pod &&
      src.pod.nodeName !== '' &&
      src.pod.nodeName === dst.pod.nodeName &&
      (src.pod.hostNetwork || dst.pod.hostNetwork)
    ) {
      return undefined;
    }
    const srcIP =
      src.ips.find((s) => family(s) === 'ipv4' && dst.ips.some((d) => family(d) === 'ipv4')) ??
      src.ips.find((s) => family(s) === 'ipv6' && dst.ips.some((d) => family(d) === 'ipv6'));
    if (srcIP === undefined) return undefined;
    const dstIP = dst.ips.find((d) => family(d) === family(srcIP))!;
    return {
      egress: this.directionDecision(src.pod, 'Egress', dst, dstIP, dst, port, protocol),
      ingress: this.directionDecision(dst.pod, 'Ingress', src, srcIP, dst, port, protocol),
    };
  }

  allowed(from: LiteralEndpoint, to: LiteralEndpoint, port: number, protocol: Protocol): boolean {
    const src = this.resolve(from);
    const dst = this.resolve(to);
    const d = this.decisions(from, to, port, protocol);
    if (d) return d.egress.allowed && d.ingress.allowed;
    // Undecidable by policy: a pod to itself or a pod and its own node (allowed), or no
    // common address family (no connection at all).
    if (src.pod && src.pod === dst.pod) return true;
    return (
      src.pod !== undefined &&
      dst.pod !== undefined &&
      src.pod.nodeName !== '' &&
      src.pod.nodeName === dst.pod.nodeName &&
      (src.pod.hostNetwork || dst.pod.hostNetwork)
    );
  }
}
