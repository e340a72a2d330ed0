/**
 * The wiring of a simulated cluster, as data: an ordered list of stages, each a set of
 * independent operations (create namespaces, set sysctls, run an `ip -batch` script inside one
 * namespace) that may run in parallel. Pure: `build.ts` executes the stages.
 *
 *            fabric namespace: bridge ps<id>fab (+ control address for the API server)
 *             |                 |                   |
 *        node A (eth0)     node B (eth0)       external host (eth0)
 *        /        \             |
 *   pod a (eth0)  pod b      pod c        hostNetwork pods: in their node's namespace
 *
 * Nodes and external hosts sit on one L2 segment (the fabric bridge) with /32 (/128)
 * addresses; each has an on-link default route, so nodes reach each other, the externals and
 * the control address by ARP/NDP. Pod addresses are arbitrary (scenarios may declare any
 * podIPs), so every node routes every remote pod's /32 (/128) via the pod's node (IPv4 via the
 * node's address, IPv6 via the node's fabric link-local fe80::ab:<n>), and external hosts do
 * the same. Routes from a node to its pods carry `src <node address>` so hostNetwork traffic
 * leaves from the node's address, the address policies see.
 *
 * Topologies, per node:
 * - routed (Calico style): one veth per pod; the pod has its /32 and a default route via the
 *   link-local gateway 169.254.1.1, answered by proxy ARP on the host end (which needs a route
 *   to the gateway through another interface: the node's default route); for IPv6 the host end
 *   carries fe80::1. The node routes each pod's /32 to its veth. All pod traffic is routed.
 * - bridge: pod veths are ports of a Linux bridge br0 that holds 169.254.1.1 and fe80::1 (the
 *   pods' gateway). Pods on the same node reach each other on-link (a /32 route per same-node
 *   peer), so their traffic is bridged, and br_netfilter (bridge-nf-call-iptables=1, per
 *   network namespace) makes it traverse the node's iptables; other traffic is routed.
 * DAD is off everywhere (accept_dad=0 before any link exists, `nodad` on addresses), so IPv6
 * addresses are usable at once.
 */
import { addressOf, type Family, type PlanNode, type PlanPod, type SandboxPlan, type Topology } from './plan';
import type { SandboxNames } from './names';

export type BuildOp =
  | { readonly kind: 'netns'; readonly ns: string }
  | {
      readonly kind: 'sysctl';
      readonly ns: string;
      readonly settings: readonly (readonly [string, string])[];
    }
  | { readonly kind: 'ip'; readonly ns: string; readonly lines: readonly string[] };

export interface BuildStage {
  readonly name: string;
  readonly ops: readonly BuildOp[];
}

export const POD_GATEWAY_V4 = '169.254.1.1';
export const POD_GATEWAY_V6 = 'fe80::1';
/** Address on the fabric bridge where sandbox-wide services (the test API server) listen. */
export const CONTROL_ADDRESS = '169.254.255.254';
/** Interface name of pods' and nodes' own end of their link. */
export const INNER_IF = 'eth0';
/** Node bridge in the bridge topology (inside the node namespace). */
export const NODE_BRIDGE = 'br0';

/** Link-local address of node number `index` (1-based) on the fabric: the IPv6 next hop to its pods. */
export function nodeFabricLinkLocal(index: number): string {
  return `fe80::ab:${index.toString(16)}`;
}

const BASE_SYSCTLS: readonly (readonly [string, string])[] = [
  ['net.ipv6.conf.all.accept_dad', '0'],
  ['net.ipv6.conf.default.accept_dad', '0'],
  ['net.ipv4.conf.all.rp_filter', '0'],
  ['net.ipv4.conf.default.rp_filter', '0'],
];

function nodeSysctls(topology: Topology): (readonly [string, string])[] {
  return [
    ...BASE_SYSCTLS,
    ['net.ipv4.ip_forward', '1'],
    ['net.ipv6.conf.all.forwarding', '1'],
    ...(topology === 'bridge'
      ? ([
          ['net.bridge.bridge-nf-call-iptables', '1'],
          ['net.bridge.bridge-nf-call-ip6tables', '1'],
        ] as const)
      : []),
  ];
}

function hostLen(family: Family): string {
  return family === 4 ? '32' : '128';
}

/** `ip -batch` takes no per-line options: the family comes from the addresses (`::/0` for default). */
function defaultDst(family: Family): string {
  return family === 4 ? 'default' : '::/0';
}

export function topologyStages(plan: SandboxPlan, names: SandboxNames, topology: Topology): BuildStage[] {
  const nodeIndex = new Map(plan.nodes.map((n, i) => [n.name, i + 1]));
  const nodeByName = new Map(plan.nodes.map((n) => [n.name, n]));
  const wiredPods = plan.pods.filter((p) => !p.hostNetwork);
  const podsOn = (node: string): PlanPod[] => wiredPods.filter((p) => p.node === node);

  const namespaces: BuildOp[] = [
    { kind: 'netns', ns: names.fabricNs },
    ...plan.nodes.map((n): BuildOp => ({ kind: 'netns', ns: names.nodeNs(n.name) })),
    ...wiredPods.map((p): BuildOp => ({ kind: 'netns', ns: names.podNs(p.key) })),
    ...plan.externals.map((ip): BuildOp => ({ kind: 'netns', ns: names.externalNs(ip) })),
  ];

  const sysctls: BuildOp[] = [
    {
      kind: 'sysctl',
      ns: names.fabricNs,
      settings: [
        ...BASE_SYSCTLS,
        ['net.bridge.bridge-nf-call-iptables', '0'],
        ['net.bridge.bridge-nf-call-ip6tables', '0'],
      ],
    },
    ...plan.nodes.map((n): BuildOp => ({
      kind: 'sysctl',
      ns: names.nodeNs(n.name),
      settings: nodeSysctls(topology),
    })),
    ...wiredPods.map((p): BuildOp => ({ kind: 'sysctl', ns: names.podNs(p.key), settings: BASE_SYSCTLS })),
    ...plan.externals.map((ip): BuildOp => ({
      kind: 'sysctl',
      ns: names.externalNs(ip),
      settings: BASE_SYSCTLS,
    })),
  ];

  const links: BuildOp[] = [
    { kind: 'ip', ns: names.fabricNs, lines: fabricLinks(plan, names) },
    ...plan.nodes.map((n): BuildOp => ({
      kind: 'ip',
      ns: names.nodeNs(n.name),
      lines: nodeLinks(podsOn(n.name), names, topology),
    })),
  ];

  const addresses: BuildOp[] = [
    ...plan.nodes.map((n): BuildOp => ({
      kind: 'ip',
      ns: names.nodeNs(n.name),
      lines: nodeAddressing(
        n,
        nodeIndex.get(n.name)!,
        podsOn(n.name),
        wiredPods,
        nodeByName,
        nodeIndex,
        names,
        topology,
      ),
    })),
    ...wiredPods.map((p): BuildOp => ({
      kind: 'ip',
      ns: names.podNs(p.key),
      lines: podAddressing(p, podsOn(p.node), topology),
    })),
    ...plan.externals.map((ip): BuildOp => ({
      kind: 'ip',
      ns: names.externalNs(ip),
      lines: externalAddressing(ip, wiredPods, nodeByName, nodeIndex),
    })),
  ];
  if (topology === 'routed') {
    for (const n of plan.nodes) {
      // proxy_delay: answer at once (the default delays proxy replies by up to 0.8 s).
      const settings = podsOn(n.name).flatMap((p) => [
        [`net.ipv4.conf.${names.podHostIf(p.key)}.proxy_arp`, '1'] as const,
        [`net.ipv4.neigh.${names.podHostIf(p.key)}.proxy_delay`, '0'] as const,
      ]);
      if (settings.length > 0) addresses.push({ kind: 'sysctl', ns: names.nodeNs(n.name), settings });
    }
  }

  return [
    { name: 'namespaces', ops: namespaces },
    { name: 'sysctls', ops: sysctls },
    { name: 'links', ops: links.filter((op) => op.kind !== 'ip' || op.lines.length > 0) },
    { name: 'addresses and routes', ops: addresses },
  ];
}

function fabricLinks(plan: SandboxPlan, names: SandboxNames): string[] {
  const br = names.fabricBridge;
  const lines = [
    // The API server and its relay live here and must reach their own address.
    'link set lo up',
    `link add ${br} type bridge`,
    `link set ${br} up`,
    `addr add ${CONTROL_ADDRESS}/32 dev ${br}`,
  ];
  const uplink = (outer: string, ns: string): void => {
    lines.push(
      `link add ${outer} type veth peer name ${INNER_IF} netns ${ns}`,
      `link set ${outer} master ${br}`,
      `link set ${outer} up`,
    );
  };
  for (const n of plan.nodes) uplink(names.nodeUplink(n.name), names.nodeNs(n.name));
  for (const ip of plan.externals) uplink(names.externalUplink(ip), names.externalNs(ip));
  // The control address answers nodes on-link; its replies need routes back to them.
  for (const n of plan.nodes) if (n.ipv4) lines.push(`route add ${n.ipv4}/32 dev ${br}`);
  return lines;
}

function nodeLinks(pods: readonly PlanPod[], names: SandboxNames, topology: Topology): string[] {
  const lines: string[] = [];
  if (topology === 'bridge') lines.push(`link add ${NODE_BRIDGE} type bridge`, `link set ${NODE_BRIDGE} up`);
  for (const p of pods) {
    const hostIf = names.podHostIf(p.key);
    lines.push(`link add ${hostIf} type veth peer name ${INNER_IF} netns ${names.podNs(p.key)}`);
    if (topology === 'bridge') lines.push(`link set ${hostIf} master ${NODE_BRIDGE}`);
    lines.push(`link set ${hostIf} up`);
  }
  return lines;
}

function nodeAddressing(
  node: PlanNode,
  index: number,
  localPods: readonly PlanPod[],
  allPods: readonly PlanPod[],
  nodeByName: ReadonlyMap<string, PlanNode>,
  nodeIndex: ReadonlyMap<string, number>,
  names: SandboxNames,
  topology: Topology,
): string[] {
  const lines = ['link set lo up', `link set ${INNER_IF} up`];
  lines.push(`addr add ${nodeFabricLinkLocal(index)}/64 dev ${INNER_IF} nodad`);
  const src = (f: Family): string => {
    const a = addressOf(node, f);
    return a ? ` src ${a}` : '';
  };
  if (node.ipv4) lines.push(`addr add ${node.ipv4}/32 dev ${INNER_IF}`);
  if (node.ipv6) lines.push(`addr add ${node.ipv6}/128 dev ${INNER_IF} nodad`);
  if (node.ipv4) lines.push(`route add ${defaultDst(4)} dev ${INNER_IF}${src(4)}`);
  lines.push(`route add ${defaultDst(6)} dev ${INNER_IF}${src(6)}`);
  if (topology === 'bridge') {
    lines.push(
      `addr add ${POD_GATEWAY_V4}/32 dev ${NODE_BRIDGE}`,
      `addr add ${POD_GATEWAY_V6}/64 dev ${NODE_BRIDGE} nodad`,
    );
  }
  for (const p of localPods) {
    const dev = topology === 'bridge' ? NODE_BRIDGE : names.podHostIf(p.key);
    if (topology === 'routed' && p.ipv6) lines.push(`addr add ${POD_GATEWAY_V6}/64 dev ${dev} nodad`);
    for (const f of [4, 6] as const) {
      const ip = addressOf(p, f);
      if (ip) lines.push(`route add ${ip}/${hostLen(f)} dev ${dev}${src(f)}`);
    }
  }
  for (const p of allPods) {
    if (p.node === node.name) continue;
    const peer = nodeByName.get(p.node)!;
    if (p.ipv4 && peer.ipv4) lines.push(`route add ${p.ipv4}/32 via ${peer.ipv4} dev ${INNER_IF} onlink`);
    if (p.ipv6) {
      lines.push(
        `route add ${p.ipv6}/128 via ${nodeFabricLinkLocal(nodeIndex.get(p.node)!)} dev ${INNER_IF}`,
      );
    }
  }
  return lines;
}

function podAddressing(pod: PlanPod, sameNode: readonly PlanPod[], topology: Topology): string[] {
  const lines = ['link set lo up', `link set ${INNER_IF} up`];
  if (pod.ipv4) {
    lines.push(
      `addr add ${pod.ipv4}/32 dev ${INNER_IF}`,
      `route add ${POD_GATEWAY_V4} dev ${INNER_IF} scope link`,
      `route add default via ${POD_GATEWAY_V4} dev ${INNER_IF}`,
    );
  }
  if (pod.ipv6) {
    lines.push(
      `addr add ${pod.ipv6}/128 dev ${INNER_IF} nodad`,
      `route add ${defaultDst(6)} via ${POD_GATEWAY_V6} dev ${INNER_IF}`,
    );
  }
  if (topology === 'bridge') {
    for (const peer of sameNode) {
      if (peer.key === pod.key) continue;
      for (const f of [4, 6] as const) {
        const mine = addressOf(pod, f);
        const theirs = addressOf(peer, f);
        if (mine && theirs) lines.push(`route add ${theirs}/${hostLen(f)} dev ${INNER_IF} scope link`);
      }
    }
  }
  return lines;
}

function externalAddressing(
  ip: string,
  pods: readonly PlanPod[],
  nodeByName: ReadonlyMap<string, PlanNode>,
  nodeIndex: ReadonlyMap<string, number>,
): string[] {
  const v4 = !ip.includes(':');
  const lines = ['link set lo up', `link set ${INNER_IF} up`];
  if (v4) {
    lines.push(`addr add ${ip}/32 dev ${INNER_IF}`, `route add default dev ${INNER_IF}`);
    for (const p of pods) {
      const node = nodeByName.get(p.node)!;
      if (p.ipv4 && node.ipv4) lines.push(`route add ${p.ipv4}/32 via ${node.ipv4} dev ${INNER_IF} onlink`);
    }
  } else {
    lines.push(`addr add ${ip}/128 dev ${INNER_IF} nodad`, `route add ${defaultDst(6)} dev ${INNER_IF}`);
    for (const p of pods) {
      if (p.ipv6)
        lines.push(
          `route add ${p.ipv6}/128 via ${nodeFabricLinkLocal(nodeIndex.get(p.node)!)} dev ${INNER_IF}`,
        );
    }
  }
  return lines;
}
