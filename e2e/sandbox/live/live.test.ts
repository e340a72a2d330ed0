/** The pure parts of the cluster simulator: addresses, scheduling, workload plans, pod status. */
import { AddressPool } from './address-pool';
import type { Json } from './kube-rest';
import { isReady, runningStatus } from './pod-status';
import { RoundRobinScheduler } from './scheduler';
import { planDeployment, planStatefulSet, templateHash } from './workloads';

describe('AddressPool', () => {
  test('pairs IPv4 and IPv6 by host digits, from .10, round robin, skipping taken and reserved addresses', () => {
    const pool = new AddressPool(
      ['10.244.1.0/24', 'fd00:10:244:1::/64'],
      new Map([['10.244.1.11', 'x/kept']]),
    );
    pool.take(['10.244.1.12', 'fd00:10:244:1::12']);
    expect(pool.allocate('x/a')).toEqual(['10.244.1.10', 'fd00:10:244:1::10']);
    expect(pool.allocate('x/b')).toEqual(['10.244.1.13', 'fd00:10:244:1::13']);
    pool.release(['10.244.1.10', 'fd00:10:244:1::10']);
    // Released addresses come back last, not next.
    expect(pool.allocate('x/c')).toEqual(['10.244.1.14', 'fd00:10:244:1::14']);
    // The reserved address goes to its own pod only.
    expect(
      new AddressPool(['10.244.1.0/24'], new Map([['10.244.1.10', 'x/kept']])).allocate('x/kept'),
    ).toEqual(['10.244.1.10']);
  });

  test('an exhausted CIDR gives nothing', () => {
    const pool = new AddressPool(['10.244.1.0/28']);
    expect(pool.allocate('x/a')).toEqual(['10.244.1.10']);
    for (const k of ['b', 'c', 'd', 'e']) expect(pool.allocate(`x/${k}`)).toBeDefined();
    expect(pool.allocate('x/z')).toBeUndefined();
  });
});

describe('RoundRobinScheduler', () => {
  const scheduler = () =>
    new RoundRobinScheduler([
      { name: 'node-1', labels: { zone: 'a' }, unschedulable: false },
      { name: 'node-2', labels: { zone: 'b' }, unschedulable: false },
      { name: 'node-3', labels: { zone: 'b' }, unschedulable: true },
    ]);

  test('round robin over schedulable nodes; nodeSelector narrows them', () => {
    const s = scheduler();
    expect([1, 2, 3].map(() => s.choose({ spec: {} }))).toEqual([
      { node: 'node-1' },
      { node: 'node-2' },
      { node: 'node-1' },
    ]);
    expect(scheduler().choose({ spec: { nodeSelector: { zone: 'b' } } })).toEqual({ node: 'node-2' });
    expect(scheduler().choose({ spec: { nodeSelector: { zone: 'c' } } })).toEqual({
      unschedulable: "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.",
    });
  });
});

const template = {
  metadata: { labels: { app: 'web' } },
  spec: { containers: [{ name: 'main', image: 'nginx' }] },
};

function workload(kind: string, replicas: number, extra: Json = {}): Json {
  return {
    apiVersion: 'apps/v1',
    kind,
    metadata: { name: 'web', namespace: 'x', uid: 'w-uid', generation: 2 },
    spec: { replicas, selector: { matchLabels: { app: 'web' } }, template, ...extra },
  };
}

function ownedPod(name: string, opts: { ready?: boolean; hash?: string; terminating?: boolean } = {}): Json {
  return {
    metadata: {
      name,
      namespace: 'x',
      labels: { app: 'web', ...(opts.hash ? { 'pod-template-hash': opts.hash } : {}) },
      ownerReferences: [{ uid: 'w-uid', kind: 'Deployment', controller: true }],
      ...(opts.terminating ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
      creationTimestamp: `2026-01-01T00:00:0${name.length % 10}Z`,
    },
    spec: template.spec,
    status: opts.ready
      ? runningStatus(
          { spec: template.spec, metadata: { uid: name } },
          { podIPs: ['10.244.1.10'], hostIPs: ['172.18.0.2'], startTime: 't', now: 't' },
        )
      : { phase: 'Pending' },
  };
}

describe('Deployment plans', () => {
  test('creates the missing pods from the template, owned and hashed; status counts ready ones', () => {
    const d = workload('Deployment', 3);
    const hash = templateHash(d);
    const plan = planDeployment(d, [ownedPod('web-a', { ready: true, hash })]);
    expect(plan.create).toHaveLength(2);
    expect(plan.create[0]).toMatchObject({
      metadata: {
        namespace: 'x',
        labels: { app: 'web', 'pod-template-hash': hash },
        ownerReferences: [{ kind: 'Deployment', uid: 'w-uid', controller: true }],
      },
      spec: { containers: [{ name: 'main' }] },
    });
    expect(String((plan.create[0].metadata as Json).name)).toMatch(new RegExp(`^web-${hash}-[a-z0-9]{5}$`));
    expect(plan.delete).toEqual([]);
    expect(plan.status).toMatchObject({
      observedGeneration: 2,
      replicas: 1,
      readyReplicas: 1,
      updatedReplicas: 1,
    });
    expect((plan.status.conditions as Json[])[0]).toMatchObject({ type: 'Available', status: 'False' });
  });

  test('scaling down removes not-ready pods first; a changed template replaces the old pods; Available when all are ready', () => {
    const d = workload('Deployment', 1);
    const hash = templateHash(d);
    expect(
      planDeployment(d, [ownedPod('web-a', { ready: true, hash }), ownedPod('web-b', { hash })]).delete,
    ).toEqual(['web-b']);
    expect(planDeployment(d, [ownedPod('web-old', { ready: true, hash: 'other' })])).toMatchObject({
      delete: ['web-old'],
      create: [expect.anything()],
    });
    const steady = planDeployment(d, [ownedPod('web-a', { ready: true, hash })]);
    expect([steady.create, steady.delete]).toEqual([[], []]);
    expect((steady.status.conditions as Json[])[0]).toMatchObject({ type: 'Available', status: 'True' });
  });
});

describe('StatefulSet plans', () => {
  const sts = (replicas: number, policy?: string) =>
    workload('StatefulSet', replicas, policy ? { podManagementPolicy: policy } : {});

  test('OrderedReady: NAME-0 first, the next only when the previous is Running and Ready', () => {
    expect(planStatefulSet(sts(3), []).create.map((p) => (p.metadata as Json).name)).toEqual(['web-0']);
    expect(planStatefulSet(sts(3), [ownedPod('web-0')]).create).toEqual([]);
    const next = planStatefulSet(sts(3), [ownedPod('web-0', { ready: true })]).create;
    expect(next.map((p) => [(p.metadata as Json).name, (p.spec as Json).hostname])).toEqual([
      ['web-1', 'web-1'],
    ]);
  });

  test('Parallel creates all at once; scaling down goes from the highest ordinal, one at a time when ordered', () => {
    expect(planStatefulSet(sts(3, 'Parallel'), []).create.map((p) => (p.metadata as Json).name)).toEqual([
      'web-0',
      'web-1',
      'web-2',
    ]);
    const three = [
      ownedPod('web-0', { ready: true }),
      ownedPod('web-1', { ready: true }),
      ownedPod('web-2', { ready: true }),
    ];
    expect(planStatefulSet(sts(1), three).delete).toEqual(['web-2']);
    expect(planStatefulSet(sts(1, 'Parallel'), three).delete).toEqual(['web-2', 'web-1']);
    expect(
      planStatefulSet(sts(1), [...three.slice(0, 2), ownedPod('web-2', { terminating: true })]).delete,
    ).toEqual([]);
  });
});

test('runningStatus: Running, Ready, 1/1 ready containers, the addresses', () => {
  const status = runningStatus(
    { metadata: { uid: 'u' }, spec: { containers: [{ name: 'a', image: 'i' }] } },
    { podIPs: ['10.244.1.10', 'fd00::10'], hostIPs: ['172.18.0.2'], startTime: 's', now: 'n' },
  );
  expect(status).toMatchObject({
    phase: 'Running',
    podIP: '10.244.1.10',
    podIPs: [{ ip: '10.244.1.10' }, { ip: 'fd00::10' }],
    hostIP: '172.18.0.2',
  });
  expect((status.containerStatuses as Json[])[0]).toMatchObject({
    name: 'a',
    ready: true,
    restartCount: 0,
    state: { running: { startedAt: 's' } },
  });
  expect(isReady({ status })).toBe(true);
  expect((status.conditions as Json[]).map((c) => c.type)).toEqual([
    'PodReadyToStartContainers',
    'Initialized',
    'Ready',
    'ContainersReady',
    'PodScheduled',
  ]);
});
