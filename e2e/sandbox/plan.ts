/**
 * SandboxPlan: the simulated cluster `palisade sandbox` builds, as plain data.
 *
 * What it models: nodes (one network namespace each, with the node's own addresses), pods
 * (one namespace each, wired to their node; hostNetwork pods live in their node's namespace
 * and share its addresses), external hosts (one namespace each, one address) and the probes
 * (port/protocol) every endpoint serves and every ordered pair of endpoints is tested on.
 *
 * How it is made: `planFromPods` takes model pods (as the scenario loader returns them, with
 * addresses assigned) plus node addresses, externals and probes; `validatePlan` reports every
 * problem at once. Everything downstream (names, topology, probing, matrix) works from a plan
 * alone, so the sandbox does not depend on how a scenario was written.
 *
 * Promise: JSON-serialisable (it is stored in the sandbox state file); pods sorted by
 * namespace then name, nodes by name; addresses in canonical text form.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { ObjectKey, PodInfo, Protocol } from '../../compiler/model';
import type { Scenario } from '../../compiler/scenario';

export type Topology = 'routed' | 'bridge';
export const TOPOLOGIES: readonly Topology[] = ['routed', 'bridge'];

export interface PlanNode {
  readonly name: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
  /** Where pods created on this node get their addresses; default: see nodePodCIDRs. */
  readonly podCIDRs?: readonly string[];
}

/** True when some endpoint of the plan has an IPv6 address: pods then get both families. */
export function planUsesIPv6(plan: SandboxPlan): boolean {
  return (
    plan.pods.some((p) => p.ipv6) ||
    plan.nodes.some((n) => n.ipv6) ||
    plan.externals.some((ip) => familyOf(ip) === 6)
  );
}

/**
 * A node's pod CIDRs: as the plan says, else those the scenario loader gives the node-th node
 * (10.244.<n>.0/24, and fd00:10:244:<n>::/64 when the plan uses IPv6), n counting plan nodes from 1.
 */
export function nodePodCIDRs(plan: SandboxPlan, node: string): string[] {
  const i = plan.nodes.findIndex((n) => n.name === node);
  const given = plan.nodes[i]?.podCIDRs;
  if (given && given.length > 0) return [...given];
  const n = i + 1;
  return planUsesIPv6(plan) ? [`10.244.${n}.0/24`, `fd00:10:244:${n}::/64`] : [`10.244.${n}.0/24`];
}

export interface PlanPod {
  /** "namespace/name". */
  readonly key: ObjectKey;
  readonly node: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
  /** Runs in the node's namespace; its addresses are the node's. */
  readonly hostNetwork: boolean;
}

export interface PlanProbe {
  readonly port: number;
  readonly protocol: Protocol;
}

export interface SandboxPlan {
  readonly nodes: readonly PlanNode[];
  readonly pods: readonly PlanPod[];
  /** Addresses of hosts outside the cluster (one namespace each). */
  readonly externals: readonly string[];
  readonly probes: readonly PlanProbe[];
}

export type Family = 4 | 6;

export function familyOf(ip: string): Family | undefined {
  if (isIPv4(ip)) return 4;
  if (isIPv6(ip)) return 6;
  return undefined;
}

export function addressOf(e: { ipv4?: string; ipv6?: string }, family: Family): string | undefined {
  return family === 4 ? e.ipv4 : e.ipv6;
}

/** "80/TCP" */
export function probeLabel(p: PlanProbe): string {
  return `${p.port}/${p.protocol}`;
}

/** Parses "80", "80/TCP", "53/udp", "7/SCTP"; a bare port means TCP. */
export function parseProbe(text: string): PlanProbe | undefined {
  const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[1]);
  if (port < 1 || port > 65535) return undefined;
  return { port, protocol: (m[2] ?? 'TCP').toUpperCase() as Protocol };
}

export function compareKeys(a: ObjectKey, b: ObjectKey): number {
  const [an, ap] = splitKey(a);
  const [bn, bp] = splitKey(b);
  return an < bn ? -1 : an > bn ? 1 : ap < bp ? -1 : ap > bp ? 1 : 0;
}

function splitKey(k: ObjectKey): [string, string] {
  const i = k.indexOf('/');
  return [k.slice(0, i), k.slice(i + 1)];
}

function byFamily(ips: readonly string[]): { ipv4?: string; ipv6?: string } {
  const v4 = ips.find((ip) => familyOf(ip) === 4);
  const v6 = ips.find((ip) => familyOf(ip) === 6);
  return { ...(v4 ? { ipv4: v4 } : {}), ...(v6 ? { ipv6: v6 } : {}) };
}

export interface NodeAddresses {
  readonly name: string;
  readonly ips: readonly string[];
  readonly podCIDRs?: readonly string[];
}

export interface PlanInput {
  readonly pods: readonly PodInfo[];
  /** Every node a pod runs on, with its addresses (IPv4 and/or IPv6). */
  readonly nodes: readonly NodeAddresses[];
  readonly externals: readonly string[];
  readonly probes: readonly PlanProbe[];
}

/**
 * Pods that cannot take part (not scheduled, no address, terminated) are left out and named
 * in `skipped`, since there is nothing to wire or probe for them.
 */
export function planFromPods(input: PlanInput): { plan: SandboxPlan; skipped: ObjectKey[] } {
  const skipped: ObjectKey[] = [];
  const pods: PlanPod[] = [];
  for (const p of input.pods) {
    const key = `${p.namespace}/${p.name}`;
    const live = p.phase !== 'Succeeded' && p.phase !== 'Failed';
    if (!live || p.nodeName === '' || p.ips.length === 0) {
      skipped.push(key);
      continue;
    }
    pods.push({ key, node: p.nodeName, hostNetwork: p.hostNetwork, ...byFamily(p.ips) });
  }
  pods.sort((a, b) => compareKeys(a.key, b.key));
  const nodes = input.nodes
    .map((n): PlanNode => ({
      name: n.name,
      ...byFamily(n.ips),
      ...(n.podCIDRs && n.podCIDRs.length > 0 ? { podCIDRs: [...n.podCIDRs] } : {}),
    }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const probes = dedupeProbes(input.probes);
  return { plan: { nodes, pods, externals: [...input.externals], probes }, skipped };
}

/** The plan of a loaded scenario: its pods and nodes with the addresses the loader assigned. */
export function planFromScenario(
  scenario: Pick<Scenario, 'pods' | 'nodes'>,
  externals: readonly string[],
  probes: readonly PlanProbe[],
): { plan: SandboxPlan; skipped: ObjectKey[] } {
  return planFromPods({
    pods: scenario.pods,
    nodes: scenario.nodes.map((n) => ({ name: n.name, ips: n.addresses, podCIDRs: n.podCIDRs })),
    externals: [...new Set(externals)],
    probes,
  });
}

export function dedupeProbes(probes: readonly PlanProbe[]): PlanProbe[] {
  const seen = new Set<string>();
  const out: PlanProbe[] = [];
  for (const p of probes) {
    if (seen.has(probeLabel(p))) continue;
    seen.add(probeLabel(p));
    out.push({ port: p.port, protocol: p.protocol });
  }
  return out;
}

/** Every problem with the plan, one line each; empty when the plan can be built. */
export function validatePlan(plan: SandboxPlan): string[] {
  const problems: string[] = [];
  const nodes = new Map<string, PlanNode>();
  const owner = new Map<string, string>();
  const claim = (ip: string | undefined, family: Family, who: string): void => {
    if (ip === undefined) return;
    if (familyOf(ip) !== family) problems.push(`${who}: ${ip} is not an IPv${family} address`);
    const prev = owner.get(ip);
    if (prev !== undefined && prev !== who) problems.push(`${who}: address ${ip} is also used by ${prev}`);
    owner.set(ip, who);
  };
  if (plan.nodes.length === 0) problems.push('the plan has no nodes');
  for (const n of plan.nodes) {
    if (nodes.has(n.name)) problems.push(`node ${n.name} is listed twice`);
    nodes.set(n.name, n);
    if (!n.ipv4 && !n.ipv6) problems.push(`node ${n.name} has no address`);
    claim(n.ipv4, 4, `node ${n.name}`);
    claim(n.ipv6, 6, `node ${n.name}`);
  }
  const keys = new Set<string>();
  for (const p of plan.pods) {
    if (!/^[^/]+\/[^/]+$/.test(p.key)) problems.push(`pod ${p.key}: key must be namespace/name`);
    if (keys.has(p.key)) problems.push(`pod ${p.key} is listed twice`);
    keys.add(p.key);
    const node = nodes.get(p.node);
    if (!node) {
      problems.push(`pod ${p.key}: node ${p.node} is not in the plan`);
      continue;
    }
    if (!p.ipv4 && !p.ipv6) problems.push(`pod ${p.key} has no address`);
    if (p.hostNetwork) {
      for (const f of [4, 6] as const) {
        const ip = addressOf(p, f);
        if (ip !== undefined && ip !== addressOf(node, f)) {
          problems.push(
            `pod ${p.key}: hostNetwork pod address ${ip} is not node ${node.name}'s IPv${f} address`,
          );
        }
      }
    } else {
      claim(p.ipv4, 4, `pod ${p.key}`);
      claim(p.ipv6, 6, `pod ${p.key}`);
    }
  }
  for (const ip of plan.externals) {
    const f = familyOf(ip);
    if (f === undefined) problems.push(`external ${ip} is not an IP address`);
    else claim(ip, f, `external ${ip}`);
  }
  if (new Set(plan.externals).size !== plan.externals.length)
    problems.push('an external address is listed twice');
  // Nodes route IPv4 pod traffic via each other's IPv4 address (IPv6 goes via link-local).
  const usesV4 = plan.pods.some((p) => p.ipv4) || plan.externals.some((ip) => familyOf(ip) === 4);
  if (usesV4)
    for (const n of plan.nodes)
      if (!n.ipv4) problems.push(`node ${n.name} needs an IPv4 address: the plan has IPv4 endpoints`);
  if (plan.probes.length === 0) problems.push('the plan has no probes');
  for (const p of plan.probes) {
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535)
      problems.push(`probe port ${p.port} is out of range`);
    if (p.protocol !== 'TCP' && p.protocol !== 'UDP' && p.protocol !== 'SCTP') {
      problems.push(`probe protocol ${String(p.protocol)} is not TCP, UDP or SCTP`);
    }
  }
  return problems;
}
