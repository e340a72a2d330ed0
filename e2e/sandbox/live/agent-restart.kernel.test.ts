/**
 * An agent SIGKILLed in the middle of a burst of label changes, with probes running all along:
 * the supervisor restarts it (its pod's restart count goes up, `sandbox status` says so), the
 * new agent adopts the rules the old one left, no probe the policy denies in every state of the
 * burst gets through at any moment, `sandbox probe` (attach) works while the agent is down, and
 * the final matrix equals `palisade analyze` of the objects read back. Both topologies.
 *
 * The policy admits tier=frontend into app=server. t/a flips between frontend and backend
 * (both outcomes legitimate, so unchecked while it flips); t/b is backend throughout and its
 * other labels change, as do the servers' (still app=server): b -> s1 and b -> s2 must be
 * denied at every probe.
 *
 *   npm run build && NODE_OPTIONS=--experimental-vm-modules npx jest e2e/sandbox/live/agent-restart.kernel
 */
import { readFileSync } from 'node:fs';
import { sandboxStatus } from '../../../agent/cli/commands/sandbox-status';
import { loadScenario } from '../../../compiler/scenario';
import { waitForEnforcement } from '../../conformance/agent-sync';
import { analyzeObjects } from '../../conformance/state-analysis';
import type { ControlResults } from '../control-protocol';
import { enforcement } from '../enforcement';
import { clusterObjects, type K8sObject } from '../k8s-objects';
import { compareMatrices } from '../matrix';
import { planFromScenario, type Topology } from '../plan';
import { findMarkedProcesses } from '../processes';
import { Sandbox } from '../sandbox';
import { describeKernel, endpointScript, leftovers } from '../testutil/kernel';
import { agentPodName, AGENT_NAMESPACE } from './config';
import { KubeRest, type Json } from './kube-rest';

jest.setTimeout(240_000);

const pod = (name: string, node: string, labels: string): string => `---
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: t, labels: {${labels}}}
spec: {nodeName: ${node}, containers: [{name: main, image: x, ports: [{containerPort: 80}]}]}
`;

const SCENARIO =
  `apiVersion: v1
kind: Namespace
metadata: {name: t}
` +
  pod('s1', 'node-1', 'app: server') +
  pod('s2', 'node-2', 'app: server') +
  pod('a', 'node-1', 'tier: frontend') +
  pod('b', 'node-2', 'tier: backend') +
  `---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: servers-from-frontend, namespace: t}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress:
  - from: [{podSelector: {matchLabels: {tier: frontend}}}]
`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The agent process of `node` in sandbox `id`, found by its marker and command line. */
function agentPid(id: string, node: string): number | undefined {
  return findMarkedProcesses(id)
    .map((p) => p.pid)
    .find((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        return (
          argv.includes('agent') && argv[argv.indexOf('--node-name') + 1] === node && !argv.includes('netns')
        );
      } catch {
        return false;
      }
    });
}

describeKernel('an agent killed in a burst of label changes', () => {
  describe.each(['routed', 'bridge'] as Topology[])('%s topology', (topology) => {
    test('comes back, adopts its rules, never lets a denied probe through, and ends equal to analyze', async () => {
      const loaded = loadScenario(SCENARIO, 'restart.yaml');
      if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
      const probes = [{ port: 80, protocol: 'TCP' as const }];
      const { plan } = planFromScenario(loaded.scenario, [], probes);
      const sandbox = await Sandbox.create(plan, {
        topology,
        endpointScript: endpointScript(),
        enforcement: enforcement(clusterObjects(loaded.scenario)),
      });
      const id = sandbox.id;
      const api = KubeRest.fromKubeconfig(sandbox.kubeconfig!);
      try {
        const pods = await sandbox.livePods();
        const byName = (n: string) => pods.find((p) => p.key === `t/${n}`)!;
        const b = byName('b');
        const targets = [byName('s1'), byName('s2')];
        const host = await sandbox.podHost(b.node);

        // b -> s1 and b -> s2, again and again, until told to stop: every answer must be a denial.
        const violations: string[] = [];
        let rounds = 0;
        let probing = true;
        const prober = (async () => {
          while (probing) {
            const r = (await host.send({
              op: 'probe',
              pod: b.uid,
              targets: targets.map((t, i) => ({ id: i, ip: t.ipv4!, port: 80, protocol: 'TCP' })),
              settings: { tcpTimeoutMs: 300, udpTimeoutMs: 300, udpAttempts: 1, concurrency: 2 },
            })) as ControlResults['probe'];
            for (const o of r.outcomes)
              if (o.ok) violations.push(`round ${rounds}: t/b reached ${targets[o.id].key}`);
            rounds++;
          }
        })();

        const patch = (name: string, labels: Record<string, string>): Promise<Json> =>
          api.mergePatch(`/api/v1/namespaces/t/pods/${name}`, { metadata: { labels } });
        const agentPod = (): Promise<Json> =>
          api.get(`/api/v1/namespaces/${AGENT_NAMESPACE}/pods/${agentPodName('node-1')}`);
        const restarts = async (): Promise<number> =>
          (((await agentPod()).status as Json).containerStatuses as Json[])[0].restartCount as number;
        expect(await restarts()).toBe(0);

        const killed = agentPid(id, 'node-1');
        expect(killed).toBeDefined();
        for (let i = 0; i < 60; i++) {
          await Promise.all([
            patch('a', { tier: i % 2 === 0 ? 'backend' : 'frontend' }),
            patch('b', { rev: String(i) }),
            patch(i % 2 === 0 ? 's1' : 's2', { rev: String(i) }),
          ]);
          if (i === 20) {
            process.kill(killed!, 'SIGKILL');
            // `sandbox probe` attaches and probes while the agent is down.
            const attached = await Sandbox.attach(id);
            try {
              const report = await attached.probe(probes);
              expect(report.matrix.pods).toEqual(['t/a', 't/b', 't/s1', 't/s2']);
            } finally {
              attached.detach();
            }
          }
          await sleep(30);
        }

        // The supervisor restarted it: restart count, Ready again, a new process.
        for (
          let i = 0;
          (await restarts()) < 1 ||
          !(((await agentPod()).status as Json).conditions as Json[]).some(
            (c) => c.type === 'Ready' && c.status === 'True',
          );
          i++
        ) {
          if (i > 300) throw new Error('the agent of node-1 did not come back within 30 s');
          await sleep(100);
        }
        expect(agentPid(id, 'node-1')).not.toBe(killed);
        const status = await sandboxStatus(sandbox.store);
        expect(status.agents.find((a) => a.node === 'node-1')).toMatchObject({ ready: true, restarts: 1 });

        const revision = async (path: string): Promise<number> =>
          Number((await api.list(path)).resourceVersion);
        await waitForEnforcement(
          sandbox.agentDebugSockets(),
          {
            pods: await revision('/api/v1/pods'),
            networkpolicies: await revision('/apis/networking.k8s.io/v1/networkpolicies'),
          },
          undefined,
          { timeoutMs: 30_000 },
        );
        probing = false;
        await prober;
        process.stdout.write(
          `agent restart (${topology}): ${rounds} probe rounds of t/b -> servers during the burst and the restart\n`,
        );
        expect(violations).toEqual([]);
        expect(rounds).toBeGreaterThan(10);

        // The final matrix equals analyze of what the API server holds.
        const objects: K8sObject[] = [
          { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 't' } },
          ...(await api.list('/api/v1/namespaces/t/pods')).items.map((p) => {
            const m = p.metadata as { name: string; labels: Record<string, string> };
            return {
              apiVersion: 'v1',
              kind: 'Pod',
              metadata: { name: m.name, namespace: 't', labels: m.labels },
              spec: { nodeName: (p.spec as Json).nodeName, containers: (p.spec as Json).containers },
              status: { phase: 'Running', podIPs: (p.status as Json).podIPs },
            } as K8sObject;
          }),
          ...(await api.list('/apis/networking.k8s.io/v1/namespaces/t/networkpolicies')).items.map(
            (p) =>
              ({
                apiVersion: 'networking.k8s.io/v1',
                kind: 'NetworkPolicy',
                metadata: { name: (p.metadata as Json).name, namespace: 't' },
                spec: p.spec,
              }) as K8sObject,
          ),
        ];
        const report = await sandbox.probe(probes);
        expect(compareMatrices(report.matrix, analyzeObjects(objects, probes, []))).toEqual([]);
      } finally {
        await api.close();
        await sandbox.teardown();
      }
      expect(await leftovers(id)).toEqual({ namespaces: [], links: [], processes: [] });
    });
  });
});
