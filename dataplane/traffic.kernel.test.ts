/**
 * Real packets through real rules, for both backends, in both pod topologies: routed /32 veths
 * with proxy ARP, and a Linux bridge with br_netfilter. Pods "server", "friend" and "stranger"
 * live in their own namespaces; Palisade programs the node namespace through `ip netns exec`.
 */
import type { CompiledClusterPolicy, CompiledState, PodRules } from '../compiler/ir';
import { type BackendKind, type Dataplane, createDataplane } from './api';
import { ProcessKernel } from './kernel';
import {
  deltaBetween,
  fullDelta,
  pod,
  podsSet,
  policy,
  rule,
  state,
  tcp,
  withMembers,
} from './testutil/fixtures';
import {
  type Server,
  type Topology,
  type TopologyKind,
  buildTopology,
  connect,
  describeKernel,
  startServer,
} from './testutil/netns';

jest.setTimeout(60_000);

const PORT = 8080;
/** How long a connection that must be blocked is given (allowed ones get 3 s: a loaded machine). */
const BLOCKED_MS = 1000;

const CASES: [BackendKind, TopologyKind][] = [
  ['iptables', 'routed'],
  ['iptables', 'bridge'],
  ['nftables', 'routed'],
  ['nftables', 'bridge'],
];

describeKernel('traffic through the rendered rules', () => {
  describe.each(CASES)('%s, %s pods', (backend, kind) => {
    let topo: Topology;
    let dp: Dataplane;
    let current: CompiledState;
    const servers: Server[] = [];

    const pods = (): { server: string[]; friend: string[]; stranger: string[] } => ({
      server: [topo.pods.server.v4, topo.pods.server.v6],
      friend: [topo.pods.friend.v4, topo.pods.friend.v6],
      stranger: [topo.pods.stranger.v4, topo.pods.stranger.v6],
    });

    /** server isolated for ingress (and optionally egress); `friends` may reach it on PORT. */
    const policyState = (opts: {
      friends?: string[];
      egressDeny?: boolean;
      isolated?: boolean;
    }): CompiledState => {
      const ips = pods();
      const isolated = opts.isolated ?? true;
      return state({
        pods: [
          pod('app/server', {
            ips: ips.server,
            ingress: isolated ? ['app/allow-friends'] : [],
            egress: opts.egressDeny ? ['app/no-egress'] : [],
          }),
          pod('app/friend', { ips: ips.friend }),
          pod('app/stranger', { ips: ips.stranger }),
        ],
        policies: [
          policy('app/allow-friends', { ingress: [rule(0, ['pods:friends'], [tcp(PORT)])] }),
          policy('app/no-egress', { egress: [] }),
        ],
        peerSets: [
          podsSet('pods:friends', opts.friends ?? [], {
            namespace: 'app',
            podSelector: { matchLabels: { role: 'friend' } },
          }),
        ],
      });
    };

    const apply = async (next: CompiledState): Promise<void> => {
      await dp.sync(next, deltaBetween(current, next));
      current = next;
    };

    beforeAll(async () => {
      topo = await buildTopology(kind, ['server', 'friend', 'stranger']);
      for (const p of Object.values(topo.pods)) servers.push(await startServer(p.ns, PORT));
      dp = createDataplane({ kernel: new ProcessKernel({ netns: topo.node }), backend });
      current = policyState({ isolated: false });
      await dp.sync(current, fullDelta(current));
    });

    afterAll(async () => {
      for (const s of servers) s.stop();
      if (dp) await dp.cleanup().catch(() => undefined);
      if (dp) await dp.close();
      if (topo) await topo.destroy();
    });

    test('without policy every pod reaches every pod', async () => {
      const { server } = topo.pods;
      expect(await connect(topo.pods.stranger.ns, server.v4, PORT)).toBe('ok');
      expect(await connect(topo.pods.stranger.ns, server.v6, PORT)).toBe('ok');
      expect(await connect(server.ns, topo.pods.friend.v4, PORT)).toBe('ok');
    });

    test('a pod under default deny cannot be reached, by IPv4 or IPv6', async () => {
      await apply(policyState({ friends: [] }));
      const { server } = topo.pods;
      expect(await connect(topo.pods.stranger.ns, server.v4, PORT, BLOCKED_MS)).toBe('timeout');
      expect(await connect(topo.pods.friend.ns, server.v4, PORT, BLOCKED_MS)).toBe('timeout');
      expect(await connect(topo.pods.friend.ns, server.v6, PORT, BLOCKED_MS)).toBe('timeout');
      // Others stay reachable: only the isolated pod is affected.
      expect(await connect(server.ns, topo.pods.stranger.v4, PORT)).toBe('ok');
    });

    test('an allowed peer can reach it; others still cannot', async () => {
      await apply(policyState({ friends: pods().friend }));
      const { server } = topo.pods;
      expect(await connect(topo.pods.friend.ns, server.v4, PORT)).toBe('ok');
      expect(await connect(topo.pods.friend.ns, server.v6, PORT)).toBe('ok');
      expect(await connect(topo.pods.stranger.ns, server.v4, PORT, BLOCKED_MS)).toBe('timeout');
    });

    test('a membership change (a label change) flips it, with set element lines only', async () => {
      const next = withMembers(current, 'pods:friends', pods().stranger);
      const stats = await dp.sync(next, deltaBetween(current, next));
      current = next;
      expect(stats.iptablesLines).toBe(0);
      // iptables: ipset del/add per family; nftables: one transaction of element deletes and adds.
      if (backend === 'nftables') expect(stats).toMatchObject({ transactions: 1, nftLines: 4 });
      const { server } = topo.pods;
      expect(await connect(topo.pods.stranger.ns, server.v4, PORT)).toBe('ok');
      expect(await connect(topo.pods.friend.ns, server.v4, PORT, BLOCKED_MS)).toBe('timeout');
    });

    test('egress deny stops new connections out; replies of accepted ones still pass', async () => {
      await apply(policyState({ friends: pods().friend, egressDeny: true }));
      const { server, friend } = topo.pods;
      expect(await connect(server.ns, friend.v4, PORT, BLOCKED_MS)).toBe('timeout');
      // Traffic to the pod's own node is always allowed (nothing listens on port 1: refused, not dropped).
      expect(await connect(server.ns, topo.nodeV4, 1, BLOCKED_MS)).toBe('error:ECONNREFUSED');
      // friend → server is allowed by ingress; server's answer is an ESTABLISHED reply.
      expect(await connect(friend.ns, server.v4, PORT)).toBe('ok');
      expect(await connect(friend.ns, server.v6, PORT)).toBe('ok');
    });

    test('cluster policy tiers: admin Deny beats an allowing policy, Pass defers to it, baseline decides alone', async () => {
      const ips = pods();
      const tierRule = (index: number, action: 'Accept' | 'Deny' | 'Pass', peers: string[] | 'any') => ({
        index,
        name: '',
        action,
        peers,
        ports: [tcp(PORT)],
      });
      const cnp = (
        name: string,
        tier: 'admin' | 'baseline',
        rules: ReturnType<typeof tierRule>[],
      ): CompiledClusterPolicy => ({ key: name, name, tier, priority: 10, ingress: rules, egress: null });
      const tiered = (opts: { admin?: 'Deny' | 'Pass'; np: boolean; baseline: boolean }): CompiledState => {
        const server: PodRules = pod('app/server', {
          ips: ips.server,
          ingress: opts.np ? ['app/allow-friends'] : [],
          adminIngress: opts.admin ? ['admin-friend'] : [],
          baselineIngress: opts.baseline ? ['baseline-friends-only'] : [],
        });
        return state({
          pods: [server, pod('app/friend', { ips: ips.friend }), pod('app/stranger', { ips: ips.stranger })],
          policies: [policy('app/allow-friends', { ingress: [rule(0, ['pods:friends'], [tcp(PORT)])] })],
          clusterPolicies: [
            cnp('admin-friend', 'admin', [tierRule(0, opts.admin ?? 'Deny', ['pods:friends'])]),
            cnp('baseline-friends-only', 'baseline', [
              tierRule(0, 'Accept', ['pods:friends']),
              tierRule(1, 'Deny', 'any'),
            ]),
          ],
          peerSets: [
            podsSet('pods:friends', ips.friend, {
              namespace: 'app',
              podSelector: { matchLabels: { role: 'friend' } },
            }),
          ],
        });
      };
      const { server, friend, stranger } = topo.pods;
      await apply(tiered({ admin: 'Deny', np: true, baseline: true }));
      expect(await connect(friend.ns, server.v4, PORT, BLOCKED_MS)).toBe('timeout');
      expect(await connect(friend.ns, server.v6, PORT, BLOCKED_MS)).toBe('timeout');
      await apply(tiered({ admin: 'Pass', np: true, baseline: true }));
      expect(await connect(friend.ns, server.v4, PORT)).toBe('ok');
      expect(await connect(stranger.ns, server.v4, PORT, BLOCKED_MS)).toBe('timeout');
      await apply(tiered({ np: false, baseline: true }));
      expect(await connect(friend.ns, server.v6, PORT)).toBe('ok');
      expect(await connect(stranger.ns, server.v4, PORT, BLOCKED_MS)).toBe('timeout');
      // A Pass with no NetworkPolicy and no baseline: the default allows.
      await apply(tiered({ admin: 'Pass', np: false, baseline: false }));
      expect(await connect(friend.ns, server.v4, PORT)).toBe('ok');
      expect(await connect(stranger.ns, server.v4, PORT)).toBe('ok');
    });

    test('a process on the node reaches an isolated pod', async () => {
      expect(await connect(topo.node, topo.pods.server.v4, PORT)).toBe('ok');
    });

    test('cleanup removes the rules and traffic flows again', async () => {
      await dp.cleanup();
      expect(await connect(topo.pods.stranger.ns, topo.pods.server.v4, PORT)).toBe('ok');
      expect(await connect(topo.pods.server.ns, topo.pods.friend.v4, PORT)).toBe('ok');
    });
  });
});
