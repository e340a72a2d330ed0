/**
 * Who dropped it: for every denied cell of a probed matrix, the policy and rule the kernel reported
 * (the node agents' verdict events, /v1/verdicts) must be the ones `explain` names (the compiler's
 * verdict() on the case's scenario). Backend-neutral: it reads only what the agents serve.
 *
 * Which direction reports a drop: a connection is evaluated at its source's egress first (on the
 * source's node) and, if that lets it through, at its destination's ingress (on the destination's
 * node), so the kernel reports the egress decision when egress denies, else the ingress one. What
 * identifies the decision: a ClusterNetworkPolicy rule (tier, policy, rule index and name), or
 * the NetworkPolicy tier's drop (the policies that isolate the pod, sorted).
 *
 * A cell passes when at least one denied event has its addresses (either family), protocol and
 * port, and every such event names the expected direction and decision. A cell with no event is a
 * failure too: the drop went unreported (the agents of a conformance run get a rate limit no
 * probe run reaches, so nothing is lost to it).
 */
import { verdict, type DirectionVerdict } from '../../compiler';
import type { Scenario } from '../../compiler/scenario';
import { analysisEndpoints, compileScenario } from '../../agent/cli/analysis';
import type { VerdictEvent } from '../../agent/daemon/verdicts/event';
import type { ReachabilityMatrix } from '../sandbox';
import type { ProbeEndpoint } from '../sandbox/endpoints';
import { deniedCells } from '../sandbox/verdicts';

/** What identifies a decision, as text both sides are rendered to. */
export function decisionOfVerdict(d: DirectionVerdict): string {
  if ((d.decidedBy === 'admin' || d.decidedBy === 'baseline') && d.clusterRule) {
    const r = d.clusterRule;
    return `${d.direction} ${d.decidedBy} ClusterNetworkPolicy ${r.policy} rule ${r.rule} "${r.ruleName}"`;
  }
  if (d.decidedBy === 'networkpolicy')
    return `${d.direction} networkpolicy isolated by ${[...d.isolatingPolicies].sort().join(',')}`;
  return `${d.direction} ${d.decidedBy}`;
}

export function decisionOfEvent(e: VerdictEvent): string {
  if (!e.known) return `${e.direction} ${e.tier} (log point unknown to the agent: ${e.point})`;
  if (e.cause === 'rule' && e.policy && e.rule)
    return `${e.direction} ${e.tier} ${e.policy.kind} ${e.policy.key} rule ${e.rule.index} "${e.rule.name}"`;
  if (e.cause === 'isolation')
    return `${e.direction} ${e.tier} isolated by ${[...(e.policies ?? [])].sort().join(',')}`;
  return `${e.direction} ${e.tier} (${e.cause})`;
}

export interface AttributionInput {
  readonly scenario: Scenario;
  readonly matrix: ReachabilityMatrix;
  /** The probed endpoints with their addresses (sandbox/endpoints.ts probeEndpoints). */
  readonly endpoints: readonly ProbeEndpoint[];
  readonly externals: readonly string[];
  /** Every verdict event the node agents logged while the matrix was probed. */
  readonly events: readonly VerdictEvent[];
}

export interface AttributionResult {
  /** Denied cells checked. */
  readonly deniedCells: number;
  /** One line per denied cell whose report is missing or names another decision. */
  readonly mismatches: readonly string[];
}

export function checkAttribution(input: AttributionInput): AttributionResult {
  const compiler = compileScenario(input.scenario);
  const named = new Map(analysisEndpoints(input.scenario, input.externals).map((e) => [e.name, e.endpoint]));
  const mismatches: string[] = [];
  const cells = deniedCells(input.matrix, input.endpoints, input.events);
  for (const { probe, from, to, events } of cells) {
    const cell = `${probe.port}/${probe.protocol} ${from} -> ${to}`;
    const src = named.get(from);
    const dst = named.get(to);
    if (!src || !dst) {
      mismatches.push(`${cell}: not an endpoint of the scenario`);
      continue;
    }
    const v = verdict(compiler, src, dst, probe);
    // An allowed verdict: the matrix check reports this cell; there is no deciding policy.
    if (v.allowed) continue;
    const want = decisionOfVerdict(v.egress.allowed ? v.ingress : v.egress);
    if (events.length === 0) {
      mismatches.push(`${cell}: no denied event reported; explain: ${want}`);
      continue;
    }
    const got = [...new Set(events.map(decisionOfEvent))];
    if (got.length !== 1 || got[0] !== want)
      mismatches.push(`${cell}: kernel reported ${got.join(' | ')}; explain: ${want}`);
  }
  return { deniedCells: cells.length, mismatches };
}
