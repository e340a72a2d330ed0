/**
 * The three-way comparison of a case (real packets, analyze, expected.yaml) and its message,
 * plus the pure helpers of the agent wait and the API writer.
 */
import { listCases, loadCase } from '../cases';
import { expectedModel, modelDifferences, statusLag } from './agent-sync';
import { lostFields } from './api-writer';
import { describeDisagreements, disagreements, restrictMatrix } from './report';

const c = loadCase(listCases().find((d) => d.endsWith('53-ipblock-ingress-from-external'))!);
const copy = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('disagreements', () => {
  test('none when all three agree', () => {
    expect(disagreements(c.expected, c.expected, c.expected)).toEqual([]);
  });

  test('a cell where real packets differ from both is reported with the probe result', () => {
    const probed = copy(c.expected);
    probed.probes[0].allowed['y/a']['x/a'] = true;
    const cells = disagreements(probed, c.expected, c.expected);
    expect(cells).toEqual([
      {
        probe: '80/TCP',
        from: 'y/a',
        to: 'x/a',
        expected: false,
        probed: true,
        analyze: false,
        detail: 'got through',
      },
    ]);
    const failures = new Map([['80/TCP x/a x/b v4', 'timeout']]);
    probed.probes[0].allowed['x/a']['x/b'] = false;
    expect(disagreements(probed, c.expected, c.expected, failures)[0]).toMatchObject({
      from: 'x/a',
      to: 'x/b',
      expected: true,
      detail: 'timeout',
    });
  });

  test('analyze differing from the expectation is reported even when packets agree with it', () => {
    const analyzed = copy(c.expected);
    analyzed.probes[0].allowed['z/c']['x/b'] = false;
    expect(disagreements(c.expected, analyzed, c.expected).map((d) => [d.from, d.to, d.analyze])).toEqual([
      ['z/c', 'x/b', false],
    ]);
  });

  test('cells outside the expectation (extra hosts of a shared cluster) are checked against analyze only', () => {
    const inner = restrictMatrix(c.expected, ['x/a', 'x/b']);
    expect(inner.pods).toEqual(['x/a', 'x/b']);
    expect(Object.keys(inner.probes[0].allowed['x/b'])).toEqual(['x/a']);
    const probed = copy(c.expected);
    probed.probes[0].allowed['z/c']['y/a'] = !probed.probes[0].allowed['z/c']['y/a'];
    expect(disagreements(probed, c.expected, inner)).toHaveLength(1);
    expect(disagreements(c.expected, c.expected, inner)).toEqual([]);
  });

  test('the message has a row per cell and the truth table of the probe', () => {
    const probed = copy(c.expected);
    probed.probes[0].allowed['y/a']['x/a'] = true;
    const text = describeDisagreements(
      '53 (routed)',
      disagreements(probed, c.expected, c.expected),
      c.expected,
      probed,
    );
    const lines = text.split('\n');
    expect(lines[0]).toBe(
      '53 (routed): 1 cell(s) disagree (got = real packets, analyze = palisade analyze, expected = expected.yaml)',
    );
    expect(lines[1].split(/\s+/).filter(Boolean)).toEqual([
      'probe',
      'from',
      'to',
      'expected',
      'got',
      'analyze',
      'probe',
      'result',
    ]);
    expect(lines[2].split(/\s+/).filter(Boolean)).toEqual([
      '80/TCP',
      'y/a',
      'x/a',
      'denied',
      'allowed',
      'denied',
      'got',
      'through',
    ]);
    expect(text).toContain('80/TCP (expected;');
    expect(lines.find((l) => l.startsWith('y/a\t'))!.split('\t')[1]).toBe('*X*');
  });
});

describe('waiting for the agents', () => {
  const status = {
    synced: true,
    ready: true,
    watches: [
      { resource: 'namespaces', resourceVersion: '10', state: 'watching' },
      { resource: 'pods', resourceVersion: '12', state: 'watching' },
      { resource: 'networkpolicies', resourceVersion: '15', state: 'watching' },
    ],
    runner: {
      pendingEvents: 0,
      running: null,
      consecutiveFailures: 0,
      lastApply: { at: 1 },
      lastError: null,
    },
  };

  test('enforced when every target is reached and nothing is pending or running', () => {
    expect(statusLag(status, { pods: 12, networkpolicies: 15 })).toEqual([]);
  });

  test('each missing condition is named', () => {
    const lagging = {
      ...status,
      runner: {
        ...status.runner,
        pendingEvents: 2,
        running: 'apply',
        consecutiveFailures: 1,
        lastError: { error: 'boom' },
      },
    };
    expect(statusLag(lagging, { networkpolicies: 16 })).toEqual([
      'networkpolicies watch at resourceVersion 15 (watching), needs 16',
      '2 events pending',
      'an apply is running',
      '1 failed applies in a row, last: boom',
    ]);
  });

  test('the model must hold exactly the expected policies and labels', () => {
    const expected = expectedModel([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x', labels: { ns: 'x' } } },
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'a', namespace: 'x', labels: { pod: 'a' } },
        spec: {
          containers: [{ name: 'c', ports: [{ name: 'web', containerPort: 80 }, { containerPort: 81 }] }],
        },
      },
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: { name: 'p', namespace: 'x' },
        spec: {},
      },
    ]);
    const model = {
      namespaces: [{ name: 'x', labels: { ns: 'x', 'kubernetes.io/metadata.name': 'x' } }],
      pods: [
        {
          namespace: 'x',
          name: 'a',
          labels: { pod: 'a' },
          namedPorts: [{ name: 'web', port: 80, protocol: 'TCP' }],
        },
      ],
      policies: [{ namespace: 'x', name: 'p' }],
    };
    expect(modelDifferences(model, expected)).toEqual([]);
    expect(modelDifferences({ ...model, policies: [] }, expected)).toEqual(['policies [], expected [x/p]']);
    expect(modelDifferences({ ...model, pods: [{ ...model.pods[0], labels: {} }] }, expected)).toEqual([
      'pod x/a labels {}, expected {"pod":"a"}',
    ]);
  });

  test('and exactly the expected ClusterNetworkPolicies and node labels', () => {
    const expected = expectedModel([
      { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels: { 'kubernetes.io/os': 'linux' } } },
      {
        apiVersion: 'policy.networking.k8s.io/v1alpha2',
        kind: 'ClusterNetworkPolicy',
        metadata: { name: 'c' },
        spec: {},
      },
    ]);
    const model = {
      namespaces: [],
      pods: [],
      policies: [],
      clusterPolicies: [{ name: 'c' }],
      nodes: [{ name: 'n1', labels: { 'kubernetes.io/os': 'linux' } }],
    };
    expect(modelDifferences(model, expected)).toEqual([]);
    expect(modelDifferences({ ...model, clusterPolicies: undefined }, expected)).toEqual([
      'ClusterNetworkPolicies [], expected [c]',
    ]);
    expect(modelDifferences({ ...model, nodes: [{ name: 'n1', labels: {} }] }, expected)).toEqual([
      'node n1 labels {}, expected {"kubernetes.io/os":"linux"}',
    ]);
  });
});

test('lostFields: defaults may be added, nothing sent may be lost', () => {
  const sent = { spec: { ingress: [{ from: [{ podSelector: {} }] }] } };
  expect(
    lostFields(sent, { spec: { ingress: [{ from: [{ podSelector: {} }] }], policyTypes: ['Ingress'] } }),
  ).toEqual([]);
  expect(lostFields(sent, { spec: { ingress: [{}] } })).toEqual(['.spec.ingress[0].from']);
});
