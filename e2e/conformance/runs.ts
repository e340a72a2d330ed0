/**
 * Which backend runs the conformance suite in which topology. Each run costs a sandbox per case
 * group and about five minutes on CI's 2-core machine, and CI's whole budget is 30 minutes, so
 * CI runs three of the four: the nftables backend in both topologies and iptables in the routed
 * one (iptables keeps its bridged traffic test in dataplane/traffic.kernel.test.ts, and ran the
 * whole suite in both topologies for as long as it was the only backend).
 *
 * PALISADE_CONFORMANCE_RUNS chooses others: `all` (every backend in every topology), or a list
 * such as `iptables/bridge,nftables/routed`.
 */
import { TOPOLOGIES, type Topology } from '../sandbox';

export const BACKENDS = ['iptables', 'nftables'] as const;
export type Backend = (typeof BACKENDS)[number];

export interface ConformanceRun {
  readonly backend: Backend;
  readonly topology: Topology;
}

export const CI_RUNS: readonly ConformanceRun[] = [
  { backend: 'nftables', topology: 'routed' },
  { backend: 'nftables', topology: 'bridge' },
  { backend: 'iptables', topology: 'routed' },
];

export const ALL_RUNS: readonly ConformanceRun[] = BACKENDS.flatMap((backend) =>
  TOPOLOGIES.map((topology) => ({ backend, topology })),
);

/** The runs `spec` names (PALISADE_CONFORMANCE_RUNS); CI's when unset or empty. */
export function conformanceRuns(spec: string | undefined): ConformanceRun[] {
  const text = (spec ?? '').trim();
  if (text === '') return [...CI_RUNS];
  if (text === 'all') return [...ALL_RUNS];
  const runs: ConformanceRun[] = [];
  for (const item of text.split(',').map((s) => s.trim())) {
    const [backend, topology, extra] = item.split('/');
    const run = ALL_RUNS.find((r) => r.backend === backend && r.topology === topology);
    if (!run || extra !== undefined) {
      throw new Error(
        `PALISADE_CONFORMANCE_RUNS: "${item}" is not BACKEND/TOPOLOGY (${BACKENDS.join('|')}/${TOPOLOGIES.join('|')}) or "all"`,
      );
    }
    if (!runs.includes(run)) runs.push(run);
  }
  return runs;
}
