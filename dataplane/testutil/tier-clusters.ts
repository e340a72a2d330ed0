/**
 * Random small clusters with NetworkPolicies and ClusterNetworkPolicies of both tiers, for
 * property tests of the dataplane against the compiler: pods on node-1 (local, 10.1.0.0/16)
 * and node-2 (10.2.0.0/16), three namespaces, two nodes with addresses and labels, and
 * cluster policies with every action, priority ties, every peer kind and protocol form; a
 * quarter of the policies of both kinds are in audit mode (never enforced).
 */
import fc from 'fast-check';
import type { IncrementalCompiler } from '../../compiler/incremental';
import type {
  ClusterPolicyInfo,
  ClusterPolicyPeer,
  ClusterPolicyProtocol,
  ClusterPolicyRule,
  ClusterSnapshot,
  LabelSelector,
  NodeInfo,
  PodInfo,
  PolicyInfo,
  Protocol,
} from '../../compiler/model';

const NAMESPACES = ['ns-a', 'ns-b', 'ns-c'];
const LABELS = ['web', 'db'];
export const NODE_ADDRESSES: Record<string, string> = { 'node-1': '172.18.0.2', 'node-2': '172.18.0.3' };
export const EXTERNAL = '192.0.2.10';
const NETWORKS = ['0.0.0.0/0', '10.0.0.0/8', '10.2.0.0/16', '192.0.2.0/24', '10.1.0.11/32'];
export const PROBES: { port: number; protocol: Protocol }[] = [
  { port: 80, protocol: 'TCP' },
  { port: 8080, protocol: 'TCP' },
  { port: 53, protocol: 'UDP' },
];

const selectorArb: fc.Arbitrary<LabelSelector> = fc.oneof(
  fc.constant({}),
  fc.constantFrom(...LABELS).map((app) => ({ matchLabels: { app } })),
  fc
    .constantFrom(...LABELS)
    .map((app): LabelSelector => ({ matchExpressions: [{ key: 'app', operator: 'NotIn', values: [app] }] })),
);
const nsSelectorArb: fc.Arbitrary<LabelSelector> = fc.oneof(
  fc.constant({}),
  fc.constantFrom(...NAMESPACES).map((n) => ({ matchLabels: { 'kubernetes.io/metadata.name': n } })),
  fc.constantFrom('a', 'b').map((team) => ({ matchLabels: { team } })),
);

const peerArb = (direction: 'ingress' | 'egress'): fc.Arbitrary<ClusterPolicyPeer> => {
  const common: fc.Arbitrary<ClusterPolicyPeer>[] = [
    nsSelectorArb.map((namespaces) => ({ namespaces })),
    fc.record({ namespaceSelector: nsSelectorArb, podSelector: selectorArb }).map((pods) => ({ pods })),
  ];
  if (direction === 'ingress') return fc.oneof(...common);
  return fc.oneof(
    ...common,
    fc.subarray(NETWORKS, { minLength: 1, maxLength: 2 }).map((networks) => ({ networks })),
    fc.constantFrom<LabelSelector>({}, { matchLabels: { zone: 'z1' } }).map((nodes) => ({ nodes })),
    fc.constant({ domainNames: ['example.com'] }),
  );
};

const protocolArb: fc.Arbitrary<ClusterPolicyProtocol> = fc.oneof(
  fc.constantFrom(80, 8080).map((number) => ({ tcp: { destinationPort: { number } } })),
  fc.constant({ tcp: { destinationPort: { range: { start: 79, end: 81 } } } }),
  fc.constant({ udp: { destinationPort: { number: 53 } } }),
  fc.constant({ destinationNamedPort: 'http' }),
);

const ruleArb = (direction: 'ingress' | 'egress'): fc.Arbitrary<ClusterPolicyRule> =>
  fc.record({
    name: fc.constantFrom('', 'r'),
    action: fc.constantFrom<ClusterPolicyRule['action']>('Accept', 'Deny', 'Pass'),
    peers: fc.array(peerArb(direction), { minLength: 1, maxLength: 2 }),
    protocols: fc.option(fc.array(protocolArb, { minLength: 1, maxLength: 2 }), { nil: undefined }),
  });

const clusterPolicyArb = (name: string): fc.Arbitrary<ClusterPolicyInfo> =>
  fc.record({
    name: fc.constant(name),
    tier: fc.constantFrom<ClusterPolicyInfo['tier']>('Admin', 'Baseline'),
    priority: fc.constantFrom(1, 2),
    subject: fc.oneof(
      // Broad subjects are likelier to stack several policies on one pod (Pass, then another).
      { weight: 2, arbitrary: fc.constant({ namespaces: {} }) },
      nsSelectorArb.map((namespaces) => ({ namespaces })),
      fc.record({ namespaceSelector: nsSelectorArb, podSelector: selectorArb }).map((pods) => ({ pods })),
    ),
    ingress: fc.array(ruleArb('ingress'), { maxLength: 2 }),
    egress: fc.array(ruleArb('egress'), { maxLength: 2 }),
    audit: fc.constantFrom(false, false, false, true),
  });

const policyArb = (name: string): fc.Arbitrary<PolicyInfo> =>
  fc.record({
    namespace: fc.constantFrom(...NAMESPACES),
    name: fc.constant(name),
    audit: fc.constantFrom(false, false, false, true),
    spec: fc.record({
      podSelector: selectorArb,
      policyTypes: fc.constantFrom<('Ingress' | 'Egress')[]>(['Ingress'], ['Egress'], ['Ingress', 'Egress']),
      ingress: fc.array(
        fc.record({
          from: fc.array(fc.record({ podSelector: selectorArb }), { maxLength: 1 }),
          ports: fc.array(
            fc.record({ protocol: fc.constant<Protocol>('TCP'), port: fc.constantFrom(80, 'http') }),
            {
              maxLength: 1,
            },
          ),
        }),
        { maxLength: 1 },
      ),
      egress: fc.array(
        fc.record({ to: fc.array(fc.record({ podSelector: selectorArb }), { maxLength: 1 }) }),
        {
          maxLength: 1,
        },
      ),
    }),
  });

export const clusterArb: fc.Arbitrary<ClusterSnapshot> = fc
  .record({
    teams: fc.array(fc.constantFrom('a', 'b'), { minLength: 3, maxLength: 3 }),
    pods: fc.array(
      fc.record({
        ns: fc.nat(2),
        app: fc.constantFrom(...LABELS),
        local: fc.boolean(),
        http: fc.constantFrom(80, 8080, undefined),
      }),
      { minLength: 2, maxLength: 5 },
    ),
    zone: fc.constantFrom('z1', 'z2'),
    policies: fc
      .array(fc.nat(9), { maxLength: 2 })
      .chain((ids) => fc.tuple(...[...new Set(ids)].map((i) => policyArb(`np-${i}`)))),
    clusterPolicies: fc
      .array(fc.nat(9), { maxLength: 6 })
      .chain((ids) => fc.tuple(...[...new Set(ids)].map((i) => clusterPolicyArb(`cnp-${i}`)))),
  })
  .map(({ teams, pods, zone, policies, clusterPolicies }) => {
    let local = 0;
    let remote = 0;
    const podInfos: PodInfo[] = pods.map((p, i) => ({
      namespace: NAMESPACES[p.ns],
      name: `pod-${i}`,
      labels: { app: p.app },
      nodeName: p.local ? 'node-1' : 'node-2',
      ips: [p.local ? `10.1.0.${10 + local++}` : `10.2.0.${10 + remote++}`],
      hostNetwork: false,
      phase: 'Running',
      namedPorts: p.http === undefined ? [] : [{ name: 'http', port: p.http, protocol: 'TCP' }],
    }));
    const nodes: NodeInfo[] = Object.entries(NODE_ADDRESSES).map(([name, address]) => ({
      name,
      labels: { zone: name === 'node-2' ? zone : 'z0' },
      addresses: [address],
      podCIDRs: [],
    }));
    return {
      namespaces: NAMESPACES.map((name, i) => ({ name, labels: { team: teams[i] } })),
      pods: podInfos,
      policies: [...policies],
      clusterPolicies: [...clusterPolicies],
      nodes,
    };
  });

/** Replays the difference between two clusters as watch events, as the agent's reflectors would. */
export function replay(compiler: IncrementalCompiler, from: ClusterSnapshot, to: ClusterSnapshot): void {
  for (const n of to.nodes ?? []) compiler.upsertNode(n);
  for (const ns of to.namespaces) compiler.upsertNamespace(ns);
  for (const p of to.pods) compiler.upsertPod(p);
  const podKeys = new Set(to.pods.map((p) => `${p.namespace}/${p.name}`));
  for (const p of from.pods)
    if (!podKeys.has(`${p.namespace}/${p.name}`)) compiler.deletePod(`${p.namespace}/${p.name}`);
  for (const p of to.policies) compiler.upsertPolicy(p);
  const policyKeys = new Set(to.policies.map((p) => `${p.namespace}/${p.name}`));
  for (const p of from.policies)
    if (!policyKeys.has(`${p.namespace}/${p.name}`)) compiler.deletePolicy(`${p.namespace}/${p.name}`);
  for (const c of to.clusterPolicies ?? []) compiler.upsertClusterPolicy(c);
  const names = new Set((to.clusterPolicies ?? []).map((c) => c.name));
  for (const c of from.clusterPolicies ?? []) if (!names.has(c.name)) compiler.deleteClusterPolicy(c.name);
}
