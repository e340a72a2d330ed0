/**
 * Which cases can share one sandbox cluster, and the cluster each group needs. Pure.
 *
 * A sandbox cluster fixes what is wired: nodes, pods (name, node, addresses, hostNetwork) and
 * external hosts. Everything else a case sets (namespace and pod labels, named ports, the
 * policies) goes through the API server, so cases whose wiring is the same share a cluster,
 * as upstream's suite shares its 9 pods x/y/z × a/b/c. The 55 upstream-model cases form one
 * group; the two blog cases (4 pods of their own) another.
 *
 * Pods are spread over two nodes, so that every group has same-node and cross-node pairs:
 * the upstream-model scenarios place their pods on node-1 and node-2 already; a scenario
 * whose pods all sit on one node (the blog cases leave placement to the loader) gets them
 * dealt alternately to that node and a second one, in namespace/name order. Addresses stay
 * as the scenario gives them (the sandbox routes every pod address to its node), and analyze
 * runs on the spread scenario, so the comparison is exact either way.
 */
import { HOSTNAME_LABEL, nodeAddresses, type Scenario, type ScenarioNode } from '../../compiler/scenario';
import type { ConformanceCase } from '../cases';
import {
  clusterObjects,
  planFromScenario,
  type K8sObject,
  type PlanProbe,
  type SandboxPlan,
} from '../sandbox';

/** A case ready for a shared cluster. */
export interface PreparedCase {
  readonly case: ConformanceCase;
  /** The case's scenario, its pods spread over two nodes when they were on one. */
  readonly scenario: Scenario;
  /** What the API server must hold for this case: Namespaces, Pods, NetworkPolicies. */
  readonly objects: readonly K8sObject[];
}

/** Cases that share one sandbox cluster, and that cluster. */
export interface CaseGroup {
  /** A short name for test titles: the first case's name. */
  readonly name: string;
  readonly plan: SandboxPlan;
  readonly cases: readonly PreparedCase[];
}

function byKey(a: { namespace: string; name: string }, b: { namespace: string; name: string }): number {
  const ka = `${a.namespace}\0${a.name}`;
  const kb = `${b.namespace}\0${b.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** The scenario with its pods over at least two nodes (unchanged when they already are). */
export function spreadOverTwoNodes(s: Scenario): Scenario {
  const used = new Set(s.pods.filter((p) => p.nodeName !== '').map((p) => p.nodeName));
  if (used.size >= 2 || s.pods.length < 2) return s;
  const first = s.nodes.find((n) => used.has(n.name)) ?? s.nodes[0];
  if (first === undefined) return s;
  const names = new Set(s.nodes.map((n) => n.name));
  let secondName = 'node-2';
  for (let i = 2; names.has(secondName); i++) secondName = `node-${i}`;
  const index = Math.max(...s.nodes.map((n) => n.index)) + 1;
  const second: ScenarioNode = {
    name: secondName,
    index,
    addresses: nodeAddresses(index, s.dualStack),
    podCIDRs: [],
    labels: { [HOSTNAME_LABEL]: secondName },
    declared: false,
  };
  // hostNetwork pods carry their node's addresses: they stay where they are.
  const movable = s.pods.filter((p) => !p.hostNetwork && p.nodeName !== '').sort(byKey);
  const target = new Map(movable.map((p, i) => [p, i % 2 === 0 ? first.name : second.name]));
  return {
    ...s,
    pods: s.pods.map((p) => (target.has(p) ? { ...p, nodeName: target.get(p)! } : p)),
    nodes: [...s.nodes, second],
  };
}

/** What a sandbox cluster fixes: nodes and the wiring of pods. Equal shapes share a cluster. */
export function wiringShape(s: Scenario): string {
  return JSON.stringify({
    nodes: s.nodes.map((n) => [n.name, n.addresses]).sort(),
    pods: s.pods
      .map((p) => [p.namespace, p.name, p.nodeName, p.ips, p.hostNetwork, p.phase])
      .sort((a, b) => (String(a) < String(b) ? -1 : 1)),
  });
}

function unionProbes(cases: readonly ConformanceCase[]): PlanProbe[] {
  const out = new Map<string, PlanProbe>();
  for (const c of cases) for (const p of c.probes) out.set(`${p.port}/${p.protocol}`, p);
  return [...out.values()];
}

/**
 * Groups cases by wiring, in case order (a group is placed where its first case is). Each
 * group's plan has the union of its cases' external hosts and probes: every case of the group
 * is probed with all of the group's external hosts (the extra cells are checked against
 * analyze; the case's own expectation covers its own endpoints).
 */
export function groupCases(cases: readonly ConformanceCase[]): CaseGroup[] {
  const groups = new Map<string, { name: string; cases: PreparedCase[] }>();
  for (const c of cases) {
    const scenario = spreadOverTwoNodes(c.scenario);
    const shape = wiringShape(scenario);
    if (!groups.has(shape)) groups.set(shape, { name: c.name, cases: [] });
    groups.get(shape)!.cases.push({ case: c, scenario, objects: clusterObjects(scenario) });
  }
  return [...groups.values()].map((g) => {
    const externals = [...new Set(g.cases.flatMap((pc) => pc.case.externals))];
    const { plan, skipped } = planFromScenario(
      g.cases[0].scenario,
      externals,
      unionProbes(g.cases.map((pc) => pc.case)),
    );
    if (skipped.length > 0)
      throw new Error(
        `group ${g.name}: pods ${skipped.join(', ')} have no address or node; they cannot be wired`,
      );
    return { name: g.name, plan, cases: g.cases };
  });
}

/** Ordered pod pairs of a plan by placement: both must occur for a group to be meaningful. */
export function pairPlacement(plan: SandboxPlan): { sameNode: number; crossNode: number } {
  let sameNode = 0;
  let crossNode = 0;
  for (const a of plan.pods) {
    for (const b of plan.pods) {
      if (a === b) continue;
      if (a.node === b.node) sameNode++;
      else crossNode++;
    }
  }
  return { sameNode, crossNode };
}
