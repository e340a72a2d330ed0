/**
 * The static wiring of a simulated cluster, as data: an ordered list of stages, each a set of
 * independent operations (create namespaces, set sysctls, run an `ip -batch` script inside one
 * namespace) that may run in parallel. Pure: `sandbox.ts` executes the stages. Pods are not
 * here: the node simulator's kubelet wires each pod when the API server has it (live/
 * pod-network.ts), scenario pods included; this file routes to where they will be.
 *
 *            fabric namespace: bridge ps<id>fab (+ control address for the API server)
 *             |                 |                   |
 *        node A (eth0)     node B (eth0)       external host (eth0)
 *        /        \             |
 *   pod a (eth0)  pod b      pod c        hostNetwork pods: in their node's namespace
 *
 * Nodes and external hosts sit on one L2 segment (the fabric bridge) with /32 (/128)
 * addresses; each has an on-link default route, so nodes reach each other, the externals and
 * the control address by ARP/NDP. Every node and external host routes each other node's pod
 * CIDRs via that node (IPv4 via the node's address, IPv6 via the node's fabric link-local
 * fe80::ab:<n>); a node's own CIDRs are `unreachable` there, so a probe of an address no pod
 * holds fails at once. Scenario pods may declare any address, so each scenario pod also gets
 * a /32 (/128) route via its node everywhere else. Routes from a node to its pods (added with
 * each pod) carry `src <node address>` so hostNetwork traffic leaves from the node's address,
 * the address policies see.
 *
 * Topologies, per node:
 * - routed (Calico style): one veth per pod; the pod has its /32 and a default route via the
 *   link-local gateway 169.254.1.1, answered by proxy ARP on the host end (which needs a route
 *   to the gateway through another interface: the node's default route); for IPv6 the host end
 *   carries fe80::1. The node routes each pod's /32 to its veth. All pod traffic is routed.
 * - bridge: pod veths are ports of a Linux bridge br0 that holds 169.254.1.1 and fe80::1 (the
 *   pods' gateway). Pods on the same node reach each other on-link (a /32 route per same-node
 *   peer), so their traffic is bridged, and br_netfilter (bridge-nf-call-iptables=1, per
 *   network namespace) makes it traverse the node's iptables; other traffic is routed. br0 has
 *   a fixed MAC (`nodeBridgeMac`): pods come and go, the gateway's MAC must not.
 * DAD is off everywhere (accept_dad=0 before any link exists, `nodad` on addresses), so IPv6
 * addresses are usable at once.
 */
import {
  addressOf,
  familyOf,
  nodePodCIDRs,
  type Family,
  type PlanNode,
  type PlanPod,
  type SandboxPlan,
  type Topology,
} from './plan';
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

/**
 * The MAC address of node number `index`'s bridge (bridge topology), set when it is created.
 * A bridge left to choose takes the lowest MAC among its ports and changes it whenever that
 * port comes or goes; every pod that cached the gateway's old MAC then has its routed traffic
 * dropped by the bridge (a frame to a MAC that is not the bridge's own is not for the host)
 * until its ARP entry expires, some 30 s. A set address stays (addr_assign_type NET_ADDR_SET).
 * Locally administered, unicast, one per node.
 */
export function nodeBridgeMac(index: number): string {
  const hex = (n: number): string => n.toString(16).padStart(2, '0');
  return `02:62:72:00:${hex((index >> 8) & 0xff)}:${hex(index & 0xff)}`;
}

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
    // Routed: every pod veth created later inherits proxy ARP (its delay is set per veth: this
    // kernel has no neigh/default/proxy_delay).
    ...(topology === 'routed' ? ([['net.ipv4.conf.default.proxy_arp', '1']] as const) : []),
    ...(topology === 'bridge'
      ? ([
          ['net.bridge.bridge-nf-call-iptables', '1'],
          ['net.bridge.bridge-nf-call-ip6tables', '1'],
        ] as const)
      : []),
  ];
}

/** `ip -batch` takes no per-line options: the family comes from the addresses (`::/0` for default). */
function defaultDst(family: Family): string {
  return family === 4 ? 'default' : '::/0';
}

export function topologyStages(plan: SandboxPlan, names: SandboxNames, topology: Topology): BuildStage[] {
  const nodeIndex = new Map(plan.nodes.map((n, i) => [n.name, i + 1]));
  const nodeByName = new Map(plan.nodes.map((n) => [n.name, n]));
  const wiredPods = plan.pods.filter((p) => !p.hostNetwork);

  const namespaces: BuildOp[] = [
    { kind: 'netns', ns: names.fabricNs },
    ...plan.nodes.map((n): BuildOp => ({ kind: 'netns', ns: names.nodeNs(n.name) })),
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
      lines:
        topology === 'bridge'
          ? [
              `link add ${NODE_BRIDGE} address ${nodeBridgeMac(nodeIndex.get(n.name)!)} type bridge`,
              `link set ${NODE_BRIDGE} up`,
            ]
          : [],
    })),
  ];

  const cidrs = (node: string): { cidr: string; family: Family }[] =>
    nodePodCIDRs(plan, node).map((cidr) => ({ cidr, family: familyOf(cidr.split('/')[0])! }));
  const addresses: BuildOp[] = [
    ...plan.nodes.map((n): BuildOp => ({
      kind: 'ip',
      ns: names.nodeNs(n.name),
      lines: nodeAddressing(
        n,
        nodeIndex.get(n.name)!,
        wiredPods,
        plan.nodes,
        nodeByName,
        nodeIndex,
        cidrs,
        topology,
      ),
    })),
    ...plan.externals.map((ip): BuildOp => ({
      kind: 'ip',
      ns: names.externalNs(ip),
      lines: externalAddressing(ip, wiredPods, plan.nodes, nodeByName, nodeIndex, cidrs),
    })),
  ];

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

type CidrsOf = (node: string) => { cidr: string; family: Family }[];

function nodeAddressing(
  node: PlanNode,
  index: number,
  allPods: readonly PlanPod[],
  nodes: readonly PlanNode[],
  nodeByName: ReadonlyMap<string, PlanNode>,
  nodeIndex: ReadonlyMap<string, number>,
  cidrs: CidrsOf,
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
  // Its own pods' routes come with each pod; an address of its CIDRs that no pod holds is unreachable.
  for (const c of cidrs(node.name)) lines.push(`route add unreachable ${c.cidr}`);
  for (const other of nodes) {
    if (other.name === node.name) continue;
    for (const c of cidrs(other.name)) lines.push(viaNode(c.cidr, c.family, other, nodeIndex));
  }
  for (const p of allPods) {
    if (p.node === node.name) continue;
    const peer = nodeByName.get(p.node)!;
    if (p.ipv4 && peer.ipv4) lines.push(`route add ${p.ipv4}/32 via ${peer.ipv4} dev ${INNER_IF} onlink`);
    if (p.ipv6) lines.push(viaNode(`${p.ipv6}/128`, 6, peer, nodeIndex));
  }
  return dedupeRoutes(lines);
}

/** A route to `dst` through node `via` over the fabric (IPv6 via its link-local address). */
function viaNode(dst: string, family: Family, via: PlanNode, nodeIndex: ReadonlyMap<string, number>): string {
  if (family === 4) return `route add ${dst} via ${via.ipv4} dev ${INNER_IF} onlink`;
  return `route add ${dst} via ${nodeFabricLinkLocal(nodeIndex.get(via.name)!)} dev ${INNER_IF}`;
}

/** A scenario pod inside its node's CIDR is covered by the CIDR route too: one route is enough. */
function dedupeRoutes(lines: string[]): string[] {
  return [...new Set(lines)];
}

function externalAddressing(
  ip: string,
  pods: readonly PlanPod[],
  nodes: readonly PlanNode[],
  nodeByName: ReadonlyMap<string, PlanNode>,
  nodeIndex: ReadonlyMap<string, number>,
  cidrs: CidrsOf,
): string[] {
  const v4 = !ip.includes(':');
  const family: Family = v4 ? 4 : 6;
  const lines = ['link set lo up', `link set ${INNER_IF} up`];
  if (v4) lines.push(`addr add ${ip}/32 dev ${INNER_IF}`, `route add default dev ${INNER_IF}`);
  else lines.push(`addr add ${ip}/128 dev ${INNER_IF} nodad`, `route add ${defaultDst(6)} dev ${INNER_IF}`);
  for (const n of nodes) {
    for (const c of cidrs(n.name)) {
      if (c.family === family && (family === 6 || n.ipv4)) lines.push(viaNode(c.cidr, family, n, nodeIndex));
    }
  }
  for (const p of pods) {
    const node = nodeByName.get(p.node)!;
    if (v4 && p.ipv4 && node.ipv4)
      lines.push(`route add ${p.ipv4}/32 via ${node.ipv4} dev ${INNER_IF} onlink`);
    if (!v4 && p.ipv6) lines.push(viaNode(`${p.ipv6}/128`, 6, node, nodeIndex));
  }
  return dedupeRoutes(lines);
}
