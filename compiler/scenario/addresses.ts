/**
 * Deterministic addresses for scenario pods that do not declare one: the scheme `palisade
 * analyze` and the sandbox (real pods in network namespaces) share, so both see the same IPs.
 *
 * Nodes
 *   Every distinct spec.nodeName gets an index n = 1, 2, ... in order of first appearance in
 *   the scenario (documents in file order). Pods without spec.nodeName run on DEFAULT_NODE
 *   ("node-1"), which takes its index where such a pod first appears (or where a pod names
 *   "node-1" explicitly: it is the same node).
 *   Node n has the address 172.18.0.(n+1) (the kind/docker bridge range; .1 is the gateway) and,
 *   in a dual-stack scenario, fd00:172:18::(n+1). Its pod CIDR is 10.244.n.0/24 (and
 *   fd00:10:244:n::/64).
 *
 * Pods
 *   A pod that declares any address (status.podIP/podIPs) keeps exactly what it declares.
 *   A hostNetwork pod without one gets its node's address(es).
 *   Any other pod without an address whose phase is Running or Unknown gets, with k counting
 *   0, 1, ... over the pods placed on its node in file order, 10.244.n.(10+k) and, when dual-
 *   stack, fd00:10:244:n::(10+k) -- the IPv6 group is written with the same digits as the
 *   IPv4 octet (read as hex), so 10.244.2.13 pairs with fd00:10:244:2::13. A k whose address
 *   some pod declares is skipped, so assigned addresses never collide with declared ones.
 *   Pending, Succeeded and Failed pods without an address stay without one (as on a cluster).
 *
 * Dual-stack
 *   A scenario is dual-stack when some pod declares an IPv6 address, or when a Namespace
 *   carries the annotation DUAL_STACK_ANNOTATION: "true".
 */
import type { PodInfo } from '../model';
import { canonicalIP } from '../validate/ip';

export const DEFAULT_NODE = 'node-1';
export const DUAL_STACK_ANNOTATION = 'palisade.dev/dual-stack';
/** At most 245 assigned pods per node (10.244.n.10 .. 10.244.n.254), 250 nodes. */
export const MAX_NODES = 250;
const FIRST_HOST = 10;
const LAST_HOST = 254;

export interface ScenarioNode {
  readonly name: string;
  /** 1-based, in order of first appearance. */
  readonly index: number;
  /** The node's own addresses (IPv4, then IPv6 when dual-stack): hostNetwork pods share them. */
  readonly addresses: readonly string[];
  readonly podCIDRs: readonly string[];
}

export interface AddressAssignment {
  readonly pods: readonly PodInfo[];
  readonly nodes: readonly ScenarioNode[];
  /** Problems that make the assignment impossible (too many nodes or pods on a node). */
  readonly errors: readonly string[];
}

export function nodeAddresses(index: number, dualStack: boolean): string[] {
  const v4 = `172.18.0.${index + 1}`;
  return dualStack ? [v4, canonicalIP(`fd00:172:18::${index + 1}`)!] : [v4];
}

function podCandidate(node: number, host: number, dualStack: boolean): string[] {
  const v4 = `10.244.${node}.${host}`;
  return dualStack ? [v4, canonicalIP(`fd00:10:244:${node}::${host}`)!] : [v4];
}

export function isDualStack(
  pods: readonly PodInfo[],
  namespaceAnnotations: readonly Record<string, string>[],
): boolean {
  return (
    pods.some((p) => p.ips.some((ip) => ip.includes(':'))) ||
    namespaceAnnotations.some((a) => a[DUAL_STACK_ANNOTATION] === 'true')
  );
}

/** Places pods on nodes and fills in missing addresses; the input is not modified. */
export function assignAddresses(pods: readonly PodInfo[], dualStack: boolean): AddressAssignment {
  const errors: string[] = [];
  const nodeIndex = new Map<string, number>();
  for (const p of pods) {
    const n = p.nodeName || DEFAULT_NODE;
    if (!nodeIndex.has(n)) nodeIndex.set(n, nodeIndex.size + 1);
  }
  if (nodeIndex.size > MAX_NODES) {
    errors.push(`too many nodes (${nodeIndex.size}): at most ${MAX_NODES} are supported`);
    return { pods, nodes: [], errors };
  }
  const declared = new Set<string>();
  for (const p of pods) for (const ip of p.ips) declared.add(ip);
  const nextHost = new Map<string, number>();
  const out: PodInfo[] = [];
  for (const p of pods) {
    const nodeName = p.nodeName || DEFAULT_NODE;
    const n = nodeIndex.get(nodeName)!;
    let ips = p.ips;
    if (ips.length === 0 && p.hostNetwork) {
      ips = nodeAddresses(n, dualStack);
    } else if (ips.length === 0 && (p.phase === 'Running' || p.phase === 'Unknown')) {
      let host = nextHost.get(nodeName) ?? FIRST_HOST;
      let candidate = podCandidate(n, host, dualStack);
      while (host <= LAST_HOST && candidate.some((ip) => declared.has(ip))) {
        host++;
        candidate = podCandidate(n, host, dualStack);
      }
      if (host > LAST_HOST) {
        errors.push(
          `node ${nodeName}: no free address left in 10.244.${n}.0/24 for pod ${p.namespace}/${p.name}`,
        );
      } else {
        ips = candidate;
        nextHost.set(nodeName, host + 1);
      }
    }
    out.push({ ...p, nodeName, ips });
  }
  const nodes: ScenarioNode[] = [...nodeIndex].map(([name, index]) => ({
    name,
    index,
    addresses: nodeAddresses(index, dualStack),
    podCIDRs: dualStack
      ? [`10.244.${index}.0/24`, canonicalIP(`fd00:10:244:${index}::`)! + '/64']
      : [`10.244.${index}.0/24`],
  }));
  return { pods: out, nodes, errors };
}
