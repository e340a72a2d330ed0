import {
  nodeRouteCleanupLines,
  nodeRouteLines,
  podSideCleanupLines,
  podSideLines,
  slotNodeLines,
  slotNodeSysctls,
  slotPodLines,
  slotSysctls,
} from './live/pod-network';
import {
  isSandboxNamespace,
  livePodNetns,
  livePodSlotHostIf,
  livePodSlotNetns,
  sandboxIdOfNamespace,
  sandboxNames,
} from './names';
import type { SandboxPlan, Topology } from './plan';
import { smallPlan } from './testutil/plans';
import { topologyStages, type BuildOp } from './topology';

function build(plan: SandboxPlan, topology: Topology) {
  const names = sandboxNames('ab12', plan);
  const stages = topologyStages(plan, names, topology);
  const ops = stages.flatMap((s) => s.ops);
  const lines = (ns: string): string[] =>
    ops.flatMap((op) => (op.kind === 'ip' && op.ns === ns ? op.lines : []));
  const sysctls = (ns: string): string[] =>
    ops.flatMap((op) =>
      op.kind === 'sysctl' && op.ns === ns ? op.settings.map(([k, v]) => `${k}=${v}`) : [],
    );
  return { names, stages, ops, lines, sysctls };
}

describe('names', () => {
  test('every namespace carries the sandbox prefix; link names fit in 15 characters', () => {
    const plan = smallPlan({ dualStack: true });
    const { names, ops } = build(plan, 'routed');
    const namespaces = ops
      .filter((op): op is Extract<BuildOp, { kind: 'netns' }> => op.kind === 'netns')
      .map((op) => op.ns);
    expect(namespaces).toEqual([
      'psab12-fabric',
      'psab12-node-node-a',
      'psab12-node-node-b',
      'psab12-ext-203.0.113.10',
      'psab12-ext-2001-db8--10',
    ]);
    for (const ns of namespaces) {
      expect(isSandboxNamespace('ab12', ns)).toBe(true);
      expect(isSandboxNamespace('ab13', ns)).toBe(false);
      expect(sandboxIdOfNamespace(ns)).toBe('ab12');
    }
    const links = [
      names.fabricBridge,
      ...plan.nodes.map((n) => names.nodeUplink(n.name)),
      names.externalUplink('2001:db8::10'),
    ];
    expect(links).toEqual(['psab12fab', 'psab12n1', 'psab12n2', 'psab12x2']);
  });

  test('a live pod: its namespace name comes from its uid, so a pod of the same name never meets its predecessor', () => {
    const uid = '0d6f4b1e-1f2a-4c3b-9d8e-7a6b5c4d3e2f';
    expect(livePodNetns('ab12', 'x', 'web-0', uid)).toBe('psab12-pod-x.web-0-0d6f4b1e');
    expect(livePodNetns('ab12', 'x', 'web-0', 'ffff0000-1f2a-4c3b-9d8e-7a6b5c4d3e2f')).not.toBe(
      livePodNetns('ab12', 'x', 'web-0', uid),
    );
    expect(isSandboxNamespace('ab12', livePodNetns('ab12', 'x', 'a'.repeat(250), uid))).toBe(true);
    expect(livePodNetns('ab12', 'x', 'a'.repeat(250), uid).length).toBeLessThan(110);
  });

  test("a live node's kept pod namespaces (slots) and their veths are numbered, within the sandbox's names", () => {
    expect(livePodSlotNetns('ab12', 2, 41)).toBe('psab12-slot-2-41');
    expect(isSandboxNamespace('ab12', livePodSlotNetns('ab12', 2, 41))).toBe(true);
    expect(livePodSlotHostIf('ab12', 2, 41)).toBe('psab12v00002-15');
    expect(livePodSlotHostIf('ab12', 2, 36 ** 5 - 1)).toBe('psab12v02-zzzzz');
    expect(() => livePodSlotHostIf('ab12', 2, 36 ** 6)).toThrow(/too many/);
  });
});

describe.each(['routed', 'bridge'] as const)('%s topology', (topology) => {
  const plan = smallPlan({ dualStack: true });
  const t = build(plan, topology);

  test('stages: namespaces, sysctls, links, then addresses and routes', () => {
    expect(t.stages.map((s) => s.name)).toEqual(['namespaces', 'sysctls', 'links', 'addresses and routes']);
  });

  test('no pod has a namespace at build time: the kubelet makes them', () => {
    expect(t.ops.some((op) => op.ns.includes('-pod-'))).toBe(false);
  });

  test('nodes route and forward; DAD is off everywhere before links exist', () => {
    const node = t.sysctls('psab12-node-node-a');
    expect(node).toEqual(
      expect.arrayContaining([
        'net.ipv4.ip_forward=1',
        'net.ipv6.conf.all.forwarding=1',
        'net.ipv6.conf.default.accept_dad=0',
      ]),
    );
    expect(node.includes('net.bridge.bridge-nf-call-iptables=1')).toBe(topology === 'bridge');
    expect(node.includes('net.bridge.bridge-nf-call-ip6tables=1')).toBe(topology === 'bridge');
  });

  test("the node bridge has its own fixed MAC: ports coming and going do not change the pods' gateway", () => {
    const links = t.stages.find((s) => s.name === 'links')!.ops;
    const lines = (ns: string): readonly string[] =>
      links.flatMap((op) => (op.kind === 'ip' && op.ns === ns ? op.lines : []));
    if (topology === 'bridge') {
      expect(lines('psab12-node-node-a')).toContain('link add br0 address 02:62:72:00:00:01 type bridge');
      expect(lines('psab12-node-node-b')).toContain('link add br0 address 02:62:72:00:00:02 type bridge');
    } else {
      expect(lines('psab12-node-node-a')).toEqual([]);
    }
  });

  test('every node routes remote pods via their node: IPv4 via its address, IPv6 via its fabric link-local', () => {
    const a = t.lines('psab12-node-node-a');
    expect(a).toContain('route add 10.244.2.2/32 via 172.18.0.3 dev eth0 onlink');
    expect(a).toContain('route add fd00:244:2::2/128 via fe80::ab:2 dev eth0');
    expect(a).toContain('addr add fe80::ab:1/64 dev eth0 nodad');
    // node-b's hostNetwork pod is node-b itself: on the fabric, no pod route.
    expect(a.some((l) => l.includes('172.18.0.3/32'))).toBe(false);
    const b = t.lines('psab12-node-node-b');
    expect(b).toContain('route add 10.244.1.2/32 via 172.18.0.2 dev eth0 onlink');
    expect(b).toContain('route add 10.244.1.3/32 via 172.18.0.2 dev eth0 onlink');
  });

  test("pod CIDRs: a node routes the others' via them, its own is unreachable but for its pods", () => {
    const a = t.lines('psab12-node-node-a');
    expect(a).toEqual(
      expect.arrayContaining([
        'route add unreachable 10.244.1.0/24',
        'route add unreachable fd00:10:244:1::/64',
        'route add 10.244.2.0/24 via 172.18.0.3 dev eth0 onlink',
        'route add fd00:10:244:2::/64 via fe80::ab:2 dev eth0',
      ]),
    );
    expect(t.lines('psab12-ext-203.0.113.10')).toContain(
      'route add 10.244.1.0/24 via 172.18.0.2 dev eth0 onlink',
    );
  });

  test('external hosts route each pod via its node', () => {
    expect(t.lines('psab12-ext-203.0.113.10')).toEqual(
      expect.arrayContaining([
        'addr add 203.0.113.10/32 dev eth0',
        'route add 10.244.2.2/32 via 172.18.0.3 dev eth0 onlink',
      ]),
    );
    expect(t.lines('psab12-ext-2001-db8--10')).toEqual(
      expect.arrayContaining([
        'addr add 2001:db8::10/128 dev eth0 nodad',
        'route add fd00:244:1::3/128 via fe80::ab:1 dev eth0',
      ]),
    );
  });

  describe('a pod wired by the kubelet (live/pod-network.ts)', () => {
    const pod = {
      netns: 'psab12-pod-x.a-0d6f4b1e',
      hostIf: 'psab12v00001-03',
      ipv4: '10.244.1.12',
      ipv6: 'fd00:10:244:1::12',
    };
    const slot = { netns: 'psab12-slot-1-3', hostIf: 'psab12v00001-03' };
    const node = {
      ns: 'psab12-node-node-a',
      ipv4: '172.18.0.2',
      ipv6: 'fd00:18::2',
      ipv6Pods: true,
      onLink: ['10.244.1.0/24', 'fd00:10:244:1::/64', 'fd00:244:1::2/128'],
      offLink: ['10.244.1.77/32'],
    };
    const dev = topology === 'bridge' ? 'br0' : 'psab12v00001-03';

    test('a slot: a namespace with its veth to the node, up; IPv6 usable at once on a dual-stack node', () => {
      const lines = slotNodeLines(slot, node, topology);
      expect(lines[0]).toBe('link add psab12v00001-03 type veth peer name eth0 netns psab12-slot-1-3');
      expect(lines.includes('link set psab12v00001-03 up')).toBe(true);
      expect(lines.includes('link set psab12v00001-03 master br0')).toBe(topology === 'bridge');
      expect(lines.includes('addr add fe80::1/64 dev psab12v00001-03 nodad')).toBe(topology === 'routed');
      expect(
        slotNodeLines(slot, { ...node, ipv6Pods: false }, topology).filter((l) => l.includes('fe80')),
      ).toEqual([]);
      expect(slotPodLines()).toEqual(['link set lo up', 'link set eth0 up']);
      expect(slotSysctls(node)).toEqual([['net.ipv6.conf.default.accept_dad', '0']]);
      expect(slotSysctls({ ...node, ipv6Pods: false })).toEqual([]);
      // Routed: veths inherit proxy ARP without delay from the node's defaults.
      expect(t.sysctls('psab12-node-node-a').includes('net.ipv4.conf.default.proxy_arp=1')).toBe(
        topology === 'routed',
      );
      expect(slotNodeSysctls(slot, topology)).toEqual(
        topology === 'routed' ? [['net.ipv4.neigh.psab12v00001-03.proxy_delay', '0']] : [],
      );
    });

    test('the node reaches a pod from its own address (what policies see for hostNetwork), and forgets it when it goes', () => {
      expect(nodeRouteLines(pod, node, topology)).toEqual([
        `route add 10.244.1.12/32 dev ${dev} src 172.18.0.2`,
        `route add fd00:10:244:1::12/128 dev ${dev} src fd00:18::2`,
      ]);
      expect(nodeRouteCleanupLines(pod, topology)).toEqual([
        `route del 10.244.1.12/32 dev ${dev}`,
        `route del fd00:10:244:1::12/128 dev ${dev}`,
        `neigh flush to 10.244.1.12 dev ${dev}`,
        `neigh flush to fd00:10:244:1::12 dev ${dev}`,
      ]);
    });

    test("the pod: a /32 (/128 without DAD), a default route via the link-local gateway; bridged pods reach their node's pods on-link", () => {
      const lines = podSideLines(pod, node, topology);
      expect(lines).toEqual(
        expect.arrayContaining([
          'addr add 10.244.1.12/32 dev eth0',
          'route add 169.254.1.1 dev eth0 scope link',
          'route add default via 169.254.1.1 dev eth0',
          'addr add fd00:10:244:1::12/128 dev eth0 nodad',
          'route add ::/0 via fe80::1 dev eth0',
        ]),
      );
      // A scenario pod inside the node's CIDR but on another node goes via the gateway, not on-link.
      expect(lines.includes('route add 10.244.1.77/32 via 169.254.1.1 dev eth0')).toBe(topology === 'bridge');
      const onLink = lines.filter((l) => l.endsWith('scope link') && !l.includes('169.254.1.1'));
      expect(onLink).toEqual(
        topology === 'bridge'
          ? [
              'route add 10.244.1.0/24 dev eth0 scope link',
              'route add fd00:10:244:1::/64 dev eth0 scope link',
              'route add fd00:244:1::2/128 dev eth0 scope link',
            ]
          : [],
      );
    });

    test('a pod leaving its slot takes back every address and route it got, last first, and the neighbours it learnt', () => {
      const added = podSideLines(pod, node, topology);
      const cleanup = podSideCleanupLines(pod, node, topology);
      expect(cleanup.slice(0, -1)).toEqual(
        [...added].reverse().map((l) => l.replace(' add ', ' del ').replace(/ nodad$/, '')),
      );
      expect(cleanup[0]).toMatch(
        topology === 'bridge' ? /^route del 10\.244\.1\.77\/32/ : /^route del ::\/0/,
      );
      expect(cleanup.at(-1)).toBe('neigh flush dev eth0');
    });
  });

  test('IPv4-only plans get no IPv6 pod addresses or routes', () => {
    const v4 = build(smallPlan(), topology);
    const all = v4.ops.flatMap((op) => (op.kind === 'ip' ? op.lines : []));
    expect(all.filter((l) => /fd00|2001:db8/.test(l))).toEqual([]);
  });
});
