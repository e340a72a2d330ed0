import type { PodInfo } from '../../compiler/model';
import { loadScenario } from '../../compiler/scenario';
import { parseProbe, planFromPods, planFromScenario, validatePlan, type SandboxPlan } from './plan';
import { smallPlan } from './testutil/plans';

function pod(key: string, t: Partial<PodInfo> = {}): PodInfo {
  const [namespace, name] = key.split('/');
  return {
    namespace,
    name,
    labels: {},
    nodeName: 'n1',
    ips: [],
    hostNetwork: false,
    phase: 'Running',
    namedPorts: [],
    ...t,
  };
}

const NODES = [
  { name: 'n2', ips: ['172.18.0.3', 'fd00:18::3'] },
  { name: 'n1', ips: ['172.18.0.2'] },
];
const PROBES = [{ port: 80, protocol: 'TCP' as const }];

describe('planFromPods', () => {
  test('splits addresses by family, sorts pods by namespace then name and nodes by name', () => {
    const { plan, skipped } = planFromPods({
      pods: [
        pod('y/a', { ips: ['fd00:244::2', '10.244.1.2'] }),
        pod('x/b', { ips: ['10.244.1.3'], nodeName: 'n2' }),
        pod('x/a-b', { ips: ['10.244.1.4'] }),
      ],
      nodes: NODES,
      externals: ['203.0.113.10'],
      probes: PROBES,
    });
    expect(skipped).toEqual([]);
    expect(plan.pods).toEqual([
      { key: 'x/a-b', node: 'n1', hostNetwork: false, ipv4: '10.244.1.4' },
      { key: 'x/b', node: 'n2', hostNetwork: false, ipv4: '10.244.1.3' },
      { key: 'y/a', node: 'n1', hostNetwork: false, ipv4: '10.244.1.2', ipv6: 'fd00:244::2' },
    ]);
    expect(plan.nodes).toEqual([
      { name: 'n1', ipv4: '172.18.0.2' },
      { name: 'n2', ipv4: '172.18.0.3', ipv6: 'fd00:18::3' },
    ]);
    expect(validatePlan(plan)).toEqual([]);
  });

  test('leaves out pods that cannot take part, and names them', () => {
    const { plan, skipped } = planFromPods({
      pods: [
        pod('x/pending', { phase: 'Pending' }),
        pod('x/done', { phase: 'Succeeded', ips: ['10.244.1.9'] }),
        pod('x/unscheduled', { nodeName: '', ips: ['10.244.1.8'] }),
        pod('x/ok', { ips: ['10.244.1.7'] }),
      ],
      nodes: NODES,
      externals: [],
      probes: [...PROBES, ...PROBES],
    });
    expect(plan.pods.map((p) => p.key)).toEqual(['x/ok']);
    expect(skipped).toEqual(['x/pending', 'x/done', 'x/unscheduled']);
    expect(plan.probes).toEqual(PROBES);
  });
});

describe('planFromScenario', () => {
  test('takes the addresses the scenario loader assigns; hostNetwork pods share their node address', () => {
    const yaml = `
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x}
spec: {nodeName: node-a, containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Pod
metadata: {name: h, namespace: kube-system}
spec: {nodeName: node-b, hostNetwork: true, containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x}
spec: {nodeName: node-b, containers: [{name: c, image: i}]}
status: {podIPs: [{ip: 192.0.2.7}]}
`;
    const r = loadScenario(yaml, 'test.yaml');
    if (!r.ok) throw new Error(r.errors.join('\n'));
    const { plan } = planFromScenario(r.scenario, ['203.0.113.10', '203.0.113.10'], PROBES);
    // The pod CIDRs the loader gives its nodes: where the kubelet takes addresses for new pods.
    expect(plan.nodes).toEqual([
      { name: 'node-a', ipv4: '172.18.0.2', podCIDRs: ['10.244.1.0/24'] },
      { name: 'node-b', ipv4: '172.18.0.3', podCIDRs: ['10.244.2.0/24'] },
    ]);
    expect(plan.pods).toEqual([
      { key: 'kube-system/h', node: 'node-b', hostNetwork: true, ipv4: '172.18.0.3' },
      { key: 'x/a', node: 'node-a', hostNetwork: false, ipv4: '10.244.1.10' },
      { key: 'x/b', node: 'node-b', hostNetwork: false, ipv4: '192.0.2.7' },
    ]);
    expect(plan.externals).toEqual(['203.0.113.10']);
    expect(validatePlan(plan)).toEqual([]);
  });
});

describe('validatePlan', () => {
  test('the test plans are valid', () => {
    expect(validatePlan(smallPlan())).toEqual([]);
    expect(validatePlan(smallPlan({ dualStack: true }))).toEqual([]);
  });

  test('reports every problem at once', () => {
    const plan: SandboxPlan = {
      nodes: [
        { name: 'n1', ipv4: '172.18.0.2' },
        { name: 'n1', ipv6: 'fd00::2' },
      ],
      pods: [
        { key: 'x/a', node: 'n1', hostNetwork: false, ipv4: '10.0.0.1' },
        { key: 'x/b', node: 'n1', hostNetwork: false, ipv4: '10.0.0.1' },
        { key: 'x/c', node: 'n9', hostNetwork: false, ipv4: '10.0.0.3' },
        { key: 'x/h', node: 'n1', hostNetwork: true, ipv4: '172.18.0.9' },
        { key: 'bad', node: 'n1', hostNetwork: false, ipv6: '10.0.0.5' },
      ],
      externals: ['203.0.113.10', '10.0.0.1', 'nope'],
      probes: [{ port: 0, protocol: 'TCP' }],
    };
    expect(validatePlan(plan)).toEqual([
      'node n1 is listed twice',
      'pod x/b: address 10.0.0.1 is also used by pod x/a',
      'pod x/c: node n9 is not in the plan',
      "pod x/h: hostNetwork pod address 172.18.0.9 is not node n1's IPv4 address",
      'pod bad: key must be namespace/name',
      'pod bad: 10.0.0.5 is not an IPv6 address',
      'external 10.0.0.1: address 10.0.0.1 is also used by pod x/b',
      'external nope is not an IP address',
      'node n1 needs an IPv4 address: the plan has IPv4 endpoints',
      'probe port 0 is out of range',
    ]);
  });

  test('a plan without nodes or probes', () => {
    expect(validatePlan({ nodes: [], pods: [], externals: [], probes: [] })).toEqual([
      'the plan has no nodes',
      'the plan has no probes',
    ]);
  });
});

test('parseProbe', () => {
  expect(parseProbe('80')).toEqual({ port: 80, protocol: 'TCP' });
  expect(parseProbe('53/udp')).toEqual({ port: 53, protocol: 'UDP' });
  expect(parseProbe(' 9000/SCTP ')).toEqual({ port: 9000, protocol: 'SCTP' });
  expect(parseProbe('0')).toBeUndefined();
  expect(parseProbe('70000/TCP')).toBeUndefined();
  expect(parseProbe('80/ICMP')).toBeUndefined();
});
