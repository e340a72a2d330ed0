import { analyzeScenario } from '../../agent/cli/analysis';
import { loadScenario } from '../../compiler/scenario';
import { probeEndpoints as endpointsOf, type LivePod } from './endpoints';

import { assembleMatrix, compareMatrices, pairTrials, trialKey, type ReachabilityMatrix } from './matrix';
import { planFromScenario, type PlanProbe, type SandboxPlan } from './plan';
import { smallPlan } from './testutil/plans';

/** The plan's pods as the API server would list them once wired (uid = key). */
function endpoints(plan: SandboxPlan) {
  const pods: LivePod[] = plan.pods.map((p) => ({
    key: p.key,
    uid: p.key,
    node: p.node,
    hostNetwork: p.hostNetwork,
    ...(p.ipv4 ? { ipv4: p.ipv4 } : {}),
    ...(p.ipv6 ? { ipv6: p.ipv6 } : {}),
  }));
  return endpointsOf(plan, pods);
}

const TCP80: PlanProbe = { port: 80, protocol: 'TCP' };

describe('probe endpoints', () => {
  test('pods sorted by namespace then name, then externals in plan order; hostNetwork pods served by their node', () => {
    const plan: SandboxPlan = { ...smallPlan(), externals: ['203.0.113.10', '198.51.100.1'] };
    const eps = endpoints({ ...plan, pods: [...plan.pods].reverse() });
    expect(eps.map((e) => [e.label, e.host])).toEqual([
      ['x/a', 'pod:x/a'],
      ['x/b', 'pod:x/b'],
      ['y/c', 'pod:y/c'],
      ['y/host', 'n2'],
      ['203.0.113.10', 'x1'],
      ['198.51.100.1', 'x2'],
    ]);
  });
});

describe('pairTrials', () => {
  test('every ordered pair of distinct endpoints but external -> external, per probe and shared family', () => {
    const plan = smallPlan({ dualStack: true });
    const { trials, unprobeable } = pairTrials(endpoints(plan), [TCP80]);
    expect(unprobeable).toEqual([]);
    const keys = trials.map(trialKey);
    expect(new Set(keys).size).toBe(keys.length);
    // 4 dual-stack pods: 12 pairs x 2 families; each pod with each single-family external, both ways: 4 x 2 x 2.
    expect(trials.length).toBe(12 * 2 + 16);
    expect(keys).toContain('80/TCP x/a 203.0.113.10 v4');
    expect(keys).not.toContain('80/TCP x/a 203.0.113.10 v6');
    expect(keys).toContain('80/TCP 2001:db8::10 y/host v6');
    expect(keys.some((k) => k.includes('203.0.113.10 2001:db8::10'))).toBe(false);
    const t = trials.find((x) => trialKey(x) === '80/TCP y/host x/a v6')!;
    expect([t.srcIp, t.dstIp]).toEqual(['fd00:18::3', 'fd00:244:1::2']);
  });

  test('pairs that share no address family are reported, not probed', () => {
    const plan: SandboxPlan = { ...smallPlan(), externals: ['2001:db8::10'] };
    const { unprobeable } = pairTrials(endpoints(plan), [TCP80]);
    expect(unprobeable).toContainEqual({ src: 'x/a', dst: '2001:db8::10' });
    expect(unprobeable).toContainEqual({ src: '2001:db8::10', dst: 'y/host' });
    expect(unprobeable.length).toBe(8);
  });
});

describe('assembleMatrix', () => {
  const plan = smallPlan({ dualStack: true });
  const eps = endpoints(plan);
  const probes: PlanProbe[] = [TCP80, { port: 53, protocol: 'UDP' }];
  const { trials } = pairTrials(eps, probes);

  test('a cell is allowed only when every family got through; disagreements are listed', () => {
    const passed = new Set(trials.map(trialKey));
    passed.delete('53/UDP x/b x/a v6');
    const { matrix, disagreements } = assembleMatrix(eps, probes, trials, passed);
    expect(matrix.probes[1].allowed['x/b']['x/a']).toBe(false);
    expect(matrix.probes[0].allowed['x/b']['x/a']).toBe(true);
    expect(disagreements).toEqual([{ probe: '53/UDP', src: 'x/b', dst: 'x/a', ipv4: true, ipv6: false }]);
    expect(matrix.probes[0].allowed['x/a']['x/a']).toBeUndefined();
    expect(matrix.probes[0].allowed['203.0.113.10']['2001:db8::10']).toBeUndefined();
  });

  test('nothing passed: every cell denied', () => {
    const { matrix } = assembleMatrix(eps, probes, trials, new Set());
    const values = matrix.probes.flatMap((p) =>
      Object.values(p.allowed).flatMap((row) => Object.values(row)),
    );
    expect(values.length).toBe(2 * (6 * 5 - 2));
    expect(values.every((v) => v === false)).toBe(true);
  });
});

describe('the matrix has exactly the JSON of `palisade analyze`', () => {
  test('for a scenario without policies (everything allowed), with externals', () => {
    const yaml = `
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: y}
spec: {nodeName: n2, containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: y}
spec: {nodeName: n1, containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Pod
metadata: {name: z, namespace: x}
spec: {nodeName: n1, hostNetwork: true, containers: [{name: c, image: i}]}
`;
    const r = loadScenario(yaml, 'test.yaml');
    if (!r.ok) throw new Error(r.errors.join('\n'));
    const probes: PlanProbe[] = [TCP80, { port: 7, protocol: 'SCTP' }];
    const externals = ['203.0.113.10', '198.51.100.7'];
    const { plan } = planFromScenario(r.scenario, externals, probes);
    const eps = endpoints(plan);
    const { trials } = pairTrials(eps, probes);
    const { matrix } = assembleMatrix(eps, probes, trials, new Set(trials.map(trialKey)));
    expect(JSON.stringify(matrix)).toBe(JSON.stringify(analyzeScenario(r.scenario, probes, externals)));
  });
});

describe('compareMatrices', () => {
  const m = (allowed: Record<string, Record<string, boolean>>): ReachabilityMatrix => ({
    pods: ['x/a', 'x/b'],
    probes: [{ port: 80, protocol: 'TCP', allowed }],
  });
  test('lists every differing cell', () => {
    expect(
      compareMatrices(
        m({ 'x/a': { 'x/b': true }, 'x/b': { 'x/a': true } }),
        m({ 'x/a': { 'x/b': true }, 'x/b': { 'x/a': true } }),
      ),
    ).toEqual([]);
    expect(
      compareMatrices(
        m({ 'x/a': { 'x/b': true }, 'x/b': {} }),
        m({ 'x/a': { 'x/b': false }, 'x/b': { 'x/a': true } }),
      ),
    ).toEqual([
      '80/TCP x/a -> x/b: probe allowed, analyze denied',
      '80/TCP x/b -> x/a: probe no cell, analyze allowed',
    ]);
    expect(compareMatrices({ pods: [], probes: [] }, m({}))).toEqual(['80/TCP: not probed']);
  });
});
