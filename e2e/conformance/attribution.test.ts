/**
 * The attribution check on two real cases with hand-written kernel reports (no root needed): the
 * reports explain agrees with pass; a report naming another rule, another direction, an unknown
 * log point, or no report at all, fails with the cell named.
 */
import type { VerdictEvent } from '../../agent/daemon/verdicts/event';
import { listCases, loadCase } from '../cases';
import type { ReachabilityMatrix } from '../sandbox';
import { planEndpoints } from '../sandbox/endpoints';
import { checkAttribution } from './attribution';
import { groupCases, type CaseGroup, type PreparedCase } from './case-groups';

const GROUPS = groupCases(listCases().map(loadCase));

function caseOf(name: string): { group: CaseGroup; pc: PreparedCase } {
  for (const group of GROUPS) {
    const pc = group.cases.find((c) => c.case.name === name);
    if (pc) return { group, pc };
  }
  throw new Error(`no case ${name}`);
}

/** A matrix of one probe whose only cells are the given denied ones. */
function deniedMatrix(port: number, protocol: 'TCP', cells: [string, string][]): ReachabilityMatrix {
  const allowed: Record<string, Record<string, boolean>> = {};
  for (const [from, to] of cells) (allowed[from] ??= {})[to] = false;
  return { pods: [], probes: [{ port, protocol, allowed }] };
}

let seq = 0;
function event(
  group: CaseGroup,
  from: string,
  to: string,
  port: number,
  decision: Partial<VerdictEvent>,
): VerdictEvent {
  const ip = (label: string) => planEndpoints(group.plan).find((e) => e.label === label)!.ipv4!;
  return {
    seq: ++seq,
    time: '2026-12-02T08:00:00.000Z',
    node: 'node-1',
    direction: 'ingress',
    verdict: 'denied',
    tier: 'networkpolicy',
    src: { ip: ip(from), pod: from },
    dst: { ip: ip(to), pod: to },
    protocol: 'TCP',
    srcPort: 40000,
    dstPort: port,
    point: 'K2M7QX4ZAB',
    known: true,
    ...decision,
  };
}

function check(name: string, matrix: ReachabilityMatrix, events: VerdictEvent[]) {
  const { group, pc } = caseOf(name);
  return checkAttribution({
    scenario: pc.scenario,
    matrix,
    endpoints: planEndpoints(group.plan),
    externals: group.plan.externals,
    events,
  });
}

describe('a NetworkPolicy default deny (case 02): egress at the source, ingress at the destination', () => {
  const name = '02-default-deny-all';
  const { group } = caseOf(name);
  const matrix = deniedMatrix(80, 'TCP', [
    ['x/a', 'y/a'],
    ['y/a', 'x/a'],
  ]);
  const egress = event(group, 'x/a', 'y/a', 80, {
    direction: 'egress',
    cause: 'isolation',
    policies: ['x/deny-all'],
    subject: 'x/a',
  });
  const ingress = event(group, 'y/a', 'x/a', 80, {
    direction: 'ingress',
    cause: 'isolation',
    policies: ['x/deny-all'],
    subject: 'x/a',
  });

  test('the reports explain agrees with pass', () => {
    expect(check(name, matrix, [egress, ingress])).toEqual({ deniedCells: 2, mismatches: [] });
  });

  test('a report of the wrong direction, or none, fails and names the cell', () => {
    const r = check(name, matrix, [{ ...egress, direction: 'ingress' }]);
    expect(r.mismatches).toEqual([
      '80/TCP x/a -> y/a: kernel reported ingress networkpolicy isolated by x/deny-all; ' +
        'explain: egress networkpolicy isolated by x/deny-all',
      '80/TCP y/a -> x/a: no denied event reported; explain: ingress networkpolicy isolated by x/deny-all',
    ]);
  });

  test('an allowed or would-deny event is no report of a drop; an unknown log point is no attribution', () => {
    const r = check(name, matrix, [
      { ...egress, verdict: 'would-deny' },
      { ...ingress, known: false },
    ]);
    expect(r.mismatches).toEqual([
      '80/TCP x/a -> y/a: no denied event reported; explain: egress networkpolicy isolated by x/deny-all',
      '80/TCP y/a -> x/a: kernel reported ingress networkpolicy (log point unknown to the agent: K2M7QX4ZAB); ' +
        'explain: ingress networkpolicy isolated by x/deny-all',
    ]);
  });
});

describe('a Baseline ClusterNetworkPolicy (case 142): the rule that decided, by index and name', () => {
  const name = '142-baseline-ingress-tcp-deny-first';
  const { group } = caseOf(name);
  const podIn = (house: string) =>
    group.plan.pods.find((p) => !p.hostNetwork && p.key.startsWith(`network-policy-conformance-${house}/`))!
      .key;
  const from = podIn('slytherin');
  const to = podIn('gryffindor');
  const matrix = deniedMatrix(80, 'TCP', [[from, to]]);
  const decided = {
    tier: 'baseline' as const,
    cause: 'rule' as const,
    policy: { kind: 'ClusterNetworkPolicy' as const, key: 'default' },
    rule: { index: 2, name: 'deny-from-slytherin-at-port-80' },
  };

  test('the rule explain names passes', () => {
    expect(check(name, matrix, [event(group, from, to, 80, decided)])).toEqual({
      deniedCells: 1,
      mismatches: [],
    });
  });

  test('another rule of the same policy fails, and so do two reports that disagree', () => {
    const other = event(group, from, to, 80, {
      ...decided,
      rule: { index: 4, name: 'deny-from-hufflepuff-everything-else' },
    });
    expect(check(name, matrix, [other]).mismatches).toEqual([
      `80/TCP ${from} -> ${to}: kernel reported ingress baseline ClusterNetworkPolicy default rule 4 ` +
        `"deny-from-hufflepuff-everything-else"; explain: ingress baseline ClusterNetworkPolicy default rule 2 ` +
        `"deny-from-slytherin-at-port-80"`,
    ]);
    expect(check(name, matrix, [event(group, from, to, 80, decided), other]).mismatches).toHaveLength(1);
  });
});
