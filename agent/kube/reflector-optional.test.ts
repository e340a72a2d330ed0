/**
 * A reflector of an optional resource (ClusterNetworkPolicy, served only while its CRD exists)
 * against the real test API server through the real client-node: absent at start (synced, empty,
 * looking again with backoff), picked up once the CRD is installed, emptied when the CRD is
 * deleted, picked up again when it comes back. Each change of availability reported once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterPolicyInfo } from '../../compiler';
import {
  CLUSTER_NETWORK_POLICY_CRD,
  startApiServer,
  type KubeObject,
  type TestApiServer,
} from '../../e2e/apiserver';
import { systemClock, type Clock } from '../daemon/clock';
import { createLogger, silentLogger } from '../daemon/logger';
import { createResourceClients, loadKubeConfig } from './client';
import { Reflector } from './reflector';
import { CLUSTER_NETWORK_POLICIES } from './resources';
import { eventually } from './testutil/eventually';

/** The system clock, recording every delay the reflector asks for. */
class RecordingClock implements Clock {
  readonly delays: number[] = [];
  now(): number {
    return systemClock.now();
  }
  setTimer(ms: number, fn: () => void) {
    this.delays.push(ms);
    return systemClock.setTimer(ms, fn);
  }
}

let dir: string;
let server: TestApiServer;
let reflector: Reflector<ClusterPolicyInfo>;
let calls: string[];
let synced: number;
let clock: RecordingClock;

function cnp(name: string, priority: number): KubeObject {
  return {
    apiVersion: 'policy.networking.k8s.io/v1alpha2',
    kind: 'ClusterNetworkPolicy',
    metadata: { name },
    spec: {
      tier: 'Admin',
      priority,
      subject: { namespaces: {} },
      ingress: [{ action: 'Deny', from: [{ namespaces: {} }] }],
    },
  };
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'palisade-reflector-optional-'));
  server = await startApiServer();
  server.writeKubeconfig(join(dir, 'kubeconfig'));
  const clients = await createResourceClients(await loadKubeConfig(join(dir, 'kubeconfig')));
  calls = [];
  synced = 0;
  clock = new RecordingClock();
  reflector = new Reflector<ClusterPolicyInfo>({
    client: clients.clusternetworkpolicies,
    project: CLUSTER_NETWORK_POLICIES.project,
    keyOf: CLUSTER_NETWORK_POLICIES.keyOf,
    optional: true,
    clock,
    log: process.env.PALISADE_TEST_LOG ? createLogger('debug') : silentLogger(),
    backoff: { initialMs: 20, maxMs: 100, jitter: 0 },
    absentPoll: { initialMs: 20, maxMs: 80, jitter: 0 },
    handler: {
      upsert: (c) => calls.push(`upsert ${c.name} ${c.priority}`),
      delete: (key) => calls.push(`delete ${key}`),
      synced: () => synced++,
      served: (served) => calls.push(served ? 'served' : 'not served'),
    },
  });
});

afterEach(async () => {
  await reflector.stop();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('absent at start: synced and empty, then picked up when the CRD is installed, no restart', async () => {
  reflector.start();
  await eventually(() => reflector.hasSynced(), 'synced without the CRD');
  expect(synced).toBe(1);
  expect(reflector.served()).toBe(false);
  expect(reflector.status()).toMatchObject({ state: 'absent', synced: true, objects: 0, served: false });
  // It keeps looking, with a growing delay capped at 80 ms.
  await eventually(() => clock.delays.length >= 4, 'a few looks');
  expect(clock.delays.slice(0, 4)).toEqual([20, 40, 80, 80]);
  expect(calls).toEqual(['not served']);

  server.create(structuredClone(CLUSTER_NETWORK_POLICY_CRD));
  server.create(cnp('a', 1));
  await eventually(() => calls.includes('upsert a 1'), 'the policy listed');
  expect(calls).toEqual(['not served', 'upsert a 1', 'served']);
  expect(reflector.served()).toBe(true);
  await eventually(() => reflector.state() === 'watching' && server.activeWatches > 0, 'a watch');
  server.create(cnp('b', 2));
  await eventually(() => calls.includes('upsert b 2'), 'the new policy watched');
  expect(synced).toBe(1);
});

test('the CRD deleted: its policies are reported deleted, then absent; installed again: picked up', async () => {
  server.create(structuredClone(CLUSTER_NETWORK_POLICY_CRD));
  server.create(cnp('a', 1));
  server.create(cnp('b', 2));
  reflector.start();
  await eventually(() => reflector.state() === 'watching' && server.activeWatches > 0, 'a watch');
  expect(calls).toEqual(['upsert a 1', 'upsert b 2', 'served']);
  expect(reflector.served()).toBe(true);
  calls.length = 0;

  server.delete({
    kind: 'CustomResourceDefinition',
    name: 'clusternetworkpolicies.policy.networking.k8s.io',
  });
  await eventually(() => reflector.served() === false, 'absent');
  expect(calls).toEqual(['delete a', 'delete b', 'not served']);
  expect(reflector.size).toBe(0);

  calls.length = 0;
  server.create(structuredClone(CLUSTER_NETWORK_POLICY_CRD));
  server.create(cnp('c', 3));
  await eventually(() => reflector.served(), 'served again');
  expect(calls).toEqual(['upsert c 3', 'served']);
  expect(synced).toBe(1);
});
