/**
 * The soak in CI: two minutes of a live sandbox under churn (pods, labels, namespace labels, a
 * NetworkPolicy, a ClusterNetworkPolicy) and faults (agent SIGKILL, a chain flushed and a set
 * member deleted by hand, watches expired), real packets against analyze all along. No probe may
 * disagree outside the transition window, in either direction.
 *
 *   npm run build && NODE_OPTIONS=--experimental-vm-modules npx jest e2e/soak/soak.kernel
 */
import { describeKernel, endpointScript } from '../sandbox/testutil/kernel';
import { runSoak } from './soak';

jest.setTimeout(300_000);

describeKernel('the soak, two minutes', () => {
  test('churn and faults, and no packet disagrees with analyze outside the window', async () => {
    const report = await runSoak({
      minutes: 2,
      topology: 'routed',
      endpointScript: endpointScript(),
      faultEveryMs: 12_000,
      log: (line) => process.stdout.write(`${line}\n`),
    });
    process.stdout.write(`${JSON.stringify(report)}\n`);
    expect(report.outsideWindow).toEqual({ deniedDelivered: 0, allowedDropped: 0, examples: [] });
    expect(report.rounds).toBeGreaterThan(20);
    expect(report.probes).toBeGreaterThan(500);
    for (const kind of ['agentKill', 'chainFlush', 'setMemberDelete', 'watchExpiry'])
      expect(report.faults[kind]).toBeGreaterThanOrEqual(1);
    for (const kind of ['podCreate', 'podRelabel', 'namespaceRelabel', 'policy', 'clusterPolicy'])
      expect(report.churn[kind]).toBeGreaterThanOrEqual(1);
  });
});
