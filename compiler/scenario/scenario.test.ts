/** Loading scenarios: projection into the model, implicit namespaces, address assignment. */
import {
  assignAddresses,
  DEFAULT_NODE,
  loadScenario,
  projectNamespace,
  projectPod,
  projectPolicy,
  type Scenario,
} from './index';
import type { PodInfo } from '../model';

function load(text: string): Scenario {
  const r = loadScenario(text, 's.yaml');
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.scenario;
}

const pod = (name: string, extra = '', ns = 'x') => `---
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}}
spec:
  containers: [{name: c, image: i}]
${extra}`;

describe('projection keeps only what decides verdicts', () => {
  test('pod: labels, node, addresses, hostNetwork, phase, named ports of every container', () => {
    const p = projectPod({
      metadata: { name: 'a', namespace: 'x', labels: { app: 'web' } },
      spec: {
        nodeName: 'n1',
        hostNetwork: false,
        containers: [
          { ports: [{ name: 'http', containerPort: 8080 }, { containerPort: 9090 }] },
          { ports: [{ name: 'dns', containerPort: 53, protocol: 'UDP' }] },
        ],
      },
      status: { phase: 'Running', podIP: '10.0.0.1', podIPs: [{ ip: '10.0.0.1' }, { ip: 'FD00:0:0::1' }] },
    });
    expect(p).toEqual({
      namespace: 'x',
      name: 'a',
      labels: { app: 'web' },
      nodeName: 'n1',
      ips: ['10.0.0.1', 'fd00::1'],
      hostNetwork: false,
      phase: 'Running',
      namedPorts: [
        { name: 'http', port: 8080, protocol: 'TCP' },
        { name: 'dns', port: 53, protocol: 'UDP' },
      ],
    });
  });

  test('pod defaults: namespace default, phase Running, podIP when podIPs is absent', () => {
    const p = projectPod({ metadata: { name: 'a' }, status: { podIP: '10.0.0.9' } });
    expect(p).toMatchObject({
      namespace: 'default',
      phase: 'Running',
      ips: ['10.0.0.9'],
      nodeName: '',
      hostNetwork: false,
    });
  });

  test('labels are copied, not shared', () => {
    const labels = { app: 'web' };
    const p = projectPod({ metadata: { name: 'a', labels } });
    labels.app = 'db';
    expect(p.labels).toEqual({ app: 'web' });
  });

  test('namespace: the kubernetes.io/metadata.name label is always set to the name', () => {
    expect(
      projectNamespace({
        metadata: { name: 'x', labels: { team: 'a', 'kubernetes.io/metadata.name': 'wrong' } },
      }),
    ).toEqual({
      name: 'x',
      labels: { team: 'a', 'kubernetes.io/metadata.name': 'x' },
    });
  });

  test("policy: client-node's typed `_from` spelling keeps its peers", () => {
    const p = projectPolicy({
      metadata: { name: 'p', namespace: 'x' },
      spec: { podSelector: {}, ingress: [{ _from: [{ podSelector: { matchLabels: { app: 'db' } } }] }] },
    });
    expect(p.spec.ingress).toEqual([{ from: [{ podSelector: { matchLabels: { app: 'db' } } }] }]);
  });

  test('policy: spec only, CIDRs canonical, nulls dropped, empty and absent lists kept apart', () => {
    const p = projectPolicy({
      metadata: { name: 'p', namespace: 'x' },
      spec: {
        podSelector: { matchLabels: {}, matchExpressions: [{ key: 'a', operator: 'Exists' }] },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [
          { from: [] },
          {},
          { from: [{ ipBlock: { cidr: '10.1.2.3/8', except: ['10.1.0.0/16'] } }], ports: [{ port: 'http' }] },
        ],
        egress: [
          {
            to: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'db' } } }],
            ports: [{ protocol: 'UDP', port: 53, endPort: 54 }],
          },
        ],
      },
    });
    expect(p).toEqual({
      namespace: 'x',
      name: 'p',
      spec: {
        podSelector: { matchExpressions: [{ key: 'a', operator: 'Exists' }] },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [
          { from: [] },
          {},
          { from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }], ports: [{ port: 'http' }] },
        ],
        egress: [
          {
            to: [{ namespaceSelector: {}, podSelector: { matchLabels: { app: 'db' } } }],
            ports: [{ protocol: 'UDP', port: 53, endPort: 54 }],
          },
        ],
      },
    });
  });
});

describe('namespaces', () => {
  test('namespaces used but not declared are created with the name label; declared ones get it too', () => {
    const s = load(`apiVersion: v1
kind: Namespace
metadata: {name: y, labels: {team: b}}
${pod('a')}${pod('b', '', 'default').replace('namespace: default', '')}---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: z}
spec: {podSelector: {}}
`);
    expect(s.namespaces).toEqual([
      { name: 'y', labels: { team: 'b', 'kubernetes.io/metadata.name': 'y' } },
      { name: 'x', labels: { 'kubernetes.io/metadata.name': 'x' } },
      { name: 'default', labels: { 'kubernetes.io/metadata.name': 'default' } },
      { name: 'z', labels: { 'kubernetes.io/metadata.name': 'z' } },
    ]);
    expect(s.pods.map((p) => `${p.namespace}/${p.name}`)).toEqual(['x/a', 'default/b']);
  });

  test('a v1 List (kubectl get -o yaml) is read item by item', () => {
    const s = load(`apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a, namespace: x}
  spec: {containers: [{name: c, image: i}]}
- apiVersion: v1
  kind: Namespace
  metadata: {name: x}
`);
    expect(s.pods).toHaveLength(1);
    expect(s.namespaces.map((n) => n.name)).toEqual(['x']);
    const bad = loadScenario(
      `apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n  spec: {}\n`,
      'l.yaml',
    );
    expect(bad.ok ? [] : bad.errors).toEqual([
      'l.yaml: document 1 (items[0] Pod default/a): spec.containers: required value: a pod needs at least one container (line 7)',
    ]);
  });

  test('empty documents are skipped but still counted', () => {
    const r = loadScenario(
      `---\n# nothing\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: A}\nspec: {containers: [{name: c, image: i}]}\n`,
      'e.yaml',
    );
    expect(r.ok ? [] : r.errors[0]).toMatch(/^e\.yaml: document 2 \(Pod default\/A\): metadata\.name:/);
  });
});

describe('addresses', () => {
  test('nodes in order of first appearance, pods numbered per node from .10, node-1 for unscheduled pods', () => {
    const on = (name: string, node: string) => pod(name).replace('spec:\n', `spec:\n  nodeName: ${node}\n`);
    const s = load(on('a', 'n2') + pod('b') + on('c', 'n2') + pod('d'));
    expect(s.nodes).toEqual([
      {
        name: 'n2',
        index: 1,
        addresses: ['172.18.0.2'],
        podCIDRs: ['10.244.1.0/24'],
        labels: { 'kubernetes.io/hostname': 'n2' },
        declared: false,
      },
      {
        name: DEFAULT_NODE,
        index: 2,
        addresses: ['172.18.0.3'],
        podCIDRs: ['10.244.2.0/24'],
        labels: { 'kubernetes.io/hostname': DEFAULT_NODE },
        declared: false,
      },
    ]);
    expect(s.pods.map((p) => [p.name, p.nodeName, p.ips])).toEqual([
      ['a', 'n2', ['10.244.1.10']],
      ['b', 'node-1', ['10.244.2.10']],
      ['c', 'n2', ['10.244.1.11']],
      ['d', 'node-1', ['10.244.2.11']],
    ]);
    expect(s.dualStack).toBe(false);
  });

  test('declared addresses are kept and never handed out again', () => {
    const s = load(pod('a') + pod('b', 'status: {podIP: 10.244.1.10}\n') + pod('c'));
    expect(s.pods.map((p) => p.ips)).toEqual([['10.244.1.11'], ['10.244.1.10'], ['10.244.1.12']]);
  });

  test('hostNetwork pods get their node address; Pending/Failed pods without an address get none', () => {
    const s = load(
      pod('h').replace('spec:\n', 'spec:\n  hostNetwork: true\n') +
        pod('p', 'status: {phase: Pending}\n') +
        pod('f', 'status: {phase: Failed}\n') +
        pod('r'),
    );
    expect(s.pods.map((p) => [p.name, p.ips])).toEqual([
      ['h', ['172.18.0.2']],
      ['p', []],
      ['f', []],
      ['r', ['10.244.1.10']],
    ]);
  });

  test('an IPv6 address anywhere makes the scenario dual-stack; IPv6 groups mirror the IPv4 octet', () => {
    const s = load(
      pod('a') +
        pod('v6', 'status: {podIPs: [{ip: "fd00::99"}]}\n') +
        pod('h').replace('spec:\n', 'spec:\n  hostNetwork: true\n'),
    );
    expect(s.dualStack).toBe(true);
    expect(s.pods.map((p) => p.ips)).toEqual([
      ['10.244.1.10', 'fd00:10:244:1::10'],
      ['fd00::99'],
      ['172.18.0.2', 'fd00:172:18::2'],
    ]);
    expect(s.nodes[0].podCIDRs).toEqual(['10.244.1.0/24', 'fd00:10:244:1::/64']);
  });

  test('the dual-stack annotation on a namespace opts in too', () => {
    const s = load(`apiVersion: v1
kind: Namespace
metadata: {name: x, annotations: {palisade.dev/dual-stack: "true"}}
${pod('a')}`);
    expect(s.pods[0].ips).toEqual(['10.244.1.10', 'fd00:10:244:1::10']);
  });

  test('a full node is an error, not a silent collision', () => {
    const pods: PodInfo[] = Array.from({ length: 246 }, (_, i) => ({
      namespace: 'x',
      name: `p${i}`,
      labels: {},
      nodeName: '',
      ips: [],
      hostNetwork: false,
      phase: 'Running',
      namedPorts: [],
    }));
    const r = assignAddresses(pods, false);
    expect(r.errors).toEqual(['node node-1: no free address left in 10.244.1.0/24 for pod x/p245']);
    expect(r.pods[244].ips).toEqual(['10.244.1.254']);
  });

  test('container ports of every pod become the default probes, sorted', () => {
    const s = load(
      pod('a').replace(
        'image: i}',
        'image: i, ports: [{containerPort: 81, protocol: UDP}, {containerPort: 80}]}',
      ) +
        pod('b').replace(
          'image: i}',
          'image: i, ports: [{containerPort: 81}, {name: x, containerPort: 80, protocol: SCTP}]}',
        ),
    );
    expect(s.containerPorts).toEqual([
      { port: 80, protocol: 'TCP' },
      { port: 80, protocol: 'SCTP' },
      { port: 81, protocol: 'TCP' },
      { port: 81, protocol: 'UDP' },
    ]);
  });
});
