/**
 * Deterministic addresses for scenario pods that do not declare one: the scheme `palisade
 * analyze` and the sandbox (real pods in network namespaces) share, so both see the same IPs.
 *
 * Nodes
 *   Declared v1 Node objects come first, indexed n = 1, 2, ... in file order; then every other
 *   distinct spec.nodeName of a pod, in order of first appearance (documents in file order).
 *   Pods without spec.nodeName run on DEFAULT_NODE ("node-1"), which takes its index where
 *   such a pod first appears (or where a pod or a Node names "node-1": it is the same node).
 *   Node n has the address 172.18.0.(n+1) (the kind/docker bridge range; .1 is the gateway) and,
 *   in a dual-stack scenario, fd00:172:18::(n+1). Its pod CIDR is 10.244.n.0/24 (and
 *   fd00:10:244:n::/64). A declared Node keeps what it declares instead: its InternalIP and
 *   ExternalIP addresses (the first of each family is the address its hostNetwork pods share;
 *   a family it declares none of gets the implicit address) and, per family, its spec.podCIDRs. An undeclared node is labelled
 *   kubernetes.io/hostname=<name>, as kubelet labels its Node; a declared one has its own labels.
 *
 * Pods
 *   A pod that declares any address (status.podIP/podIPs) keeps exactly what it declares.
 *   A hostNetwork pod without one gets its node's address(es).
 *   Any other pod without an address whose phase is Running or Unknown gets, with k counting
 *   0, 1, ... over the pods placed on its node in file order, 10.244.n.(10+k) and, when dual-
 *   stack, fd00:10:244:n::(10+k) -- the IPv6 group is written with the same digits as the
 *   IPv4 octet (read as hex), so 10.244.2.13 pairs with fd00:10:244:2::13; within a declared
 *   pod CIDR, its network address plus the same host part. A k whose address
 *   some pod declares is skipped, so assigned addresses never collide with declared ones.
 *   Pending, Succeeded and Failed pods without an address stay without one (as on a cluster).
 *
 * Dual-stack
 *   A scenario is dual-stack when some pod declares an IPv6 address, or when a Namespace
 *   carries the annotation DUAL_STACK_ANNOTATION: "true".
 */
import type { Labels, NodeInfo, PodInfo } from '../model';
import { canonicalIP, familyBits, formatIP, parseCIDR, parseIP, type IPFamily } from '../validate/ip';

export const DEFAULT_NODE = 'node-1';
/** The label kubelet puts on its Node; undeclared scenario nodes carry it. */
export const HOSTNAME_LABEL = 'kubernetes.io/hostname';
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
  /** The Node's labels (declared), or kubernetes.io/hostname=<name> (undeclared). */
  readonly labels: Labels;
  /** True when the scenario declares a v1 Node of this name. */
  readonly declared: boolean;
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

/** Host `host` of a pod CIDR ("10.244.1.0/24", 13 -> "10.244.1.13"; IPv6 reads the digits as hex). */
function hostIn(cidr: string, host: number): string {
  const c = parseCIDR(cidr)!;
  const value = c.family === 4 ? BigInt(host) : BigInt(parseInt(String(host), 16));
  return formatIP({ family: c.family, value: c.network + value });
}

/** The highest host number a pod CIDR holds (at most LAST_HOST). */
function lastHostIn(cidr: string): number {
  const c = parseCIDR(cidr)!;
  const size = 2n ** BigInt(familyBits(c.family) - c.prefix);
  let host = LAST_HOST;
  // IPv4 keeps the broadcast address free; IPv6 hosts are the digits read as hex.
  const value = (h: number) => (c.family === 4 ? BigInt(h) + 1n : BigInt(parseInt(String(h), 16)));
  while (host > 0 && value(host) >= size) host--;
  return host;
}

function implicitPodCIDR(index: number, family: IPFamily): string {
  return family === 4 ? `10.244.${index}.0/24` : canonicalIP(`fd00:10:244:${index}::`)! + '/64';
}

interface NodePlan {
  readonly name: string;
  readonly index: number;
  readonly declared?: NodeInfo;
  /** The pod CIDR pods get addresses from, per family the scenario uses. */
  readonly cidrs: readonly string[];
  readonly addresses: readonly string[];
}

function familyOf(ip: string): IPFamily | undefined {
  return parseIP(ip)?.family;
}

function planNode(name: string, index: number, dualStack: boolean, declared?: NodeInfo): NodePlan {
  const families: IPFamily[] = dualStack ? [4, 6] : [4];
  const cidrs = families.map(
    (f) => declared?.podCIDRs.find((c) => parseCIDR(c)?.family === f) ?? implicitPodCIDR(index, f),
  );
  // Declared addresses first (in their order); a family the scenario uses that the Node does
  // not declare gets the implicit address, so the sandbox can wire the node in every family.
  const implicit = nodeAddresses(index, dualStack);
  const given = declared?.addresses ?? [];
  const addresses = [...given, ...implicit.filter((ip) => !given.some((g) => familyOf(g) === familyOf(ip)))];
  return { name, index, declared, cidrs, addresses };
}

/** The first address of each family: what a hostNetwork pod of the node has. */
function hostAddresses(addresses: readonly string[]): string[] {
  const out: string[] = [];
  for (const f of [4, 6] as const) {
    const ip = addresses.find((a) => familyOf(a) === f);
    if (ip !== undefined) out.push(ip);
  }
  return out;
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

/**
 * Places pods on nodes and fills in missing addresses; the input is not modified. `declaredNodes`
 * are the scenario's v1 Node objects, in file order.
 */
export function assignAddresses(
  pods: readonly PodInfo[],
  dualStack: boolean,
  declaredNodes: readonly NodeInfo[] = [],
): AddressAssignment {
  const errors: string[] = [];
  const nodeIndex = new Map<string, number>();
  for (const n of declaredNodes) if (!nodeIndex.has(n.name)) nodeIndex.set(n.name, nodeIndex.size + 1);
  for (const p of pods) {
    const n = p.nodeName || DEFAULT_NODE;
    if (!nodeIndex.has(n)) nodeIndex.set(n, nodeIndex.size + 1);
  }
  if (nodeIndex.size > MAX_NODES) {
    errors.push(`too many nodes (${nodeIndex.size}): at most ${MAX_NODES} are supported`);
    return { pods, nodes: [], errors };
  }
  const declaredByName = new Map(declaredNodes.map((n) => [n.name, n]));
  const plans = new Map(
    [...nodeIndex].map(([name, index]) => [name, planNode(name, index, dualStack, declaredByName.get(name))]),
  );
  const declared = new Set<string>();
  for (const p of pods) for (const ip of p.ips) declared.add(ip);
  const nextHost = new Map<string, number>();
  const out: PodInfo[] = [];
  for (const p of pods) {
    const nodeName = p.nodeName || DEFAULT_NODE;
    const node = plans.get(nodeName)!;
    let ips = p.ips;
    if (ips.length === 0 && p.hostNetwork) {
      ips = hostAddresses(node.addresses);
    } else if (ips.length === 0 && (p.phase === 'Running' || p.phase === 'Unknown')) {
      const last = Math.min(...node.cidrs.map(lastHostIn));
      let host = nextHost.get(nodeName) ?? FIRST_HOST;
      const candidate = (h: number) => node.cidrs.map((c) => hostIn(c, h));
      while (host <= last && candidate(host).some((ip) => declared.has(ip))) host++;
      if (host > last) {
        errors.push(
          `node ${nodeName}: no free address left in ${node.cidrs.join(' and ')} for pod ${p.namespace}/${p.name}`,
        );
      } else {
        ips = candidate(host);
        nextHost.set(nodeName, host + 1);
      }
    }
    out.push({ ...p, nodeName, ips });
  }
  const nodes: ScenarioNode[] = [...plans.values()].map((n) => ({
    name: n.name,
    index: n.index,
    addresses: n.addresses,
    podCIDRs: n.declared && n.declared.podCIDRs.length > 0 ? n.declared.podCIDRs : n.cidrs,
    labels: n.declared ? n.declared.labels : { [HOSTNAME_LABEL]: n.name },
    declared: n.declared !== undefined,
  }));
  return { pods: out, nodes, errors };
}

/** A scenario node as the model's NodeInfo (what `nodes` peers match). */
export function nodeInfoOf(n: ScenarioNode): NodeInfo {
  return { name: n.name, labels: n.labels, addresses: n.addresses, podCIDRs: n.podCIDRs };
}
