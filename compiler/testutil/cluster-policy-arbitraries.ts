/**
 * fast-check generators of ClusterNetworkPolicies and Nodes for the property tests
 * (property.test.ts: the compiler against the literal evaluator; incremental.test.ts: event
 * sequences against a from-scratch compile). Every generated object is one the API server
 * accepts: exactly one subject and peer field, ingress peers only `namespaces` and `pods`,
 * ranges with start < end, no named port in an egress rule with a networks, nodes or
 * domainNames peer (the CRD's CEL rule), priorities 0-1000 (ties on purpose).
 */
import fc from 'fast-check';
import type {
  ClusterPolicyAction,
  ClusterPolicyInfo,
  ClusterPolicyPeer,
  ClusterPolicyPort,
  ClusterPolicyProtocol,
  ClusterPolicyRule,
  ClusterPolicyTier,
  LabelSelector,
  NodeInfo,
} from '../model';

export interface ClusterPolicyArbOptions {
  /** Names to draw from; several policies of one generated list never share a name. */
  readonly names: readonly string[];
  /** Pod label selectors. */
  readonly selector: fc.Arbitrary<LabelSelector>;
  /** Namespace label selectors. */
  readonly nsSelector: fc.Arbitrary<LabelSelector>;
  /** Node label selectors. */
  readonly nodeSelector: fc.Arbitrary<LabelSelector>;
  /** CIDRs for `networks` (canonical text). */
  readonly cidrs: readonly string[];
  /** Port numbers for destinationPort.number and range bounds. */
  readonly ports: readonly number[];
  /** Container port names for destinationNamedPort. */
  readonly portNames: readonly string[];
  readonly maxRules?: number;
}

const ACTIONS: ClusterPolicyAction[] = ['Accept', 'Deny', 'Pass'];
const TIERS: ClusterPolicyTier[] = ['Admin', 'Baseline'];
/** Few values, so that ties (equal priority) are common. */
const PRIORITIES = [0, 1, 1, 5, 1000];
const DOMAINS = ['example.com', '*.example.org'];

function portArb(ports: readonly number[]): fc.Arbitrary<ClusterPolicyPort | undefined> {
  const sorted = [...new Set(ports)].sort((a, b) => a - b);
  const ranges: { start: number; end: number }[] = [{ start: 1, end: 65535 }];
  for (let i = 0; i + 1 < sorted.length; i++) ranges.push({ start: sorted[i], end: sorted[i + 1] });
  return fc.oneof(
    fc.constant(undefined),
    fc.constantFrom(...sorted).map((number) => ({ number })),
    fc.constantFrom(...ranges).map((range) => ({ range })),
  );
}

function protocolArb(o: ClusterPolicyArbOptions, named: boolean): fc.Arbitrary<ClusterPolicyProtocol> {
  const withPort = (key: 'tcp' | 'udp' | 'sctp') =>
    portArb(o.ports).map((destinationPort) => ({ [key]: destinationPort ? { destinationPort } : {} }));
  const plain = [withPort('tcp'), withPort('udp'), withPort('sctp')];
  if (!named) return fc.oneof(...plain);
  return fc.oneof(
    ...plain,
    fc.constantFrom(...o.portNames).map((destinationNamedPort) => ({ destinationNamedPort })),
  );
}

function podPeerArbs(o: ClusterPolicyArbOptions): fc.Arbitrary<ClusterPolicyPeer>[] {
  return [
    o.nsSelector.map((namespaces) => ({ namespaces })),
    fc.record({ namespaceSelector: o.nsSelector, podSelector: o.selector }).map((pods) => ({ pods })),
  ];
}

function addressPeerArbs(o: ClusterPolicyArbOptions): fc.Arbitrary<ClusterPolicyPeer>[] {
  return [
    fc
      .uniqueArray(fc.constantFrom(...o.cidrs), { minLength: 1, maxLength: 3 })
      .map((networks) => ({ networks })),
    o.nodeSelector.map((nodes) => ({ nodes })),
  ];
}

function ruleArb(
  o: ClusterPolicyArbOptions,
  direction: 'ingress' | 'egress',
): fc.Arbitrary<ClusterPolicyRule> {
  const peerArb: fc.Arbitrary<ClusterPolicyPeer> =
    direction === 'ingress'
      ? fc.oneof(...podPeerArbs(o))
      : fc.oneof(
          { weight: 3, arbitrary: fc.oneof(...podPeerArbs(o)) },
          { weight: 3, arbitrary: fc.oneof(...addressPeerArbs(o)) },
          {
            weight: 1,
            arbitrary: fc.subarray(DOMAINS, { minLength: 1 }).map((domainNames) => ({ domainNames })),
          },
        );
  return fc
    .record({
      action: fc.constantFrom(...ACTIONS),
      peers: fc.array(peerArb, { minLength: 1, maxLength: 2 }),
      hasProtocols: fc.boolean(),
      plain: fc.array(protocolArb(o, false), { minLength: 1, maxLength: 2 }),
      withNamed: fc.array(protocolArb(o, true), { minLength: 1, maxLength: 2 }),
    })
    .map(({ action, peers, hasProtocols, plain, withNamed }) => {
      // The CRD forbids named ports in an egress rule with networks/nodes/domainNames peers.
      const addressPeer = peers.some((p) => p.networks || p.nodes || p.domainNames);
      const protocols = direction === 'egress' && addressPeer ? plain : withNamed;
      return { name: '', action, peers, ...(hasProtocols ? { protocols } : {}) };
    });
}

function rulesArb(
  o: ClusterPolicyArbOptions,
  direction: 'ingress' | 'egress',
): fc.Arbitrary<ClusterPolicyRule[]> {
  return fc
    .array(ruleArb(o, direction), { maxLength: o.maxRules ?? 3 })
    .map((rules) => rules.map((r, i) => ({ ...r, name: i % 2 === 0 ? `${direction}-${i}` : '' })));
}

/** One ClusterNetworkPolicy named `name`. */
export function clusterPolicyArb(o: ClusterPolicyArbOptions, name: string): fc.Arbitrary<ClusterPolicyInfo> {
  return fc.record({
    name: fc.constant(name),
    tier: fc.constantFrom(...TIERS),
    priority: fc.constantFrom(...PRIORITIES),
    subject: fc.oneof(
      o.nsSelector.map((namespaces) => ({ namespaces })),
      fc.record({ namespaceSelector: o.nsSelector, podSelector: o.selector }).map((pods) => ({ pods })),
    ),
    ingress: rulesArb(o, 'ingress'),
    egress: rulesArb(o, 'egress'),
  });
}

/** Up to `max` ClusterNetworkPolicies with distinct names drawn from o.names. */
export function clusterPoliciesArb(
  o: ClusterPolicyArbOptions,
  max: number,
): fc.Arbitrary<ClusterPolicyInfo[]> {
  return fc
    .uniqueArray(fc.constantFrom(...o.names), { maxLength: Math.min(max, o.names.length) })
    .chain((names) =>
      names.length === 0 ? fc.constant([]) : fc.tuple(...names.map((n) => clusterPolicyArb(o, n))),
    );
}

/** Node labels: the well-known os label and a role, each present or not. */
export const nodeLabelsArb: fc.Arbitrary<Record<string, string>> = fc.record(
  {
    'kubernetes.io/os': fc.constant('linux'),
    role: fc.constantFrom('worker', 'infra'),
  },
  { requiredKeys: [] },
);

/** Node selectors matching those labels in every way: all, by os, by role, by expressions. */
export const nodeSelectorArb: fc.Arbitrary<LabelSelector> = fc.oneof(
  fc.constant({}),
  fc.constant({ matchLabels: { 'kubernetes.io/os': 'linux' } }),
  fc.constantFrom('worker', 'infra').map((role) => ({ matchLabels: { role } })),
  fc.constant({ matchExpressions: [{ key: 'role', operator: 'In' as const, values: ['infra'] }] }),
  fc.constant({ matchExpressions: [{ key: 'role', operator: 'DoesNotExist' as const }] }),
);

/** A node with the given name and addresses and random labels. */
export function nodeArb(
  name: string,
  addresses: readonly string[],
  podCIDRs: readonly string[] = [],
): fc.Arbitrary<NodeInfo> {
  return nodeLabelsArb.map((labels) => ({
    name,
    labels,
    addresses: [...addresses],
    podCIDRs: [...podCIDRs],
  }));
}
