/**
 * `palisade rules` over ClusterNetworkPolicy chains whose kind the CLI does not know: the
 * dataplane names its own chain kinds; the report finds a ClusterNetworkPolicy's chains by
 * owner (the policy's name) and its rules by note ("<name> <direction> rule <index>"), and the
 * inventory (`palisade chains`) shows the kind as it comes and counts the chain as the policy's.
 */
import type { ChainView, DataplaneView } from '../../../dataplane/api';
import type { RulesDoc } from './documents';
import { inventory } from './inventory';
import { isPolicyChain } from './kernel-objects';
import { podRulesReport } from './pod-rules';

const cnpChain = {
  family: 4,
  name: 'PALISADE-CA-guard-ABCDEFGH',
  kind: 'cluster-policy',
  direction: 'ingress',
  owner: 'guard',
  rules: [
    {
      text: '-m set --match-set PALISADE-P4-y src -j RETURN -m comment --comment "pl:h0 guard ingress rule 0"',
      hash: 'h0',
    },
    { text: '-j DROP -m comment --comment "pl:h1 guard ingress rule 1"', hash: 'h1' },
  ],
} as unknown as ChainView;

const view: DataplaneView = {
  chains: [cnpChain],
  hooks: [],
  ipsets: [],
  counts: { chains: 1, rules: 2, ipsets: 0, members: 0 },
};

const doc: RulesDoc = {
  pod: {
    namespace: 'x',
    name: 'a',
    labels: {},
    nodeName: 'node-a',
    ips: ['10.0.0.1'],
    hostNetwork: false,
    phase: 'Running',
    namedPorts: [],
  },
  namespace: { name: 'x', labels: { team: 'x' } },
  rules: {
    key: 'x/a',
    namespace: 'x',
    name: 'a',
    nodeName: 'node-a',
    ips: ['10.0.0.1'],
    ingress: [],
    egress: [],
    adminIngress: ['guard'],
    adminEgress: [],
    baselineIngress: [],
    baselineEgress: [],
  },
  policies: [],
  clusterPolicies: [
    {
      info: {
        name: 'guard',
        tier: 'Admin',
        priority: 3,
        subject: { namespaces: { matchLabels: { team: 'x' } } },
        ingress: [
          { name: 'pass-y', action: 'Pass', peers: [{ namespaces: { matchLabels: { team: 'y' } } }] },
          { name: '', action: 'Deny', peers: [{ networks: ['0.0.0.0/0'] }] },
        ],
        egress: [],
      },
      compiled: {
        key: 'guard',
        name: 'guard',
        tier: 'admin',
        priority: 3,
        ingress: [
          { index: 0, name: 'pass-y', action: 'Pass', peers: [], ports: 'any' },
          { index: 1, name: '', action: 'Deny', peers: [], ports: 'any' },
        ],
        egress: null,
      },
    },
  ],
  peerSets: {},
  owners: {},
};

test('a ClusterNetworkPolicy chain of an unknown kind is found by owner and note', () => {
  const r = podRulesReport('node-a', doc, view, view);
  const guard = r.ingress.admin[0];
  expect(guard).toMatchObject({
    name: 'guard',
    tier: 'Admin',
    priority: 3,
    subject: 'every pod in namespaces matching team=x',
  });
  expect(guard.chains).toEqual([{ family: 4, name: 'PALISADE-CA-guard-ABCDEFGH', state: 'in sync' }]);
  expect(guard.rules.map((x) => [x.name, x.kernel.map((k) => [k.chain, k.rule, k.spec])])).toEqual([
    ['pass-y', [['PALISADE-CA-guard-ABCDEFGH', 1, '-m set --match-set PALISADE-P4-y src -j RETURN']]],
    ['', [['PALISADE-CA-guard-ABCDEFGH', 2, '-j DROP']]],
  ]);
  expect(r.kernel.chains.map((c) => [c.kind, c.owner])).toEqual([['cluster-policy', 'guard']]);
});

test('the inventory shows the kind as it comes and the chain as the policy’s', () => {
  const inv = inventory(view, view);
  expect(inv.chains.map((c) => [c.name, c.kind, c.owner, c.state])).toEqual([
    ['PALISADE-CA-guard-ABCDEFGH', 'cluster-policy', 'guard', 'in sync'],
  ]);
  expect(isPolicyChain(inv.chains[0])).toBe(true);
  expect(isPolicyChain({ kind: 'pod', owner: 'x/a' })).toBe(false);
});
