/**
 * What the tampering faults pick in a node's kernel, on either backend, and that only names of
 * the shapes Palisade generates (and addresses) go back into an argv.
 */
import {
  ipsetDeleteArgv,
  ipsetMembers,
  ipsetPodSets,
  iptablesBinary,
  iptablesFlushChainArgv,
  iptablesIngressChains,
  nftDeleteElementArgv,
  nftFlushChainArgv,
  nftListing,
} from './kernel-targets';

describe('iptables targets', () => {
  test('ingress chains (with rules) of pods, NetworkPolicies and ClusterNetworkPolicies; pod sets and their members', () => {
    const save = [
      '*filter',
      ':INPUT ACCEPT [0:0]',
      ':PALISADE-FORWARD - [0:0]',
      ':PALISADE-PI-web-abc - [0:0]',
      ':PALISADE-PE-web-abc - [0:0]',
      ':PALISADE-WI-db-deny-x - [0:0]',
      ':PALISADE-CI-guard-y - [0:0]',
      ':PALISADE-PI-empty-z - [0:0]',
      '-A PALISADE-PI-web-abc -m set --match-set PALISADE-P4-web-1 src -j ACCEPT',
      '-A PALISADE-WI-db-deny-x -j RETURN',
      '-A PALISADE-CI-guard-y -j RETURN',
      'COMMIT',
    ].join('\n');
    expect(iptablesIngressChains(save)).toEqual([
      'PALISADE-PI-web-abc',
      'PALISADE-WI-db-deny-x',
      'PALISADE-CI-guard-y',
    ]);
    expect(ipsetPodSets('PALISADE-P4-web-1\nPALISADE-N4-x\nother\nPALISADE-P6-db-2\n')).toEqual([
      'PALISADE-P4-web-1',
      'PALISADE-P6-db-2',
    ]);
    const list = 'Name: PALISADE-P4-web-1\nType: hash:ip\nMembers:\n10.1.0.5\n10.1.0.6 timeout 0\n';
    expect(ipsetMembers(list)).toEqual(['10.1.0.5', '10.1.0.6']);
    expect(ipsetMembers('Name: x\nMembers:\n')).toEqual([]);
  });

  test('argv: the binaries of the variant the agent writes with; names checked', () => {
    expect(iptablesBinary('iptables-save', 'legacy')).toBe('iptables-legacy-save');
    expect(iptablesBinary('iptables', 'nft')).toBe('iptables-nft');
    expect(iptablesBinary('iptables', undefined)).toBe('iptables');
    expect(iptablesFlushChainArgv('PALISADE-PI-web-abc', 'nft')).toEqual([
      'iptables-nft',
      '-t',
      'filter',
      '-F',
      'PALISADE-PI-web-abc',
    ]);
    expect(() => iptablesFlushChainArgv('INPUT', 'nft')).toThrow();
    expect(ipsetDeleteArgv('PALISADE-P4-web-1', '10.1.0.5')).toEqual([
      'ipset',
      'del',
      'PALISADE-P4-web-1',
      '10.1.0.5',
    ]);
    expect(() => ipsetDeleteArgv('PALISADE-P4-web-1', '10.1.0.5 -exist')).toThrow();
  });
});

describe('nftables targets', () => {
  const listing = JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6' } },
      { table: { family: 'inet', name: 'palisade', handle: 1 } },
      {
        set: {
          family: 'inet',
          name: 'pods4-web-3PVVFCDN',
          table: 'palisade',
          type: 'ipv4_addr',
          elem: ['10.1.0.5', '10.1.0.6'],
        },
      },
      {
        set: {
          family: 'inet',
          name: 'pods6-db-x',
          table: 'palisade',
          type: 'ipv6_addr',
          elem: [{ elem: { val: 'fd00::5', counter: {} } }],
        },
      },
      {
        set: {
          family: 'inet',
          name: 'cidr4-x',
          table: 'palisade',
          type: 'ipv4_addr',
          flags: ['interval'],
          elem: [{ prefix: { addr: '10.0.0.0', len: 8 } }],
        },
      },
      { set: { family: 'inet', name: 'known-4', table: 'palisade', type: 'ipv4_addr', elem: ['10.1.0.5'] } },
      { set: { family: 'inet', name: 'pods4-empty', table: 'palisade', type: 'ipv4_addr' } },
      { chain: { family: 'inet', table: 'palisade', name: 'forward-4', handle: 2 } },
      { chain: { family: 'inet', table: 'palisade', name: 'pod-in4-web-PBZKPKPQ', handle: 3 } },
      { chain: { family: 'inet', table: 'palisade', name: 'pod-eg4-web-abc', handle: 4 } },
      { chain: { family: 'inet', table: 'palisade', name: 'np-in6-db-deny-UKQJL65V', handle: 5 } },
      { chain: { family: 'inet', table: 'palisade', name: 'cnp-in4-guard-y', handle: 6 } },
      { chain: { family: 'inet', table: 'palisade', name: 'wdeny-in4-web-abc', handle: 7 } },
      { chain: { family: 'inet', table: 'palisade', name: 'np-in4-empty-Z', handle: 9 } },
      { rule: { family: 'inet', table: 'palisade', chain: 'pod-in4-web-PBZKPKPQ', handle: 8, expr: [] } },
      { rule: { family: 'inet', table: 'palisade', chain: 'np-in6-db-deny-UKQJL65V', handle: 10, expr: [] } },
      { rule: { family: 'inet', table: 'palisade', chain: 'cnp-in4-guard-y', handle: 11, expr: [] } },
      { rule: { family: 'inet', table: 'palisade', chain: 'pod-eg4-web-abc', handle: 12, expr: [] } },
    ],
  });

  test('ingress chains (enforced ones, with rules) and pod sets with their addresses', () => {
    const l = nftListing(listing);
    expect(l.chains).toEqual(['pod-in4-web-PBZKPKPQ', 'np-in6-db-deny-UKQJL65V', 'cnp-in4-guard-y']);
    expect(l.podSets).toEqual([
      { name: 'pods4-web-3PVVFCDN', elements: ['10.1.0.5', '10.1.0.6'] },
      { name: 'pods6-db-x', elements: ['fd00::5'] },
      { name: 'pods4-empty', elements: [] },
    ]);
    expect(nftListing('{"nftables": []}')).toEqual({ chains: [], podSets: [] });
  });

  test('argv in inet palisade; names and addresses checked', () => {
    expect(nftFlushChainArgv('pod-in4-web-PBZKPKPQ')).toEqual([
      'nft',
      'flush',
      'chain',
      'inet',
      'palisade',
      'pod-in4-web-PBZKPKPQ',
    ]);
    expect(nftDeleteElementArgv('pods4-web-3PVVFCDN', '10.1.0.5')).toEqual([
      'nft',
      'delete',
      'element',
      'inet',
      'palisade',
      'pods4-web-3PVVFCDN',
      '{',
      '10.1.0.5',
      '}',
    ]);
    expect(() => nftFlushChainArgv('forward-4')).toThrow();
    expect(() => nftDeleteElementArgv('known-4', '10.1.0.5')).toThrow();
    expect(() => nftDeleteElementArgv('pods4-web-3PVVFCDN', '10.1.0.5 }; flush ruleset; {')).toThrow();
  });
});
