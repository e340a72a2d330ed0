import {
  loadScenario,
  nodeInfoOf,
  projectClusterPolicy,
  projectNamespace,
  projectNode,
  projectPod,
  projectPolicy,
} from '../../compiler/scenario';
import type {
  K8sClusterNetworkPolicy,
  K8sNamespace,
  K8sNetworkPolicy,
  K8sNode,
  K8sPod,
} from '../../compiler/scenario';
import { fillTemplate, DEFAULT_ENFORCEMENT_LAUNCH } from './enforcement';
import { clusterObjects } from './k8s-objects';

const SCENARIO = `
apiVersion: v1
kind: Namespace
metadata: {name: prod, labels: {team: a}}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: prod, labels: {app: api}}
spec:
  nodeName: node-2
  containers: [{name: c, image: i, ports: [{name: http, containerPort: 8080}, {containerPort: 9000, protocol: UDP}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: host, namespace: kube-system}
spec: {hostNetwork: true, containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Pod
metadata: {name: waiting, namespace: prod}
spec: {containers: [{name: c, image: i}]}
status: {phase: Pending}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: mixed, namespace: prod}
spec:
  podSelector: {matchExpressions: [{key: app, operator: In, values: [api]}]}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: a}}
      podSelector: {}
    - ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}
    ports: [{port: http}, {protocol: UDP, port: 53, endPort: 60}]
  - {}
  egress:
  - to: []
---
apiVersion: v1
kind: Node
metadata: {name: node-2, labels: {zone: a}}
status: {addresses: [{type: InternalIP, address: 192.168.0.2}]}
---
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: guard}
spec:
  tier: Baseline
  priority: 3
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: api}}}}
  egress:
  - name: no-nodes
    action: Deny
    to: [{nodes: {matchLabels: {zone: a}}}, {networks: [192.168.0.0/16]}]
    protocols: [{tcp: {destinationPort: {range: {start: 1, end: 1024}}}}]
`;

describe('clusterObjects', () => {
  test('the objects served to agents project back to exactly the scenario model', () => {
    const r = loadScenario(SCENARIO, 's.yaml');
    if (!r.ok) throw new Error(r.errors.join('\n'));
    const s = r.scenario;
    const objects = clusterObjects(s);
    expect(
      objects.map((o) => `${o.kind} ${String(o.metadata.namespace ?? '')}/${String(o.metadata.name)}`),
    ).toEqual([
      'Namespace /prod',
      'Namespace /kube-system',
      'Node /node-2',
      'Node /node-1',
      'Pod prod/api',
      'Pod kube-system/host',
      'Pod prod/waiting',
      'NetworkPolicy prod/mixed',
      'CustomResourceDefinition /clusternetworkpolicies.policy.networking.k8s.io',
      'ClusterNetworkPolicy /guard',
    ]);
    // Through JSON, as the API server stores and serves them.
    const served = JSON.parse(JSON.stringify(objects)) as Record<string, unknown>[];
    expect(
      served.filter((o) => o.kind === 'Namespace').map((o) => projectNamespace(o as K8sNamespace)),
    ).toEqual(s.namespaces);
    expect(served.filter((o) => o.kind === 'Pod').map((o) => projectPod(o as K8sPod))).toEqual(s.pods);
    expect(
      served.filter((o) => o.kind === 'NetworkPolicy').map((o) => projectPolicy(o as K8sNetworkPolicy)),
    ).toEqual(s.policies);
    expect(served.filter((o) => o.kind === 'Node').map((o) => projectNode(o as K8sNode))).toEqual(
      s.nodes.map(nodeInfoOf),
    );
    expect(
      served
        .filter((o) => o.kind === 'ClusterNetworkPolicy')
        .map((o) => projectClusterPolicy(o as K8sClusterNetworkPolicy)),
    ).toEqual(s.clusterPolicies);
    const api = served.find((o) => o.kind === 'Pod' && (o.metadata as { name: string }).name === 'api') as {
      spec: { nodeName: string };
      status: { podIPs: { ip: string }[] };
    };
    expect(api.spec.nodeName).toBe('node-2');
    // node-2 is declared (a Node object): index 1.
    expect(api.status.podIPs).toEqual([{ ip: '10.244.1.10' }]);
    // Without ClusterNetworkPolicies there is no CRD: the agents run as on a cluster without it.
    expect(
      clusterObjects({ ...s, clusterPolicies: [] }).some((o) => o.kind === 'CustomResourceDefinition'),
    ).toBe(false);
  });
});

describe('command templates', () => {
  test('placeholders are filled per argument, never split or joined', () => {
    const argv = fillTemplate(DEFAULT_ENFORCEMENT_LAUNCH.agentArgv, {
      execPath: '/n/node',
      repo: '/r',
      node: 'node a',
      kubeconfig: '/s/kc',
      metricsAddress: '127.0.0.1:9101',
      debugSocket: '/s/a.sock',
    });
    expect(argv).toEqual([
      '/n/node',
      '/r/dist/agent/cli/main.js',
      'agent',
      '--node-name',
      'node a',
      '--kubeconfig',
      '/s/kc',
      '--metrics-address',
      '127.0.0.1:9101',
      '--debug-socket',
      '/s/a.sock',
    ]);
    expect(() => fillTemplate(['{nope}'], {})).toThrow('unknown placeholder {nope}');
  });
});
