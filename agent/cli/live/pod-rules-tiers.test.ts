/**
 * `palisade rules` over a ClusterNetworkPolicy's chain: the report finds the chains by owner
 * (the policy's name) and each rule by its note ("cnp <name> <direction> rule <index>
 * <action>"); and the inventory (`palisade chains`) shows a chain kind the CLI does not know
 * as it comes, counting the chain as its owner's.
 */
import type { ChainView, DataplaneView } from '../../../dataplane/api';
import type { RulesDoc } from './documents';
import { inventory } from './inventory';
import { isPolicyChain } from './kernel-objects';
import { podRulesReport } from './pod-rules';

const cnpChain = {
  family: 4,
  name: 'PALISADE-CA-guard-ABCDEFGH',
  kind: 'clusterPolicy',
  direction: 'ingress',
  owner: 'guard',
  rules: [
    {
      text: '-m set --match-set PALISADE-P4-y src -j RETURN -m comment --comment "pl:h0 cnp guard ingress rule 0 Pass"',
      hash: 'h0',
    },
    { text: '-j DROP -m comment --comment "pl:h1 cnp guard ingress rule 1 Deny"', hash: 'h1' },
  ],
} as unknown as ChainView;

const view: DataplaneView = {
  backend: 'iptables',
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

test('a ClusterNetworkPolicy chain is found by owner, its rules by note', () => {
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
  expect(r.kernel.chains.map((c) => [c.kind, c.owner])).toEqual([['clusterPolicy', 'guard']]);
});

test('the inventory shows a kind it does not know as it comes, and the chain as its owner’s', () => {
  const future = { ...view, chains: [{ ...cnpChain, kind: 'someFutureKind' } as unknown as ChainView] };
  const inv = inventory(future, future);
  expect(inv.chains.map((c) => [c.name, c.kind, c.owner, c.state])).toEqual([
    ['PALISADE-CA-guard-ABCDEFGH', 'someFutureKind', 'guard', 'in sync'],
  ]);
  expect(isPolicyChain(inv.chains[0])).toBe(true);
  expect(isPolicyChain({ kind: 'pod', owner: 'x/a' })).toBe(false);
});
