/**
 * A deliberately literal reading of ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2)
 * for one direction of one connection: the reference the compiler's tiers are tested against.
 * Written from the API text (apis/v1alpha2/clusternetworkpolicy_types.go comments and
 * site-src/api-overview.md of kubernetes-sigs/network-policy-api), sharing no code with
 * compiler/cluster-policy-compile.ts or verdict.ts: it reads the model objects directly and
 * rescans everything on every call.
 *
 * The sentences it follows:
 *  - Subject: "Namespaces is used to select pods via namespace selectors"; "Pods is used to
 *    select pods via namespace AND pod selectors"; "host-networked pods are not included in
 *    subject selection".
 *  - "CNPs with no ingress rules do not affect ingress traffic" (likewise egress).
 *  - Priority: "Policies with lower priority values have higher precedence, and are checked
 *    before policies with higher priority values in the same tier." Equal priorities: "the
 *    implementation can apply any of the matching policies"; Palisade documents priority, then
 *    name (compareClusterPolicies in compiler/ir.ts), and the property test asserts that order.
 *  - Rules: "The relative precedence of ingress rules within a single CNP object ... will be
 *    determined by the order in which the rule is written."
 *  - A rule applies when "any element [of from/to] matches" the remote end and, when
 *    protocols are given, one of them matches ("If unspecified, protocol-specific attributes
 *    will not be used to match traffic").
 *  - Actions: Accept and Deny: "No further ClusterNetworkPolicy or NetworkPolicy rules will be
 *    processed"; Pass: "Skips all further ClusterNetworkPolicy rules in the current tier ... and
 *    passes evaluation to the next tier".
 *  - Peers: namespaces and pods as the subject ("host-networked pods are not included in this
 *    type of peer"); networks: the remote address is in a CIDR ("cluster-internal traffic will
 *    be checked against the rule as well"); nodes: "selects the nodeIPs ... present in the
 *    node.Status.Addresses field" of the nodes its label selector matches.
 *  - Protocols: tcp/udp/sctp with no destinationPort match every port of that protocol ("If
 *    destinationPort is omitted, all ports for the specified protocol match"); a number is that
 *    port; a range is start..end inclusive; destinationNamedPort "selects a destination port on
 *    a pod based on the ContainerPort name", so it matches a destination pod's container port
 *    of that name, with that port's own protocol, and nothing that is not such a pod.
 *  - A peer this reading cannot match (domainNames, which Palisade does not enforce, or a peer
 *    with no field set) makes the rule "fail closed": "For Accept rules, fail closed means:
 *    treat the rule as matching no traffic. For Deny and Pass rules, fail closed means: treat
 *    the rule as a 'Deny all' rule." Read literally: an Accept rule with such a peer matches
 *    nothing at all (its other peers included); a Deny or a Pass rule with one becomes a Deny
 *    whose peers match every remote address (its protocols still apply: only the peer is
 *    unknown).
 */
import type {
  ClusterPolicyAction,
  ClusterPolicyInfo,
  ClusterPolicyPeer,
  ClusterPolicyProtocol,
  ClusterPolicyRule,
  ClusterPolicyTier,
  ClusterSnapshot,
  PodInfo,
  Protocol,
} from '../model';
import { inCidr, isPolicyTarget, literalSelectorMatches, type LiteralEnd } from './literal-basics';

export type Direction = 'Ingress' | 'Egress';

/** The connection as one direction sees it: the remote end and the destination. */
export interface DirectionQuery {
  readonly subject: PodInfo;
  readonly direction: Direction;
  /** The source for ingress, the destination for egress, and the address it uses. */
  readonly remote: LiteralEnd;
  readonly remoteIP: string;
  /** The destination (named ports resolve on it). */
  readonly dst: LiteralEnd;
  readonly port: number;
  readonly protocol: Protocol;
}

/** The first matching rule of a tier: its policy, index and (effective) action. */
export interface TierMatch {
  readonly policy: string;
  readonly rule: number;
  readonly action: ClusterPolicyAction;
}

export class LiteralClusterPolicies {
  constructor(private readonly cluster: ClusterSnapshot) {}

  private namespaceLabels(name: string): Readonly<Record<string, string>> | undefined {
    return this.cluster.namespaces.find((n) => n.name === name)?.labels;
  }

  /** Does the policy's subject hold the pod? */
  subjectHolds(c: ClusterPolicyInfo, pod: PodInfo): boolean {
    if (!isPolicyTarget(pod)) return false;
    const ns = this.namespaceLabels(pod.namespace);
    if (ns === undefined) return false;
    if (c.subject.namespaces) return literalSelectorMatches(c.subject.namespaces, ns);
    if (c.subject.pods) {
      return (
        literalSelectorMatches(c.subject.pods.namespaceSelector, ns) &&
        literalSelectorMatches(c.subject.pods.podSelector, pod.labels)
      );
    }
    return false;
  }

  /** Policies of `tier` that select the pod, in evaluation order: priority, then name. */
  policiesOf(tier: ClusterPolicyTier, pod: PodInfo): ClusterPolicyInfo[] {
    return (this.cluster.clusterPolicies ?? [])
      .filter((c) => c.tier === tier && this.subjectHolds(c, pod))
      .sort((a, b) => a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private knownPeer(p: ClusterPolicyPeer): boolean {
    const set = [p.namespaces, p.pods, p.networks, p.nodes].filter((f) => f !== undefined).length;
    return set === 1 && p.domainNames === undefined;
  }

  private peerMatches(p: ClusterPolicyPeer, remote: LiteralEnd, remoteIP: string): boolean {
    if (p.networks) return p.networks.some((cidr) => inCidr(remoteIP, cidr));
    if (p.nodes) {
      return (this.cluster.nodes ?? []).some(
        (n) => literalSelectorMatches(p.nodes!, n.labels) && n.addresses.includes(remoteIP),
      );
    }
    const pod = remote.pod;
    if (!pod || !isPolicyTarget(pod)) return false;
    const ns = this.namespaceLabels(pod.namespace);
    if (ns === undefined) return false;
    if (p.namespaces) return literalSelectorMatches(p.namespaces, ns);
    if (p.pods) {
      return (
        literalSelectorMatches(p.pods.namespaceSelector, ns) &&
        literalSelectorMatches(p.pods.podSelector, pod.labels)
      );
    }
    return false;
  }

  private protocolMatches(p: ClusterPolicyProtocol, q: DirectionQuery): boolean {
    if (p.destinationNamedPort !== undefined) {
      const pod = q.dst.pod;
      if (!pod || !isPolicyTarget(pod)) return false;
      return pod.namedPorts.some(
        (n) => n.name === p.destinationNamedPort && n.port === q.port && n.protocol === q.protocol,
      );
    }
    const attrs = q.protocol === 'TCP' ? p.tcp : q.protocol === 'UDP' ? p.udp : p.sctp;
    if (attrs === undefined) return false;
    const dp = attrs.destinationPort;
    if (dp === undefined) return true;
    if (dp.number !== undefined) return q.port === dp.number;
    if (dp.range !== undefined) return q.port >= dp.range.start && q.port <= dp.range.end;
    return false;
  }

  private protocolsMatch(rule: ClusterPolicyRule, q: DirectionQuery): boolean {
    if (!rule.protocols || rule.protocols.length === 0) return true;
    return rule.protocols.some((p) => this.protocolMatches(p, q));
  }

  /** The action a rule takes on the connection, or undefined when it does not apply. */
  ruleAction(rule: ClusterPolicyRule, q: DirectionQuery): ClusterPolicyAction | undefined {
    if (!rule.peers.every((p) => this.knownPeer(p))) {
      if (rule.action === 'Accept') return undefined;
      return this.protocolsMatch(rule, q) ? 'Deny' : undefined;
    }
    const peerOk = rule.peers.some((p) => this.peerMatches(p, q.remote, q.remoteIP));
    return peerOk && this.protocolsMatch(rule, q) ? rule.action : undefined;
  }

  /** The first rule of the tier that applies, in order; undefined when none does. */
  tierMatch(tier: ClusterPolicyTier, q: DirectionQuery): TierMatch | undefined {
    for (const c of this.policiesOf(tier, q.subject)) {
      const rules = q.direction === 'Ingress' ? c.ingress : c.egress;
      for (let i = 0; i < rules.length; i++) {
        const action = this.ruleAction(rules[i], q);
        if (action !== undefined) return { policy: c.name, rule: i, action };
      }
    }
    return undefined;
  }
}
