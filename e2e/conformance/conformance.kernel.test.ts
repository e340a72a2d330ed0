/**
 * The conformance suite with real packets: every case of e2e/cases, on clusters of two nodes
 * with one `palisade agent` each, for each run of runs.ts (CI: nftables in both topologies,
 * iptables routed; PALISADE_CONFORMANCE_RUNS=all for all four). Per run, one sandbox per group
 * of cases with the same wiring (the 9 upstream pods; the blog cases' 4 pods); per case, the
 * API server is moved to the case's labels, named ports and policies, every agent is waited
 * for until it enforces exactly that, and every ordered pair is probed on the case's probes.
 * The probed matrix must equal the case's expected.yaml AND `palisade analyze` of the case,
 * cell for cell; a failure prints the disagreeing cells and the truth tables. For every denied
 * cell, the policy and rule the agents' kernel reported dropping it (their verdict logs) must be
 * the ones explain names (attribution.ts).
 *
 *   npm run build && NODE_OPTIONS=--experimental-vm-modules npx jest e2e/conformance/conformance.kernel
 *   PALISADE_CONFORMANCE_RUNS=iptables/bridge NODE_OPTIONS=… npx jest e2e/conformance/conformance.kernel  (`all`: every run)
 */
import { analyzeScenario } from '../../agent/cli/analysis';
import { listCases, loadCase } from '../cases';
import type { K8sObject, Topology } from '../sandbox';
import { describeKernel, endpointScript, leftovers } from '../sandbox/testutil/kernel';
import { planEndpoints } from '../sandbox/endpoints';
import { checkAttribution, type AttributionResult } from './attribution';
import { groupCases, pairPlacement, type CaseGroup, type PreparedCase } from './case-groups';
import { POLICY_KINDS, type ObjectKind } from './cluster-writes';
import { describeDisagreements, disagreements, restrictMatrix } from './report';
import { SharedCluster } from './shared-cluster';
import { conformanceRuns } from './runs';
import { requireDist } from './testutil/dist';

jest.setTimeout(120_000);

const RUNS = conformanceRuns(process.env.PALISADE_CONFORMANCE_RUNS);

const GROUPS = groupCases(listCases().map(loadCase));

/** The group's namespaces, nodes, pods (and CRDs) as its first case has them, and no policy. */
function initialObjects(group: CaseGroup): K8sObject[] {
  return group.cases[0].objects.filter((o) => !POLICY_KINDS.includes(o.kind as ObjectKind));
}

interface CaseTiming {
  readonly name: string;
  readonly writes: number;
  readonly enforceMs: number;
  readonly probeMs: number;
  readonly trials: number;
  readonly failedTrials: number;
  readonly serialWaitMs: number;
  readonly deniedCells: number;
}

function summary(
  backend: string,
  topology: Topology,
  group: string,
  buildMs: number,
  timings: readonly CaseTiming[],
): string {
  const total = (f: (t: CaseTiming) => number): number => timings.reduce((s, t) => s + f(t), 0);
  const slowest = [...timings].sort((a, b) => b.probeMs - a.probeMs)[0];
  const lines = [
    `conformance ${backend} ${topology}, cluster of ${group}: ${timings.length} cases, ${total((t) => t.trials)} trials, ` +
      `build ${buildMs} ms, writes ${total((t) => t.writes)}, enforcement waits ${total((t) => t.enforceMs)} ms, ` +
      `probing ${total((t) => t.probeMs)} ms`,
    `  ${total((t) => t.failedTrials)} trials did not get through; their timeouts add up to ` +
      `${total((t) => t.serialWaitMs)} ms, waited in parallel per case`,
    `  ${total((t) => t.deniedCells)} denied cells, each attributed by the kernel to explain's policy and rule`,
  ];
  if (slowest)
    lines.push(
      `  slowest probe: ${slowest.name} ${slowest.probeMs} ms for ${slowest.trials} trials, ` +
        `${slowest.failedTrials} of them waiting out timeouts that add up to ${slowest.serialWaitMs} ms`,
    );
  return `${lines.join('\n')}\n`;
}

describeKernel('conformance: every case of e2e/cases with real packets', () => {
  let script: string;
  beforeAll(() => {
    requireDist();
    script = endpointScript();
  });

  test('the cases form few clusters, each with same-node and cross-node pairs', () => {
    expect(GROUPS.reduce((n, g) => n + g.cases.length, 0)).toBeGreaterThanOrEqual(50);
    // Each group costs a sandbox per topology: a case with new wiring should reuse the 9 pods
    // (NetworkPolicy) or the houses (ClusterNetworkPolicy).
    expect(GROUPS.length).toBeLessThanOrEqual(3);
    for (const g of GROUPS) {
      const placement = pairPlacement(g.plan);
      expect(g.plan.nodes.length).toBeGreaterThanOrEqual(2);
      expect(placement.sameNode).toBeGreaterThan(0);
      expect(placement.crossNode).toBeGreaterThan(0);
    }
  });

  describe.each(RUNS.map((r) => [r.backend, r.topology] as const))('%s, %s topology', (backend, topology) => {
    describe.each(GROUPS.map((g) => [g.name, g]))('cluster of %s', (groupName, group) => {
      let cluster: SharedCluster | undefined;
      let buildMs = 0;
      const timings: CaseTiming[] = [];

      beforeAll(async () => {
        const t0 = Date.now();
        cluster = await SharedCluster.start(group.plan, initialObjects(group), {
          topology,
          backend,
          endpointScript: script,
        });
        buildMs = Date.now() - t0;
      });

      afterAll(async () => {
        if (!cluster) return;
        const id = cluster.sandbox.id;
        await cluster.stop();
        process.stdout.write(summary(backend, topology, groupName, buildMs, timings));
        expect(await leftovers(id)).toEqual({ namespaces: [], links: [], processes: [] });
      });

      test.each(group.cases.map((pc) => [pc.case.name, pc]))('%s', async (name: string, pc: PreparedCase) => {
        if (!cluster) throw new Error('the cluster did not start');
        const move = await cluster.moveTo(pc.objects);
        // Drops the kernel logged before this case's probes began (a previous case's packets whose
        // records reached the agent late) are not this case's: only packets logged since count.
        const probedFrom = Date.now() - 1;
        const { report, probeMs, failedTrials, serialWaitMs, events, cursor } = await cluster.probe(
          pc.case.probes,
        );

        expect(report.unprobeable).toEqual([]);
        expect(report.disagreements).toEqual([]);
        const analyzed = analyzeScenario(pc.scenario, pc.case.probes, cluster.plan.externals);
        expect(report.matrix.pods).toEqual(analyzed.pods);
        const cells = disagreements(report.matrix, analyzed, pc.case.expected, report.failures);
        if (cells.length > 0) {
          throw new Error(
            describeDisagreements(
              `${name} (${backend}, ${topology}; ${pc.case.upstream.join('; ')})`,
              cells,
              pc.case.expected,
              restrictMatrix(report.matrix, pc.case.expected.pods),
            ),
          );
        }

        const attribution = (seen: typeof events): AttributionResult =>
          checkAttribution({
            scenario: pc.scenario,
            matrix: report.matrix,
            endpoints: planEndpoints(cluster!.plan),
            externals: cluster!.plan.externals,
            events: seen.filter((e) => Date.parse(e.time) >= probedFrom),
          });
        let attributed = attribution(events);
        if (attributed.mismatches.length > 0) {
          // A record still on its way from a node's tcpdump to its agent: look once more.
          await new Promise((r) => setTimeout(r, 1000));
          attributed = attribution(await cluster.verdictsSince(cursor));
        }
        // Every denied cell's reports must all name explain's decision: the log rules send each
        // record at once (LOG_QUEUE_THRESHOLD), so no record of an earlier case arrives late.
        expect(attributed.mismatches).toEqual([]);
        timings.push({
          name,
          writes: move.writes.length,
          enforceMs: move.enforcement.waitedMs,
          probeMs,
          trials: report.trials,
          failedTrials,
          serialWaitMs,
          deniedCells: attributed.deniedCells,
        });
      });
    });
  });
});
