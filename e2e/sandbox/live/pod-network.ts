/**
 * The CNI part of the node simulator: the `ip` scripts that wire one pod into its node and
 * unwire it, as data (pure), in the topology's style (topology.ts describes both):
 *
 *   routed: node ──veth (host end ps<id>v…, proxy ARP, fe80::1)── pod eth0: addr/32, default via 169.254.1.1
 *   bridge: node br0 ──veth port── pod eth0: addr/32, default via 169.254.1.1, on-link routes to
 *           the node's pod CIDRs and to the node's scenario pods outside them (bridged, so
 *           br_netfilter hands the frames to the node's iptables)
 *
 * The node routes the pod's /32 (/128) to its veth (routed) or to br0 (bridge) with `src <node
 * address>`. Deleting the pod's namespace destroys the veth pair and, with the veth, the routed
 * topology's route; the bridge topology's route on br0 is deleted explicitly.
 */
import { INNER_IF, NODE_BRIDGE, POD_GATEWAY_V4, POD_GATEWAY_V6 } from '../topology';
import type { Topology } from '../plan';

export interface PodWiring {
  readonly netns: string;
  readonly hostIf: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
}

export interface NodeWiring {
  readonly ns: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
  /** Destinations a bridged pod reaches on-link: the node's CIDRs and out-of-CIDR scenario pods. */
  readonly onLink: readonly string[];
  /** Exceptions to `onLink`: scenario pods inside the node's CIDRs that live elsewhere (via the gateway). */
  readonly offLink: readonly string[];
}

/** Run in the node's namespace, after the pod's namespace exists. */
export function nodeSideLines(pod: PodWiring, node: NodeWiring, topology: Topology): string[] {
  const lines = [`link add ${pod.hostIf} type veth peer name ${INNER_IF} netns ${pod.netns}`];
  if (topology === 'bridge') lines.push(`link set ${pod.hostIf} master ${NODE_BRIDGE}`);
  lines.push(`link set ${pod.hostIf} up`);
  const dev = topology === 'bridge' ? NODE_BRIDGE : pod.hostIf;
  if (topology === 'routed' && pod.ipv6) lines.push(`addr add ${POD_GATEWAY_V6}/64 dev ${dev} nodad`);
  if (pod.ipv4) lines.push(`route add ${pod.ipv4}/32 dev ${dev}${node.ipv4 ? ` src ${node.ipv4}` : ''}`);
  if (pod.ipv6) lines.push(`route add ${pod.ipv6}/128 dev ${dev}${node.ipv6 ? ` src ${node.ipv6}` : ''}`);
  return lines;
}

/**
 * Sysctls of the node for the pod's veth. Routed: answer ARP for the gateway at once (the
 * default delays proxy replies by up to 0.8 s); proxy ARP itself comes from the node's
 * conf/default (topology.ts).
 */
export function nodeSideSysctls(pod: PodWiring, topology: Topology): [string, string][] {
  return topology === 'routed' ? [[`net.ipv4.neigh.${pod.hostIf}.proxy_delay`, '0']] : [];
}

/**
 * Sysctls of the pod's namespace, before its veth arrives, so IPv6 is usable at once (its veth
 * end is created in the namespace and takes the defaults). None for an IPv4-only pod: each
 * sysctl write takes the kernel's RTNL lock, which pod churn already contends for.
 */
export function podSysctls(pod: PodWiring): [string, string][] {
  return pod.ipv6 ? [['net.ipv6.conf.default.accept_dad', '0']] : [];
}

/** Run in the pod's namespace, after the veth is in it. */
export function podSideLines(pod: PodWiring, node: NodeWiring, topology: Topology): string[] {
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

/** Run in the node's namespace after the pod's namespace is gone (bridge: its routes stay on br0). */
export function nodeCleanupLines(pod: PodWiring, topology: Topology): string[] {
  if (topology !== 'bridge') return [];
  return [
    ...(pod.ipv4 ? [`route del ${pod.ipv4}/32 dev ${NODE_BRIDGE}`] : []),
    ...(pod.ipv6 ? [`route del ${pod.ipv6}/128 dev ${NODE_BRIDGE}`] : []),
  ];
}
