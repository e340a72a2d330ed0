/**
 * The Node objects of a live sandbox come from one place, the simulator, with what the scenario
 * declares of each node (labels, addresses, pod CIDRs) and defaults for the others.
 */
import { nodeObject } from './node-registration';
import { clusterObjects } from '../k8s-objects';
import { nodeDeclarations } from '../enforcement';
import type { SandboxPlan } from '../plan';
import type { LiveNode } from './config';

const plan: SandboxPlan = {
  nodes: [
    { name: 'node-1', ipv4: '172.18.0.2' },
    { name: 'node-2', ipv4: '172.18.0.3', podCIDRs: ['10.9.0.0/24'] },
  ],
  pods: [],
  externals: [],
  probes: [],
};

const declaredNode1 = clusterObjects({
  namespaces: [],
  pods: [],
  policies: [],
  nodes: [
    {
      name: 'node-1',
      labels: { 'kubernetes.io/hostname': 'node-1', zone: 'a' },
      addresses: ['172.18.0.2', '192.0.2.7'],
      podCIDRs: ['10.244.1.0/24'],
    },
  ],
});

test('a declared node keeps its labels, every address and its CIDRs; the other gets defaults', () => {
  const d = nodeDeclarations(plan, declaredNode1);
  expect(d.get('node-1')).toEqual({
    labels: { 'kubernetes.io/hostname': 'node-1', zone: 'a' },
    addresses: ['172.18.0.2', '192.0.2.7'],
    podCIDRs: ['10.244.1.0/24'],
  });
  expect(d.get('node-2')).toEqual({
    labels: { 'kubernetes.io/hostname': 'node-2' },
    addresses: ['172.18.0.3'],
    podCIDRs: ['10.9.0.0/24'],
  });
});

test('a declared node the sandbox lacks, or one without its wired address, is refused', () => {
  const stranger = clusterObjects({
    namespaces: [],
    pods: [],
    policies: [],
    nodes: [{ name: 'node-9', labels: {}, addresses: ['172.18.0.9'], podCIDRs: [] }],
  });
  expect(() => nodeDeclarations(plan, stranger)).toThrow('Node node-9, which the sandbox does not have');
  const moved = clusterObjects({
    namespaces: [],
    pods: [],
    policies: [],
    nodes: [{ name: 'node-1', labels: {}, addresses: ['172.18.0.99'], podCIDRs: [] }],
  });
  expect(() => nodeDeclarations(plan, moved)).toThrow('does not list the address 172.18.0.2');
});

test('the registered object carries the declaration, a Hostname address and Ready', () => {
  const node: LiveNode = {
    name: 'node-1',
    ns: 'x',
    ipv4: '172.18.0.2',
    podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'],
    labels: { zone: 'a' },
    addresses: ['172.18.0.2', 'fd00::2'],
    endpointSocket: '',
    podEndpointsSocket: '',
    onLinkExtra: [],
    offLink: [],
  };
  const obj = nodeObject(node, '2026-01-01T00:00:00Z');
  expect(obj.metadata).toEqual({ name: 'node-1', labels: { zone: 'a' } });
  expect(obj.spec).toEqual({
    podCIDR: '10.244.1.0/24',
    podCIDRs: ['10.244.1.0/24', 'fd00:10:244:1::/64'],
  });
  const status = obj.status as { addresses: unknown[]; conditions: { type: string; status: string }[] };
  expect(status.addresses).toEqual([
    { type: 'InternalIP', address: '172.18.0.2' },
    { type: 'InternalIP', address: 'fd00::2' },
    { type: 'Hostname', address: 'node-1' },
  ]);
  expect(status.conditions.map((c) => [c.type, c.status])).toEqual([['Ready', 'True']]);
});
