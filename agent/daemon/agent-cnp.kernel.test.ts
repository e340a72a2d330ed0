/**
 * ClusterNetworkPolicy with the agent as a real process in a node network namespace, real
 * packets between pods in network namespaces, and the test API server in this process, started
 * without the CRD (testutil/agent-scenario.ts), once per backend:
 *   1. no CRD: the agent starts, programs NetworkPolicy, and says the CRD is absent;
 *   2. the CRD installed and an Admin deny created: the same agent process enforces it, and a
 *      namespace owner's NetworkPolicy that allows everything does not open it;
 *   3. the CRD deleted: the Admin deny goes, the NetworkPolicy decides again.
 */
import { CLUSTER_NETWORK_POLICY_CRD, type KubeObject } from '../../e2e/apiserver';
import { describeKernel } from '../../dataplane/testutil/netns';
import { policy } from '../kube/testutil/objects';
import { AgentScenario, BACKENDS, testWithAgentLog } from './testutil/agent-scenario';

jest.setTimeout(180_000);

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
  describe.each(BACKENDS.map((b) => [b]))('%s backend', (backend) => {
    let s: AgentScenario;

    beforeAll(async () => {
      s = await AgentScenario.create({
        prefix: `palisade-agent-cnp-e2e-${backend}-`,
        namespaces: { x: { team: 'x' }, y: { team: 'y' }, z: { team: 'z' } },
        objects: (sandbox) => [
          {
            apiVersion: 'v1',
            kind: 'Node',
            metadata: { name: 'node-a' },
            status: { addresses: [{ type: 'InternalIP', address: sandbox.nodeIP }] },
          },
        ],
        pods: [
          { key: 'x/a', ip: '10.244.0.10', labels: { app: 'web' } },
          { key: 'y/c', ip: '10.244.0.12', labels: { app: 'client' } },
          { key: 'z/s', ip: '10.244.0.13', labels: { app: 'stranger' } },
        ],
      });
      s.startAgent({ backend, resyncInterval: '2s' });
    });

    afterAll(async () => {
      await s?.destroy();
    });

    const e2eTest = (name: string, fn: () => Promise<void>) => testWithAgentLog(name, () => s?.agent, fn, 60);

    const crdState = async () =>
      (await s.running.debug<{ clusterNetworkPolicies: { crd: string } }>('/v1/status'))
        .clusterNetworkPolicies.crd;

    e2eTest('no CRD: the agent starts, enforces NetworkPolicy, and says the CRD is absent', async () => {
      await s.running.waitReady();
      expect(await crdState()).toBe('absent');
      expect(
        s.running
          .logEntries()
          .some((e) => String(e.msg).startsWith('ClusterNetworkPolicy CRD not installed')),
      ).toBe(true);
      await s.step([
        ['y/c', 'x/a', 80, true],
        ['z/s', 'x/a', 80, true],
      ]);
      s.server.create(policy('x/deny', { podSelector: {}, policyTypes: ['Ingress'] }));
      await s.step([
        ['y/c', 'x/a', 80, false],
        ['z/s', 'x/a', 80, false],
      ]);
      s.server.delete({ kind: 'NetworkPolicy', namespace: 'x', name: 'deny' });
    });

    e2eTest(
      'the CRD installed: the same process enforces an Admin deny a NetworkPolicy cannot open',
      async () => {
        const pid = s.running.pid;
        s.server.create(structuredClone(CLUSTER_NETWORK_POLICY_CRD));
        s.server.create(ADMIN_DENY_Y);
        s.server.create(ALLOW_ALL_X);
        await s.step([
          ['y/c', 'x/a', 80, false],
          ['z/s', 'x/a', 80, true],
          ['x/a', 'y/c', 80, true],
        ]);
        expect(await crdState()).toBe('installed');
        expect(s.running.pid).toBe(pid);
        expect(s.running.logEntries().filter((e) => e.msg === 'starting palisade agent')).toHaveLength(1);
        expect(
          s.running.logEntries().some((e) => String(e.msg).startsWith('ClusterNetworkPolicy CRD installed')),
        ).toBe(true);
      },
    );

    e2eTest('the CRD deleted: the Admin deny goes with it, the NetworkPolicy decides again', async () => {
      s.server.delete({
        kind: 'CustomResourceDefinition',
        name: 'clusternetworkpolicies.policy.networking.k8s.io',
      });
      await s.step([
        ['y/c', 'x/a', 80, true],
        ['z/s', 'x/a', 80, true],
      ]);
      expect(await crdState()).toBe('absent');
    });
  });
});
