/**
 * Grouping the cases into shared clusters, and the objects each case hands the API server
 * (no root needed): the objects of every case, written out as a scenario file, analyze
 * exactly like the case itself, so what the agents are given is what analyze judged.
 */
import { analyzeScenario } from '../../agent/cli/analysis';
import { loadScenario } from '../../compiler/scenario';
import { listCases, loadCase } from '../cases';
import { groupCases, pairPlacement, spreadOverTwoNodes, wiringShape, type PreparedCase } from './case-groups';
import { analyzeObjects } from './state-analysis';

const CASES = listCases().map(loadCase);
const GROUPS = groupCases(CASES);

test('every case is in exactly one group, in case order within it', () => {
  const names = GROUPS.flatMap((g) => g.cases.map((c) => c.case.name));
  expect([...names].sort()).toEqual(CASES.map((c) => c.name).sort());
  const order = CASES.map((c) => c.name);
  for (const g of GROUPS) {
    const positions = g.cases.map((c) => order.indexOf(c.case.name));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
  }
});

test('the upstream cases share one 9-pod cluster; the blog cases another; the CNP cases the houses', () => {
  expect(GROUPS.map((g) => [g.name, g.cases.length, g.plan.pods.length])).toEqual([
    ['01-default-deny-ingress', 55, 9],
    ['49-blog-access-nginx', 2, 4],
    ['101-admin-ingress-tcp', 60, 10],
  ]);
  // The union of the externals of 53 and 54, for every case of the group.
  expect(GROUPS[0].plan.externals).toEqual(['192.0.2.10', '198.51.100.7']);
  expect(GROUPS[0].plan.probes.map((p) => `${p.port}/${p.protocol}`).sort()).toEqual(
    ['80/TCP', '81/TCP', '80/UDP', '81/UDP', '80/SCTP', '81/SCTP', '82/TCP'].sort(),
  );
  // The houses: upstream's probes, and the host network ports of the nodes cases.
  const houses = GROUPS[2].plan;
  expect(houses.externals).toEqual([]);
  expect(houses.probes.map((p) => `${p.port}/${p.protocol}`).sort()).toEqual(
    [
      ...['80/TCP', '8080/TCP', '53/UDP', '5353/UDP', '9003/SCTP', '9005/SCTP'],
      ...['34345/TCP', '34346/TCP', '34347/UDP', '34349/UDP', '34351/SCTP'],
    ].sort(),
  );
  // centaur-1 has a node of its own (see e2e/cases/README.md); centaur-0 shares node-1.
  expect(houses.nodes.map((n) => [n.name, n.ipv4])).toEqual([
    ['node-1', '172.18.0.2'],
    ['node-2', '172.18.0.3'],
    ['node-3', '172.18.0.4'],
  ]);
  expect(houses.pods.filter((p) => p.hostNetwork).map((p) => [p.key, p.node])).toEqual([
    ['network-policy-conformance-forbidden-forrest/centaur-0', 'node-1'],
    ['network-policy-conformance-forbidden-forrest/centaur-1', 'node-3'],
  ]);
});

test('every group has same-node and cross-node pairs on two nodes or more', () => {
  for (const g of GROUPS) {
    expect(g.plan.nodes.map((n) => n.name).slice(0, 2)).toEqual(['node-1', 'node-2']);
    const placement = pairPlacement(g.plan);
    expect(placement.sameNode).toBeGreaterThan(0);
    expect(placement.crossNode).toBeGreaterThan(0);
  }
});

test('a scenario on one node is dealt over two, in namespace/name order; hostNetwork pods stay', () => {
  const yaml = `
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: n}
spec: {containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: n}
spec: {containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: n}
spec: {containers: [{name: c, image: i}]}
---
apiVersion: v1
kind: Pod
metadata: {name: h, namespace: n}
spec: {hostNetwork: true, containers: [{name: c, image: i}]}
`;
  const r = loadScenario(yaml, 'one-node.yaml');
  if (!r.ok) throw new Error(r.errors.join('\n'));
  const spread = spreadOverTwoNodes(r.scenario);
  const nodes = Object.fromEntries(spread.pods.map((p) => [p.name, p.nodeName]));
  expect(nodes).toEqual({ a: 'node-1', b: 'node-2', c: 'node-1', h: 'node-1' });
  expect(spread.nodes.map((n) => [n.name, n.addresses])).toEqual([
    ['node-1', ['172.18.0.2']],
    ['node-2', ['172.18.0.3']],
  ]);
  // Addresses are kept; a scenario already on two nodes is left alone.
  expect(spread.pods.map((p) => p.ips)).toEqual(r.scenario.pods.map((p) => p.ips));
  expect(spreadOverTwoNodes(spread)).toBe(spread);
  expect(wiringShape(spread)).not.toBe(wiringShape(r.scenario));
});

describe.each(GROUPS.flatMap((g) => g.cases.map((pc): [string, PreparedCase] => [pc.case.name, pc])))(
  '%s',
  (_name, pc) => {
    test('its objects, as a scenario file, analyze like the case', () => {
      const externals = pc.case.externals;
      expect(analyzeObjects(pc.objects, pc.case.probes, externals)).toEqual(
        analyzeScenario(pc.case.scenario, pc.case.probes, externals),
      );
    });
  },
);
