/**
 * ClusterNetworkPolicies and Nodes in scenarios: projection into the model (and back, as the
 * sandbox serves them), canonical addresses, declared nodes in address assignment, and the
 * snapshot analyze compiles.
 */
import type { V1Node } from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import type { ClusterPolicyInfo } from '../model';
import { validateObject } from '../validate';
import {
  clusterPolicyObject,
  INVALID_SELECTOR,
  loadScenario,
  nodeObject,
  projectClusterPolicy,
  projectNode,
  scenarioSnapshot,
  type K8sClusterNetworkPolicy,
  type Scenario,
} from './index';

function load(text: string): Scenario {
  const r = loadScenario(text, 's.yaml');
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.scenario;
}

const WIRE: K8sClusterNetworkPolicy = {
  metadata: { name: 'guard', namespace: null, labels: { a: 'b' } },
  spec: {
    tier: 'Admin',
    priority: 7,
    subject: { pods: { namespaceSelector: { matchLabels: { team: 'x' } }, podSelector: {} } },
    ingress: [
      {
        name: 'deny-monitoring',
        action: 'Deny',
        from: [{ namespaces: { matchExpressions: [{ key: 'k', operator: 'In', values: ['b', 'a'] }] } }],
        protocols: [
          { tcp: { destinationPort: { number: 80 } } },
          { udp: { destinationPort: { range: { start: 5000, end: 6000 } } } },
          { destinationNamedPort: 'metrics' },
        ],
      },
    ],
    egress: [
      { action: 'Pass', to: [{ networks: ['10.1.2.3/8', 'FD00::1/64'] }, { nodes: {} }] },
      { action: 'Accept', to: [{ domainNames: ['*.example.com'] }] },
    ],
  },
};

const MODEL: ClusterPolicyInfo = {
  name: 'guard',
  tier: 'Admin',
  priority: 7,
  subject: { pods: { namespaceSelector: { matchLabels: { team: 'x' } }, podSelector: {} } },
  ingress: [
    {
      name: 'deny-monitoring',
      action: 'Deny',
      peers: [{ namespaces: { matchExpressions: [{ key: 'k', operator: 'In', values: ['b', 'a'] }] } }],
      protocols: [
        { tcp: { destinationPort: { number: 80 } } },
        { udp: { destinationPort: { range: { start: 5000, end: 6000 } } } },
        { destinationNamedPort: 'metrics' },
      ],
    },
  ],
  egress: [
    { name: '', action: 'Pass', peers: [{ networks: ['10.0.0.0/8', 'fd00::/64'] }, { nodes: {} }] },
    { name: '', action: 'Accept', peers: [{ domainNames: ['*.example.com'] }] },
  ],
};

describe('ClusterNetworkPolicy projection', () => {
  test('keeps tier, priority, subject, named rules in order, peers and protocols; CIDRs canonical', () => {
    expect(projectClusterPolicy(WIRE)).toEqual(MODEL);
  });

  test('round trip: model -> object the API server accepts -> the same model', () => {
    const obj = clusterPolicyObject(MODEL);
    expect(validateObject(obj).errors).toEqual([]);
    expect(projectClusterPolicy(obj as K8sClusterNetworkPolicy)).toEqual(MODEL);
  });

  test('an invalid label selector (accepted by the CRD) selects nothing, and round-trips', () => {
    const p = projectClusterPolicy({
      metadata: { name: 'p' },
      spec: {
        tier: 'Baseline',
        priority: 0,
        subject: { namespaces: { matchExpressions: [{ key: 'a', operator: 'Equals', values: ['b'] }] } },
        egress: [
          {
            action: 'Deny',
            to: [{ pods: { podSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] } } }],
          },
        ],
      },
    });
    expect(p.subject).toEqual({ namespaces: INVALID_SELECTOR });
    expect(p.egress[0].peers).toEqual([{ pods: { namespaceSelector: {}, podSelector: INVALID_SELECTOR } }]);
    expect(projectClusterPolicy(clusterPolicyObject(p) as K8sClusterNetworkPolicy)).toEqual(p);
  });

  test('the projection holds no reference to the input', () => {
    const wire = structuredClone(WIRE);
    const p = projectClusterPolicy(wire);
    wire.spec!.egress![0]!.to![0].networks = ['192.168.0.0/16'];
    (wire.spec!.subject!.pods!.namespaceSelector!.matchLabels as Record<string, string>).team = 'y';
    expect(p).toEqual(MODEL);
  });
});

describe('Node projection', () => {
  test('labels, InternalIP and ExternalIP addresses (canonical, once each), pod CIDRs canonical', () => {
    // Typed as client-node's V1Node: the field names the agent receives are the ones projected.
    const node: V1Node = {
      metadata: { name: 'n1', labels: { zone: 'a' } },
      spec: { podCIDR: '10.244.1.7/24', podCIDRs: ['10.244.1.7/24', 'FD00:10:244:1::/64'] },
      status: {
        addresses: [
          { type: 'Hostname', address: 'n1' },
          { type: 'InternalIP', address: '172.18.0.2' },
          { type: 'ExternalIP', address: 'FD00::2' },
          { type: 'InternalDNS', address: 'n1.cluster.local' },
          { type: 'ExternalIP', address: '172.18.0.2' },
        ],
      },
    };
    expect(projectNode(node)).toEqual({
      name: 'n1',
      labels: { zone: 'a' },
      addresses: ['172.18.0.2', 'fd00::2'],
      podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'],
    });
    expect(projectNode({ metadata: { name: 'n2' }, spec: { podCIDR: '10.0.0.0/24' } })).toEqual({
      name: 'n2',
      labels: {},
      addresses: [],
      podCIDRs: ['10.0.0.0/24'],
    });
  });

  test('round trip through nodeObject', () => {
    const n = {
      name: 'n1',
      labels: { zone: 'a' },
      addresses: ['10.0.0.1', 'fd00::1'],
      podCIDRs: ['10.244.0.0/24'],
    };
    expect(validateObject(nodeObject(n)).errors).toEqual([]);
    expect(projectNode(nodeObject(n))).toEqual(n);
  });
});

const POD = (name: string, node?: string, extra = '') => `---
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: x}
spec:
${node ? `  nodeName: ${node}\n` : ''}  containers: [{name: c, image: i}]
${extra}`;

describe('scenarios with Nodes and ClusterNetworkPolicies', () => {
  test('declared nodes come first and keep their labels, addresses and pod CIDRs', () => {
    const s = load(
      `${POD('a', 'w2')}${POD('b')}${POD('h', 'w1', 'spec2')}---
apiVersion: v1
kind: Node
metadata: {name: w1, labels: {role: worker}}
spec: {podCIDRs: [192.168.7.0/28]}
status: {addresses: [{type: InternalIP, address: 192.0.2.11}, {type: ExternalIP, address: 198.51.100.11}]}
---
apiVersion: v1
kind: Node
metadata: {name: w2}
`
        .replace('spec2', '')
        .replace(`  nodeName: w1\n`, `  nodeName: w1\n  hostNetwork: true\n`),
    );
    expect(s.nodes).toEqual([
      {
        name: 'w1',
        index: 1,
        addresses: ['192.0.2.11', '198.51.100.11'],
        podCIDRs: ['192.168.7.0/28'],
        labels: { role: 'worker' },
        declared: true,
      },
      {
        name: 'w2',
        index: 2,
        addresses: ['172.18.0.3'],
        podCIDRs: ['10.244.2.0/24'],
        labels: {},
        declared: true,
      },
      {
        name: 'node-1',
        index: 3,
        addresses: ['172.18.0.4'],
        podCIDRs: ['10.244.3.0/24'],
        labels: { 'kubernetes.io/hostname': 'node-1' },
        declared: false,
      },
    ]);
    expect(s.pods.map((p) => [p.name, p.nodeName, p.ips])).toEqual([
      ['a', 'w2', ['10.244.2.10']],
      ['b', 'node-1', ['10.244.3.10']],
      ['h', 'w1', ['192.0.2.11']],
    ]);
    expect(scenarioSnapshot(s).nodes).toEqual([
      {
        name: 'w1',
        labels: { role: 'worker' },
        addresses: ['192.0.2.11', '198.51.100.11'],
        podCIDRs: ['192.168.7.0/28'],
      },
      { name: 'w2', labels: {}, addresses: ['172.18.0.3'], podCIDRs: ['10.244.2.0/24'] },
      {
        name: 'node-1',
        labels: { 'kubernetes.io/hostname': 'node-1' },
        addresses: ['172.18.0.4'],
        podCIDRs: ['10.244.3.0/24'],
      },
    ]);
  });

  test('pods get addresses from a declared pod CIDR, and the CIDR bounds how many', () => {
    const node = `---\napiVersion: v1\nkind: Node\nmetadata: {name: w}\nspec: {podCIDRs: ["192.168.7.16/28"]}\n`;
    const pods = Array.from({ length: 4 }, (_, i) => POD(`p${i}`, 'w')).join('');
    const s = load(node + pods);
    expect(s.pods.map((p) => p.ips[0])).toEqual([
      '192.168.7.26',
      '192.168.7.27',
      '192.168.7.28',
      '192.168.7.29',
    ]);
    const r = loadScenario(node + pods + POD('p4', 'w') + POD('p5', 'w'), 's.yaml');
    expect(r.ok ? [] : r.errors).toEqual([
      's.yaml: node w: no free address left in 192.168.7.16/28 for pod x/p5',
    ]);
  });

  test('a family the scenario uses and a Node does not declare gets the implicit address', () => {
    const s = load(`---
apiVersion: v1
kind: Node
metadata: {name: v6only}
status: {addresses: [{type: InternalIP, address: "fd00::9"}]}
${POD('a', 'v6only')}`);
    expect(s.nodes[0].addresses).toEqual(['fd00::9', '172.18.0.2']);
  });

  test('the snapshot carries the cluster policies in file order', () => {
    const cnp = (name: string, tier: string) => `---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: ${name}}
spec: {tier: ${tier}, priority: 5, subject: {namespaces: {}}}
`;
    const s = load(cnp('b', 'Baseline') + POD('a') + cnp('a', 'Admin'));
    expect(scenarioSnapshot(s).clusterPolicies?.map((c) => [c.name, c.tier])).toEqual([
      ['b', 'Baseline'],
      ['a', 'Admin'],
    ]);
  });
});
