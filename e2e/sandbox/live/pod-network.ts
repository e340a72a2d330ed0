/**
 * The CNI part of the node simulator: the `ip` scripts that wire pods into their node, as data
 * (pure), in the topology's style (topology.ts describes both):
 *
 *   routed: node ──veth (host end ps<id>v…, proxy ARP, fe80::1)── pod eth0: addr/32, default via 169.254.1.1
 *   bridge: node br0 ──veth port── pod eth0: addr/32, default via 169.254.1.1, on-link routes to
 *           the node's pod CIDRs and to the node's scenario pods outside them (bridged, so
 *           br_netfilter hands the frames to the node's iptables)
 *
 * In two layers, because a node keeps its pods' namespaces for reuse (pod-slots.ts):
 * - a slot: a network namespace with its veth to the node, up, and nothing of any pod (made
 *   once: the kernel's namespace and link creation and destruction are the expensive part);
 * - a pod on a slot: its addresses and routes inside, the node's route to it (with `src <node
 *   address>`), all removed again when the pod goes, so the next pod finds what a new
 *   namespace would have.
 */
import { INNER_IF, NODE_BRIDGE, POD_GATEWAY_V4, POD_GATEWAY_V6 } from '../topology';
import type { Topology } from '../plan';

/** A pod network namespace and the node-side end of its veth. */
export interface PodSlot {
  readonly netns: string;
  readonly hostIf: string;
}

/** A pod's addresses on a slot; `netns` is the pod's own name for the slot's namespace. */
export interface PodWiring extends PodSlot {
  readonly ipv4?: string;
  readonly ipv6?: string;
}

export interface NodeWiring {
  readonly ns: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
  /** The node hands out IPv6 pod addresses (an IPv6 pod CIDR). */
  readonly ipv6Pods: boolean;
  /** Destinations a bridged pod reaches on-link: the node's CIDRs and out-of-CIDR scenario pods. */
  readonly onLink: readonly string[];
  /** Exceptions to `onLink`: scenario pods inside the node's CIDRs that live elsewhere (via the gateway). */
  readonly offLink: readonly string[];
}

/**
 * Sysctls of a new slot's namespace, before its veth arrives, so IPv6 is usable at once (its
 * veth end is created in the namespace and takes the defaults). None on an IPv4-only node: each
 * sysctl write takes the kernel's RTNL lock, which pod churn already contends for.
 */
export function slotSysctls(node: NodeWiring): [string, string][] {
  return node.ipv6Pods ? [['net.ipv6.conf.default.accept_dad', '0']] : [];
}

/** Run in the node's namespace, after the slot's namespace exists: the veth, up (routed: fe80::1 on it). */
export function slotNodeLines(slot: PodSlot, node: NodeWiring, topology: Topology): string[] {
  const lines = [`link add ${slot.hostIf} type veth peer name ${INNER_IF} netns ${slot.netns}`];
  if (topology === 'bridge') lines.push(`link set ${slot.hostIf} master ${NODE_BRIDGE}`);
  lines.push(`link set ${slot.hostIf} up`);
  if (topology === 'routed' && node.ipv6Pods)
    lines.push(`addr add ${POD_GATEWAY_V6}/64 dev ${slot.hostIf} nodad`);
  return lines;
}

/**
 * Sysctls of the node for a slot's veth. Routed: answer ARP for the gateway at once (the
 * default delays proxy replies by up to 0.8 s); proxy ARP itself comes from the node's
 * conf/default (topology.ts).
 */
export function slotNodeSysctls(slot: PodSlot, topology: Topology): [string, string][] {
  return topology === 'routed' ? [[`net.ipv4.neigh.${slot.hostIf}.proxy_delay`, '0']] : [];
}

/** Run in a new slot's namespace once (before its first pod's lines): its links up. */
export function slotPodLines(): string[] {
  return ['link set lo up', `link set ${INNER_IF} up`];
}

/** Run in the pod's namespace: its addresses and routes. */
export function podSideLines(pod: PodWiring, node: NodeWiring, topology: Topology): string[] {
  const lines: string[] = [];
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
      `route add ::/0 via ${POD_GATEWAY_V6} dev ${INNER_IF}`,
    );
  }
  if (topology === 'bridge') {
    for (const dst of node.onLink) {
      const v6 = dst.includes(':');
      const mine = v6 ? pod.ipv6 : pod.ipv4;
      if (!mine || dst === `${mine}/${v6 ? 128 : 32}`) continue;
      lines.push(`route add ${dst} dev ${INNER_IF} scope link`);
    }
    for (const dst of node.offLink) {
      const v6 = dst.includes(':');
      if (!(v6 ? pod.ipv6 : pod.ipv4)) continue;
      lines.push(`route add ${dst} via ${v6 ? POD_GATEWAY_V6 : POD_GATEWAY_V4} dev ${INNER_IF}`);
    }
  }
  return lines;
}

/**
 * Run in the pod's namespace when the pod goes and its slot stays: podSideLines undone, last
 * added first, and the neighbour cache emptied, so the slot holds nothing of this pod.
 */
export function podSideCleanupLines(pod: PodWiring, node: NodeWiring, topology: Topology): string[] {
  const undo = podSideLines(pod, node, topology)
    .reverse()
    .map((l) => l.replace(/^(addr|route) add /, '$1 del ').replace(/ nodad$/, ''));
  return [...undo, `neigh flush dev ${INNER_IF}`];
}

/** Run in the node's namespace, after the pod's side: the node's routes to the pod. */
export function nodeRouteLines(pod: PodWiring, node: NodeWiring, topology: Topology): string[] {
  const dev = topology === 'bridge' ? NODE_BRIDGE : pod.hostIf;
  const lines: string[] = [];
  if (pod.ipv4) lines.push(`route add ${pod.ipv4}/32 dev ${dev}${node.ipv4 ? ` src ${node.ipv4}` : ''}`);
  if (pod.ipv6) lines.push(`route add ${pod.ipv6}/128 dev ${dev}${node.ipv6 ? ` src ${node.ipv6}` : ''}`);
  return lines;
}

/** Run in the node's namespace when the pod goes: its routes and the node's neighbour entries for it. */
export function nodeRouteCleanupLines(pod: PodWiring, topology: Topology): string[] {
  const dev = topology === 'bridge' ? NODE_BRIDGE : pod.hostIf;
  const ips = [pod.ipv4, pod.ipv6].filter((ip): ip is string => ip !== undefined);
  return [
    ...ips.map((ip) => `route del ${ip}/${ip.includes(':') ? 128 : 32} dev ${dev}`),
    ...ips.map((ip) => `neigh flush to ${ip} dev ${dev}`),
  ];
}
