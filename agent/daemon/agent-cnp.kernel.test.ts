/**
 * ClusterNetworkPolicy with the agent as a real process in a node network namespace, real
 * packets between pods in network namespaces, and the test API server in this process, started
 * without the CRD (testutil/node-sandbox.ts):
 *   1. no CRD: the agent starts, programs NetworkPolicy, and says the CRD is absent;
 *   2. the CRD installed and an Admin deny created: the same agent process enforces it, and a
 *      namespace owner's NetworkPolicy that allows everything does not open it;
 *   3. the CRD deleted: the Admin deny goes, the NetworkPolicy decides again.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Verdict } from '../../compiler';
import { describeKernel } from '../../dataplane/testutil/netns';
import {
  CLUSTER_NETWORK_POLICY_CRD,
  startApiServer,
  type KubeObject,
  type TestApiServer,
} from '../../e2e/apiserver';
import { eventually } from '../kube/testutil/eventually';
import { namespace, pod, policy } from '../kube/testutil/objects';
import { AgentProcess } from './testutil/agent-process';
import { NodeSandbox } from './testutil/node-sandbox';

jest.setTimeout(180_000);

/** [from, to, port, allowed] */
type Case = readonly [string, string, number, boolean];

const PODS = [
  { key: 'x/a', ip: '10.244.0.10', labels: { app: 'web' } },
  { key: 'y/c', ip: '10.244.0.12', labels: { app: 'client' } },
  { key: 'z/s', ip: '10.244.0.13', labels: { app: 'stranger' } },
];

const ADMIN_DENY_Y: KubeObject = {
  apiVersion: 'policy.networking.k8s.io/v1alpha2',
  kind: 'ClusterNetworkPolicy',
  metadata: { name: 'deny-y-to-x' },
  spec: {
    tier: 'Admin',
    priority: 10,
    subject: { namespaces: { matchLabels: { team: 'x' } } },
    ingress: [{ name: 'no-y', action: 'Deny', from: [{ namespaces: { matchLabels: { team: 'y' } } }] }],
  },
};
const ALLOW_ALL_X = policy('x/allow-all', { podSelector: {}, ingress: [{}] });

describeKernel('ClusterNetworkPolicy: the CRD absent, installed, deleted, one agent process', () => {
  let dir: string;
  let sandbox: NodeSandbox;
  let server: TestApiServer;
  let agent: AgentProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'palisade-agent-cnp-e2e-'));
    sandbox = await NodeSandbox.create();
    const objects: KubeObject[] = [
      namespace('x', { team: 'x' }),
      namespace('y', { team: 'y' }),
      namespace('z', { team: 'z' }),
      {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: 'node-a' },
        status: { addresses: [{ type: 'InternalIP', address: sandbox.nodeIP }] },
      },
    ];
    for (const p of PODS) {
      await sandbox.addPod(p.key, p.ip);
      objects.push(pod(p.key, { labels: p.labels, ip: p.ip, node: 'node-a' }));
    }
    server = await startApiServer({ host: sandbox.hostIP, objects, bookmarkIntervalMs: 1000 });
    server.writeKubeconfig(join(dir, 'kubeconfig'));
    agent = AgentProcess.start({ sandbox, kubeconfig: join(dir, 'kubeconfig'), dir, resyncInterval: '2s' });
  });

  afterAll(async () => {
    if (agent) {
      agent.kill('SIGKILL');
      await agent.exit;
    }
    await server?.stop();
    await sandbox?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const e2eTest = (name: string, fn: () => Promise<void>) =>
    test(name, async () => {
      try {
        await fn();
      } catch (err) {
        if (agent) console.log(`agent log (tail):\n${agent.log().split('\n').slice(-60).join('\n')}`);
        throw err;
      }
    });

  async function verdictOf(from: string, to: string, port: number): Promise<boolean> {
    const r = await agent.debug<{ verdict: Verdict }>(
      `/v1/verdict?from=${from}&to=${to}&port=${port}&protocol=TCP`,
    );
    return r.verdict.allowed;
  }

  /** The agent's model agrees with `cases`, everything is applied, real packets agree, no drift. */
  async function step(cases: readonly Case[]): Promise<void> {
    await eventually(
      async () => {
        for (const [from, to, port, want] of cases)
          if ((await verdictOf(from, to, port)) !== want) return false;
        return true;
      },
      'the agent to compile the change',
      30_000,
    );
    await agent.waitSettled();
    const results = await Promise.all(
      cases.map(async ([from, to, port, want]) => {
        const r = await sandbox.pod(from).prober.probe(sandbox.pod(to).ip, port, want ? 3000 : 800);
        return { c: `${from} -> ${to}:${port}`, want, got: r === 'ok', r };
      }),
    );
    expect(results.filter((x) => x.want !== x.got)).toEqual([]);
    expect(await agent.debug('/v1/drift')).toEqual({ differences: [] });
  }

  const crdState = async () =>
    (await agent.debug<{ clusterNetworkPolicies: { crd: string } }>('/v1/status')).clusterNetworkPolicies.crd;

  e2eTest('no CRD: the agent starts, enforces NetworkPolicy, and says the CRD is absent', async () => {
    await agent.waitReady();
    expect(await crdState()).toBe('absent');
    expect(
      agent.logEntries().some((e) => String(e.msg).startsWith('ClusterNetworkPolicy CRD not installed')),
    ).toBe(true);
    await step([
      ['y/c', 'x/a', 80, true],
      ['z/s', 'x/a', 80, true],
    ]);
    server.create(policy('x/deny', { podSelector: {}, policyTypes: ['Ingress'] }));
    await step([
      ['y/c', 'x/a', 80, false],
      ['z/s', 'x/a', 80, false],
    ]);
    server.delete({ kind: 'NetworkPolicy', namespace: 'x', name: 'deny' });
  });

  e2eTest(
    'the CRD installed: the same process enforces an Admin deny a NetworkPolicy cannot open',
    async () => {
      const pid = agent.pid;
      server.create(structuredClone(CLUSTER_NETWORK_POLICY_CRD));
      server.create(ADMIN_DENY_Y);
      server.create(ALLOW_ALL_X);
      await step([
        ['y/c', 'x/a', 80, false],
        ['z/s', 'x/a', 80, true],
        ['x/a', 'y/c', 80, true],
      ]);
      expect(await crdState()).toBe('installed');
      expect(agent.pid).toBe(pid);
      expect(agent.logEntries().filter((e) => e.msg === 'starting palisade agent')).toHaveLength(1);
      expect(
        agent.logEntries().some((e) => String(e.msg).startsWith('ClusterNetworkPolicy CRD installed')),
      ).toBe(true);
    },
  );

  e2eTest('the CRD deleted: the Admin deny goes with it, the NetworkPolicy decides again', async () => {
    server.delete({
      kind: 'CustomResourceDefinition',
      name: 'clusternetworkpolicies.policy.networking.k8s.io',
    });
    await step([
      ['y/c', 'x/a', 80, true],
      ['z/s', 'x/a', 80, true],
    ]);
    expect(await crdState()).toBe('absent');
  });
});
