/**
 * Open connections that a policy change denies are cut, with real connections in both pod
 * topologies: a TCP connection and a UDP flow from "friend" to "server" stop when a policy
 * starts to deny them, while "stranger"'s connection, which the policy allows, goes on. Without
 * the cut (--keep-established) the denied TCP connection keeps flowing: the reason this exists.
 */
import { IncrementalCompiler } from '../../compiler/incremental';
import type { ClusterSnapshot, PodInfo, PolicyInfo } from '../../compiler/model';
import { BACKENDS, createDataplane, type BackendKind, type Dataplane } from '../../dataplane/api';
import { ConntrackTable } from '../../dataplane/conntrack';
import { ProcessKernel } from '../../dataplane/kernel';
import {
  buildTopology,
  describeKernel,
  type Topology,
  type TopologyKind,
} from '../../dataplane/testutil/netns';
import { OpenFlow, startEchoServer, type EchoServer } from '../../dataplane/testutil/open-flows';
import { FlowCutter } from './flow-cutter';

jest.setTimeout(120_000);

const DENIED_TCP = 7001;
const ALLOWED_TCP = 7002;
const DENIED_UDP = 7003;
/** A ping must come back within this on a working connection (a loaded machine). */
const ALIVE_MS = 3000;
/** A ping on a cut connection is given this long to (not) come back. */
const DEAD_MS = 1500;

const CASES: [BackendKind, TopologyKind][] = BACKENDS.flatMap((b) =>
  (['routed', 'bridge'] as const).map((t): [BackendKind, TopologyKind] => [b, t]),
);

describeKernel('open connections that a policy change denies', () => {
  describe.each(CASES)('%s backend, %s pods', (backend, kind) => {
    let topo: Topology;
    let server: EchoServer;

    beforeAll(async () => {
      topo = await buildTopology(kind, ['server', 'friend', 'stranger']);
      server = await startEchoServer(topo.pods.server.ns, [DENIED_TCP, ALLOWED_TCP], [DENIED_UDP]);
    });

    afterAll(async () => {
      server?.stop();
      await topo?.destroy();
    });

    const pod = (name: string): PodInfo => ({
      namespace: 'app',
      name,
      labels: { role: name },
      nodeName: 'node-1',
      ips: [topo.pods[name].v4, topo.pods[name].v6],
      hostNetwork: false,
      phase: 'Running',
      namedPorts: [],
    });

    const onlyStranger: PolicyInfo = {
      namespace: 'app',
      name: 'only-stranger',
      spec: {
        podSelector: { matchLabels: { role: 'server' } },
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [{ podSelector: { matchLabels: { role: 'stranger' } } }],
            ports: [{ protocol: 'TCP', port: ALLOWED_TCP }],
          },
        ],
      },
    };

    /** A node with no policy yet, its compiler and dataplane synced. */
    async function node(): Promise<{ compiler: IncrementalCompiler; dp: Dataplane }> {
      const cluster: ClusterSnapshot = {
        namespaces: [{ name: 'app', labels: {} }],
        pods: ['server', 'friend', 'stranger'].map(pod),
        policies: [],
      };
      const compiler = new IncrementalCompiler({ nodeName: 'node-1' });
      for (const ns of cluster.namespaces) compiler.upsertNamespace(ns);
      for (const p of cluster.pods) compiler.upsertPod(p);
      compiler.upsertNode({ name: 'node-1', labels: {}, addresses: [topo.nodeV4], podCIDRs: [] });
      const dp = createDataplane({ kernel: new ProcessKernel({ netns: topo.node }), backend });
      await dp.sync(compiler.state(), compiler.flush());
      return { compiler, dp };
    }

    async function openFlows(): Promise<{ tcp: OpenFlow; udp: OpenFlow; allowed: OpenFlow }> {
      const host = topo.pods.server.v4;
      const flows = {
        tcp: await OpenFlow.open(topo.pods.friend.ns, 'tcp', host, DENIED_TCP),
        udp: await OpenFlow.open(topo.pods.friend.ns, 'udp', host, DENIED_UDP),
        allowed: await OpenFlow.open(topo.pods.stranger.ns, 'tcp', host, ALLOWED_TCP),
      };
      for (const f of Object.values(flows)) expect(await f.ping(ALIVE_MS)).toBe(true);
      return flows;
    }

    test('the denied TCP connection and UDP flow stop; the allowed connection goes on', async () => {
      const { compiler, dp } = await node();
      const flows = await openFlows();
      try {
        const cutter = new FlowCutter(
          new ConntrackTable(new ProcessKernel({ netns: topo.node })),
          () => compiler,
          () => new Set([topo.nodeV4]),
        );
        const start = performance.now();
        compiler.upsertPolicy(onlyStranger);
        const delta = compiler.flush();
        await dp.sync(compiler.state(), delta);
        const synced = performance.now();
        const report = await cutter.cut(compiler.state(), delta, false);
        const cutMs = performance.now() - start;
        const ownMs = performance.now() - synced;
        expect([...report.cut].sort()).toEqual(
          [
            `tcp ${topo.pods.friend.v4} ${topo.pods.server.v4} ${DENIED_TCP}`,
            `udp ${topo.pods.friend.v4} ${topo.pods.server.v4} ${DENIED_UDP}`,
          ].sort(),
        );
        expect(report.entries).toBeGreaterThanOrEqual(2);
        expect(await flows.tcp.ping(DEAD_MS)).toBe(false);
        expect(await flows.udp.ping(DEAD_MS)).toBe(false);
        expect(await flows.allowed.ping(ALIVE_MS)).toBe(true);
        // The figure for the reliability notes: policy change in, connections cut.
        console.log(
          `${backend}, ${kind}: policy applied and denied connections cut ${cutMs.toFixed(1)} ms after the change (the cut itself: ${ownMs.toFixed(1)} ms, ${report.addresses} addresses, ${report.checked} connections judged)`,
        );
      } finally {
        for (const f of Object.values(flows)) f.close();
        compiler.deletePolicy('app/only-stranger');
        await dp.sync(compiler.state(), compiler.flush());
        await dp.close();
      }
    });

    test('without the cut (--keep-established) the denied TCP connection keeps flowing', async () => {
      const { compiler, dp } = await node();
      const flows = await openFlows();
      try {
        compiler.upsertPolicy(onlyStranger);
        await dp.sync(compiler.state(), compiler.flush());
        expect(await flows.tcp.ping(ALIVE_MS)).toBe(true);
        expect(await flows.udp.ping(ALIVE_MS)).toBe(true);
      } finally {
        for (const f of Object.values(flows)) f.close();
        compiler.deletePolicy('app/only-stranger');
        await dp.sync(compiler.state(), compiler.flush());
        await dp.close();
      }
    });
  });
});
