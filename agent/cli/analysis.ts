/**
 * The reachability matrix of a scenario: what `palisade analyze` prints and what the
 * conformance cases (e2e/cases) compare against.
 *
 * Semantics: a cell says whether policy (the ClusterNetworkPolicy tiers and NetworkPolicy)
 * allows a connection from one endpoint to another on a port and protocol, as decided by the
 * compiler's verdict(): the source's egress and the destination's ingress must both allow it. It is pure policy reachability: whether
 * the destination pod declares or listens on that port plays no part (the sandbox serves
 * every probed port on every pod, so real packets agree with the matrix).
 *
 * Endpoints: every live pod (has an address, not Succeeded/Failed), sorted by namespace then
 * name, then each --external address in the order given. Every ordered pair of distinct
 * endpoints has a cell, except external -> external: no policy of the cluster decides
 * traffic between two outside hosts, so such pairs are omitted rather than invented.
 */
import {
  compileSnapshot,
  objectKey,
  podIsLive,
  verdict,
  type Endpoint,
  type IncrementalCompiler,
  type Probe,
  type Protocol,
} from '../../compiler';
import { scenarioSnapshot, type Scenario } from '../../compiler/scenario';

export interface ProbeMatrix {
  readonly port: number;
  readonly protocol: Protocol;
  /** allowed[from][to] */
  readonly allowed: Record<string, Record<string, boolean>>;
  /**
   * Present when the scenario has audit-mode policies (palisade.io/enforcement: audit): the
   * matrix if they were enforced too. `allowed` is what is enforced.
   */
  readonly audited?: Record<string, Record<string, boolean>>;
}

/** The JSON printed by `palisade analyze -o json`. */
export interface AnalyzeResult {
  /** Endpoint names: pod keys ("ns/name"), then external addresses. */
  readonly pods: readonly string[];
  readonly probes: readonly ProbeMatrix[];
}

export interface NamedEndpoint {
  readonly name: string;
  readonly endpoint: Endpoint;
  readonly external: boolean;
}

export function analysisEndpoints(s: Scenario, externals: readonly string[]): NamedEndpoint[] {
  const pods = s.pods
    .filter(podIsLive)
    .slice()
    .sort((a, b) =>
      a.namespace < b.namespace
        ? -1
        : a.namespace > b.namespace
          ? 1
          : a.name < b.name
            ? -1
            : a.name > b.name
              ? 1
              : 0,
    )
    .map((p) => ({
      name: objectKey(p),
      endpoint: { kind: 'pod', key: objectKey(p) } as Endpoint,
      external: false,
    }));
  const ext = [...new Set(externals)].map((ip) => ({
    name: ip,
    endpoint: { kind: 'ip', ip } as Endpoint,
    external: true,
  }));
  return [...pods, ...ext];
}

export function compileScenario(s: Scenario): IncrementalCompiler {
  return compileSnapshot(scenarioSnapshot(s));
}

export function analyzeScenario(
  s: Scenario,
  probes: readonly Probe[],
  externals: readonly string[] = [],
): AnalyzeResult {
  const compiler = compileScenario(s);
  const endpoints = analysisEndpoints(s, externals);
  const hasAudit = s.policies.some((p) => p.audit) || s.clusterPolicies.some((p) => p.audit);
  const matrices: ProbeMatrix[] = probes.map((probe) => {
    const allowed: Record<string, Record<string, boolean>> = {};
    const audited: Record<string, Record<string, boolean>> = {};
    for (const from of endpoints) {
      const row: Record<string, boolean> = {};
      const auditRow: Record<string, boolean> = {};
      for (const to of endpoints) {
        if (from === to || (from.external && to.external)) continue;
        const v = verdict(compiler, from.endpoint, to.endpoint, probe);
        row[to.name] = v.allowed;
        auditRow[to.name] = (v.audited ?? v).allowed;
      }
      allowed[from.name] = row;
      audited[from.name] = auditRow;
    }
    return { port: probe.port, protocol: probe.protocol, allowed, ...(hasAudit ? { audited } : {}) };
  });
  return { pods: endpoints.map((e) => e.name), probes: matrices };
}
