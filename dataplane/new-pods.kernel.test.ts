/**
 * Fail closed for new pods against the real kernel, on each backend and topology: a pod whose
 * address appears on the node before Palisade has programmed it (the agent has not seen it yet)
 * is probed from before its address exists. In a namespace with a default deny, a stranger never
 * reaches it; the friend that policy allows, and the pod's own egress, are dropped until the sync
 * that programs the pod, then pass; the node reaches it all along (kubelet probes). With verdict
 * logs on, the drops are read back through NFLOG (a tcpdump child, as the agent reads them): the
 * stranger's and the friend's at the fail-closed point of ingress, with the pod as destination,
 * the pod's own at the egress one.
 * Routed pods (Calico's layout; the node's pod ranges 10.99.0.0/24 and fd99:0::/64) and bridged
 * pods (10.99.1.0/24 and fd99:1::/64). The delay from "the agent sees the pod" to the friend's
 * first connection is printed: the figure for the reliability notes.
 */
import { systemClock } from '../agent/daemon/clock';
import { silentLogger } from '../agent/daemon/logger';
import { type CapturedMessage, NflogCapture, spawnCapture } from '../agent/daemon/verdicts/capture';
import { summarize } from '../agent/daemon/verdicts/testutil/fixture';
import { IncrementalCompiler } from '../compiler/incremental';
import type { PodInfo, PolicyInfo } from '../compiler/model';
import { type BackendKind, type Dataplane, createDataplane } from './api';
import { failClosedPoint } from './evaluations';
import { canonicalIP } from './ip';
import { ProcessKernel } from './kernel';
import { ContinuousProber, type ProbeAttempt, waitUntil } from './testutil/continuous-prober';
import {
  buildTopology,
  describeKernel,
  inNs,
  must,
  startServer,
  type Server,
  type Topology,
  type TopologyKind,
} from './testutil/netns';
import { DEFAULT_VERDICT_LOG, formatPrefix } from './verdict-log';

jest.setTimeout(120_000);

const PORT = 8080;
/** How long the new pod's address exists, unprogrammed, while everyone probes it. */
const UNSEEN_MS = 1500;

const pod = (topo: Topology, name: string): PodInfo => ({
  namespace: 'app',
  name,
  labels: { role: name },
  nodeName: 'node-1',
  ips: [topo.pods[name].v4, topo.pods[name].v6],
  hostNetwork: false,
  phase: 'Running',
  namedPorts: [],
});

const policies: PolicyInfo[] = [
  {
    namespace: 'app',
    name: 'default-deny',
    spec: { podSelector: {}, policyTypes: ['Ingress'] },
  },
  {
    namespace: 'app',
    name: 'friend-to-newpod',
    spec: {
      podSelector: { matchLabels: { role: 'newpod' } },
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: { matchLabels: { role: 'friend' } } }], ports: [{ port: PORT }] }],
    },
  },
  {
    namespace: 'app',
    name: 'stranger-open',
    spec: { podSelector: { matchLabels: { role: 'stranger' } }, policyTypes: ['Ingress'], ingress: [{}] },
  },
];

const okEndedBefore = (attempts: ProbeAttempt[], t: number): ProbeAttempt[] =>
  attempts.filter((a) => a.ok && a.end < t);

/** The pods' addressing per topology (dataplane/testutil/netns.ts): prefix lengths and node ranges. */
const ADDRESSING: Record<TopologyKind, { v4: number; v6: number; podCIDRs: string[] }> = {
  routed: { v4: 32, v6: 128, podCIDRs: ['10.99.0.0/24', 'fd99::/64'] },
  bridge: { v4: 24, v6: 64, podCIDRs: ['10.99.1.0/24', 'fd99:1::/64'] },
};

describeKernel('new pods fail closed', () => {
  describe.each<[TopologyKind, BackendKind]>([
    ['routed', 'iptables'],
    ['routed', 'nftables'],
    ['bridge', 'iptables'],
    ['bridge', 'nftables'],
  ])('%s topology, %s backend', (kind, backend) => {
    let topo: Topology;
    const servers: Server[] = [];
    const probers: ContinuousProber[] = [];
    let dp: Dataplane | undefined;
    let capture: NflogCapture | undefined;
    const logged: CapturedMessage[] = [];

    beforeAll(async () => {
      topo = await buildTopology(kind, ['newpod', 'friend', 'stranger']);
      servers.push(await startServer(topo.pods.newpod.ns, PORT));
      servers.push(await startServer(topo.pods.stranger.ns, PORT));
    });

    afterAll(async () => {
      for (const p of probers) p.stop();
      for (const s of servers) s.stop();
      await capture?.stop();
      await dp?.close();
      await topo?.destroy();
    });

    test('unseen, a new pod is reachable only from its node; once programmed, as policy says; its drops are logged', async () => {
      const newpod = topo.pods.newpod;
      const addressing = ADDRESSING[kind];
      // The pod's network exists, its address not yet.
      await must(['ip', '-n', newpod.ns, 'addr', 'del', `${newpod.v4}/${addressing.v4}`, 'dev', 'eth0']);
      await must(['ip', '-n', newpod.ns, 'addr', 'del', `${newpod.v6}/${addressing.v6}`, 'dev', 'eth0']);
      // IPv6 keeps the default route, and the pod would talk from its link-local address: on a
      // bridge the node forwards such packets back out of the bridge (a redirect case), sources
      // outside the pod ranges that fail closed does not see. A CNI configures both at once.
      await must(['ip', '-n', newpod.ns, '-6', 'route', 'flush', 'default']);

      const compiler = new IncrementalCompiler({ nodeName: 'node-1' });
      compiler.upsertNamespace({ name: 'app', labels: {} });
      compiler.upsertNode({
        name: 'node-1',
        labels: {},
        addresses: [topo.nodeV4],
        podCIDRs: addressing.podCIDRs,
      });
      for (const name of ['friend', 'stranger']) compiler.upsertPod(pod(topo, name));
      for (const p of policies) compiler.upsertPolicy(p);
      dp = createDataplane({
        kernel: new ProcessKernel({ netns: topo.node }),
        backend,
        newPods: 'fail-closed',
        verdictLog: DEFAULT_VERDICT_LOG,
      });
      await dp.sync(compiler.state(), compiler.flush());
      capture = new NflogCapture({
        group: DEFAULT_VERDICT_LOG.group,
        clock: systemClock,
        log: silentLogger(),
        sink: (m) => logged.push(m),
        start: (argv) => spawnCapture(inNs(topo.node, [...argv])),
      });
      capture.start();
      await waitUntil(() => capture!.status().state === 'running', 10_000, 'tcpdump listening');

      const targets = [
        { host: newpod.v4, port: PORT },
        { host: newpod.v6, port: PORT },
      ];
      const stranger = await ContinuousProber.start(topo.pods.stranger.ns, targets);
      const friend = await ContinuousProber.start(topo.pods.friend.ns, targets);
      const node = await ContinuousProber.start(topo.node, [{ host: newpod.v4, port: PORT }]);
      const egress = await ContinuousProber.start(newpod.ns, [
        { host: topo.pods.stranger.v4, port: PORT },
        { host: topo.pods.stranger.v6, port: PORT },
      ]);
      probers.push(stranger, friend, node, egress);
      await new Promise((r) => setTimeout(r, 200));

      // The address appears: from now on the pod is on the network, unseen by Palisade.
      const appeared = Date.now();
      await must(['ip', '-n', newpod.ns, 'addr', 'add', `${newpod.v4}/${addressing.v4}`, 'dev', 'eth0']);
      await must([
        'ip',
        '-n',
        newpod.ns,
        'addr',
        'add',
        `${newpod.v6}/${addressing.v6}`,
        'dev',
        'eth0',
        'nodad',
      ]);
      // Deleting a device's last IPv4 address took its IPv4 routes with it, and the IPv6 default
      // route went above: the CNI's routes again.
      const routes: string[][] =
        kind === 'routed'
          ? [
              ['169.254.1.1', 'dev', 'eth0', 'scope', 'link'],
              ['default', 'via', '169.254.1.1', 'dev', 'eth0'],
              ['-6', 'default', 'via', 'fe80::1', 'dev', 'eth0'],
            ]
          : [
              ['default', 'via', topo.nodeV4],
              ['-6', 'default', 'via', 'fd99:1::1'],
            ];
      for (const r of routes) {
        const family = r[0] === '-6' ? ['-6'] : [];
        await must(['ip', '-n', newpod.ns, ...family, 'route', 'replace', ...r.slice(family.length)]);
      }
      await waitUntil(
        () => node.attempts.some((a) => a.ok && a.start >= appeared),
        10_000,
        'node reaches the pod',
      );
      await new Promise((r) => setTimeout(r, UNSEEN_MS));

      // Palisade sees the pod and programs it.
      const seen = Date.now();
      compiler.upsertPod(pod(topo, 'newpod'));
      await dp.sync(compiler.state(), compiler.flush());
      const synced = Date.now();
      const allOk = (p: ContinuousProber, n: number): boolean =>
        [...Array(n).keys()].every((i) => p.of(i).some((a) => a.ok));
      await waitUntil(() => allOk(friend, 2) && allOk(egress, 2), 10_000, 'friend and egress pass');
      await new Promise((r) => setTimeout(r, 300));
      for (const p of [stranger, friend, node, egress]) p.stop();

      // Unseen, the pod was probed (after its address existed) and nothing but its node got through.
      for (const p of [stranger, friend, egress])
        for (const i of [0, 1])
          expect(p.of(i).filter((a) => a.start >= appeared && a.end < seen).length).toBeGreaterThan(5);
      for (const p of [friend, egress])
        for (const i of [0, 1]) expect(okEndedBefore(p.of(i), seen)).toEqual([]);
      // The stranger, denied by policy, never got through at all.
      expect(stranger.attempts.filter((a) => a.ok)).toEqual([]);
      expect(stranger.attempts.filter((a) => a.start >= synced).length).toBeGreaterThan(5);

      // The kernel reported the drops at the fail-closed points: to the pod (the stranger's and the
      // friend's attempts, both families) and from it (its egress), as `palisade watch` would.
      const toPod = formatPrefix(failClosedPoint('ingress'));
      const fromPod = formatPrefix(failClosedPoint('egress'));
      await waitUntil(
        () => logged.some((m) => m.prefix === fromPod && summarize(m).family === 6),
        5_000,
        'the egress drops read back',
      );
      const reports = new Set(
        logged.map(summarize).map((m) => `${m.prefix} ${m.family} ${m.prefix === fromPod ? m.src : m.dst}`),
      );
      for (const [family, address] of [
        [4, canonicalIP(newpod.v4)],
        [6, canonicalIP(newpod.v6)],
      ] as const) {
        expect(reports).toContain(`${toPod} ${family} ${address}`);
        expect(reports).toContain(`${fromPod} ${family} ${address}`);
      }

      const firstOk = (p: ProbeAttempt[]): number => Math.min(...p.filter((a) => a.ok).map((a) => a.end));
      console.log(
        `${kind}, ${backend}: new pod unseen for ${seen - appeared} ms, ${stranger.attempts.length + friend.attempts.length + egress.attempts.length} probes, ` +
          `none through but its node's; programmed by a sync of ${synced - seen} ms; ` +
          `friend reached it ${firstOk(friend.of(0)) - seen} ms (IPv4) / ${firstOk(friend.of(1)) - seen} ms (IPv6), ` +
          `its egress passed ${firstOk(egress.of(0)) - seen} ms after the pod was seen; ${logged.length} drops logged`,
      );
    });
  });
});
