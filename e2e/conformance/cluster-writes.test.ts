/**
 * planWrites: from what a shared cluster holds to what the next state needs, as API writes.
 */
import type { K8sObject } from '../sandbox';
import { canonicalJson, labelPatch, planWrites, type ClusterWrite } from './cluster-writes';

function ns(name: string, labels: Record<string, string> = {}): K8sObject {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } };
}

function pod(
  key: string,
  tweak: { labels?: Record<string, string>; ports?: unknown[]; node?: string } = {},
): K8sObject {
  const [namespace, name] = key.split('/');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: tweak.labels ?? { pod: name } },
    spec: {
      nodeName: tweak.node ?? 'node-1',
      containers: [{ name: 'main', image: 'i', ...(tweak.ports ? { ports: tweak.ports } : {}) }],
    },
    status: { phase: 'Running', podIP: '10.0.0.1', podIPs: [{ ip: '10.0.0.1' }] },
  };
}

function policy(key: string, spec: Record<string, unknown> = { podSelector: {} }): K8sObject {
  const [namespace, name] = key.split('/');
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec };
}

const BASE = [ns('x', { ns: 'x' }), pod('x/a'), pod('x/b')];

function summary(writes: readonly ClusterWrite[]): string[] {
  return writes.map((w) => {
    if (w.op === 'create' || w.op === 'replace')
      return `${w.op} ${w.object.kind} ${(w.object.metadata as { name: string }).name}`;
    if (w.op === 'delete') return `delete ${w.ref.kind} ${w.ref.name}`;
    return `patch ${w.ref.kind} ${w.ref.name} ${canonicalJson(w.mergePatch)}`;
  });
}

test('the same state needs no write', () => {
  expect(planWrites([...BASE, policy('x/p')], [...BASE, policy('x/p')])).toEqual([]);
});

test('policies: deletions first, creations last; a changed one is recreated by default', () => {
  const now = [...BASE, policy('x/gone'), policy('x/same'), policy('x/changed')];
  const next = [
    ...BASE,
    policy('x/same'),
    policy('x/changed', { podSelector: { matchLabels: { a: 'b' } } }),
    policy('x/new'),
  ];
  expect(summary(planWrites(now, next))).toEqual([
    'delete NetworkPolicy gone',
    'delete NetworkPolicy changed',
    'create NetworkPolicy changed',
    'create NetworkPolicy new',
  ]);
});

test("'replace' updates a changed policy in place", () => {
  const now = [...BASE, policy('x/p')];
  const next = [...BASE, policy('x/p', { podSelector: { matchLabels: { a: 'b' } } })];
  expect(summary(planWrites(now, next, 'replace'))).toEqual(['replace NetworkPolicy p']);
});

test('labels are merge-patched, a removed label to null; changed ports replace the containers', () => {
  const next = [
    ns('x', { ns: 'x', extra: 'yes' }),
    pod('x/a', { labels: { other: '1' } }),
    pod('x/b', { ports: [{ name: 'web', containerPort: 80, protocol: 'TCP' }] }),
  ];
  expect(summary(planWrites(BASE, next))).toEqual([
    'patch Namespace x {"metadata":{"labels":{"extra":"yes"}}}',
    'patch Pod a {"metadata":{"labels":{"other":"1","pod":null}}}',
    'patch Pod b {"spec":{"containers":[{"image":"i","name":"main","ports":[{"containerPort":80,"name":"web","protocol":"TCP"}]}]}}',
  ]);
});

test('a shared cluster cannot rewire: pods and namespaces are fixed', () => {
  expect(() => planWrites(BASE, [...BASE, pod('x/c')])).toThrow(
    'the pods of a shared cluster are fixed; the new state adds Pod x/c',
  );
  expect(() => planWrites(BASE, [ns('x'), pod('x/a')])).toThrow('drops Pod x/b');
  expect(() => planWrites(BASE, [ns('x', { ns: 'x' }), pod('x/a', { node: 'node-2' }), pod('x/b')])).toThrow(
    'Pod x/a: node, addresses or phase differ',
  );
});

function clusterPolicy(name: string, priority = 1): K8sObject {
  return {
    apiVersion: 'policy.networking.k8s.io/v1alpha2',
    kind: 'ClusterNetworkPolicy',
    metadata: { name },
    spec: { tier: 'Admin', priority, subject: { namespaces: {} } },
  };
}

function node(name: string, labels: Record<string, string>, ip = '172.18.0.2'): K8sObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels },
    status: { addresses: [{ type: 'InternalIP', address: ip }] },
  };
}

test('ClusterNetworkPolicies are written like policies; nodes are fixed but for labels', () => {
  const now = [...BASE, node('n1', { a: '1' }), clusterPolicy('gone'), clusterPolicy('changed')];
  const next = [...BASE, node('n1', { a: '2' }), clusterPolicy('changed', 2), clusterPolicy('new')];
  expect(summary(planWrites(now, next))).toEqual([
    'delete ClusterNetworkPolicy gone',
    'delete ClusterNetworkPolicy changed',
    'patch Node n1 {"metadata":{"labels":{"a":"2"}}}',
    'create ClusterNetworkPolicy changed',
    'create ClusterNetworkPolicy new',
  ]);
  expect(summary(planWrites(now, [...now.slice(0, -1), clusterPolicy('changed', 40)], 'replace'))).toEqual([
    'replace ClusterNetworkPolicy changed',
  ]);
  expect(() => planWrites(now, [...BASE, clusterPolicy('gone')])).toThrow('drops Node n1');
  expect(() => planWrites(now, [...BASE, node('n1', { a: '1' }, '172.18.0.9')])).toThrow(
    'Node n1: addresses or spec differ',
  );
});

test('labelPatch and canonicalJson', () => {
  expect(labelPatch({ a: '1', b: '2' }, { a: '1', b: '2' })).toBeUndefined();
  expect(labelPatch(undefined, { a: '1' })).toEqual({ a: '1' });
  expect(canonicalJson({ b: [1, { d: 1, c: 2 }], a: undefined })).toBe('{"b":[1,{"c":2,"d":1}]}');
});
