/**
 * ClusterNetworkPolicy semantics, one rule of the API per test: tier order (Admin ->
 * NetworkPolicy -> Baseline -> default), first match within a tier by (priority, name), Pass,
 * same-priority ties, networks matching pod addresses, nodes peers, named ports of any
 * protocol, hostNetwork pods never subjects or pod peers, and an egress Accept that still needs
 * the destination's ingress. Addresses: pods 10.0.x.y, nodes 172.18.0.x.
 */
import type {
  ClusterPolicyInfo,
  ClusterPolicyPeer,
  ClusterPolicyProtocol,
  ClusterPolicyRule,
  ClusterSnapshot,
  LabelSelector,
  NodeInfo,
  PolicyInfo,
} from './model';
import { check, ns, pod, policy } from './testutil/factories';

function rule(
  action: ClusterPolicyRule['action'],
  peers: ClusterPolicyPeer[],
  protocols?: ClusterPolicyProtocol[],
  name = '',
): ClusterPolicyRule {
  return { name, action, peers, ...(protocols ? { protocols } : {}) };
}

function cnp(
  name: string,
  tier: ClusterPolicyInfo['tier'],
  priority: number,
  subject: ClusterPolicyInfo['subject'],
  rules: { ingress?: ClusterPolicyRule[]; egress?: ClusterPolicyRule[] },
): ClusterPolicyInfo {
  return { name, tier, priority, subject, ingress: rules.ingress ?? [], egress: rules.egress ?? [] };
}

const ALL: LabelSelector = {};
const nsNamed = (n: string): LabelSelector => ({ matchLabels: { 'kubernetes.io/metadata.name': n } });
const everyone: ClusterPolicyPeer = { namespaces: ALL };

const NAMESPACES = [ns('x', { team: 'x' }), ns('y', { team: 'y' })];
const PODS = [
  pod('x/a', {
    ip: '10.0.1.1',
    labels: { app: 'a' },
    node: 'n1',
    ports: [
      ['web', 8080],
      ['dns', 53, 'UDP'],
    ],
  }),
  pod('x/b', { ip: '10.0.1.2', labels: { app: 'b' }, node: 'n2' }),
  pod('y/c', { ip: '10.0.2.1', labels: { app: 'c' }, node: 'n2', ports: [['web', 9090, 'SCTP']] }),
  pod('y/h', { ip: '172.18.0.2', hostNetwork: true, node: 'n1' }),
];
const NODES: NodeInfo[] = [
  { name: 'n1', labels: { role: 'control' }, addresses: ['172.18.0.2'], podCIDRs: ['10.0.1.0/24'] },
  { name: 'n2', labels: { role: 'worker' }, addresses: ['172.18.0.3'], podCIDRs: ['10.0.2.0/24'] },
];

function cluster(clusterPolicies: ClusterPolicyInfo[], policies: PolicyInfo[] = []): ClusterSnapshot {
  return { namespaces: NAMESPACES, pods: PODS, policies, clusterPolicies, nodes: NODES };
}

const toA = (action: ClusterPolicyRule['action'], priority = 10, name = `p${priority}`) =>
  cnp(name, 'Admin', priority, { namespaces: nsNamed('x') }, { ingress: [rule(action, [everyone])] });

describe('tiers', () => {
  test('without any policy everything is allowed (decided by default)', () => {
    const v = check(cluster([]), 'y/c', 'x/a');
    expect(v.allowed).toBe(true);
    expect(v.ingress.decidedBy).toBe('default');
  });

  test('an Admin Deny cannot be overridden by a NetworkPolicy that allows', () => {
    const allowAll = policy('x/allow-all', { podSelector: {}, ingress: [{}] });
    const v = check(cluster([toA('Deny')], [allowAll]), 'y/c', 'x/a');
    expect(v.allowed).toBe(false);
    expect(v.ingress.decidedBy).toBe('admin');
    expect(v.ingress.clusterRule).toMatchObject({ policy: 'p10', action: 'Deny', rule: 0 });
  });

  test('an Admin Accept wins over a NetworkPolicy that isolates and admits nothing', () => {
    const denyAll = policy('x/deny-all', { podSelector: {}, policyTypes: ['Ingress'] });
    expect(check(cluster([toA('Accept')], [denyAll]), 'y/c', 'x/a').allowed).toBe(true);
    expect(check(cluster([], [denyAll]), 'y/c', 'x/a').allowed).toBe(false);
  });

  test('a NetworkPolicy overrides the Baseline tier: it decides when it isolates the pod', () => {
    const baselineDeny = cnp(
      'b',
      'Baseline',
      1,
      { namespaces: ALL },
      { ingress: [rule('Deny', [everyone])] },
    );
    const allowY = policy('x/from-y', {
      podSelector: {},
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'y' } } }] }],
    });
    expect(check(cluster([baselineDeny]), 'y/c', 'x/a').allowed).toBe(false);
    const v = check(cluster([baselineDeny], [allowY]), 'y/c', 'x/a');
    expect(v.allowed).toBe(true);
    expect(v.ingress.decidedBy).toBe('networkpolicy');
    // Isolated but not admitted: denied by the NetworkPolicy tier, the Baseline is not reached.
    const denied = check(cluster([baselineDeny], [allowY]), 'x/b', 'x/a');
    expect(denied).toMatchObject({ allowed: false, ingress: { decidedBy: 'networkpolicy' } });
  });

  test('a Baseline Accept does not lift a NetworkPolicy isolation', () => {
    const baselineAccept = cnp(
      'b',
      'Baseline',
      1,
      { namespaces: ALL },
      { ingress: [rule('Accept', [everyone])] },
    );
    const denyAll = policy('x/deny-all', { podSelector: {}, policyTypes: ['Ingress'] });
    expect(check(cluster([baselineAccept], [denyAll]), 'y/c', 'x/a').allowed).toBe(false);
  });
});

describe('order within a tier: priority, then name; rules in written order, first match wins', () => {
  test('the lower priority number is evaluated first', () => {
    expect(check(cluster([toA('Deny', 20), toA('Accept', 10)]), 'y/c', 'x/a').allowed).toBe(true);
    expect(check(cluster([toA('Deny', 10), toA('Accept', 20)]), 'y/c', 'x/a').allowed).toBe(false);
  });

  test('within a policy the first matching rule decides', () => {
    const c = cnp(
      'p',
      'Admin',
      1,
      { namespaces: nsNamed('x') },
      {
        ingress: [
          rule('Accept', [{ namespaces: nsNamed('y') }], undefined, 'y-in'),
          rule('Deny', [everyone]),
        ],
      },
    );
    expect(check(cluster([c]), 'y/c', 'x/a')).toMatchObject({
      allowed: true,
      ingress: { clusterRule: { rule: 0, ruleName: 'y-in' } },
    });
    expect(check(cluster([c]), 'x/b', 'x/a')).toMatchObject({
      allowed: false,
      ingress: { clusterRule: { rule: 1 } },
    });
  });

  test('same priority: name order decides, and the tie is reported', () => {
    const v = check(cluster([toA('Deny', 5, 'zz-deny'), toA('Accept', 5, 'aa-accept')]), 'y/c', 'x/a');
    expect(v.allowed).toBe(true);
    expect(v.ingress.clusterRule?.policy).toBe('aa-accept');
    expect(v.ingress.tiedWith).toEqual([expect.objectContaining({ policy: 'zz-deny', action: 'Deny' })]);
    // A policy of the same priority that does not match is no tie.
    const other = cnp(
      'zz-other',
      'Admin',
      5,
      { namespaces: nsNamed('x') },
      { ingress: [rule('Deny', [{ namespaces: nsNamed('nope') }])] },
    );
    expect(check(cluster([toA('Accept', 5, 'aa-accept'), other]), 'y/c', 'x/a').ingress.tiedWith).toEqual([]);
  });
});

describe('Pass', () => {
  test('an Admin Pass skips the rest of the Admin tier and lets the NetworkPolicy decide', () => {
    const pass = toA('Pass', 1, 'pass');
    const deny = toA('Deny', 2, 'deny');
    const denyAll = policy('x/deny-all', { podSelector: {}, policyTypes: ['Ingress'] });
    const v = check(cluster([pass, deny]), 'y/c', 'x/a');
    expect(v).toMatchObject({ allowed: true, ingress: { decidedBy: 'default' } });
    expect(v.ingress.passedBy).toEqual([expect.objectContaining({ policy: 'pass', tier: 'admin' })]);
    expect(check(cluster([pass, deny], [denyAll]), 'y/c', 'x/a')).toMatchObject({
      allowed: false,
      ingress: { decidedBy: 'networkpolicy' },
    });
  });

  test('an Admin Pass reaches the Baseline tier when no NetworkPolicy isolates the pod', () => {
    const baselineDeny = cnp(
      'b',
      'Baseline',
      1,
      { namespaces: ALL },
      { ingress: [rule('Deny', [everyone])] },
    );
    const v = check(cluster([toA('Pass', 1, 'pass'), baselineDeny]), 'y/c', 'x/a');
    expect(v).toMatchObject({ allowed: false, ingress: { decidedBy: 'baseline' } });
    expect(v.ingress.passedBy.map((p) => p.policy)).toEqual(['pass']);
  });

  test('a Baseline Pass skips the rest of the Baseline tier: the default allows', () => {
    const pass = cnp('a', 'Baseline', 1, { namespaces: ALL }, { ingress: [rule('Pass', [everyone])] });
    const deny = cnp('b', 'Baseline', 2, { namespaces: ALL }, { ingress: [rule('Deny', [everyone])] });
    expect(check(cluster([pass, deny]), 'y/c', 'x/a')).toMatchObject({
      allowed: true,
      ingress: { decidedBy: 'default' },
    });
  });
});

describe('subjects and peers', () => {
  test('pods subject: both selectors must match', () => {
    const c = cnp(
      'p',
      'Admin',
      1,
      { pods: { namespaceSelector: nsNamed('x'), podSelector: { matchLabels: { app: 'a' } } } },
      { ingress: [rule('Deny', [everyone])] },
    );
    expect(check(cluster([c]), 'y/c', 'x/a').allowed).toBe(false);
    expect(check(cluster([c]), 'y/c', 'x/b').allowed).toBe(true);
  });

  test('networks match pod addresses too (not only outside hosts)', () => {
    const c = cnp(
      'p',
      'Admin',
      1,
      { namespaces: nsNamed('x') },
      { ingress: [rule('Deny', [{ networks: ['10.0.2.0/24'] }])] },
    );
    expect(check(cluster([c]), 'y/c', 'x/a').allowed).toBe(false);
    expect(check(cluster([c]), 'x/b', 'x/a').allowed).toBe(true);
    expect(check(cluster([c]), '10.0.2.77', 'x/a').allowed).toBe(false);
  });

  test('nodes peers match the addresses of the selected nodes', () => {
    const c = cnp(
      'p',
      'Admin',
      1,
      { namespaces: ALL },
      { egress: [rule('Deny', [{ nodes: { matchLabels: { role: 'worker' } } }])] },
    );
    expect(check(cluster([c]), 'x/a', '172.18.0.3').allowed).toBe(false);
    expect(check(cluster([c]), 'x/a', '172.18.0.2').allowed).toBe(true);
    const all = cnp('p', 'Admin', 1, { namespaces: ALL }, { egress: [rule('Deny', [{ nodes: {} }])] });
    expect(check(cluster([all]), 'x/b', '172.18.0.2').allowed).toBe(false);
  });

  test('hostNetwork pods are never subjects and never pod peers; networks still match their address', () => {
    const subjectAll = cnp('p', 'Admin', 1, { namespaces: ALL }, { egress: [rule('Deny', [everyone])] });
    expect(check(cluster([subjectAll]), 'y/h', '10.0.1.2').allowed).toBe(true); // y/h is not a subject
    const denyFromPods = cnp(
      'q',
      'Admin',
      1,
      { namespaces: nsNamed('x') },
      { ingress: [rule('Deny', [everyone])] },
    );
    expect(check(cluster([denyFromPods]), 'y/h', 'x/b').allowed).toBe(true); // not a pod peer
    const denyFromNet = cnp(
      'r',
      'Admin',
      1,
      { namespaces: nsNamed('x') },
      { ingress: [rule('Deny', [{ networks: ['172.18.0.0/16'] }])] },
    );
    expect(check(cluster([denyFromNet]), 'y/h', 'x/b').allowed).toBe(false);
  });

  test('traffic to itself and between a pod and its own node stays allowed under an Admin Deny', () => {
    const denyAll = cnp(
      'p',
      'Admin',
      0,
      { namespaces: ALL },
      { ingress: [rule('Deny', [{ networks: ['0.0.0.0/0'] }])] },
    );
    expect(check(cluster([denyAll]), 'x/a', 'x/a').allowed).toBe(true);
    expect(check(cluster([denyAll]), 'y/h', 'x/a').allowed).toBe(true); // y/h is node n1, where x/a runs
  });
});

describe('protocols', () => {
  test('a destinationNamedPort matches the port of that name whatever its protocol', () => {
    const c = cnp(
      'p',
      'Admin',
      1,
      { namespaces: ALL },
      { ingress: [rule('Deny', [everyone], [{ destinationNamedPort: 'web' }])] },
    );
    expect(check(cluster([c]), 'x/b', 'x/a', '8080/TCP').allowed).toBe(false);
    expect(check(cluster([c]), 'x/b', 'x/a', '8080/UDP').allowed).toBe(true); // x/a's web is TCP
    expect(check(cluster([c]), 'x/a', 'y/c', '9090/SCTP').allowed).toBe(false);
    expect(check(cluster([c]), 'x/a', 'y/c', '8080/TCP').allowed).toBe(true);
  });

  test('numbers and ranges, per protocol', () => {
    const c = cnp(
      'p',
      'Admin',
      1,
      { namespaces: ALL },
      {
        ingress: [
          rule(
            'Deny',
            [everyone],
            [
              { tcp: { destinationPort: { number: 80 } } },
              { udp: { destinationPort: { range: { start: 5000, end: 5010 } } } },
            ],
          ),
        ],
      },
    );
    const allowed = (probe: string) => check(cluster([c]), 'x/b', 'x/a', probe).allowed;
    expect([
      allowed('80/TCP'),
      allowed('80/UDP'),
      allowed('5000/UDP'),
      allowed('5010/UDP'),
      allowed('5011/UDP'),
    ]).toEqual([false, true, false, false, true]);
  });
});

test('an egress Accept still needs the destination ingress to allow', () => {
  const acceptOut = cnp(
    'out',
    'Admin',
    1,
    { namespaces: nsNamed('y') },
    { egress: [rule('Accept', [everyone])] },
  );
  const denyIn = cnp(
    'in',
    'Admin',
    2,
    { namespaces: nsNamed('x') },
    { ingress: [rule('Deny', [{ namespaces: nsNamed('y') }])] },
  );
  const v = check(cluster([acceptOut, denyIn]), 'y/c', 'x/a');
  expect(v.egress).toMatchObject({ allowed: true, decidedBy: 'admin' });
  expect(v.ingress).toMatchObject({ allowed: false, decidedBy: 'admin' });
  expect(v.allowed).toBe(false);
});
