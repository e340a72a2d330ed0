/**
 * The agent's memory with 10,000 pods loaded through the test API server: with no pods (the
 * baseline), with small pods, and with pods carrying ~16 KB each of annotations and container
 * specs, which the agent must not keep (it caches only slim projections). Prints VmRSS (from
 * /proc/PID/status) and the V8 heap in use (from the agent's /metrics) for each.
 *
 *   NODE_OPTIONS=--experimental-vm-modules npx jest agent/daemon/agent-scale.kernel.test.ts
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeKernel } from '../../dataplane/testutil/netns';
import { startApiServer, type KubeObject, type TestApiServer } from '../../e2e/apiserver';
import { delay } from '../kube/testutil/eventually';
import { namespace, pod, policy } from '../kube/testutil/objects';
import { AgentProcess, metricValue } from './testutil/agent-process';
import { NodeSandbox } from './testutil/node-sandbox';

jest.setTimeout(600_000);

const PODS = 10_000;
const NAMESPACES = 100;
const LOCAL_PODS = 40;

function cluster(pods: number, fat: boolean): KubeObject[] {
  const objects: KubeObject[] = [];
  for (let n = 0; n < NAMESPACES; n++)
    objects.push(namespace(`ns-${n}`, { team: `t${n % 10}`, env: n % 2 ? 'prod' : 'dev' }));
  const filler = 'x'.repeat(8 * 1024);
  for (let i = 0; i < pods; i++) {
    const p = pod(`ns-${i % NAMESPACES}/pod-${i}`, {
      labels: {
        app: `app-${i % 25}`,
        tier: i % 3 ? 'backend' : 'frontend',
        'pod-template-hash': `h${i % 1000}`,
      },
      ip: `10.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
      node: i < LOCAL_PODS ? 'node-a' : `node-${i % 50}`,
      ports: [{ name: 'http', containerPort: 8080 }],
      ...(fat
        ? {
            annotations: {
              'kubectl.kubernetes.io/last-applied-configuration': filler,
              note: filler.slice(0, 4096),
            },
          }
        : {}),
    });
    if (fat) {
      (p.spec as { containers: unknown[] }).containers.push({
        name: 'sidecar',
        image: 'registry.example/sidecar:1',
        env: Array.from({ length: 20 }, (_, k) => ({ name: `VAR_${k}`, value: 'v'.repeat(150) })),
      });
    }
    objects.push(p);
  }
  for (let n = 0; n < 10; n++) {
    objects.push(policy(`ns-${n}/deny`, { podSelector: {}, policyTypes: ['Ingress'] }));
    objects.push(
      policy(`ns-${n}/allow`, {
        podSelector: { matchLabels: { tier: 'backend' } },
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchLabels: { env: 'prod' } },
                podSelector: { matchLabels: { tier: 'frontend' } },
              },
            ],
            ports: [{ port: 'http' }],
          },
        ],
      }),
    );
  }
  return objects;
}

function vmRSSKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

describeKernel(`agent memory with ${PODS} pods`, () => {
  const results: Record<string, { rssMiB: number; heapMiB: number }> = {};

  afterAll(() => {
    console.log(
      `agent memory with ${PODS} pods: ${Object.entries(results)
        .map(([k, r]) => `${k}: VmRSS ${r.rssMiB.toFixed(1)} MiB, V8 heap used ${r.heapMiB.toFixed(1)} MiB`)
        .join('; ')}`,
    );
  });

  test.each([
    ['no pods (baseline)', 0, false],
    ['slim pods', PODS, false],
    ['fat pods (~16 KB each)', PODS, true],
  ] as const)('%s', async (label, pods, fat) => {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-scale-'));
    const sandbox = await NodeSandbox.create();
    let server: TestApiServer | undefined;
    let agent: AgentProcess | undefined;
    try {
      server = await startApiServer({ host: sandbox.hostIP, objects: cluster(pods, fat), historyLimit: 100 });
      server.writeKubeconfig(join(dir, 'kubeconfig'));
      agent = AgentProcess.start({ sandbox, kubeconfig: join(dir, 'kubeconfig'), dir });
      await agent.waitReady(300_000);
      const status = await agent.waitSettled(300_000);
      expect(status.watches.find((w) => w.resource === 'pods')?.objects).toBe(pods);
      // Let the list garbage be collected (the agent is idle now; V8 collects on its own).
      await delay(5000);
      const text = await agent.metrics();
      results[label] = {
        rssMiB: vmRSSKiB(agent.pid) / 1024,
        heapMiB: metricValue(text, 'nodejs_heap_size_used_bytes') / 1024 / 1024,
      };
      expect(metricValue(text, 'palisade_cached_objects', { resource: 'pods' })).toBe(pods);
      if (pods > 0) expect(metricValue(text, 'palisade_ipset_members')).toBeGreaterThan(0);
    } finally {
      if (agent) await agent.stop('SIGTERM');
      await server?.stop();
      await sandbox.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('fat pods cost no more retained heap than slim ones', () => {
    const slim = results['slim pods'];
    const fat = results['fat pods (~16 KB each)'];
    expect(slim && fat).toBeTruthy();
    // ~160 MB of annotations and specs went through the agent; what it retains must not grow
    // with them: a kept copy would add 160 MiB of heap. The margin absorbs GC timing.
    expect(fat.heapMiB).toBeLessThan(slim.heapMiB + 80);
  });
});
