/**
 * The soak in CI: two minutes of a live sandbox under churn (pods, labels, namespace labels, a
 * NetworkPolicy, a ClusterNetworkPolicy) and every fault kind at least once (agent SIGKILL, a
 * chain flushed and a set member deleted by hand, watches expired, the API server restarted, an
 * agent's kernel tools failing, the xtables lock held), real packets against analyze all along,
 * judged with the measured event-to-enforcement window. No probe may disagree outside the
 * transition window, in either direction, and every fault must be recovered from.
 *
 *   npm run build && NODE_OPTIONS=--experimental-vm-modules npx jest e2e/soak/soak.kernel
 */
import { describeKernel, endpointScript } from '../sandbox/testutil/kernel';
import { FAULT_KINDS } from './faults';
import { runSoak } from './soak';

jest.setTimeout(300_000);

describeKernel('the soak, two minutes', () => {
  test('churn and faults, and no packet disagrees with analyze outside the window', async () => {
    const report = await runSoak({
      minutes: 2,
      topology: 'routed',
      endpointScript: endpointScript(),
      // Seven kinds in turn, the first at 5 s: each at least once, with slots to spare even when a
      // loaded machine makes recoveries (which delay the next fault) take many seconds.
      faultEveryMs: 10_000,
      log: (line) => process.stdout.write(`${line}\n`),
    });
    process.stdout.write(`${JSON.stringify(report)}\n`);
    expect(report.outsideWindow).toEqual({ deniedDelivered: 0, allowedDropped: 0, examples: [] });
    expect(report.rounds).toBeGreaterThan(20);
    expect(report.probes).toBeGreaterThan(500);
    expect(report.window.mode).toBe('measured');
    expect(report.eventToEnforcement.samples).toBeGreaterThan(20);
    expect(report.eventToEnforcement.notApplied).toBe(0);
    expect(FAULT_KINDS.filter((kind) => !(report.faults[kind] >= 1))).toEqual([]);
    expect(FAULT_KINDS.filter((kind) => report.faultKinds[kind].notRecovered > 0)).toEqual([]);
    expect(report.faultKinds.failingRestore.effective).toBeGreaterThanOrEqual(1);
    for (const kind of ['podCreate', 'podRelabel', 'namespaceRelabel', 'policy', 'clusterPolicy'])
      expect(report.churn[kind]).toBeGreaterThanOrEqual(1);
  });
});
