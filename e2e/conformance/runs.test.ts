import { ALL_RUNS, BACKENDS, CI_RUNS, conformanceRuns } from './runs';
import { TOPOLOGIES } from '../sandbox';

describe('conformanceRuns', () => {
  test("unset: CI's runs, which cover every backend and every topology", () => {
    expect(conformanceRuns(undefined)).toEqual(CI_RUNS);
    expect(conformanceRuns('  ')).toEqual(CI_RUNS);
    for (const b of BACKENDS) expect(CI_RUNS.some((r) => r.backend === b)).toBe(true);
    for (const t of TOPOLOGIES) expect(CI_RUNS.some((r) => r.topology === t)).toBe(true);
  });

  test('all: every backend in every topology', () => {
    expect(conformanceRuns('all')).toEqual(ALL_RUNS);
    expect(ALL_RUNS).toHaveLength(BACKENDS.length * TOPOLOGIES.length);
  });

  test('a list, in its order, without repeats', () => {
    expect(conformanceRuns('iptables/bridge, nftables/routed,iptables/bridge')).toEqual([
      { backend: 'iptables', topology: 'bridge' },
      { backend: 'nftables', topology: 'routed' },
    ]);
  });

  test.each(['ebpf/routed', 'nftables', 'nftables/mesh', 'nftables/routed/x'])('rejects "%s"', (spec) => {
    expect(() => conformanceRuns(spec)).toThrow(/is not BACKEND\/TOPOLOGY/);
  });
});
