/**
 * The kernel says who dropped a packet, on both backends: the agent (in this process) programs a
 * node network namespace with its log points, its tcpdump child reads the node's NFLOG group, and
 * real connections between pods in namespaces of their own are denied by a NetworkPolicy (the
 * NetworkPolicy tier's drop: the isolating policies) and by a named Admin ClusterNetworkPolicy
 * rule. The events the agent's /v1/verdicts serves name the policy and rule that `explain` names
 * (the agent's /v1/verdict), the pods at both ends and the port; an allowed connection logs
 * nothing with --verdict-log denied.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Verdict } from '../../../compiler';
import { createDataplane, ProcessKernel, type BackendKind, type Dataplane } from '../../../dataplane/api';
import { describeKernel, inNs } from '../../../dataplane/testutil/netns';
import {
  CLUSTER_NETWORK_POLICY_CRD,
  startApiServer,
  type KubeObject,
  type TestApiServer,
} from '../../../e2e/apiserver';
import { eventually } from '../../kube/testutil/eventually';
import { namespace, pod, policy } from '../../kube/testutil/objects';
import { Agent } from '../agent';
import { parseConfig, verdictLogOptions } from '../config';
import { silentLogger } from '../logger';
import { get } from '../testutil/http-client';
import { NodeSandbox } from '../testutil/node-sandbox';
import { spawnCapture } from './capture';
import type { VerdictEvent } from './event';

jest.setTimeout(120_000);

const PODS = [
  { key: 'x/a', ip: '10.244.0.10', labels: { app: 'web' } },
  { key: 'y/c', ip: '10.244.0.12', labels: { app: 'client' } },
  { key: 'z/s', ip: '10.244.0.13', labels: { app: 'stranger' } },
];

/** x/a admits ingress from namespace y only: z/s is denied at the NetworkPolicy tier's drop. */
const ONLY_Y = policy('x/only-y', {
  podSelector: {},
  policyTypes: ['Ingress'],
  ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'y' } } }] }],
});

/** y -> x on port 81 is denied by the Admin tier's second rule, whatever x's policies say. */
const ADMIN: KubeObject = {
  apiVersion: 'policy.networking.k8s.io/v1alpha2',
  kind: 'ClusterNetworkPolicy',
  metadata: { name: 'guard-x' },
  spec: {
    tier: 'Admin',
    priority: 10,
    subject: { namespaces: { matchLabels: { team: 'x' } } },
    ingress: [
      {
        name: 'ops-in',
        action: 'Accept',
        from: [{ namespaces: { matchLabels: { team: 'ops' } } }],
      },
      {
        name: 'no-y-81',
        action: 'Deny',
        from: [{ namespaces: { matchLabels: { team: 'y' } } }],
        protocols: [{ tcp: { destinationPort: { number: 81 } } }],
      },
    ],
  },
};

type Line = { type: string } & Partial<VerdictEvent>;

describeKernel('verdict logs: the kernel names the deciding policy and rule', () => {
  describe.each(['iptables', 'nftables'] as const)('%s', (backend: BackendKind) => {
    let dir: string;
    let sandbox: NodeSandbox;
    let server: TestApiServer;
    let agent: Agent;
    let injected: Dataplane | undefined;
    const sock = (): string => join(dir, 'palisade.sock');

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'palisade-attribution-'));
      sandbox = await NodeSandbox.create();
      const objects: KubeObject[] = [
        structuredClone(CLUSTER_NETWORK_POLICY_CRD),
        namespace('x', { team: 'x' }),
        namespace('y', { team: 'y' }),
        namespace('z', { team: 'z' }),
        ONLY_Y,
        ADMIN,
      ];
      for (const p of PODS) {
        await sandbox.addPod(p.key, p.ip);
        objects.push(pod(p.key, { labels: p.labels, ip: p.ip, node: 'node-a' }));
      }
      server = await startApiServer({ objects });
      server.writeKubeconfig(join(dir, 'kubeconfig'));
      const { config, problems } = parseConfig({
        nodeName: 'node-a',
        kubeconfig: join(dir, 'kubeconfig'),
        metricsAddress: '',
        debugSocket: sock(),
        resyncInterval: '1m',
        verdictLog: 'denied',
      });
      expect(problems).toEqual([]);
      const kernel = new ProcessKernel({ netns: sandbox.node });
      // The agent builds its iptables dataplane itself; nftables is handed in with the same options.
      if (backend === 'nftables')
        injected = createDataplane({
          kernel,
          backend: 'nftables',
          families: [4, 6],
          verdictLog: verdictLogOptions(config),
        });
      agent = new Agent(config, {
        kernel,
        log: silentLogger(),
        ...(injected ? { dataplane: injected } : {}),
        captureStarter: (argv) => spawnCapture(inNs(sandbox.node, argv)),
      });
      await agent.start();
      await agent.whenReady();
      await eventually(
        async () => (await status()).verdictLog.capture.state === 'running',
        'tcpdump to listen on the node',
        15_000,
      );
    });

    afterAll(async () => {
      await agent?.stop('test over');
      await injected?.close();
      await server?.stop();
      await sandbox?.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    async function status(): Promise<{
      verdictLog: { capture: { state: string }; lost: Record<string, number> };
    }> {
      return (await get({ socketPath: sock() }, '/v1/status')).json();
    }

    async function explain(from: string, to: string, port: number): Promise<Verdict> {
      const r = await get(
        { socketPath: sock() },
        `/v1/verdict?from=${from}&to=${to}&port=${port}&protocol=TCP`,
      );
      return r.json<{ verdict: Verdict }>().verdict;
    }

    async function verdicts(): Promise<Partial<VerdictEvent>[]> {
      const r = await get({ socketPath: sock() }, '/v1/verdicts?follow=0');
      expect(r.status).toBe(200);
      const lines = r.body
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Line);
      return lines.filter((l) => l.type === 'verdict');
    }

    async function probe(from: string, to: string, port: number, want: 'ok' | 'timeout'): Promise<void> {
      const got = await sandbox.pod(from).prober.probe(sandbox.pod(to).ip, port, want === 'ok' ? 3000 : 800);
      expect(`${from} -> ${to}:${port} ${got}`).toBe(`${from} -> ${to}:${port} ${want}`);
    }

    const about = (from: string, to: string, port: number) => (e: Partial<VerdictEvent>) =>
      e.src?.pod === from && e.dst?.pod === to && e.dstPort === port;

    test('a NetworkPolicy drop names the isolating policy, the pods and the port', async () => {
      await probe('z/s', 'x/a', 80, 'timeout');
      const v = await explain('z/s', 'x/a', 80);
      expect(v.allowed).toBe(false);
      expect(v.ingress.decidedBy).toBe('networkpolicy');
      let event: Partial<VerdictEvent> | undefined;
      await eventually(
        async () => (event = (await verdicts()).find(about('z/s', 'x/a', 80))) !== undefined,
        'the drop to be reported',
        10_000,
      );
      expect(event).toMatchObject({
        node: 'node-a',
        verdict: 'denied',
        direction: 'ingress',
        tier: 'networkpolicy',
        cause: 'isolation',
        policies: ['x/only-y'],
        subject: 'x/a',
        src: { ip: '10.244.0.13', pod: 'z/s' },
        dst: { ip: '10.244.0.10', pod: 'x/a' },
        protocol: 'TCP',
        known: true,
      });
    });

    test('an Admin ClusterNetworkPolicy drop names the policy and the rule explain names', async () => {
      await probe('y/c', 'x/a', 80, 'ok');
      await probe('y/c', 'x/a', 81, 'timeout');
      const v = await explain('y/c', 'x/a', 81);
      expect(v.allowed).toBe(false);
      expect(v.ingress.decidedBy).toBe('admin');
      let event: Partial<VerdictEvent> | undefined;
      await eventually(
        async () => (event = (await verdicts()).find(about('y/c', 'x/a', 81))) !== undefined,
        'the drop to be reported',
        10_000,
      );
      expect(event).toMatchObject({
        verdict: 'denied',
        direction: 'ingress',
        tier: 'admin',
        cause: 'rule',
        policy: { kind: 'ClusterNetworkPolicy', key: 'guard-x' },
        rule: { index: 1, name: 'no-y-81' },
        subject: 'x/a',
        src: { pod: 'y/c' },
        dst: { pod: 'x/a' },
        known: true,
      });
      expect(v.ingress.clusterRule).toMatchObject({ policy: 'guard-x', rule: 1, ruleName: 'no-y-81' });
      // The allowed connection logged nothing (--verdict-log denied), and nothing was lost.
      expect((await verdicts()).filter(about('y/c', 'x/a', 80))).toEqual([]);
      expect((await status()).verdictLog.lost).toEqual({ rate_limit: 0, queue_overflow: 0, slow_reader: 0 });
    });
  });
});
