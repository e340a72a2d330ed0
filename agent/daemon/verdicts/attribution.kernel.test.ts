/**
 * The kernel says who dropped a packet, on both backends: the agent (in this process) programs a
 * node network namespace with its log points, its tcpdump child reads the node's NFLOG group, and
 * real connections between pods in namespaces of their own are denied by a NetworkPolicy (the
 * NetworkPolicy tier's drop: the isolating policies) and by a named Admin ClusterNetworkPolicy
 * rule. The events the agent's /v1/verdicts serves name the policy and rule that `explain` names
 * (the agent's /v1/verdict), the pods at both ends and the port; an allowed connection logs
 * nothing with --verdict-log denied. Under a flood, the agent counts as lost to the rate limit
 * exactly what the kernel's counters say the bucket refused.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Verdict } from '../../../compiler';
import { createDataplane, ProcessKernel, type BackendKind, type Dataplane } from '../../../dataplane/api';
import { describeKernel, inNs, must } from '../../../dataplane/testutil/netns';
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

const RATE = 20;
const BURST = 50;
const FLOOD = 400;

/** Opens FLOOD connections at once to x/a:81, each given up after 300 ms (one SYN each). */
const FLOOD_SCRIPT = `
const net = require('node:net');
let left = ${FLOOD};
for (let i = 0; i < ${FLOOD}; i++) {
  const s = net.connect({ host: '10.244.0.10', port: 81 });
  const done = () => { s.destroy(); if (--left === 0) process.exit(0); };
  s.setTimeout(300, done);
  s.on('error', done);
  s.on('connect', done);
}
`;

/** The node's log counters: packets that reached a log point, and those the bucket let through. */
async function logCounters(backend: BackendKind, node: string): Promise<{ seen: number; logged: number }> {
  if (backend === 'iptables') {
    const text = await must(inNs(node, ['iptables', '-L', 'PALISADE-LOG-LIMIT', '-v', '-x', '-n']));
    const packets = (what: string) =>
      Number(/^\s*(\d+)/.exec(text.split('\n').find((l) => l.includes(what))!)![1]);
    return { seen: packets('a log point reached'), logged: packets('within the rate limit') };
  }
  const text = await must(inNs(node, ['nft', 'list', 'counters']));
  const packets = (name: string) =>
    Number(new RegExp(`counter ${name} \\{\\s*packets (\\d+)`).exec(text)![1]);
  return { seen: packets('palisade-log-seen'), logged: packets('palisade-log-logged') };
}

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
        // A small bucket, so the flood test overruns it with a few hundred packets.
        verdictLogRate: String(RATE),
        verdictLogBurst: String(BURST),
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
        logCounterPeriodMs: 100,
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

    test("a flood of denied connections is logged at most at the node's rate and burst; the rest is counted lost", async () => {
      // A fresh neighbour entry in the pod, so no SYN waits for address resolution.
      await probe('z/s', 'x/a', 80, 'timeout');
      const before = await logCounters(backend, sandbox.node);
      const t0 = Date.now();
      await must(inNs(sandbox.pod('z/s').ns, [process.execPath, '-e', FLOOD_SCRIPT]));
      const seconds = (Date.now() - t0) / 1000;
      const after = await logCounters(backend, sandbox.node);
      const seen = after.seen - before.seen;
      const logged = after.logged - before.logged;
      // Every SYN reached the log point; the bucket let through its burst and then its rate.
      expect(seen).toBeGreaterThanOrEqual(FLOOD);
      expect(logged).toBeGreaterThan(0);
      expect(logged).toBeLessThanOrEqual(BURST + Math.ceil(RATE * (seconds + 1)));
      // Every packet the kernel logged became an event naming the policy.
      await eventually(
        async () => (await verdicts()).filter(about('z/s', 'x/a', 81)).length === logged,
        `${logged} events for the flood`,
        20_000,
      );
      for (const e of (await verdicts()).filter(about('z/s', 'x/a', 81)))
        expect(e).toMatchObject({ verdict: 'denied', cause: 'isolation', policies: ['x/only-y'] });
      // The agent created the counters (a fresh node) and read them before any packet reached a
      // log point: what it counts lost to the rate limit is every attempt that reached a log point
      // minus every one logged, by the kernel's own counters, the flood's share included.
      let kernel = after;
      let lost = -1;
      await eventually(
        async () => {
          kernel = await logCounters(backend, sandbox.node);
          lost = (await status()).verdictLog.lost.rate_limit;
          return lost === kernel.seen - kernel.logged;
        },
        'the agent to count what the kernel refused',
        10_000,
      );
      expect(lost).toBe(kernel.seen - kernel.logged);
      expect(lost).toBeGreaterThanOrEqual(seen - logged);
      expect(seen - logged).toBeGreaterThan(0);
    });
  });
});
