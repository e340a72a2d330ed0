/**
 * Event-to-enforcement latency, as the agent itself measures it (its
 * palisade_event_to_enforcement_seconds histogram): 200 label changes, one at a time, each
 * moving a pod in or out of a peer set, on a node whose cluster also holds 1,000 other pods.
 * Run in both sync modes; prints the median and p99 of the changes' own observations and checks
 * real connectivity along the way. Nothing here asserts on time.
 *
 *   NODE_OPTIONS=--experimental-vm-modules npx jest agent/daemon/agent-latency.kernel.test.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeKernel } from '../../dataplane/testutil/netns';
import { startApiServer, type KubeObject, type TestApiServer } from '../../e2e/apiserver';
import { eventually } from '../kube/testutil/eventually';
import { namespace, pod, policy } from '../kube/testutil/objects';
import {
  AgentProcess,
  bucketsSince,
  histogramBuckets,
  metricValue,
  quantile,
} from './testutil/agent-process';
import { NodeSandbox } from './testutil/node-sandbox';

jest.setTimeout(600_000);

const CHANGES = 200;
const BACKGROUND_PODS = 1000;
const HISTOGRAM = 'palisade_event_to_enforcement_seconds';

describeKernel('event-to-enforcement latency', () => {
  describe.each(['incremental', 'full'] as const)('--sync-mode %s', (syncMode) => {
    let dir: string;
    let sandbox: NodeSandbox;
    let server: TestApiServer;
    let agent: AgentProcess | undefined;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'palisade-latency-'));
      sandbox = await NodeSandbox.create();
      await sandbox.addPod('x/a', '10.244.0.10');
      await sandbox.addPod('y/c', '10.244.0.12');
      const objects: KubeObject[] = [namespace('x'), namespace('y', { team: 'y' })];
      for (let i = 0; i < 10; i++) objects.push(namespace(`bg-${i}`, { team: i % 2 ? 'y' : 'other' }));
      for (let i = 0; i < BACKGROUND_PODS; i++) {
        objects.push(
          pod(`bg-${i % 10}/p-${i}`, {
            labels: { app: i % 3 ? 'client' : 'server', shard: String(i % 7) },
            ip: `10.250.${i >> 8}.${i & 255}`,
            node: `node-${i % 20}`,
          }),
        );
      }
      objects.push(pod('x/a', { labels: { app: 'web' }, ip: '10.244.0.10' }));
      objects.push(pod('y/c', { labels: { app: 'client' }, ip: '10.244.0.12' }));
      objects.push(policy('x/deny', { podSelector: {}, policyTypes: ['Ingress'] }));
      objects.push(
        policy('x/allow-clients', {
          podSelector: { matchLabels: { app: 'web' } },
          ingress: [
            {
              from: [
                {
                  namespaceSelector: { matchLabels: { team: 'y' } },
                  podSelector: { matchLabels: { app: 'client' } },
                },
              ],
              ports: [{ protocol: 'TCP', port: 80 }],
            },
          ],
        }),
      );
      server = await startApiServer({ host: sandbox.hostIP, objects });
      server.writeKubeconfig(join(dir, 'kubeconfig'));
    });

    afterAll(async () => {
      if (agent) await agent.stop('SIGTERM');
      await server?.stop();
      await sandbox?.destroy();
      rmSync(dir, { recursive: true, force: true });
    });

    test(`${CHANGES} label changes, one at a time`, async () => {
      agent = AgentProcess.start({ sandbox, kubeconfig: join(dir, 'kubeconfig'), dir, syncMode });
      await agent.waitReady();
      await agent.waitSettled();
      const client = sandbox.pod('y/c').prober;
      const web = sandbox.pod('x/a').ip;
      expect(await client.probe(web, 80, 3000)).toBe('ok');

      const scrape = await agent.metrics();
      const before = histogramBuckets(scrape, HISTOGRAM);
      const sumBefore = metricValue(scrape, `${HISTOGRAM}_sum`);
      for (let i = 1; i <= CHANGES; i++) {
        const member = i % 2 === 0;
        server.patch({ kind: 'Pod', namespace: 'y', name: 'c' }, 'merge', {
          metadata: { labels: { app: member ? 'client' : 'idle' } },
        });
        // Applied: the agent's model says so and nothing received is pending.
        await eventually(async () => {
          const v = await agent!.debug<{ verdict: { allowed: boolean } }>(
            '/v1/verdict?from=y/c&to=x/a&port=80',
          );
          return v.verdict.allowed === member;
        }, `change ${i} to be compiled`);
        await agent.waitSettled();
        if (i % 50 === 0 || i === 1)
          expect((await client.probe(web, 80, member ? 3000 : 800)) === 'ok').toBe(member);
      }
      const text = await agent.metrics();
      const observed = bucketsSince(histogramBuckets(text, HISTOGRAM), before);
      const count = observed.at(-1)![1];
      expect(count).toBe(CHANGES);
      const ms = (q: number) => (quantile(observed, q) * 1000).toFixed(1);
      const meanMs = (((metricValue(text, `${HISTOGRAM}_sum`) - sumBefore) / count) * 1000).toFixed(1);
      console.log(
        `[${syncMode}] event-to-enforcement over ${count} label changes: median ${ms(0.5)} ms, p90 ${ms(0.9)} ms, ` +
          `p99 ${ms(0.99)} ms (interpolated in the histogram buckets), mean ${meanMs} ms (exact)`,
      );
      expect(await agent.debug('/v1/drift')).toEqual({ differences: [] });
    });
  });
});
