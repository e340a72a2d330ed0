/**
 * Who takes part in probing, derived from a plan.
 * - A host is a network namespace with an endpoint process: every node, every pod that is not
 *   hostNetwork, every external host. Hosts have short ids (n1, p3, x1) used for control
 *   sockets and logs.
 * - A probe endpoint is a row/column of the matrix: every pod (a hostNetwork pod is served by
 *   its node's host) and every external host, with the addresses probes use.
 */
import type { SandboxNames } from './names';
import { compareKeys, type SandboxPlan } from './plan';

export interface Host {
  readonly id: string;
  readonly ns: string;
  /** For logs: "node a", "pod x/a", "external 203.0.113.10". */
  readonly role: string;
}

export interface ProbeEndpoint {
  /** Matrix label: the pod key, or the external host's address. */
  readonly label: string;
  readonly kind: 'pod' | 'external';
  readonly host: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
}

function indexOf<T>(list: readonly T[], item: T): number {
  return list.indexOf(item) + 1;
}

export function nodeHostId(plan: SandboxPlan, node: string): string {
  return `n${indexOf(
    plan.nodes.map((n) => n.name),
    node,
  )}`;
}

/** The hosts with an endpoint process of their own: nodes and external hosts (pods are served by their node's pod endpoint host). */
export function hosts(plan: SandboxPlan, names: SandboxNames): Host[] {
  return [
    ...plan.nodes.map((n): Host => ({
      id: nodeHostId(plan, n.name),
      ns: names.nodeNs(n.name),
      role: `node ${n.name}`,
    })),
    ...plan.externals.map((ip, i): Host => ({
      id: `x${i + 1}`,
      ns: names.externalNs(ip),
      role: `external ${ip}`,
    })),
  ];
}

/** A pod as the API server has it, reduced to what probing needs. */
export interface LivePod {
  readonly key: string;
  readonly uid: string;
  readonly node: string;
  readonly hostNetwork: boolean;
  readonly ipv4?: string;
  readonly ipv6?: string;
}

/** The host id of a live pod: its node's for a hostNetwork pod, else `pod:<uid>`. */
export function livePodHostId(plan: SandboxPlan, pod: LivePod): string {
  return pod.hostNetwork ? nodeHostId(plan, pod.node) : `pod:${pod.uid}`;
}

/** Pods sorted by namespace then name, then external hosts in plan order. */
export function probeEndpoints(plan: SandboxPlan, pods: readonly LivePod[]): ProbeEndpoint[] {
  const sorted = [...pods]
    .sort((a, b) => compareKeys(a.key, b.key))
    .map((p): ProbeEndpoint => ({
      label: p.key,
      kind: 'pod',
      host: livePodHostId(plan, p),
      ...(p.ipv4 ? { ipv4: p.ipv4 } : {}),
      ...(p.ipv6 ? { ipv6: p.ipv6 } : {}),
    }));
  const externals = plan.externals.map((ip, i): ProbeEndpoint => ({
    label: ip,
    kind: 'external',
    host: `x${i + 1}`,
    ...(ip.includes(':') ? { ipv6: ip } : { ipv4: ip }),
  }));
  return [...sorted, ...externals];
}

/**
 * The endpoints of the plan's own (scenario) pods, with the addresses the plan gives them (the
 * kubelets wire scenario pods with exactly those): for mapping the addresses a kernel reports
 * back to pods without asking the API server.
 */
export function planEndpoints(plan: SandboxPlan): ProbeEndpoint[] {
  const pods: LivePod[] = plan.pods.map((p) => ({
    key: p.key,
    uid: p.key,
    node: p.node,
    hostNetwork: p.hostNetwork,
    ...(p.ipv4 ? { ipv4: p.ipv4 } : {}),
    ...(p.ipv6 ? { ipv6: p.ipv6 } : {}),
  }));
  return probeEndpoints(plan, pods);
}
