/**
 * Property test: on random clusters and policies covering every NetworkPolicy and
 * ClusterNetworkPolicy feature (both tiers, random priorities with ties, every action, every
 * peer kind including nodes and domainNames, port numbers, ranges and named ports), the
 * compiler's verdict() agrees with the literal reference evaluator (testutil) for every
 * ordered pair of endpoints (pods, pod addresses, node addresses and hosts outside the
 * cluster) and several probes. The seed is fixed (override with PALISADE_PROPERTY_SEED, runs with
 * PALISADE_PROPERTY_RUNS); on failure fast-check prints the seed, the shrunk counterexample
 * and the path to replay it.
 */
import fc from 'fast-check';
import { compileSnapshot } from './incremental';
import type {
  ClusterPolicyInfo,
  ClusterSnapshot,
  LabelSelector,
  LabelSelectorRequirement,
  NamedPort,
  NamespaceInfo,
  NetworkPolicyPeer,
  NetworkPolicyPort,
  NetworkPolicySpec,
  NodeInfo,
  PodInfo,
  PolicyInfo,
  PolicyType,
  Protocol,
} from './model';
import {
  clusterPoliciesArb,
  nodeArb,
  nodeSelectorArb,
  type ClusterPolicyArbOptions,
} from './testutil/cluster-policy-arbitraries';
import { LiteralEvaluator, literalSelectorMatches, type LiteralEndpoint } from './testutil/literal-evaluator';
import { verdict } from './verdict';
import type { Endpoint, Probe } from './verdict-types';

const SEED = Number(process.env.PALISADE_PROPERTY_SEED ?? 20240611);
const RUNS = Number(process.env.PALISADE_PROPERTY_RUNS ?? 400);

const NS_NAMES = ['ns-a', 'ns-b', 'ns-c', 'ns-d'];
const LABEL_KEYS = ['app', 'tier', 'team'];
const LABEL_VALUES = ['web', 'db', 'x'];
const PROTOCOLS: Protocol[] = ['TCP', 'UDP', 'SCTP'];
const PORT_NAMES = ['http', 'dns', 'metrics'];
const PORT_NUMBERS = [53, 80, 81, 8080];
const NODES = ['node-1', 'node-2'];
const NODE_IPS: Record<string, string[]> = {
  'node-1': ['172.18.0.2', 'fd00:172:18::2'],
  'node-2': ['172.18.0.3', 'fd00:172:18::3'],
};
/** A node without pods whose address is also one of the hosts outside the cluster below. */
const NODE_3_IPS = ['192.0.2.1'];
const EXTERNALS = ['192.0.2.1', '10.0.0.200', 'fd00::c8', '172.18.0.2', '203.0.113.9'];
const PROBES: Probe[] = [
  { port: 80, protocol: 'TCP' },
  { port: 81, protocol: 'TCP' },
  { port: 53, protocol: 'UDP' },
  { port: 8080, protocol: 'TCP' },
  { port: 80, protocol: 'SCTP' },
  { port: 81, protocol: 'UDP' },
];
/** ipBlock cidrs with except candidates strictly inside each (the API server rejects anything else). */
const IPBLOCKS: [string, string[]][] = [
  ['10.0.0.0/24', ['10.0.0.0/28', '10.0.0.16/28', '10.0.0.1/32', '10.0.0.3/32']],
  ['10.0.0.0/28', ['10.0.0.2/31', '10.0.0.4/32']],
  ['0.0.0.0/0', ['10.0.0.0/24', '192.0.2.0/24', '172.18.0.0/16']],
  ['192.0.2.0/24', ['192.0.2.1/32']],
  ['172.18.0.0/16', ['172.18.0.2/32']],
  ['fd00::/64', ['fd00::/124', 'fd00::1/128']],
  ['::/0', ['fd00::/120']],
  ['fd00:172:18::/64', ['fd00:172:18::2/128']],
];

const labelsArb = fc.dictionary(fc.constantFrom(...LABEL_KEYS), fc.constantFrom(...LABEL_VALUES), {
  maxKeys: 3,
});

const requirementArb: fc.Arbitrary<LabelSelectorRequirement> = fc.oneof(
  fc.record({
    key: fc.constantFrom(...LABEL_KEYS, 'kubernetes.io/metadata.name'),
    operator: fc.constantFrom('In' as const, 'NotIn' as const),
    values: fc.uniqueArray(fc.constantFrom(...LABEL_VALUES, ...NS_NAMES), { minLength: 1, maxLength: 3 }),
  }),
  fc.record({
    key: fc.constantFrom(...LABEL_KEYS),
    operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const),
  }),
);

const selectorArb: fc.Arbitrary<LabelSelector> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({}) },
  { weight: 3, arbitrary: fc.record({ matchLabels: labelsArb }) },
  {
    weight: 2,
    arbitrary: fc.record({ matchExpressions: fc.array(requirementArb, { minLength: 1, maxLength: 2 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      matchLabels: labelsArb,
      matchExpressions: fc.array(requirementArb, { maxLength: 2 }),
    }),
  },
);

const nsSelectorArb: fc.Arbitrary<LabelSelector> = fc.oneof(
  selectorArb,
  fc.constantFrom(...NS_NAMES).map((n) => ({ matchLabels: { 'kubernetes.io/metadata.name': n } })),
);

const peerArb: fc.Arbitrary<NetworkPolicyPeer> = fc.oneof(
  selectorArb.map((podSelector) => ({ podSelector })),
  nsSelectorArb.map((namespaceSelector) => ({ namespaceSelector })),
  fc.record({ podSelector: selectorArb, namespaceSelector: nsSelectorArb }),
  fc
    .constantFrom(...IPBLOCKS)
    .chain(([cidr, candidates]) =>
      fc.subarray(candidates).map((except) => ({ ipBlock: except.length > 0 ? { cidr, except } : { cidr } })),
    ),
);

/** ClusterNetworkPolicies over the same selectors, every peer kind, the ports the probes use. */
const CNP_OPTIONS: ClusterPolicyArbOptions = {
  names: ['cnp-a', 'cnp-b', 'cnp-c', 'cnp-d'],
  selector: selectorArb,
  nsSelector: nsSelectorArb,
  nodeSelector: nodeSelectorArb,
  cidrs: [
    '10.0.0.0/24',
    '10.0.0.0/30',
    '10.0.0.1/32',
    '0.0.0.0/0',
    '172.18.0.0/16',
    '172.18.0.2/32',
    '192.0.2.0/24',
    '::/0',
    'fd00::/64',
    'fd00::1/128',
    'fd00:172:18::/64',
  ],
  ports: PORT_NUMBERS,
  portNames: PORT_NAMES,
};

const portArb: fc.Arbitrary<NetworkPolicyPort> = fc
  .record(
    {
      protocol: fc.constantFrom(...PROTOCOLS),
      port: fc.oneof(fc.constantFrom(...PORT_NUMBERS), fc.constantFrom(...PORT_NAMES)),
      span: fc.constantFrom(0, 0, 1, 8000),
    },
    { requiredKeys: ['span'] },
  )
  .map(({ protocol, port, span }) => {
    const p: { protocol?: Protocol; port?: number | string; endPort?: number } = {};
    if (protocol !== undefined) p.protocol = protocol;
    if (port !== undefined) p.port = port;
    if (typeof port === 'number' && span > 0) p.endPort = port + span;
    return p;
  });

const portsArb = fc.option(fc.array(portArb, { maxLength: 2 }), { nil: undefined });
const peersArb = fc.option(fc.array(peerArb, { maxLength: 2 }), { nil: undefined });

const specArb: fc.Arbitrary<NetworkPolicySpec> = fc
  .record({
    podSelector: selectorArb,
    policyTypes: fc.option(
      fc.constantFrom<PolicyType[]>(['Ingress'], ['Egress'], ['Ingress', 'Egress'], ['Egress', 'Ingress']),
      { nil: undefined },
    ),
    ingress: fc.option(fc.array(fc.record({ from: peersArb, ports: portsArb }), { maxLength: 2 }), {
      nil: undefined,
    }),
    egress: fc.option(fc.array(fc.record({ to: peersArb, ports: portsArb }), { maxLength: 2 }), {
      nil: undefined,
    }),
  })
  .map((s) => {
    // Drop undefined keys: the model never carries them.
    const clean = <T extends object>(o: T): T =>
      Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
    const spec: Record<string, unknown> = { podSelector: s.podSelector };
    if (s.policyTypes) spec.policyTypes = s.policyTypes;
    if (s.ingress) spec.ingress = s.ingress.map(clean);
    if (s.egress) spec.egress = s.egress.map(clean);
    return spec as unknown as NetworkPolicySpec;
  });

interface PodSeed {
  ns: number;
  labels: Record<string, string>;
  node: string;
  stack: 'v4' | 'v6' | 'dual' | 'none';
  hostNetwork: boolean;
  phase: 'Running' | 'Failed' | 'Pending';
  namedPorts: NamedPort[];
}

const namedPortsArb: fc.Arbitrary<NamedPort[]> = fc.uniqueArray(
  fc.record({
    name: fc.constantFrom(...PORT_NAMES),
    port: fc.constantFrom(...PORT_NUMBERS),
    protocol: fc.constantFrom(...PROTOCOLS),
  }),
  { maxLength: 3, selector: (p) => p.name },
);

const podSeedArb: fc.Arbitrary<PodSeed> = fc.record({
  ns: fc.nat(3),
  labels: labelsArb,
  node: fc.constantFrom(...NODES),
  stack: fc.constantFrom<PodSeed['stack']>('v4', 'v4', 'v4', 'dual', 'dual', 'v6', 'none'),
  hostNetwork: fc.constantFrom(false, false, false, true),
  phase: fc.constantFrom<PodSeed['phase']>('Running', 'Running', 'Running', 'Running', 'Failed'),
  namedPorts: namedPortsArb,
});

const clusterArb = fc
  .record({
    nsCount: fc.integer({ min: 2, max: 4 }),
    nsLabels: fc.array(labelsArb, { minLength: 4, maxLength: 4 }),
    pods: fc.array(podSeedArb, { minLength: 2, maxLength: 8 }),
    policies: fc.array(fc.record({ ns: fc.nat(3), spec: specArb }), { maxLength: 5 }),
    clusterPolicies: clusterPoliciesArb(CNP_OPTIONS, 4),
    nodes: fc.tuple(
      nodeArb('node-1', NODE_IPS['node-1']),
      nodeArb('node-2', NODE_IPS['node-2']),
      nodeArb('node-3', NODE_3_IPS),
    ),
  })
  .map(({ nsCount, nsLabels, pods, policies, clusterPolicies, nodes }): ClusterSnapshot => {
    const names = NS_NAMES.slice(0, nsCount);
    const namespaces: NamespaceInfo[] = names.map((name, i) => ({
      name,
      labels: { ...nsLabels[i], 'kubernetes.io/metadata.name': name },
    }));
    const podInfos: PodInfo[] = pods.map((s, i) => {
      const ips: string[] = s.hostNetwork
        ? s.stack === 'none'
          ? []
          : NODE_IPS[s.node].filter((ip) =>
              s.stack === 'v6' ? ip.includes(':') : s.stack === 'v4' ? !ip.includes(':') : true,
            )
        : s.stack === 'none'
          ? []
          : [
              ...(s.stack !== 'v6' ? [`10.0.0.${i + 1}`] : []),
              ...(s.stack !== 'v4' ? [`fd00::${(i + 1).toString(16)}`] : []),
            ];
      return {
        namespace: names[s.ns % nsCount],
        name: `p${i}`,
        labels: s.labels,
        nodeName: s.node,
        ips,
        hostNetwork: s.hostNetwork,
        phase: s.stack === 'none' ? 'Pending' : s.phase,
        namedPorts: s.namedPorts,
      };
    });
    const policyInfos: PolicyInfo[] = policies.map((p, i) => ({
      namespace: names[p.ns % nsCount],
      name: `pol${i}`,
      spec: p.spec,
    }));
    return {
      namespaces,
      pods: podInfos,
      policies: policyInfos,
      clusterPolicies: clusterPolicies as ClusterPolicyInfo[],
      nodes: nodes as NodeInfo[],
    };
  });

function endpoints(c: ClusterSnapshot): { name: string; e: Endpoint }[] {
  const out: { name: string; e: Endpoint }[] = [];
  for (const p of c.pods) {
    const key = `${p.namespace}/${p.name}`;
    out.push({ name: key, e: { kind: 'pod', key } });
    // Each address of a live ordinary pod on its own, to test the families separately.
    if (!p.hostNetwork && p.phase === 'Running' && p.ips.length > 1) {
      for (const ip of p.ips) out.push({ name: `${key}@${ip}`, e: { kind: 'ip', ip } });
    }
  }
  for (const ip of EXTERNALS) out.push({ name: ip, e: { kind: 'ip', ip } });
  return out;
}

function describe(c: ClusterSnapshot): string {
  return JSON.stringify(c, null, 1);
}

test('compiler verdicts equal the literal evaluator on random clusters', () => {
  let pairsChecked = 0;
  fc.assert(
    fc.property(clusterArb, (cluster) => {
      const compiler = compileSnapshot(cluster);
      const literal = new LiteralEvaluator(cluster);
      const eps = endpoints(cluster);
      for (const probe of PROBES) {
        for (const from of eps) {
          for (const to of eps) {
            if (from === to) continue;
            if (
              from.e.kind === 'ip' &&
              to.e.kind === 'ip' &&
              EXTERNALS.includes(from.e.ip) &&
              EXTERNALS.includes(to.e.ip)
            )
              continue;
            const v = verdict(compiler, from.e, to.e, probe);
            const got = v.allowed;
            const want = literal.allowed(
              from.e as LiteralEndpoint,
              to.e as LiteralEndpoint,
              probe.port,
              probe.protocol,
            );
            pairsChecked++;
            const what = `${from.name} -> ${to.name} on ${probe.port}/${probe.protocol}`;
            if (got !== want) {
              throw new Error(
                `${what}: compiler says ${got ? 'allowed' : 'denied'}, literal evaluator ${want ? 'allowed' : 'denied'}\ncluster: ${describe(cluster)}`,
              );
            }
            // Who decided, too: the same tier, and for a CNP tier the same policy and rule (ties
            // broken by name in both), so an order mistake cannot hide behind an equal action.
            const d = literal.decisions(
              from.e as LiteralEndpoint,
              to.e as LiteralEndpoint,
              probe.port,
              probe.protocol,
            );
            for (const dir of ['egress', 'ingress'] as const) {
              if (!d) break;
              const c = v[dir];
              const l = d[dir];
              const gotBy = `${c.decidedBy} ${c.clusterRule ? `${c.clusterRule.policy}[${c.clusterRule.rule}] ${c.clusterRule.action}` : ''}`;
              const wantBy = `${l.decidedBy} ${l.rule ? `${l.rule.policy}[${l.rule.rule}] ${l.rule.action}` : ''}`;
              if (gotBy !== wantBy) {
                throw new Error(
                  `${what}, ${dir}: compiler decided by ${gotBy}, literal evaluator by ${wantBy}\ncluster: ${describe(cluster)}`,
                );
              }
            }
          }
        }
      }
    }),
    { seed: SEED, numRuns: RUNS, endOnFailure: false, verbose: 1 },
  );
  // Typical runs hold ~15 endpoints and 6 probes: well over a thousand decisions each.
  expect(pairsChecked).toBeGreaterThan(RUNS * 500);
});

test('the generators cover every feature', () => {
  // Guard against a generator that silently stops producing a feature: sample and count.
  const seen = new Set<string>();
  fc.sample(clusterArb, { seed: SEED, numRuns: 300 }).forEach((c) => {
    for (const p of c.pods) {
      if (p.hostNetwork) seen.add('hostNetwork');
      if (p.ips.some((ip) => ip.includes(':'))) seen.add('ipv6');
      if (p.ips.length === 2) seen.add('dual');
      if (p.ips.length === 0) seen.add('no-ip');
      if (p.phase === 'Failed') seen.add('failed');
    }
    for (const pol of c.policies) {
      const s = pol.spec;
      seen.add(`types:${s.policyTypes?.join('+') ?? 'absent'}`);
      for (const r of [...(s.ingress ?? []), ...(s.egress ?? [])]) {
        const peers = 'from' in r ? r.from : (r as { to?: NetworkPolicyPeer[] }).to;
        if (peers === undefined) seen.add('peers:absent');
        else if (peers.length === 0) seen.add('peers:empty');
        for (const pe of peers ?? []) {
          if (pe.ipBlock) seen.add(pe.ipBlock.except ? 'ipBlock+except' : 'ipBlock');
          if (pe.ipBlock?.cidr.includes(':')) seen.add('ipBlock:v6');
          if (pe.podSelector && pe.namespaceSelector) seen.add('pod+ns');
          else if (pe.podSelector) seen.add('pod-only');
          else if (pe.namespaceSelector) seen.add('ns-only');
          for (const sel of [pe.podSelector, pe.namespaceSelector]) {
            for (const e of sel?.matchExpressions ?? []) seen.add(`op:${e.operator}`);
            if (sel && Object.keys(sel).length === 0) seen.add('selector:empty');
          }
        }
        if (r.ports === undefined) seen.add('ports:absent');
        for (const p of r.ports ?? []) {
          seen.add(`proto:${p.protocol ?? 'default'}`);
          if (typeof p.port === 'string') seen.add('port:named');
          if (typeof p.port === 'number') seen.add(p.endPort ? 'port:range' : 'port:number');
          if (p.port === undefined) seen.add('port:none');
        }
      }
    }
    const cnps = c.clusterPolicies ?? [];
    for (const cnp of cnps) {
      seen.add(`cnp:${cnp.tier}`);
      seen.add(cnp.subject.namespaces ? 'cnp-subject:namespaces' : 'cnp-subject:pods');
      if (cnps.some((o) => o !== cnp && o.tier === cnp.tier && o.priority === cnp.priority))
        seen.add('cnp:tie');
      if (cnp.ingress.length === 0 || cnp.egress.length === 0) seen.add('cnp:one-direction');
      for (const [dir, rules] of [
        ['ingress', cnp.ingress],
        ['egress', cnp.egress],
      ] as const) {
        for (const r of rules) {
          seen.add(`cnp-action:${r.action}`);
          if (!r.protocols) seen.add('cnp-protocols:absent');
          for (const pe of r.peers) {
            for (const k of ['namespaces', 'pods', 'networks', 'nodes', 'domainNames'] as const)
              if (pe[k] !== undefined) seen.add(`cnp-peer:${dir}:${k}`);
            if (pe.networks?.some((n) => n.includes(':'))) seen.add('cnp-networks:v6');
            if (pe.nodes && (c.nodes ?? []).some((n) => literalSelectorMatches(pe.nodes!, n.labels)))
              seen.add('cnp-nodes:match');
          }
          for (const pr of r.protocols ?? []) {
            if (pr.destinationNamedPort) seen.add(`cnp-port:named:${dir}`);
            for (const k of ['tcp', 'udp', 'sctp'] as const) {
              const dp = pr[k]?.destinationPort;
              if (pr[k]) seen.add(`cnp-proto:${k}`);
              if (pr[k] && !dp) seen.add('cnp-port:none');
              if (dp?.number !== undefined) seen.add('cnp-port:number');
              if (dp?.range !== undefined) seen.add('cnp-port:range');
            }
          }
        }
      }
    }
  });
  for (const f of [
    'hostNetwork',
    'ipv6',
    'dual',
    'no-ip',
    'failed',
    'types:absent',
    'types:Ingress',
    'types:Egress',
    'types:Ingress+Egress',
    'peers:absent',
    'peers:empty',
    'ipBlock',
    'ipBlock+except',
    'ipBlock:v6',
    'pod+ns',
    'pod-only',
    'ns-only',
    'op:In',
    'op:NotIn',
    'op:Exists',
    'op:DoesNotExist',
    'selector:empty',
    'ports:absent',
    'proto:TCP',
    'proto:UDP',
    'proto:SCTP',
    'proto:default',
    'port:named',
    'port:range',
    'port:number',
    'port:none',
    'cnp:Admin',
    'cnp:Baseline',
    'cnp:tie',
    'cnp:one-direction',
    'cnp-subject:namespaces',
    'cnp-subject:pods',
    'cnp-action:Accept',
    'cnp-action:Deny',
    'cnp-action:Pass',
    'cnp-protocols:absent',
    'cnp-peer:ingress:namespaces',
    'cnp-peer:ingress:pods',
    'cnp-peer:egress:namespaces',
    'cnp-peer:egress:pods',
    'cnp-peer:egress:networks',
    'cnp-peer:egress:nodes',
    'cnp-peer:egress:domainNames',
    'cnp-networks:v6',
    'cnp-nodes:match',
    'cnp-port:named:ingress',
    'cnp-port:named:egress',
    'cnp-proto:tcp',
    'cnp-proto:udp',
    'cnp-proto:sctp',
    'cnp-port:none',
    'cnp-port:number',
    'cnp-port:range',
  ]) {
    expect(seen).toContain(f);
  }
});
