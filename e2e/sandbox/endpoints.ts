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

export function hosts(plan: SandboxPlan, names: SandboxNames): Host[] {
  return [
    ...plan.nodes.map((n): Host => ({
      id: nodeHostId(plan, n.name),
      ns: names.nodeNs(n.name),
      role: `node ${n.name}`,
    })),
    ...plan.pods.flatMap((p, i): Host[] =>
      p.hostNetwork ? [] : [{ id: `p${i + 1}`, ns: names.podNs(p.key), role: `pod ${p.key}` }],
    ),
    ...plan.externals.map((ip, i): Host => ({
      id: `x${i + 1}`,
      ns: names.externalNs(ip),
      role: `external ${ip}`,
    })),
  ];
}

/** Pods sorted by namespace then name, then external hosts in plan order. */
export function probeEndpoints(plan: SandboxPlan): ProbeEndpoint[] {
  const pods = plan.pods
    .map((p, i) => ({ p, i }))
    .sort((a, b) => compareKeys(a.p.key, b.p.key))
    .map(({ p, i }): ProbeEndpoint => ({
      label: p.key,
      kind: 'pod',
      host: p.hostNetwork ? nodeHostId(plan, p.node) : `p${i + 1}`,
      ...(p.ipv4 ? { ipv4: p.ipv4 } : {}),
      ...(p.ipv6 ? { ipv6: p.ipv6 } : {}),
    }));
  const externals = plan.externals.map((ip, i): ProbeEndpoint => ({
    label: ip,
    kind: 'external',
    host: `x${i + 1}`,
    ...(ip.includes(':') ? { ipv6: ip } : { ipv4: ip }),
  }));
  return [...pods, ...externals];
}
