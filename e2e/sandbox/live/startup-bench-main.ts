/**
 * Pod start-up time in a sandbox: from the API create request to the pod's Ready condition, as
 * a client watching the pod sees it. Builds a two-node sandbox with agents (a default-deny
 * policy in the namespace, so the agents have work for every pod), creates pods one after
 * another (or at --rate pods a second), deletes each once Ready, prints the median, p90, p99
 * and the slowest, and tears the sandbox down. Needs root and `npm run build`.
 *
 *   sudo node_modules/.bin/node dist/e2e/sandbox/live/startup-bench-main.js [--pods 200] [--topology routed|bridge] [--rate 20] [--no-agents]
 */
import { copyFileSync } from 'node:fs';
import { loadScenario } from '../../../compiler/scenario';
import { enforcement } from '../enforcement';
import { clusterObjects } from '../k8s-objects';
import { planFromScenario, type Topology } from '../plan';
import { Sandbox } from '../sandbox';
import { Informer } from './informer';
import { KubeRest } from './kube-rest';
import { isReady } from './pod-status';

const SCENARIO = `apiVersion: v1
kind: Namespace
metadata: {name: bench}
---
apiVersion: v1
kind: Pod
metadata: {name: anchor-1, namespace: bench, labels: {app: anchor}}
spec: {nodeName: node-1, containers: [{name: main, image: x, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: anchor-2, namespace: bench, labels: {app: anchor}}
spec: {nodeName: node-2, containers: [{name: main, image: x, ports: [{containerPort: 80}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: bench}
spec: {podSelector: {}, policyTypes: [Ingress]}
`;

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function main(): Promise<void> {
  const count = Number(option('--pods', '200'));
  const topology = option('--topology', 'routed') as Topology;
  const rate = Number(option('--rate', '0'));
  const loaded = loadScenario(SCENARIO, 'bench.yaml');
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const { plan } = planFromScenario(loaded.scenario, [], [{ port: 80, protocol: 'TCP' }]);
  const agents = !process.argv.includes('--no-agents');
  const sandbox = await Sandbox.create(plan, {
    topology,
    ...(agents ? { enforcement: enforcement(clusterObjects(loaded.scenario)) } : {}),
  });
  const api = KubeRest.fromKubeconfig(sandbox.kubeconfig!);
  const sent = new Map<string, number>();
  const ready = new Map<string, () => void>();
  const took: number[] = [];
  const informer = new Informer(api, '/api/v1/namespaces/bench/pods', (type, pod) => {
    const name = String((pod.metadata as { name: string }).name);
    const start = sent.get(name);
    if (type === 'DELETED' || start === undefined || !isReady(pod) || !ready.has(name)) return;
    took.push(Date.now() - start);
    ready.get(name)!();
    ready.delete(name);
  });
  try {
    informer.start();
    await informer.synced();
    const one = async (i: number): Promise<void> => {
      const name = `p-${i}`;
      const done = new Promise<void>((resolve) => ready.set(name, resolve));
      sent.set(name, Date.now());
      await api.create('/api/v1/namespaces/bench/pods', {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, labels: { app: 'bench' } },
        spec: { containers: [{ name: 'main', image: 'x', ports: [{ containerPort: 80 }] }] },
      });
      await done;
      await api.delete(`/api/v1/namespaces/bench/pods/${name}`);
    };
    const t0 = Date.now();
    if (rate > 0) {
      const all: Promise<void>[] = [];
      for (let i = 0; i < count; i++) {
        const due = t0 + (i * 1000) / rate;
        if (due > Date.now()) await sleep(due - Date.now());
        all.push(one(i));
      }
      await Promise.all(all);
    } else {
      for (let i = 0; i < count; i++) await one(i);
    }
    took.sort((a, b) => a - b);
    process.stdout.write(
      `pod start-up, API create -> Ready (${topology}, ${count} pods, ${rate > 0 ? `${rate}/s` : 'one at a time'}, 2 nodes${agents ? ' with agents' : ', no agents'}): ` +
        `median ${percentile(took, 50)} ms, p90 ${percentile(took, 90)} ms, p99 ${percentile(took, 99)} ms, max ${took[took.length - 1]} ms (${Date.now() - t0} ms in all)\n`,
    );
  } finally {
    informer.stop();
    await api.close();
    if (process.env.PALISADE_KUBELET_TIMINGS === '1')
      copyFileSync(sandbox.store.logPath('simulator'), '/tmp/palisade-simulator.log');
    await sandbox.teardown();
  }
}

main().catch((e: Error) => {
  process.stderr.write(`startup bench failed: ${e.stack ?? e.message}\n`);
  process.exit(1);
});
