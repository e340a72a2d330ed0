/**
 * The representative states the golden tests of both backends render (iptables/golden/*.txt,
 * nftables/golden/*.nft), and the sequence of typical changes after the first sync.
 */
import type { CompiledClusterPolicy, CompiledState, CompiledTierRule } from '../../compiler/ir';
import {
  cidrSet,
  named,
  namedPortSet,
  pod,
  podsSet,
  policy,
  port,
  rule,
  state,
  tcp,
  withMembers,
} from './fixtures';

export const webDenyAll = state({
  pods: [pod('shop/web', { ips: ['10.1.0.5'], ingress: ['shop/default-deny'] })],
  policies: [policy('shop/default-deny', { ingress: [] })],
});

export const allowFromNamespace = state({
  pods: [
    pod('shop/web', { ips: ['10.1.0.5'], ingress: ['shop/allow-frontend'] }),
    pod('shop/cache', { ips: ['10.1.0.6'] }),
  ],
  policies: [policy('shop/allow-frontend', { ingress: [rule(0, ['pods:frontend'], [tcp(80), tcp(443)])] })],
  peerSets: [
    podsSet('pods:frontend', ['10.2.0.1', '10.2.0.2'], {
      namespaceSelector: { matchLabels: { team: 'frontend' } },
      podSelector: { matchLabels: { app: 'ui' } },
    }),
  ],
});

export const ipBlockDualStack = state({
  pods: [pod('shop/api', { ips: ['10.1.0.7', 'fd01::7'], egress: ['shop/egress-world'] })],
  policies: [
    policy('shop/egress-world', {
      egress: [
        rule(0, ['cidr:v4-world', 'cidr:v6-doc'], 'any'),
        rule(1, 'any', [port('UDP', 53), port('TCP', 53)]),
      ],
    }),
  ],
  peerSets: [
    cidrSet('cidr:v4-world', '0.0.0.0/0', ['10.0.0.0/8', '192.168.0.0/16']),
    cidrSet('cidr:v6-doc', '2001:db8::/32', ['2001:db8:dead::/48']),
  ],
});

export const namedPorts = state({
  pods: [pod('shop/web', { ips: ['10.1.0.5', 'fd01::5'], ingress: ['shop/named'] })],
  policies: [
    policy('shop/named', {
      ingress: [rule(0, 'any', [named('http', 'np:http'), named('metrics', 'np:metrics')])],
    }),
  ],
  peerSets: [
    namedPortSet('np:http', 'http', 'TCP', ['10.1.0.5,tcp:8080', 'fd01::5,tcp:8080'], true),
    namedPortSet('np:metrics', 'metrics', 'TCP', ['10.1.0.5,tcp:9090'], true),
  ],
});

export const portsAndProtocols = state({
  pods: [pod('telco/smf', { ips: ['10.1.0.9'], ingress: ['telco/ports'], egress: ['telco/ports'] })],
  policies: [
    policy('telco/ports', {
      ingress: [rule(0, 'any', [port('SCTP', 38412), port('TCP', 30000, 32767), port('UDP')])],
      egress: [rule(0, ['pods:amf'], [port('SCTP', 38412, 38415)])],
    }),
  ],
  peerSets: [
    podsSet('pods:amf', ['10.2.0.40', 'fd02::40'], {
      namespace: 'telco',
      podSelector: { matchLabels: { app: 'amf' } },
    }),
  ],
});

const cnp = (
  key: string,
  tier: 'admin' | 'baseline',
  priority: number,
  parts: { ingress?: CompiledTierRule[] | null; egress?: CompiledTierRule[] | null },
): CompiledClusterPolicy => ({
  key,
  name: key,
  tier,
  priority,
  ingress: parts.ingress ?? null,
  egress: parts.egress ?? null,
});

const tierRule = (
  index: number,
  action: CompiledTierRule['action'],
  peers: CompiledTierRule['peers'],
  ports: CompiledTierRule['ports'] = 'any',
): CompiledTierRule => ({ index, name: `rule-${index}`, action, peers, ports });

/**
 * ClusterNetworkPolicy tiers: kube-system reachable only from monitoring (admin: Accept then
 * Deny), same-namespace traffic passed to the namespace's own policies (admin Pass, later
 * priority), and a baseline default deny a NetworkPolicy can open.
 */
export const clusterTiers = state({
  pods: [
    pod('kube-system/dns', {
      ips: ['10.1.0.10'],
      adminIngress: ['protect-kube-system'],
      baselineIngress: ['default-deny'],
    }),
    pod('shop/web', {
      ips: ['10.1.0.5'],
      ingress: ['shop/allow-frontend'],
      adminIngress: ['same-namespace-pass'],
      baselineIngress: ['default-deny'],
    }),
  ],
  policies: [policy('shop/allow-frontend', { ingress: [rule(0, ['pods:frontend'], [tcp(80)])] })],
  clusterPolicies: [
    cnp('protect-kube-system', 'admin', 10, {
      ingress: [
        tierRule(0, 'Accept', ['pods:monitoring'], [tcp(9153), port('UDP', 53)]),
        tierRule(1, 'Deny', 'any'),
      ],
    }),
    cnp('same-namespace-pass', 'admin', 20, { ingress: [tierRule(0, 'Pass', ['pods:shop'])] }),
    cnp('default-deny', 'baseline', 0, { ingress: [tierRule(0, 'Deny', ['cidr:all'])] }),
  ],
  peerSets: [
    podsSet('pods:frontend', ['10.2.0.1'], {
      namespace: 'shop',
      podSelector: { matchLabels: { app: 'ui' } },
    }),
    podsSet('pods:monitoring', ['10.2.0.9'], {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } },
      podSelector: {},
    }),
    podsSet('pods:shop', ['10.1.0.5', '10.2.0.1'], {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } },
      podSelector: {},
    }),
    cidrSet('cidr:all', '0.0.0.0/0'),
  ],
});

export const GOLDEN_STATES: readonly [string, CompiledState][] = [
  ['default-deny-ingress', webDenyAll],
  ['allow-from-namespace-selector', allowFromNamespace],
  ['ipblock-except-dual-stack', ipBlockDualStack],
  ['named-ports', namedPorts],
  ['ports-ranges-sctp-udp', portsAndProtocols],
  ['cluster-policy-tiers', clusterTiers],
];

/** After allowFromNamespace: a label change, a new pod, a new policy, the policy removed. */
export function goldenChanges(): [string, CompiledState][] {
  const relabelled = withMembers(allowFromNamespace, 'pods:frontend', ['10.2.0.2', '10.2.0.3']);
  const newPod = state({
    pods: [
      ...relabelled.pods.values(),
      pod('shop/web-2', { ips: ['10.1.0.8'], ingress: ['shop/allow-frontend'] }),
    ],
    policies: [...relabelled.policies.values()],
    peerSets: [...relabelled.peerSets.values()],
  });
  const newPolicy = state({
    pods: [...newPod.pods.values()].map((p) =>
      p.key === 'shop/cache' ? pod('shop/cache', { ips: ['10.1.0.6'], ingress: ['shop/cache-deny'] }) : p,
    ),
    policies: [...newPod.policies.values(), policy('shop/cache-deny', { ingress: [] })],
    peerSets: [...newPod.peerSets.values()],
  });
  return [
    ['label change', relabelled],
    ['pod added', newPod],
    ['policy added', newPolicy],
    ['policy removed', newPod],
  ];
}

/**
 * Fail closed for new pods (the node's pod ranges 10.1.0.0/24 and fd01::/64): the first sync of
 * allowFromNamespace, then a pod added (known only once its chains are in place), a pod of
 * another node at an address of the ranges (known at once), the ranges changed, and all removed.
 */
export function failClosedChanges(): { first: CompiledState; changes: [string, CompiledState][] } {
  const ranges = ['10.1.0.0/24', 'fd01::/64'];
  const first: CompiledState = { ...allowFromNamespace, localPodCIDRs: ranges };
  const added = state({
    pods: [
      ...allowFromNamespace.pods.values(),
      pod('shop/web-2', { ips: ['10.1.0.8', 'fd01::8'], ingress: ['shop/allow-frontend'] }),
      pod('shop/batch', { ips: ['10.1.0.9'] }),
    ],
    policies: [...allowFromNamespace.policies.values()],
    peerSets: [...allowFromNamespace.peerSets.values()],
    localPodCIDRs: ranges,
  });
  const remote: CompiledState = { ...added, remotePodAddresses: new Set(['10.1.0.40', 'fd01::40']) };
  const rangeChanged: CompiledState = { ...remote, localPodCIDRs: ['10.1.0.0/23', 'fd01::/64'] };
  return {
    first,
    changes: [
      ['pods added', added],
      ['a pod of another node at an address of the ranges', remote],
      ['pod range changed', rangeChanged],
      ['pods removed', { ...first, localPodCIDRs: rangeChanged.localPodCIDRs }],
    ],
  };
}
