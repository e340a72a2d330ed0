/**
 * One table per NetworkPolicy v1 rule. Cluster used throughout unless a case says otherwise:
 *   namespaces x (team=a), y (team=b), z (no labels);
 *   pods x/a (app=web, tier=fe), x/b (app=db), y/a (app=web), y/b (app=db), z/a (app=web).
 */
import type { NetworkPolicySpec, PodInfo, PolicyInfo } from './model';
import { allowed, check, ns, pod, policy, snapshot } from './testutil/factories';

const namespaces = [ns('x', { team: 'a' }), ns('y', { team: 'b' }), ns('z')];
const basePods = (): PodInfo[] => [
  pod('x/a', { labels: { app: 'web', tier: 'fe' }, ip: '10.0.1.1' }),
  pod('x/b', { labels: { app: 'db' }, ip: '10.0.1.2' }),
  pod('y/a', { labels: { app: 'web' }, ip: '10.0.2.1' }),
  pod('y/b', { labels: { app: 'db' }, ip: '10.0.2.2' }),
  pod('z/a', { labels: { app: 'web' }, ip: '10.0.3.1' }),
];
const cluster = (...policies: PolicyInfo[]) => snapshot(namespaces, basePods(), policies);

/** An ingress policy on x/a (app=web in x) admitting `from` peers. */
const ingressTo = (from: NetworkPolicySpec['ingress']): PolicyInfo =>
  policy('x/p', { podSelector: { matchLabels: { app: 'web' } }, ingress: from });

type Case = [string, PolicyInfo[], string, string, string, boolean];

function runTable(cases: Case[]) {
  test.each(cases)('%s', (_name, policies, from, to, probe, expected) => {
    expect(allowed(cluster(...policies), from, to, probe)).toBe(expected);
  });
}

describe('label selectors (subject selection)', () => {
  const deny = (sel: NetworkPolicySpec['podSelector']) => policy('x/deny', { podSelector: sel });
  runTable([
    ['matchLabels selects a match', [deny({ matchLabels: { app: 'web' } })], 'x/b', 'x/a', '80/TCP', false],
    ['matchLabels skips a non-match', [deny({ matchLabels: { app: 'web' } })], 'x/a', 'x/b', '80/TCP', true],
    [
      'matchLabels needs every label',
      [deny({ matchLabels: { app: 'web', tier: 'be' } })],
      'x/b',
      'x/a',
      '80/TCP',
      true,
    ],
    [
      'In matches listed value',
      [deny({ matchExpressions: [{ key: 'app', operator: 'In', values: ['db', 'x'] }] })],
      'x/a',
      'x/b',
      '80/TCP',
      false,
    ],
    [
      'In fails on absent key',
      [deny({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['fe'] }] })],
      'x/a',
      'x/b',
      '80/TCP',
      true,
    ],
    [
      'NotIn passes an absent key',
      [deny({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['fe'] }] })],
      'x/a',
      'x/b',
      '80/TCP',
      false,
    ],
    [
      'NotIn fails a listed value',
      [deny({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['fe'] }] })],
      'x/b',
      'x/a',
      '80/TCP',
      true,
    ],
    [
      'Exists',
      [deny({ matchExpressions: [{ key: 'tier', operator: 'Exists' }] })],
      'x/b',
      'x/a',
      '80/TCP',
      false,
    ],
    [
      'DoesNotExist',
      [deny({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] })],
      'x/a',
      'x/b',
      '80/TCP',
      false,
    ],
    [
      'DoesNotExist spares the labelled pod',
      [deny({ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] })],
      'x/b',
      'x/a',
      '80/TCP',
      true,
    ],
    [
      'matchLabels AND matchExpressions',
      [deny({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] })],
      'x/b',
      'x/a',
      '80/TCP',
      true,
    ],
    ['empty selector selects every pod of the namespace', [deny({})], 'x/a', 'x/b', '80/TCP', false],
    ['empty selector stays in its namespace', [deny({})], 'x/a', 'y/b', '80/TCP', true],
  ]);
});

describe('policyTypes defaulting and isolation', () => {
  const egressRule = [{ to: [{ podSelector: { matchLabels: { app: 'db' } } }] }];
  runTable([
    ['no policy: everything allowed', [], 'y/b', 'x/a', '80/TCP', true],
    [
      'no types, only ingress rules: egress not isolated',
      [policy('x/p', { podSelector: {}, ingress: [{}] })],
      'x/a',
      'z/a',
      '80/TCP',
      true,
    ],
    [
      'no types, egress rules: egress isolated',
      [policy('x/p', { podSelector: { matchLabels: { app: 'web' } }, egress: egressRule })],
      'x/a',
      'z/a',
      '80/TCP',
      false,
    ],
    [
      'no types, egress rules: egress allows its peer',
      [policy('x/p', { podSelector: { matchLabels: { app: 'web' } }, egress: egressRule })],
      'x/a',
      'y/b',
      '80/TCP',
      false,
    ],
    [
      'no types, egress rules: Ingress still implied and denies',
      [policy('x/p', { podSelector: { matchLabels: { app: 'web' } }, egress: egressRule })],
      'z/a',
      'x/a',
      '80/TCP',
      false,
    ],
    [
      'policyTypes [Egress] only: ingress not isolated',
      [policy('x/p', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'] })],
      'z/a',
      'x/a',
      '80/TCP',
      true,
    ],
    [
      'policyTypes [Egress] with no rules denies egress',
      [policy('x/p', { podSelector: { matchLabels: { app: 'web' } }, policyTypes: ['Egress'] })],
      'x/a',
      'x/b',
      '80/TCP',
      false,
    ],
    [
      'policyTypes [Ingress] ignores egress rules',
      [
        policy('x/p', {
          podSelector: { matchLabels: { app: 'web' } },
          policyTypes: ['Ingress'],
          ingress: [{}],
          egress: [],
        }),
      ],
      'x/a',
      'z/a',
      '80/TCP',
      true,
    ],
    [
      'a policy of the other type does not isolate',
      [policy('x/p', { podSelector: {}, policyTypes: ['Egress'], egress: [{}] })],
      'z/a',
      'x/a',
      '80/TCP',
      true,
    ],
    [
      'union: a second policy adds an allow',
      [
        ingressTo([]),
        policy('x/q', {
          podSelector: { matchLabels: { app: 'web' } },
          ingress: [{ from: [{ podSelector: { matchLabels: { app: 'db' } } }] }],
        }),
      ],
      'x/b',
      'x/a',
      '80/TCP',
      true,
    ],
    [
      'union: a deny-all cannot take an allow away',
      [ingressTo([{}]), policy('x/deny', { podSelector: {} })],
      'z/a',
      'x/a',
      '80/TCP',
      true,
    ],
    ['listed Ingress with no rules denies ingress', [ingressTo([])], 'x/b', 'x/a', '80/TCP', false],
  ]);
});

describe('rules: empty from/to and ports', () => {
  runTable([
    [
      'ingress rule with no from admits every source',
      [ingressTo([{ ports: [{ port: 80 }] }])],
      'z/a',
      'x/a',
      '80/TCP',
      true,
    ],
    [
      'ingress rule with from: [] admits every source',
      [ingressTo([{ from: [] }])],
      'y/b',
      'x/a',
      '81/UDP',
      true,
    ],
    [
      'rule with no ports admits every port',
      [ingressTo([{ from: [{ podSelector: {} }] }])],
      'x/b',
      'x/a',
      '65000/SCTP',
      true,
    ],
    [
      'rule with ports restricts the port',
      [ingressTo([{ ports: [{ port: 80 }] }])],
      'z/a',
      'x/a',
      '81/TCP',
      false,
    ],
    [
      'egress rule with no to admits every destination',
      [
        policy('x/p', {
          podSelector: { matchLabels: { app: 'web' } },
          egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }],
        }),
      ],
      'x/a',
      '8.8.8.8',
      '53/UDP',
      true,
    ],
    [
      'egress rule with ports denies other ports',
      [
        policy('x/p', {
          podSelector: { matchLabels: { app: 'web' } },
          egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }],
        }),
      ],
      'x/a',
      '8.8.8.8',
      '53/TCP',
      false,
    ],
  ]);
});

describe('peers', () => {
  const both = ingressTo([
    {
      from: [
        { namespaceSelector: { matchLabels: { team: 'b' } }, podSelector: { matchLabels: { app: 'db' } } },
      ],
    },
  ]);
  const two = ingressTo([
    {
      from: [
        { namespaceSelector: { matchLabels: { team: 'b' } } },
        { podSelector: { matchLabels: { app: 'db' } } },
      ],
    },
  ]);
  runTable([
    [
      'podSelector alone: same namespace match',
      [ingressTo([{ from: [{ podSelector: { matchLabels: { app: 'db' } } }] }])],
      'x/b',
      'x/a',
      '80/TCP',
      true,
    ],
    [
      'podSelector alone: other namespaces never',
      [ingressTo([{ from: [{ podSelector: { matchLabels: { app: 'db' } } }] }])],
      'y/b',
      'x/a',
      '80/TCP',
      false,
    ],
    [
      'podSelector {} alone: whole own namespace only',
      [ingressTo([{ from: [{ podSelector: {} }] }])],
      'z/a',
      'x/a',
      '80/TCP',
      false,
    ],
    [
      'namespaceSelector alone: every pod there',
      [ingressTo([{ from: [{ namespaceSelector: { matchLabels: { team: 'b' } } }] }])],
      'y/a',
      'x/a',
      '80/TCP',
      true,
    ],
    [
      'namespaceSelector alone: other namespaces no',
      [ingressTo([{ from: [{ namespaceSelector: { matchLabels: { team: 'b' } } }] }])],
      'z/a',
      'x/a',
      '80/TCP',
      false,
    ],
    [
      'namespaceSelector {}: every namespace',
      [ingressTo([{ from: [{ namespaceSelector: {} }] }])],
      'z/a',
      'x/a',
      '80/TCP',
      true,
    ],
    [
      'namespaceSelector by metadata.name label',
      [
        ingressTo([
          { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'z' } } }] },
        ]),
      ],
      'z/a',
      'x/a',
      '80/TCP',
      true,
    ],
    ['both in one peer (AND): match', [both], 'y/b', 'x/a', '80/TCP', true],
    ['both in one peer (AND): right ns wrong pod', [both], 'y/a', 'x/a', '80/TCP', false],
    ['both in one peer (AND): right pod wrong ns', [both], 'x/b', 'x/a', '80/TCP', false],
    ['two peers (OR): namespace peer', [two], 'y/a', 'x/a', '80/TCP', true],
    ['two peers (OR): pod peer in own namespace', [two], 'x/b', 'x/a', '80/TCP', true],
    ['two peers (OR): neither', [two], 'z/a', 'x/a', '80/TCP', false],
    [
      'ipBlock admits an address inside',
      [ingressTo([{ from: [{ ipBlock: { cidr: '10.0.2.0/24' } }] }])],
      'y/b',
      'x/a',
      '80/TCP',
      true,
    ],
    [
      'ipBlock except carves out',
      [ingressTo([{ from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.2.0/24'] } }] }])],
      'y/b',
      'x/a',
      '80/TCP',
      false,
    ],
    [
      'ipBlock except leaves the rest',
      [ingressTo([{ from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.2.0/24'] } }] }])],
      'z/a',
      'x/a',
      '80/TCP',
      true,
    ],
    [
      'ipBlock admits an external address',
      [ingressTo([{ from: [{ ipBlock: { cidr: '203.0.113.0/24' } }] }])],
      '203.0.113.10',
      'x/a',
      '80/TCP',
      true,
    ],
    [
      'ipBlock egress to an external range',
      [
        policy('x/e', {
          podSelector: { matchLabels: { app: 'web' } },
          policyTypes: ['Egress'],
          egress: [{ to: [{ ipBlock: { cidr: '203.0.113.0/25', except: ['203.0.113.64/26'] } }] }],
        }),
      ],
      'x/a',
      '203.0.113.10',
      '80/TCP',
      true,
    ],
    [
      'ipBlock egress except',
      [
        policy('x/e', {
          podSelector: { matchLabels: { app: 'web' } },
          policyTypes: ['Egress'],
          egress: [{ to: [{ ipBlock: { cidr: '203.0.113.0/25', except: ['203.0.113.64/26'] } }] }],
        }),
      ],
      'x/a',
      '203.0.113.70',
      '80/TCP',
      false,
    ],
    [
      'a pod selector does not admit an external address',
      [ingressTo([{ from: [{ namespaceSelector: {} }] }])],
      '203.0.113.10',
      'x/a',
      '80/TCP',
      false,
    ],
  ]);

  test('ipBlock with except for IPv6', () => {
    const s = snapshot(
      namespaces,
      [
        pod('x/a', { labels: { app: 'web' }, ips: ['fd00::1'] }),
        pod('y/a', { ips: ['fd00::2:1'] }),
        pod('y/b', { ips: ['fd00::3:1'] }),
      ],
      [ingressTo([{ from: [{ ipBlock: { cidr: 'fd00::/64', except: ['fd00::3:0/112'] } }] }])],
    );
    expect(allowed(s, 'y/a', 'x/a')).toBe(true);
    expect(allowed(s, 'y/b', 'x/a')).toBe(false);
    expect(allowed(s, 'fd00:1::5', 'x/a')).toBe(false);
  });

  test('an IPv4 block does not match an IPv6 address of a dual-stack pod', () => {
    const s = snapshot(
      namespaces,
      [
        pod('x/a', { labels: { app: 'web' }, ips: ['fd00::1'] }),
        pod('y/a', { ips: ['10.0.2.1', 'fd00::2:1'] }),
      ],
      [ingressTo([{ from: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }])],
    );
    expect(allowed(s, 'y/a', 'x/a')).toBe(false);
  });
});

describe('ports', () => {
  const withPorts = (spec: NetworkPolicySpec['ingress']) =>
    snapshot(
      namespaces,
      [
        pod('x/a', {
          labels: { app: 'web' },
          ip: '10.0.1.1',
          ports: [
            ['http', 8080],
            ['dns', 53, 'UDP'],
          ],
        }),
        pod('x/c', { labels: { app: 'web' }, ip: '10.0.1.3', ports: [['http', 9090]] }),
        pod('x/d', { labels: { app: 'web' }, ip: '10.0.1.4' }),
        pod('y/a', { ip: '10.0.2.1' }),
      ],
      [ingressTo(spec)],
    );
  const named = withPorts([{ ports: [{ port: 'http' }] }]);
  const namedUdp = withPorts([{ ports: [{ port: 'dns', protocol: 'UDP' }] }]);
  const range = withPorts([{ ports: [{ port: 8000, endPort: 8100 }] }]);
  const protocols = withPorts([{ ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'SCTP' }] }]);
  test.each([
    ['numeric port match', withPorts([{ ports: [{ port: 80 }] }]), 'x/a', '80/TCP', true],
    [
      'numeric port: protocol defaults to TCP',
      withPorts([{ ports: [{ port: 80 }] }]),
      'x/a',
      '80/UDP',
      false,
    ],
    ['named port resolves on the destination pod', named, 'x/a', '8080/TCP', true],
    ['named port: the number of another pod does not count', named, 'x/a', '9090/TCP', false],
    ['named port: same name, different number on another pod', named, 'x/c', '9090/TCP', true],
    ["named port: and not the first pod's number", named, 'x/c', '8080/TCP', false],
    ['named port: pod without the name matches nothing', named, 'x/d', '8080/TCP', false],
    [
      'named port: protocol must match the declaration',
      withPorts([{ ports: [{ port: 'dns' }] }]),
      'x/a',
      '53/TCP',
      false,
    ],
    ['named UDP port', namedUdp, 'x/a', '53/UDP', true],
    ['endPort: low bound', range, 'x/a', '8000/TCP', true],
    ['endPort: high bound', range, 'x/a', '8100/TCP', true],
    ['endPort: above', range, 'x/a', '8101/TCP', false],
    ['endPort: below', range, 'x/a', '7999/TCP', false],
    ['UDP port', protocols, 'x/a', '53/UDP', true],
    ['UDP port: TCP denied', protocols, 'x/a', '53/TCP', false],
    ['SCTP without port: every SCTP port', protocols, 'x/a', '4000/SCTP', true],
  ])('%s', (_n, s, to, probe, expected) => {
    expect(allowed(s, 'y/a', to, probe)).toBe(expected);
  });

  test('named port in egress resolves on each destination pod', () => {
    const s = snapshot(
      namespaces,
      [
        pod('x/a', { labels: { app: 'web' }, ip: '10.0.1.1' }),
        pod('y/a', { ip: '10.0.2.1', ports: [['metrics', 9100]] }),
        pod('y/b', { ip: '10.0.2.2', ports: [['metrics', 9200]] }),
      ],
      [
        policy('x/e', {
          podSelector: { matchLabels: { app: 'web' } },
          policyTypes: ['Egress'],
          egress: [{ ports: [{ port: 'metrics' }] }],
        }),
      ],
    );
    expect(allowed(s, 'x/a', 'y/a', '9100/TCP')).toBe(true);
    expect(allowed(s, 'x/a', 'y/a', '9200/TCP')).toBe(false);
    expect(allowed(s, 'x/a', 'y/b', '9200/TCP')).toBe(true);
    expect(allowed(s, 'x/a', '203.0.113.1', '9100/TCP')).toBe(false);
  });
});

describe('special pods and traffic', () => {
  const denyAll = policy('x/deny', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  const allowFromAllPods = ingressTo([{ from: [{ namespaceSelector: {} }] }]);
  const special = (policies: PolicyInfo[]) =>
    snapshot(
      namespaces,
      [
        ...basePods(),
        pod('x/host', { labels: { app: 'web' }, ip: '192.168.0.1', hostNetwork: true, node: 'node-1' }),
        pod('y/host', { ip: '192.168.0.2', hostNetwork: true, node: 'node-2' }),
        pod('y/done', { ip: '10.0.2.9', phase: 'Succeeded' }),
        pod('y/failed', { ip: '10.0.2.8', phase: 'Failed' }),
        pod('y/pending', { ips: [], phase: 'Pending' }),
      ],
      policies,
    );
  test('hostNetwork pods are never isolated', () => {
    expect(allowed(special([denyAll]), 'y/a', 'x/host')).toBe(true);
  });
  test('hostNetwork pods are not matched by pod selectors as peers', () => {
    expect(allowed(special([allowFromAllPods]), 'y/host', 'x/a')).toBe(false);
  });
  test('hostNetwork pods are matched by an ipBlock of their address', () => {
    expect(
      allowed(special([ingressTo([{ from: [{ ipBlock: { cidr: '192.168.0.0/24' } }] }])]), 'y/host', 'x/a'),
    ).toBe(true);
  });
  test('a hostNetwork pod (the node) reaches a pod on its own node', () => {
    const v = check(special([denyAll]), 'x/host', 'x/a');
    expect(v.allowed && v.node).toBe(true);
  });
  test('terminated pods and pods without an address drop out as peers', () => {
    const s = special([allowFromAllPods]);
    expect(allowed(s, 'y/done', 'x/a')).toBe(false);
    expect(allowed(s, 'y/failed', 'x/a')).toBe(false);
    expect(allowed(s, 'y/pending', 'x/a')).toBe(false);
    expect(allowed(s, '10.0.2.9', 'x/a')).toBe(false);
  });
  test('traffic from a pod to itself is always allowed', () => {
    const v = check(special([denyAll]), 'x/a', 'x/a');
    expect(v.allowed && v.self).toBe(true);
  });
  test('explanation names isolating policies and the admitting rule', () => {
    const s = special([
      denyAll,
      ingressTo([{ from: [{ podSelector: { matchLabels: { app: 'db' } } }] }, {}]),
    ]);
    const denied = check(s, 'y/b', 'x/b');
    expect(denied.allowed).toBe(false);
    expect(denied.ingress.isolatingPolicies).toEqual(['x/deny']);
    const ok = check(s, 'x/b', 'x/a');
    // x/b's own egress is denied by x/deny (Egress type), so the connection fails at egress.
    expect(ok.egress.isolatingPolicies).toEqual(['x/deny']);
    expect(ok.allowed).toBe(false);
    const ingressOnly = check(
      special([ingressTo([{ from: [{ podSelector: { matchLabels: { app: 'db' } } }] }, {}])]),
      'x/b',
      'x/a',
    );
    expect(ingressOnly.ingress.allowedBy).toEqual([
      { policy: 'x/p', direction: 'ingress', rule: 0 },
      { policy: 'x/p', direction: 'ingress', rule: 1 },
    ]);
  });
});
