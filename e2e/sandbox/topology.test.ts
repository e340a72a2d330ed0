import { isSandboxNamespace, sandboxIdOfNamespace, sandboxNames } from './names';
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
      'psab12-pod-x.a',
      'psab12-pod-x.b',
      'psab12-pod-y.c',
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
      names.podHostIf('y/c'),
      names.externalUplink('2001:db8::10'),
    ];
    expect(links).toEqual(['psab12fab', 'psab12n1', 'psab12n2', 'psab12p3', 'psab12x2']);
    expect(() => names.podNs('z/zz')).toThrow('pod z/zz is not in the sandbox plan');
  });
});

describe.each(['routed', 'bridge'] as const)('%s topology', (topology) => {
  const plan = smallPlan({ dualStack: true });
  const t = build(plan, topology);

  test('stages: namespaces, sysctls, links, then addresses and routes', () => {
    expect(t.stages.map((s) => s.name)).toEqual(['namespaces', 'sysctls', 'links', 'addresses and routes']);
  });

  test('hostNetwork pods get no namespace of their own', () => {
    expect(t.ops.some((op) => op.ns.includes('y.host'))).toBe(false);
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
    expect(t.sysctls('psab12-pod-x.a')).toContain('net.ipv6.conf.default.accept_dad=0');
    expect(node.includes('net.bridge.bridge-nf-call-iptables=1')).toBe(topology === 'bridge');
    expect(node.includes('net.bridge.bridge-nf-call-ip6tables=1')).toBe(topology === 'bridge');
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

  test('nodes reach their own pods from their own address (what policies see for hostNetwork)', () => {
    const dev = topology === 'bridge' ? 'br0' : 'psab12p1';
    const a = t.lines('psab12-node-node-a');
    expect(a).toContain(`route add 10.244.1.2/32 dev ${dev} src 172.18.0.2`);
    expect(a).toContain(`route add fd00:244:1::2/128 dev ${dev} src fd00:18::2`);
  });

  test('pods: a /32 (/128 without DAD) and a default route via the link-local gateway', () => {
    const pod = t.lines('psab12-pod-x.a');
    expect(pod).toEqual(
      expect.arrayContaining([
        'addr add 10.244.1.2/32 dev eth0',
        'route add 169.254.1.1 dev eth0 scope link',
        'route add default via 169.254.1.1 dev eth0',
        'addr add fd00:244:1::2/128 dev eth0 nodad',
        'route add ::/0 via fe80::1 dev eth0',
      ]),
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

  if (topology === 'routed') {
    test('routed: one veth per pod, proxy ARP (no delay) and fe80::1 on the host end', () => {
      const a = t.lines('psab12-node-node-a');
      expect(a).toContain('link add psab12p1 type veth peer name eth0 netns psab12-pod-x.a');
      expect(a).toContain('addr add fe80::1/64 dev psab12p1 nodad');
      expect(a.some((l) => l.includes('br0'))).toBe(false);
      expect(t.sysctls('psab12-node-node-a')).toEqual(
        expect.arrayContaining([
          'net.ipv4.conf.psab12p1.proxy_arp=1',
          'net.ipv4.neigh.psab12p1.proxy_delay=0',
        ]),
      );
      expect(t.lines('psab12-pod-x.a').some((l) => l.includes('10.244.1.3'))).toBe(false);
    });
  } else {
    test('bridge: pod veths are bridge ports, the bridge is the gateway, same-node pods are on-link', () => {
      const a = t.lines('psab12-node-node-a');
      expect(a).toEqual(
        expect.arrayContaining([
          'link add br0 type bridge',
          'link set psab12p1 master br0',
          'addr add 169.254.1.1/32 dev br0',
          'addr add fe80::1/64 dev br0 nodad',
        ]),
      );
      expect(t.lines('psab12-pod-x.a')).toEqual(
        expect.arrayContaining([
          'route add 10.244.1.3/32 dev eth0 scope link',
          'route add fd00:244:1::3/128 dev eth0 scope link',
        ]),
      );
      expect(t.lines('psab12-pod-x.a').some((l) => l.includes('10.244.2.2'))).toBe(false);
    });
  }

  test('IPv4-only plans get no IPv6 pod addresses or routes', () => {
    const v4 = build(smallPlan(), topology);
    const all = v4.ops.flatMap((op) => (op.kind === 'ip' ? op.lines : []));
    expect(all.filter((l) => /fd00|2001:db8/.test(l))).toEqual([]);
  });
});
