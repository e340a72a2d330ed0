/**
 * A new pod fails closed, in the live sandbox with agents, in both topologies: a pod created through the API in a
 * namespace with a default deny is probed from the instant its kubelet takes its address (the
 * pod record, before the pod is reachable, long before any agent can know of it), continuously,
 * by a stranger that policy denies and by a friend that policy admits, both on the other node
 * (node-1 exists because a pod of the scenario, guarded/anchor, lives there).
 * No packet of the stranger reaches the pod (no echo, no refusal from its stack); the friend gets
 * through once the pod's agent has programmed it. (With --new-pods fail-open this fails: the
 * stranger's SYNs reach the pod before its agent has programmed it.) The
 * delays from "wired" (reachable) and from the pod's Running status to the friend's first
 * connection are printed: the figures for the reliability notes.
 *
 *   npm run build && NODE_OPTIONS=--experimental-vm-modules npx jest e2e/sandbox/live/new-pods.kernel
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Topology } from '../plan';
import { describeKernel } from '../testutil/kernel';
import type { PodRecord } from './config';
import type { Json } from './kube-rest';
import { withLiveSandbox } from './testutil/live-sandbox';

jest.setTimeout(240_000);

const SCENARIO = `apiVersion: v1
kind: Namespace
metadata: {name: guarded}
---
apiVersion: v1
kind: Namespace
metadata: {name: outside}
---
apiVersion: v1
kind: Pod
metadata: {name: friend, namespace: outside, labels: {app: friend}}
spec: {nodeName: node-2, containers: [{name: main, image: x, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: stranger, namespace: outside, labels: {app: stranger}}
spec: {nodeName: node-2, containers: [{name: main, image: x, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: anchor, namespace: guarded, labels: {app: anchor}}
spec: {nodeName: node-1, containers: [{name: main, image: x, ports: [{containerPort: 80}]}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: guarded}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: friends-in, namespace: guarded}
spec:
  podSelector: {matchLabels: {app: new}}
  ingress:
  - from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: friend}}}]
`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Attempt {
  readonly ok: boolean;
  /** echoed, timeout, or the socket error (ECONNREFUSED: the pod's stack answered, so the SYN got in). */
  readonly detail: string;
  readonly start: number;
  readonly end: number;
}

describeKernel('a new pod fails closed in the live sandbox', () => {
  describe.each(['routed', 'bridge'] as Topology[])('%s topology', (topology) => {
    test('probed from the instant its address is taken: the stranger never gets through, the friend once programmed', async () => {
      await withLiveSandbox(SCENARIO, 'new-pods.yaml', topology, async ({ sandbox, api, probe }) => {
        const created = await api.create('/api/v1/namespaces/guarded/pods', {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'newpod', namespace: 'guarded', labels: { app: 'new' } },
          spec: {
            nodeName: 'node-1',
            containers: [{ name: 'main', image: 'x', ports: [{ containerPort: 80 }] }],
          },
        });
        const uid = (created.metadata as Json).uid as string;
        const recordFile = join(sandbox.store.dir, 'pods', `${uid}.json`);
        const record = (): PodRecord | undefined =>
          existsSync(recordFile) ? (JSON.parse(readFileSync(recordFile, 'utf8')) as PodRecord) : undefined;
        for (let i = 0; !record(); i++) {
          if (i > 6000) throw new Error('the kubelet never announced the pod');
          await sleep(5);
        }
        const ip = record()!.ips.find((a) => !a.includes(':'))!;

        // From now on, both probe the address back to back until told to stop.
        let probing = true;
        const loop = async (src: string, out: Attempt[]): Promise<void> => {
          while (probing) {
            const start = Date.now();
            const r = await probe(`outside/${src}`, ip, 300);
            out.push({ ...r, start, end: Date.now() });
          }
        };
        const stranger: Attempt[] = [];
        const friend: Attempt[] = [];
        const loops = [loop('stranger', stranger), loop('friend', friend)];

        let wired: number | undefined;
        let running: number | undefined;
        for (let i = 0; !friend.some((a) => a.ok); i++) {
          if (i > 1200) throw new Error('the friend never reached the new pod within 60 s');
          const r = record();
          if (wired === undefined && r?.stage === 'wired') wired = r.at;
          if (running === undefined) {
            const p = await api.get('/api/v1/namespaces/guarded/pods/newpod');
            if ((p.status as Json | undefined)?.phase === 'Running') running = Date.now();
          }
          await sleep(50);
        }
        await sleep(1000);
        probing = false;
        await Promise.all(loops);

        // Not one of the stranger's packets reached the pod: no echo, and no refusal or reset from
        // its stack either (before its port serves, a delivered SYN is refused). Its node may say
        // the address is unreachable before the pod's route exists.
        const reachedPod = stranger.filter(
          (a) => !['timeout', 'EHOSTUNREACH', 'ENETUNREACH'].includes(a.detail),
        );
        expect(reachedPod).toEqual([]);
        expect(stranger.length).toBeGreaterThan(5);
        expect(wired).toBeDefined();
        // The friend's probes that ended before the pod was reachable say nothing; some ran after.
        expect(friend.filter((a) => a.start >= wired!).length).toBeGreaterThan(0);
        const firstOk = Math.min(...friend.filter((a) => a.ok).map((a) => a.end));
        process.stdout.write(
          `new pod (${topology}): ${stranger.length + friend.length} probes from the instant its address was taken, ` +
            `the stranger never through; the friend first through ${firstOk - wired!} ms after the pod was reachable` +
            `${running !== undefined ? `, ${firstOk - running} ms after its status said Running (seen at a 50 ms poll)` : ''}\n`,
        );
      });
    });
  });
});
